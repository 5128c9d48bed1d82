//go:build !race

package httpapi_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier/httpapi"
)

// The race detector makes sync.Pool drop what it holds at random, so the
// allocations this counts are only meaningful without it.

// TestPredictReusesItsBuffers: forwarding an answer allocates no buffer
// of its own (io.Copy's 32 KiB, or as much to peek at an answer of unknown
// length), which was most of what the gateway allocated per request.
func TestPredictReusesItsBuffers(t *testing.T) {
	sized := instance(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok": 1}`)) })
	chunked := instance(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // no Content-Length: the answer is chunked
		w.Write([]byte(`{"ok": 1}`))
	})
	for _, tc := range []struct{ name, addr string }{{"with a length", sized}, {"chunked", chunked}} {
		h, _ := servingHarness(t, tc.addr)
		h.opts.MaxPredictReplyBytes = httpapi.DefaultMaxPredictReplyBytes
		predict := func() {
			w := h.do(authed("POST", "/v1/services/svc/predict", strings.NewReader(`{}`)))
			if w.Code != 200 || w.Body.String() != `{"ok": 1}` {
				t.Fatalf("%s: answer %d %q", tc.name, w.Code, w.Body)
			}
		}
		for range 20 {
			predict() // warm: connections, pools
		}
		const n = 200
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			predict()
		}
		runtime.ReadMemStats(&after)
		// The instance runs in this process too: its allocations count.
		per := (after.TotalAlloc - before.TotalAlloc) / n
		t.Logf("%s: %d bytes allocated per forwarded request", tc.name, per)
		if per > 24<<10 {
			t.Errorf("%s: %d bytes allocated per forwarded request, want under 24 KiB (48 KiB and more with a buffer per answer)", tc.name, per)
		}
	}
}
