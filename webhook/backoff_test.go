package webhook

import (
	"testing"
	"time"
)

// TestBackoff checks the retry delay of every attempt count a setting may
// ask for: base·2^(n-1) capped at the maximum, of which a random half, and
// never an overflow however many attempts (it once panicked from attempt
// 35 on with a base of 1 s).
func TestBackoff(t *testing.T) {
	for _, tc := range []struct{ base, max time.Duration }{
		{time.Second, 10 * time.Minute},
		{time.Second, time.Duration(1<<63 - 1)},
		{time.Millisecond, time.Second},
		{time.Minute, time.Second}, // a base above the maximum waits the maximum
	} {
		s := &Service{o: Options{BackoffBase: tc.base, BackoffMax: tc.max}}
		for n := 0; n <= 200; n++ {
			want := tc.max
			if k := max(n-1, 0); k < 62 && tc.base < tc.max>>k {
				want = tc.base << k
			}
			want = min(want, tc.max)
			for range 5 {
				if got := s.backoff(n); got < want/2 || got > want {
					t.Fatalf("base %s, max %s: backoff(%d) = %s, want within [%s, %s]", tc.base, tc.max, n, got, want/2, want)
				}
			}
		}
	}
}
