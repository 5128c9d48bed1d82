package autoscale

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// feed observes concurrency c every second for d on the clock, moving it.
func feed(a *Autoscaler, clk *clock.Fake, c float64, d time.Duration) {
	for end := clk.Now().Add(d); clk.Now().Before(end); clk.Advance(time.Second) {
		req := 0
		if c > 0 {
			req = 1
		}
		a.Observe(Sample{Time: clk.Now(), Concurrency: c, Requests: req})
	}
}

func newScaler(t *testing.T, s Settings) *Autoscaler {
	t.Helper()
	a, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDefaults(t *testing.T) {
	a := newScaler(t, Settings{})
	s := a.Settings()
	if s.Concurrency != 1 || s.TargetUtilization != 0.7 || s.StableWindow != 60*time.Second || s.PanicWindow != 6*time.Second ||
		s.PanicThreshold != 2 || s.MaxInstances != 400 || s.IdleTimeout != 60*time.Second {
		t.Errorf("defaults = %+v", s)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []Settings{
		{Concurrency: -1},
		{TargetUtilization: 1.5},
		{PanicWindow: 2 * time.Minute},
		{PanicThreshold: 0.5},
		{MinInstances: -1},
		{MinInstances: 5, MaxInstances: 4},
		{ReservedInstances: 5, MaxInstances: 4},
	} {
		if _, err := New(s); err == nil {
			t.Errorf("New(%+v) = nil error", s)
		}
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		load    float64 // steady concurrency for a minute
		ready   int
		queued  int
		want    int
		mode    Mode
		reasonP string
	}{
		{name: "no load, never invoked", want: 0, mode: Stable},
		{name: "queued at zero", queued: 1, want: 1},
		{name: "steady 7 at 0.7", load: 7, ready: 10, want: 10, mode: Stable},
		{name: "steady 7, concurrency 10", s: Settings{Concurrency: 10}, load: 7, ready: 1, want: 1, mode: Stable},
		{name: "steady 0.1 keeps one", load: 0.1, ready: 1, want: 1, mode: Stable},
		{name: "max", s: Settings{MaxInstances: 3}, load: 100, ready: 3, want: 3},
		{name: "min", s: Settings{MinInstances: 2}, ready: 2, want: 2},
		{name: "reserved over min", s: Settings{MinInstances: 1, ReservedInstances: 3}, ready: 3, want: 3},
		{name: "panic from one", load: 14, ready: 1, want: 20, mode: Panic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			a := newScaler(t, tt.s)
			feed(a, clk, tt.load, time.Minute)
			d := a.Scale(clk.Now(), tt.ready, tt.queued)
			if d.Desired != tt.want {
				t.Errorf("desired = %d, want %d (%+v)", d.Desired, tt.want, d)
			}
			if tt.mode != "" && d.Mode != tt.mode {
				t.Errorf("mode = %s, want %s", d.Mode, tt.mode)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestPanicScalesUpAtOnceAndHoldsForAStableWindow(t *testing.T) {
	clk := clock.NewFake(t0)
	a := newScaler(t, Settings{})
	feed(a, clk, 1, time.Minute)
	if d := a.Scale(clk.Now(), 2, 0); d.Mode != Stable || d.Desired != 2 {
		t.Fatalf("before the burst: %+v", d)
	}
	// A burst of 20 for 6 s: the panic window sees it at once, the stable
	// window only a tenth of it.
	feed(a, clk, 20, 6*time.Second)
	d := a.Scale(clk.Now(), 2, 0)
	if d.Mode != Panic || d.Desired < 20 {
		t.Fatalf("in the burst: %+v", d)
	}
	peak := d.Desired
	// The load goes back to 1: no scale down while panicking.
	for i := 0; i < 59; i++ {
		feed(a, clk, 1, time.Second)
		if d := a.Scale(clk.Now(), peak, 0); d.Desired < peak || d.Mode != Panic {
			t.Fatalf("%d s after the burst: %+v, want panic holding %d", i+1, d, peak)
		}
	}
	feed(a, clk, 1, 2*time.Second)
	if d := a.Scale(clk.Now(), peak, 0); d.Mode != Stable || d.Desired >= peak {
		t.Fatalf("a stable window after the burst: %+v", d)
	}
	feed(a, clk, 1, time.Minute)
	if d := a.Scale(clk.Now(), peak, 0); d.Desired != 2 {
		t.Fatalf("a minute later: %+v, want 2", d)
	}
}

func TestScaleToZeroAfterIdleTimeout(t *testing.T) {
	clk := clock.NewFake(t0)
	a := newScaler(t, Settings{IdleTimeout: 5 * time.Minute})
	feed(a, clk, 3, time.Minute)
	feed(a, clk, 0, time.Minute+time.Second) // the stable window is empty
	if d := a.Scale(clk.Now(), 5, 0); d.Desired != 1 {
		t.Fatalf("a minute idle: %+v, want the last instance kept", d)
	}
	feed(a, clk, 0, 3*time.Minute+58*time.Second)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 1 {
		t.Fatalf("just under 5 minutes idle: %+v", d)
	}
	feed(a, clk, 0, 2*time.Second)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 0 {
		t.Fatalf("5 minutes idle: %+v, want 0", d)
	}
}

type windows struct {
	prewarm, keep time.Duration
	idles         []time.Duration
}

func (w *windows) ObserveIdle(d time.Duration)             { w.idles = append(w.idles, d) }
func (w *windows) Windows() (time.Duration, time.Duration) { return w.prewarm, w.keep }

func TestKeepAlivePolicyPrewarms(t *testing.T) {
	clk := clock.NewFake(t0)
	w := &windows{prewarm: 10 * time.Minute, keep: 2 * time.Minute}
	a := newScaler(t, Settings{KeepAlive: w})
	feed(a, clk, 1, 10*time.Second)
	end := clk.Now()
	feed(a, clk, 0, 2*time.Minute)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 0 {
		t.Fatalf("idle before the pre-warm: %+v", d)
	}
	if got := a.NextChange(clk.Now()); !got.Equal(end.Add(10 * time.Minute)) {
		t.Fatalf("next change %v, want %v", got, end.Add(10*time.Minute))
	}
	clk.Advance(8 * time.Minute)
	if d := a.Scale(clk.Now(), 0, 0); d.Desired != 1 {
		t.Fatalf("pre-warm window over: %+v", d)
	}
	clk.Advance(2 * time.Minute)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 0 {
		t.Fatalf("keep-alive window over: %+v", d)
	}
	feed(a, clk, 1, time.Second)
	if len(w.idles) != 1 || w.idles[0] != 12*time.Minute {
		t.Errorf("idle times %v, want [12m]", w.idles)
	}
}

// Property: whatever the load, the desired count is within [floor, max],
// and at least 1 with a queued request.
func TestPropertyBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		s := Settings{Concurrency: 1 + r.IntN(8), MinInstances: r.IntN(3), ReservedInstances: r.IntN(3), IdleTimeout: time.Duration(1+r.IntN(120)) * time.Second}
		s.MaxInstances = max(s.MinInstances, s.ReservedInstances, 1) + r.IntN(20)
		a := newScaler(t, s)
		clk := clock.NewFake(t0)
		ready := 0
		for step := 0; step < 300; step++ {
			c := 0.0
			if r.IntN(3) > 0 {
				c = r.ExpFloat64() * float64(r.IntN(50))
			}
			a.Observe(Sample{Time: clk.Now(), Concurrency: c, Requests: int(c)})
			queued := r.IntN(2)
			d := a.Scale(clk.Now(), ready, queued)
			lo := max(s.MinInstances, s.ReservedInstances)
			if queued > 0 {
				lo = max(lo, 1)
			}
			if d.Desired < lo || d.Desired > s.MaxInstances {
				t.Fatalf("case %d step %d: desired %d outside [%d, %d] (%+v)", i, step, d.Desired, lo, s.MaxInstances, d)
			}
			ready = d.Desired
			clk.Advance(time.Duration(1+r.IntN(3000)) * time.Millisecond)
		}
	}
}

// Property: more load never asks for fewer instances.
func TestPropertyMonotoneInLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		n := 1 + r.IntN(120)
		load := make([]float64, n)
		for j := range load {
			if r.IntN(4) > 0 {
				load[j] = r.ExpFloat64() * 5
			}
		}
		k := 1 + r.Float64()*4
		ready, queued := r.IntN(10), r.IntN(2)
		run := func(scale float64) Decision {
			a := newScaler(t, Settings{MaxInstances: 1000})
			clk := clock.NewFake(t0)
			for _, c := range load {
				a.Observe(Sample{Time: clk.Now(), Concurrency: c * scale, Requests: int(c)})
				clk.Advance(time.Second)
			}
			return a.Scale(clk.Now(), ready, queued)
		}
		lo, hi := run(1), run(k)
		if hi.Desired < lo.Desired {
			t.Fatalf("case %d: load ×%.2f wants %d < %d (%+v vs %+v)", i, k, hi.Desired, lo.Desired, hi, lo)
		}
	}
}

// The last instance's life is the keep-alive's, not the stable window's:
// an idle_timeout shorter than the window takes it sooner.
func TestShortIdleTimeoutBeatsTheStableWindow(t *testing.T) {
	clk := clock.NewFake(t0)
	a := newScaler(t, Settings{IdleTimeout: 10 * time.Second})
	feed(a, clk, 0.5, 30*time.Second)
	feed(a, clk, 0, 9*time.Second)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 1 {
		t.Fatalf("9 s idle: %+v, want 1", d)
	}
	feed(a, clk, 0, 2*time.Second)
	if d := a.Scale(clk.Now(), 1, 0); d.Desired != 0 || d.StableAverage == 0 {
		t.Fatalf("11 s idle: %+v, want 0 while the stable window still averages above 0", d)
	}
	// More than one instance's worth of load still scales down by the
	// stable window only.
	feed(a, clk, 5, 30*time.Second)
	feed(a, clk, 0, 15*time.Second)
	if d := a.Scale(clk.Now(), 8, 0); d.Desired < 2 {
		t.Fatalf("15 s after a load of 5: %+v, want the stable window's count", d)
	}
}
