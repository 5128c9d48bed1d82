package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// eventTests are the tests of the outbox as the store keeps it. Which
// change emits which event is the domain's (identity and training test
// that); the store promises that AppendEvent inside InTx commits or rolls
// back with the change, and that it appends no event by itself.
func eventTests() []test {
	return []test{
		{"AppendOnItsOwn", testAppendEvent},
		{"AppendCommitsWithChange", testAppendEventCommits},
		{"AppendRollsBackWithChange", testAppendEventRollsBack},
		{"AppendInNestedTx", testAppendEventNested},
		{"NoEventsOfItsOwn", testNoStoreEvents},
	}
}

// maxEventGap is how many missing ids in a row end a read of the outbox: a
// sequence may skip ids (PostgreSQL's after a rolled back insert).
const maxEventGap = 8

// Outbox reads back, through GetEvent on increasing ids, the events that
// a test's changes appended: for this suite and for the domain packages'
// tests of which change appends which event. Ids start at 1 on a fresh
// store.
type Outbox struct {
	t    testing.TB
	s    store.Store
	next int64 // the id after the last event read
}

// NewOutbox reads s's outbox from its first event.
func NewOutbox(t testing.TB, s store.Store) *Outbox {
	return &Outbox{t: t, s: s, next: 1}
}

// Read returns the events appended since the last read, in id order.
func (r *Outbox) Read() []*atelier.Event {
	r.t.Helper()
	var out []*atelier.Event
	for id, missing := r.next, 0; missing < maxEventGap; id++ {
		e, err := r.s.GetEvent(ctxFor(r.t), id)
		if errors.Is(err, store.ErrNotFound) {
			missing++
			continue
		}
		must(r.t, err, "GetEvent")
		if e.ID != id {
			r.t.Fatalf("GetEvent(%d).ID = %d", id, e.ID)
		}
		out = append(out, e)
		missing, r.next = 0, id+1
	}
	return out
}

// Want reads the events appended since the last read and fails unless
// field of each is want, in order: Want(what, Type, types...) or
// Want(what, Subject, subjects...).
func (r *Outbox) Want(what string, field func(*atelier.Event) string, want ...string) []*atelier.Event {
	r.t.Helper()
	evs := r.Read()
	got := make([]string, len(evs))
	for i, e := range evs {
		got[i] = field(e)
	}
	if !slices.Equal(got, want) {
		r.t.Fatalf("%s: outbox events %q, want %q", what, got, want)
	}
	return evs
}

// Type and Subject are the fields Want compares.
func Type(e *atelier.Event) string    { return e.Type }
func Subject(e *atelier.Event) string { return e.Subject }

// drainSignal empties s's event signal, so that a later wantSignal sees
// only what came after.
func drainSignal(s store.Store) {
	select {
	case <-s.EventSignal():
	default:
	}
}

// wantSignal fails unless s's event signal is readable now: the store
// signals before the method that appended returns.
func wantSignal(t *testing.T, s store.Store, what string) {
	t.Helper()
	select {
	case <-s.EventSignal():
	default:
		t.Errorf("no event signal after %s", what)
	}
}

// wantNoSignal fails if s's event signal is readable now.
func wantNoSignal(t *testing.T, s store.Store, what string) {
	t.Helper()
	select {
	case <-s.EventSignal():
		t.Errorf("event signal %s", what)
	default:
	}
}

// newEvent returns an event about subject in the tenant at at, with data
// naming the subject.
func newEvent(tenantID, subject string, at time.Time) *atelier.Event {
	return &atelier.Event{TenantID: tenantID, Type: atelier.EventUpdateUser, Subject: subject,
		Data: json.RawMessage(`{"id":"` + subject + `"}`), CreatedAt: at}
}

// testAppendEvent checks AppendEvent outside InTx: it commits on its own,
// signals before it returns, sets the id and keeps the caller's time at the
// store's precision.
func testAppendEvent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := NewOutbox(t, s)
	drainSignal(s)
	// A time with nanoseconds: the store keeps microseconds and says so.
	at := epoch.Add(time.Hour + 1234*time.Nanosecond)
	e := newEvent("t1", "s1", at)
	must(t, s.AppendEvent(ctx, e), "AppendEvent")
	wantSignal(t, s, "AppendEvent")
	if e.ID == 0 {
		t.Error("AppendEvent set no id")
	}
	stored := epoch.Add(time.Hour + time.Microsecond)
	if !e.CreatedAt.Equal(stored) || e.CreatedAt.Location() != time.UTC {
		t.Errorf("AppendEvent's CreatedAt = %v, want %v in UTC", e.CreatedAt, stored)
	}
	got := r.Want("AppendEvent", Subject, "s1")[0]
	wantEqual(t, got, e, "GetEvent of the appended event")

	e2 := newEvent("t1", "s2", epoch)
	must(t, s.AppendEvent(ctx, e2), "AppendEvent")
	if e2.ID <= e.ID {
		t.Errorf("a later event has id %d, not above %d", e2.ID, e.ID)
	}
	r.Want("a second AppendEvent", Subject, "s2")
}

