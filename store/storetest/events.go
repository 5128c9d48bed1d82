package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// eventTests are the tests of the events the store appends to the outbox
// with the changes it makes.
func eventTests() []test {
	return []test{
		{"UserEvents", testUserEvents},
		{"OrgEvents", testOrgEvents},
		{"JobStateEvents", testJobStateEvents},
	}
}

// maxEventGap is how many missing ids in a row end a read of the outbox: a
// sequence may skip ids (PostgreSQL's after a rolled back insert).
const maxEventGap = 8

// eventReader reads back, through GetEvent on increasing ids, the outbox
// events that a test's changes appended. Ids start at 1 on a fresh store.
type eventReader struct {
	t    *testing.T
	s    store.Store
	next int64 // the id after the last event read
}

func newEventReader(t *testing.T, s store.Store) *eventReader {
	return &eventReader{t: t, s: s, next: 1}
}

// read returns the events appended since the last read, in id order.
func (r *eventReader) read() []*atelier.Event {
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

// want reads the events appended since the last read and fails unless
// their types are types, in order.
func (r *eventReader) want(what string, types ...string) []*atelier.Event {
	r.t.Helper()
	evs := r.read()
	got := make([]string, len(evs))
	for i, e := range evs {
		got[i] = e.Type
	}
	if len(got) != len(types) {
		r.t.Fatalf("%s appended events %q, want %q", what, got, types)
	}
	for i := range got {
		if got[i] != types[i] {
			r.t.Fatalf("%s appended events %q, want %q", what, got, types)
		}
	}
	return evs
}

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

// wantEvent checks e's envelope: its type, tenant, subject and, unless at
// is zero, its time.
func wantEvent(t *testing.T, e *atelier.Event, typ, tenantID, subject string, at time.Time) {
	t.Helper()
	if e.Type != typ || e.TenantID != tenantID || e.Subject != subject {
		t.Errorf("event %d: %s of %s in %s, want %s of %s in %s", e.ID, e.Type, e.Subject, e.TenantID,
			typ, subject, tenantID)
	}
	if !at.IsZero() && !e.CreatedAt.Equal(at) {
		t.Errorf("event %d (%s): created at %v, want %v", e.ID, e.Type, e.CreatedAt, at)
	}
	if e.CreatedAt.IsZero() {
		t.Errorf("event %d (%s): no creation time", e.ID, e.Type)
	}
}

// decodeData decodes e's data into a new T.
func decodeData[T any](t *testing.T, e *atelier.Event) T {
	t.Helper()
	var d T
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("event %d (%s): decode data %s: %v", e.ID, e.Type, e.Data, err)
	}
	return d
}

// userData is the data of u's user events.
func userData(u *atelier.User) atelier.UserEventData {
	return atelier.UserEventData{ID: u.ID, TenantID: u.TenantID, UserName: u.Name, Name: u.DisplayName,
		Email: u.Email, Mobile: u.Mobile, Role: u.Role, Status: u.Status, OrgID: u.OrgID,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), MFA: u.MFA, TOTPEnabled: u.TOTPEnabled}
}

func wantUserEvent(t *testing.T, e *atelier.Event, typ string, u *atelier.User, at time.Time) {
	t.Helper()
	wantEvent(t, e, typ, u.TenantID, u.ID, at)
	wantEqual(t, decodeData[atelier.UserEventData](t, e), userData(u), typ+" data")
}

func testUserEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := newEventReader(t, s)
	tn := MustTenant(t, s, "t")
	eng := MustOrg(t, s, tn.ID, "", "eng")
	r.read()

	drainSignal(s)
	ann := MustUser(t, s, tn.ID, "ann")
	wantSignal(t, s, "CreateUser")
	wantUserEvent(t, r.want("CreateUser", atelier.EventCreateUser)[0], atelier.EventCreateUser, ann, epoch)

	bob := &atelier.User{
		ID: atelier.NewID(), TenantID: tn.ID, Email: "bob@example.com", Name: "bob", DisplayName: "Bob",
		Mobile: "+15550100", Role: atelier.RoleAdmin, Status: atelier.UserActive, OrgID: eng.ID,
		PasswordHash: "$argon2id$x", PasswordChangedAt: epoch, PasswordHistory: []string{}, MFA: true,
		TOTPSecret: "sealed", TOTPEnabled: true, CreatedAt: epoch.Add(time.Minute), UpdatedAt: epoch.Add(time.Minute),
	}
	must(t, s.CreateUser(ctx, bob), "CreateUser in an organization")
	wantUserEvent(t, r.want("CreateUser in an organization", atelier.EventCreateUser)[0],
		atelier.EventCreateUser, bob, bob.CreatedAt)

	dup := *ann
	dup.ID = atelier.NewID()
	wantErr(t, s.CreateUser(ctx, &dup), store.ErrConflict, "CreateUser with a taken email")
	r.want("a failed CreateUser")

	// A change of the event's data makes an event at the new UpdatedAt.
	drainSignal(s)
	at := epoch.Add(time.Hour)
	got, err := s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error {
		u.DisplayName, u.UpdatedAt = "Ann", at
		return nil
	})
	must(t, err, "UpdateUser")
	wantSignal(t, s, "UpdateUser")
	wantUserEvent(t, r.want("UpdateUser of the display name", atelier.EventUpdateUser)[0],
		atelier.EventUpdateUser, got, at)

	// Secrets, login counters and lock times make no event, even with a
	// new UpdatedAt.
	_, err = s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error {
		u.FailedLogins++
		u.PasswordHash, u.PasswordHistory = "$argon2id$y", []string{"$argon2id$x"}
		u.PasswordChangedAt, u.MustChangePassword = epoch.Add(2*time.Hour), true
		u.LockedUntil, u.TOTPSecret = epoch.Add(3*time.Hour), "sealed-2"
		u.UpdatedAt = epoch.Add(2 * time.Hour)
		return nil
	})
	must(t, err, "UpdateUser of secrets and counters")
	r.want("UpdateUser of secrets and counters")

	_, err = s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error {
		u.DisplayName, u.Status = "Anna", atelier.UserDisabled
		return errStop
	})
	if err != errStop {
		t.Errorf("UpdateUser with a failing fn = %v, want fn's error as is", err)
	}
	r.want("UpdateUser with a failing fn")

	got, err = s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error {
		u.OrgID, u.Role, u.UpdatedAt = eng.ID, atelier.RoleAdmin, epoch.Add(4*time.Hour)
		return nil
	})
	must(t, err, "UpdateUser into an organization")
	wantUserEvent(t, r.want("UpdateUser into an organization", atelier.EventUpdateUser)[0],
		atelier.EventUpdateUser, got, epoch.Add(4*time.Hour))
	if got.FailedLogins != 1 || got.PasswordHash != "$argon2id$y" {
		t.Errorf("UpdateUser lost the earlier update: %d failed logins, hash %q", got.FailedLogins, got.PasswordHash)
	}

	drainSignal(s)
	must(t, s.DeleteUser(ctx, ann.ID), "DeleteUser")
	wantSignal(t, s, "DeleteUser")
	wantUserEvent(t, r.want("DeleteUser", atelier.EventDeleteUser)[0], atelier.EventDeleteUser, got, time.Time{})

	wantErr(t, s.DeleteUser(ctx, ann.ID), store.ErrNotFound, "DeleteUser of a deleted user")
	r.want("DeleteUser of a deleted user")
}

