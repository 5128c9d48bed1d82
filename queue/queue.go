// Package queue runs background work durably on the store's queue
// (store.QueueStore), after riverqueue/river: a change and the work it asks
// for commit together (Insert inside store.InTx), workers of each kind run
// what they claim with bounded concurrency, and what a stopped or killed
// server was running runs again on the next one.
//
// A Client claims items of the kinds registered on it, runs each in its
// own goroutine under a lease that it renews while the worker runs, and
// records the outcome: completed on nil; Snooze(d) puts the item back for d
// without counting the attempt; Cancel(err) ends it for good; any other
// error (a panic included) retries it after an exponential backoff with
// jitter, until MaxAttempts, when it is discarded (dead). Stop cancels the
// workers' context; an item whose worker returns while the client stops is
// released, due at once and with its attempt not counted.
//
// Guarantees: an item runs at least once while some client of its kind
// runs. It runs more than once only after a failure, or when its lease
// ended before its worker finished (its server died, or could not renew):
// at most once more per lease that expired, and MaxAttempts times in all.
// Workers must therefore be idempotent. See docs/queue.md.
//
// The package knows no SQL or HTTP: it gets a store.Store.
package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/startstop"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options and InsertOpts.
const (
	DefaultQueue       = "default"
	DefaultMaxWorkers  = 8
	DefaultMaxAttempts = 10
	DefaultLeaseTTL    = 2 * time.Minute
	DefaultPoll        = time.Second
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = time.Hour
	// maxErrorLen bounds the error message stored per failed attempt.
	maxErrorLen = 2000
	// finishTimeout bounds recording an outcome, which runs on a context
	// of its own so that a stopping client still records it.
	finishTimeout = 10 * time.Second
)

// Worker runs the items of one kind. Work gets a context that ends when the
// client stops or the item's lease is lost; it returns nil when done,
// Snooze or Cancel, or an error to retry. A Worker must be safe for
// concurrent use and idempotent: an item may run again (see the package
// doc).
type Worker interface {
	Work(ctx context.Context, it *store.QueueItem) error
}

// WorkerFunc is a Worker.
type WorkerFunc func(ctx context.Context, it *store.QueueItem) error

// Work calls f.
func (f WorkerFunc) Work(ctx context.Context, it *store.QueueItem) error { return f(ctx, it) }

// Options configure a Client. Zero fields take the defaults.
type Options struct {
	Store  store.Store // required
	Clock  clock.Clock // default clock.Real
	Logger *slog.Logger
	// ID names this client in leases (LeaseOwner); default
	// startstop.ProcessID (host name, process id, random suffix), the
	// same for the leader elector and the queue's client.
	ID string
	// Queues are the queues this client claims from, default
	// [DefaultQueue]. Each claim starts at the next one in turn, so that
	// a backlog in one does not starve the others. Register a worker for
	// every kind inserted into them: items of other kinds wait there.
	Queues []string
	// MaxWorkers bounds how many items run at once (default 8).
	MaxWorkers int
	// MaxAttempts is an item's default attempt budget (default 10).
	MaxAttempts int
	// LeaseTTL is how long a claim holds an item without renewal; the
	// client renews it every third of it while the worker runs (default
	// 2 min). It bounds how soon another server takes over the items of
	// one that died.
	LeaseTTL time.Duration
	// Poll is how often the client looks for items it was not signalled
	// (other processes' inserts, retries falling due) (default 1 s).
	Poll time.Duration
	// BackoffBase and BackoffMax shape the retry delay after attempt n:
	// min(BackoffMax, BackoffBase·2^(n-1)) plus a random quarter of it.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Backoff, when set, replaces that formula (tests).
	Backoff func(attempt int) time.Duration
	// Observer is told of every item a worker ran (queue/queuemetrics
	// counts them for Prometheus); nil: nobody.
	Observer Observer
}

// Observer is told what the client's workers did. Its methods must be
// safe for concurrent use and quick. The client takes an Observer rather
// than a prometheus.Registerer so that the domain packages that use the
// queue stay clear of Prometheus and the net/http it brings.
type Observer interface {
	// Finished reports that an item of kind ran for took and ended with
	// outcome: completed, retried, discarded, cancelled, snoozed, released
	// (the client stopped) or lost (its lease went to another claimer).
	Finished(kind, outcome string, took time.Duration)
}

