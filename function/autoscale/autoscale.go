// Package autoscale decides how many instances a function should have, after
// Knative's KPA: observed concurrency is averaged over a stable window (60 s)
// and a panic window (6 s); the desired count is the average divided by the
// target concurrency of one instance (concurrency × target utilisation).
// When the panic window asks for at least PanicThreshold times the ready
// instances, the autoscaler panics: it scales up at once and does not scale
// down until a whole stable window has passed without that. Out of panic it
// follows the stable window, down as well as up. The result is clamped to
// [max(min_instances, reserved_instances), max_instances]; the last instance
// goes only when the keep-alive policy says so (a fixed idle_timeout by
// default), and any queued request asks for at least one instance.
//
// The package is pure and deterministic: time comes in as arguments, so the
// functions service drives it from its clock and the simulator from a fake
// one. An Autoscaler is not safe for concurrent use.
package autoscale

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of the settings (CONTRACT §6 and Knative's).
const (
	DefaultTargetUtilization = 0.7
	DefaultStableWindow      = 60 * time.Second
	DefaultPanicThreshold    = 2.0
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxInstances      = 400
	// granularity is the width of one bucket of observed concurrency.
	granularity = time.Second
)

// Settings are one function's scaling settings. Zero values take the
// defaults (Concurrency 1, MaxInstances 400, the constants above; the panic
// window is a tenth of the stable window).
type Settings struct {
	Concurrency       int     // requests one instance serves at once
	TargetUtilization float64 // share of Concurrency the autoscaler aims at, in (0, 1]
	StableWindow      time.Duration
	PanicWindow       time.Duration
	PanicThreshold    float64 // panic when the panic window wants this many times the ready instances
	MinInstances      int
	// ReservedInstances are kept started at all times, like MinInstances:
	// the floor is the larger of the two (see docs/functions.md).
	ReservedInstances int
	MaxInstances      int
	// IdleTimeout is how long the last instance stays after the last
	// request when KeepAlive is nil.
	IdleTimeout time.Duration
	// KeepAlive, when set, replaces the fixed IdleTimeout with a policy
	// (e.g. keepalive.Hybrid).
	KeepAlive KeepAlive
}

// KeepAlive decides how long a function at rest keeps its last instance.
// After the last request ends, no instance is wanted for the pre-warm
// window, then one is for the keep-alive window, then none. A fixed
// idle_timeout is a pre-warm of 0 and a keep-alive of idle_timeout.
type KeepAlive interface {
	// ObserveIdle reports an idle time: from the end of the function's
	// activity to the next request.
	ObserveIdle(idle time.Duration)
	// Windows returns the current pre-warm and keep-alive windows.
	Windows() (prewarm, keepAlive time.Duration)
}

// fixed is the default KeepAlive.
type fixed time.Duration

func (fixed) ObserveIdle(time.Duration)                 {}
func (f fixed) Windows() (time.Duration, time.Duration) { return 0, time.Duration(f) }

// Mode is the autoscaler's mode.
type Mode string

// The modes.
const (
	Stable Mode = "stable"
	Panic  Mode = "panic"
)

// Decision is one scaling decision, for logs and metrics. It is a plain value.
type Decision struct {
	Time              time.Time `json:"time"`
	StableAverage     float64   `json:"stable_average"` // observed concurrency over the stable window
	PanicAverage      float64   `json:"panic_average"`  // and over the panic window
	Mode              Mode      `json:"mode"`
	Ready             int       `json:"ready"`
	Desired           int       `json:"desired"`
	Reason            string    `json:"reason"`
	TargetPerInstance float64   `json:"target_per_instance"`
}

// Sample is one observation of a function's load, from the activator and
// its instances: the concurrency (requests in flight plus queued; a time
// average over the period it covers) and how many requests arrived.
type Sample struct {
	Time        time.Time
	Concurrency float64
	Requests    int
}

// Autoscaler holds one function's observations and panic state.
type Autoscaler struct {
	s       Settings
	keep    KeepAlive
	buckets []bucket // ring of per-second buckets over the stable window

	firstWrite, lastWrite time.Time
	lastActive            time.Time // the last sample with load
	idle                  bool      // no load since lastActive
	panicking             bool
	panicSince            time.Time // last time the panic window was over the threshold
	maxPanic              int       // the highest count asked for in this panic
}

type bucket struct {
	at         int64 // the bucket's second (Unix), +1 so that 0 is unused
	sum        float64
	n          int
	hadRequest bool
}

// Validate checks the settings and fills in the defaults.
func (s *Settings) Validate() error {
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	if s.TargetUtilization == 0 {
		s.TargetUtilization = DefaultTargetUtilization
	}
	if s.StableWindow == 0 {
		s.StableWindow = DefaultStableWindow
	}
	if s.PanicWindow == 0 {
		s.PanicWindow = s.StableWindow / 10
	}
	if s.PanicThreshold == 0 {
		s.PanicThreshold = DefaultPanicThreshold
	}
	if s.MaxInstances == 0 {
		s.MaxInstances = DefaultMaxInstances
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case s.Concurrency < 1:
		return errors.New("autoscale: concurrency must be at least 1")
	case s.TargetUtilization <= 0 || s.TargetUtilization > 1:
		return errors.New("autoscale: target utilisation must be in (0, 1]")
	case s.StableWindow < granularity || s.PanicWindow < granularity || s.PanicWindow > s.StableWindow:
		return errors.New("autoscale: windows must be at least 1 s and the panic window no longer than the stable one")
	case s.PanicThreshold < 1:
		return errors.New("autoscale: panic threshold must be at least 1")
	case s.MinInstances < 0 || s.ReservedInstances < 0 || s.IdleTimeout < 0:
		return errors.New("autoscale: instance counts and idle timeout must not be negative")
	case s.MaxInstances < max(s.MinInstances, s.ReservedInstances, 1):
		return fmt.Errorf("autoscale: max instances %d below min %d, reserved %d or 1", s.MaxInstances, s.MinInstances, s.ReservedInstances)
	}
	return nil
}

// New returns an autoscaler for the settings, defaulted and validated.
func New(s Settings) (*Autoscaler, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	a := &Autoscaler{s: s, keep: s.KeepAlive, idle: true}
	if a.keep == nil {
		a.keep = fixed(s.IdleTimeout)
	}
	a.buckets = make([]bucket, int(s.StableWindow/granularity))
	return a, nil
}

// Settings returns the settings in force, defaults filled in.
func (a *Autoscaler) Settings() Settings { return a.s }

// Observe records a sample. Samples come in time order.
func (a *Autoscaler) Observe(x Sample) {
	active := x.Concurrency > 0 || x.Requests > 0
	if active {
		if a.idle && !a.lastActive.IsZero() {
			a.keep.ObserveIdle(x.Time.Sub(a.lastActive))
		}
		a.idle = false
		a.lastActive = x.Time
	} else if !a.idle {
		// Activity ended: idle times count from here.
		a.idle = true
		a.lastActive = x.Time
	}
	if a.lastWrite.IsZero() || x.Time.Sub(a.lastWrite) > a.s.StableWindow {
		a.firstWrite = x.Time
	}
	a.lastWrite = x.Time
	at := second(x.Time)
	b := &a.buckets[a.slot(at)]
	if b.at != at {
		*b = bucket{at: at}
	}
	b.sum += x.Concurrency
	b.n++
	b.hadRequest = b.hadRequest || x.Requests > 0
}

// average returns the mean of the per-second averages over the window that
// ends at now, counting seconds without samples as 0, and over no more than
// the seconds since the first write of this run of samples.
func (a *Autoscaler) average(now time.Time, window time.Duration) float64 {
	if a.lastWrite.IsZero() || now.Sub(a.lastWrite) > window {
		return 0
	}
	end := second(now)
	n := int64(window / granularity)
	if since := end - second(a.firstWrite) + 1; since < n {
		n = max(since, 1)
	}
	var total float64
	for at := end - n + 1; at <= end; at++ {
		b := &a.buckets[a.slot(at)]
		if b.at == at && b.n > 0 {
			total += b.sum / float64(b.n)
		}
	}
	return total / float64(n)
}

// second returns t's bucket key: its Unix second, plus one so that the
// zero bucket is never a real one.
func second(t time.Time) int64 { return t.Unix() + 1 }

func (a *Autoscaler) slot(at int64) int {
	i := int(at % int64(len(a.buckets)))
	if i < 0 {
		i += len(a.buckets)
	}
	return i
}

// Floor returns the fewest instances the settings allow at any time.
func (a *Autoscaler) Floor() int { return max(a.s.MinInstances, a.s.ReservedInstances) }

// Scale decides the desired number of instances at now, given the ready
// instances and the requests queued with no free instance.
func (a *Autoscaler) Scale(now time.Time, ready, queued int) Decision {
	target := float64(a.s.Concurrency) * a.s.TargetUtilization
	stableAvg := a.average(now, a.s.StableWindow)
	panicAvg := a.average(now, a.s.PanicWindow)
	d := Decision{Time: now, StableAverage: stableAvg, PanicAverage: panicAvg, Ready: ready, TargetPerInstance: target}
	stableWant := ceil(stableAvg / target)
	panicWant := ceil(panicAvg / target)

	// Panic when the panic window wants PanicThreshold times what is
	// ready (one, at zero, as Knative counts it).
	if panicAvg/target >= a.s.PanicThreshold*float64(max(ready, 1)) && panicWant > ready {
		if !a.panicking {
			a.panicking, a.maxPanic = true, 0
		}
		a.panicSince = now
	} else if a.panicking && now.Sub(a.panicSince) >= a.s.StableWindow {
		a.panicking = false
	}

	want := stableWant
	d.Mode, d.Reason = Stable, "stable window"
	if a.panicking {
		// Up at once, never down while panicking.
		want = max(panicWant, stableWant, a.maxPanic, ready)
		a.maxPanic = want
		d.Mode, d.Reason = Panic, "panic window over threshold"
	}
	if want == 0 || (want == 1 && a.idle && !a.panicking) {
		// The last instance: the keep-alive policy says when it goes
		// (or, with a pre-warm window, that it goes now and comes back).
		want, d.Reason = a.restingCount(now, d.Reason)
	}
	if queued > 0 && want < 1 {
		want, d.Reason = 1, "request queued at zero"
	}
	if f := a.Floor(); want < f {
		want, d.Reason = f, fmt.Sprintf("floor (min %d, reserved %d)", a.s.MinInstances, a.s.ReservedInstances)
	}
	if want > a.s.MaxInstances {
		want, d.Reason = a.s.MaxInstances, "max instances"
	}
	d.Desired = want
	return d
}

// restingCount is the desired count when the load asks for none: the
// keep-alive policy keeps one instance from the pre-warm window's end to the
// keep-alive window's, counted from the end of activity.
func (a *Autoscaler) restingCount(now time.Time, reason string) (int, string) {
	if !a.idle {
		return 1, "load below one instance's target"
	}
	if a.lastActive.IsZero() {
		return 0, "never invoked"
	}
	prewarm, keep := a.keep.Windows()
	since := now.Sub(a.lastActive)
	switch {
	case since < prewarm:
		return 0, "idle, before the pre-warm window ends"
	case since < prewarm+keep:
		if prewarm > 0 {
			return 1, "pre-warmed, within the keep-alive window"
		}
		return 1, "idle, within the keep-alive window"
	}
	return 0, "idle past the keep-alive window"
}

// NextChange returns when a function at rest next changes its resting
// count (the end of its pre-warm or keep-alive window), or the zero time
// when nothing will change without new load. The simulator uses it to skip
// idle time.
func (a *Autoscaler) NextChange(now time.Time) time.Time {
	if !a.idle || a.lastActive.IsZero() {
		return time.Time{}
	}
	prewarm, keep := a.keep.Windows()
	for _, t := range []time.Time{a.lastActive.Add(prewarm), a.lastActive.Add(prewarm + keep), a.lastWrite.Add(a.s.StableWindow + granularity)} {
		if t.After(now) {
			return t
		}
	}
	return time.Time{}
}

func ceil(x float64) int {
	if x <= 0 {
		return 0
	}
	// A hair of slack so that 1.4/0.7 is 2, not 3.
	return int(math.Ceil(x - 1e-9))
}
