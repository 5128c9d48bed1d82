package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
)

func TestOBSPathParsing(t *testing.T) {
	tests := []struct {
		name, path  string
		call        string // which service method was called: "stat", "bucket"
		bucket, key string
		code        string // expected error code instead of a call
	}{
		{"simple", "/v1/obs/b1/k", "stat", "b1", "k", ""},
		{"nested", "/v1/obs/b1/a/b/c.txt", "stat", "b1", "a/b/c.txt", ""},
		{"double slash kept", "/v1/obs/b1/a//b", "stat", "b1", "a//b", ""},
		{"leading slash key", "/v1/obs/b1//a", "stat", "b1", "/a", ""},
		{"trailing slash key", "/v1/obs/b1/dir/", "stat", "b1", "dir/", ""},
		{"percent-encoded", "/v1/obs/b1/a%20b%2Fc%3F", "stat", "b1", "a b/c?", ""},
		{"utf8 raw", "/v1/obs/b1/d%C3%A9j%C3%A0/%E6%97%A5%E6%9C%AC", "stat", "b1", "déjà/日本", ""},
		{"dot segment kept", "/v1/obs/b1/a/./b", "stat", "b1", "a/./b", ""},
		{"dotdot to the service", "/v1/obs/b1/a/../b", "stat", "b1", "a/../b", "ATL.OBS.0002"},
		{"encoded dotdot to the service", "/v1/obs/b1/%2E%2E/x", "stat", "b1", "../x", "ATL.OBS.0002"},
		{"bucket only", "/v1/obs/b1", "bucket", "b1", "", ""},
		{"bucket trailing slash", "/v1/obs/b1/", "bucket", "b1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var call, bucket, key string
			h.objects.StatObjectFn = func(ctx context.Context, b, k string) (*atelier.Object, error) {
				call, bucket, key = "stat", b, k
				if strings.Contains("/"+k+"/", "/../") {
					return nil, atelier.CodeInvalidObjectKey.Errorf("The key has a '..' segment.")
				}
				return testObject(b, k, 1), nil
			}
			h.objects.GetBucketFn = func(ctx context.Context, b string) (*atelier.Bucket, error) {
				call, bucket = "bucket", b
				return &atelier.Bucket{Name: b}, nil
			}
			req := authed("HEAD", tt.path, nil)
			w := h.do(req)
			if call != tt.call || bucket != tt.bucket || key != tt.key {
				t.Errorf("called %q(%q, %q), want %q(%q, %q)", call, bucket, key, tt.call, tt.bucket, tt.key)
			}
			if tt.code != "" {
				if w.Code != 400 {
					t.Errorf("status %d, want 400", w.Code)
				}
				return
			}
			if w.Code != 200 {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}

func TestOBSRealServerKeepsRawPath(t *testing.T) {
	h := newHarness(t)
	var got string
	h.objects.DeleteObjectFn = func(ctx context.Context, b, k string) error { got = k; return nil }
	srv := httptest.NewServer(h.server())
	defer srv.Close()
	req := authed("DELETE", srv.URL+"/v1/obs/b1/a//b/../c", nil)
	req.RequestURI = ""
	req.URL.Opaque = "//" + req.URL.Host + "/v1/obs/b1/a//b/../c" // keep Go's client from cleaning it
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || got != "a//b/../c" {
		t.Errorf("status %d, key %q: the router cleaned the path", resp.StatusCode, got)
	}
}

func TestPutObject(t *testing.T) {
	md5b64 := "XrY7u+Ae7tCTyyK7j1rNww==" // md5("hello world")
	sha := "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		chunked bool
		status  int
		code    string
		check   func(t *testing.T, opts atelier.PutOptions, body string)
	}{
		{name: "plain", body: "hello world", status: 200, check: func(t *testing.T, o atelier.PutOptions, body string) {
			if o.Size != 11 || o.ContentType != "application/octet-stream" || o.MD5 != nil || o.SHA256 != nil || body != "hello world" {
				t.Errorf("opts %+v body %q", o, body)
			}
		}},
		{name: "chunked", body: "hello world", chunked: true, status: 200, check: func(t *testing.T, o atelier.PutOptions, body string) {
			if o.Size != -1 || body != "hello world" {
				t.Errorf("opts %+v body %q", o, body)
			}
		}},
		{name: "digests", body: "hello world", headers: map[string]string{"Content-MD5": md5b64, "x-atelier-sha256": sha, "Content-Type": "text/plain"}, status: 200,
			check: func(t *testing.T, o atelier.PutOptions, body string) {
				if len(o.MD5) != 16 || len(o.SHA256) != 32 || o.ContentType != "text/plain" {
					t.Errorf("opts %+v", o)
				}
			}},
		{name: "bad md5", body: "x", headers: map[string]string{"Content-MD5": "nope"}, status: 400, code: "ATL.OBS.0014"},
		{name: "short md5", body: "x", headers: map[string]string{"Content-MD5": "AAAA"}, status: 400, code: "ATL.OBS.0014"},
		{name: "bad sha", body: "x", headers: map[string]string{"x-atelier-sha256": "abc"}, status: 400, code: "ATL.OBS.0014"},
		{name: "declared too large", body: strings.Repeat("x", 65), status: 413, code: "ATL.OBS.0010"},
		{name: "chunked too large", body: strings.Repeat("x", 65), chunked: true, status: 413, code: "ATL.OBS.0010"},
		{name: "at the limit", body: strings.Repeat("x", 64), chunked: true, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.opts.MaxObjectBytes = 64
			called := false
			h.objects.PutObjectFn = func(ctx context.Context, b, k string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error) {
				called = true
				data, err := io.ReadAll(r)
				if err != nil {
					return nil, err
				}
				if tt.check != nil {
					tt.check(t, opts, string(data))
				}
				return testObject(b, k, int64(len(data))), nil
			}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req := authed("PUT", "/v1/obs/b1/dir/file.txt", body)
			if tt.chunked {
				req.ContentLength = -1
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			w := h.do(req)
			if tt.code != "" {
				mustError(t, w, tt.status, tt.code)
				if tt.name == "declared too large" && called {
					t.Error("PutObject was called for a declared length over the limit")
				}
				return
			}
			var o map[string]any
			mustJSON(t, w, tt.status, &o)
			if w.Header().Get("ETag") != `"0123456789abcdef0123456789abcdef"` || o["etag"] != "0123456789abcdef0123456789abcdef" || o["key"] != "dir/file.txt" {
				t.Errorf("ETag %q, object %v", w.Header().Get("ETag"), o)
			}
		})
	}
}

func TestCopyObject(t *testing.T) {
	tests := []struct {
		src           string
		sBucket, sKey string
		status        int
		code          string
	}{
		{"/src/a/b%20c", "src", "a/b c", 200, ""},
		{"/src/a//b", "src", "a//b", 200, ""},
		{"src/a", "", "", 400, "ATL.OBS.0013"},
		{"/src", "", "", 400, "ATL.OBS.0013"},
		{"/src/", "", "", 400, "ATL.OBS.0013"},
		{"//a", "", "", 400, "ATL.OBS.0013"},
		{"/src/%zz", "", "", 400, "ATL.OBS.0013"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var got [4]string
			h.objects.CopyObjectFn = func(ctx context.Context, db, dk, sb, sk string) (*atelier.Object, error) {
				got = [4]string{db, dk, sb, sk}
				return testObject(db, dk, 1), nil
			}
			req := authed("PUT", "/v1/obs/dst/k", nil)
			req.Header.Set("x-atelier-copy-source", tt.src)
			w := h.do(req)
			if tt.code != "" {
				mustError(t, w, tt.status, tt.code)
				return
			}
			mustJSON(t, w, tt.status, nil)
			if got != [4]string{"dst", "k", tt.sBucket, tt.sKey} {
				t.Errorf("CopyObject%v", got)
			}
		})
	}
}

func TestGetObject(t *testing.T) {
	const content = "0123456789"
	h := newHarness(t)
	var asked *atelier.Range
	h.objects.GetObjectFn = func(ctx context.Context, b, k string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
		asked = rng
		o := testObject(b, k, int64(len(content)))
		if rng == nil {
			return o, io.NopCloser(strings.NewReader(content)), nil, nil
		}
		off, n := rng.Offset, rng.Length
		if off < 0 {
			off, n = int64(len(content))+off, -off
		}
		if off >= int64(len(content)) {
			return nil, nil, nil, atelier.CodeRangeNotSatisfiable.Errorf("past the end")
		}
		if n < 0 || off+n > int64(len(content)) {
			n = int64(len(content)) - off
		}
		return o, io.NopCloser(strings.NewReader(content[off : off+n])), &atelier.Range{Offset: off, Length: n}, nil
	}
	h.objects.StatObjectFn = func(ctx context.Context, b, k string) (*atelier.Object, error) {
		return testObject(b, k, int64(len(content))), nil
	}
	tests := []struct {
		rng, body, contentRange string
		status                  int
	}{
		{"", content, "", 200},
		{"bytes=2-4", "234", "bytes 2-4/10", 206},
		{"bytes=7-", "789", "bytes 7-9/10", 206},
		{"bytes=-3", "789", "bytes 7-9/10", 206},
		{"bytes=5-100", "56789", "bytes 5-9/10", 206},
		{"bytes=0-1,4-5", content, "", 200},
		{"garbage", content, "", 200},
		{"bytes=10-", "", "bytes */10", 416},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			req := authed("GET", "/v1/obs/b1/k", nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			w := h.do(req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tt.contentRange)
			}
			if tt.status == 416 {
				mustError(t, w, 416, "ATL.OBS.0007")
				return
			}
			if w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body, tt.body)
			}
			hd := w.Header()
			if hd.Get("Content-Length") != itoa(len(tt.body)) || hd.Get("ETag") == "" || hd.Get("Last-Modified") != "Sat, 01 Mar 2025 12:00:00 GMT" ||
				hd.Get("x-atelier-sha256") == "" || hd.Get("Accept-Ranges") != "bytes" || hd.Get("Content-Type") != "text/plain" {
				t.Errorf("headers %v", hd)
			}
			_ = asked
		})
	}
	// HEAD: the same headers, no body.
	w := h.do(authed("HEAD", "/v1/obs/b1/k", nil))
	if w.Code != 200 || w.Header().Get("Content-Length") != "10" || w.Header().Get("Accept-Ranges") != "bytes" || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v %q", w.Code, w.Header(), w.Body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestListObjects(t *testing.T) {
	tests := []struct {
		query string
		want  atelier.ListQuery
		code  string
	}{
		{"", atelier.ListQuery{}, ""},
		{"prefix=dir%2F&delimiter=%2F&max_keys=10&continuation_token=tok&start_after=a", atelier.ListQuery{Prefix: "dir/", Delimiter: "/", MaxKeys: 10, ContinuationToken: "tok", StartAfter: "a"}, ""},
		{"max_keys=1000", atelier.ListQuery{MaxKeys: 1000}, ""},
		{"max_keys=0", atelier.ListQuery{}, "ATL.OBS.0012"},
		{"max_keys=1001", atelier.ListQuery{}, "ATL.OBS.0012"},
		{"max_keys=ten", atelier.ListQuery{}, "ATL.OBS.0012"},
		{"max_keys=", atelier.ListQuery{}, "ATL.OBS.0012"},
		{"prefix=%zz", atelier.ListQuery{}, "ATL.OBS.0012"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var got atelier.ListQuery
			h.objects.ListObjectsFn = func(ctx context.Context, b string, q atelier.ListQuery) (*atelier.ObjectList, error) {
				got = q
				return &atelier.ObjectList{Bucket: b, Prefix: q.Prefix, Objects: []*atelier.Object{testObject(b, "k", 1)}}, nil
			}
			w := h.do(authed("GET", "/v1/obs/b1?"+tt.query, nil))
			if tt.code != "" {
				e := mustError(t, w, 400, tt.code)
				if !strings.Contains(e.Message, "max_keys") && !strings.Contains(e.Message, "query") {
					t.Errorf("message %q names no parameter", e.Message)
				}
				return
			}
			var l map[string]any
			mustJSON(t, w, 200, &l)
			if got != tt.want {
				t.Errorf("query %+v, want %+v", got, tt.want)
			}
			if cp, ok := l["common_prefixes"].([]any); !ok || len(cp) != 0 {
				t.Errorf("common_prefixes = %v, want []", l["common_prefixes"])
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	h := newHarness(t)
	h.objects.CreateBucketFn = func(ctx context.Context, name string) (*atelier.Bucket, error) {
		if name == "taken" {
			return nil, atelier.CodeBucketExists.Errorf("exists")
		}
		return &atelier.Bucket{ID: "id1", Name: name, TenantID: "t1", CreatedAt: testTime}, nil
	}
	h.objects.ListBucketsFn = func(ctx context.Context) ([]*atelier.Bucket, error) {
		return []*atelier.Bucket{{ID: "id1", Name: "b1", CreatedAt: testTime}}, nil
	}
	h.objects.DeleteBucketFn = func(ctx context.Context, name string) error {
		return atelier.CodeBucketNotEmpty.Errorf("not empty")
	}
	h.objects.GetBucketFn = func(ctx context.Context, name string) (*atelier.Bucket, error) {
		return nil, atelier.CodeBucketNotFound.Errorf("no bucket")
	}
	var b map[string]any
	mustJSON(t, h.do(authed("PUT", "/v1/obs/b1", nil)), 201, &b)
	if b["name"] != "b1" || b["id"] != "id1" || b["created_at"] != "2025-03-01T12:00:00Z" || b["tenant_id"] != nil {
		t.Errorf("bucket %v", b)
	}
	mustError(t, h.do(authed("PUT", "/v1/obs/taken", nil)), 409, "ATL.OBS.0004")
	var l struct{ Buckets []map[string]any }
	mustJSON(t, h.do(authed("GET", "/v1/obs", nil)), 200, &l)
	if len(l.Buckets) != 1 || l.Buckets[0]["name"] != "b1" {
		t.Errorf("buckets %v", l)
	}
	mustError(t, h.do(authed("DELETE", "/v1/obs/b1", nil)), 409, "ATL.OBS.0005")
	if w := h.do(authed("HEAD", "/v1/obs/b1", nil)); w.Code != 404 {
		t.Errorf("HEAD missing bucket: %d", w.Code)
	}
}

// rangeTests is the table of TestParseRange and the seeds of FuzzParseRange.
var rangeTests = []struct {
	h    string
	want *atelier.Range
}{
	{"", nil},
	{"bytes=0-0", &atelier.Range{Offset: 0, Length: 1}},
	{"bytes=2-4", &atelier.Range{Offset: 2, Length: 3}},
	{"bytes=7-", &atelier.Range{Offset: 7, Length: -1}},
	{"bytes=-3", &atelier.Range{Offset: -3, Length: -1}},
	{"Bytes=1-2", &atelier.Range{Offset: 1, Length: 2}},
	{" bytes = 1 - 2 ", &atelier.Range{Offset: 1, Length: 2}},
	{"bytes=-0", nil},
	{"bytes=4-2", nil},
	{"bytes=0-1,3-4", nil},
	{"bytes=a-b", nil},
	{"bytes=-", nil},
	{"bytes=1", nil},
	{"bytes=+1-2", nil},
	{"bytes=1-+2", nil},
	{"items=1-2", nil},
	{"bytes 1-2", nil},
	{"bytes=99999999999999999999-", nil},
	{"bytes=0-999999999999999999", &atelier.Range{Offset: 0, Length: 1000000000000000000}},
}

func TestParseRange(t *testing.T) {
	for _, tt := range rangeTests {
		got := httpapi.ParseRange(tt.h)
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("ParseRange(%q) = %+v, want %+v", tt.h, got, tt.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, tt := range rangeTests {
		f.Add(tt.h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httpapi.ParseRange(h)
		if r == nil {
			return
		}
		switch {
		case r.Offset < 0 && r.Length != -1:
			t.Errorf("suffix range with a length: %+v", r)
		case r.Offset >= 0 && r.Length == 0, r.Length < -1:
			t.Errorf("empty or negative range: %+v", r)
		case r.Offset >= 0 && r.Length > 0 && r.Offset+r.Length < r.Offset:
			t.Errorf("overflowing range: %+v", r)
		}
		if !bytes.HasPrefix(bytes.ToLower(bytes.TrimSpace([]byte(h))), []byte("bytes")) {
			t.Errorf("%q parsed without the bytes unit", h)
		}
	})
}

// TestObjectsAreNotSniffedOrRendered checks that every answer says nosniff,
// and that an object of an active type (one a browser would run or render
// as a page on the server's origin) is served as an attachment.
func TestObjectsAreNotSniffedOrRendered(t *testing.T) {
	tests := []struct {
		contentType string
		attachment  bool
	}{
		{"text/html", true},
		{"text/html; charset=utf-8", true},
		{"TEXT/HTML", true},
		{"application/xhtml+xml", true},
		{"image/svg+xml", true},
		{"text/xml", true},
		{"application/xml", true},
		{"application/javascript", true},
		{"text/javascript", true},
		{"application/ecmascript", true},
		{"text/css", true},
		{"application/pdf", true},
		{"multipart/x-mixed-replace; boundary=x", true},
		{"not a type", true},
		{"image/png", false},
		{"text/plain", false},
		{"application/json", false},
		{"application/octet-stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			o := testObject("b", "k", 5)
			o.ContentType = tt.contentType
			h.objects.GetObjectFn = func(ctx context.Context, bucket, key string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
				return o, io.NopCloser(strings.NewReader("hello")), nil, nil
			}
			h.objects.StatObjectFn = func(ctx context.Context, bucket, key string) (*atelier.Object, error) { return o, nil }
			for _, method := range []string{"GET", "HEAD"} {
				w := h.do(authed(method, "/v1/obs/b/k", nil))
				if w.Code != 200 {
					t.Fatalf("%s: status %d", method, w.Code)
				}
				if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("%s: X-Content-Type-Options = %q", method, got)
				}
				cd := w.Header().Get("Content-Disposition")
				if tt.attachment != strings.HasPrefix(cd, "attachment") {
					t.Errorf("%s: Content-Disposition = %q, attachment wanted: %v", method, cd, tt.attachment)
				}
			}
		})
	}
	h := newHarness(t)
	if got := h.do(httptest.NewRequest("GET", "/healthz", nil)).Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("/healthz: X-Content-Type-Options = %q", got)
	}
	if got := h.do(httptest.NewRequest("GET", "/nowhere", nil)).Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("404: X-Content-Type-Options = %q", got)
	}
}
