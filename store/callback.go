package store

import (
	"context"
	"time"

	"github.com/atelier-dev/atelier"
)

// CallbackStore keeps the transactional outbox of events, apps' callback
// subscriptions and the deliveries of events to them.
//
// The store appends no event by itself: the domain packages decide which
// change emits which event, build it with their clock and append it with
// AppendEvent inside the InTx that makes the change (identity for users and
// organizations, training for job versions; see docs/events.md).
type CallbackStore interface {
	// AppendEvent writes e to the outbox and sets e.ID; e.CreatedAt, the
	// caller's time (the store reads no clock), is replaced by its stored
	// form. Inside InTx it runs in that transaction: the event commits
	// with the changes made there or not at all, its id follows the
	// transaction's earlier appends, and EventSignal fires only after the
	// outermost commit. Outside InTx it commits on its own.
	AppendEvent(ctx context.Context, e *atelier.Event) error
	// EventSignal returns a channel that receives, coalesced and without
	// ever blocking a writer, after a transaction of this process that
	// appended events committed. Other processes' events are found by
	// polling.
	EventSignal() <-chan struct{}
	// FanOut takes up to limit outbox events that were not fanned out yet,
	// oldest first, and in one transaction inserts one PENDING delivery,
	// due at now, for every subscription of the event's tenant that lists
	// its type (enabled or not; a delivery's ID and Nonce come from
	// newID), and marks them fanned out. Concurrent callers (several
	// server processes on PostgreSQL) take disjoint events. It returns how
	// many events it took.
	FanOut(ctx context.Context, now time.Time, limit int, newID func() (id, nonce string)) (int, error)
	// ClaimDeliveries leases up to c.Limit due deliveries to the caller.
	// See Claim for which are due and the limits that apply.
	ClaimDeliveries(ctx context.Context, c Claim) ([]*ClaimedDelivery, error)
	// FinishAttempt records attempt a of a claimed delivery (a.N is the
	// delivery's Attempts after the claim) and moves the delivery to
	// outcome's state, in one transaction, only while the claim still
	// holds (state IN_FLIGHT with this lease token): ErrNotFound when the
	// lease was lost to another dispatcher or the subscription was
	// deleted.
	FinishAttempt(ctx context.Context, deliveryID, leaseToken string, a *atelier.DeliveryAttempt, o Outcome) error
	// GetDelivery returns one of the app's deliveries; ErrNotFound.
	GetDelivery(ctx context.Context, clientID, id string) (*atelier.Delivery, error)
	// GetEvent returns an outbox event; ErrNotFound once pruned.
	GetEvent(ctx context.Context, id int64) (*atelier.Event, error)
	// ListDeliveries returns the app's deliveries, newest event first.
	ListDeliveries(ctx context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, error)
	// ListAttempts returns a delivery's attempts, oldest first.
	ListAttempts(ctx context.Context, deliveryID string) ([]*atelier.DeliveryAttempt, error)
	// Redeliver moves the app's DEAD deliveries back to PENDING, due at
	// now, with Attempts reset to 0: the one with deliveryID when it is
	// not "" (ErrNotFound when it does not exist; a delivery that is not
	// DEAD is left alone and counts 0), else every one whose event was
	// committed in [since, until) (zero times: no bound). It returns how
	// many it moved.
	Redeliver(ctx context.Context, clientID, deliveryID string, since, until, now time.Time) (int, error)
	// CallbackCounts returns how many deliveries are in each state (every
	// state key present) and how many outbox events await fan-out.
	CallbackCounts(ctx context.Context) (byState map[string]int64, backlog int64, err error)
	// PruneCallbacks deletes DELIVERED deliveries (with their attempts)
	// delivered before before, and then outbox events created before
	// before that are fanned out and have no delivery left. It returns how
	// many deliveries and events it deleted.
	PruneCallbacks(ctx context.Context, before time.Time) (deliveries, events int, err error)

	// PutSubscription inserts or replaces the app's subscription.
	PutSubscription(ctx context.Context, s *atelier.Subscription) error
	// GetSubscription returns ErrNotFound when the app has none.
	GetSubscription(ctx context.Context, clientID string) (*atelier.Subscription, error)
	// UpdateSubscription reads, calls fn and writes back in one
	// transaction; ErrNotFound.
	UpdateSubscription(ctx context.Context, clientID string, fn func(s *atelier.Subscription) error) (*atelier.Subscription, error)
	// DeleteSubscription deletes the subscription with its PENDING and
	// IN_FLIGHT deliveries (others stay listed); ErrNotFound.
	DeleteSubscription(ctx context.Context, clientID string) error
}

// Claim says which deliveries ClaimDeliveries may lease. A delivery is due
// when it is PENDING with NextAttemptAt <= Now, or IN_FLIGHT with a lease
// that ended (its dispatcher died), and its subscription is enabled and
// ordered deliveries have no earlier (smaller event id) PENDING or
// IN_FLIGHT delivery of the same subject for the same app. Claimed
// deliveries become IN_FLIGHT until LeaseUntil with a fresh lease token,
// and their Attempts grow by one. Oldest event first.
type Claim struct {
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
	// MaxPerApp caps an app's deliveries IN_FLIGHT under a live lease,
	// across every dispatcher (claims of one app are serialized); 0 means
	// no cap.
	MaxPerApp int
	// SkipApps are client ids whose deliveries are not claimed (apps whose
	// receiver is down, paused by the dispatcher's breaker).
	SkipApps []string
	// ProbeApps are client ids of which at most one delivery may be
	// IN_FLIGHT under a live lease (apps whose receiver was down, probed
	// by the dispatcher's breaker), whatever MaxPerApp.
	ProbeApps []string
}

// ClaimedDelivery is a leased delivery with what sending it needs.
type ClaimedDelivery struct {
	Delivery     *atelier.Delivery
	Event        *atelier.Event
	Subscription *atelier.Subscription
	LeaseToken   string
}

// Outcome is where FinishAttempt moves a delivery.
type Outcome struct {
	State         string    // DELIVERED, PENDING (retry) or DEAD
	NextAttemptAt time.Time // when PENDING
	Now           time.Time
}