type noObserver struct{}

func (noObserver) Finished(string, string, time.Duration) {}

// InsertOpts are an item's settings; zero fields take the defaults.
type InsertOpts struct {
	Queue       string    // default DefaultQueue
	Priority    int       // smaller runs first; default 0
	ScheduleAt  time.Time // not before; default now
	MaxAttempts int       // default the client's
	// UniqueKey, when set, makes Insert a no-op returning the existing
	// item while an unfinished item has the same key.
	UniqueKey string
}

// Client inserts and runs queue items. Register every worker before Start.
// It is safe for concurrent use.
type Client struct {
	o Options

	mu      sync.Mutex
	workers map[string]Worker
	kinds   []string

	base    startstop.Base
	running chan struct{} // one token per item running
	freed   chan struct{} // a worker ended: a slot is free
	turn    int           // the queue the next claim starts at; the loop's

	// onFinish, when set (tests), runs after an item's outcome was
	// recorded, with the outcome's name; onRenew after each renewal of a
	// lease, with its error.
	onFinish func(it *store.QueueItem, outcome string)
	onRenew  func(it *store.QueueItem, err error)
}

// New returns a Client; it runs nothing before Start.
func New(o Options) (*Client, error) {
	if o.Store == nil {
		return nil, errors.New("queue: Store is required")
	}
	o.Clock = cmp.Or[clock.Clock](o.Clock, clock.Real{})
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ID == "" {
		o.ID = startstop.ProcessID()
	}
	if len(o.Queues) == 0 {
		o.Queues = []string{DefaultQueue}
	}
	setDefault(&o.MaxWorkers, DefaultMaxWorkers)
	setDefault(&o.MaxAttempts, DefaultMaxAttempts)
	setDefault(&o.LeaseTTL, DefaultLeaseTTL)
	setDefault(&o.Poll, DefaultPoll)
	setDefault(&o.BackoffBase, DefaultBackoffBase)
	setDefault(&o.BackoffMax, DefaultBackoffMax)
	c := &Client{
		o:       o,
		workers: map[string]Worker{},
		running: make(chan struct{}, o.MaxWorkers),
		freed:   make(chan struct{}, 1),
	}
	if c.o.Observer == nil {
		c.o.Observer = noObserver{}
	}
	return c, nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// ID returns the name this client leases items under.
func (c *Client) ID() string { return c.o.ID }

// Register makes the client run items of kind with w. Registering a kind
// twice, or after Start, panics: it is a wiring mistake.
func (c *Client) Register(kind string, w Worker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if kind == "" || w == nil {
		panic("queue: Register needs a kind and a worker")
	}
	if _, dup := c.workers[kind]; dup {
		panic("queue: kind " + kind + " registered twice")
	}
	if c.base.Running() {
		panic("queue: Register of " + kind + " after Start")
	}
	c.workers[kind] = w
	c.kinds = append(c.kinds, kind)
	slices.Sort(c.kinds)
}

// Insert adds an item of kind with args (marshalled to JSON) to the queue
// through st, which is the plain store or a transaction of store.InTx: then
// the item commits with the transaction's change, or not at all. It returns
// the item and true, or, when opts.UniqueKey is held by an unfinished item,
// that item and false.
func (c *Client) Insert(ctx context.Context, st store.QueueStore, kind string, args any, opts InsertOpts) (*store.QueueItem, bool, error) {
	if kind == "" {
		return nil, false, errors.New("queue: insert: no kind")
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, false, fmt.Errorf("queue: insert %s: encode args: %w", kind, err)
	}
	now := c.o.Clock.Now().UTC()
	it := &store.QueueItem{
		Kind: kind, Args: raw, Queue: cmp.Or(opts.Queue, DefaultQueue), Priority: opts.Priority,
		MaxAttempts: cmp.Or(opts.MaxAttempts, c.o.MaxAttempts), UniqueKey: opts.UniqueKey,
		CreatedAt: now, ScheduledAt: opts.ScheduleAt,
	}
	inserted, err := st.InsertQueueItem(ctx, it)
	if err != nil {
		return nil, false, fmt.Errorf("queue: insert %s: %w", kind, err)
	}
	return it, inserted, nil
}

// Start claims and runs items in the background until ctx ends or Stop is
// called. Calling it while running does nothing.
func (c *Client) Start(ctx context.Context) {
	c.mu.Lock()
	kinds := slices.Clone(c.kinds)
	c.mu.Unlock()
	if len(kinds) == 0 {
		c.o.Logger.WarnContext(ctx, "queue: client started with no workers registered")
	}
	// The ticker exists before Start returns, so that a test's first
	// Advance of a fake clock reaches it.
	tick, stopTick := c.o.Clock.NewTicker(c.o.Poll)
	if !c.base.Run(ctx, func(ctx context.Context) {
		defer stopTick()
		c.loop(ctx, kinds, tick)
	}) {
		stopTick()
	}
}

// Stop cancels the context of the running workers, waits until each has
// returned and its outcome is recorded (an item whose worker failed
// because of the stop is released, due at once), and returns. It is safe
// to call without Start and more than once.
func (c *Client) Stop() { c.base.Stop() }

// loop claims while slots are free and work is due, and waits for a signal,
// a freed slot or the poll ticker otherwise.
func (c *Client) loop(ctx context.Context, kinds []string, tick <-chan time.Time) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		if c.claim(ctx, kinds, &wg) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-c.o.Store.QueueSignal():
		case <-c.freed:
		case <-tick:
		}
	}
}

