package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// callbackTests are the tests of CallbackStore: subscriptions, fan-out,
// claims, attempts and redelivery.
func callbackTests() []test {
	return []test{
		{"SubscriptionCRUD", testCBSubscriptionCRUD},
		{"UpdateSubscriptionFnError", testCBUpdateSubscriptionFnError},
		{"DeleteSubscriptionDeliveries", testCBDeleteSubscription},
		{"FanOut", testCBFanOut},
		{"FanOutLimit", testCBFanOutLimit},
		{"ListDeliveries", testCBListDeliveries},
		{"ClaimDue", testCBClaimDue},
		{"ClaimDisabled", testCBClaimDisabled},
		{"ClaimSkipApps", testCBClaimSkipApps},
		{"ClaimOrdered", testCBClaimOrdered},
		{"ClaimMaxPerApp", testCBClaimMaxPerApp},
		{"ClaimTurns", testCBClaimTurns},
		{"ClaimProbeApps", testCBClaimProbeApps},
		{"FinishAttempt", testCBFinishAttempt},
		{"Redeliver", testCBRedeliver},
		{"Counts", testCBCounts},
		{"Prune", testCBPrune},
		{"ClaimConcurrent", testCBClaimConcurrent},
		{"FanOutConcurrent", testCBFanOutConcurrent},
		{"ClaimCapConcurrent", testCBClaimCapConcurrent},
	}
}

// cbNewID is a FanOut id source.
func cbNewID() (string, string) { return atelier.NewID(), atelier.NewID() }

// cbSub puts a subscription of app clientID in the tenant to the event
// types, enabled and unordered unless fn changes it.
func cbSub(t testing.TB, s store.Store, tenantID, clientID string, types []string, fn func(*atelier.Subscription)) *atelier.Subscription {
	t.Helper()
	sub := &atelier.Subscription{
		ClientID: clientID, TenantID: tenantID, URL: "https://" + clientID + ".example.com/cb",
		EventTypes: types, Enabled: true, Sealed: "sealed-" + clientID, CreatedAt: epoch, UpdatedAt: epoch,
	}
	if fn != nil {
		fn(sub)
	}
	must(t, s.PutSubscription(ctxFor(t), sub), "PutSubscription")
	return sub
}

// cbEvent appends an event of the type about subject, committed at at.
func cbEvent(t testing.TB, s store.Store, tenantID, typ, subject string, at time.Time) *atelier.Event {
	t.Helper()
	e := &atelier.Event{TenantID: tenantID, Type: typ, Subject: subject,
		Data: json.RawMessage(fmt.Sprintf(`{"id":%q}`, subject)), CreatedAt: at}
	must(t, s.AppendEvent(ctxFor(t), e), "AppendEvent")
	return e
}

// cbFanOut fans out every pending event at now.
func cbFanOut(t testing.TB, s store.Store, now time.Time) int {
	t.Helper()
	n, err := s.FanOut(ctxFor(t), now, 1000, cbNewID)
	must(t, err, "FanOut")
	return n
}

// cbClaim claims up to limit deliveries at now, leased for a minute.
func cbClaim(t testing.TB, s store.Store, now time.Time, limit, maxPerApp int) []*store.ClaimedDelivery {
	t.Helper()
	cs, err := s.ClaimDeliveries(ctxFor(t), store.Claim{Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit, MaxPerApp: maxPerApp})
	must(t, err, "ClaimDeliveries")
	return cs
}

// cbFinish records attempt N (the claim's Attempts) of c with outcome state.
func cbFinish(t testing.TB, s store.Store, c *store.ClaimedDelivery, state string, now, next time.Time) {
	t.Helper()
	a := &atelier.DeliveryAttempt{DeliveryID: c.Delivery.ID, N: c.Delivery.Attempts, At: now, Status: 200,
		OK: state == atelier.DeliveryDelivered}
	must(t, s.FinishAttempt(ctxFor(t), c.Delivery.ID, c.LeaseToken, a,
		store.Outcome{State: state, NextAttemptAt: next, Now: now}), "FinishAttempt")
}

// claimedSubjects returns "client:subject" of each claim, in order.
func claimedSubjects(cs []*store.ClaimedDelivery) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Delivery.ClientID+":"+c.Delivery.Subject)
	}
	return out
}

func testCBSubscriptionCRUD(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	_, err := s.GetSubscription(ctx, "app")
	wantErr(t, err, store.ErrNotFound, "GetSubscription of none")
	sub := cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser, atelier.EventTrainingJobState}, func(sub *atelier.Subscription) {
		sub.Ordered, sub.Enabled, sub.Encrypted = true, false, true
		sub.SealedNext, sub.NextAt = "sealed-next", epoch.Add(time.Hour)
	})
	got, err := s.GetSubscription(ctx, "app")
	must(t, err, "GetSubscription")
	wantEqual(t, got, sub, "GetSubscription")

	// Put replaces every field.
	repl := cbSub(t, s, tn.ID, "app", nil, func(sub *atelier.Subscription) { sub.UpdatedAt = time.Time{} })
	got, err = s.GetSubscription(ctx, "app")
	must(t, err, "GetSubscription")
	wantEqual(t, got, repl, "GetSubscription after replace")
	if len(got.EventTypes) != 0 || got.EventTypes == nil || !got.NextAt.IsZero() || got.SealedNext != "" {
		t.Errorf("replaced subscription = %+v", got)
	}

	upd, err := s.UpdateSubscription(ctx, "app", func(sub *atelier.Subscription) error {
		sub.ClientID, sub.TenantID = "other", "other"
		sub.URL, sub.EventTypes = "https://new.example.com/", []string{atelier.EventDeleteOrganization}
		sub.Ordered, sub.Encrypted, sub.Sealed = true, true, "sealed-2"
		sub.SealedNext, sub.NextAt, sub.UpdatedAt = "sealed-3", epoch.Add(2*time.Hour), epoch.Add(time.Second)
		return nil
	})
	must(t, err, "UpdateSubscription")
	want := &atelier.Subscription{ClientID: "app", TenantID: tn.ID, URL: "https://new.example.com/",
		EventTypes: []string{atelier.EventDeleteOrganization}, Ordered: true, Enabled: true, Encrypted: true,
		Sealed: "sealed-2", SealedNext: "sealed-3", NextAt: epoch.Add(2 * time.Hour), CreatedAt: epoch,
		UpdatedAt: epoch.Add(time.Second)}
	wantEqual(t, upd, want, "UpdateSubscription")
	got, err = s.GetSubscription(ctx, "app")
	must(t, err, "GetSubscription")
	wantEqual(t, got, want, "GetSubscription after update")
	_, err = s.GetSubscription(ctx, "other")
	wantErr(t, err, store.ErrNotFound, "GetSubscription of the changed client id")

	_, err = s.UpdateSubscription(ctx, "none", func(*atelier.Subscription) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateSubscription of none")
	wantErr(t, s.DeleteSubscription(ctx, "none"), store.ErrNotFound, "DeleteSubscription of none")
	must(t, s.DeleteSubscription(ctx, "app"), "DeleteSubscription")
	_, err = s.GetSubscription(ctx, "app")
	wantErr(t, err, store.ErrNotFound, "GetSubscription after delete")
	wantErr(t, s.DeleteSubscription(ctx, "app"), store.ErrNotFound, "DeleteSubscription twice")
}

