package storetest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/store"
)

// queueTests is the tier of QueueStore.
func queueTests() []test {
	return []test{
		{"InsertGet", testQueueInsertGet},
		{"UniqueKey", testQueueUnique},
		{"InsertInTx", testQueueInsertInTx},
		{"ClaimOrder", testQueueClaimOrder},
		{"ClaimFilters", testQueueClaimFilters},
		{"LeaseExpiry", testQueueLeaseExpiry},
		{"LeaseExpiryLastAttempt", testQueueLeaseExpiryDead},
		{"EndLeases", testQueueEndLeases},
		{"Transitions", testQueueTransitions},
		{"ErrorsBounded", testQueueErrorsBounded},
		{"CountsAndList", testQueueCountsList},
		{"Prune", testQueuePrune},
		{"ClaimDisjoint", testQueueClaimConcurrent},
	}
}

// mustEnqueue inserts an item of kind due at at (scheduled then when at is
// after epoch) and returns it.
func mustEnqueue(t testing.TB, s store.Store, kind string, at time.Time, fn func(it *store.QueueItem)) *store.QueueItem {
	t.Helper()
	it := &store.QueueItem{Kind: kind, Args: json.RawMessage(`{"n":1}`), Queue: "default", MaxAttempts: 3,
		CreatedAt: epoch, ScheduledAt: at}
	if fn != nil {
		fn(it)
	}
	ok, err := s.InsertQueueItem(ctxFor(t), it)
	must(t, err, "InsertQueueItem")
	if !ok {
		t.Fatalf("InsertQueueItem(%s) inserted nothing", kind)
	}
	return it
}

func mustClaim(t testing.TB, s store.Store, owner string, now time.Time, limit int, kinds ...string) []*store.QueueItem {
	t.Helper()
	its, err := s.ClaimQueueItems(ctxFor(t), store.QueueClaim{Kinds: kinds, Queues: []string{"default"}, Owner: owner,
		Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit})
	must(t, err, "ClaimQueueItems")
	return its
}

func mustFinish(t testing.TB, s store.Store, it *store.QueueItem, o store.QueueOutcome) *store.QueueItem {
	t.Helper()
	out, err := s.FinishQueueItem(ctxFor(t), it.Lease(), o)
	must(t, err, "FinishQueueItem "+o.State)
	return out
}

func queueIDs(its []*store.QueueItem) []int64 {
	out := make([]int64, len(its))
	for i, it := range its {
		out[i] = it.ID
	}
	return out
}

func wantQueueIDs(t testing.TB, got []*store.QueueItem, want []int64, what string) {
	t.Helper()
	if g := queueIDs(got); !slices.Equal(g, want) {
		t.Fatalf("%s = %v, want %v", what, g, want)
	}
}

func testQueueInsertGet(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	now := mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.Priority = 2 })
	if now.ID == 0 || now.State != store.QueueAvailable || now.Attempt != 0 || !now.ScheduledAt.Equal(epoch) {
		t.Fatalf("inserted %+v, want an id, available, attempt 0, scheduled at its creation", now)
	}
	later := mustEnqueue(t, s, "k", epoch.Add(time.Hour), nil)
	if later.State != store.QueueScheduled || later.ID <= now.ID {
		t.Fatalf("inserted for later: %+v, want scheduled with a larger id", later)
	}
	got, err := s.GetQueueItem(ctx, now.ID)
	must(t, err, "GetQueueItem")
	want := &store.QueueItem{ID: now.ID, Kind: "k", Args: json.RawMessage(`{"n":1}`), Queue: "default", Priority: 2,
		State: store.QueueAvailable, MaxAttempts: 3, Errors: []store.QueueError{}, CreatedAt: epoch, ScheduledAt: epoch}
	wantEqual(t, got, want, "GetQueueItem")
	_, err = s.GetQueueItem(ctx, later.ID+100)
	wantErr(t, err, store.ErrNotFound, "GetQueueItem of an unknown id")
}

