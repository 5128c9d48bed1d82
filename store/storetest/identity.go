package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// MustOrg creates an organization in the tenant under parentID ("" for a
// root).
func MustOrg(t testing.TB, s store.Store, tenantID, parentID, name string) *atelier.Organization {
	t.Helper()
	o := &atelier.Organization{ID: atelier.NewID(), TenantID: tenantID, ParentID: parentID, Name: name,
		CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateOrg(ctxFor(t), o), "CreateOrg")
	return o
}

// MustApp creates an app of the tenant that every user may use, with no
// redirect URIs and no secret.
func MustApp(t testing.TB, s store.Store, tenantID, clientID string) *atelier.App {
	t.Helper()
	a := &atelier.App{ID: atelier.NewID(), TenantID: tenantID, ClientID: clientID, Name: "app " + clientID,
		Access: atelier.AppAccessAll, RedirectURIs: []string{}, CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateApp(ctxFor(t), a), "CreateApp")
	return a
}

// MustToken stores a session token of the user issued through clientID.
func MustToken(t testing.TB, s store.Store, u *atelier.User, clientID string) *atelier.Token {
	t.Helper()
	tk := &atelier.Token{Hash: atelier.NewSecret(32), Kind: atelier.TokenSession, UserID: u.ID, TenantID: u.TenantID,
		ClientID: clientID, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour)}
	must(t, s.CreateToken(ctxFor(t), tk), "CreateToken")
	return tk
}

func wantEqual(t testing.TB, got, want any, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n%+v\nwant\n%+v", what, got, want)
	}
}

var errStop = errors.New("stop")

