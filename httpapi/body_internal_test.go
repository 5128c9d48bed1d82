package httpapi

import (
	"testing"
	"time"
)

// TestBodyDeadlineGrowsWithTheBody checks the deadline rule: the grace, plus
// the time the bytes read so far take at the minimum rate.
func TestBodyDeadlineGrowsWithTheBody(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		n    int64
		want time.Duration
	}{
		{0, 10 * time.Second},
		{1024, 10*time.Second + 125*time.Millisecond},
		{8 << 10, 11 * time.Second},
		{5 << 30, 10*time.Second + (5<<30)/(8<<10)*time.Second},
	}
	for _, tt := range tests {
		if got := bodyDeadline(start, 10*time.Second, 8<<10, tt.n); !got.Equal(start.Add(tt.want)) {
			t.Errorf("deadline after %d bytes = +%s, want +%s", tt.n, got.Sub(start), tt.want)
		}
	}
}
