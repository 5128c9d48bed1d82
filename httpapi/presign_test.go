package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/obs"
)

// presignHarness is a harness whose server verifies presigned URLs with a
// real obs.Presigner on a fake clock, and whose object service records
// the tenant of every call.
type presignHarness struct {
	*harness
	p      *obs.Presigner
	clk    *clock.Fake
	tenant string // of the last object service call
	calls  []string
}

func newPresignHarness(t *testing.T) *presignHarness {
	t.Helper()
	h := &presignHarness{harness: newHarness(t), clk: clock.NewFake(testTime)}
	var err error
	if h.p, err = obs.NewPresigner(bytes.Repeat([]byte{3}, 32), h.clk); err != nil {
		t.Fatal(err)
	}
	h.opts.Presigner = h.p
	note := func(ctx context.Context, call string) {
		h.tenant, _ = atelier.TenantFromContext(ctx)
		h.calls = append(h.calls, call)
	}
	o := h.objects
	o.StatObjectFn = func(ctx context.Context, b, k string) (*atelier.Object, error) {
		note(ctx, "stat "+b+"/"+k)
		return testObject(b, k, 2), nil
	}
	o.GetObjectFn = func(ctx context.Context, b, k string, _ *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
		note(ctx, "get "+b+"/"+k)
		return testObject(b, k, 2), io.NopCloser(strings.NewReader("hi")), nil, nil
	}
	o.ListObjectsFn = func(ctx context.Context, b string, q atelier.ListQuery) (*atelier.ObjectList, error) {
		note(ctx, "list "+b+"?"+q.Prefix)
		return &atelier.ObjectList{Bucket: b, Prefix: q.Prefix}, nil
	}
	o.PutObjectFn = func(ctx context.Context, b, k string, r io.Reader, _ atelier.PutOptions) (*atelier.Object, error) {
		note(ctx, "put "+b+"/"+k)
		n, _ := io.Copy(io.Discard, r)
		return testObject(b, k, n), nil
	}
	o.DeleteObjectFn = func(ctx context.Context, b, k string) error {
		note(ctx, "delete "+b+"/"+k)
		return nil
	}
	o.CopyObjectFn = func(ctx context.Context, db, dk, sb, sk string) (*atelier.Object, error) {
		note(ctx, "copy")
		return testObject(db, dk, 1), nil
	}
	return h
}

