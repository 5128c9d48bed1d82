// Package leader elects one leader among the servers that share a store,
// through a lease in the store (store.LeaseStore), after river's leader
// elector, and runs the singleton loops registered on it (the garbage
// collector, …) only while this server leads.
//
// An Elector tries to take or renew the lease every Renew (a third of TTL
// by default). While it holds the lease it runs its loops, each with a
// context that ends when leadership ends. It steps down, stopping its
// loops before the lease could pass to another server, when the lease went
// to another holder or when it could not renew it in time (the store does
// not answer). Stop stops the loops and releases the lease, so that
// another server takes over at its next attempt; a killed leader's lease
// ends TTL after its last renewal, and another server leads at most Renew
// after that.
//
// Exactly one server runs the loops at a time as long as the servers'
// clocks agree to within Renew and a server is not paused for longer than
// Renew: the lease's expiry is decided with each server's own clock. The
// loops should still be idempotent.
package leader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/startstop"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options.
const (
	DefaultName = "atelier"
	DefaultTTL  = 30 * time.Second
	// releaseTimeout bounds releasing the lease at Stop.
	releaseTimeout = 5 * time.Second
)

// Options configure an Elector. Zero fields take the defaults.
type Options struct {
	Store  store.LeaseStore // required
	Clock  clock.Clock      // default clock.Real
	Logger *slog.Logger
	// Name is the lease's name: the servers that compete (default
	// "atelier").
	Name string
	// ID names this server as the lease's holder; default
	// startstop.ProcessID (host name, process id, random suffix), the
	// same for the leader elector and the queue's client.
	ID string
	// TTL is how long a lease lasts without renewal (default 30 s).
	TTL time.Duration
	// Renew is how often the elector takes or renews the lease (default
	// TTL/3); it must be under TTL/2.
	Renew time.Duration
	// Registerer receives the atelier_leader gauge; nil registers none.
	Registerer prometheus.Registerer
}

// Loop is a singleton loop: it runs until ctx ends, which happens when the
// server stops leading.
type Loop func(ctx context.Context)

// Elector competes for the lease and runs the registered loops while it
// holds it. It is safe for concurrent use.
type Elector struct {
	o     Options
	base  startstop.Base
	gauge prometheus.Gauge

	mu      sync.Mutex
	loops   []namedLoop
	leading bool
	expires time.Time          // of the lease, as last renewed
	cancel  context.CancelFunc // of the running loops
	wg      sync.WaitGroup     // the running loops

	// onAttempt, when set (tests), runs after each attempt with whether
	// this server leads afterwards and the attempt's error.
	onAttempt func(leading bool, err error)
}

type namedLoop struct {
	name string
	loop Loop
}

// New returns an Elector; it competes for nothing before Start.
func New(o Options) (*Elector, error) {
	if o.Store == nil {
		return nil, errors.New("leader: Store is required")
	}
	o.Clock = cmp.Or[clock.Clock](o.Clock, clock.Real{})
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Name = cmp.Or(o.Name, DefaultName)
	if o.ID == "" {
		o.ID = startstop.ProcessID()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Renew <= 0 {
		o.Renew = o.TTL / 3
	}
	if o.Renew*2 >= o.TTL {
		return nil, fmt.Errorf("leader: Renew (%v) must be under half of TTL (%v)", o.Renew, o.TTL)
	}
	e := &Elector{o: o, gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "atelier_leader",
		Help:        "1 while this server holds the leader lease and runs the singleton loops (garbage collection), else 0.",
		ConstLabels: prometheus.Labels{"lease": o.Name},
	})}
	if o.Registerer != nil {
		if err := o.Registerer.Register(e.gauge); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("leader: register metrics: %w", err)
			}
		}
	}
	return e, nil
}

// ID returns the name this server holds the lease under.
func (e *Elector) ID() string { return e.o.ID }

// Register adds a singleton loop, run whenever this server leads. Register
// every loop before Start.
func (e *Elector) Register(name string, loop Loop) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loops = append(e.loops, namedLoop{name, loop})
}

// IsLeader reports whether this server holds the lease and runs the loops.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Start competes for the lease in the background, at once and then every
// Renew, until ctx ends or Stop is called. Calling it while running does
// nothing.
func (e *Elector) Start(ctx context.Context) {
	// The ticker exists before Start returns, so that a test's first
	// Advance of a fake clock reaches it.
	tick, stopTick := e.o.Clock.NewTicker(e.o.Renew)
	if !e.base.Run(ctx, func(ctx context.Context) {
		defer stopTick()
		e.run(ctx, tick)
	}) {
		stopTick()
	}
}

// Stop stops competing: it stops the loops, waits for them, and releases
// the lease if this server held it. It is safe to call without Start and
// more than once.
func (e *Elector) Stop() { e.base.Stop() }

func (e *Elector) run(ctx context.Context, tick <-chan time.Time) {
	defer e.resign()
	for {
		e.attempt(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// attempt takes or renews the lease and starts or stops the loops to match.
func (e *Elector) attempt(ctx context.Context) {
	now := e.o.Clock.Now().UTC()
	l, err := e.o.Store.AcquireLease(ctx, e.o.Name, e.o.ID, now, now.Add(e.o.TTL))
	e.mu.Lock()
	wasLeading := e.leading
	e.mu.Unlock()
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		e.o.Logger.WarnContext(ctx, "leader: lease attempt failed", "lease", e.o.Name, "err", err)
		// Step down while the lease surely still is ours: the next
		// attempt might come too late.
		e.mu.Lock()
		late := wasLeading && !now.Add(e.o.Renew).Before(e.expires)
		e.mu.Unlock()
		if late {
			e.stepDown(ctx, "the lease could not be renewed in time")
		}
	case l.Holder == e.o.ID:
		e.mu.Lock()
		e.expires = l.ExpiresAt
		e.mu.Unlock()
		if !wasLeading {
			e.stepUp(ctx)
		}
	case wasLeading:
		e.stepDown(ctx, "another server holds the lease: "+l.Holder)
	}
	if e.onAttempt != nil {
		e.onAttempt(e.IsLeader(), err)
	}
}

// stepUp starts the loops.
func (e *Elector) stepUp(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	lctx, cancel := context.WithCancel(ctx)
	e.leading, e.cancel = true, cancel
	for _, l := range e.loops {
		e.wg.Go(func() { l.loop(lctx) })
	}
	e.gauge.Set(1)
	e.o.Logger.InfoContext(ctx, "leader: this server leads", "lease", e.o.Name, "id", e.o.ID, "loops", len(e.loops))
}

// stepDown stops the loops and waits for them.
func (e *Elector) stepDown(ctx context.Context, why string) {
	e.mu.Lock()
	cancel := e.cancel
	e.leading, e.cancel = false, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	e.wg.Wait()
	e.gauge.Set(0)
	e.o.Logger.WarnContext(ctx, "leader: this server stopped leading", "lease", e.o.Name, "why", why)
}

// resign stops the loops and releases the lease, on a context of its own:
// the elector's has ended.
func (e *Elector) resign() {
	e.mu.Lock()
	leading := e.leading
	e.mu.Unlock()
	if !leading {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	e.stepDown(ctx, "stopping")
	if err := e.o.Store.ReleaseLease(ctx, e.o.Name, e.o.ID); err != nil {
		e.o.Logger.WarnContext(ctx, "leader: release the lease; it ends on its own", "lease", e.o.Name, "err", err)
	}
}
