package atelier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	core "github.com/atelier-dev/atelier"
)

func mustClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantCode  string
		wantKind  core.Kind
		wantMsg   string
		wantReqID string
	}{
		{"registered code", 404, `{"error_code":"ATL.OBS.0003","error_msg":"bucket \"x\" does not exist.","request_id":"r1"}`,
			"ATL.OBS.0003", core.NotFound, `bucket "x" does not exist.`, "r1"},
		{"unknown code takes the kind from the status", 409, `{"error_code":"ATL.NEW.0001","error_msg":"new","request_id":"r2"}`,
			"ATL.NEW.0001", core.Conflict, "new", "r2"},
		{"no body", 503, ``, "", core.Unavailable, "The server answered 503 Service Unavailable.", "hdr"},
		{"v2 shape", 400, `{"error_code":"ATL.AUTH.0005","error_msg":"Wrong password."}`, "ATL.AUTH.0005", core.Invalid, "Wrong password.", "hdr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "hdr")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
			_, err := c.ListBuckets(context.Background())
			var de *core.Error
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, not a *core.Error", err)
			}
			if de.Code != tt.wantCode || de.Kind != tt.wantKind || de.Message != tt.wantMsg {
				t.Errorf("got %q %q %q, want %q %q %q", de.Code, de.Kind, de.Message, tt.wantCode, tt.wantKind, tt.wantMsg)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.RequestID != tt.wantReqID {
				t.Errorf("APIError = %+v, want status %d request id %q", ae, tt.status, tt.wantReqID)
			}
			if tt.wantCode != "" && err.Error() != tt.wantMsg+" ("+tt.wantCode+")" {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestHeadNotFound(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	ctx := context.Background()
	ok, err := c.BucketExists(ctx, "nope")
	if err != nil || ok {
		t.Errorf("BucketExists = %v, %v; want false, nil", ok, err)
	}
	if _, err := c.StatObject(ctx, "b", "missing"); core.ErrorCode(err) != core.CodeObjectNotFound.ID {
		t.Errorf("StatObject of a missing object: %v, want %s", err, core.CodeObjectNotFound.ID)
	}
	if _, err := c.CreateBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BucketExists(ctx, "b"); err != nil || !ok {
		t.Errorf("BucketExists = %v, %v; want true, nil", ok, err)
	}
}

func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	_, err := c.ListBuckets(context.Background())
	if core.ErrorCode(err) != CodeConnection.ID || core.ErrorKind(err) != core.Unavailable {
		t.Errorf("err = %v, want %s", err, CodeConnection.ID)
	}
}

func TestTokenExchangeAndRetry(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, AccessKey: f.ak, SecretKey: f.sk})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	if f.exchanges != 1 {
		t.Fatalf("exchanged %d times for two calls, want 1", f.exchanges)
	}
	f.revokeAll()
	// A 401 re-exchanges once, and the upload's file is sent again in full.
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := c.UploadFile(ctx, p, "b", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != 11 || string(f.objects["b/k"]) != "hello world" || f.exchanges != 2 {
		t.Errorf("after retry: size %d, stored %q, exchanges %d", o.Size, f.objects["b/k"], f.exchanges)
	}

	bad := mustClient(t, Options{Endpoint: f.URL, AccessKey: f.ak, SecretKey: "wrong"})
	if _, err := bad.ListBuckets(ctx); core.ErrorCode(err) != core.CodeBadKey.ID {
		t.Errorf("wrong key: %v, want %s", err, core.CodeBadKey.ID)
	}
	// A token without a key cannot be renewed: the 401 comes back as is.
	tc := mustClient(t, Options{Endpoint: f.URL, Token: "revoked"})
	if _, err := tc.ListBuckets(ctx); core.ErrorCode(err) != core.CodeInvalidToken.ID {
		t.Errorf("revoked token: %v, want %s", err, core.CodeInvalidToken.ID)
	}
}

func TestPathEncoding(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	ctx := context.Background()
	tests := []struct{ key, raw string }{
		{"plain/key.txt", "/v1/obs/b/plain/key.txt"},
		{"a b/c%d", "/v1/obs/b/a%20b/c%25d"},
		{"dir//x", "/v1/obs/b/dir//x"},
		{"q?h#/ü", "/v1/obs/b/q%3Fh%23/%C3%BC"},
		{"plus+semi;", "/v1/obs/b/plus+semi%3B"},
	}
	for _, tt := range tests {
		f.rawPaths = nil
		if _, err := c.PutObject(ctx, "b", tt.key, strings.NewReader("x"), 1, PutOptions{}); err != nil {
			t.Fatalf("put %q: %v", tt.key, err)
		}
		if got := f.rawPaths[0]; got != tt.raw {
			t.Errorf("key %q sent as %q, want %q", tt.key, got, tt.raw)
		}
		if _, ok := f.objects["b/"+tt.key]; !ok {
			t.Errorf("key %q not stored under its decoded name", tt.key)
		}
	}
	if _, err := c.CopyObject(ctx, "b", "dst", "b", "a b/c%d"); err != nil {
		t.Fatal(err)
	}
	if got := f.copySrcs[0]; got != "/b/a%20b/c%25d" {
		t.Errorf("copy source %q", got)
	}
}

func TestRangeHeader(t *testing.T) {
	tests := []struct {
		r    core.Range
		want string
	}{{core.Range{Offset: 0, Length: 10}, "bytes=0-9"}, {core.Range{Offset: 5, Length: -1}, "bytes=5-"}, {core.Range{Offset: -7, Length: -1}, "bytes=-7"}}
	for _, tt := range tests {
		if got := rangeHeader(tt.r); got != tt.want {
			t.Errorf("rangeHeader(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=2-3" {
			t.Errorf("Range = %q", r.Header.Get("Range"))
		}
		w.Header().Set("Content-Range", "bytes 2-3/10")
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(206)
		io.WriteString(w, "cd")
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	rc, o, err := c.GetObject(context.Background(), "b", "k", &core.Range{Offset: 2, Length: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "cd" || o.Size != 10 || o.ETag != "abc" {
		t.Errorf("got %q, size %d, etag %q", b, o.Size, o.ETag)
	}
}

func TestWalkObjectsFollowsTokens(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	ctx := context.Background()
	c.CreateBucket(ctx, "b")
	for _, k := range []string{"p/1", "p/2", "p/3", "p/4", "p/5", "q/1"} {
		f.objects["b/"+k] = []byte(k)
	}
	var got []string
	if err := c.WalkObjects(ctx, "b", "p/", func(o *core.Object) error { got = append(got, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "p/1,p/2,p/3,p/4,p/5" {
		t.Errorf("walked %v", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Endpoint: "ftp://x"}, {Endpoint: "localhost:8080"}, {Endpoint: "http://x", AccessKey: "a"}} {
		if _, err := New(o); core.ErrorKind(err) != core.Invalid {
			t.Errorf("New(%+v) = %v, want an invalid error", o, err)
		}
	}
}

func TestLoginEmailHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Path != "/api/v2/sdk/login/email" {
			t.Errorf("path %q", r.URL.Path)
		}
		io.WriteString(w, `{"status":"SUCCESS","session_token":"s3ss","expire":60,"data":{"tenant_id":"t","user_id":"u"}}`)
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL})
	res, err := c.LoginEmail(context.Background(), "a@b.c", "pw", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionToken != "s3ss" || c.Token() != "s3ss" {
		t.Errorf("token not taken: %+v", res)
	}
	for h, want := range map[string]string{"X-Client-Id": "atelier-cli", "X-Agent": "atelier-go/" + Version,
		"X-Device-Fingerprint": DeviceFingerprint(), "X-Tenant-Id": "t1"} {
		if got.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, got.Get(h), want)
		}
	}
	if got.Get("X-Operating-Sys-Version") == "" || got.Get("Authorization") != "" {
		t.Errorf("headers %v", got)
	}
}

func TestDownloadChecksumMismatchLeavesNoFile(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	f.objects["b/k.bin"] = bytes.Repeat([]byte("x"), 1000)
	f.badSHA = true
	dir := t.TempDir()
	_, err := c.DownloadFile(context.Background(), "b", "k.bin", dir+"/", nil)
	if core.ErrorCode(err) != CodeChecksum.ID {
		t.Fatalf("err = %v, want %s", err, CodeChecksum.ID)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
	f.badSHA = false
	var n atomic.Int64
	o, err := c.DownloadFile(context.Background(), "b", "k.bin", dir+"/", func(d int64) { n.Add(d) })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "k.bin"))
	if len(b) != 1000 || n.Load() != 1000 || o.Size != 1000 {
		t.Errorf("downloaded %d bytes, progress %d, size %d", len(b), n.Load(), o.Size)
	}
}
