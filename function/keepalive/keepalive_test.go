package keepalive

import (
	"testing"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
)

var (
	_ autoscale.KeepAlive = Fixed(0)
	_ autoscale.KeepAlive = (*Hybrid)(nil)
)

func TestFixed(t *testing.T) {
	p, k := Fixed(10 * time.Minute).Windows()
	if p != 0 || k != 10*time.Minute {
		t.Errorf("windows = %v, %v", p, k)
	}
}

func TestHybrid(t *testing.T) {
	tests := []struct {
		name          string
		idles         []time.Duration
		mode          string
		prewarm, keep time.Duration
	}{
		{name: "no history", mode: "too few samples", keep: 4 * time.Hour},
		{name: "nine samples", idles: repeat(30*time.Minute, 9), mode: "too few samples", keep: 4 * time.Hour},
		{
			// A timer every 30 minutes: all idle times in bin 29 or 30.
			name: "periodic", idles: repeat(29*time.Minute+30*time.Second, 20), mode: "histogram",
			prewarm: 1566 * time.Second,                // 0.9 × 29 min
			keep:    33*time.Minute - 1566*time.Second, // to 1.1 × 30 min
		},
		{name: "spread evenly", idles: spread(240), mode: "not representative", keep: 4 * time.Hour},
		{name: "beyond the range", idles: repeat(5*time.Hour, 20), mode: "out of bounds", keep: 4 * time.Hour},
		{
			// Short gaps: the head is bin 0, so no pre-warm (the instance stays).
			name: "frequent", idles: repeat(20*time.Second, 50), mode: "histogram",
			keep: 66 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHybrid(HybridConfig{})
			for _, d := range tt.idles {
				h.ObserveIdle(d)
			}
			p, k := h.Windows()
			if h.Mode() != tt.mode || p != tt.prewarm || k != tt.keep {
				t.Errorf("mode %q, windows %v + %v; want %q, %v + %v", h.Mode(), p, k, tt.mode, tt.prewarm, tt.keep)
			}
		})
	}
}

func TestHybridTail(t *testing.T) {
	h := NewHybrid(HybridConfig{})
	// 98 gaps of 2 minutes and 2 of 60: the 99th percentile is in bin 60.
	for _, d := range append(repeat(2*time.Minute+time.Second, 98), repeat(60*time.Minute+time.Second, 2)...) {
		h.ObserveIdle(d)
	}
	p, k := h.Windows()
	if want := 108 * time.Second; p != want {
		t.Errorf("pre-warm %v, want %v", p, want)
	}
	if end := p + k; end != 4026*time.Second {
		t.Errorf("pre-warm + keep-alive = %v, want 1.1 × 61 min", end)
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func spread(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i)*time.Minute + time.Second
	}
	return s
}