func testCBUpdateSubscriptionFnError(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	sub := cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	_, err := s.UpdateSubscription(ctx, "app", func(sub *atelier.Subscription) error {
		sub.URL = "https://changed.example.com/"
		return errStop
	})
	wantErr(t, err, errStop, "UpdateSubscription fn error")
	got, err := s.GetSubscription(ctx, "app")
	must(t, err, "GetSubscription")
	wantEqual(t, got, sub, "subscription after aborted update")
}

func testCBDeleteSubscription(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	for _, subj := range []string{"a", "b", "c"} {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, subj, epoch)
	}
	cbFanOut(t, s, epoch)
	cs := cbClaim(t, s, epoch, 1, 0)
	cbFinish(t, s, cs[0], atelier.DeliveryDelivered, epoch, time.Time{})
	delivered := cs[0].Delivery.ID
	inFlight := cbClaim(t, s, epoch, 1, 0)
	if len(inFlight) != 1 {
		t.Fatalf("second claim took %d", len(inFlight))
	}
	must(t, s.DeleteSubscription(ctx, "app"), "DeleteSubscription")
	ds, err := s.ListDeliveries(ctx, "app", atelier.DeliveryFilter{})
	must(t, err, "ListDeliveries")
	if len(ds) != 1 || ds[0].ID != delivered || ds[0].State != atelier.DeliveryDelivered {
		t.Fatalf("deliveries after delete = %+v, want only the delivered one", ds)
	}
	as, err := s.ListAttempts(ctx, delivered)
	must(t, err, "ListAttempts")
	if len(as) != 1 {
		t.Errorf("attempts of the delivered one = %d, want 1", len(as))
	}
	c := inFlight[0]
	err = s.FinishAttempt(ctx, c.Delivery.ID, c.LeaseToken, &atelier.DeliveryAttempt{DeliveryID: c.Delivery.ID, N: 1, At: epoch},
		store.Outcome{State: atelier.DeliveryDelivered, Now: epoch})
	wantErr(t, err, store.ErrNotFound, "FinishAttempt after the subscription was deleted")
}

func testCBFanOut(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a, b := MustTenant(t, s, "a"), MustTenant(t, s, "b")
	cbSub(t, s, a.ID, "app1", []string{atelier.EventCreateUser, atelier.EventDeleteUser}, nil)
	cbSub(t, s, a.ID, "app2", []string{atelier.EventUpdateUser, atelier.EventCreateUser}, func(s *atelier.Subscription) { s.Enabled = false })
	cbSub(t, s, a.ID, "app3", []string{atelier.EventTrainingJobState}, nil)
	cbSub(t, s, b.ID, "app4", []string{atelier.EventCreateUser, atelier.EventDeleteUser}, nil)
	created := cbEvent(t, s, a.ID, atelier.EventCreateUser, "u1", epoch)
	updated := cbEvent(t, s, a.ID, atelier.EventUpdateUser, "u1", epoch.Add(time.Second))
	cbEvent(t, s, b.ID, atelier.EventUpdateUser, "u2", epoch.Add(2*time.Second))
	if created.ID == 0 || updated.ID <= created.ID {
		t.Fatalf("event ids %d, %d: want increasing", created.ID, updated.ID)
	}
	got, err := s.GetEvent(ctx, created.ID)
	must(t, err, "GetEvent")
	wantEqual(t, got, created, "GetEvent")
	_, err = s.GetEvent(ctx, updated.ID+100)
	wantErr(t, err, store.ErrNotFound, "GetEvent of none")

	now := epoch.Add(time.Minute)
	if n := cbFanOut(t, s, now); n != 3 {
		t.Fatalf("FanOut took %d events, want 3", n)
	}
	if n := cbFanOut(t, s, now); n != 0 {
		t.Fatalf("second FanOut took %d events, want 0", n)
	}
	list := func(app string) []*atelier.Delivery {
		ds, err := s.ListDeliveries(ctx, app, atelier.DeliveryFilter{})
		must(t, err, "ListDeliveries")
		return ds
	}
	d1 := list("app1")
	if len(d1) != 1 {
		t.Fatalf("app1 deliveries = %d, want 1", len(d1))
	}
	d := d1[0]
	if d.ID == "" || d.Nonce == "" || d.Nonce == d.ID {
		t.Errorf("delivery id %q nonce %q", d.ID, d.Nonce)
	}
	want := &atelier.Delivery{ID: d.ID, ClientID: "app1", TenantID: a.ID, EventID: created.ID,
		EventType: atelier.EventCreateUser, Subject: "u1", Nonce: d.Nonce, State: atelier.DeliveryPending,
		NextAttemptAt: now, CreatedAt: epoch, UpdatedAt: now}
	wantEqual(t, d, want, "app1 delivery")
	gd, err := s.GetDelivery(ctx, "app1", d.ID)
	must(t, err, "GetDelivery")
	wantEqual(t, gd, want, "GetDelivery")
	_, err = s.GetDelivery(ctx, "app2", d.ID)
	wantErr(t, err, store.ErrNotFound, "GetDelivery of another app")

	// A disabled subscription still gets its deliveries queued.
	d2 := list("app2")
	if len(d2) != 2 || d2[0].EventID != updated.ID || d2[1].EventID != created.ID || d2[0].Nonce == d.Nonce {
		t.Errorf("app2 deliveries = %+v, want the update and the create", d2)
	}
	if n := len(list("app3")); n != 0 {
		t.Errorf("app3 (other type) deliveries = %d, want 0", n)
	}
	if n := len(list("app4")); n != 0 {
		t.Errorf("app4 (other tenant) deliveries = %d, want 0", n)
	}
}