func (h *presignHarness) presign(access atelier.ObjectAccess, key string) atelier.PresignedQuery {
	h.t.Helper()
	q, err := h.p.Presign(atelier.ObjectGrant{Tenant: "tenant-p", Access: access, Bucket: "data", Key: key, Expires: testTime.Add(time.Hour)})
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

func TestPresignedRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		access atelier.ObjectAccess
		prefix string // the grant's key or prefix
		method string
		target string // path and query, before the presign parameters
		header map[string]string
		status int
		call   string
	}{
		{"get one object", atelier.AccessGet, "in/a.txt", "GET", "/v1/obs/data/in/a.txt", nil, 200, "get data/in/a.txt"},
		{"head one object", atelier.AccessGet, "in/a.txt", "HEAD", "/v1/obs/data/in/a.txt", nil, 200, "stat data/in/a.txt"},
		{"get another object", atelier.AccessGet, "in/a.txt", "GET", "/v1/obs/data/in/b.txt", nil, 403, ""},
		{"get in another bucket", atelier.AccessGet, "in/a.txt", "GET", "/v1/obs/datb/in/a.txt", nil, 403, ""},
		{"put with a get URL", atelier.AccessGet, "in/a.txt", "PUT", "/v1/obs/data/in/a.txt", nil, 403, ""},
		{"read an object under the prefix", atelier.AccessRead, "in/", "GET", "/v1/obs/data/in/x/y.bin", nil, 200, "get data/in/x/y.bin"},
		{"read an encoded key under the prefix", atelier.AccessRead, "in/", "GET", "/v1/obs/data/in/a%20b", nil, 200, "get data/in/a b"},
		{"list the prefix", atelier.AccessRead, "in/", "GET", "/v1/obs/data?prefix=in/&max_keys=10", nil, 200, "list data?in/"},
		{"list the whole bucket", atelier.AccessRead, "in/", "GET", "/v1/obs/data", nil, 403, ""},
		{"list another prefix", atelier.AccessRead, "in/", "GET", "/v1/obs/data?prefix=out/", nil, 403, ""},
		{"read outside the prefix", atelier.AccessRead, "in/", "GET", "/v1/obs/data/secret.txt", nil, 403, ""},
		{"put with a read URL", atelier.AccessRead, "in/", "PUT", "/v1/obs/data/in/x", nil, 403, ""},
		{"delete with a read URL", atelier.AccessRead, "in/", "DELETE", "/v1/obs/data/in/x", nil, 403, ""},
		{"head the bucket", atelier.AccessRead, "in/", "HEAD", "/v1/obs/data", nil, 403, ""},
		{"write under the prefix", atelier.AccessWrite, "out/", "PUT", "/v1/obs/data/out/m/model.bin", nil, 200, "put data/out/m/model.bin"},
		{"write outside the prefix", atelier.AccessWrite, "out/", "PUT", "/v1/obs/data/in/x", nil, 403, ""},
		{"copy with a write URL", atelier.AccessWrite, "out/", "PUT", "/v1/obs/data/out/x", map[string]string{"x-atelier-copy-source": "/data/secret.txt"}, 403, ""},
		{"read with a write URL", atelier.AccessWrite, "out/", "GET", "/v1/obs/data/out/x", nil, 403, ""},
		{"list with a write URL", atelier.AccessWrite, "out/", "GET", "/v1/obs/data?prefix=out/", nil, 403, ""},
		{"a training route", atelier.AccessRead, "in/", "GET", "/v1/training/flavors", nil, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newPresignHarness(t)
			sep := "?"
			if strings.Contains(tc.target, "?") {
				sep = "&"
			}
			req := httptest.NewRequest(tc.method, tc.target+sep+h.presign(tc.access, tc.prefix).Encode(), strings.NewReader("ab"))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			w := h.do(req)
			if tc.status != 200 {
				mustError(t, w, tc.status, atelier.CodePresignDenied.ID)
				if len(h.calls) > 0 {
					t.Errorf("the object service was called: %q", h.calls)
				}
				return
			}
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if len(h.calls) != 1 || h.calls[0] != tc.call || h.tenant != "tenant-p" {
				t.Errorf("calls %q as tenant %q, want %q as tenant-p", h.calls, h.tenant, tc.call)
			}
		})
	}
}

func TestPresignedRefusals(t *testing.T) {
	t.Parallel()
	h := newPresignHarness(t)
	q := h.presign(atelier.AccessRead, "in/")
	get := func(query string) *httptest.ResponseRecorder {
		return h.do(httptest.NewRequest("GET", "/v1/obs/data/in/a?"+query, nil))
	}
	if w := get(q.Encode()); w.Code != 200 {
		t.Fatalf("the valid URL: %d %s", w.Code, w.Body)
	}
	for name, query := range map[string]string{
		"tampered scope":     strings.Replace(q.Encode(), "tenant-p", "tenant-q", 1),
		"tampered signature": strings.Replace(q.Encode(), "Signature="+q.Signature[:3], "Signature=AAA", 1),
		"tampered expiry":    strings.Replace(q.Encode(), "Expires="+q.Expires, "Expires="+q.Expires+"0", 1),
		"no signature":       atelier.PresignExpiresParam + "=" + q.Expires + "&" + atelier.PresignScopeParam + "=" + q.Scope,
		"twice":              q.Encode() + "&" + atelier.PresignSignatureParam + "=" + q.Signature,
		"bad encoding":       q.Encode() + "&x=%zz",
	} {
		e := mustError(t, get(query), 403, atelier.CodePresignDenied.ID)
		if e.RequestID == "" || e.Message == "" {
			t.Errorf("%s: error %+v lacks a message or request id", name, e)
		}
	}
	h.clk.Advance(time.Hour)
	e := mustError(t, get(q.Encode()), 403, atelier.CodePresignDenied.ID)
	if !strings.Contains(e.Message, "expired") {
		t.Errorf("expired: %q does not say so", e.Message)
	}
	// A bearer token wins over the parameters.
	req := authed("GET", "/v1/obs/data/secret.txt?"+q.Encode(), nil)
	if w := h.do(req); w.Code != 200 || h.tenant != testPrincipal.TenantID {
		t.Errorf("with Authorization: %d as tenant %q", w.Code, h.tenant)
	}
	if strings.Contains(h.log.String(), q.Signature) {
		t.Error("the log holds a signature")
	}
}

