package identity

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
)

// Defaults of the argon2id bound (Options.HashMemory, HashQueue, HashWait).
const (
	// DefaultHashMemory is the memory that argon2id hashes may take at once:
	// three hashes of DefaultArgon2's 19 MiB, fewer on a machine with four
	// cores or less.
	DefaultHashMemory int64 = 64 << 20
	// DefaultHashQueuePerSlot is how many hashes may wait for each running
	// one before more are refused at once.
	DefaultHashQueuePerSlot = 8
	// DefaultHashWait is the longest a hash waits for a slot.
	DefaultHashWait = 2 * time.Second
)

// hashRetryAfter is the wait a refused hash tells the client to take: the
// queue drains within DefaultHashWait.
const hashRetryAfter = 1 // seconds

// hashGate bounds the argon2id hashes of a Service. Each hash takes the
// memory of its parameters (19 MiB by default) for tens of milliseconds,
// and logins reach it before any authentication, so without a bound a burst
// of logins for unknown accounts makes the process allocate without limit.
// The gate lets slots hashes run at once, lets queue more wait for at most
// wait, and refuses the rest at once with CodeRateLimited and a Retry-After.
// When it goes idle after hashing a budget's worth of memory, it returns the
// freed heap to the operating system, so that a burst does not leave the
// resident set at its peak.
//
// A hashGate is safe for concurrent use.
type hashGate struct {
	slots   chan struct{} // one element per running hash
	queue   int32         // most hashes waiting for a slot
	wait    time.Duration
	clock   clock.Clock
	perHash int64 // bytes one hash allocates
	budget  int64 // bytes hashed between two returns of memory

	waiting atomic.Int32 // hashes waiting for a slot now
	running atomic.Int32 // hashes holding a slot now
	hashed  atomic.Int64 // bytes hashed since memory was last returned
	freeing atomic.Bool  // a return of memory is under way

	// Tests observe and steer the gate through these; nil in production.
	mu      sync.Mutex
	onHash  func() // called in each slot before hashing
	freeMem func() // returns memory; debug.FreeOSMemory
	onFree  func() // called after each return of memory
	peak    int32  // most hashes seen running at once
}

// newHashGate returns the gate for hashes of parameters p within a memory
// budget: as many slots as the budget holds hashes, at most one per core
// but one, at least one; queue waiting hashes (0: DefaultHashQueuePerSlot per slot)
// for at most wait (0: DefaultHashWait).
func newHashGate(c clock.Clock, p Argon2Params, budget int64, queue int, wait time.Duration) *hashGate {
	if budget <= 0 {
		budget = DefaultHashMemory
	}
	perHash := int64(p.Memory) << 10
	// One core is left to the rest of the server (health checks, other
	// requests), so that a flood of logins cannot starve it.
	slots := max(1, min(int64(runtime.GOMAXPROCS(0)-1), budget/perHash))
	if queue <= 0 {
		queue = DefaultHashQueuePerSlot * int(slots)
	}
	if wait <= 0 {
		wait = DefaultHashWait
	}
	return &hashGate{
		slots:   make(chan struct{}, slots),
		queue:   int32(queue),
		wait:    wait,
		clock:   c,
		perHash: perHash,
		budget:  max(budget, perHash),
		freeMem: debug.FreeOSMemory,
	}
}

// errHashBusy is the answer when the gate refuses a hash.
func errHashBusy() error {
	return atelier.CodeRateLimited.Errorf("The server is busy checking other passwords; retry in %d seconds.", hashRetryAfter)
}

// do runs f, which hashes with the gate's parameters, in a slot. It returns
// CodeRateLimited without running f when the queue is full or no slot freed
// up within the wait, and ctx's error when ctx ends while waiting.
func (g *hashGate) do(ctx context.Context, f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.queue {
			g.waiting.Add(-1)
			return errHashBusy()
		}
		tick, stop := g.clock.NewTicker(g.wait)
		var err error
		select {
		case g.slots <- struct{}{}:
		case <-tick:
			err = errHashBusy()
		case <-ctx.Done():
			err = ctx.Err()
		}
		stop()
		g.waiting.Add(-1)
		if err != nil {
			return err
		}
	}
	n := g.running.Add(1)
	g.mu.Lock()
	g.peak = max(g.peak, n)
	onHash := g.onHash
	g.mu.Unlock()
	if onHash != nil {
		onHash()
	}
	f()
	g.hashed.Add(g.perHash)
	idle := g.running.Add(-1) == 0
	<-g.slots
	if idle && g.hashed.Load() >= g.budget && g.freeing.CompareAndSwap(false, true) {
		// Outside the request: a forced collection takes milliseconds.
		go g.returnMemory()
	}
	return nil
}

// saturated reports whether a hash asked for now would be refused: every
// slot busy and the queue full. Logins ask it before they read the store,
// so that a flood is refused at the least cost.
func (g *hashGate) saturated() bool {
	return len(g.slots) == cap(g.slots) && g.waiting.Load() >= g.queue
}

// returnMemory gives the heap that finished hashes freed back to the
// operating system.
func (g *hashGate) returnMemory() {
	defer g.freeing.Store(false)
	g.hashed.Store(0)
	g.mu.Lock()
	free := g.freeMem
	g.mu.Unlock()
	free()
}

// hash returns the argon2id PHC string of password, in a slot of the gate.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var (
		h   string
		err error
	)
	if gerr := s.hashes.do(ctx, func() { h, err = hashPassword(password, s.argon) }); gerr != nil {
		return "", gerr
	}
	return h, err
}

// verify checks password against the PHC string encoded, in a slot of the
// gate. A refusal of the gate is returned as the error, like a malformed
// hash; callers tell them apart with isHashBusy.
func (s *Service) verify(ctx context.Context, encoded, password string) (bool, error) {
	var (
		ok  bool
		err error
	)
	if gerr := s.hashes.do(ctx, func() { ok, err = verifyPassword(encoded, password) }); gerr != nil {
		return false, gerr
	}
	return ok, err
}

// verifyDummy spends the work of a verification on the dummy hash, so that
// an unknown account or key costs what a known one does. It returns only
// the gate's refusal (or ctx's end): the same answer a known account gets
// under the same load.
func (s *Service) verifyDummy(ctx context.Context, password string) error {
	_, err := s.verify(ctx, s.dummyHash, password)
	if isHashBusy(err) {
		return err
	}
	return nil
}

// isHashBusy reports whether err is the gate's refusal or the end of the
// request's context while it waited, rather than a problem of the hash.
func isHashBusy(err error) bool {
	return atelier.ErrorCode(err) == atelier.CodeRateLimited.ID || (err != nil && (atelier.IsKind(err, atelier.Canceled) || atelier.IsKind(err, atelier.DeadlineExceeded)))
}
