package queue

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// waitFor bounds every wait of the tests.
const waitFor = 10 * time.Second

// finish is one recorded outcome.
type finish struct {
	it      *store.QueueItem
	outcome string
}

type harness struct {
	t     *testing.T
	st    store.Store
	clk   *clock.Fake
	obs   *countingObserver
	c     *Client
	ended chan finish
}

// MustOpenStore opens a fresh SQLite store in the test's directory.
func MustOpenStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "atelier.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newHarness returns a client over st (a fresh store when nil) with a fake
// clock, a fixed one-minute backoff and its outcomes reported on ended.
func newHarness(t *testing.T, st store.Store, clk *clock.Fake, opts func(o *Options)) *harness {
	t.Helper()
	if st == nil {
		st = MustOpenStore(t)
	}
	if clk == nil {
		clk = clock.NewFake(epoch)
	}
	h := &harness{t: t, st: st, clk: clk, obs: &countingObserver{n: map[string]int{}}, ended: make(chan finish, 100)}
	o := Options{Store: st, Clock: clk, ID: "client-" + t.Name(), LeaseTTL: 3 * time.Minute, Poll: time.Second,
		Backoff: func(int) time.Duration { return time.Minute }, Observer: h.obs}
	if opts != nil {
		opts(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.onFinish = func(it *store.QueueItem, outcome string) { h.ended <- finish{it, outcome} }
	h.c = c
	t.Cleanup(c.Stop)
	return h
}

// insert enqueues an item of kind on the plain store.
func (h *harness) insert(kind string, args any, o InsertOpts) *store.QueueItem {
	h.t.Helper()
	it, ok, err := h.c.Insert(h.t.Context(), h.st, kind, args, o)
	if err != nil || !ok {
		h.t.Fatalf("Insert(%s) = %v, %v", kind, ok, err)
	}
	return it
}

// wait returns the next outcome, which must be of item id and named want.
func (h *harness) wait(id int64, want string) *store.QueueItem {
	h.t.Helper()
	select {
	case f := <-h.ended:
		if f.it.ID != id || f.outcome != want {
			h.t.Fatalf("item %d ended %s (state %s, errors %v), want item %d %s", f.it.ID, f.outcome, f.it.State, f.it.Errors, id, want)
		}
		return f.it
	case <-time.After(waitFor):
		h.t.Fatalf("item %d did not end %s within %v", id, want, waitFor)
	}
	return nil
}

func (h *harness) get(id int64) *store.QueueItem {
	h.t.Helper()
	it, err := h.st.GetQueueItem(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return it
}

// signal waits for a value on ch.
func signal[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
	}
	var zero T
	return zero
}

type echoArgs struct {
	Msg string `json:"msg"`
}

func TestCompletes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	got := make(chan string, 1)
	h.c.Register("echo", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		var a echoArgs
		if err := json.Unmarshal(it.Args, &a); err != nil {
			return err
		}
		got <- a.Msg
		return nil
	}))
	h.c.Start(t.Context())
	it := h.insert("echo", echoArgs{Msg: "hi"}, InsertOpts{})
	done := h.wait(it.ID, outcomeCompleted)
	if msg := signal(t, got, "args"); msg != "hi" {
		t.Fatalf("worker got %q", msg)
	}
	if done.State != store.QueueCompleted || done.Attempt != 1 || !done.FinalizedAt.Equal(epoch) {
		t.Fatalf("completed item %+v", done)
	}
	if n := h.obs.count("echo", outcomeCompleted); n != 1 {
		t.Fatalf("completed counter = %v", n)
	}
}