// orgData is the data of o's organization events.
func orgData(o *atelier.Organization) atelier.OrgEventData {
	return atelier.OrgEventData{ID: o.ID, TenantID: o.TenantID, Name: o.Name, ParentID: o.ParentID,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
}

func wantOrgEvent(t *testing.T, e *atelier.Event, typ string, o *atelier.Organization, at time.Time) {
	t.Helper()
	wantEvent(t, e, typ, o.TenantID, o.ID, at)
	wantEqual(t, decodeData[atelier.OrgEventData](t, e), orgData(o), typ+" data")
}

func testOrgEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := newEventReader(t, s)
	tn := MustTenant(t, s, "t")
	r.read()

	drainSignal(s)
	root := MustOrg(t, s, tn.ID, "", "root")
	wantSignal(t, s, "CreateOrg")
	child := MustOrg(t, s, tn.ID, root.ID, "child")
	evs := r.want("two CreateOrg", atelier.EventCreateOrganization, atelier.EventCreateOrganization)
	wantOrgEvent(t, evs[0], atelier.EventCreateOrganization, root, epoch)
	wantOrgEvent(t, evs[1], atelier.EventCreateOrganization, child, epoch)

	err := s.CreateOrg(ctx, &atelier.Organization{ID: atelier.NewID(), TenantID: tn.ID, ParentID: "nope",
		Name: "orphan", CreatedAt: epoch, UpdatedAt: epoch})
	wantErr(t, err, store.ErrNotFound, "CreateOrg under a missing parent")
	r.want("a failed CreateOrg")

	drainSignal(s)
	at := epoch.Add(time.Hour)
	got, err := s.UpdateOrg(ctx, child.ID, func(o *atelier.Organization) error {
		o.Name, o.UpdatedAt = "kid", at
		return nil
	})
	must(t, err, "UpdateOrg")
	wantSignal(t, s, "UpdateOrg")
	wantOrgEvent(t, r.want("UpdateOrg of the name", atelier.EventUpdateOrganization)[0],
		atelier.EventUpdateOrganization, got, at)

	_, err = s.UpdateOrg(ctx, child.ID, func(o *atelier.Organization) error {
		o.UpdatedAt = epoch.Add(2 * time.Hour)
		return nil
	})
	must(t, err, "UpdateOrg of UpdatedAt only")
	r.want("UpdateOrg of UpdatedAt only")

	_, err = s.UpdateOrg(ctx, child.ID, func(o *atelier.Organization) error {
		o.Name = "other"
		return errStop
	})
	if err != errStop {
		t.Errorf("UpdateOrg with a failing fn = %v, want fn's error as is", err)
	}
	r.want("UpdateOrg with a failing fn")

	wantErr(t, s.DeleteOrg(ctx, root.ID), store.ErrNotEmpty, "DeleteOrg of a parent")
	r.want("DeleteOrg of a parent")

	got, err = s.UpdateOrg(ctx, child.ID, func(o *atelier.Organization) error {
		o.ParentID, o.UpdatedAt = "", epoch.Add(3*time.Hour)
		return nil
	})
	must(t, err, "UpdateOrg to the top")
	wantOrgEvent(t, r.want("UpdateOrg of the parent", atelier.EventUpdateOrganization)[0],
		atelier.EventUpdateOrganization, got, epoch.Add(3*time.Hour))

	drainSignal(s)
	must(t, s.DeleteOrg(ctx, root.ID), "DeleteOrg")
	wantSignal(t, s, "DeleteOrg")
	wantOrgEvent(t, r.want("DeleteOrg", atelier.EventDeleteOrganization)[0],
		atelier.EventDeleteOrganization, root, time.Time{})

	wantErr(t, s.DeleteOrg(ctx, root.ID), store.ErrNotFound, "DeleteOrg of a deleted organization")
	r.want("DeleteOrg of a deleted organization")
}

