package store

import (
	"context"
	"encoding/json"
	"time"
)

// States of a queue item. Available, scheduled and retryable items are due
// once their ScheduledAt has come; running ones are leased to a worker;
// completed, cancelled and discarded ones are final (Finalized).
const (
	QueueAvailable = "available" // inserted due now, or released by a stopping worker
	QueueScheduled = "scheduled" // inserted for later, or snoozed
	QueueRunning   = "running"   // leased to a worker until LeaseUntil
	QueueRetryable = "retryable" // failed; due again at ScheduledAt
	QueueCompleted = "completed" // its worker succeeded
	QueueCancelled = "cancelled" // its worker gave up on it for good
	QueueDiscarded = "discarded" // dead: it failed MaxAttempts times
)

// QueueStates lists every state, the unfinished ones first.
var QueueStates = []string{QueueAvailable, QueueScheduled, QueueRunning, QueueRetryable,
	QueueCompleted, QueueCancelled, QueueDiscarded}

// MaxQueueErrors is how many error messages a queue item keeps: the last
// ones.
const MaxQueueErrors = 10

// QueueItem is a unit of background work in the store's durable queue.
type QueueItem struct {
	ID          int64
	Kind        string          // which worker runs it
	Args        json.RawMessage // the worker's input, a JSON value
	Queue       string
	Priority    int // smaller runs first
	State       string
	Attempt     int // attempts so far, the running one included
	MaxAttempts int
	Errors      []QueueError // the last MaxQueueErrors failures, oldest first
	// UniqueKey, when not "", is unique among unfinished items.
	UniqueKey   string
	CreatedAt   time.Time
	ScheduledAt time.Time // when it is due
	AttemptedAt time.Time // when its last attempt started; zero before
	LeaseOwner  string    // who runs it, while running
	LeaseUntil  time.Time // when a running item's lease ends
	FinalizedAt time.Time // when it reached a final state; zero before
}

// Lease identifies one claim of a running item: an item claimed again after
// its lease expired has a new Attempt, so that the previous worker's
// outcome no longer applies.
func (it *QueueItem) Lease() QueueLease {
	return QueueLease{ID: it.ID, Owner: it.LeaseOwner, Attempt: it.Attempt}
}

// Finalized reports whether the item is in a final state.
func (it *QueueItem) Finalized() bool {
	return it.State == QueueCompleted || it.State == QueueCancelled || it.State == QueueDiscarded
}

// QueueError is one failed attempt of a queue item.
type QueueError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// QueueLease names a claimed item as its worker holds it.
type QueueLease struct {
	ID      int64
	Owner   string
	Attempt int
}

// QueueClaim says which items ClaimQueueItems leases.
type QueueClaim struct {
	Kinds      []string // only these kinds; none claims nothing
	Queues     []string // from these queues, in this order; none claims nothing
	Owner      string   // the claimer, recorded as LeaseOwner
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
}

// QueueOutcome says where FinishQueueItem moves a running item.
type QueueOutcome struct {
	// State is one of:
	//   - QueueCompleted: done; final.
	//   - QueueRetryable: failed with Error; due again at At.
	//   - QueueDiscarded: failed with Error for the last time; final.
	//   - QueueCancelled: given up with Error; final.
	//   - QueueScheduled: snoozed until At; the attempt does not count.
	//   - QueueAvailable: released (its worker stopped); due at Now and
	//     the attempt does not count.
	State string
	At    time.Time
	Error string
	Now   time.Time
}

// QueueFilter selects items for ListQueueItems, by id ascending after
// AfterID; zero fields do not filter.
type QueueFilter struct {
	Kind    string
	State   string
	AfterID int64
	Limit   int // default 100, at most 1000
}

// QueueStore is the durable queue (river's pattern): items are inserted in
// the same transaction as the change that asks for them (InTx), leased by
// claims, and finished by the worker that holds the lease.
//
// A running item whose lease ended (its worker's process died, or stopped
// renewing) is due again: a claim takes it back with its Attempt counted,
// or discards it when that was its last attempt. So an item runs at most
// once more per lease that expired, and at most MaxAttempts times in all;
// a worker that outlives its lease learns it from ExtendQueueLease or
// FinishQueueItem (ErrNotFound). Times come from the caller's clock.
type QueueStore interface {
	// InsertQueueItem inserts it and sets its ID, State (QueueAvailable,
	// or QueueScheduled when ScheduledAt is after CreatedAt; a zero
	// ScheduledAt is CreatedAt), Attempt (0) and Errors, and reports true.
	// When it.UniqueKey is not "" and an unfinished item has that key, it
	// inserts nothing, sets *it to that item and reports false.
	InsertQueueItem(ctx context.Context, it *QueueItem) (inserted bool, err error)
	// QueueSignal returns a channel that receives, coalesced and without
	// ever blocking a writer, after a transaction of this process that
	// inserted or released queue items committed, so that one waiting
	// claimer wakes at once. Other processes' items are found by polling.
	QueueSignal() <-chan struct{}
	// ClaimQueueItems leases up to c.Limit due items of c.Kinds in
	// c.Queues: first running ones whose lease ended before c.Now
	// (discarding those that had no attempt left), then available,
	// scheduled and retryable ones with ScheduledAt <= c.Now, queue after
	// queue in c.Queues' order, each by (Priority, ScheduledAt, ID). Claimed items become running, leased to
	// c.Owner until c.LeaseUntil, with Attempt one more and AttemptedAt
	// c.Now. Concurrent claimers take disjoint items (FOR UPDATE SKIP
	// LOCKED on PostgreSQL; SQLite's single writer). Items come back in
	// claim order.
	ClaimQueueItems(ctx context.Context, c QueueClaim) ([]*QueueItem, error)
	// EndQueueLeases ends every running item's lease at now, so that
	// claims take them again at once. Only a server that knows no other
	// process claims (SQLite's locked data directory) calls it, at start:
	// the leases it finds are a dead process's. It returns how many it
	// ended.
	EndQueueLeases(ctx context.Context, now time.Time) (int, error)
	// ExtendQueueLease moves a running item's lease end to until while l
	// still holds it; ErrNotFound when it does not.
	ExtendQueueLease(ctx context.Context, l QueueLease, until time.Time) error
	// FinishQueueItem moves the item that l holds to o's state in one
	// transaction (appending o.Error to its errors when set) and returns
	// it; ErrNotFound when l no longer holds it.
	FinishQueueItem(ctx context.Context, l QueueLease, o QueueOutcome) (*QueueItem, error)
	// GetQueueItem returns ErrNotFound for an unknown id.
	GetQueueItem(ctx context.Context, id int64) (*QueueItem, error)
	// GetQueueItemByKey returns the unfinished item that holds the unique
	// key; ErrNotFound when none does.
	GetQueueItemByKey(ctx context.Context, uniqueKey string) (*QueueItem, error)
	// ListQueueItems lists items by id.
	ListQueueItems(ctx context.Context, f QueueFilter) ([]*QueueItem, error)
	// QueueCounts returns how many unfinished items each kind has in each
	// unfinished state (available, scheduled, running, retryable).
	QueueCounts(ctx context.Context) (map[string]map[string]int64, error)
	// PruneQueueItems deletes up to limit items in the final state state
	// that were finalized before before, and returns how many.
	PruneQueueItems(ctx context.Context, state string, before time.Time, limit int) (int, error)
}
