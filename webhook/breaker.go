package webhook

import (
	"sync"
	"time"
)

// breakerThreshold is how many attempts in a row must fail before an app
// is paused.
const breakerThreshold = 5

// breaker pauses the apps whose receivers keep failing: after
// breakerThreshold failed attempts in a row, this dispatcher claims none
// of the app's deliveries for a backoff that grows with each pause, then
// lets a few through as probes; one success closes it. During an outage
// the queued deliveries are therefore neither sent nor charged attempts,
// and a receiver coming back is not met by a storm of retries. Each
// dispatcher process keeps its own breaker. It is safe for concurrent use.
type breaker struct {
	mu   sync.Mutex
	apps map[string]*health
}

// health is one failing app's record.
type health struct {
	failures int       // failed attempts in a row since the last pause
	pauses   int       // pauses in a row
	until    time.Time // no claims before this
}

func newBreaker() *breaker { return &breaker{apps: map[string]*health{}} }

// record notes an attempt's outcome for app at now and reports whether it
// paused the app; pause gives the length of the n-th pause in a row.
func (b *breaker) record(app string, ok bool, now time.Time, pause func(n int) time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		delete(b.apps, app)
		return false
	}
	h := b.apps[app]
	if h == nil {
		h = &health{}
		b.apps[app] = h
	}
	h.failures++
	if h.failures < breakerThreshold || now.Before(h.until) {
		return false
	}
	h.failures = 0
	h.pauses++
	h.until = now.Add(pause(h.pauses))
	return true
}

// paused returns the apps paused at now.
func (b *breaker) paused(now time.Time) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for app, h := range b.apps {
		if now.Before(h.until) {
			out = append(out, app)
		}
	}
	return out
}