// claim leases as many items as slots are free and starts them. It
// reports whether more are probably due.
func (c *Client) claim(ctx context.Context, kinds []string, wg *sync.WaitGroup) bool {
	free := cap(c.running) - len(c.running)
	if free == 0 || len(kinds) == 0 {
		return false
	}
	now := c.o.Clock.Now().UTC()
	queues := append(slices.Clone(c.o.Queues[c.turn:]), c.o.Queues[:c.turn]...)
	c.turn = (c.turn + 1) % len(c.o.Queues)
	its, err := c.o.Store.ClaimQueueItems(ctx, store.QueueClaim{
		Kinds: kinds, Queues: queues, Owner: c.o.ID,
		Now: now, LeaseUntil: now.Add(c.o.LeaseTTL), Limit: free,
	})
	if err != nil {
		if ctx.Err() == nil {
			c.o.Logger.ErrorContext(ctx, "queue: claim", "err", err)
		}
		return false
	}
	for _, it := range its {
		c.running <- struct{}{}
		c.mu.Lock()
		w := c.workers[it.Kind]
		c.mu.Unlock()
		wg.Go(func() {
			defer func() {
				<-c.running
				select {
				case c.freed <- struct{}{}:
				default:
				}
			}()
			c.run(ctx, w, it)
		})
	}
	return len(its) == free
}

// errLeaseLost ends a worker whose item another claimer took.
var errLeaseLost = errors.New("queue: lease lost")

// run runs one claimed item under its lease and records the outcome.
func (c *Client) run(ctx context.Context, w Worker, it *store.QueueItem) {
	jctx, cancel := context.WithCancelCause(ctx)
	hbDone := make(chan struct{})
	// The ticker exists before the worker starts, so that a test that
	// saw the worker start can move a fake clock past a renewal.
	tick, stopTick := c.o.Clock.NewTicker(c.o.LeaseTTL / 3)
	go func() {
		defer close(hbDone)
		defer stopTick()
		c.heartbeat(jctx, it, tick, cancel)
	}()
	start := c.o.Clock.Now()
	err := c.safeWork(jctx, w, it)
	lost := errors.Is(context.Cause(jctx), errLeaseLost)
	cancel(nil)
	<-hbDone
	took := c.o.Clock.Now().Sub(start)

	if lost {
		c.o.Logger.WarnContext(ctx, "queue: lease lost while running; another claimer has the item",
			"kind", it.Kind, "id", it.ID, "attempt", it.Attempt)
		c.finished(it, outcomeLost, took)
		return
	}
	o, name := c.outcome(ctx, it, err)
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer fcancel()
	done, ferr := c.o.Store.FinishQueueItem(fctx, it.Lease(), o)
	switch {
	case errors.Is(ferr, store.ErrNotFound):
		c.o.Logger.WarnContext(ctx, "queue: lease lost before the outcome was recorded",
			"kind", it.Kind, "id", it.ID, "attempt", it.Attempt, "outcome", name)
		name = outcomeLost
	case ferr != nil:
		// The lease ends on its own and the item runs again.
		c.o.Logger.ErrorContext(ctx, "queue: record outcome", "kind", it.Kind, "id", it.ID, "outcome", name, "err", ferr)
		name = outcomeLost
	default:
		it = done
	}
	if name == outcomeRetried || name == outcomeDiscarded {
		c.o.Logger.WarnContext(ctx, "queue: item failed", "kind", it.Kind, "id", it.ID, "attempt", it.Attempt,
			"outcome", name, "err", err)
	}
	c.finished(it, name, took)
}

