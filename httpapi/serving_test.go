package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
)

// fakeServices routes every request of service "svc" (named "echo") to
// the instances in addrs in turn, and records what Done reported.
type fakeServices struct {
	atelier.InferenceServices // the calls the gateway does not make: nil

	mu       sync.Mutex
	addrs    []string
	next     int
	outcomes []string
}

func (f *fakeServices) FindService(ctx context.Context, name string) (*atelier.InferenceService, error) {
	if name != "echo" {
		return nil, atelier.CodeServiceNotFound.Errorf("No service named %q.", name).WithField("name")
	}
	return &atelier.InferenceService{ID: "svc", Name: "echo"}, nil
}

func (f *fakeServices) Route(ctx context.Context, id string, q atelier.RouteQuery) (*atelier.Route, error) {
	exclude := q.Exclude
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "svc" {
		return nil, atelier.CodeServiceNotFound.Errorf("No service %q.", id).WithField("service_id")
	}
	for range f.addrs {
		addr := f.addrs[f.next%len(f.addrs)]
		f.next++
		if !contains(exclude, addr) {
			return &atelier.Route{ServiceID: id, Instance: addr, Addr: addr, Done: func(_ time.Duration, failed, unreachable bool) {
				f.mu.Lock()
				defer f.mu.Unlock()
				switch {
				case unreachable:
					f.outcomes = append(f.outcomes, "unreachable")
				case failed:
					f.outcomes = append(f.outcomes, "failed")
				default:
					f.outcomes = append(f.outcomes, "ok")
				}
			}}, nil
		}
	}
	return nil, atelier.CodeServiceNotReady.Errorf("No ready instance.").WithField("service_id")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// instance starts an HTTP server standing in for a model instance.
func instance(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func servingHarness(t *testing.T, addrs ...string) (*harness, *fakeServices) {
	h := newHarness(t)
	f := &fakeServices{addrs: addrs}
	h.opts.Services = f
	h.opts.PredictTimeout = 300 * time.Millisecond
	h.opts.MaxPredictReplyBytes = 1 << 10
	return h, f
}

func TestPredictForwardsWithoutCredentials(t *testing.T) {
	var got *http.Request
	var body string
	addr := instance(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"label": 1}`))
	})
	h, f := servingHarness(t, addr)
	req := authed("POST", "/v1/services/svc/predict/sub/path?x=1", strings.NewReader(`{"instances": [[1, 2]]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "session=secret")
	w := h.do(req)
	if w.Code != 200 || w.Body.String() != `{"label": 1}` || w.Header().Get(httpapi.HeaderInstance) != addr {
		t.Fatalf("answer %d %q headers %v", w.Code, w.Body, w.Header())
	}
	if got.URL.Path != "/sub/path" || got.URL.RawQuery != "x=1" || body != `{"instances": [[1, 2]]}` {
		t.Fatalf("the instance got %s %s?%s %q", got.Method, got.URL.Path, got.URL.RawQuery, body)
	}
	if got.Header.Get("Authorization") != "" || got.Header.Get("Cookie") != "" {
		t.Fatalf("the caller's credentials reached the tenant's code: %v", got.Header)
	}
	if f.outcomes[0] != "ok" {
		t.Fatalf("outcome %v", f.outcomes)
	}
}

func TestPredictRetriesAnotherInstanceWhenOneIsDead(t *testing.T) {
	live := instance(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	dead := deadAddr(t)
	h, f := servingHarness(t, dead, live)
	w := h.do(authed("POST", "/v1/services/svc/predict", strings.NewReader(`{}`)))
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("answer %d %q", w.Code, w.Body)
	}
	if strings.Join(f.outcomes, ",") != "unreachable,ok" {
		t.Fatalf("outcomes %v: the dead instance must be reported unreachable", f.outcomes)
	}
}

func TestPredictFailures(t *testing.T) {
	release := make(chan struct{})
	slow := instance(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the instance closes
	big := instance(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 4<<10)) })
	crash := instance(t, func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	for _, tc := range []struct {
		name   string
		addrs  []string
		status int
		code   atelier.Code
	}{
		{"slow", []string{slow}, http.StatusGatewayTimeout, atelier.CodeServiceTimeout},
		{"too large", []string{big}, http.StatusBadGateway, atelier.CodeServiceResponseSize},
		{"crashes", []string{crash}, http.StatusBadGateway, atelier.CodeServiceBadGateway},
		{"no instance", nil, http.StatusServiceUnavailable, atelier.CodeServiceNotReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := servingHarness(t, tc.addrs...)
			w := h.do(authed("POST", "/v1/services/svc/predict", strings.NewReader(`{}`)))
			mustError(t, w, tc.status, tc.code.ID)
			if tc.code == atelier.CodeServiceNotReady && w.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After on a service without a ready instance")
			}
		})
	}
}

