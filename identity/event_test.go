package identity_test

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/storetest"
	"github.com/atelier-dev/atelier/store/storetest/backends"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// wantUserEvent checks e: its envelope, its time and that its data is u's,
// u being the user as the store keeps it.
func wantUserEvent(t *testing.T, e *atelier.Event, typ string, u *atelier.User, at time.Time) {
	t.Helper()
	wantEnvelope(t, e, typ, u.TenantID, u.ID, at)
	var got atelier.UserEventData
	if err := json.Unmarshal(e.Data, &got); err != nil {
		t.Fatalf("%s data %s: %v", typ, e.Data, err)
	}
	want := atelier.UserEventData{ID: u.ID, TenantID: u.TenantID, UserName: u.Name, Name: u.DisplayName,
		Email: u.Email, Mobile: u.Mobile, Role: u.Role, Status: u.Status, OrgID: u.OrgID,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), MFA: u.MFA, TOTPEnabled: u.TOTPEnabled}
	if got != want {
		t.Errorf("%s data =\n%+v\nwant\n%+v", typ, got, want)
	}
}

func wantOrgEvent(t *testing.T, e *atelier.Event, typ string, o *atelier.Organization, at time.Time) {
	t.Helper()
	wantEnvelope(t, e, typ, o.TenantID, o.ID, at)
	var got atelier.OrgEventData
	if err := json.Unmarshal(e.Data, &got); err != nil {
		t.Fatalf("%s data %s: %v", typ, e.Data, err)
	}
	want := atelier.OrgEventData{ID: o.ID, TenantID: o.TenantID, Name: o.Name, ParentID: o.ParentID,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
	if got != want {
		t.Errorf("%s data =\n%+v\nwant\n%+v", typ, got, want)
	}
}

func wantEnvelope(t *testing.T, e *atelier.Event, typ, tenantID, subject string, at time.Time) {
	t.Helper()
	if e.Type != typ || e.TenantID != tenantID || e.Subject != subject {
		t.Errorf("event %d: %s of %s in %s, want %s of %s in %s", e.ID, e.Type, e.Subject, e.TenantID, typ, subject, tenantID)
	}
	if !e.CreatedAt.Equal(at) {
		t.Errorf("event %d (%s) at %v, want the clock's %v", e.ID, typ, e.CreatedAt, at)
	}
}

// mustStoredUser reads the user as the store keeps it.
func mustStoredUser(t *testing.T, st store.Store, id string) *atelier.User {
	t.Helper()
	u, err := st.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	return u
}

func mustStoredOrg(t *testing.T, st store.Store, id string) *atelier.Organization {
	t.Helper()
	o, err := st.GetOrg(t.Context(), id)
	if err != nil {
		t.Fatalf("GetOrg: %v", err)
	}
	return o
}

// wantSignal fails unless the store's event signal is readable: it fires
// once the change's transaction committed, before the call returns.
func wantSignal(t *testing.T, st store.Store, what string) {
	t.Helper()
	select {
	case <-st.EventSignal():
	default:
		t.Errorf("no event signal after %s", what)
	}
}

// TestUserEvents checks which user changes append which event, with the
// user's data as stored and the service clock's time.
func TestUserEvents(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		e := mustEnvOn(t, st)
		ob := storetest.NewOutbox(t, e.st)
		admin := e.MustAdmin(t)
		wantUserEvent(t, ob.Want("Bootstrap", storetest.Type, atelier.EventCreateUser)[0], atelier.EventCreateUser,
			mustStoredUser(t, e.st, admin.ID), e.clock.Now())
		ctx := asUser(t, admin, true)
		eng, err := e.svc.CreateOrg(ctx, "", "eng", "")
		if err != nil {
			t.Fatal(err)
		}
		ob.Read()

		e.clock.Advance(time.Minute + 1500*time.Nanosecond) // the store keeps microseconds
		drainSignal(e.st)
		pw := "a-long-password-1"
		u, err := e.svc.CreateUser(ctx, "", atelier.UserSpec{Email: ptr("Ann@Example.com"), DisplayName: ptr("Ann"),
			Mobile: ptr("+15550100"), OrgID: &eng.ID, MFA: ptr(true), Password: &pw})
		if err != nil {
			t.Fatal(err)
		}
		wantSignal(t, e.st, "CreateUser")
		stored := mustStoredUser(t, e.st, u.ID)
		if !u.CreatedAt.Equal(stored.CreatedAt) {
			t.Errorf("CreateUser returned CreatedAt %v, a read gives %v", u.CreatedAt, stored.CreatedAt)
		}
		wantUserEvent(t, ob.Want("CreateUser", storetest.Type, atelier.EventCreateUser)[0], atelier.EventCreateUser, stored,
			e.clock.Now().Truncate(time.Microsecond))

		_, err = e.svc.CreateUser(ctx, "", atelier.UserSpec{Email: ptr("ann@example.com"), Password: &pw})
		wantCode(t, err, atelier.CodeUserExists)
		ob.Want("CreateUser of a taken email", storetest.Type)

		e.clock.Advance(time.Minute)
		if _, err := e.svc.UpdateUser(ctx, u.ID, atelier.UserSpec{DisplayName: ptr("Anna"), Role: ptr(atelier.RoleAdmin)}); err != nil {
			t.Fatal(err)
		}
		stored = mustStoredUser(t, e.st, u.ID)
		wantUserEvent(t, ob.Want("UpdateUser", storetest.Type, atelier.EventUpdateUser)[0], atelier.EventUpdateUser, stored,
			e.clock.Now().Truncate(time.Microsecond))

		_, err = e.svc.UpdateUser(ctx, u.ID, atelier.UserSpec{Email: ptr(adminEmail)})
		wantCode(t, err, atelier.CodeUserExists)
		ob.Want("UpdateUser to a taken email", storetest.Type)

		// Secrets, login counters, lockouts and their updatedAt make no
		// event.
		e.clock.Advance(time.Minute)
		if err := e.svc.ResetPassword(ctx, u.ID, "another-password-2"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "ann@example.com", Password: "wrong"})
		wantCode(t, err, atelier.CodeBadCredentials)
		if err := e.svc.UnlockUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		ob.Want("ResetPassword, a failed login and UnlockUser", storetest.Type)

		// DELETE_USER carries the user as it was deleted.
		e.clock.Advance(time.Minute)
		gone := mustStoredUser(t, e.st, u.ID)
		drainSignal(e.st)
		if err := e.svc.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		wantSignal(t, e.st, "DeleteUser")
		wantUserEvent(t, ob.Want("DeleteUser", storetest.Type, atelier.EventDeleteUser)[0], atelier.EventDeleteUser, gone,
			e.clock.Now().Truncate(time.Microsecond))
		wantCode(t, e.svc.DeleteUser(ctx, u.ID), atelier.CodeUserNotFound)
		ob.Want("DeleteUser of a deleted user", storetest.Type)
	})
}