func (c *Client) finished(it *store.QueueItem, outcome string, took time.Duration) {
	c.o.Observer.Finished(it.Kind, outcome, took)
	if c.onFinish != nil {
		c.onFinish(it, outcome)
	}
}

// Outcome names, as Observer.Finished reports them.
const (
	outcomeCompleted = "completed"
	outcomeRetried   = "retried"
	outcomeDiscarded = "discarded"
	outcomeCancelled = "cancelled"
	outcomeSnoozed   = "snoozed"
	outcomeReleased  = "released"
	outcomeLost      = "lost"
)

// outcome decides where the worker's result moves the item.
func (c *Client) outcome(ctx context.Context, it *store.QueueItem, err error) (store.QueueOutcome, string) {
	now := c.o.Clock.Now().UTC()
	var snooze *SnoozeError
	var cancel *CancelError
	switch {
	case err == nil:
		return store.QueueOutcome{State: store.QueueCompleted, Now: now}, outcomeCompleted
	case ctx.Err() != nil:
		// Stopping: the failure is the stop's, not the item's.
		return store.QueueOutcome{State: store.QueueAvailable, Now: now}, outcomeReleased
	case errors.As(err, &snooze):
		return store.QueueOutcome{State: store.QueueScheduled, At: now.Add(snooze.Duration), Now: now}, outcomeSnoozed
	case errors.As(err, &cancel):
		return store.QueueOutcome{State: store.QueueCancelled, Error: errorText(err), Now: now}, outcomeCancelled
	case it.Attempt >= it.MaxAttempts:
		return store.QueueOutcome{State: store.QueueDiscarded, Error: errorText(err), Now: now}, outcomeDiscarded
	}
	return store.QueueOutcome{State: store.QueueRetryable, At: now.Add(c.backoff(it.Attempt)),
		Error: errorText(err), Now: now}, outcomeRetried
}

// backoff is the delay after failed attempt n.
func (c *Client) backoff(n int) time.Duration {
	if c.o.Backoff != nil {
		return c.o.Backoff(n)
	}
	return Backoff(n, c.o.BackoffBase, c.o.BackoffMax)
}

// Backoff is min(maxDelay, base·2^(n-1)) plus a random quarter of it: the
// delay after failed attempt n (from 1).
func Backoff(n int, base, maxDelay time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if q := int64(d / 4); q > 0 {
		d += time.Duration(mrand.Int64N(q))
	}
	return d
}

// errorText is err's message, bounded.
func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen] + "…"
	}
	return s
}

// heartbeat renews the item's lease on every tick until ctx ends;
// when the lease is gone it cancels the worker with errLeaseLost.
func (c *Client) heartbeat(ctx context.Context, it *store.QueueItem, tick <-chan time.Time, cancel context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		err := c.o.Store.ExtendQueueLease(ctx, it.Lease(), c.o.Clock.Now().UTC().Add(c.o.LeaseTTL))
		if c.onRenew != nil {
			c.onRenew(it, err)
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			cancel(errLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			// The lease lasts a while yet; the next tick tries again.
			c.o.Logger.WarnContext(ctx, "queue: renew lease", "kind", it.Kind, "id", it.ID, "err", err)
		}
	}
}

// safeWork runs w, turning a panic into an error (logged with its stack).
func (c *Client) safeWork(ctx context.Context, w Worker, it *store.QueueItem) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			c.o.Logger.ErrorContext(ctx, "queue: worker panicked", "kind", it.Kind, "id", it.ID,
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	return w.Work(ctx, it)
}
