package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/sdk/go/atelier/callback"
)

// postEvent seals an organization creation for the bench receiver and
// returns the receiver's status.
func postEvent(t *testing.T, rc *cbReceiver, encKey, token, id string, created time.Time) int {
	t.Helper()
	env, err := callback.Seal(callbackSigningKey, encKey, "CREATE_ORGANIZATION",
		map[string]any{"id": id, "createdAt": created}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rc.url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReceiver checks the bench receiver: 503 while down, 401 without the
// security token, encrypted events opened, each organization's first
// arrival kept once with its latency, and wait in the order of the ids.
func TestReceiver(t *testing.T) {
	rc, err := startReceiver(callbackEncKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	created := time.Now().Add(-time.Second)

	rc.down.Store(true)
	if got := postEvent(t, rc, callbackEncKey, callbackToken, "org-a", created); got != http.StatusServiceUnavailable {
		t.Fatalf("while down: HTTP %d, want 503", got)
	}
	if rc.refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", rc.refused.Load())
	}
	rc.down.Store(false)
	if got := postEvent(t, rc, callbackEncKey, "not-the-security-token", "org-a", created); got != http.StatusUnauthorized {
		t.Fatalf("bad token: HTTP %d, want 401", got)
	}
	for _, id := range []string{"org-a", "org-b", "org-a"} {
		if got := postEvent(t, rc, callbackEncKey, callbackToken, id, created); got != http.StatusOK {
			t.Fatalf("%s: HTTP %d, want 200", id, got)
		}
	}
	arr, err := rc.wait(t.Context(), []string{"org-b", "org-a"}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.first) != 2 || !arr[1].at.Before(arr[0].at) || arr[0].latency < time.Second {
		t.Fatalf("arrivals %+v (%d distinct), want org-a before org-b, each at least 1 s after its createdAt", arr, len(rc.first))
	}
	if lastArrival(arr) != arr[0].at {
		t.Fatalf("lastArrival = %v, want org-b's %v", lastArrival(arr), arr[0].at)
	}
	if _, err := rc.wait(t.Context(), []string{"org-c"}, 0, nil); err == nil || !strings.Contains(err.Error(), "1 of 1 events have not arrived") {
		t.Fatalf("waiting for an event that never comes: %v", err)
	}
}

// TestAttempts reads the attempt counters from a /metrics page.
func TestAttempts(t *testing.T) {
	const page = `# HELP atelier_callback_attempts_total Callback delivery attempts by result.
# TYPE atelier_callback_attempts_total counter
atelier_callback_attempts_total{result="delivered"} 12
atelier_callback_attempts_total{result="failed"} 1.2345e+06
`
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a := &callbackAPI{apiClient: newAPI(srv.URL, 1)}
	for _, tc := range []struct {
		result string
		want   float64
	}{{"failed", 1234500}, {"delivered", 12}, {"dead", 0}} {
		got, err := a.attempts(t.Context(), tc.result)
		if err != nil || got != tc.want {
			t.Errorf("attempts(%q) = %v, %v; want %v", tc.result, got, err, tc.want)
		}
	}
}