// TestInsertInTx checks that an item inserted in a transaction runs only
// once the transaction committed, and never when it rolled back.
func TestInsertInTx(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	ran := make(chan int64, 10)
	h.c.Register("k", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		ran <- it.ID
		return nil
	}))
	h.c.Start(t.Context())
	var rolledBack *store.QueueItem
	boom := errors.New("boom")
	err := h.st.InTx(t.Context(), func(tx store.Store) error {
		var err error
		rolledBack, _, err = h.c.Insert(t.Context(), tx, "k", nil, InsertOpts{})
		if err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var committed *store.QueueItem
	err = h.st.InTx(t.Context(), func(tx store.Store) error {
		var err error
		committed, _, err = h.c.Insert(t.Context(), tx, "k", nil, InsertOpts{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h.wait(committed.ID, outcomeCompleted)
	if id := signal(t, ran, "run"); id != committed.ID {
		t.Fatalf("ran item %d, want %d", id, committed.ID)
	}
	// SQLite may give the committed item the rolled back one's id: count.
	all, err := h.st.ListQueueItems(t.Context(), store.QueueFilter{})
	if err != nil || len(all) != 1 || rolledBack == nil {
		t.Fatalf("items after a rolled back and a committed insert: %d, %v", len(all), err)
	}
}

func TestUniqueKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	first := h.insert("k", 1, InsertOpts{UniqueKey: "once"})
	again, ok, err := h.c.Insert(t.Context(), h.st, "k", 2, InsertOpts{UniqueKey: "once"})
	if err != nil || ok || again.ID != first.ID {
		t.Fatalf("second Insert = %v, %v, %v; want the first item, not inserted", again, ok, err)
	}
}

func TestRetryWithBackoffThenComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	var calls atomic.Int32
	h.c.Register("flaky", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		if calls.Add(1) == 1 {
			return errors.New("transient")
		}
		return nil
	}))
	h.c.Start(t.Context())
	it := h.insert("flaky", nil, InsertOpts{})
	failed := h.wait(it.ID, outcomeRetried)
	if failed.State != store.QueueRetryable || !failed.ScheduledAt.Equal(epoch.Add(time.Minute)) ||
		len(failed.Errors) != 1 || failed.Errors[0].Error != "transient" {
		t.Fatalf("after a failure: %+v", failed)
	}
	h.clk.Advance(time.Minute)
	done := h.wait(it.ID, outcomeCompleted)
	if done.Attempt != 2 {
		t.Fatalf("completed at attempt %d, want 2", done.Attempt)
	}
}

func TestDiscardAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	h.c.Register("bad", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error { return errors.New("always") }))
	h.c.Start(t.Context())
	it := h.insert("bad", nil, InsertOpts{MaxAttempts: 2})
	h.wait(it.ID, outcomeRetried)
	h.clk.Advance(time.Minute)
	dead := h.wait(it.ID, outcomeDiscarded)
	if dead.State != store.QueueDiscarded || dead.Attempt != 2 || len(dead.Errors) != 2 {
		t.Fatalf("discarded item %+v", dead)
	}
	if n := h.obs.count("bad", outcomeDiscarded); n != 1 {
		t.Fatalf("discarded counter = %v", n)
	}
}

func TestSnoozeDoesNotCountTheAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	var calls atomic.Int32
	h.c.Register("wait", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		if calls.Add(1) == 1 {
			return Snooze(time.Hour)
		}
		return nil
	}))
	h.c.Start(t.Context())
	it := h.insert("wait", nil, InsertOpts{MaxAttempts: 1})
	snoozed := h.wait(it.ID, outcomeSnoozed)
	if snoozed.State != store.QueueScheduled || snoozed.Attempt != 0 || !snoozed.ScheduledAt.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("snoozed item %+v", snoozed)
	}
	h.clk.Advance(time.Hour)
	if done := h.wait(it.ID, outcomeCompleted); done.Attempt != 1 {
		t.Fatalf("completed at attempt %d after a snooze, want 1", done.Attempt)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	h.c.Register("k", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		return Cancel(errors.New("the dataset is gone"))
	}))
	h.c.Start(t.Context())
	it := h.insert("k", nil, InsertOpts{})
	got := h.wait(it.ID, outcomeCancelled)
	if got.State != store.QueueCancelled || len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Error, "the dataset is gone") {
		t.Fatalf("cancelled item %+v", got)
	}
}

func TestPanicIsAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	var calls atomic.Int32
	h.c.Register("k", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		if calls.Add(1) == 1 {
			panic("kaboom")
		}
		return nil
	}))
	h.c.Start(t.Context())
	it := h.insert("k", nil, InsertOpts{})
	got := h.wait(it.ID, outcomeRetried)
	if len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Error, "panic: kaboom") {
		t.Fatalf("errors after a panic: %+v", got.Errors)
	}
	h.clk.Advance(time.Minute)
	h.wait(it.ID, outcomeCompleted)
}

// TestStopReleases checks that Stop cancels a running worker and that its
// item is due again at once, the attempt not counted, for the next client.
func TestStopReleases(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	started := make(chan struct{}, 10)
	h.c.Register("long", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}))
	h.c.Start(t.Context())
	it := h.insert("long", nil, InsertOpts{MaxAttempts: 1})
	signal(t, started, "worker start")
	h.c.Stop()
	h.c.Stop() // a second stop is harmless
	released := h.wait(it.ID, outcomeReleased)
	if released.State != store.QueueAvailable || released.Attempt != 0 || len(released.Errors) != 0 {
		t.Fatalf("released item %+v", released)
	}

	// The next server's client runs it, without moving the clock.
	h2 := newHarness(t, h.st, h.clk, func(o *Options) { o.ID = "next" })
	h2.c.Register("long", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error { return nil }))
	h2.c.Start(t.Context())
	if done := h2.wait(it.ID, outcomeCompleted); done.Attempt != 1 {
		t.Fatalf("completed at attempt %d, want 1", done.Attempt)
	}
}