// drainSignal empties st's event signal, so that a later wantSignal sees
// only what came after.
func drainSignal(st store.Store) {
	select {
	case <-st.EventSignal():
	default:
	}
}

// TestOrgEvents checks which organization changes append which event.
func TestOrgEvents(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		e := mustEnvOn(t, st)
		ob := storetest.NewOutbox(t, e.st)
		admin := e.MustAdmin(t)
		ctx := asUser(t, admin, true)
		ob.Read()

		e.clock.Advance(time.Minute)
		root, err := e.svc.CreateOrg(ctx, "", "root", "")
		if err != nil {
			t.Fatal(err)
		}
		child, err := e.svc.CreateOrg(ctx, "", "child", root.ID)
		if err != nil {
			t.Fatal(err)
		}
		evs := ob.Want("two CreateOrg", storetest.Type, atelier.EventCreateOrganization, atelier.EventCreateOrganization)
		wantOrgEvent(t, evs[0], atelier.EventCreateOrganization, mustStoredOrg(t, e.st, root.ID), e.clock.Now())
		wantOrgEvent(t, evs[1], atelier.EventCreateOrganization, mustStoredOrg(t, e.st, child.ID), e.clock.Now())

		_, err = e.svc.CreateOrg(ctx, "", "child", root.ID)
		wantCode(t, err, atelier.CodeOrgExists)
		ob.Want("CreateOrg of a taken name", storetest.Type)

		e.clock.Advance(time.Minute)
		if _, err := e.svc.UpdateOrg(ctx, child.ID, ptr("kid"), nil); err != nil {
			t.Fatal(err)
		}
		wantOrgEvent(t, ob.Want("UpdateOrg of the name", storetest.Type, atelier.EventUpdateOrganization)[0],
			atelier.EventUpdateOrganization, mustStoredOrg(t, e.st, child.ID), e.clock.Now())

		// A rename to the same name changes only updatedAt: no event.
		e.clock.Advance(time.Minute)
		if _, err := e.svc.UpdateOrg(ctx, child.ID, ptr("kid"), nil); err != nil {
			t.Fatal(err)
		}
		ob.Want("UpdateOrg to the same name", storetest.Type)

		wantCode(t, e.svc.DeleteOrg(ctx, root.ID), atelier.CodeOrgNotEmpty)
		ob.Want("DeleteOrg of a parent", storetest.Type)

		e.clock.Advance(time.Minute)
		if _, err := e.svc.UpdateOrg(ctx, child.ID, nil, ptr("")); err != nil {
			t.Fatal(err)
		}
		wantOrgEvent(t, ob.Want("UpdateOrg to the top", storetest.Type, atelier.EventUpdateOrganization)[0],
			atelier.EventUpdateOrganization, mustStoredOrg(t, e.st, child.ID), e.clock.Now())

		e.clock.Advance(time.Minute)
		gone := mustStoredOrg(t, e.st, root.ID)
		drainSignal(e.st)
		if err := e.svc.DeleteOrg(ctx, root.ID); err != nil {
			t.Fatal(err)
		}
		wantSignal(t, e.st, "DeleteOrg")
		wantOrgEvent(t, ob.Want("DeleteOrg", storetest.Type, atelier.EventDeleteOrganization)[0],
			atelier.EventDeleteOrganization, gone, e.clock.Now())
	})
}