func testQueueUnique(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	first := mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.UniqueKey = "u1" })
	dup := &store.QueueItem{Kind: "k", Args: json.RawMessage(`{"n":2}`), MaxAttempts: 3, UniqueKey: "u1", CreatedAt: epoch}
	ok, err := s.InsertQueueItem(ctx, dup)
	must(t, err, "InsertQueueItem of a taken key")
	if ok || dup.ID != first.ID || string(dup.Args) != `{"n":1}` {
		t.Fatalf("duplicate insert: inserted=%v, item %+v, want the existing item %d", ok, dup, first.ID)
	}
	byKey, err := s.GetQueueItemByKey(ctx, "u1")
	must(t, err, "GetQueueItemByKey")
	if byKey.ID != first.ID {
		t.Fatalf("GetQueueItemByKey = %d, want %d", byKey.ID, first.ID)
	}
	_, err = s.GetQueueItemByKey(ctx, "u2")
	wantErr(t, err, store.ErrNotFound, "GetQueueItemByKey of a free key")
	// Running still holds the key.
	mustClaim(t, s, "w", epoch, 1, "k")
	dup = &store.QueueItem{Kind: "k", MaxAttempts: 3, UniqueKey: "u1", CreatedAt: epoch}
	if ok, err := s.InsertQueueItem(ctx, dup); err != nil || ok {
		t.Fatalf("insert while the keyed item runs: %v, %v, want a no-op", ok, err)
	}
	// A finished item frees its key.
	cur, err := s.GetQueueItem(ctx, first.ID)
	must(t, err, "GetQueueItem")
	mustFinish(t, s, cur, store.QueueOutcome{State: store.QueueCompleted, Now: epoch})
	_, err = s.GetQueueItemByKey(ctx, "u1")
	wantErr(t, err, store.ErrNotFound, "GetQueueItemByKey of a finished item's key")
	again := mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.UniqueKey = "u1" })
	if again.ID == first.ID {
		t.Fatal("insert after the keyed item finished returned the finished item")
	}
	// Items without a key never collide.
	mustEnqueue(t, s, "k", time.Time{}, nil)
	mustEnqueue(t, s, "k", time.Time{}, nil)
}

// testQueueInsertInTx checks that an item commits and rolls back with the
// caller's transaction, and that a duplicate key inside it does not spoil
// the transaction.
func testQueueInsertInTx(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.UniqueKey = "taken" })
	var rolledBack *store.QueueItem
	err := s.InTx(ctx, func(tx store.Store) error {
		rolledBack = mustEnqueue(t, tx, "k", time.Time{}, nil)
		return errTxBoom
	})
	wantErr(t, err, errTxBoom, "InTx")
	_, err = s.GetQueueItem(ctx, rolledBack.ID)
	wantErr(t, err, store.ErrNotFound, "item of a rolled back transaction")

	select { // drain
	case <-s.QueueSignal():
	default:
	}
	var tn string
	var committed *store.QueueItem
	err = s.InTx(ctx, func(tx store.Store) error {
		tn = MustTenant(t, tx, "t").ID
		dup := &store.QueueItem{Kind: "k", MaxAttempts: 1, UniqueKey: "taken", CreatedAt: epoch}
		if ok, err := tx.InsertQueueItem(ctx, dup); err != nil || ok {
			t.Errorf("duplicate insert in a transaction: %v, %v", ok, err)
		}
		committed = mustEnqueue(t, tx, "k", time.Time{}, nil)
		select {
		case <-s.QueueSignal():
			t.Error("queue signal before the commit")
		default:
		}
		return nil
	})
	must(t, err, "InTx")
	select {
	case <-s.QueueSignal():
	default:
		t.Error("no queue signal after the commit of an insert")
	}
	if _, err := s.GetTenant(ctx, tn); err != nil {
		t.Fatalf("change committed with the item: %v", err)
	}
	if _, err := s.GetQueueItem(ctx, committed.ID); err != nil {
		t.Fatalf("item committed with the change: %v", err)
	}
}

