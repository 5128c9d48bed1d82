// Package ratelimit limits how often something may happen per key, such as
// login attempts per client IP or per account.
//
// Each key has a token bucket of Burst tokens refilled at PerMinute tokens a
// minute, implemented as the generic cell rate algorithm: a key's whole state
// is one theoretical arrival time, so the answers are exact integer
// arithmetic on the injected clock. Memory is bounded: a key whose bucket is
// full again is forgotten (it is indistinguishable from a new key), and at
// most MaxKeys keys are kept.
package ratelimit

import (
	"sync"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
)

// DefaultMaxKeys is the number of keys a Limiter remembers when
// Options.MaxKeys is not set.
const DefaultMaxKeys = 100_000

// Options configures a Limiter.
type Options struct {
	// Clock tells the time; nil means the wall clock.
	Clock clock.Clock
	// PerMinute is the sustained number of events allowed per key and
	// minute; zero or less means unlimited.
	PerMinute int
	// Burst is how many events a key may have at once after being idle;
	// zero or less means PerMinute.
	Burst int
	// MaxKeys bounds the number of keys remembered; zero or less means
	// DefaultMaxKeys. When more keys than that are active at once, the
	// least recently used one is forgotten, which resets its limit: memory
	// stays bounded at the price of letting a flood of distinct keys
	// refresh one key's allowance.
	MaxKeys int
}

// Limiter is a keyed token-bucket rate limiter. It is safe for concurrent
// use. It starts no goroutines: expired keys are dropped as Allow runs.
type Limiter struct {
	clock     clock.Clock
	base      time.Time     // the zero of the tat values
	interval  time.Duration // time to earn one token
	burstSpan time.Duration // interval * burst: time to refill an empty bucket
	maxKeys   int
	unlimited bool

	mu   sync.Mutex
	keys map[string]*entry
	// lru is the sentinel of a circular doubly linked list of the entries,
	// most recently used first.
	lru entry
}

// entry is one key's bucket: under GCRA, the bucket is full when tat is not
// after now, and holds (burstSpan - (tat - now)) / interval tokens otherwise.
type entry struct {
	key        string
	tat        time.Duration // theoretical arrival time, since Limiter.base
	prev, next *entry
}

// New returns a Limiter configured by opts.
func New(opts Options) *Limiter {
	c := opts.Clock
	if c == nil {
		c = clock.Real{}
	}
	l := &Limiter{clock: c, base: c.Now(), maxKeys: opts.MaxKeys}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if opts.PerMinute <= 0 {
		l.unlimited = true
		return l
	}
	burst := opts.Burst
	if burst <= 0 {
		burst = opts.PerMinute
	}
	l.interval = time.Minute / time.Duration(opts.PerMinute)
	if l.interval <= 0 {
		l.interval = 1 // more than one event a nanosecond: as good as unlimited
	}
	l.burstSpan = l.interval * time.Duration(burst)
	l.keys = make(map[string]*entry)
	l.lru.prev, l.lru.next = &l.lru, &l.lru
	return l
}

// Allow takes one token from key's bucket. It reports whether the event is
// allowed and, if not, how long until it would be.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l.unlimited {
		return true, 0
	}
	now := l.clock.Now().Sub(l.base)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropIdle(now)
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			e = l.lru.prev // reuse the forgotten key's entry
			l.remove(e)
			*e = entry{key: key, tat: now}
		} else {
			e = &entry{key: key, tat: now}
		}
		l.keys[key] = e
		l.pushFront(e)
	} else {
		l.moveToFront(e)
	}
	tat := max(e.tat, now) + l.interval
	if over := tat - now - l.burstSpan; over > 0 {
		return false, over
	}
	e.tat = tat
	return true, 0
}

// Len returns the number of keys the Limiter remembers now.
func (l *Limiter) Len() int {
	if l.unlimited {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// dropIdle forgets the least recently used keys whose buckets are full again.
// It stops at the first key that is not, so its cost is amortised O(1). A key
// unused for burstSpan is always full and older than every key used since,
// so after each call no key unused for burstSpan or longer remains.
func (l *Limiter) dropIdle(now time.Duration) {
	for e := l.lru.prev; e != &l.lru && e.tat <= now; e = l.lru.prev {
		l.remove(e)
	}
}

func (l *Limiter) remove(e *entry) {
	delete(l.keys, e.key)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (l *Limiter) pushFront(e *entry) {
	e.prev, e.next = &l.lru, l.lru.next
	l.lru.next.prev = e
	l.lru.next = e
}

func (l *Limiter) moveToFront(e *entry) {
	if l.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	l.pushFront(e)
}