// TestExpiredLeaseIsRunAgain is the crash path: an item leased by a server
// that died runs again once its lease ended, as its next attempt.
func TestExpiredLeaseIsRunAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	it := h.insert("k", nil, InsertOpts{})
	dead, err := h.st.ClaimQueueItems(t.Context(), store.QueueClaim{Kinds: []string{"k"}, Queues: []string{DefaultQueue}, Owner: "killed",
		Now: epoch, LeaseUntil: epoch.Add(3 * time.Minute), Limit: 1})
	if err != nil || len(dead) != 1 {
		t.Fatalf("claim by the doomed server: %v, %v", dead, err)
	}
	h.c.Register("k", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error { return nil }))
	h.c.Start(t.Context())
	h.clk.Advance(3 * time.Minute)
	done := h.wait(it.ID, outcomeCompleted)
	if done.Attempt != 2 {
		t.Fatalf("completed at attempt %d, want 2", done.Attempt)
	}
}

// TestHeartbeatAndLostLease checks that a running item's lease is renewed,
// and that a worker whose lease went to another claimer is cancelled.
func TestHeartbeatAndLostLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	renewed := make(chan error, 10)
	h.c.onRenew = func(_ *store.QueueItem, err error) { renewed <- err }
	started := make(chan *store.QueueItem, 10)
	cause := make(chan error, 1)
	h.c.Register("long", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		started <- it
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	}))
	h.c.Start(t.Context())
	it := h.insert("long", nil, InsertOpts{})
	running := signal(t, started, "worker start")
	h.clk.Advance(time.Minute) // a third of the lease
	if err := signal(t, renewed, "lease renewal"); err != nil {
		t.Fatal(err)
	}
	if got, want := h.get(it.ID).LeaseUntil, epoch.Add(4*time.Minute); !got.Equal(want) {
		t.Fatalf("lease ends %v, want it renewed to %v", got, want)
	}
	// Another claimer whose clock is past the lease takes the item.
	other, err := h.st.ClaimQueueItems(t.Context(), store.QueueClaim{Kinds: []string{"long"}, Queues: []string{DefaultQueue}, Owner: "other",
		Now: epoch.Add(10 * time.Minute), LeaseUntil: epoch.Add(time.Hour), Limit: 1})
	if err != nil || len(other) != 1 || other[0].ID != running.ID {
		t.Fatalf("claim by another: %v, %v", other, err)
	}
	h.clk.Advance(time.Minute)
	if err := signal(t, cause, "worker cancellation"); !errors.Is(err, errLeaseLost) {
		t.Fatalf("worker cancelled by %v, want the lost lease", err)
	}
	h.wait(it.ID, outcomeLost)
	if got := h.get(it.ID); got.LeaseOwner != "other" {
		t.Fatalf("item leased to %q after the loss, want other", got.LeaseOwner)
	}
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, func(o *Options) { o.MaxWorkers = 2 })
	var active, peak atomic.Int32
	gate := make(chan struct{})
	started := make(chan struct{}, 10)
	h.c.Register("k", WorkerFunc(func(ctx context.Context, it *store.QueueItem) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-gate
		return nil
	}))
	const items = 6
	var ids []int64
	for i := range items {
		ids = append(ids, h.insert("k", i, InsertOpts{}).ID)
	}
	h.c.Start(t.Context())
	for i := range items {
		signal(t, started, "worker start")
		if i >= 1 {
			gate <- struct{}{} // let one finish, making room for the next
		}
	}
	gate <- struct{}{}
	done := map[int64]bool{}
	for range items {
		f := signal(t, h.ended, "outcome")
		done[f.it.ID] = true
	}
	if len(done) != items {
		t.Fatalf("%d items ended, want %d", len(done), items)
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("at most %d ran at once, want 2", p)
	}
}

// countingObserver counts outcomes by kind.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) Finished(kind, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[kind+"/"+outcome]++
}

func (o *countingObserver) count(kind, outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[kind+"/"+outcome]
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, time.Second, 1250 * time.Millisecond},
		{2, 2 * time.Second, 2500 * time.Millisecond},
		{5, 16 * time.Second, 20 * time.Second},
		{40, time.Hour, 75 * time.Minute},
	} {
		for range 50 {
			if d := Backoff(tc.n, time.Second, time.Hour); d < tc.lo || d >= tc.hi {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v)", tc.n, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	h := newHarness(t, nil, nil, nil)
	h.c.Register("k", WorkerFunc(func(context.Context, *store.QueueItem) error { return nil }))
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	h.c.Register("k", WorkerFunc(func(context.Context, *store.QueueItem) error { return nil }))
}