func testQueueClaimOrder(t *testing.T, s store.Store) {
	a := mustEnqueue(t, s, "k", epoch.Add(2*time.Second), func(it *store.QueueItem) { it.Priority = 1 })
	b := mustEnqueue(t, s, "k", epoch.Add(1*time.Second), func(it *store.QueueItem) { it.Priority = 1 })
	c := mustEnqueue(t, s, "k", epoch.Add(1*time.Second), func(it *store.QueueItem) { it.Priority = 1 })
	d := mustEnqueue(t, s, "k", epoch.Add(3*time.Second), func(it *store.QueueItem) { it.Priority = 0 })
	future := mustEnqueue(t, s, "k", epoch.Add(time.Hour), func(it *store.QueueItem) { it.Priority = 0 })
	now := epoch.Add(10 * time.Second)
	got := mustClaim(t, s, "w", now, 3, "k")
	wantQueueIDs(t, got, []int64{d.ID, b.ID, c.ID}, "first claim")
	for _, it := range got {
		if it.State != store.QueueRunning || it.Attempt != 1 || it.LeaseOwner != "w" ||
			!it.LeaseUntil.Equal(now.Add(time.Minute)) || !it.AttemptedAt.Equal(now) {
			t.Fatalf("claimed %+v, want running, attempt 1, leased to w until now+1m", it)
		}
	}
	got = append(got, mustClaim(t, s, "w", now, 3, "k")...)
	wantQueueIDs(t, got[3:], []int64{a.ID}, "second claim")
	wantQueueIDs(t, mustClaim(t, s, "w", now, 3, "k"), nil, "claim with nothing due")
	for _, it := range got {
		mustFinish(t, s, it, store.QueueOutcome{State: store.QueueCompleted, Now: now})
	}
	wantQueueIDs(t, mustClaim(t, s, "w", epoch.Add(time.Hour), 3, "k"), []int64{future.ID}, "claim when the scheduled item is due")
}

func testQueueClaimFilters(t *testing.T, s store.Store) {
	a := mustEnqueue(t, s, "a", time.Time{}, nil)
	b := mustEnqueue(t, s, "b", time.Time{}, nil)
	other := mustEnqueue(t, s, "a", time.Time{}, func(it *store.QueueItem) { it.Queue = "other" })
	c := mustEnqueue(t, s, "c", time.Time{}, nil)
	wantQueueIDs(t, mustClaim(t, s, "w", epoch, 10), nil, "claim of no kinds")
	claim := func(queues []string, limit int, kinds ...string) []*store.QueueItem {
		t.Helper()
		its, err := s.ClaimQueueItems(ctxFor(t), store.QueueClaim{Kinds: kinds, Queues: queues,
			Owner: "w", Now: epoch, LeaseUntil: epoch.Add(time.Minute), Limit: limit})
		must(t, err, "ClaimQueueItems")
		return its
	}
	wantQueueIDs(t, claim(nil, 10, "a"), nil, "claim of no queues")
	wantQueueIDs(t, claim([]string{"default"}, 10, "a", "b"), []int64{a.ID, b.ID}, "claim of kinds a, b in queue default")
	// Queues are claimed in the order given, up to the limit.
	d := mustEnqueue(t, s, "c", time.Time{}, nil)
	wantQueueIDs(t, claim([]string{"other", "default"}, 2, "a", "c"), []int64{other.ID, c.ID}, "claim of queue other, then default")
	wantQueueIDs(t, claim([]string{"other", "default"}, 2, "a", "c"), []int64{d.ID}, "claim of what is left")
}