func testCBFanOutLimit(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	var evs []*atelier.Event
	for i := range 3 {
		evs = append(evs, cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch))
	}
	for i, want := range []int{2, 1, 0} {
		n, err := s.FanOut(ctx, epoch, 2, cbNewID)
		must(t, err, "FanOut")
		if n != want {
			t.Fatalf("FanOut #%d took %d, want %d", i, n, want)
		}
		if i == 0 {
			ds, err := s.ListDeliveries(ctx, "app", atelier.DeliveryFilter{})
			must(t, err, "ListDeliveries")
			if len(ds) != 2 || ds[0].EventID != evs[1].ID || ds[1].EventID != evs[0].ID {
				t.Fatalf("deliveries after the first FanOut = %+v, want the oldest two events'", ds)
			}
		}
	}
}

func testCBListDeliveries(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	var ids []int64 // event ids, oldest first
	for i := range 5 {
		ids = append(ids, cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch.Add(time.Duration(i)*time.Hour)).ID)
	}
	cbFanOut(t, s, epoch)
	cs := cbClaim(t, s, epoch, 1, 0) // the oldest goes IN_FLIGHT
	if len(cs) != 1 || cs[0].Delivery.EventID != ids[0] {
		t.Fatalf("claim = %v", claimedSubjects(cs))
	}
	eventIDs := func(f atelier.DeliveryFilter) []int64 {
		ds, err := s.ListDeliveries(ctx, "app", f)
		must(t, err, "ListDeliveries")
		var out []int64
		for _, d := range ds {
			out = append(out, d.EventID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    atelier.DeliveryFilter
		want []int64
	}{
		{"all", atelier.DeliveryFilter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"limit", atelier.DeliveryFilter{Limit: 2}, []int64{ids[4], ids[3]}},
		{"before", atelier.DeliveryFilter{BeforeEvent: ids[3], Limit: 2}, []int64{ids[2], ids[1]}},
		{"state", atelier.DeliveryFilter{State: atelier.DeliveryInFlight}, []int64{ids[0]}},
		{"since", atelier.DeliveryFilter{Since: epoch.Add(3 * time.Hour)}, []int64{ids[4], ids[3]}},
		{"until", atelier.DeliveryFilter{Until: epoch.Add(time.Hour)}, []int64{ids[0]}},
		{"range", atelier.DeliveryFilter{Since: epoch.Add(time.Hour), Until: epoch.Add(3 * time.Hour),
			State: atelier.DeliveryPending}, []int64{ids[2], ids[1]}},
	} {
		if got := eventIDs(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: event ids = %v, want %v", tc.name, got, tc.want)
		}
	}
	ds, err := s.ListDeliveries(ctx, "other", atelier.DeliveryFilter{})
	must(t, err, "ListDeliveries")
	if len(ds) != 0 {
		t.Errorf("another app lists %d deliveries", len(ds))
	}
}

func testCBClaimDue(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	sub := cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	e1 := cbEvent(t, s, tn.ID, atelier.EventCreateUser, "u1", epoch)
	e2 := cbEvent(t, s, tn.ID, atelier.EventCreateUser, "u2", epoch)
	cbFanOut(t, s, epoch)

	if cs := cbClaim(t, s, epoch.Add(-time.Second), 10, 0); len(cs) != 0 {
		t.Fatalf("claim before due = %v", claimedSubjects(cs))
	}
	first := cbClaim(t, s, epoch, 1, 0)
	if len(first) != 1 {
		t.Fatalf("claim took %d, want 1", len(first))
	}
	c := first[0]
	if c.Delivery.EventID != e1.ID || c.Delivery.State != atelier.DeliveryInFlight || c.Delivery.Attempts != 1 || c.LeaseToken == "" {
		t.Errorf("claimed delivery = %+v, token %q", c.Delivery, c.LeaseToken)
	}
	wantEqual(t, c.Event, e1, "claimed event")
	wantEqual(t, c.Subscription, sub, "claimed subscription")
	got, err := s.GetDelivery(ctx, "app", c.Delivery.ID)
	must(t, err, "GetDelivery")
	wantEqual(t, got, c.Delivery, "GetDelivery after claim")

	// The first is leased: only the second is left.
	second := cbClaim(t, s, epoch.Add(30*time.Second), 10, 0)
	if len(second) != 1 || second[0].Delivery.EventID != e2.ID {
		t.Fatalf("second claim = %v, want the second event", claimedSubjects(second))
	}
	if second[0].LeaseToken == c.LeaseToken {
		t.Error("two claims share a lease token")
	}
	if cs := cbClaim(t, s, epoch.Add(59*time.Second), 10, 0); len(cs) != 0 {
		t.Fatalf("claim while leased = %v", claimedSubjects(cs))
	}
	// The first lease ended at epoch+1m: it is claimed again.
	again := cbClaim(t, s, epoch.Add(time.Minute), 10, 0)
	if len(again) != 1 || again[0].Delivery.ID != c.Delivery.ID || again[0].Delivery.Attempts != 2 {
		t.Fatalf("reclaim = %+v", again)
	}
	if again[0].LeaseToken == c.LeaseToken {
		t.Error("reclaim kept the lease token")
	}
	a := &atelier.DeliveryAttempt{DeliveryID: c.Delivery.ID, N: 1, At: epoch}
	o := store.Outcome{State: atelier.DeliveryDelivered, Now: epoch.Add(time.Minute)}
	wantErr(t, s.FinishAttempt(ctx, c.Delivery.ID, c.LeaseToken, a, o), store.ErrNotFound, "FinishAttempt with a lost lease")
	wantErr(t, s.FinishAttempt(ctx, c.Delivery.ID, "wrong", a, o), store.ErrNotFound, "FinishAttempt with a wrong token")
	wantErr(t, s.FinishAttempt(ctx, "none", again[0].LeaseToken, a, o), store.ErrNotFound, "FinishAttempt of none")
	as, err := s.ListAttempts(ctx, c.Delivery.ID)
	must(t, err, "ListAttempts")
	if len(as) != 0 {
		t.Errorf("refused finishes recorded %d attempts", len(as))
	}
	cbFinish(t, s, again[0], atelier.DeliveryDelivered, epoch.Add(time.Minute), time.Time{})
}

func testCBClaimDisabled(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, func(s *atelier.Subscription) { s.Enabled = false })
	cbEvent(t, s, tn.ID, atelier.EventCreateUser, "u1", epoch)
	cbFanOut(t, s, epoch)
	if cs := cbClaim(t, s, epoch, 10, 0); len(cs) != 0 {
		t.Fatalf("claim of a disabled subscription = %v", claimedSubjects(cs))
	}
	_, err := s.UpdateSubscription(ctx, "app", func(s *atelier.Subscription) error { s.Enabled = true; return nil })
	must(t, err, "UpdateSubscription")
	if cs := cbClaim(t, s, epoch, 10, 0); len(cs) != 1 {
		t.Fatalf("claim after enabling took %d, want 1", len(cs))
	}
}