// wantJobEvent checks a TRAINING_JOB_STATE_CHANGED event of version v of
// job j from previous to v's state at at.
func wantJobEvent(t *testing.T, e *atelier.Event, j *atelier.TrainingJob, v *atelier.JobVersion, previous string, at time.Time) {
	t.Helper()
	wantEvent(t, e, atelier.EventTrainingJobState, j.TenantID, j.ID, at)
	want := atelier.JobStateEventData{JobID: j.ID, JobName: j.Name, VersionID: v.VersionID, TenantID: j.TenantID,
		State: v.State, Previous: previous, Reason: v.Reason, ExitCode: v.ExitCode, Time: at.UTC()}
	wantEqual(t, decodeData[atelier.JobStateEventData](t, e), want, "job state event data")
}

func testJobStateEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	r := newEventReader(t, s)
	tn := MustTenant(t, s, "t")
	r.read()
	const state = atelier.EventTrainingJobState

	drainSignal(s)
	j, v := MustJob(t, s, tn.ID, "train", epoch)
	wantSignal(t, s, "CreateJob")
	wantJobEvent(t, r.want("CreateJob", state)[0], j, v, "", epoch)

	err := s.CreateJob(ctx, &atelier.TrainingJob{ID: atelier.NewID(), TenantID: tn.ID, Name: "train",
		CreatedAt: epoch, UpdatedAt: epoch}, &atelier.JobVersion{State: atelier.JobCreating, CreatedAt: epoch})
	wantErr(t, err, store.ErrConflict, "CreateJob with a taken name")
	r.want("a failed CreateJob")

	drainSignal(s)
	at := epoch.Add(time.Minute)
	got := setState(t, s, j.ID, 1, atelier.JobRunning, "started", at)
	wantSignal(t, s, "UpdateVersion")
	wantJobEvent(t, r.want("UpdateVersion to RUNNING", state)[0], j, got, atelier.JobCreating, at)

	_, err = s.UpdateVersion(ctx, j.ID, 1, epoch.Add(2*time.Minute), func(v *atelier.JobVersion) error {
		v.Desc, v.Handle = "a description", "h1"
		return nil
	})
	must(t, err, "UpdateVersion keeping the state")
	r.want("UpdateVersion keeping the state")

	_, err = s.UpdateVersion(ctx, j.ID, 1, epoch.Add(2*time.Minute), func(v *atelier.JobVersion) error {
		v.State = atelier.JobCompleted
		return errStop
	})
	if err != errStop {
		t.Errorf("UpdateVersion with a failing fn = %v, want fn's error as is", err)
	}
	r.want("UpdateVersion with a failing fn")

	at = epoch.Add(3 * time.Minute)
	got, err = s.UpdateVersion(ctx, j.ID, 0, at, func(v *atelier.JobVersion) error {
		code := 3
		v.State, v.Reason, v.ExitCode, v.FinishedAt = atelier.JobFailed, "exit code 3", &code, at
		return nil
	})
	must(t, err, "UpdateVersion to FAILED")
	wantJobEvent(t, r.want("UpdateVersion to FAILED", state)[0], j, got, atelier.JobRunning, at)

	at = epoch.Add(4 * time.Minute)
	v2 := MustVersion(t, s, j.ID, atelier.JobQueued, at)
	wantJobEvent(t, r.want("CreateVersion", state)[0], j, v2, "", at)

	wantErr(t, s.CreateVersion(ctx, &atelier.JobVersion{JobID: "nope", State: atelier.JobQueued, CreatedAt: at}),
		store.ErrNotFound, "CreateVersion of a missing job")
	_, err = s.UpdateVersion(ctx, j.ID, 9, at, func(v *atelier.JobVersion) error {
		v.State = atelier.JobRunning
		return nil
	})
	wantErr(t, err, store.ErrNotFound, "UpdateVersion of a missing version")
	r.want("CreateVersion and UpdateVersion of missing records")

	// Another job's events have that job as subject and name.
	k, kv := MustJob(t, s, tn.ID, "eval", at)
	wantJobEvent(t, r.want("CreateJob of another job", state)[0], k, kv, "", at)
}
