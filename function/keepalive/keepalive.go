// Package keepalive holds the keep-alive policies of a function at rest:
// how long after its last request ends it should have no instance (the
// pre-warm window) and then one (the keep-alive window). Both satisfy
// autoscale.KeepAlive.
//
// Fixed is a fixed idle_timeout. Hybrid is the hybrid histogram policy of
// Shahrad et al., "Serverless in the Wild" (USENIX ATC '20), §4.2, as
// docs/functions.md describes, with the ARIMA branch for idle times beyond
// the histogram's range simplified to a fixed fallback.
//
// The policies are pure and not safe for concurrent use.
package keepalive

import (
	"math"
	"time"
)

// Fixed keeps the last instance for a fixed time after the last request,
// with no pre-warm.
type Fixed time.Duration

// ObserveIdle does nothing: a fixed policy learns nothing.
func (Fixed) ObserveIdle(time.Duration) {}

// Windows returns no pre-warm and the fixed keep-alive.
func (f Fixed) Windows() (prewarm, keepAlive time.Duration) { return 0, time.Duration(f) }

// HybridConfig are the parameters of the hybrid policy; zero values take
// the paper's.
type HybridConfig struct {
	Bin   time.Duration // histogram bin width; 1 minute
	Range time.Duration // histogram range; 4 hours
	// MinSamples is how many idle times the histogram needs before it is
	// trusted; 10. (The paper does not give a number.)
	MinSamples int
	// CVThreshold: the histogram is representative when the coefficient
	// of variation of its bin counts is at least this; 2.
	CVThreshold float64
	// Head and Tail are the percentiles of the pre-warm and keep-alive
	// windows; 5 and 99.
	Head, Tail float64
	// Margin is taken off the head and added to the tail; 0.1 (10%).
	Margin float64
	// OutOfBounds is the share of idle times beyond Range over which the
	// histogram is not used (the paper turns to ARIMA there); 0.5.
	OutOfBounds float64
	// Fallback is the keep-alive, with no pre-warm, used while the
	// histogram is not representative; Range, as in the paper.
	Fallback time.Duration
}

func (c *HybridConfig) defaults() {
	if c.Bin <= 0 {
		c.Bin = time.Minute
	}
	if c.Range <= 0 {
		c.Range = 4 * time.Hour
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 10
	}
	if c.CVThreshold <= 0 {
		c.CVThreshold = 2
	}
	if c.Head <= 0 {
		c.Head = 5
	}
	if c.Tail <= 0 {
		c.Tail = 99
	}
	if c.Margin <= 0 {
		c.Margin = 0.1
	}
	if c.OutOfBounds <= 0 {
		c.OutOfBounds = 0.5
	}
	if c.Fallback <= 0 {
		c.Fallback = c.Range
	}
}

// Hybrid is the hybrid histogram policy for one function (the paper keeps
// one per application).
type Hybrid struct {
	c      HybridConfig
	bins   []int
	inside int // idle times within the range
	out    int // idle times beyond it

	// The windows, recomputed on each observation.
	prewarm, keep time.Duration
	mode          string
}

// NewHybrid returns a hybrid policy with no history: it starts on the
// fallback.
func NewHybrid(c HybridConfig) *Hybrid {
	c.defaults()
	h := &Hybrid{c: c, bins: make([]int, int(c.Range/c.Bin))}
	h.recompute()
	return h
}

// ObserveIdle adds an idle time to the histogram.
func (h *Hybrid) ObserveIdle(d time.Duration) {
	if d < 0 {
		return
	}
	if i := int(d / h.c.Bin); i < len(h.bins) {
		h.bins[i]++
		h.inside++
	} else {
		h.out++
	}
	h.recompute()
}

// Windows returns the current pre-warm and keep-alive windows.
func (h *Hybrid) Windows() (prewarm, keepAlive time.Duration) { return h.prewarm, h.keep }

// Mode says which branch of the policy is in force: "histogram",
// "too few samples", "not representative" or "out of bounds".
func (h *Hybrid) Mode() string { return h.mode }

func (h *Hybrid) recompute() {
	total := h.inside + h.out
	switch {
	case total < h.c.MinSamples:
		h.fallback("too few samples")
		return
	case float64(h.out) > h.c.OutOfBounds*float64(total):
		h.fallback("out of bounds")
		return
	case h.cv() < h.c.CVThreshold:
		h.fallback("not representative")
		return
	}
	head := float64(h.percentileBin(h.c.Head)) * float64(h.c.Bin)   // the head bin's lower edge
	tail := float64(h.percentileBin(h.c.Tail)+1) * float64(h.c.Bin) // the tail bin's upper edge
	h.prewarm = time.Duration(head * (1 - h.c.Margin)).Truncate(time.Second)
	end := time.Duration(math.Ceil(tail*(1+h.c.Margin)/float64(time.Second)-1e-9)) * time.Second
	h.keep = end - h.prewarm
	h.mode = "histogram"
}

func (h *Hybrid) fallback(mode string) {
	h.prewarm, h.keep, h.mode = 0, h.c.Fallback, mode
}

// cv is the coefficient of variation of the bin counts.
func (h *Hybrid) cv() float64 {
	n := float64(len(h.bins))
	mean := float64(h.inside) / n
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, b := range h.bins {
		d := float64(b) - mean
		ss += d * d
	}
	return math.Sqrt(ss/n) / mean
}

// percentileBin returns the bin that holds the p-th percentile of the idle
// times within the range.
func (h *Hybrid) percentileBin(p float64) int {
	want := int(math.Ceil(p / 100 * float64(h.inside)))
	want = max(want, 1)
	seen := 0
	for i, b := range h.bins {
		seen += b
		if seen >= want {
			return i
		}
	}
	return len(h.bins) - 1
}
