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
// of the app's deliveries for a pause that grows with each one, then lets
// a single delivery through as a probe ("half open"): its success resumes
// the app, its failure pauses it again at once. During an outage the
// queued deliveries are therefore neither sent nor charged attempts, but
// for one probe per pause, and a receiver coming back is not met by a
// storm of retries. Each dispatcher process keeps its own breaker. It is
// safe for concurrent use.
type breaker struct {
	mu   sync.Mutex
	apps map[string]*health
}

// health is one failing app's record.
type health struct {
	failures int       // failed attempts in a row since the app was last resumed
	pauses   int       // pauses in a row
	until    time.Time // no claims before this; a probe after it
}

func newBreaker() *breaker { return &breaker{apps: map[string]*health{}} }

// record notes an attempt's outcome for app at now and reports whether it
// paused the app for the first time since it last succeeded; pause gives
// the length of the n-th pause in a row.
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
	if now.Before(h.until) { // an attempt claimed before the pause
		return false
	}
	h.failures++
	if h.pauses == 0 && h.failures < breakerThreshold {
		return false
	}
	h.pauses++
	h.until = now.Add(pause(h.pauses))
	return h.pauses == 1
}

// state returns the apps paused at now, whose deliveries are not to be
// claimed, and those probing, of which one delivery at a time may be.
func (b *breaker) state(now time.Time) (paused, probing []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for app, h := range b.apps {
		switch {
		case now.Before(h.until):
			paused = append(paused, app)
		case h.pauses > 0:
			probing = append(probing, app)
		}
	}
	return paused, probing
}