func testTenantSettings(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := &atelier.Tenant{ID: atelier.NewID(), Name: "t", CreatedAt: epoch, UpdatedAt: epoch, Settings: atelier.TenantSettings{
		PasswordPolicy: atelier.PasswordPolicy{MinLength: 12, MinClasses: 3, History: 4, ExpiryDays: 90, WarnDays: 10},
		MFA:            atelier.MFARequired, CaptchaVerification: true,
	}}
	must(t, s.CreateTenant(ctx, tn), "CreateTenant")
	got, err := s.GetTenant(ctx, tn.ID)
	must(t, err, "GetTenant")
	wantEqual(t, got, tn, "GetTenant")
	// A tenant created without settings or update time reads back with
	// zero ones.
	plain := MustTenant(t, s, "plain")
	got, err = s.GetTenantByName(ctx, "plain")
	must(t, err, "GetTenantByName")
	wantEqual(t, got, plain, "GetTenantByName of a tenant without settings")
	if !got.UpdatedAt.IsZero() {
		t.Errorf("unset UpdatedAt came back as %v", got.UpdatedAt)
	}

	later := epoch.Add(time.Hour)
	upd, err := s.UpdateTenant(ctx, tn.ID, func(x *atelier.Tenant) error {
		if !reflect.DeepEqual(x, tn) {
			return fmt.Errorf("fn got %+v", x)
		}
		x.Name = "renamed"
		x.Settings.MFA = atelier.MFAOptional
		x.Settings.PasswordPolicy.History = 0
		x.UpdatedAt = later
		x.ID, x.CreatedAt = "other", later // ignored
		return nil
	})
	must(t, err, "UpdateTenant")
	want := *tn
	want.Name, want.Settings.MFA, want.Settings.PasswordPolicy.History, want.UpdatedAt = "renamed", atelier.MFAOptional, 0, later
	wantEqual(t, upd, &want, "UpdateTenant")
	got, err = s.GetTenant(ctx, tn.ID)
	must(t, err, "GetTenant after update")
	wantEqual(t, got, &want, "GetTenant after update")
	_, err = s.GetTenantByName(ctx, "t")
	wantErr(t, err, store.ErrNotFound, "GetTenantByName(old name)")

	_, err = s.UpdateTenant(ctx, tn.ID, func(x *atelier.Tenant) error { x.Name = "plain"; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateTenant to a taken name")
	_, err = s.UpdateTenant(ctx, tn.ID, func(x *atelier.Tenant) error { x.Name = "x"; return errStop })
	if err != errStop {
		t.Errorf("UpdateTenant with a failing fn = %v, want fn's error as is", err)
	}
	called := false
	_, err = s.UpdateTenant(ctx, "nope", func(*atelier.Tenant) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateTenant(unknown)")
	if called {
		t.Error("UpdateTenant(unknown) called fn")
	}
	got, err = s.GetTenant(ctx, tn.ID)
	must(t, err, "GetTenant after failed updates")
	wantEqual(t, got, &want, "GetTenant after failed updates")
}

func testUserIdentityFields(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	org := MustOrg(t, s, tn.ID, "", "eng")
	u := &atelier.User{
		ID: atelier.NewID(), TenantID: tn.ID, Email: "ann@example.com", Name: "ann", DisplayName: "Ann",
		Mobile: "+86 138 0000 0000", Role: atelier.RoleAdmin, Status: atelier.UserActive, OrgID: org.ID,
		PasswordHash: "$argon2id$now", PasswordChangedAt: epoch,
		PasswordHistory:    []string{"$argon2id$old1", "$argon2id$old2"},
		MustChangePassword: true, MFA: true, TOTPSecret: "sealed-seed", TOTPEnabled: true,
		FailedLogins: 3, LockedUntil: epoch.Add(15 * time.Minute), CreatedAt: epoch, UpdatedAt: epoch,
	}
	must(t, s.CreateUser(ctx, u), "CreateUser")
	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	wantEqual(t, got, u, "GetUser")

	// UpdateUser writes every field; the zero LockedUntil and an empty
	// history round-trip.
	later := epoch.Add(time.Hour)
	upd, err := s.UpdateUser(ctx, u.ID, func(x *atelier.User) error {
		x.OrgID = ""
		x.PasswordHistory = nil
		x.MustChangePassword, x.MFA, x.TOTPEnabled = false, false, false
		x.TOTPSecret = ""
		x.FailedLogins = 0
		x.LockedUntil = time.Time{}
		x.UpdatedAt = later
		return nil
	})
	must(t, err, "UpdateUser")
	want := *u
	want.OrgID, want.PasswordHistory, want.MustChangePassword, want.MFA, want.TOTPEnabled = "", []string{}, false, false, false
	want.TOTPSecret, want.FailedLogins, want.LockedUntil, want.UpdatedAt = "", 0, time.Time{}, later
	wantEqual(t, upd, &want, "UpdateUser")
	got, err = s.GetUser(ctx, u.ID)
	must(t, err, "GetUser after update")
	wantEqual(t, got, &want, "GetUser after update")
	if got.PasswordHistory == nil || !got.LockedUntil.IsZero() {
		t.Errorf("PasswordHistory = %#v (want empty, not nil), LockedUntil = %v (want zero)", got.PasswordHistory, got.LockedUntil)
	}

	// Back again, through UpdateUser this time.
	upd, err = s.UpdateUser(ctx, u.ID, func(x *atelier.User) error {
		x.OrgID, x.PasswordHistory, x.MustChangePassword, x.MFA = u.OrgID, u.PasswordHistory, true, true
		x.TOTPSecret, x.TOTPEnabled, x.FailedLogins, x.LockedUntil = u.TOTPSecret, true, 3, u.LockedUntil
		x.UpdatedAt = u.UpdatedAt
		return nil
	})
	must(t, err, "UpdateUser back")
	wantEqual(t, upd, u, "UpdateUser back")
	got, err = s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	wantEqual(t, got, u, "GetUser after updating back")

	// A nil history is stored as an empty one.
	nilHist := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: "nil@example.com", Name: "nil",
		Role: atelier.RoleMember, Status: atelier.UserActive, CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateUser(ctx, nilHist), "CreateUser with a nil history")
	got, err = s.GetUser(ctx, nilHist.ID)
	must(t, err, "GetUser")
	if got.PasswordHistory == nil || len(got.PasswordHistory) != 0 {
		t.Errorf("nil PasswordHistory came back as %#v, want an empty non-nil slice", got.PasswordHistory)
	}

	// The organization must exist in the user's tenant.
	other := MustTenant(t, s, "other")
	foreign := MustOrg(t, s, other.ID, "", "eng")
	for _, orgID := range []string{"nope", foreign.ID} {
		bad := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: "bad@example.com", Name: "bad",
			Role: atelier.RoleMember, Status: atelier.UserActive, OrgID: orgID, CreatedAt: epoch, UpdatedAt: epoch}
		wantErr(t, s.CreateUser(ctx, bad), store.ErrNotFound, "CreateUser in an unknown org or another tenant's")
		_, err = s.UpdateUser(ctx, nilHist.ID, func(x *atelier.User) error { x.OrgID = orgID; return nil })
		wantErr(t, err, store.ErrNotFound, "UpdateUser into an unknown org or another tenant's")
	}
	_, err = s.GetUserByEmail(ctx, tn.ID, "bad@example.com")
	wantErr(t, err, store.ErrNotFound, "GetUserByEmail of a refused user")
	// A user in an org may still hit a unique conflict.
	dup := want
	dup.ID, dup.OrgID = atelier.NewID(), org.ID
	wantErr(t, s.CreateUser(ctx, &dup), store.ErrConflict, "CreateUser in an org with a taken email")
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	ann, bob := MustUser(t, s, tn.ID, "ann"), MustUser(t, s, tn.ID, "bob")
	app := MustApp(t, s, tn.ID, "web")
	var annTokens, bobTokens []*atelier.Token
	for range 2 {
		annTokens = append(annTokens, MustToken(t, s, ann, "web"))
		bobTokens = append(bobTokens, MustToken(t, s, bob, "web"))
	}
	for _, u := range []*atelier.User{ann, bob} {
		k := &atelier.APIKey{AccessKey: atelier.NewAccessKey(), TenantID: tn.ID, UserID: u.ID, SecretHash: "h", CreatedAt: epoch}
		must(t, s.CreateAPIKey(ctx, k), "CreateAPIKey")
		must(t, s.GrantApp(ctx, app.ID, u.ID, epoch), "GrantApp")
	}

	// DeleteUser returns the user as it was deleted, with a change made
	// just before.
	upd, err := s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error {
		u.DisplayName, u.UpdatedAt = "Ann", epoch.Add(time.Hour)
		return nil
	})
	must(t, err, "UpdateUser")
	gone, err := s.DeleteUser(ctx, ann.ID)
	must(t, err, "DeleteUser")
	wantEqual(t, gone, upd, "DeleteUser's user")
	_, err = s.GetUser(ctx, ann.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after delete")
	for _, tk := range annTokens {
		_, err := s.GetToken(ctx, tk.Hash)
		wantErr(t, err, store.ErrNotFound, "GetToken of a deleted user's token")
	}
	keys, err := s.ListAPIKeys(ctx, tn.ID, ann.ID)
	must(t, err, "ListAPIKeys")
	if len(keys) != 0 {
		t.Errorf("a deleted user keeps %d API keys", len(keys))
	}
	has, err := s.HasAppGrant(ctx, app.ID, ann.ID)
	must(t, err, "HasAppGrant")
	if has {
		t.Error("a deleted user keeps an app grant")
	}
	// Bob keeps everything.
	_, err = s.GetUser(ctx, bob.ID)
	must(t, err, "GetUser(bob)")
	for _, tk := range bobTokens {
		_, err := s.GetToken(ctx, tk.Hash)
		must(t, err, "GetToken of another user's token")
	}
	keys, err = s.ListAPIKeys(ctx, tn.ID, bob.ID)
	must(t, err, "ListAPIKeys(bob)")
	if len(keys) != 1 {
		t.Errorf("bob has %d API keys, want 1", len(keys))
	}
	grants, err := s.ListAppGrants(ctx, app.ID)
	must(t, err, "ListAppGrants")
	wantEqual(t, grants, []string{bob.ID}, "ListAppGrants after deleting ann")

	_, err = s.DeleteUser(ctx, ann.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteUser twice")
	// The email is free again.
	MustUser(t, s, tn.ID, "ann")
}

func testOrgs(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	eng := MustOrg(t, s, t1.ID, "", "eng")
	sales := MustOrg(t, s, t1.ID, "", "Sales")
	backend := MustOrg(t, s, t1.ID, eng.ID, "backend")
	// Names are unique per parent only, and per tenant.
	salesBackend := MustOrg(t, s, t1.ID, sales.ID, "backend")
	MustOrg(t, s, t2.ID, "", "eng")

	got, err := s.GetOrg(ctx, backend.ID)
	must(t, err, "GetOrg")
	wantEqual(t, got, backend, "GetOrg")
	_, err = s.GetOrg(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetOrg(unknown)")

	dup := *backend
	dup.ID = atelier.NewID()
	wantErr(t, s.CreateOrg(ctx, &dup), store.ErrConflict, "CreateOrg with a taken name under the parent")
	dupRoot := *eng
	dupRoot.ID = atelier.NewID()
	wantErr(t, s.CreateOrg(ctx, &dupRoot), store.ErrConflict, "CreateOrg with a taken root name")
	for _, parent := range []string{"nope", MustOrg(t, s, t2.ID, "", "x").ID} {
		orphan := &atelier.Organization{ID: atelier.NewID(), TenantID: t1.ID, ParentID: parent, Name: "orphan",
			CreatedAt: epoch, UpdatedAt: epoch}
		wantErr(t, s.CreateOrg(ctx, orphan), store.ErrNotFound, "CreateOrg under an unknown parent or another tenant's")
	}

	list, err := s.ListOrgs(ctx, t1.ID)
	must(t, err, "ListOrgs")
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
		if o.TenantID != t1.ID {
			t.Errorf("ListOrgs(t1) returned %+v of another tenant", o)
		}
	}
	// Byte order: upper case sorts first.
	if want := []string{"Sales", "backend", "backend", "eng"}; !slices.Equal(names, want) {
		t.Errorf("ListOrgs names = %q, want %q", names, want)
	}
	list, err = s.ListOrgs(ctx, "none")
	must(t, err, "ListOrgs(unknown tenant)")
	if len(list) != 0 {
		t.Errorf("ListOrgs(unknown tenant) = %v", list)
	}

	// Move backend under sales: its name is taken there.
	_, err = s.UpdateOrg(ctx, backend.ID, func(o *atelier.Organization) error { o.ParentID = sales.ID; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateOrg to a taken name under the new parent")
	later := epoch.Add(time.Hour)
	upd, err := s.UpdateOrg(ctx, backend.ID, func(o *atelier.Organization) error {
		if !reflect.DeepEqual(o, backend) {
			return fmt.Errorf("fn got %+v", o)
		}
		o.ParentID, o.Name, o.UpdatedAt = sales.ID, "platform", later
		o.TenantID, o.CreatedAt = t2.ID, later // ignored
		return nil
	})
	must(t, err, "UpdateOrg")
	want := *backend
	want.ParentID, want.Name, want.UpdatedAt = sales.ID, "platform", later
	wantEqual(t, upd, &want, "UpdateOrg")
	got, err = s.GetOrg(ctx, backend.ID)
	must(t, err, "GetOrg after update")
	wantEqual(t, got, &want, "GetOrg after update")
	// To the root and back.
	upd, err = s.UpdateOrg(ctx, salesBackend.ID, func(o *atelier.Organization) error { o.ParentID = ""; return nil })
	must(t, err, "UpdateOrg to the root")
	if upd.ParentID != "" {
		t.Errorf("UpdateOrg to the root: parent %q", upd.ParentID)
	}

	_, err = s.UpdateOrg(ctx, eng.ID, func(o *atelier.Organization) error { o.ParentID = eng.ID; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateOrg to its own parent")
	_, err = s.UpdateOrg(ctx, eng.ID, func(o *atelier.Organization) error { o.ParentID = "nope"; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateOrg under an unknown parent")
	_, err = s.UpdateOrg(ctx, eng.ID, func(o *atelier.Organization) error { o.Name = "x"; return errStop })
	if err != errStop {
		t.Errorf("UpdateOrg with a failing fn = %v, want fn's error as is", err)
	}
	called := false
	_, err = s.UpdateOrg(ctx, "nope", func(*atelier.Organization) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateOrg(unknown)")
	if called {
		t.Error("UpdateOrg(unknown) called fn")
	}
	got, err = s.GetOrg(ctx, eng.ID)
	must(t, err, "GetOrg")
	wantEqual(t, got, eng, "GetOrg after failed updates")
}

func testDeleteOrg(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	root := MustOrg(t, s, tn.ID, "", "root")
	child := MustOrg(t, s, tn.ID, root.ID, "child")
	u := MustUser(t, s, tn.ID, "ann")
	_, err := s.UpdateUser(ctx, u.ID, func(x *atelier.User) error { x.OrgID = child.ID; return nil })
	must(t, err, "UpdateUser into the child org")

	_, err = s.DeleteOrg(ctx, root.ID)
	wantErr(t, err, store.ErrNotEmpty, "DeleteOrg with a child")
	_, err = s.DeleteOrg(ctx, child.ID)
	wantErr(t, err, store.ErrNotEmpty, "DeleteOrg with a user")
	_, err = s.UpdateUser(ctx, u.ID, func(x *atelier.User) error { x.OrgID = ""; return nil })
	must(t, err, "UpdateUser out of the org")
	gone, err := s.DeleteOrg(ctx, child.ID)
	must(t, err, "DeleteOrg of an empty org")
	wantEqual(t, gone, child, "DeleteOrg's organization")
	_, err = s.GetOrg(ctx, child.ID)
	wantErr(t, err, store.ErrNotFound, "GetOrg after delete")
	_, err = s.DeleteOrg(ctx, child.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteOrg twice")
	_, err = s.DeleteOrg(ctx, root.ID)
	must(t, err, "DeleteOrg once its child is gone")
	// Users of a deleted org cannot be created.
	bad := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: "b@example.com", Name: "b",
		Role: atelier.RoleMember, Status: atelier.UserActive, OrgID: root.ID, CreatedAt: epoch, UpdatedAt: epoch}
	wantErr(t, s.CreateUser(ctx, bad), store.ErrNotFound, "CreateUser in a deleted org")
}

func testAppFields(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	// Nil redirect URIs read back as an empty, non-nil list.
	bare := &atelier.App{ID: atelier.NewID(), TenantID: t1.ID, ClientID: "bare", Name: "Bare", Access: atelier.AppAccessAll, CreatedAt: epoch}
	must(t, s.CreateApp(ctx, bare), "CreateApp")
	got, err := s.GetAppByClientID(ctx, "bare")
	must(t, err, "GetAppByClientID")
	if got.RedirectURIs == nil || len(got.RedirectURIs) != 0 {
		t.Errorf("nil RedirectURIs came back as %#v, want an empty non-nil slice", got.RedirectURIs)
	}
	if !got.UpdatedAt.IsZero() {
		t.Errorf("unset UpdatedAt came back as %v", got.UpdatedAt)
	}
	web := MustApp(t, s, t1.ID, "web")
	cli := &atelier.App{ID: atelier.NewID(), TenantID: t1.ID, ClientID: atelier.CLIClientID, Name: "Atelier CLI",
		BuiltIn: true, Access: atelier.AppAccessAll, RedirectURIs: []string{"http://127.0.0.1/callback"},
		CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.CreateApp(ctx, cli), "CreateApp")
	MustApp(t, s, t2.ID, "elsewhere")

	list, err := s.ListApps(ctx, t1.ID)
	must(t, err, "ListApps")
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ClientID)
	}
	if want := []string{atelier.CLIClientID, "bare", "web"}; !slices.Equal(ids, want) {
		t.Errorf("ListApps = %q, want by name %q", ids, want)
	}
	if len(list) == 3 {
		wantEqual(t, list[0], cli, "ListApps[0]")
	}

	later := epoch.Add(time.Hour)
	upd, err := s.UpdateApp(ctx, "web", func(a *atelier.App) error {
		if !reflect.DeepEqual(a, web) {
			return fmt.Errorf("fn got %+v", a)
		}
		a.Name, a.ISV, a.Access, a.IDTokenTTL, a.SecretHash = "Web", true, atelier.AppAccessGranted, 300, "$argon2id$s"
		a.RedirectURIs = []string{"https://a.example/cb", "https://b.example/cb"}
		a.UpdatedAt = later
		a.ID, a.TenantID, a.ClientID, a.BuiltIn = "x", t2.ID, "other", true // ignored
		return nil
	})
	must(t, err, "UpdateApp")
	want := *web
	want.Name, want.ISV, want.Access, want.IDTokenTTL, want.SecretHash = "Web", true, atelier.AppAccessGranted, 300, "$argon2id$s"
	want.RedirectURIs, want.UpdatedAt = []string{"https://a.example/cb", "https://b.example/cb"}, later
	wantEqual(t, upd, &want, "UpdateApp")
	got, err = s.GetAppByClientID(ctx, "web")
	must(t, err, "GetAppByClientID after update")
	wantEqual(t, got, &want, "GetAppByClientID after update")
	_, err = s.GetAppByClientID(ctx, "other")
	wantErr(t, err, store.ErrNotFound, "GetAppByClientID(new client id)")

	upd, err = s.UpdateApp(ctx, "web", func(a *atelier.App) error { a.RedirectURIs = nil; return nil })
	must(t, err, "UpdateApp clearing the redirect URIs")
	got, err = s.GetAppByClientID(ctx, "web")
	must(t, err, "GetAppByClientID")
	if got.RedirectURIs == nil || len(got.RedirectURIs) != 0 || !reflect.DeepEqual(upd, got) {
		t.Errorf("cleared RedirectURIs: UpdateApp returned %#v, stored %#v; want both empty, non-nil", upd.RedirectURIs, got.RedirectURIs)
	}
	_, err = s.UpdateApp(ctx, "web", func(a *atelier.App) error { a.Name = "x"; return errStop })
	if err != errStop {
		t.Errorf("UpdateApp with a failing fn = %v, want fn's error as is", err)
	}
	called := false
	_, err = s.UpdateApp(ctx, "nope", func(*atelier.App) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateApp(unknown)")
	if called {
		t.Error("UpdateApp(unknown) called fn")
	}
}

func testAppGrants(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	web, cli := MustApp(t, s, tn.ID, "web"), MustApp(t, s, tn.ID, "cli")
	users := []*atelier.User{MustUser(t, s, tn.ID, "c"), MustUser(t, s, tn.ID, "a"), MustUser(t, s, tn.ID, "b")}
	var ids []string
	for _, u := range users {
		must(t, s.GrantApp(ctx, web.ID, u.ID, epoch), "GrantApp")
		ids = append(ids, u.ID)
	}
	must(t, s.GrantApp(ctx, web.ID, users[0].ID, epoch.Add(time.Hour)), "GrantApp twice")
	slices.Sort(ids)
	got, err := s.ListAppGrants(ctx, web.ID)
	must(t, err, "ListAppGrants")
	wantEqual(t, got, ids, "ListAppGrants")
	got, err = s.ListAppGrants(ctx, cli.ID)
	must(t, err, "ListAppGrants(no grants)")
	if len(got) != 0 {
		t.Errorf("ListAppGrants of an app without grants = %q", got)
	}
	for _, c := range []struct {
		app, user string
		want      bool
	}{{web.ID, users[1].ID, true}, {cli.ID, users[1].ID, false}, {web.ID, "nope", false}} {
		has, err := s.HasAppGrant(ctx, c.app, c.user)
		must(t, err, "HasAppGrant")
		if has != c.want {
			t.Errorf("HasAppGrant(%s, %s) = %v, want %v", c.app, c.user, has, c.want)
		}
	}
	must(t, s.RevokeApp(ctx, web.ID, users[1].ID), "RevokeApp")
	wantErr(t, s.RevokeApp(ctx, web.ID, users[1].ID), store.ErrNotFound, "RevokeApp twice")
	wantErr(t, s.RevokeApp(ctx, cli.ID, users[0].ID), store.ErrNotFound, "RevokeApp without a grant")
	has, err := s.HasAppGrant(ctx, web.ID, users[1].ID)
	must(t, err, "HasAppGrant")
	if has {
		t.Error("HasAppGrant after RevokeApp = true")
	}
}

func testDeleteApp(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	web, cli := MustApp(t, s, tn.ID, "web"), MustApp(t, s, tn.ID, "cli")
	ann := MustUser(t, s, tn.ID, "ann")
	for _, a := range []*atelier.App{web, cli} {
		must(t, s.GrantApp(ctx, a.ID, ann.ID, epoch), "GrantApp")
	}
	webTokens := []*atelier.Token{MustToken(t, s, ann, "web"), MustToken(t, s, ann, "web")}
	cliToken := MustToken(t, s, ann, "cli")
	for _, a := range []*atelier.App{web, cli} {
		must(t, s.PutSubscription(ctx, &atelier.Subscription{ClientID: a.ClientID, TenantID: tn.ID, URL: "https://example.com/cb",
			EventTypes: []string{atelier.EventCreateUser}, Enabled: true, Sealed: "sealed", CreatedAt: epoch, UpdatedAt: epoch}), "PutSubscription")
	}

	must(t, s.DeleteApp(ctx, "web"), "DeleteApp")
	_, err := s.GetSubscription(ctx, "web")
	wantErr(t, err, store.ErrNotFound, "GetSubscription of a deleted app")
	if _, err := s.GetSubscription(ctx, "cli"); err != nil {
		t.Errorf("another app lost its subscription: %v", err)
	}
	_, err = s.GetAppByClientID(ctx, "web")
	wantErr(t, err, store.ErrNotFound, "GetAppByClientID after delete")
	for _, tk := range webTokens {
		_, err := s.GetToken(ctx, tk.Hash)
		wantErr(t, err, store.ErrNotFound, "GetToken issued through a deleted app")
	}
	grants, err := s.ListAppGrants(ctx, web.ID)
	must(t, err, "ListAppGrants")
	if len(grants) != 0 {
		t.Errorf("a deleted app keeps grants %q", grants)
	}
	_, err = s.GetToken(ctx, cliToken.Hash)
	must(t, err, "GetToken of another app's token")
	has, err := s.HasAppGrant(ctx, cli.ID, ann.ID)
	must(t, err, "HasAppGrant")
	if !has {
		t.Error("another app lost its grant")
	}
	wantErr(t, s.DeleteApp(ctx, "web"), store.ErrNotFound, "DeleteApp twice")
	// The client id is free again.
	MustApp(t, s, tn.ID, "web")
}

func testTokenFields(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	code := &atelier.Token{Hash: atelier.NewSecret(32), Kind: atelier.TokenCode, UserID: "u1", TenantID: "t",
		ClientID: "web", Purpose: "openid", Data: `{"redirect_uri":"https://x/cb","nonce":"n"}`,
		CreatedAt: epoch, ExpiresAt: epoch.Add(time.Minute)}
	must(t, s.CreateToken(ctx, code), "CreateToken")
	got, err := s.GetToken(ctx, code.Hash)
	must(t, err, "GetToken")
	wantEqual(t, got, code, "GetToken")

	got, err = s.ConsumeToken(ctx, code.Hash)
	must(t, err, "ConsumeToken")
	wantEqual(t, got, code, "ConsumeToken")
	_, err = s.ConsumeToken(ctx, code.Hash)
	wantErr(t, err, store.ErrNotFound, "ConsumeToken twice")
	_, err = s.GetToken(ctx, code.Hash)
	wantErr(t, err, store.ErrNotFound, "GetToken after ConsumeToken")
	// Expiry is the caller's business.
	old := newToken("u1", "", epoch.Add(-time.Hour))
	must(t, s.CreateToken(ctx, old), "CreateToken")
	_, err = s.ConsumeToken(ctx, old.Hash)
	must(t, err, "ConsumeToken of an expired token")
}

func testDeleteUserTokens(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	var mine []*atelier.Token
	for range 3 {
		tk := newToken("u1", "", epoch.Add(time.Hour))
		must(t, s.CreateToken(ctx, tk), "CreateToken")
		mine = append(mine, tk)
	}
	theirs := newToken("u2", "", epoch.Add(time.Hour))
	app := newToken("", "", epoch.Add(time.Hour))
	app.Kind = atelier.TokenClient
	for _, tk := range []*atelier.Token{theirs, app} {
		must(t, s.CreateToken(ctx, tk), "CreateToken")
	}
	n, err := s.DeleteUserTokens(ctx, "u1", mine[1].Hash)
	must(t, err, "DeleteUserTokens")
	if n != 2 {
		t.Errorf("DeleteUserTokens keeping one = %d, want 2", n)
	}
	for i, tk := range mine {
		_, err := s.GetToken(ctx, tk.Hash)
		if i == 1 {
			must(t, err, "GetToken of the kept token")
		} else {
			wantErr(t, err, store.ErrNotFound, "GetToken of a revoked token")
		}
	}
	n, err = s.DeleteUserTokens(ctx, "u1", "")
	must(t, err, "DeleteUserTokens")
	if n != 1 {
		t.Errorf("DeleteUserTokens keeping none = %d, want 1", n)
	}
	n, err = s.DeleteUserTokens(ctx, "", "")
	must(t, err, "DeleteUserTokens(no user)")
	if n != 0 {
		t.Errorf("DeleteUserTokens(no user) = %d, want 0", n)
	}
	for _, tk := range []*atelier.Token{theirs, app} {
		_, err := s.GetToken(ctx, tk.Hash)
		must(t, err, "GetToken of a token of someone else")
	}
}

func newChallenge(id string, expires time.Time) *store.Challenge {
	return &store.Challenge{ID: id, UserID: "u1", Channel: "sms", CodeHash: "hash-" + id, Attempts: 1, Sends: 2,
		SentAt: epoch, ExpiresAt: expires, CreatedAt: epoch}
}

func testChallenges(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	c := newChallenge("state:sms", epoch.Add(5*time.Minute))
	must(t, s.PutChallenge(ctx, c), "PutChallenge")
	got, err := s.GetChallenge(ctx, c.ID)
	must(t, err, "GetChallenge")
	wantEqual(t, got, c, "GetChallenge")
	_, err = s.GetChallenge(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetChallenge(unknown)")

	// Put replaces.
	c2 := &store.Challenge{ID: c.ID, UserID: "u2", Channel: "email", CodeHash: "new", Sends: 1,
		ExpiresAt: epoch.Add(10 * time.Minute), CreatedAt: epoch.Add(time.Minute)}
	must(t, s.PutChallenge(ctx, c2), "PutChallenge over an existing one")
	got, err = s.GetChallenge(ctx, c.ID)
	must(t, err, "GetChallenge")
	wantEqual(t, got, c2, "GetChallenge after replacing")
	if !got.SentAt.IsZero() {
		t.Errorf("zero SentAt came back as %v", got.SentAt)
	}

	upd, err := s.UpdateChallenge(ctx, c.ID, func(x *store.Challenge) error {
		if !reflect.DeepEqual(x, c2) {
			return fmt.Errorf("fn got %+v", x)
		}
		x.Attempts++
		x.Sends++
		x.CodeHash, x.SentAt = "newer", epoch.Add(2*time.Minute)
		x.ID = "ignored"
		return nil
	})
	must(t, err, "UpdateChallenge")
	want := *c2
	want.Attempts, want.Sends, want.CodeHash, want.SentAt = 1, 2, "newer", epoch.Add(2*time.Minute)
	wantEqual(t, upd, &want, "UpdateChallenge")
	got, err = s.GetChallenge(ctx, c.ID)
	must(t, err, "GetChallenge after update")
	wantEqual(t, got, &want, "GetChallenge after update")
	_, err = s.UpdateChallenge(ctx, c.ID, func(x *store.Challenge) error { x.Attempts = 99; return errStop })
	if err != errStop {
		t.Errorf("UpdateChallenge with a failing fn = %v, want fn's error as is", err)
	}
	called := false
	_, err = s.UpdateChallenge(ctx, "nope", func(*store.Challenge) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateChallenge(unknown)")
	if called {
		t.Error("UpdateChallenge(unknown) called fn")
	}

	must(t, s.DeleteChallenge(ctx, c.ID), "DeleteChallenge")
	_, err = s.GetChallenge(ctx, c.ID)
	wantErr(t, err, store.ErrNotFound, "GetChallenge after delete")
	must(t, s.DeleteChallenge(ctx, c.ID), "DeleteChallenge is idempotent")

	expired := []*store.Challenge{newChallenge("a", epoch.Add(-time.Hour)), newChallenge("b", epoch.Add(-time.Microsecond))}
	live := []*store.Challenge{newChallenge("c", epoch), newChallenge("d", epoch.Add(time.Hour))}
	for _, c := range append(slices.Clone(expired), live...) {
		must(t, s.PutChallenge(ctx, c), "PutChallenge")
	}
	n, err := s.DeleteExpiredChallenges(ctx, epoch)
	must(t, err, "DeleteExpiredChallenges")
	if n != 2 {
		t.Errorf("DeleteExpiredChallenges = %d, want 2", n)
	}
	for _, c := range expired {
		_, err := s.GetChallenge(ctx, c.ID)
		wantErr(t, err, store.ErrNotFound, "GetChallenge of an expired challenge")
	}
	for _, c := range live {
		_, err := s.GetChallenge(ctx, c.ID)
		must(t, err, "GetChallenge of a challenge not expired before now")
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	list, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys(empty)")
	if len(list) != 0 {
		t.Errorf("ListSigningKeys of a new store = %v", list)
	}
	var keys []*store.SigningKey
	for i, at := range []time.Time{epoch.Add(time.Hour), epoch, epoch.Add(2 * time.Hour)} {
		k := &store.SigningKey{ID: "kid" + strconv.Itoa(i), Sealed: "sealed" + strconv.Itoa(i), CreatedAt: at}
		must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
		keys = append(keys, k)
	}
	wantErr(t, s.CreateSigningKey(ctx, keys[0]), store.ErrConflict, "CreateSigningKey twice")
	list, err = s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	wantEqual(t, list, []*store.SigningKey{keys[2], keys[0], keys[1]}, "ListSigningKeys, newest first")
	must(t, s.DeleteSigningKey(ctx, keys[0].ID), "DeleteSigningKey")
	must(t, s.DeleteSigningKey(ctx, keys[0].ID), "DeleteSigningKey is idempotent")
	list, err = s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	wantEqual(t, list, []*store.SigningKey{keys[2], keys[1]}, "ListSigningKeys after delete")
}

// auditEvents appends n events, newest last; several share a time so that
// the id breaks ties.
func auditEvents(t *testing.T, s store.Store, n int) []*atelier.AuditEvent {
	t.Helper()
	actions := []string{"login", "user.create", "user.update", "user_x", "app.create", "usera"}
	var out []*atelier.AuditEvent
	for i := range n {
		e := &atelier.AuditEvent{
			ID:       fmt.Sprintf("ev%05d", (i*7919)%100000), // ids not in time order
			Time:     epoch.Add(time.Duration(i/3) * time.Second),
			TenantID: []string{"t1", "t2"}[i%2],
			ActorID:  []string{"u1", "u2", "u3"}[i%3],
			Actor:    "someone@example.com",
			Action:   actions[i%len(actions)],
			Target:   "target",
			Outcome:  []string{atelier.AuditSuccess, atelier.AuditSuccess, atelier.AuditFailure}[i%3/2+i%2],
			Reason:   "reason", IP: "192.0.2.1", Device: "fp", ClientID: "web",
		}
		must(t, s.AppendAudit(ctxFor(t), e), "AppendAudit")
		out = append(out, e)
	}
	return out
}

// newestFirst sorts events as ListAudit returns them.
func newestFirst(evs []*atelier.AuditEvent) []*atelier.AuditEvent {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b *atelier.AuditEvent) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	return out
}

func auditIDs(evs []*atelier.AuditEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testAuditFilters(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	all := auditEvents(t, s, 60)
	wantErr(t, s.AppendAudit(ctx, all[0]), store.ErrConflict, "AppendAudit of an existing id")
	noID := &atelier.AuditEvent{Time: epoch.Add(-time.Hour), Action: "boot", Outcome: atelier.AuditSuccess}
	must(t, s.AppendAudit(ctx, noID), "AppendAudit without an id")
	if noID.ID == "" {
		t.Error("AppendAudit left an empty id")
	}
	all = append(all, noID)

	got, err := s.ListAudit(ctx, store.AuditFilter{TenantID: "t1", Limit: 1})
	must(t, err, "ListAudit")
	if len(got) == 1 {
		wantEqual(t, got[0], newestFirst(filterEvents(all, func(e *atelier.AuditEvent) bool { return e.TenantID == "t1" }))[0], "ListAudit's newest t1 event")
	}

	since, until := epoch.Add(5*time.Second), epoch.Add(12*time.Second)
	tests := []struct {
		name string
		f    store.AuditFilter
		keep func(e *atelier.AuditEvent) bool
	}{
		{"none", store.AuditFilter{}, func(*atelier.AuditEvent) bool { return true }},
		{"tenant", store.AuditFilter{TenantID: "t2"}, func(e *atelier.AuditEvent) bool { return e.TenantID == "t2" }},
		{"actor", store.AuditFilter{ActorID: "u3"}, func(e *atelier.AuditEvent) bool { return e.ActorID == "u3" }},
		{"action", store.AuditFilter{Action: "user.create"}, func(e *atelier.AuditEvent) bool { return e.Action == "user.create" }},
		{"action prefix", store.AuditFilter{ActionPrefix: "user."}, func(e *atelier.AuditEvent) bool {
			return e.Action == "user.create" || e.Action == "user.update"
		}},
		{"action prefix with _", store.AuditFilter{ActionPrefix: "user_"}, func(e *atelier.AuditEvent) bool { return e.Action == "user_x" }},
		{"outcome", store.AuditFilter{Outcome: atelier.AuditFailure}, func(e *atelier.AuditEvent) bool { return e.Outcome == atelier.AuditFailure }},
		{"since", store.AuditFilter{Since: since}, func(e *atelier.AuditEvent) bool { return !e.Time.Before(since) }},
		{"until", store.AuditFilter{Until: until}, func(e *atelier.AuditEvent) bool { return e.Time.Before(until) }},
		{"combined", store.AuditFilter{TenantID: "t1", ActionPrefix: "user", Since: since, Until: until},
			func(e *atelier.AuditEvent) bool {
				return e.TenantID == "t1" && len(e.Action) >= 4 && e.Action[:4] == "user" && !e.Time.Before(since) && e.Time.Before(until)
			}},
		{"nothing", store.AuditFilter{TenantID: "t3"}, func(*atelier.AuditEvent) bool { return false }},
	}
	for _, tt := range tests {
		got, err := s.ListAudit(ctx, tt.f)
		must(t, err, "ListAudit "+tt.name)
		want := newestFirst(filterEvents(all, tt.keep))
		if len(want) == 0 && tt.name != "nothing" {
			t.Fatalf("filter %s: the fixture has no matching event", tt.name)
		}
		if !slices.Equal(auditIDs(got), auditIDs(want)) {
			t.Errorf("ListAudit(%s) =\n%q\nwant\n%q", tt.name, auditIDs(got), auditIDs(want))
		}
	}
}

func filterEvents(evs []*atelier.AuditEvent, keep func(*atelier.AuditEvent) bool) []*atelier.AuditEvent {
	var out []*atelier.AuditEvent
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func testAuditPaging(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const n = 1003
	want := auditIDs(newestFirst(auditEvents(t, s, n)))

	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err, "ListAudit")
	if len(got) != 100 {
		t.Errorf("ListAudit without a limit = %d events, want the default 100", len(got))
	}
	got, err = s.ListAudit(ctx, store.AuditFilter{Limit: 5000})
	must(t, err, "ListAudit")
	if len(got) != 1000 {
		t.Errorf("ListAudit(limit 5000) = %d events, want at most 1000", len(got))
	}
	for _, limit := range []int{0, 7, 1000} {
		var ids []string
		f := store.AuditFilter{Limit: limit}
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			page, err := s.ListAudit(ctx, f)
			must(t, err, "ListAudit page")
			if len(page) == 0 {
				break
			}
			ids = append(ids, auditIDs(page)...)
			last := page[len(page)-1]
			f.BeforeTime, f.BeforeID = last.Time, last.ID
		}
		if !slices.Equal(ids, want) {
			t.Errorf("limit %d: pages joined have %d events, want each of the %d once, newest first", limit, len(ids), len(want))
		}
	}
	// Paging composes with a filter.
	var ids []string
	f := store.AuditFilter{TenantID: "t2", Limit: 50}
	for {
		page, err := s.ListAudit(ctx, f)
		must(t, err, "ListAudit page")
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.TenantID != "t2" {
				t.Fatalf("filtered page holds %+v", e)
			}
		}
		ids = append(ids, auditIDs(page)...)
		f.BeforeTime, f.BeforeID = page[len(page)-1].Time, page[len(page)-1].ID
	}
	if len(ids) != n/2 {
		t.Errorf("paging t2's events gave %d, want %d", len(ids), n/2)
	}
}

// testDeleteOrgRacesCreateUser runs DeleteOrg against CreateUser into the
// same organization: exactly one wins, and no user is left in a deleted
// organization.
func testDeleteOrgRacesCreateUser(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	const rounds = 20
	for r := range rounds {
		org := MustOrg(t, s, tn.ID, "", fmt.Sprintf("org%02d", r))
		u := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: fmt.Sprintf("u%02d@example.com", r),
			Name: fmt.Sprintf("u%02d", r), Role: atelier.RoleMember, Status: atelier.UserActive, OrgID: org.ID,
			CreatedAt: epoch, UpdatedAt: epoch}
		child := &atelier.Organization{ID: atelier.NewID(), TenantID: tn.ID, ParentID: org.ID, Name: "child",
			CreatedAt: epoch, UpdatedAt: epoch}
		var delErr, userErr, childErr error
		parallel(3, func(i int) {
			switch i {
			case 0:
				_, delErr = s.DeleteOrg(ctx, org.ID)
			case 1:
				userErr = s.CreateUser(ctx, u)
			case 2:
				childErr = s.CreateOrg(ctx, child)
			}
		})
		_, orgErr := s.GetOrg(ctx, org.ID)
		_, getUserErr := s.GetUser(ctx, u.ID)
		_, getChildErr := s.GetOrg(ctx, child.ID)
		switch {
		case delErr == nil:
			wantErr(t, userErr, store.ErrNotFound, "CreateUser into a deleted org")
			wantErr(t, childErr, store.ErrNotFound, "CreateOrg under a deleted org")
			wantErr(t, orgErr, store.ErrNotFound, "GetOrg after it was deleted")
			wantErr(t, getUserErr, store.ErrNotFound, "GetUser of a user refused")
			wantErr(t, getChildErr, store.ErrNotFound, "GetOrg of a child refused")
		case userErr == nil || childErr == nil:
			wantErr(t, delErr, store.ErrNotEmpty, "DeleteOrg after a user or child was added")
			must(t, orgErr, "GetOrg after a refused delete")
			if userErr == nil {
				must(t, getUserErr, "GetUser after CreateUser")
			}
			if childErr == nil {
				must(t, getChildErr, "GetOrg of the child after CreateOrg")
			}
		default:
			t.Fatalf("round %d: none won: DeleteOrg: %v; CreateUser: %v; CreateOrg: %v", r, delErr, userErr, childErr)
		}
	}
}

// testConsumeTokenOnce races consumers of one token: exactly one gets it.
func testConsumeTokenOnce(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const rounds, n = 10, 8
	for r := range rounds {
		tk := newToken("u", "", epoch.Add(time.Minute))
		tk.Kind = atelier.TokenCode
		must(t, s.CreateToken(ctx, tk), "CreateToken")
		got := make([]*atelier.Token, n)
		errs := make([]error, n)
		parallel(n, func(i int) { got[i], errs[i] = s.ConsumeToken(ctx, tk.Hash) })
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if got[i] == nil || got[i].Hash != tk.Hash {
					t.Errorf("round %d: the winner got %+v", r, got[i])
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("round %d: ConsumeToken: %v, want nil or ErrNotFound", r, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d concurrent ConsumeToken calls got the token, want exactly 1", r, won, n)
		}
	}
}

// testUpdateChallengeConcurrent counts wrong attempts from many goroutines:
// none may be lost.
func testUpdateChallengeConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	c := newChallenge("c", epoch.Add(time.Hour))
	c.Attempts = 0
	must(t, s.PutChallenge(ctx, c), "PutChallenge")
	const n = 16
	errs := make([]error, n)
	parallel(n, func(i int) {
		_, errs[i] = s.UpdateChallenge(ctx, c.ID, func(c *store.Challenge) error { c.Attempts++; return nil })
	})
	for _, err := range errs {
		must(t, err, "concurrent UpdateChallenge")
	}
	got, err := s.GetChallenge(ctx, c.ID)
	must(t, err, "GetChallenge")
	if got.Attempts != n {
		t.Errorf("attempts after %d concurrent updates = %d: updates were lost", n, got.Attempts)
	}
}