func testQueueLeaseExpiry(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	it := mustEnqueue(t, s, "k", time.Time{}, nil)
	first := mustClaim(t, s, "w1", epoch, 1, "k")[0]
	// A live lease is not claimable; extending it moves its end.
	wantQueueIDs(t, mustClaim(t, s, "w2", epoch.Add(59*time.Second), 1, "k"), nil, "claim under a live lease")
	must(t, s.ExtendQueueLease(ctx, first.Lease(), epoch.Add(2*time.Minute)), "ExtendQueueLease")
	wantQueueIDs(t, mustClaim(t, s, "w2", epoch.Add(90*time.Second), 1, "k"), nil, "claim under an extended lease")

	// Once it ended, another claimer takes it with the attempt counted.
	at := epoch.Add(2 * time.Minute)
	second := mustClaim(t, s, "w2", at, 1, "k")
	wantQueueIDs(t, second, []int64{it.ID}, "claim after the lease ended")
	if second[0].Attempt != 2 || second[0].LeaseOwner != "w2" {
		t.Fatalf("re-claimed %+v, want attempt 2 leased to w2", second[0])
	}
	// The first worker's lease is gone: it can neither extend nor finish.
	wantErr(t, s.ExtendQueueLease(ctx, first.Lease(), at.Add(time.Hour)), store.ErrNotFound, "ExtendQueueLease of a lost lease")
	_, err := s.FinishQueueItem(ctx, first.Lease(), store.QueueOutcome{State: store.QueueCompleted, Now: at})
	wantErr(t, err, store.ErrNotFound, "FinishQueueItem of a lost lease")
	// Even the same owner's older attempt is refused.
	stale := second[0].Lease()
	stale.Attempt = 1
	_, err = s.FinishQueueItem(ctx, stale, store.QueueOutcome{State: store.QueueCompleted, Now: at})
	wantErr(t, err, store.ErrNotFound, "FinishQueueItem of an older attempt")
	done := mustFinish(t, s, second[0], store.QueueOutcome{State: store.QueueCompleted, Now: at})
	if done.State != store.QueueCompleted || !done.FinalizedAt.Equal(at) || done.LeaseOwner != "" {
		t.Fatalf("completed %+v", done)
	}
}

func testQueueEndLeases(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	it := mustEnqueue(t, s, "k", time.Time{}, nil)
	mustEnqueue(t, s, "k", time.Time{}, nil) // stays available
	if n, err := s.EndQueueLeases(ctx, epoch); err != nil || n != 0 {
		t.Fatalf("EndQueueLeases with nothing running = %d, %v", n, err)
	}
	held := mustClaim(t, s, "dead-server", epoch, 1, "k")
	wantQueueIDs(t, held, []int64{it.ID}, "first claim")
	at := epoch.Add(time.Second)
	n, err := s.EndQueueLeases(ctx, at)
	must(t, err, "EndQueueLeases")
	if n != 1 {
		t.Errorf("EndQueueLeases ended %d leases, want 1", n)
	}
	// The item is claimable at once, as its next attempt.
	again := mustClaim(t, s, "new-server", at, 2, "k")
	if len(again) != 2 || again[0].ID != it.ID || again[0].Attempt != 2 || again[0].LeaseOwner != "new-server" {
		t.Fatalf("claims after EndQueueLeases = %+v, want the ended item first, attempt 2", again)
	}
}

func testQueueLeaseExpiryDead(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	it := mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.MaxAttempts = 1 })
	mustClaim(t, s, "w1", epoch, 1, "k")
	wantQueueIDs(t, mustClaim(t, s, "w2", epoch.Add(time.Hour), 1, "k"), nil, "claim of an expired last attempt")
	got, err := s.GetQueueItem(ctx, it.ID)
	must(t, err, "GetQueueItem")
	if got.State != store.QueueDiscarded || got.Attempt != 1 || len(got.Errors) != 1 || got.FinalizedAt.IsZero() {
		t.Fatalf("expired last attempt: %+v, want discarded with one error", got)
	}
}