func TestKServeV2PathsReachTheInstance(t *testing.T) {
	var path string
	addr := instance(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.Method + " " + r.URL.Path
		if r.Method == "GET" && (len(r.TransferEncoding) > 0 || r.ContentLength > 0) {
			path += " with a body" // a GET without a body must reach it without one
		}
		w.Write([]byte(`{"model_name": "echo", "outputs": []}`))
	})
	h, _ := servingHarness(t, addr)
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v2/models/echo/infer"},
		{"POST", "/v2/models/echo/versions/2/infer"},
		{"GET", "/v2/models/echo"},
		{"GET", "/v2/models/echo/ready"},
	} {
		var body io.Reader
		if tc.method == "POST" {
			body = strings.NewReader(`{"inputs": []}`)
		}
		w := h.do(authed(tc.method, tc.path, body))
		if w.Code != 200 || path != tc.method+" "+tc.path {
			t.Fatalf("%s %s: %d, instance saw %q", tc.method, tc.path, w.Code, path)
		}
	}
	mustError(t, h.do(authed("POST", "/v2/models/nope/infer", strings.NewReader(`{}`))), 404, atelier.CodeServiceNotFound.ID)
	w := h.do(authed("GET", "/v2/health/live", nil))
	mustJSON(t, w, 200, nil)
	mustError(t, h.do(httptest.NewRequest("POST", "/v2/models/echo/infer", nil)), 401, atelier.CodeNoCredentials.ID)
}

// TestPredictRunsOnce: a prediction whose instance died after getting it
// is not sent to another instance (it could run twice); an idempotent call
// is.
func TestPredictRunsOnce(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	count := func(who string) {
		mu.Lock()
		defer mu.Unlock()
		calls[who]++
	}
	dies := instance(t, func(w http.ResponseWriter, r *http.Request) {
		count("dies")
		io.Copy(io.Discard, r.Body)
		panic(http.ErrAbortHandler) // the connection closes without an answer
	})
	live := instance(t, func(w http.ResponseWriter, r *http.Request) {
		count("live")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": 1}`))
	})
	h, f := servingHarness(t, dies, live)
	mustError(t, h.do(authed("POST", "/v1/services/svc/predict", strings.NewReader(`{}`))), http.StatusBadGateway, atelier.CodeServiceBadGateway.ID)
	if calls["dies"] != 1 || calls["live"] != 0 {
		t.Fatalf("a POST that reached a dying instance was sent again: %v", calls)
	}
	if strings.Join(f.outcomes, ",") != "unreachable" {
		t.Fatalf("outcomes %v: the dying instance must be reported unreachable", f.outcomes)
	}
	// GET is idempotent: the metadata call goes to the next instance.
	f.next = 0
	w := h.do(authed("GET", "/v2/models/echo", nil))
	if w.Code != 200 || calls["dies"] != 2 || calls["live"] != 1 {
		t.Fatalf("an idempotent call: %d, calls %v", w.Code, calls)
	}
}