// testAppendEventCommits checks that events appended in InTx commit with
// the change, in append order, and signal only after the commit.
func testAppendEventCommits(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := NewOutbox(t, s)
	tn := MustTenant(t, s, "t")
	drainSignal(s)
	var u *atelier.User
	var evs []*atelier.Event
	err := s.InTx(ctx, func(tx store.Store) error {
		evs = nil
		u = MustUser(t, tx, tn.ID, "ann")
		for _, subject := range []string{u.ID, "second", "third"} {
			e := newEvent(tn.ID, subject, epoch)
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
			evs = append(evs, e)
		}
		// The transaction reads its own events.
		if _, err := tx.GetEvent(ctx, evs[0].ID); err != nil {
			t.Errorf("GetEvent inside the transaction: %v", err)
		}
		wantNoSignal(t, s, "before the commit")
		return nil
	})
	must(t, err, "InTx")
	wantSignal(t, s, "the commit of InTx")
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Fatalf("user after commit: %v", err)
	}
	got := r.Want("InTx with three appends", Subject, u.ID, "second", "third")
	for i := range got {
		wantEqual(t, got[i], evs[i], "committed event")
	}
}

// testAppendEventRollsBack checks that fn's error, or a failing change
// after the append, rolls the event back with the change.
func testAppendEventRollsBack(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := NewOutbox(t, s)
	tn := MustTenant(t, s, "t")
	taken := MustUser(t, s, tn.ID, "taken")
	drainSignal(s)
	var u *atelier.User
	err := s.InTx(ctx, func(tx store.Store) error {
		u = MustUser(t, tx, tn.ID, "ann")
		must(t, tx.AppendEvent(ctx, newEvent(tn.ID, u.ID, epoch)), "AppendEvent")
		return errTxBoom
	})
	wantErr(t, err, errTxBoom, "InTx")
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after rollback")
	r.Want("a rolled back InTx", Subject)
	wantNoSignal(t, s, "after a rolled back InTx")

	// The event goes first, then the change fails: the caller returns the
	// change's error and nothing commits.
	err = s.InTx(ctx, func(tx store.Store) error {
		dup := *taken
		dup.ID = atelier.NewID()
		if err := tx.AppendEvent(ctx, newEvent(tn.ID, dup.ID, epoch)); err != nil {
			return err
		}
		return tx.CreateUser(ctx, &dup)
	})
	wantErr(t, err, store.ErrConflict, "InTx with a conflicting CreateUser")
	r.Want("an InTx whose change failed", Subject)
	wantNoSignal(t, s, "after an InTx whose change failed")
}

// testAppendEventNested checks that an event appended in a nested InTx
// that fails is undone with it, while the outer transaction's own events
// and those of a nested InTx that succeeds commit.
func testAppendEventNested(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := NewOutbox(t, s)
	err := s.InTx(ctx, func(tx store.Store) error {
		must(t, tx.AppendEvent(ctx, newEvent("t1", "outer", epoch)), "AppendEvent")
		err := tx.InTx(ctx, func(tx store.Store) error {
			must(t, tx.AppendEvent(ctx, newEvent("t1", "failed", epoch)), "AppendEvent")
			return errTxBoom
		})
		wantErr(t, err, errTxBoom, "nested InTx")
		return tx.InTx(ctx, func(tx store.Store) error {
			return tx.AppendEvent(ctx, newEvent("t1", "nested", epoch))
		})
	})
	must(t, err, "InTx")
	r.Want("InTx with a failed and a committed nested InTx", Subject, "outer", "nested")
}

// testNoStoreEvents checks that the store's changes of users,
// organizations and job versions append no event: the domain appends
// them, and an event of the store's own would reach receivers twice.
func testNoStoreEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := NewOutbox(t, s)
	drainSignal(s)
	tn := MustTenant(t, s, "t")
	org := MustOrg(t, s, tn.ID, "", "eng")
	u := MustUser(t, s, tn.ID, "ann")
	_, err := s.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
		u.DisplayName, u.OrgID, u.UpdatedAt = "Ann", org.ID, epoch.Add(time.Hour)
		return nil
	})
	must(t, err, "UpdateUser")
	_, err = s.UpdateOrg(ctx, org.ID, func(o *atelier.Organization) error {
		o.Name, o.UpdatedAt = "engineering", epoch.Add(time.Hour)
		return nil
	})
	must(t, err, "UpdateOrg")
	_, err = s.DeleteUser(ctx, u.ID)
	must(t, err, "DeleteUser")
	_, err = s.DeleteOrg(ctx, org.ID)
	must(t, err, "DeleteOrg")
	j, _ := MustJob(t, s, tn.ID, "train", epoch)
	setState(t, s, j.ID, 1, atelier.JobRunning, "started", epoch.Add(time.Minute))
	MustVersion(t, s, j.ID, atelier.JobQueued, epoch.Add(2*time.Minute))
	r.Want("changes of users, organizations and job versions", Subject)
	wantNoSignal(t, s, "after changes that appended no event")
	// The version's own history is the store's: it keeps every state.
	evs, err := s.ListEvents(ctx, j.ID, 1)
	must(t, err, "ListEvents")
	if len(evs) != 2 || evs[0].State != atelier.JobCreating || evs[1].State != atelier.JobRunning {
		t.Errorf("job events = %+v, want CREATING then RUNNING", evs)
	}
}
