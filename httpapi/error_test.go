package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
)

func TestStatusByKind(t *testing.T) {
	tests := []struct {
		kind   atelier.Kind
		status int
	}{
		{atelier.Invalid, 400},
		{atelier.Unauthenticated, 401},
		{atelier.PermissionDenied, 403},
		{atelier.NotFound, 404},
		{atelier.Conflict, 409},
		{atelier.FailedPrecondition, 409},
		{atelier.TooLarge, 413},
		{atelier.RangeNotSatisfied, 416},
		{atelier.ResourceExhausted, 429},
		{atelier.Canceled, 499},
		{atelier.Internal, 500},
		{atelier.NotImplemented, 501},
		{atelier.Unavailable, 503},
		{atelier.DeadlineExceeded, 504},
		{atelier.InsufficientSpace, 507},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			code := atelier.Code{ID: "ATL.TEST.0001", Kind: tt.kind}
			h.objects.ListBucketsFn = func(ctx context.Context) ([]*atelier.Bucket, error) {
				return nil, fmt.Errorf("wrapped: %w", code.Errorf("Something about field x."))
			}
			w := h.do(authed("GET", "/v1/obs", nil))
			e := mustError(t, w, tt.status, "ATL.TEST.0001")
			if e.Message != "Something about field x." {
				t.Errorf("error_msg = %q", e.Message)
			}
			if e.RequestID == "" || e.RequestID != w.Header().Get("X-Request-Id") {
				t.Errorf("request_id = %q, header %q", e.RequestID, w.Header().Get("X-Request-Id"))
			}
		})
	}
}

// TestEveryCodeHasStatus keeps the kind table complete as codes are added.
func TestEveryCodeHasStatus(t *testing.T) {
	for _, c := range atelier.Codes() {
		st := httpapi.StatusOf(c.Errorf("x"))
		if st == http.StatusInternalServerError && c.Kind != atelier.Internal {
			t.Errorf("code %s of kind %q maps to 500", c.ID, c.Kind)
		}
	}
}

func TestContextErrors(t *testing.T) {
	if got := httpapi.StatusOf(fmt.Errorf("x: %w", context.DeadlineExceeded)); got != 504 {
		t.Errorf("deadline: %d", got)
	}
	if got := httpapi.StatusOf(context.Canceled); got != 499 {
		t.Errorf("canceled: %d", got)
	}
}

func TestInternalErrorNotLeaked(t *testing.T) {
	h := newHarness(t)
	h.objects.ListBucketsFn = func(ctx context.Context) ([]*atelier.Bucket, error) {
		return nil, errors.New("open /var/secret/db: SELECT * FROM users failed")
	}
	req := authed("GET", "/v1/obs", nil)
	req.Header.Set("X-Request-Id", "trace-42")
	w := h.do(req)
	e := mustError(t, w, 500, "ATL.GEN.0001")
	if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "SELECT") {
		t.Errorf("answer leaks the cause: %s", w.Body)
	}
	if e.RequestID != "trace-42" {
		t.Errorf("request_id = %q", e.RequestID)
	}
	found := false
	for _, l := range h.log.logLines(t) {
		if l["level"] == "ERROR" && l["request_id"] == "trace-42" && strings.Contains(fmt.Sprint(l["err"]), "/var/secret/db") {
			found = true
		}
	}
	if !found {
		t.Errorf("the full error was not logged with the request id:\n%s", h.log)
	}
}

func TestV2ErrorShape(t *testing.T) {
	h := newHarness(t)
	req := httptest.NewRequest("POST", "/api/v2/sdk/login/email", strings.NewReader(`{}`))
	w := h.do(req)
	if w.Code != 400 {
		t.Fatalf("status %d", w.Code)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["request_id"]; ok || len(m) != 2 || m["error_code"] != "ATL.AUTH.0006" {
		t.Errorf("v2 error = %v, want only error_code and error_msg", m)
	}
}

func TestRouteNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	mustError(t, h.do(authed("GET", "/v1/nothing", nil)), 404, "ATL.GEN.0004")
	mustError(t, h.do(httptest.NewRequest("GET", "/nowhere", nil)), 404, "ATL.GEN.0004")
	w := h.do(authed("PATCH", "/v1/apikeys", nil))
	mustError(t, w, 405, "ATL.GEN.0011")
	if got := w.Header().Get("Allow"); got != "GET, HEAD, POST" {
		t.Errorf("Allow = %q", got)
	}
	w = h.do(authed("POST", "/v1/obs/bucket/key", nil))
	mustError(t, w, 405, "ATL.GEN.0011")
	if got := w.Header().Get("Allow"); got != "DELETE, GET, HEAD, PUT" {
		t.Errorf("Allow = %q", got)
	}
}

func TestPanicRecovered(t *testing.T) {
	h := newHarness(t)
	// ListBucketsFn is unset: the mock panics.
	w := h.do(authed("GET", "/v1/obs", nil))
	e := mustError(t, w, 500, "ATL.GEN.0001")
	if strings.Contains(w.Body.String(), "mock") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("panic leaked: %s", w.Body)
	}
	found := false
	for _, l := range h.log.logLines(t) {
		if l["msg"] == "panic serving request" && l["request_id"] == e.RequestID && strings.Contains(fmt.Sprint(l["stack"]), "goroutine") {
			found = true
		}
	}
	if !found {
		t.Errorf("panic not logged with stack and request id:\n%s", h.log)
	}
}
