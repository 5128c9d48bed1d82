package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
	"github.com/atelier-dev/atelier/function/keepalive"
)

// oneApp is a trace of one function with the given per-minute counts, each
// invocation lasting about ms milliseconds.
func oneApp(counts []int, ms float64) *Trace {
	return &Trace{
		Invocations: []FunctionCounts{{Owner: "o", App: "a", Function: "f", Trigger: "timer", Counts: counts}},
		Durations:   []FunctionDurations{{Owner: "o", App: "a", Function: "f", Average: ms, P: [7]float64{ms, ms, ms, ms, ms, ms, ms}}},
		Memory:      []AppMemory{{Owner: "o", App: "a", Average: 1024}},
	}
}

func every(period, minutes int) []int {
	c := make([]int, minutes)
	for m := 0; m < minutes; m += period {
		c[m] = 1
	}
	return c
}

func fixedPolicy(d time.Duration) Policy {
	return Policy{Name: "fixed", New: func() autoscale.KeepAlive { return keepalive.Fixed(d) }}
}

func run(t *testing.T, tr *Trace, c Config, ps ...Policy) []Result {
	t.Helper()
	res, err := Run(tr, c, ps)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSteadyLoadStaysWarm(t *testing.T) {
	tr := oneApp(every(1, 1440), 1000)
	r := run(t, tr, Config{}, fixedPolicy(20*time.Minute))[0]
	if r.Invocations != 1440 || r.ColdStarts != 1 {
		t.Errorf("%d invocations, %d cold starts; want 1440, 1", r.Invocations, r.ColdStarts)
	}
	// One instance from the first invocation to the end of the day.
	if r.InstanceSeconds < 86400-61 || r.InstanceSeconds > 86400 {
		t.Errorf("instance-seconds %.0f, want about a day", r.InstanceSeconds)
	}
	if r.AlwaysOnInstanceSeconds != 86400 && r.AlwaysOnInstanceSeconds != 2*86400 {
		t.Errorf("always on %.0f", r.AlwaysOnInstanceSeconds)
	}
	if r.MemoryGBSeconds != r.InstanceSeconds { // 1024 MB
		t.Errorf("memory GB-s %.0f, instance-s %.0f", r.MemoryGBSeconds, r.InstanceSeconds)
	}
	// Wasted: all but the 1,440 seconds of work.
	if math.Abs(r.WastedMemoryGBSeconds-(r.InstanceSeconds-1440)) > 1 {
		t.Errorf("wasted %.0f, want %.0f", r.WastedMemoryGBSeconds, r.InstanceSeconds-1440)
	}
	if r.QueueDelayP99 != 0 {
		t.Errorf("queue p99 %v with a warm instance", r.QueueDelayP99)
	}
}

func TestFixedKeepAliveCosts(t *testing.T) {
	// A timer every 30 minutes, 100 ms each: fixed keep-alive under 30
	// minutes makes every invocation cold and keeps the instance for
	// the keep-alive after each.
	tr := oneApp(every(30, 1440), 100)
	for _, keep := range []time.Duration{30 * time.Second, 10 * time.Minute} {
		r := run(t, tr, Config{ColdStart: 300 * time.Millisecond, GPUMemoryMB: 2048}, fixedPolicy(keep))[0]
		if r.ColdStarts != 48 {
			t.Errorf("keep %v: %d cold starts, want 48", keep, r.ColdStarts)
		}
		// Each cold start waits for the 300 ms start.
		if r.QueueDelayP50 != 300*time.Millisecond {
			t.Errorf("keep %v: queue p50 %v, want 300ms", keep, r.QueueDelayP50)
		}
		// Each invocation: the start, the work, then the keep-alive, to
		// the 2 s tick.
		per := (keep + 400*time.Millisecond).Seconds()
		if got := r.InstanceSeconds / 48; got < per || got > per+4 {
			t.Errorf("keep %v: %.1f instance-s per invocation, want %.1f to %.1f", keep, got, per, per+4)
		}
		if r.GPUMemoryGBSeconds != 2*r.InstanceSeconds {
			t.Errorf("GPU GB-s %.0f for %.0f instance-s at 2 GB", r.GPUMemoryGBSeconds, r.InstanceSeconds)
		}
	}
}

func TestHybridPrewarmsATimer(t *testing.T) {
	tr := oneApp(every(30, 1440), 100)
	hybrid := Policy{Name: "hybrid", New: func() autoscale.KeepAlive {
		return keepalive.NewHybrid(keepalive.HybridConfig{Fallback: 10 * time.Minute})
	}}
	res := run(t, tr, Config{}, fixedPolicy(10*time.Minute), fixedPolicy(20*time.Minute), hybrid)
	f10, f20, h := res[0], res[1], res[2]
	// Ten idle times to learn from, then every invocation finds its
	// instance pre-warmed.
	if h.ColdStarts > 12 || f10.ColdStarts != 48 {
		t.Errorf("cold starts: hybrid %d (want ≤ 12), fixed 10m %d (want 48)", h.ColdStarts, f10.ColdStarts)
	}
	if h.WastedMemoryGBSeconds >= f10.WastedMemoryGBSeconds || h.WastedMemoryGBSeconds >= f20.WastedMemoryGBSeconds {
		t.Errorf("wasted: hybrid %.0f, fixed 10m %.0f, fixed 20m %.0f", h.WastedMemoryGBSeconds, f10.WastedMemoryGBSeconds, f20.WastedMemoryGBSeconds)
	}
}

func TestMaxInstancesBoundsABurst(t *testing.T) {
	counts := make([]int, 60)
	counts[0] = 100
	tr := oneApp(counts, 10000)
	c := Config{Autoscale: autoscale.Settings{MaxInstances: 2}}
	r := run(t, tr, c, fixedPolicy(time.Minute))[0]
	if r.Invocations != 100 || r.Queued < 98 {
		t.Errorf("%d invocations, %d queued", r.Invocations, r.Queued)
	}
	// 100 × 10 s on two instances: about 500 s each, no more.
	if r.InstanceSeconds > 2*(500+70) || r.InstanceSeconds < 1000 {
		t.Errorf("instance-seconds %.0f, want 1000 to 1140 on two instances", r.InstanceSeconds)
	}
	if r.QueueDelayP99 < 400*time.Second {
		t.Errorf("queue p99 %v, want the burst's wait behind two instances", r.QueueDelayP99)
	}
}

func TestMinInstancesAreUpAllDay(t *testing.T) {
	tr := oneApp(make([]int, 1440), 100)
	tr.Invocations[0].Counts[720] = 1
	r := run(t, tr, Config{Autoscale: autoscale.Settings{MinInstances: 2}}, fixedPolicy(time.Minute))[0]
	if r.InstanceSeconds != 2*86400 || r.ColdStarts != 0 {
		t.Errorf("instance-seconds %.0f, cold starts %d; want 172800, 0", r.InstanceSeconds, r.ColdStarts)
	}
}

func TestReport(t *testing.T) {
	tr := Generate(GenerateConfig{Apps: 8, Seed: 3, Minutes: 240})
	r1, err := NewReport(tr, Config{Seed: 1, GPUMemoryMB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := NewReport(tr, Config{Seed: 1, GPUMemoryMB: 4096})
	if !reflect.DeepEqual(r1, r2) {
		t.Error("two runs of the same trace and seed differ")
	}
	if len(r1.Results) != len(DefaultPolicies()) || r1.Invocations == 0 || len(r1.Curve) == 0 || len(r1.Checks) != 3 {
		t.Fatalf("report = %+v", r1)
	}
	for _, p := range r1.Results {
		if p.Saving <= 0 || p.Saving >= 1 || p.InstanceSeconds <= 0 || p.AlwaysOnMemoryGBSeconds <= p.MemoryGBSeconds {
			t.Errorf("%s: %+v", p.Policy, p)
		}
	}
	var b bytes.Buffer
	if err := r1.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fixed 30s", "fixed 1m", "fixed 10m", "fixed 20m", "hybrid", "always on (peak)", "by app utilisation", "≥ 70% saving"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if _, err := json.Marshal(r1); err != nil {
		t.Fatal(err)
	}
}
