package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/sdk/go/atelier/callback"
)

// BenchmarkDeliver measures events per second from AppendEvent (one
// committed transaction each) to the acknowledgement of a receiver on
// 127.0.0.1 built on the Go kit, on SQLite.
func BenchmarkDeliver(b *testing.B) {
	for _, enc := range []string{"", encKey} {
		b.Run(map[bool]string{false: "plain", true: "encrypted"}[enc != ""], func(b *testing.B) {
			st := openStore(b)
			o := fast(st, b)
			s := start(b, o)
			var acked atomic.Int64
			done := make(chan struct{}, 1)
			var want atomic.Int64
			srv := httptest.NewServer(callback.Handler(signingKey, enc, func(context.Context, string, json.RawMessage) (any, error) {
				if acked.Add(1) == want.Load() {
					done <- struct{}{}
				}
				return nil, nil
			}))
			defer srv.Close()
			subscribe(b, s, srv.URL, enc, false)
			data := json.RawMessage(`{"id":"u-1","userName":"bench","email":"bench@example.com"}`)
			b.ResetTimer()
			start := time.Now()
			want.Store(int64(b.N))
			for i := 0; b.Loop(); i++ {
				e := &atelier.Event{TenantID: tenant, Type: atelier.EventUpdateUser, Subject: fmt.Sprint(i % 100),
					Data: data, CreatedAt: time.Now()}
				if err := st.AppendEvent(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("%d of %d acknowledged", acked.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkCheckURL measures the CHECK_URL handshake of SetCallback.
func BenchmarkCheckURL(b *testing.B) {
	st := openStore(b)
	s := start(b, fast(st, b))
	srv := httptest.NewServer(callback.Handler(signingKey, encKey, func(context.Context, string, json.RawMessage) (any, error) {
		return nil, nil
	}))
	defer srv.Close()
	for b.Loop() {
		subscribe(b, s, srv.URL, encKey, false)
	}
}
