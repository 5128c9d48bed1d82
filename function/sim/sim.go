// Package sim replays an invocation trace (the Azure Functions 2019 schema)
// against the real autoscaler (function/autoscale) and keep-alive policies
// (function/keepalive) on simulated time, and reports what each policy
// costs: instance-seconds, memory and GPU-memory GB-seconds, cold starts,
// queueing delay, memory-time wasted on idle instances, and the saving
// against an always-on deployment sized for the peak. It also generates a
// seeded trace in that schema and reads the real files.
//
// Everything is deterministic: the same trace, seed and configuration give
// the same figures.
package sim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
)

// Config are the simulation's parameters.
type Config struct {
	// ColdStart is the time from starting an instance to its readiness;
	// 300 ms when zero.
	ColdStart time.Duration
	// Tick is how often the autoscaler observes and decides; 2 s (Knative's)
	// when zero.
	Tick time.Duration
	// GPUMemoryMB is each instance's GPU memory (0: no GPU).
	GPUMemoryMB int
	// Autoscale is each function's settings; its KeepAlive is replaced by
	// the policy's.
	Autoscale autoscale.Settings
	// Seed places the invocations within their minute and draws their
	// durations.
	Seed uint64
}

// Policy is a keep-alive policy under test.
type Policy struct {
	Name string
	New  func() autoscale.KeepAlive // one per application
}

// Result is one policy's figures over the whole trace.
type Result struct {
	Policy      string `json:"policy"`
	Apps        int    `json:"apps"`
	Invocations int    `json:"invocations"`

	InstanceSeconds       float64 `json:"instance_seconds"`
	MemoryGBSeconds       float64 `json:"memory_gb_seconds"`
	GPUMemoryGBSeconds    float64 `json:"gpu_memory_gb_seconds"`
	WastedMemoryGBSeconds float64 `json:"wasted_memory_gb_seconds"` // memory-time of instances serving nothing
	// IdleMemoryGBSeconds is the part of it while the app had no request
	// at all: what the keep-alive policy costs (the paper's wasted
	// memory time, where an app is one instance).
	IdleMemoryGBSeconds float64 `json:"idle_memory_gb_seconds"`
	ColdStarts          int     `json:"cold_starts"` // invocations that found no ready instance
	Queued              int     `json:"queued"`      // invocations that found no free slot (cold starts included)
	// ColdStartRateP75 is the 75th percentile over the apps of each
	// app's share of invocations that were cold starts.
	ColdStartRateP75 float64       `json:"cold_start_rate_p75"`
	QueueDelayP50    time.Duration `json:"queue_delay_p50_ns"`
	QueueDelayP99    time.Duration `json:"queue_delay_p99_ns"`

	AlwaysOnInstanceSeconds float64 `json:"always_on_instance_seconds"`
	AlwaysOnMemoryGBSeconds float64 `json:"always_on_memory_gb_seconds"`
	// Saving is 1 − MemoryGBSeconds / AlwaysOnMemoryGBSeconds (the same
	// as the GPU-memory saving when every instance has the same GPU memory).
	Saving float64 `json:"saving"`

	PerApp []AppResult `json:"per_app,omitempty"`
}

// AppResult is one application's figures under one policy.
type AppResult struct {
	App                     string  `json:"app"`
	Invocations             int     `json:"invocations"`
	ColdStarts              int     `json:"cold_starts"`
	Queued                  int     `json:"queued"`
	Utilisation             float64 `json:"utilisation"` // busy time over the always-on capacity
	InstanceSeconds         float64 `json:"instance_seconds"`
	MemoryGBSeconds         float64 `json:"memory_gb_seconds"`
	WastedMemoryGBSeconds   float64 `json:"wasted_memory_gb_seconds"`
	IdleMemoryGBSeconds     float64 `json:"idle_memory_gb_seconds"`
	AlwaysOnMemoryGBSeconds float64 `json:"always_on_memory_gb_seconds"`
}

// epoch is the simulated start of the trace's day.
var epoch = time.Date(2019, 7, 15, 0, 0, 0, 0, time.UTC)

