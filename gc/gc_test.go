package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/gc"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/store/storetest"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MustOpenStore opens a fresh SQLite store in the test's directory.
func MustOpenStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "atelier.db"))
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// fixture holds one record of each kind on each side of its cut-off.
type fixture struct {
	liveToken, deadToken         string
	liveChallenge, deadChallenge string
	newDelivery, oldDelivery     string
	newItem, oldItem, deadItem   int64
	pending                      int64
}

// newFixture fills st as seen at now = epoch + 30 days, with the default
// retention periods.
func newFixture(t *testing.T, st store.Store, now time.Time) fixture {
	t.Helper()
	ctx := t.Context()
	var f fixture
	tn := storetest.MustTenant(t, st, "t")
	u := storetest.MustUser(t, st, tn.ID, "alice")
	for _, tc := range []struct {
		exp  time.Time
		hash *string
	}{{now.Add(time.Hour), &f.liveToken}, {now.Add(-time.Second), &f.deadToken}} {
		tk := &atelier.Token{Hash: atelier.NewSecret(32), Kind: atelier.TokenSession, UserID: u.ID, TenantID: tn.ID,
			ClientID: atelier.CLIClientID, CreatedAt: epoch, ExpiresAt: tc.exp}
		must(t, st.CreateToken(ctx, tk))
		*tc.hash = tk.Hash
	}
	for _, tc := range []struct {
		exp time.Time
		id  *string
	}{{now.Add(time.Minute), &f.liveChallenge}, {now.Add(-time.Minute), &f.deadChallenge}} {
		c := &store.Challenge{ID: atelier.NewID() + ":email", UserID: u.ID, Channel: "email", CodeHash: "h",
			SentAt: epoch, ExpiresAt: tc.exp, CreatedAt: epoch}
		must(t, st.PutChallenge(ctx, c))
		*tc.id = c.ID
	}
	// An event no subscription lists, fanned out 30 days ago (by the first
	// FanOut below) to no one, and two deliveries, delivered 8 days and 1
	// day before now.
	must(t, st.AppendEvent(ctx, &atelier.Event{TenantID: tn.ID, Type: atelier.EventCreateUser, Subject: u.ID,
		Data: json.RawMessage(`{}`), CreatedAt: epoch}))
	storetest.MustApp(t, st, tn.ID, "app")
	must(t, st.PutSubscription(ctx, &atelier.Subscription{ClientID: "app", TenantID: tn.ID, URL: "https://app.example.com/cb",
		EventTypes: []string{"E"}, Enabled: true, Sealed: "s", CreatedAt: epoch, UpdatedAt: epoch}))
	for _, tc := range []struct {
		at time.Time
		id *string
	}{{now.Add(-8 * 24 * time.Hour), &f.oldDelivery}, {now.Add(-24 * time.Hour), &f.newDelivery}} {
		must(t, st.AppendEvent(ctx, &atelier.Event{TenantID: tn.ID, Type: "E", Subject: atelier.NewID(),
			Data: json.RawMessage(`{}`), CreatedAt: tc.at}))
		if _, err := st.FanOut(ctx, tc.at, 10, func() (string, string) { return atelier.NewID(), atelier.NewID() }); err != nil {
			t.Fatal(err)
		}
		cs, err := st.ClaimDeliveries(ctx, store.Claim{Now: tc.at, LeaseUntil: tc.at.Add(time.Minute), Limit: 1})
		if err != nil || len(cs) != 1 {
			t.Fatalf("claim: %v, %v", cs, err)
		}
		d := cs[0].Delivery
		must(t, st.FinishAttempt(ctx, d.ID, cs[0].LeaseToken, &atelier.DeliveryAttempt{DeliveryID: d.ID, N: d.Attempts, At: tc.at, Status: 200, OK: true},
			store.Outcome{State: atelier.DeliveryDelivered, Now: tc.at}))
		*tc.id = d.ID
	}
	// Queue items finished 2 days and 1 hour before now, one dead 2 days
	// before, one pending.
	item := func(state string, at time.Time) int64 {
		it := &store.QueueItem{Kind: "k-" + state, MaxAttempts: 1, CreatedAt: at}
		_, err := st.InsertQueueItem(ctx, it)
		must(t, err)
		cs, err := st.ClaimQueueItems(ctx, store.QueueClaim{Kinds: []string{it.Kind}, Queues: []string{""}, Owner: "w", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 1})
		if err != nil || len(cs) != 1 {
			t.Fatalf("claim: %v, %v", cs, err)
		}
		_, err = st.FinishQueueItem(ctx, cs[0].Lease(), store.QueueOutcome{State: state, Now: at, Error: "x"})
		must(t, err)
		return it.ID
	}
	f.oldItem = item(store.QueueCompleted, now.Add(-48*time.Hour))
	f.newItem = item(store.QueueCompleted, now.Add(-time.Hour))
	f.deadItem = item(store.QueueDiscarded, now.Add(-48*time.Hour))
	p := &store.QueueItem{Kind: "pending", MaxAttempts: 1, CreatedAt: epoch}
	_, err := st.InsertQueueItem(ctx, p)
	must(t, err)
	f.pending = p.ID
	return f
}