func TestPresignedWithoutPresigner(t *testing.T) {
	t.Parallel()
	h := newPresignHarness(t)
	q := h.presign(atelier.AccessGet, "a")
	h.opts.Presigner = nil
	mustError(t, h.do(httptest.NewRequest("GET", "/v1/obs/data/a?"+q.Encode(), nil)), 403, atelier.CodePresignDenied.ID)
	// Without the parameters nothing changes: 401.
	mustError(t, h.do(httptest.NewRequest("GET", "/v1/obs/data/a", nil)), 401, atelier.CodeNoCredentials.ID)
}

// FuzzPresignedURL changes, deletes or inserts one byte of a valid
// presigned URL (path or query) and sends it: a request the server
// accepts is the original one (the same object, the same parameters once
// decoded), never another object or a widened grant.
func FuzzPresignedURL(f *testing.F) {
	for _, pos := range []uint16{0, 9, 14, 20, 40, 60, 80, 120} {
		for mode := range uint8(3) {
			f.Add(pos, mode, byte('a'))
		}
	}
	f.Fuzz(func(t *testing.T, pos uint16, mode uint8, b byte) {
		h := newPresignHarness(t)
		q := h.presign(atelier.AccessRead, "in/")
		orig := "/v1/obs/data/in/a%20b.txt?" + q.Encode()
		u := []byte(orig)
		p := int(pos) % (len(u) + 1)
		switch mode % 3 {
		case 0:
			if p == len(u) {
				return
			}
			if u[p] == b {
				b++
			}
			u[p] = b
		case 1:
			if p == len(u) {
				return
			}
			u = append(u[:p], u[p+1:]...)
		case 2:
			u = append(u[:p], append([]byte{b}, u[p:]...)...)
		}
		target := string(u)
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#\x00") || strings.ContainsRune(target, 0x7f) {
			return // not a request target a client can send
		}
		req, err := httpNewRequest("GET", target)
		if err != nil {
			return
		}
		w := h.do(req)
		if w.Code != 200 {
			if w.Code == 500 {
				t.Fatalf("%q: 500 %s", target, w.Body)
			}
			return
		}
		if len(h.calls) != 1 || h.calls[0] != "get data/in/a b.txt" {
			// Another object under the prefix is within the grant; the
			// bucket and prefix are not.
			if len(h.calls) != 1 || !strings.HasPrefix(h.calls[0], "get data/in/") {
				t.Fatalf("%q reached %q", target, h.calls)
			}
		}
		if got := atelier.PresignedQueryFrom(req.URL.Query()); got != q {
			t.Fatalf("%q verified with parameters %+v, not the minted %+v", target, got, q)
		}
	})
}

// httpNewRequest is httptest.NewRequest without its panic on a target
// that does not parse.
func httpNewRequest(method, target string) (req *http.Request, err error) {
	defer func() {
		if recover() != nil {
			req, err = nil, errors.New("bad target")
		}
	}()
	return httptest.NewRequest(method, target, nil), nil
}