func testQueueTransitions(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	at := epoch.Add(time.Second)
	for _, tc := range []struct {
		o           store.QueueOutcome
		wantAttempt int
		wantErrors  int
		final       bool
		due         time.Time // when it is claimable again; zero: never
	}{
		{store.QueueOutcome{State: store.QueueCompleted, Now: at}, 1, 0, true, time.Time{}},
		{store.QueueOutcome{State: store.QueueRetryable, At: at.Add(time.Minute), Error: "boom", Now: at}, 1, 1, false, at.Add(time.Minute)},
		{store.QueueOutcome{State: store.QueueScheduled, At: at.Add(time.Hour), Now: at}, 0, 0, false, at.Add(time.Hour)},
		{store.QueueOutcome{State: store.QueueAvailable, Now: at}, 0, 0, false, at},
		{store.QueueOutcome{State: store.QueueCancelled, Error: "no point", Now: at}, 1, 1, true, time.Time{}},
		{store.QueueOutcome{State: store.QueueDiscarded, Error: "last", Now: at}, 1, 1, true, time.Time{}},
	} {
		t.Run(tc.o.State, func(t *testing.T) {
			kind := "k-" + tc.o.State
			mustEnqueue(t, s, kind, time.Time{}, nil)
			it := mustClaim(t, s, "w", epoch, 1, kind)[0]
			got := mustFinish(t, s, it, tc.o)
			if got.State != tc.o.State || got.Attempt != tc.wantAttempt || len(got.Errors) != tc.wantErrors ||
				got.LeaseOwner != "" || !got.LeaseUntil.IsZero() || got.Finalized() != tc.final {
				t.Fatalf("after %s: %+v", tc.o.State, got)
			}
			if tc.wantErrors > 0 {
				e := got.Errors[0]
				if e.Attempt != 1 || !e.At.Equal(at) || e.Error != tc.o.Error {
					t.Fatalf("error %+v, want attempt 1 at %v: %q", e, at, tc.o.Error)
				}
			}
			if tc.final != !got.FinalizedAt.IsZero() {
				t.Fatalf("finalized_at %v for a final=%v state", got.FinalizedAt, tc.final)
			}
			_, err := s.FinishQueueItem(ctx, it.Lease(), store.QueueOutcome{State: store.QueueCompleted, Now: at})
			wantErr(t, err, store.ErrNotFound, "a second FinishQueueItem")
			if tc.due.IsZero() {
				wantQueueIDs(t, mustClaim(t, s, "w", at.Add(48*time.Hour), 1, kind), nil, "claim of a final item")
				return
			}
			wantQueueIDs(t, mustClaim(t, s, "w", tc.due.Add(-time.Microsecond), 1, kind), nil, "claim before it is due")
			again := mustClaim(t, s, "w", tc.due, 1, kind)
			wantQueueIDs(t, again, []int64{it.ID}, "claim once due")
			if again[0].Attempt != tc.wantAttempt+1 {
				t.Fatalf("claimed again at attempt %d, want %d", again[0].Attempt, tc.wantAttempt+1)
			}
		})
	}
	_, err := s.FinishQueueItem(ctx, store.QueueLease{ID: 1, Owner: "w", Attempt: 1}, store.QueueOutcome{State: "bogus", Now: at})
	if err == nil {
		t.Fatal("FinishQueueItem to an unknown state succeeded")
	}
}

func testQueueErrorsBounded(t *testing.T, s store.Store) {
	mustEnqueue(t, s, "k", time.Time{}, func(it *store.QueueItem) { it.MaxAttempts = 100 })
	now := epoch
	var last *store.QueueItem
	for i := range store.MaxQueueErrors + 3 {
		it := mustClaim(t, s, "w", now, 1, "k")[0]
		last = mustFinish(t, s, it, store.QueueOutcome{State: store.QueueRetryable, At: now,
			Error: fmt.Sprintf("failure %d", i+1), Now: now})
		now = now.Add(time.Second)
	}
	if len(last.Errors) != store.MaxQueueErrors {
		t.Fatalf("%d errors kept, want %d", len(last.Errors), store.MaxQueueErrors)
	}
	if first, end := last.Errors[0], last.Errors[len(last.Errors)-1]; first.Attempt != 4 || end.Attempt != store.MaxQueueErrors+3 ||
		end.Error != fmt.Sprintf("failure %d", store.MaxQueueErrors+3) {
		t.Fatalf("kept errors from attempt %d to %d (%q), want the last ones", first.Attempt, end.Attempt, end.Error)
	}
}

