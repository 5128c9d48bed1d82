// Package gc is the one garbage collector of the metadata store: it deletes
// expired tokens and one-time-code challenges, delivered event callbacks
// (with their outbox events) and finished queue items once their retention
// period passed.
//
// It is a package of its own, not a part of identity, webhook or queue,
// because what it deletes belongs to all of them and it needs nothing of
// theirs but the store: one loop, one interval, one set of retention
// settings, run on one server of many (its Run is a leader.Loop).
//
// What needs more than the store — abandoned uploads and the blobs queued
// for deletion, which the object backend must delete — comes in as a
// Sweeper of the package that owns it (obs.Service.Sweep), run in the same
// pass, so that there is still one collector and one leader loop.
package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options.
const (
	DefaultEvery              = 10 * time.Minute
	DefaultCallbackRetention  = 7 * 24 * time.Hour
	DefaultQueueRetention     = 24 * time.Hour
	DefaultQueueDeadRetention = 7 * 24 * time.Hour
	// DefaultBatch is how many queue items one delete removes; a pass
	// deletes batch after batch until none is left.
	DefaultBatch = 1000
)

// Options configure a Collector. Zero fields take the defaults.
type Options struct {
	Store  store.Store // required
	Clock  clock.Clock // default clock.Real
	Logger *slog.Logger
	// Every is the period of Run's passes (default 10 min).
	Every time.Duration
	// CallbackRetention keeps delivered callback deliveries and their
	// events (default 7 days); dead ones stay until redelivered or their
	// app is deleted.
	CallbackRetention time.Duration
	// QueueRetention keeps completed and cancelled queue items (default
	// 24 h); QueueDeadRetention, discarded ones (default 7 days).
	QueueRetention     time.Duration
	QueueDeadRetention time.Duration
	// Batch bounds one delete of queue items (default 1000).
	Batch int
	// Sweepers run at the end of every pass, each on its own (a failure
	// of one does not keep the others from running).
	Sweepers []Sweeper
}

// Sweeper is garbage collection another package does itself, because it
// needs more than the store.
type Sweeper struct {
	Name  string // for the log, e.g. "stale uploads"
	Sweep func(ctx context.Context) error
}

// Result counts what one pass deleted.
type Result struct {
	Tokens, Challenges     int
	Deliveries, Events     int
	QueueItems, DeadQueued int
}

// Collector deletes what the store no longer needs. It is safe for
// concurrent use.
type Collector struct {
	o Options
	// onPass, when set (tests), runs after each pass of Run.
	onPass func(Result, error)
}

// New returns a Collector; it deletes nothing before Run or Collect.
func New(o Options) (*Collector, error) {
	if o.Store == nil {
		return nil, errors.New("gc: Store is required")
	}
	o.Clock = cmp.Or[clock.Clock](o.Clock, clock.Real{})
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Every = cmp.Or(max(o.Every, 0), DefaultEvery)
	o.CallbackRetention = cmp.Or(max(o.CallbackRetention, 0), DefaultCallbackRetention)
	o.QueueRetention = cmp.Or(max(o.QueueRetention, 0), DefaultQueueRetention)
	o.QueueDeadRetention = cmp.Or(max(o.QueueDeadRetention, 0), DefaultQueueDeadRetention)
	o.Batch = cmp.Or(max(o.Batch, 0), DefaultBatch)
	return &Collector{o: o}, nil
}

// Run collects at once and then every Every until ctx ends. It is meant to
// run on the leader only (leader.Elector.Register), but running it on
// several servers at once is harmless.
func (c *Collector) Run(ctx context.Context) {
	tick, stop := c.o.Clock.NewTicker(c.o.Every)
	defer stop()
	for {
		r, err := c.Collect(ctx)
		if err != nil && ctx.Err() == nil {
			c.o.Logger.WarnContext(ctx, "gc: pass failed; the next one tries again", "err", err)
		}
		if c.onPass != nil {
			c.onPass(r, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// Collect runs one pass over everything and returns what it deleted. A
// failure of one part does not keep the others from running; the error
// joins every failure.
func (c *Collector) Collect(ctx context.Context) (Result, error) {
	now := c.o.Clock.Now().UTC()
	var r Result
	var errs []error
	fail := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: %s: %w", what, err))
		}
	}
	var err error
	r.Tokens, err = c.o.Store.DeleteExpiredTokens(ctx, now)
	fail("expired tokens", err)
	r.Challenges, err = c.o.Store.DeleteExpiredChallenges(ctx, now)
	fail("expired challenges", err)
	r.Deliveries, r.Events, err = c.o.Store.PruneCallbacks(ctx, now.Add(-c.o.CallbackRetention))
	fail("delivered callbacks", err)
	for _, p := range []struct {
		state string
		keep  time.Duration
		n     *int
	}{
		{store.QueueCompleted, c.o.QueueRetention, &r.QueueItems},
		{store.QueueCancelled, c.o.QueueRetention, &r.QueueItems},
		{store.QueueDiscarded, c.o.QueueDeadRetention, &r.DeadQueued},
	} {
		n, err := c.pruneQueue(ctx, p.state, now.Add(-p.keep))
		*p.n += n
		fail(p.state+" queue items", err)
	}
	for _, sw := range c.o.Sweepers {
		fail(sw.Name, sw.Sweep(ctx))
	}
	if r != (Result{}) {
		c.o.Logger.InfoContext(ctx, "gc: deleted", "tokens", r.Tokens, "challenges", r.Challenges,
			"deliveries", r.Deliveries, "events", r.Events, "queue_items", r.QueueItems, "dead_queue_items", r.DeadQueued)
	}
	return r, errors.Join(errs...)
}

// pruneQueue deletes the queue items finished in state before before, a
// batch at a time so that no transaction grows large.
func (c *Collector) pruneQueue(ctx context.Context, state string, before time.Time) (int, error) {
	total := 0
	for {
		n, err := c.o.Store.PruneQueueItems(ctx, state, before, c.o.Batch)
		total += n
		if err != nil || n < c.o.Batch {
			return total, err
		}
	}
}