func testCBClaimSkipApps(t *testing.T, s store.Store) {
	tn := MustTenant(t, s, "t")
	for _, app := range []string{"a", "b", "c"} {
		cbSub(t, s, tn.ID, app, []string{atelier.EventCreateUser}, nil)
	}
	cbEvent(t, s, tn.ID, atelier.EventCreateUser, "u1", epoch)
	cbFanOut(t, s, epoch)
	cs, err := s.ClaimDeliveries(ctxFor(t), store.Claim{Now: epoch, LeaseUntil: epoch.Add(time.Minute), Limit: 10,
		MaxPerApp: 2, SkipApps: []string{"a", "c"}})
	must(t, err, "ClaimDeliveries")
	if got := claimedSubjects(cs); !slices.Equal(got, []string{"b:u1"}) {
		t.Fatalf("claim skipping a and c = %v, want [b:u1]", got)
	}
	if cs := cbClaim(t, s, epoch, 10, 0); len(cs) != 2 {
		t.Fatalf("claim without skips took %d, want the 2 left", len(cs))
	}
}

func testCBClaimOrdered(t *testing.T, s store.Store) {
	tn := MustTenant(t, s, "t")
	types := []string{atelier.EventCreateUser}
	cbSub(t, s, tn.ID, "ord", types, func(s *atelier.Subscription) { s.Ordered = true })
	cbSub(t, s, tn.ID, "any", types, nil)
	for _, subj := range []string{"x", "x", "x", "y"} {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, subj, epoch)
	}
	cbFanOut(t, s, epoch)
	cs := cbClaim(t, s, epoch, 100, 0)
	byApp := map[string][]*store.ClaimedDelivery{}
	for _, c := range cs {
		byApp[c.Delivery.ClientID] = append(byApp[c.Delivery.ClientID], c)
	}
	if got := claimedSubjects(byApp["any"]); !slices.Equal(got, []string{"any:x", "any:x", "any:x", "any:y"}) {
		t.Errorf("unordered claims = %v, want every event", got)
	}
	ord := byApp["ord"]
	if got := claimedSubjects(ord); !slices.Equal(got, []string{"ord:x", "ord:y"}) {
		t.Fatalf("ordered claims = %v, want the first of each subject", got)
	}
	x1 := ord[0]
	// x1 retried later: x's next events wait for it.
	cbFinish(t, s, x1, atelier.DeliveryPending, epoch, epoch.Add(10*time.Second))
	if cs := cbClaim(t, s, epoch.Add(5*time.Second), 100, 0); len(cs) != 0 {
		t.Fatalf("claim while x1 waits = %v", claimedSubjects(cs))
	}
	cs = cbClaim(t, s, epoch.Add(10*time.Second), 100, 0)
	if len(cs) != 1 || cs[0].Delivery.ID != x1.Delivery.ID || cs[0].Delivery.Attempts != 2 {
		t.Fatalf("claim at x1's retry = %v", claimedSubjects(cs))
	}
	// x1 dead: x2 goes.
	cbFinish(t, s, cs[0], atelier.DeliveryDead, epoch.Add(10*time.Second), time.Time{})
	cs = cbClaim(t, s, epoch.Add(10*time.Second), 100, 0)
	if len(cs) != 1 || cs[0].Delivery.EventID <= x1.Delivery.EventID || cs[0].Delivery.Subject != "x" {
		t.Fatalf("claim after x1 died = %v", claimedSubjects(cs))
	}
	x2 := cs[0]
	if cs := cbClaim(t, s, epoch.Add(10*time.Second), 100, 0); len(cs) != 0 {
		t.Fatalf("claim while x2 is in flight = %v", claimedSubjects(cs))
	}
	// x2 delivered: x3 goes.
	cbFinish(t, s, x2, atelier.DeliveryDelivered, epoch.Add(10*time.Second), time.Time{})
	cs = cbClaim(t, s, epoch.Add(10*time.Second), 100, 0)
	if len(cs) != 1 || cs[0].Delivery.EventID <= x2.Delivery.EventID || cs[0].Delivery.Subject != "x" {
		t.Fatalf("claim after x2 was delivered = %v", claimedSubjects(cs))
	}
}