func testQueueCountsList(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	var all []*store.QueueItem
	for range 3 {
		all = append(all, mustEnqueue(t, s, "a", time.Time{}, nil))
	}
	all = append(all, mustEnqueue(t, s, "b", epoch.Add(time.Hour), nil))
	mustFinish(t, s, mustClaim(t, s, "w", epoch, 1, "a")[0], store.QueueOutcome{State: store.QueueCompleted, Now: epoch})
	mustClaim(t, s, "w", epoch, 1, "a")
	counts, err := s.QueueCounts(ctx)
	must(t, err, "QueueCounts")
	want := map[string]map[string]int64{
		"a": {store.QueueAvailable: 1, store.QueueRunning: 1},
		"b": {store.QueueScheduled: 1},
	}
	wantEqual(t, counts, want, "QueueCounts")

	got, err := s.ListQueueItems(ctx, store.QueueFilter{})
	must(t, err, "ListQueueItems")
	wantQueueIDs(t, got, queueIDs(all), "ListQueueItems")
	got, err = s.ListQueueItems(ctx, store.QueueFilter{Kind: "a", State: store.QueueCompleted})
	must(t, err, "ListQueueItems")
	wantQueueIDs(t, got, []int64{all[0].ID}, "ListQueueItems of a's completed")
	got, err = s.ListQueueItems(ctx, store.QueueFilter{AfterID: all[1].ID, Limit: 1})
	must(t, err, "ListQueueItems")
	wantQueueIDs(t, got, []int64{all[2].ID}, "ListQueueItems page")
}

func testQueuePrune(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	finish := func(state string, at time.Time) *store.QueueItem {
		kind := "k-" + state
		mustEnqueue(t, s, kind, time.Time{}, nil)
		return mustFinish(t, s, mustClaim(t, s, "w", epoch, 1, kind)[0], store.QueueOutcome{State: state, Now: at, Error: "x"})
	}
	oldDone := finish(store.QueueCompleted, epoch)
	oldDone2 := finish(store.QueueCompleted, epoch.Add(time.Second))
	newDone := finish(store.QueueCompleted, epoch.Add(time.Hour))
	oldDead := finish(store.QueueDiscarded, epoch)
	pending := mustEnqueue(t, s, "k-pending", time.Time{}, nil)
	cut := epoch.Add(time.Minute)

	n, err := s.PruneQueueItems(ctx, store.QueueCompleted, cut, 1)
	must(t, err, "PruneQueueItems")
	if n != 1 {
		t.Fatalf("pruned %d with limit 1", n)
	}
	n, err = s.PruneQueueItems(ctx, store.QueueCompleted, cut, 0)
	must(t, err, "PruneQueueItems")
	if n != 1 {
		t.Fatalf("pruned %d more, want 1", n)
	}
	for _, it := range []*store.QueueItem{oldDone, oldDone2} {
		_, err := s.GetQueueItem(ctx, it.ID)
		wantErr(t, err, store.ErrNotFound, "pruned item")
	}
	for _, it := range []*store.QueueItem{newDone, oldDead, pending} {
		if _, err := s.GetQueueItem(ctx, it.ID); err != nil {
			t.Fatalf("item %d (%s) pruned: %v", it.ID, it.State, err)
		}
	}
	if n, err := s.PruneQueueItems(ctx, store.QueueDiscarded, cut, 0); err != nil || n != 1 {
		t.Fatalf("PruneQueueItems(discarded) = %d, %v, want 1", n, err)
	}
	if _, err := s.PruneQueueItems(ctx, store.QueueAvailable, cut, 0); err == nil {
		t.Fatal("PruneQueueItems of an unfinished state succeeded")
	}
}