func TestCollect(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	now := epoch.Add(30 * 24 * time.Hour)
	f := newFixture(t, st, now)
	c, err := gc.New(gc.Options{Store: st, Clock: clock.NewFake(now), Batch: 1})
	must(t, err)
	r, err := c.Collect(t.Context())
	must(t, err)
	// Events: the old delivery's and the one fanned out to no subscription
	// 30 days ago.
	want := gc.Result{Tokens: 1, Challenges: 1, Deliveries: 1, Events: 2, QueueItems: 1}
	if r != want {
		t.Fatalf("Collect = %+v, want %+v", r, want)
	}
	ctx := t.Context()
	gone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want deleted", what, err)
		}
	}
	kept := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want kept", what, err)
		}
	}
	_, err = st.GetToken(ctx, f.deadToken)
	gone("expired token", err)
	_, err = st.GetToken(ctx, f.liveToken)
	kept("live token", err)
	_, err = st.GetChallenge(ctx, f.deadChallenge)
	gone("expired challenge", err)
	_, err = st.GetChallenge(ctx, f.liveChallenge)
	kept("live challenge", err)
	_, err = st.GetDelivery(ctx, "app", f.oldDelivery)
	gone("delivery past retention", err)
	_, err = st.GetDelivery(ctx, "app", f.newDelivery)
	kept("recent delivery", err)
	_, err = st.GetQueueItem(ctx, f.oldItem)
	gone("completed item past retention", err)
	for what, id := range map[string]int64{"recent item": f.newItem, "dead item": f.deadItem, "pending item": f.pending} {
		_, err = st.GetQueueItem(ctx, id)
		kept(what, err)
	}

	// Past the dead items' retention, they go too.
	c, err = gc.New(gc.Options{Store: st, Clock: clock.NewFake(now.Add(6 * 24 * time.Hour))})
	must(t, err)
	r, err = c.Collect(ctx)
	must(t, err)
	if r.DeadQueued != 1 {
		t.Fatalf("second Collect = %+v, want the dead item", r)
	}
}

// TestRun checks that Run collects at once and on every tick, and ends with
// its context.
func TestRun(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	clk := clock.NewFake(epoch)
	passes := make(chan gc.Result, 10)
	c, err := gc.New(gc.Options{Store: st, Clock: clk, Every: time.Minute})
	must(t, err)
	gc.SetOnPass(c, func(r gc.Result, err error) { passes <- r })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	next := func() gc.Result {
		t.Helper()
		select {
		case r := <-passes:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no gc pass")
		}
		return gc.Result{}
	}
	next() // at once
	tn := storetest.MustTenant(t, st, "t")
	u := storetest.MustUser(t, st, tn.ID, "alice")
	must(t, st.CreateToken(t.Context(), &atelier.Token{Hash: "h", Kind: atelier.TokenSession, UserID: u.ID, TenantID: tn.ID,
		CreatedAt: epoch, ExpiresAt: epoch.Add(30 * time.Second)}))
	clk.Advance(time.Minute)
	if r := next(); r.Tokens != 1 {
		t.Fatalf("pass after a minute deleted %+v, want the expired token", r)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// TestSweepers: a pass runs the sweepers after the store's parts, each on
// its own, and reports their failures by name.
func TestSweepers(t *testing.T) {
	st := MustOpenStore(t)
	var ran []string
	c, err := gc.New(gc.Options{Store: st, Sweepers: []gc.Sweeper{
		{Name: "first", Sweep: func(context.Context) error { ran = append(ran, "first"); return errors.New("disk on fire") }},
		{Name: "second", Sweep: func(context.Context) error { ran = append(ran, "second"); return nil }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Collect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "first") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Collect = %v, want the first sweeper's failure by name", err)
	}
	if strings.Join(ran, " ") != "first second" {
		t.Errorf("ran %v, want both in order", ran)
	}
}
