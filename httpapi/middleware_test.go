package httpapi_test

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"sane", "abc.DEF_1-2", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"65 chars", strings.Repeat("a", 65), false},
		{"bad char", "abc def", false},
		{"injection", "x\r\ny", false},
		{"unicode", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			req := httptest.NewRequest("GET", "/healthz", nil)
			if tt.sent != "" {
				req.Header.Set("X-Request-Id", tt.sent)
			}
			got := h.do(req).Header().Get("X-Request-Id")
			if tt.kept && got != tt.sent {
				t.Errorf("X-Request-Id = %q, want the client's %q", got, tt.sent)
			}
			if !tt.kept && (got == tt.sent || !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(got)) {
				t.Errorf("X-Request-Id = %q, want a generated id", got)
			}
		})
	}
}

func TestRequestIDOnErrors(t *testing.T) {
	h := newHarness(t)
	w := h.do(httptest.NewRequest("GET", "/v1/obs", nil)) // no credentials
	e := mustError(t, w, 401, "ATL.AUTH.0001")
	if id := w.Header().Get("X-Request-Id"); id == "" || id != e.RequestID {
		t.Errorf("header %q, body %q", id, e.RequestID)
	}
}

// TestLogLineInHandlerHasRequestID checks that whatever a service logs with
// the request's context carries the request id.
func TestLogLineInHandlerHasRequestID(t *testing.T) {
	h := newHarness(t)
	h.objects.ListBucketsFn = func(ctx context.Context) ([]*atelier.Bucket, error) {
		h.logger.InfoContext(ctx, "inside the service")
		return nil, nil
	}
	req := authed("GET", "/v1/obs", nil)
	req.Header.Set("X-Request-Id", "rid-123")
	mustJSON(t, h.do(req), 200, nil)
	var inside, access bool
	for _, l := range h.log.logLines(t) {
		switch l["msg"] {
		case "inside the service":
			inside = l["request_id"] == "rid-123"
		case "http request":
			access = l["request_id"] == "rid-123" && l["route"] == "/v1/obs" && l["method"] == "GET" && l["status"] == float64(200)
		}
	}
	if !inside || !access {
		t.Errorf("inside=%v access=%v; log:\n%s", inside, access, h.log)
	}
	if strings.Contains(h.log.String(), testToken) {
		t.Errorf("the log holds the bearer token:\n%s", h.log)
	}
}

func TestAuthRequired(t *testing.T) {
	h := newHarness(t)
	h.auth.ExchangeKeyFn = func(ctx context.Context, ak, sk string) (*atelier.IssuedToken, error) {
		return nil, atelier.CodeBadKey.Errorf("The access key or secret key is wrong.")
	}
	h.objects.ListBucketsFn = func(ctx context.Context) ([]*atelier.Bucket, error) {
		if p := atelier.PrincipalFromContext(ctx); p == nil || p.TenantID != "t1" {
			t.Errorf("principal = %+v", p)
		}
		return nil, nil
	}
	tests := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"missing", "", 401, "ATL.AUTH.0001"},
		{"not bearer", "Basic dXNlcjpwdw==", 401, "ATL.AUTH.0001"},
		{"empty bearer", "Bearer ", 401, "ATL.AUTH.0001"},
		{"unknown token", "Bearer nope", 401, "ATL.AUTH.0002"},
		{"good", "Bearer " + testToken, 200, ""},
		{"scheme case", "bearer " + testToken, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/obs", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := h.do(req)
			if tt.code == "" {
				mustJSON(t, w, tt.status, nil)
				return
			}
			mustError(t, w, tt.status, tt.code)
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// POST /v1/auth/token needs no bearer.
	w := h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"access_key":"AK1","secret_key":"s"}`)))
	mustError(t, w, 401, "ATL.AUTH.0003")
}

func TestMetricsUseRoutePatterns(t *testing.T) {
	h := newHarness(t)
	h.objects.StatObjectFn = func(ctx context.Context, bucket, key string) (*atelier.Object, error) {
		return testObject(bucket, key, 3), nil
	}
	for _, key := range []string{"a/b/c", "x", "deep/er/key.txt"} {
		mustJSON(t, h.do(authed("HEAD", "/v1/obs/bkt/"+key, nil)), 200, nil)
	}
	mustError(t, h.do(httptest.NewRequest("GET", "/random/scan/path", nil)), 404, "ATL.GEN.0004")
	mustJSON(t, h.do(httptest.NewRequest("GET", "/healthz", nil)), 200, nil)

	w := h.do(httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`atelier_http_requests_total{method="HEAD",route="/v1/obs/{bucket}/{key...}",status="200"} 3`,
		`atelier_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`atelier_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`atelier_http_request_duration_seconds_count{method="HEAD",route="/v1/obs/{bucket}/{key...}"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, raw := range []string{"a/b/c", "/random/scan"} {
		if strings.Contains(body, raw) {
			t.Errorf("/metrics holds the raw path %q", raw)
		}
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		// HEAD object, unmatched, /healthz and the /metrics request itself.
		if mf.GetName() == "atelier_http_requests_total" && len(mf.GetMetric()) != 4 {
			t.Errorf("%d request series, want 4", len(mf.GetMetric()))
		}
	}
}