// testQueueClaimConcurrent runs several claimers at once over one backlog:
// every item is claimed exactly once.
func testQueueClaimConcurrent(t *testing.T, s store.Store) {
	const items, claimers = 300, 6
	for range items {
		mustEnqueue(t, s, "k", time.Time{}, nil)
	}
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		wg      sync.WaitGroup
		errs    = make(chan error, claimers)
	)
	for w := range claimers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				its, err := s.ClaimQueueItems(ctxFor(t), store.QueueClaim{Kinds: []string{"k"}, Queues: []string{"default"},
					Owner: owner, Now: epoch, LeaseUntil: epoch.Add(time.Hour), Limit: 7})
				if err != nil {
					errs <- err
					return
				}
				if len(its) == 0 {
					return
				}
				mu.Lock()
				for _, it := range its {
					if prev, dup := claimed[it.ID]; dup {
						errs <- fmt.Errorf("item %d claimed by %s and %s", it.ID, prev, owner)
					}
					claimed[it.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != items {
		t.Fatalf("%d items claimed, want %d", len(claimed), items)
	}
}

// queueBenchSize is how many items benchQueueClaim queues: 100,000, 10,000
// under -short, or ATELIER_BENCH_QUEUE_ITEMS when set (the bench runner's
// -queue-items).
func queueBenchSize() int {
	if n, err := strconv.Atoi(os.Getenv("ATELIER_BENCH_QUEUE_ITEMS")); err == nil && n >= 10 {
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// queueClaimBatch is how many items one claim of benchQueueClaim takes.
const queueClaimBatch = 10

// benchQueueClaim queues queueBenchSize items of one kind in a fresh store
// (in transactions of 1000) and claims them all, queueClaimBatch at a
// time, as a client with free workers does. It reports claims/s over the
// whole drain, and over the claims of the first and of the last 10% of the
// items: a claim must cost the same whatever the backlog and however many
// items were already claimed.
func benchQueueClaim(b *testing.B, open func(b *testing.B) store.Store) {
	size := queueBenchSize()
	var first, last, all time.Duration
	var nFirst, nLast, nAll int
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		ctx := b.Context()
		for start := 0; start < size; start += 1000 {
			err := s.InTx(ctx, func(tx store.Store) error {
				for i := start; i < min(start+1000, size); i++ {
					it := &store.QueueItem{Kind: "bench", Args: json.RawMessage(`{}`), Queue: "default", MaxAttempts: 3,
						CreatedAt: epoch.Add(time.Duration(i) * time.Microsecond)}
					if _, err := tx.InsertQueueItem(ctx, it); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		now := epoch.Add(time.Hour)
		claim := store.QueueClaim{Kinds: []string{"bench"}, Queues: []string{"default"}, Owner: "bench", Now: now,
			LeaseUntil: now.Add(time.Hour), Limit: queueClaimBatch}
		b.StartTimer()
		for claimed := 0; claimed < size; {
			t0 := time.Now()
			its, err := s.ClaimQueueItems(ctx, claim)
			took := time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if len(its) == 0 {
				b.Fatalf("claim found nothing after %d of %d items", claimed, size)
			}
			switch {
			case claimed < size/10:
				first += took
				nFirst++
			case claimed >= size-size/10:
				last += took
				nLast++
			}
			all += took
			nAll++
			claimed += len(its)
		}
		b.StopTimer()
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(nAll)/all.Seconds(), "claims/s")
	b.ReportMetric(float64(nFirst)/first.Seconds(), "first10%_claims/s")
	b.ReportMetric(float64(nLast)/last.Seconds(), "last10%_claims/s")
	b.ReportMetric(float64(size), "items")
}