func testCBClaimMaxPerApp(t *testing.T, s store.Store) {
	tn := MustTenant(t, s, "t")
	types := []string{atelier.EventCreateUser}
	cbSub(t, s, tn.ID, "big", types, nil)
	for i := range 6 { // with "v" below, big gets 7 deliveries and small 1
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	cbFanOut(t, s, epoch)
	cbSub(t, s, tn.ID, "small", types, nil)
	cbEvent(t, s, tn.ID, atelier.EventCreateUser, "v", epoch)
	cbFanOut(t, s, epoch)
	count := func(cs []*store.ClaimedDelivery) map[string]int {
		m := map[string]int{}
		for _, c := range cs {
			m[c.Delivery.ClientID]++
		}
		return m
	}
	// Apps take turns from a random one: the split of a claim is not
	// fixed, its sum and every app's cap are.
	first := cbClaim(t, s, epoch, 2, 3)
	second := cbClaim(t, s, epoch, 10, 3)
	if len(first) != 2 {
		t.Fatalf("first claim took %d, want 2", len(first))
	}
	both := slices.Concat(first, second)
	wantEqual(t, count(both), map[string]int{"big": 3, "small": 1}, "first two claims")
	if cs := cbClaim(t, s, epoch, 10, 3); len(cs) != 0 {
		t.Fatalf("claim at the cap = %v", claimedSubjects(cs))
	}
	// Finishing one of big's frees a slot; without a cap the rest go.
	i := slices.IndexFunc(both, func(c *store.ClaimedDelivery) bool { return c.Delivery.ClientID == "big" })
	cbFinish(t, s, both[i], atelier.DeliveryDelivered, epoch, time.Time{})
	third := cbClaim(t, s, epoch, 10, 3)
	wantEqual(t, count(third), map[string]int{"big": 1}, "claim after a finish")
	fourth := cbClaim(t, s, epoch, 10, 0)
	wantEqual(t, count(fourth), map[string]int{"big": 3}, "claim without a cap")
	// Expired leases do not count: at their end every one may be taken
	// again, up to the cap.
	fifth := cbClaim(t, s, epoch.Add(time.Minute), 10, 3)
	wantEqual(t, count(fifth), map[string]int{"big": 3, "small": 1}, "claim after the leases ended")
}

// testCBClaimTurns checks that an app with a long backlog does not starve
// another when each claim takes one: claims start at a random app, so the
// other's one delivery goes within a few claims (this fails by chance with
// a probability of 2^-40).
func testCBClaimTurns(t *testing.T, s store.Store) {
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "long", []string{atelier.EventCreateUser}, nil)
	for i := range 50 {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	cbFanOut(t, s, epoch)
	cbSub(t, s, tn.ID, "short", []string{atelier.EventDeleteUser}, nil)
	cbEvent(t, s, tn.ID, atelier.EventDeleteUser, "v", epoch)
	cbFanOut(t, s, epoch)
	for range 40 {
		cs := cbClaim(t, s, epoch, 1, 0)
		if len(cs) != 1 {
			t.Fatalf("claim took %d, want 1", len(cs))
		}
		if cs[0].Delivery.ClientID == "short" {
			return
		}
		cbFinish(t, s, cs[0], atelier.DeliveryDelivered, epoch, time.Time{})
	}
	t.Fatal("40 claims of one took only the long backlog's deliveries")
}

// testCBClaimProbeApps checks that a probed app has at most one delivery
// in flight, whatever the cap, and that other apps keep theirs.
func testCBClaimProbeApps(t *testing.T, s store.Store) {
	tn := MustTenant(t, s, "t")
	for _, app := range []string{"probed", "other"} {
		cbSub(t, s, tn.ID, app, []string{atelier.EventCreateUser}, nil)
	}
	for i := range 3 {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	cbFanOut(t, s, epoch)
	claim := func(maxPerApp int) map[string]int {
		t.Helper()
		cs, err := s.ClaimDeliveries(ctxFor(t), store.Claim{Now: epoch, LeaseUntil: epoch.Add(time.Minute), Limit: 10,
			MaxPerApp: maxPerApp, ProbeApps: []string{"probed"}})
		must(t, err, "ClaimDeliveries")
		m := map[string]int{}
		for _, c := range cs {
			m[c.Delivery.ClientID]++
			if c.Delivery.ClientID == "probed" {
				cbFinish(t, s, c, atelier.DeliveryPending, epoch, epoch.Add(time.Hour))
			}
		}
		return m
	}
	wantEqual(t, claim(0), map[string]int{"probed": 1, "other": 3}, "claim without a cap")
	wantEqual(t, claim(2), map[string]int{"probed": 1}, "claim after the probe failed")
	if cs := cbClaim(t, s, epoch, 10, 0); len(cs) != 1 || cs[0].Delivery.ClientID != "probed" {
		t.Fatalf("claim without probing = %v, want probed's last due delivery", claimedSubjects(cs))
	}
}

func testCBFinishAttempt(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	for _, subj := range []string{"ok", "retry", "dead"} {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, subj, epoch)
	}
	cbFanOut(t, s, epoch)
	cs := cbClaim(t, s, epoch, 10, 0)
	if got := claimedSubjects(cs); !slices.Equal(got, []string{"app:ok", "app:retry", "app:dead"}) {
		t.Fatalf("claims = %v", got)
	}
	now := epoch.Add(time.Second)
	okA := &atelier.DeliveryAttempt{DeliveryID: cs[0].Delivery.ID, N: 1, At: epoch, Duration: 1500 * time.Millisecond,
		Status: 200, Reply: `{"code":"200"}`, OK: true}
	must(t, s.FinishAttempt(ctx, cs[0].Delivery.ID, cs[0].LeaseToken, okA,
		store.Outcome{State: atelier.DeliveryDelivered, Now: now}), "FinishAttempt DELIVERED")
	wantErr(t, s.FinishAttempt(ctx, cs[0].Delivery.ID, cs[0].LeaseToken, okA,
		store.Outcome{State: atelier.DeliveryDelivered, Now: now}), store.ErrNotFound, "FinishAttempt twice")
	d, err := s.GetDelivery(ctx, "app", cs[0].Delivery.ID)
	must(t, err, "GetDelivery")
	want := *cs[0].Delivery
	want.State, want.LastStatus, want.LastReply, want.UpdatedAt, want.DeliveredAt, want.NextAttemptAt =
		atelier.DeliveryDelivered, 200, `{"code":"200"}`, now, now, time.Time{}
	wantEqual(t, d, &want, "delivered delivery")
	as, err := s.ListAttempts(ctx, d.ID)
	must(t, err, "ListAttempts")
	okA.DurationMS = 1500
	wantEqual(t, as, []*atelier.DeliveryAttempt{okA}, "attempts")

	next := epoch.Add(time.Hour)
	failA := &atelier.DeliveryAttempt{DeliveryID: cs[1].Delivery.ID, N: 1, At: epoch, Duration: 2 * time.Second,
		Status: 500, Reply: "oops"}
	must(t, s.FinishAttempt(ctx, cs[1].Delivery.ID, cs[1].LeaseToken, failA,
		store.Outcome{State: atelier.DeliveryPending, NextAttemptAt: next, Now: now}), "FinishAttempt PENDING")
	d, err = s.GetDelivery(ctx, "app", cs[1].Delivery.ID)
	must(t, err, "GetDelivery")
	if d.State != atelier.DeliveryPending || !d.NextAttemptAt.Equal(next) || d.LastStatus != 500 || d.LastReply != "oops" ||
		d.Attempts != 1 || !d.DeliveredAt.IsZero() {
		t.Errorf("retried delivery = %+v", d)
	}

	deadA := &atelier.DeliveryAttempt{DeliveryID: cs[2].Delivery.ID, N: 1, At: epoch, Duration: 10 * time.Second, Error: "timeout"}
	must(t, s.FinishAttempt(ctx, cs[2].Delivery.ID, cs[2].LeaseToken, deadA,
		store.Outcome{State: atelier.DeliveryDead, Now: now}), "FinishAttempt DEAD")
	d, err = s.GetDelivery(ctx, "app", cs[2].Delivery.ID)
	must(t, err, "GetDelivery")
	if d.State != atelier.DeliveryDead || !d.NextAttemptAt.IsZero() || d.LastError != "timeout" || d.LastStatus != 0 ||
		!d.DeliveredAt.IsZero() || !d.UpdatedAt.Equal(now) {
		t.Errorf("dead delivery = %+v", d)
	}

	// The retry's second attempt succeeds: both attempts are listed,
	// oldest first.
	if cs := cbClaim(t, s, next.Add(-time.Second), 10, 0); len(cs) != 0 {
		t.Fatalf("claim before the retry = %v", claimedSubjects(cs))
	}
	re := cbClaim(t, s, next, 10, 0)
	if len(re) != 1 || re[0].Delivery.Attempts != 2 {
		t.Fatalf("retry claim = %+v", re)
	}
	okB := &atelier.DeliveryAttempt{DeliveryID: re[0].Delivery.ID, N: 2, At: next, Duration: time.Millisecond,
		Status: 200, OK: true}
	must(t, s.FinishAttempt(ctx, re[0].Delivery.ID, re[0].LeaseToken, okB,
		store.Outcome{State: atelier.DeliveryDelivered, Now: next}), "FinishAttempt")
	as, err = s.ListAttempts(ctx, re[0].Delivery.ID)
	must(t, err, "ListAttempts")
	failA.DurationMS, okB.DurationMS = 2000, 1
	wantEqual(t, as, []*atelier.DeliveryAttempt{failA, okB}, "attempts of the retried delivery")
	if err := s.FinishAttempt(ctx, re[0].Delivery.ID, re[0].LeaseToken, okB,
		store.Outcome{State: "BOGUS", Now: next}); err == nil {
		t.Error("FinishAttempt with an unknown state succeeded")
	}
}

func testCBRedeliver(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	cbSub(t, s, tn.ID, "other", []string{atelier.EventCreateUser}, nil)
	for i := range 3 {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch.Add(time.Duration(i)*time.Hour))
	}
	cbFanOut(t, s, epoch)
	ids := map[string][]string{} // app → delivery ids, oldest event first
	for _, c := range cbClaim(t, s, epoch, 10, 0) {
		a := &atelier.DeliveryAttempt{DeliveryID: c.Delivery.ID, N: 1, At: epoch, Error: "refused"}
		must(t, s.FinishAttempt(ctx, c.Delivery.ID, c.LeaseToken, a,
			store.Outcome{State: atelier.DeliveryDead, Now: epoch}), "FinishAttempt")
		ids[c.Delivery.ClientID] = append(ids[c.Delivery.ClientID], c.Delivery.ID)
	}
	now := epoch.Add(24 * time.Hour)
	redeliver := func(app, id string, since, until time.Time) int {
		t.Helper()
		n, err := s.Redeliver(ctx, app, id, since, until, now)
		must(t, err, "Redeliver")
		return n
	}
	_, err := s.Redeliver(ctx, "app", "none", time.Time{}, time.Time{}, now)
	wantErr(t, err, store.ErrNotFound, "Redeliver of no delivery")
	_, err = s.Redeliver(ctx, "app", ids["other"][0], time.Time{}, time.Time{}, now)
	wantErr(t, err, store.ErrNotFound, "Redeliver of another app's delivery")

	if n := redeliver("app", ids["app"][0], time.Time{}, time.Time{}); n != 1 {
		t.Fatalf("Redeliver one moved %d", n)
	}
	d, err := s.GetDelivery(ctx, "app", ids["app"][0])
	must(t, err, "GetDelivery")
	if d.State != atelier.DeliveryPending || d.Attempts != 0 || !d.NextAttemptAt.Equal(now) || !d.UpdatedAt.Equal(now) ||
		d.LastError != "refused" {
		t.Errorf("redelivered delivery = %+v", d)
	}
	if n := redeliver("app", ids["app"][0], time.Time{}, time.Time{}); n != 0 {
		t.Errorf("Redeliver of a pending delivery moved %d", n)
	}
	if n := redeliver("app", "", epoch.Add(30*time.Minute), epoch.Add(90*time.Minute)); n != 1 {
		t.Errorf("Redeliver of [30m, 90m) moved %d, want 1", n)
	}
	if n := redeliver("app", "", epoch.Add(3*time.Hour), time.Time{}); n != 0 {
		t.Errorf("Redeliver after the last event moved %d", n)
	}
	if n := redeliver("app", "", time.Time{}, time.Time{}); n != 1 {
		t.Errorf("Redeliver of the rest moved %d, want 1", n)
	}
	ds, err := s.ListDeliveries(ctx, "app", atelier.DeliveryFilter{State: atelier.DeliveryPending})
	must(t, err, "ListDeliveries")
	if len(ds) != 3 {
		t.Errorf("pending after redelivery = %d, want 3", len(ds))
	}
	ds, err = s.ListDeliveries(ctx, "other", atelier.DeliveryFilter{State: atelier.DeliveryDead})
	must(t, err, "ListDeliveries")
	if len(ds) != 3 {
		t.Errorf("the other app's dead deliveries = %d, want 3", len(ds))
	}
	// Redelivered ones are claimed again, from attempt 1.
	cs := cbClaim(t, s, now, 10, 0)
	if len(cs) != 3 || cs[0].Delivery.Attempts != 1 {
		t.Errorf("claim after redelivery = %v", claimedSubjects(cs))
	}
}

