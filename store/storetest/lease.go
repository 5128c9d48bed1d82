package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/store"
)

// leaseTests is the tier of LeaseStore.
func leaseTests() []test {
	return []test{
		{"AcquireRenewExpire", testLeaseLifecycle},
		{"Release", testLeaseRelease},
		{"AcquireRace", testLeaseRace},
	}
}

func mustAcquire(t testing.TB, s store.Store, holder string, now time.Time, ttl time.Duration) *store.Lease {
	t.Helper()
	l, err := s.AcquireLease(ctxFor(t), "leader", holder, now, now.Add(ttl))
	must(t, err, "AcquireLease")
	return l
}

func wantLease(t testing.TB, l *store.Lease, holder string, acquired, expires time.Time, what string) {
	t.Helper()
	if l.Name != "leader" || l.Holder != holder || !l.AcquiredAt.Equal(acquired) || !l.ExpiresAt.Equal(expires) {
		t.Fatalf("%s: lease %+v, want held by %s since %v until %v", what, l, holder, acquired, expires)
	}
}

func testLeaseLifecycle(t *testing.T, s store.Store) {
	_, err := s.GetLease(ctxFor(t), "leader")
	wantErr(t, err, store.ErrNotFound, "GetLease before any")
	ttl := 30 * time.Second
	wantLease(t, mustAcquire(t, s, "a", epoch, ttl), "a", epoch, epoch.Add(ttl), "first acquire")
	// Another holder before the end gets the current lease back.
	wantLease(t, mustAcquire(t, s, "b", epoch.Add(29*time.Second), ttl), "a", epoch, epoch.Add(ttl), "acquire of a held lease")
	// A renewal moves the end and keeps the start.
	at := epoch.Add(10 * time.Second)
	wantLease(t, mustAcquire(t, s, "a", at, ttl), "a", epoch, at.Add(ttl), "renewal")
	// Once it ended, another holder takes it.
	end := at.Add(ttl)
	wantLease(t, mustAcquire(t, s, "b", end, ttl), "b", end, end.Add(ttl), "acquire of an ended lease")
	// The previous holder's renewal now fails.
	wantLease(t, mustAcquire(t, s, "a", end.Add(time.Second), ttl), "b", end, end.Add(ttl), "renewal of a lost lease")
	got, err := s.GetLease(ctxFor(t), "leader")
	must(t, err, "GetLease")
	wantLease(t, got, "b", end, end.Add(ttl), "GetLease")
	// Leases of other names are independent.
	other, err := s.AcquireLease(ctxFor(t), "other", "a", end, end.Add(ttl))
	must(t, err, "AcquireLease other")
	if other.Holder != "a" {
		t.Fatalf("lease other held by %q", other.Holder)
	}
}

func testLeaseRelease(t *testing.T, s store.Store) {
	ttl := time.Minute
	mustAcquire(t, s, "a", epoch, ttl)
	must(t, s.ReleaseLease(ctxFor(t), "leader", "b"), "ReleaseLease by another holder")
	wantLease(t, mustAcquire(t, s, "b", epoch, ttl), "a", epoch, epoch.Add(ttl), "after another's release")
	must(t, s.ReleaseLease(ctxFor(t), "leader", "a"), "ReleaseLease")
	_, err := s.GetLease(ctxFor(t), "leader")
	wantErr(t, err, store.ErrNotFound, "GetLease after release")
	// Released, it is free at once.
	wantLease(t, mustAcquire(t, s, "b", epoch.Add(time.Second), ttl), "b", epoch.Add(time.Second), epoch.Add(time.Second+ttl), "acquire after release")
	must(t, s.ReleaseLease(ctxFor(t), "never", "a"), "ReleaseLease of an unknown lease")
}

// testLeaseRace has several holders acquire a free lease at once: exactly
// one gets it, and every one of them is told the same holder.
func testLeaseRace(t *testing.T, s store.Store) {
	const holders = 8
	for round := range 5 {
		now := epoch.Add(time.Duration(round) * time.Hour) // the previous round's lease ended
		var wg sync.WaitGroup
		got := make([]string, holders)
		errs := make([]error, holders)
		for i := range holders {
			wg.Go(func() {
				l, err := s.AcquireLease(ctxFor(t), "leader", fmt.Sprintf("h%d", i), now, now.Add(time.Minute))
				errs[i] = err
				if err == nil {
					got[i] = l.Holder
				}
			})
		}
		wg.Wait()
		for i := range holders {
			must(t, errs[i], "AcquireLease")
			if got[i] != got[0] {
				t.Fatalf("round %d: holders told %q and %q", round, got[0], got[i])
			}
		}
	}
}
