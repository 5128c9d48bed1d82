package leader

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	ttl     = 30 * time.Second
	renew   = 10 * time.Second
	waitFor = 10 * time.Second
)

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

// server is one elector with a loop that reports its starts and ends.
type server struct {
	t        *testing.T
	e        *Elector
	clk      *clock.Fake
	attempts chan bool
	started  chan struct{}
	ended    chan struct{}
	running  atomic.Int32
}

func newServer(t *testing.T, st store.LeaseStore, clk *clock.Fake, id string) *server {
	t.Helper()
	s := &server{t: t, clk: clk, attempts: make(chan bool, 100), started: make(chan struct{}, 100), ended: make(chan struct{}, 100)}
	e, err := New(Options{Store: st, Clock: clk, ID: id, TTL: ttl, Renew: renew, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	e.onAttempt = func(leading bool, _ error) { s.attempts <- leading }
	e.Register("singleton", func(ctx context.Context) {
		s.running.Add(1)
		s.started <- struct{}{}
		<-ctx.Done()
		s.running.Add(-1)
		s.ended <- struct{}{}
	})
	s.e = e
	t.Cleanup(e.Stop)
	return s
}

// attempt waits for the next attempt and fails unless its outcome is want.
func (s *server) attempt(want bool) {
	s.t.Helper()
	select {
	case got := <-s.attempts:
		if got != want {
			s.t.Fatalf("%s leads=%v after an attempt, want %v", s.e.ID(), got, want)
		}
	case <-time.After(waitFor):
		s.t.Fatalf("%s made no attempt within %v", s.e.ID(), waitFor)
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
	}
}

func TestLeadsAndResigns(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	a := newServer(t, st, clock.NewFake(epoch), "a")
	a.e.Stop() // before Start: nothing to do
	a.e.Start(t.Context())
	a.attempt(true)
	wait(t, a.started, "loop start")
	if !a.e.IsLeader() {
		t.Fatal("not leader after winning the lease")
	}
	// Renewals keep it, without restarting the loop.
	a.clk.Advance(renew)
	a.attempt(true)
	l, err := st.GetLease(t.Context(), DefaultName)
	if err != nil || l.Holder != "a" || !l.ExpiresAt.Equal(epoch.Add(renew+ttl)) || !l.AcquiredAt.Equal(epoch) {
		t.Fatalf("lease after a renewal: %+v, %v", l, err)
	}
	a.e.Stop()
	a.e.Stop()
	wait(t, a.ended, "loop end")
	if a.e.IsLeader() || a.running.Load() != 0 {
		t.Fatal("still leading after Stop")
	}
	if _, err := st.GetLease(t.Context(), DefaultName); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lease after Stop: %v, want released", err)
	}
}

// TestStoppedLeaderHandsOver: a leader that stops releases the lease, and
// the other server leads at its next attempt.
func TestStoppedLeaderHandsOver(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	clk := clock.NewFake(epoch)
	a := newServer(t, st, clk, "a")
	b := newServer(t, st, clk, "b")
	a.e.Start(t.Context())
	a.attempt(true)
	b.e.Start(t.Context())
	b.attempt(false)
	a.e.Stop()
	clk.Advance(renew)
	b.attempt(true)
	wait(t, b.started, "loop start on b")
}

// TestKilledLeaderIsReplaced: a leader that dies (its clock, and so its
// renewals, never move again) loses the lease TTL after its last renewal;
// the other server leads within Renew of that, and never before.
func TestKilledLeaderIsReplaced(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	a := newServer(t, st, clock.NewFake(epoch), "a")
	a.e.Start(t.Context())
	a.attempt(true)
	bclk := clock.NewFake(epoch)
	b := newServer(t, st, bclk, "b")
	b.e.Start(t.Context())
	b.attempt(false)
	for range ttl/renew - 1 {
		bclk.Advance(renew)
		b.attempt(false)
	}
	bclk.Advance(renew) // epoch + TTL: a's lease ended
	b.attempt(true)
	wait(t, b.started, "loop start on b")
	if l, err := st.GetLease(t.Context(), DefaultName); err != nil || l.Holder != "b" {
		t.Fatalf("lease %+v, %v; want b's", l, err)
	}
}

// TestLostLeaseStopsLoops: a leader that finds the lease in another's hands
// stops its loops at once.
func TestLostLeaseStopsLoops(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	a := newServer(t, st, clock.NewFake(epoch), "a")
	a.e.Start(t.Context())
	a.attempt(true)
	wait(t, a.started, "loop start")
	// Another server whose clock is past a's lease takes it.
	late := epoch.Add(time.Hour)
	if l, err := st.AcquireLease(t.Context(), DefaultName, "thief", late, late.Add(ttl)); err != nil || l.Holder != "thief" {
		t.Fatalf("steal: %+v, %v", l, err)
	}
	a.clk.Advance(renew)
	a.attempt(false)
	wait(t, a.ended, "loop end")
	if a.running.Load() != 0 {
		t.Fatal("loop still runs after the lease was lost")
	}
}

// failingStore fails every lease call while fail is set.
type failingStore struct {
	store.LeaseStore
	fail atomic.Bool
}

var errDown = errors.New("database down")

func (f *failingStore) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (*store.Lease, error) {
	if f.fail.Load() {
		return nil, errDown
	}
	return f.LeaseStore.AcquireLease(ctx, name, holder, now, expires)
}

// TestStepsDownBeforeTheLeaseEnds: a leader that cannot reach the store
// stops its loops before its lease could pass to another server.
func TestStepsDownBeforeTheLeaseEnds(t *testing.T) {
	t.Parallel()
	fs := &failingStore{LeaseStore: MustOpenStore(t)}
	a := newServer(t, fs, clock.NewFake(epoch), "a")
	a.e.Start(t.Context())
	a.attempt(true)
	wait(t, a.started, "loop start")
	fs.fail.Store(true)
	a.clk.Advance(renew) // epoch+10s: the lease lasts until +30s, a later attempt may renew it
	a.attempt(true)
	a.clk.Advance(renew) // epoch+20s: the next attempt, at +30s, would be too late
	a.attempt(false)
	wait(t, a.ended, "loop end")
	// Back, it leads again.
	fs.fail.Store(false)
	a.clk.Advance(renew)
	a.attempt(true)
	wait(t, a.started, "loop restart")
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	if _, err := New(Options{Store: MustOpenStore(t), TTL: time.Second, Renew: time.Second}); err == nil {
		t.Fatal("New with Renew >= TTL/2 succeeded")
	}
}
