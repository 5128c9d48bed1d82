package ratelimit_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/ratelimit"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustAllow(t *testing.T, l *ratelimit.Limiter, key string) {
	t.Helper()
	if ok, retry := l.Allow(key); !ok {
		t.Fatalf("Allow(%q) refused, retry after %v; want allowed", key, retry)
	}
}

func mustRefuse(t *testing.T, l *ratelimit.Limiter, key string, wantRetry time.Duration) {
	t.Helper()
	ok, retry := l.Allow(key)
	if ok {
		t.Fatalf("Allow(%q) allowed; want refused", key)
	}
	if retry != wantRetry {
		t.Fatalf("Allow(%q) retry after %v, want %v", key, retry, wantRetry)
	}
}

func TestBurstThenRefusal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		perMinute  int
		burst      int
		wantBurst  int
		wantRetry  time.Duration // right after the burst
		afterRetry int           // events allowed once retry has passed
	}{
		{name: "burst defaults to rate", perMinute: 6, wantBurst: 6, wantRetry: 10 * time.Second, afterRetry: 1},
		{name: "small burst", perMinute: 60, burst: 3, wantBurst: 3, wantRetry: time.Second, afterRetry: 1},
		{name: "burst of one", perMinute: 2, burst: 1, wantBurst: 1, wantRetry: 30 * time.Second, afterRetry: 1},
		{name: "uneven interval", perMinute: 7, burst: 2, wantBurst: 2, wantRetry: time.Minute / 7, afterRetry: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clock.NewFake(start)
			l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: tt.perMinute, Burst: tt.burst})
			for range tt.wantBurst {
				mustAllow(t, l, "k")
			}
			mustRefuse(t, l, "k", tt.wantRetry)
			// A refusal consumes nothing: the wait does not grow.
			mustRefuse(t, l, "k", tt.wantRetry)
			c.Advance(tt.wantRetry / 2)
			mustRefuse(t, l, "k", tt.wantRetry-tt.wantRetry/2)
			c.Advance(tt.wantRetry - tt.wantRetry/2)
			for range tt.afterRetry {
				mustAllow(t, l, "k")
			}
			mustRefuse(t, l, "k", tt.wantRetry)
		})
	}
}

func TestRefillOverTime(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 60, Burst: 5})
	for range 5 {
		mustAllow(t, l, "k")
	}
	mustRefuse(t, l, "k", time.Second)
	// 2.5 s earn two tokens, not three.
	c.Advance(2500 * time.Millisecond)
	mustAllow(t, l, "k")
	mustAllow(t, l, "k")
	mustRefuse(t, l, "k", 500*time.Millisecond)
	// A long idle period refills up to the burst and no more.
	c.Advance(time.Hour)
	for range 5 {
		mustAllow(t, l, "k")
	}
	mustRefuse(t, l, "k", time.Second)
	// A steady pace at the rate is always allowed.
	for range 100 {
		c.Advance(time.Second)
		mustAllow(t, l, "k")
	}
}

func TestIndependentKeys(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 3, Burst: 2})
	mustAllow(t, l, "ip:10.0.0.1")
	mustAllow(t, l, "ip:10.0.0.1")
	mustRefuse(t, l, "ip:10.0.0.1", 20*time.Second)
	mustAllow(t, l, "ip:10.0.0.2")
	mustAllow(t, l, "acct:alice")
	mustAllow(t, l, "acct:alice")
	mustRefuse(t, l, "acct:alice", 20*time.Second)
	mustAllow(t, l, "ip:10.0.0.2")
	mustRefuse(t, l, "ip:10.0.0.2", 20*time.Second)
	mustAllow(t, l, "")
}

func TestUnlimited(t *testing.T) {
	t.Parallel()
	for _, perMinute := range []int{0, -1} {
		l := ratelimit.New(ratelimit.Options{Clock: clock.NewFake(start), PerMinute: perMinute, Burst: 1, MaxKeys: 1})
		for i := range 1000 {
			mustAllow(t, l, strconv.Itoa(i%3))
		}
		if n := l.Len(); n != 0 {
			t.Errorf("PerMinute %d: Len = %d, want 0", perMinute, n)
		}
	}
}

func TestIdleKeysForgotten(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 60, Burst: 10})
	for i := range 1000 {
		mustAllow(t, l, strconv.Itoa(i))
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("Len = %d, want 1000", n)
	}
	// One token each is back after a second: every bucket is full again.
	c.Advance(time.Second)
	mustAllow(t, l, "fresh")
	if n := l.Len(); n != 1 {
		t.Fatalf("after the refill Len = %d, want 1", n)
	}
	// A key that is still short of tokens is kept, and keeps its state.
	for range 10 {
		mustAllow(t, l, "busy")
	}
	c.Advance(5 * time.Second)
	mustAllow(t, l, "other")
	if n := l.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2 (busy, other)", n)
	}
	for range 5 {
		mustAllow(t, l, "busy")
	}
	mustRefuse(t, l, "busy", time.Second)
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	const maxKeys = 1000
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 1, Burst: 1, MaxKeys: maxKeys})
	// 1e5+ distinct keys in a window in which no bucket refills.
	for i := range 120_000 {
		if ok, _ := l.Allow("ip:" + strconv.Itoa(i)); !ok {
			t.Fatalf("new key %d refused", i)
		}
		if i%997 == 0 {
			c.Advance(time.Millisecond)
		}
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d keys Len = %d, want at most %d", i+1, n, maxKeys)
		}
	}
	if n := l.Len(); n != maxKeys {
		t.Fatalf("Len = %d, want %d", n, maxKeys)
	}
	// The most recent keys are still limited; the oldest were forgotten.
	mustRefuse(t, l, "ip:119999", time.Minute)
	mustAllow(t, l, "ip:0")
}

func TestDefaultMaxKeys(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 1})
	for i := range ratelimit.DefaultMaxKeys + 5000 {
		l.Allow(strconv.Itoa(i))
	}
	if n := l.Len(); n != ratelimit.DefaultMaxKeys {
		t.Fatalf("Len = %d, want %d", n, ratelimit.DefaultMaxKeys)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	const (
		workers   = 8
		perWorker = 500
		burst     = 100
	)
	c := clock.NewFake(start)
	l := ratelimit.New(ratelimit.Options{Clock: c, PerMinute: 60, Burst: burst, MaxKeys: 50})
	var shared atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if ok, _ := l.Allow("shared"); ok {
					shared.Add(1)
				}
				l.Allow("w" + strconv.Itoa(w) + ":" + strconv.Itoa(i))
				if i%100 == 0 {
					l.Len()
				}
			}
		})
	}
	wg.Wait()
	// The clock did not move: exactly the burst got through.
	if got := shared.Load(); got != burst {
		t.Errorf("shared key allowed %d times, want %d", got, burst)
	}
	if n := l.Len(); n > 50 {
		t.Errorf("Len = %d, want at most 50", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "ip:10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	for _, bc := range []struct {
		name    string
		maxKeys int
	}{
		{"fits", len(keys)},
		{"evicting", len(keys) / 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := ratelimit.New(ratelimit.Options{Clock: clock.NewFake(start), PerMinute: 10, Burst: 5, MaxKeys: bc.maxKeys})
			i := 0
			for b.Loop() {
				l.Allow(keys[i%len(keys)])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allows/s")
		})
	}
	b.Run("parallel", func(b *testing.B) {
		l := ratelimit.New(ratelimit.Options{PerMinute: 10, Burst: 5, MaxKeys: len(keys)})
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(n.Add(1)) * 7919
			for pb.Next() {
				l.Allow(keys[i%len(keys)])
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allows/s")
	})
}
