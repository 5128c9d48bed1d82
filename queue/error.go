package queue

import (
	"fmt"
	"time"
)

// SnoozeError is what Snooze returns.
type SnoozeError struct{ Duration time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("queue: snoozed for %v", e.Duration) }

// Snooze is what a worker returns to run its item again after d, without
// counting the attempt: the work is not failing, only not ready (river's
// JobSnooze).
func Snooze(d time.Duration) error { return &SnoozeError{Duration: max(d, 0)} }

// CancelError is what Cancel returns; it wraps the reason.
type CancelError struct{ Err error }

func (e *CancelError) Error() string {
	if e.Err == nil {
		return "queue: cancelled"
	}
	return "queue: cancelled: " + e.Err.Error()
}

func (e *CancelError) Unwrap() error { return e.Err }

// Cancel is what a worker returns to end its item for good, with err as
// the reason it records: retrying cannot help (river's JobCancel).
func Cancel(err error) error { return &CancelError{Err: err} }