// TestNoChangeWithoutEvent checks that a change whose event cannot be
// appended does not happen: the change and its event are one transaction.
func TestNoChangeWithoutEvent(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		fail := new(atomic.Bool)
		e := mustEnvOn(t, storetest.FailingOutbox{Store: st, Fail: fail})
		admin := e.MustAdmin(t)
		ctx := asUser(t, admin, true)
		pw := "a-long-password-1"
		u, err := e.svc.CreateUser(ctx, "", atelier.UserSpec{Email: ptr("bob@example.com"), Password: &pw})
		if err != nil {
			t.Fatal(err)
		}
		org, err := e.svc.CreateOrg(ctx, "", "eng", "")
		if err != nil {
			t.Fatal(err)
		}
		fail.Store(true)

		wantInternal := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, storetest.ErrOutbox) {
				t.Errorf("%s with a failing outbox = %v, want its error", what, err)
			}
		}
		_, err = e.svc.CreateUser(ctx, "", atelier.UserSpec{Email: ptr("cy@example.com"), Password: &pw})
		wantInternal("CreateUser", err)
		if _, err := e.st.GetUserByEmail(t.Context(), admin.TenantID, "cy@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user created without its event: %v", err)
		}
		_, err = e.svc.UpdateUser(ctx, u.ID, atelier.UserSpec{DisplayName: ptr("Bob")})
		wantInternal("UpdateUser", err)
		if got := mustStoredUser(t, e.st, u.ID); got.DisplayName != "" {
			t.Errorf("a user renamed %q without its event", got.DisplayName)
		}
		wantInternal("DeleteUser", e.svc.DeleteUser(ctx, u.ID))
		mustStoredUser(t, e.st, u.ID)

		_, err = e.svc.CreateOrg(ctx, "", "ops", "")
		wantInternal("CreateOrg", err)
		orgs, err := e.st.ListOrgs(t.Context(), admin.TenantID)
		if err != nil || len(orgs) != 1 {
			t.Errorf("organizations after a CreateOrg without its event: %d, %v", len(orgs), err)
		}
		_, err = e.svc.UpdateOrg(ctx, org.ID, ptr("ops"), nil)
		wantInternal("UpdateOrg", err)
		if got := mustStoredOrg(t, e.st, org.ID); got.Name != "eng" {
			t.Errorf("an organization renamed %q without its event", got.Name)
		}
		wantInternal("DeleteOrg", e.svc.DeleteOrg(ctx, org.ID))
		mustStoredOrg(t, e.st, org.ID)

		// Changes that make no event do not need the outbox.
		if err := e.svc.UnlockUser(ctx, u.ID); err != nil {
			t.Errorf("UnlockUser with a failing outbox: %v", err)
		}
	})
}
