package identity

import (
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/ratelimit"
)

// limiter answers whether one more attempt for key is allowed now, and if
// not, how long to wait.
type limiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// unlimited allows everything.
type unlimited struct{}

func (unlimited) Allow(string) (bool, time.Duration) { return true, 0 }

// newLimiter returns a limiter of perMinute attempts per key with a burst of
// the same size; perMinute < 0 disables it.
func newLimiter(c clock.Clock, perMinute int) limiter {
	if perMinute < 0 {
		return unlimited{}
	}
	return ratelimit.New(ratelimit.Options{Clock: c, PerMinute: perMinute, Burst: perMinute})
}