func testCBCounts(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	byState, backlog, err := s.CallbackCounts(ctx)
	must(t, err, "CallbackCounts")
	zero := map[string]int64{atelier.DeliveryPending: 0, atelier.DeliveryInFlight: 0, atelier.DeliveryDelivered: 0,
		atelier.DeliveryDead: 0}
	wantEqual(t, byState, zero, "counts of an empty store")
	if backlog != 0 {
		t.Errorf("backlog = %d", backlog)
	}
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	for i := range 5 {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	_, backlog, err = s.CallbackCounts(ctx)
	must(t, err, "CallbackCounts")
	if backlog != 5 {
		t.Errorf("backlog = %d, want 5", backlog)
	}
	cbFanOut(t, s, epoch)
	cs := cbClaim(t, s, epoch, 3, 0)
	cbFinish(t, s, cs[0], atelier.DeliveryDelivered, epoch, time.Time{})
	cbFinish(t, s, cs[1], atelier.DeliveryDead, epoch, time.Time{})
	byState, backlog, err = s.CallbackCounts(ctx)
	must(t, err, "CallbackCounts")
	wantEqual(t, byState, map[string]int64{atelier.DeliveryPending: 2, atelier.DeliveryInFlight: 1,
		atelier.DeliveryDelivered: 1, atelier.DeliveryDead: 1}, "counts")
	if backlog != 0 {
		t.Errorf("backlog after fan-out = %d", backlog)
	}
}

func testCBPrune(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	old := cbEvent(t, s, tn.ID, atelier.EventCreateUser, "old", epoch)       // delivered long ago: pruned
	recent := cbEvent(t, s, tn.ID, atelier.EventCreateUser, "recent", epoch) // delivered lately: kept
	dead := cbEvent(t, s, tn.ID, atelier.EventCreateUser, "dead", epoch)     // dead: kept
	unsub := cbEvent(t, s, tn.ID, atelier.EventDeleteUser, "unsub", epoch)   // no subscriber: pruned
	cbFanOut(t, s, epoch)
	late := cbEvent(t, s, tn.ID, atelier.EventDeleteUser, "late", epoch) // not fanned out: kept
	cs := cbClaim(t, s, epoch, 10, 0)
	if got := claimedSubjects(cs); !slices.Equal(got, []string{"app:old", "app:recent", "app:dead"}) {
		t.Fatalf("claims = %v", got)
	}
	cbFinish(t, s, cs[0], atelier.DeliveryDelivered, epoch.Add(time.Hour), time.Time{})
	cbFinish(t, s, cs[1], atelier.DeliveryDelivered, epoch.Add(3*time.Hour), time.Time{})
	cbFinish(t, s, cs[2], atelier.DeliveryDead, epoch.Add(time.Hour), time.Time{})

	nd, ne, err := s.PruneCallbacks(ctx, epoch.Add(2*time.Hour))
	must(t, err, "PruneCallbacks")
	if nd != 1 || ne != 2 {
		t.Errorf("PruneCallbacks = %d deliveries, %d events; want 1, 2", nd, ne)
	}
	_, err = s.GetDelivery(ctx, "app", cs[0].Delivery.ID)
	wantErr(t, err, store.ErrNotFound, "GetDelivery of a pruned delivery")
	as, err := s.ListAttempts(ctx, cs[0].Delivery.ID)
	must(t, err, "ListAttempts")
	if len(as) != 0 {
		t.Errorf("a pruned delivery keeps %d attempts", len(as))
	}
	for _, e := range []*atelier.Event{old, unsub} {
		_, err := s.GetEvent(ctx, e.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent of a pruned event")
	}
	for _, e := range []*atelier.Event{recent, dead, late} {
		_, err := s.GetEvent(ctx, e.ID)
		must(t, err, "GetEvent of a kept event "+e.Subject)
	}
	for _, c := range cs[1:] {
		_, err := s.GetDelivery(ctx, "app", c.Delivery.ID)
		must(t, err, "GetDelivery of a kept delivery")
	}
	nd, ne, err = s.PruneCallbacks(ctx, epoch.Add(2*time.Hour))
	must(t, err, "PruneCallbacks")
	if nd != 0 || ne != 0 {
		t.Errorf("second PruneCallbacks = %d, %d", nd, ne)
	}
}

// testCBClaimConcurrent checks that concurrent dispatchers claim every
// delivery exactly once (PostgreSQL's SKIP LOCKED; SQLite's single writer).
func testCBClaimConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	const n = 200
	for i := range n {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	if got := cbFanOut(t, s, epoch); got != n {
		t.Fatalf("FanOut took %d", got)
	}
	var mu sync.Mutex
	claims := map[string]int{}
	errs := make([]error, 4)
	parallel(4, func(i int) {
		for {
			cs, err := s.ClaimDeliveries(ctx, store.Claim{Now: epoch, LeaseUntil: epoch.Add(time.Hour), Limit: 7})
			if err != nil {
				errs[i] = err
				return
			}
			if len(cs) == 0 {
				return
			}
			for _, c := range cs {
				mu.Lock()
				claims[c.Delivery.ID]++
				mu.Unlock()
				a := &atelier.DeliveryAttempt{DeliveryID: c.Delivery.ID, N: c.Delivery.Attempts, At: epoch, OK: true}
				if err := s.FinishAttempt(ctx, c.Delivery.ID, c.LeaseToken, a,
					store.Outcome{State: atelier.DeliveryDelivered, Now: epoch}); err != nil {
					errs[i] = err
					return
				}
			}
		}
	})
	for _, err := range errs {
		must(t, err, "claim and finish")
	}
	if len(claims) != n {
		t.Errorf("%d deliveries claimed, want %d", len(claims), n)
	}
	for id, k := range claims {
		if k != 1 {
			t.Errorf("delivery %s claimed %d times", id, k)
		}
	}
	byState, _, err := s.CallbackCounts(ctx)
	must(t, err, "CallbackCounts")
	if byState[atelier.DeliveryDelivered] != n {
		t.Errorf("counts = %v, want %d delivered", byState, n)
	}
}

// testCBFanOutConcurrent checks that concurrent fan-outs take disjoint
// events.
func testCBFanOutConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	const n = 100
	for i := range n {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	taken := make([]int, 4)
	errs := make([]error, 4)
	parallel(4, func(i int) {
		for {
			k, err := s.FanOut(ctx, epoch, 7, cbNewID)
			if err != nil {
				errs[i] = err
				return
			}
			if k == 0 {
				return
			}
			taken[i] += k
		}
	})
	for _, err := range errs {
		must(t, err, "FanOut")
	}
	if sum := taken[0] + taken[1] + taken[2] + taken[3]; sum != n {
		t.Errorf("fan-outs took %d events in all, want %d", sum, n)
	}
	ds, err := s.ListDeliveries(ctx, "app", atelier.DeliveryFilter{Limit: 1000})
	must(t, err, "ListDeliveries")
	if len(ds) != n {
		t.Errorf("%d deliveries, want %d", len(ds), n)
	}
}

// testCBClaimCapConcurrent checks that an app's cap holds across
// concurrent claims.
func testCBClaimCapConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	cbSub(t, s, tn.ID, "app", []string{atelier.EventCreateUser}, nil)
	for i := range 20 {
		cbEvent(t, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	cbFanOut(t, s, epoch)
	got := make([]int, 4)
	errs := make([]error, 4)
	parallel(4, func(i int) {
		cs, err := s.ClaimDeliveries(ctx, store.Claim{Now: epoch, LeaseUntil: epoch.Add(time.Hour), Limit: 3, MaxPerApp: 5})
		got[i], errs[i] = len(cs), err
	})
	for _, err := range errs {
		must(t, err, "ClaimDeliveries")
	}
	if sum := got[0] + got[1] + got[2] + got[3]; sum != 5 {
		t.Errorf("concurrent claims took %v, %d in all; want 5 (the cap)", got, sum)
	}
}

// benchClaimBacklog measures claims while one app, "big", has a backlog of
// claimBacklogSize due deliveries it cannot take (its breaker paused it, or
// it is at its cap) and another app, "small", has due work: a claim's cost
// must not grow with the backlog of an app it leaves alone. It reports
// claims/s; each claim takes one of small's deliveries, which is then
// finished.
func benchClaimBacklog(b *testing.B, open func(b *testing.B) store.Store, atCap bool) {
	s := open(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	tn := MustTenant(b, s, "t")
	cbSub(b, s, tn.ID, "big", []string{atelier.EventCreateUser}, nil)
	for i := range claimBacklogSize {
		cbEvent(b, s, tn.ID, atelier.EventCreateUser, fmt.Sprint("u", i), epoch)
	}
	for cbFanOut(b, s, epoch) > 0 {
	}
	claim := store.Claim{Now: epoch, LeaseUntil: epoch.Add(time.Hour), Limit: 8, MaxPerApp: 8}
	if atCap {
		if cs := cbClaim(b, s, epoch, 8, 8); len(cs) != 8 {
			b.Fatalf("claimed %d of big's deliveries, want 8", len(cs))
		}
	} else {
		claim.SkipApps = []string{"big"}
	}
	cbSub(b, s, tn.ID, "small", []string{atelier.EventDeleteUser}, nil)
	claims := 0
	for b.Loop() {
		b.StopTimer()
		cbEvent(b, s, tn.ID, atelier.EventDeleteUser, "v", epoch)
		cbFanOut(b, s, epoch)
		b.StartTimer()
		cs, err := s.ClaimDeliveries(ctx, claim)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) != 1 || cs[0].Delivery.ClientID != "small" {
			b.Fatalf("claimed %v, want small's one delivery", claimedSubjects(cs))
		}
		b.StopTimer()
		cbFinish(b, s, cs[0], atelier.DeliveryDelivered, epoch, time.Time{})
		b.StartTimer()
		claims++
	}
	b.ReportMetric(float64(claims)/b.Elapsed().Seconds(), "claims/s")
}

// claimBacklogSize is the backlog of benchClaimBacklog.
const claimBacklogSize = 20_000