// Run replays the trace once per policy. Every policy sees the same
// invocations.
func Run(t *Trace, c Config, policies []Policy) ([]Result, error) {
	if c.ColdStart == 0 {
		c.ColdStart = 300 * time.Millisecond
	}
	if c.Tick == 0 {
		c.Tick = 2 * time.Second
	}
	s := c.Autoscale
	s.KeepAlive = nil
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c.Autoscale = s
	apps := expand(t, c.Seed)
	horizon := time.Duration(traceMinutes(t)) * time.Minute
	out := make([]Result, len(policies))
	for pi, p := range policies {
		res := Result{Policy: p.Name}
		var delays []time.Duration
		var rates []float64
		for _, a := range apps {
			if len(a.reqs) == 0 {
				continue
			}
			settings := c.Autoscale
			if p.New != nil {
				settings.KeepAlive = p.New()
			}
			ar, d := simulateApp(a, settings, c, horizon)
			delays = append(delays, d...)
			res.PerApp = append(res.PerApp, ar)
			res.Apps++
			res.Invocations += ar.Invocations
			res.ColdStarts += ar.ColdStarts
			res.Queued += ar.Queued
			res.InstanceSeconds += ar.InstanceSeconds
			res.MemoryGBSeconds += ar.MemoryGBSeconds
			res.WastedMemoryGBSeconds += ar.WastedMemoryGBSeconds
			res.IdleMemoryGBSeconds += ar.IdleMemoryGBSeconds
			res.AlwaysOnMemoryGBSeconds += ar.AlwaysOnMemoryGBSeconds
			res.AlwaysOnInstanceSeconds += a.alwaysOnInstances(c.Autoscale.Concurrency) * horizon.Seconds()
			rates = append(rates, float64(ar.ColdStarts)/float64(ar.Invocations))
		}
		res.GPUMemoryGBSeconds = res.InstanceSeconds * float64(c.GPUMemoryMB) / 1024
		if res.AlwaysOnMemoryGBSeconds > 0 {
			res.Saving = 1 - res.MemoryGBSeconds/res.AlwaysOnMemoryGBSeconds
		}
		res.ColdStartRateP75 = percentileF(rates, 75)
		slices.Sort(delays)
		res.QueueDelayP50 = percentileD(delays, 50)
		res.QueueDelayP99 = percentileD(delays, 99)
		out[pi] = res
	}
	return out, nil
}

func traceMinutes(t *Trace) int {
	n := 0
	for _, f := range t.Invocations {
		n = max(n, len(f.Counts))
	}
	return max(n, 1)
}

// request is one invocation, in offsets from the trace's start.
type request struct {
	arrive, dur time.Duration
}

type app struct {
	name  string
	memMB float64
	reqs  []request // by arrival
	peak  int       // most requests running at once with no queueing
	busy  time.Duration
}

func (a *app) alwaysOnInstances(concurrency int) float64 {
	return math.Ceil(float64(a.peak) / float64(concurrency))
}

// expand turns the per-minute counts into invocations, spread uniformly
// within their minute, with durations drawn from their function's
// percentiles (1 s where the trace has none), grouped by app.
func expand(t *Trace, seed uint64) []*app {
	durs := make(map[[3]string]FunctionDurations, len(t.Durations))
	for _, d := range t.Durations {
		durs[[3]string{d.Owner, d.App, d.Function}] = d
	}
	mem := make(map[[2]string]float64, len(t.Memory))
	for _, m := range t.Memory {
		mem[[2]string{m.Owner, m.App}] = m.Average
	}
	byApp := map[[2]string]*app{}
	var order []*app
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, f := range t.Invocations {
		k := [2]string{f.Owner, f.App}
		a := byApp[k]
		if a == nil {
			a = &app{name: f.App, memMB: mem[k]}
			if a.memMB <= 0 {
				a.memMB = 256
			}
			byApp[k] = a
			order = append(order, a)
		}
		d, ok := durs[[3]string{f.Owner, f.App, f.Function}]
		for m, n := range f.Counts {
			for j := 0; j < n; j++ {
				arrive := time.Duration((float64(m) + r.Float64()) * float64(time.Minute))
				dur := time.Second
				if ok {
					dur = sampleDuration(r, d)
				}
				a.reqs = append(a.reqs, request{arrive: arrive, dur: dur})
			}
		}
	}
	for _, a := range order {
		sort.Slice(a.reqs, func(i, j int) bool { return a.reqs[i].arrive < a.reqs[j].arrive })
		a.peak, a.busy = peak(a.reqs)
	}
	return order
}

// sampleDuration draws from the piecewise-linear distribution through the
// function's percentiles (milliseconds), at least 1 ms.
func sampleDuration(r *rand.Rand, d FunctionDurations) time.Duration {
	u := r.Float64() * 100
	ms := d.P[len(d.P)-1]
	for i := 1; i < len(DurationPercentiles); i++ {
		if u <= DurationPercentiles[i] {
			lo, hi := DurationPercentiles[i-1], DurationPercentiles[i]
			ms = d.P[i-1] + (d.P[i]-d.P[i-1])*(u-lo)/(hi-lo)
			break
		}
	}
	return max(time.Duration(ms*float64(time.Millisecond)), time.Millisecond)
}

// peak returns the most requests running at once if each ran on arrival,
// and their total duration.
func peak(reqs []request) (int, time.Duration) {
	ends := &durHeap{}
	most := 0
	var busy time.Duration
	for _, q := range reqs {
		for ends.Len() > 0 && (*ends)[0] <= q.arrive {
			heap.Pop(ends)
		}
		heap.Push(ends, q.arrive+q.dur)
		most = max(most, ends.Len())
		busy += q.dur
	}
	return most, busy
}

type durHeap []time.Duration

func (h durHeap) Len() int           { return len(h) }
func (h durHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h durHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *durHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *durHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func percentileF(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[rank(len(s), p)]
}

func percentileD(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[rank(len(sorted), p)]
}

// rank is the nearest-rank index of the p-th percentile of n values.
func rank(n int, p float64) int {
	i := int(math.Ceil(p/100*float64(n))) - 1
	return min(max(i, 0), n-1)
}
