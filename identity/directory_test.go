package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/store"
)

// dirEnv is a directory test: the platform admin of the default tenant and
// tenant "acme" with its admin, a member and an app token.
type dirEnv struct {
	*env
	def, acme               string // tenant ids
	platform, admin, member context.Context
	app                     context.Context
	adminUser, memberUser   *atelier.User
	platformUser            *atelier.User
	adminPass, memberPass   string
	adminEmail, memberEmail string
}

func ptr[T any](v T) *T { return &v }

// asUser returns a context whose principal is u, as Authenticate makes it.
func asUser(t testing.TB, u *atelier.User, platform bool) context.Context {
	t.Helper()
	return atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{
		UserID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role,
		ClientID: atelier.CLIClientID, PlatformAdmin: platform,
	})
}

func mustDirEnv(t *testing.T) *dirEnv {
	t.Helper()
	e := MustEnv(t, func(o *identity.Options) { o.LoginRatePerIP, o.LoginRatePerUser = -1, -1 })
	d := &dirEnv{env: e, adminPass: "acme-admin-pw1", memberPass: "acme-member-pw1",
		adminEmail: "boss@acme.example", memberEmail: "worker@acme.example"}
	ctx := t.Context()
	d.def = e.MustTenant(t, atelier.DefaultTenant)
	pu, err := e.st.GetUserByEmail(ctx, d.def, adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	d.platformUser = pu
	d.platform = asUser(t, pu, true)
	tn, err := e.svc.CreateTenant(d.platform, "acme", nil)
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	d.acme = tn.ID
	d.adminUser, err = e.svc.CreateUser(d.platform, d.acme, atelier.UserSpec{Email: &d.adminEmail, Role: ptr(atelier.RoleAdmin), Password: &d.adminPass})
	if err != nil {
		t.Fatalf("create admin: %v", err)
	}
	d.admin = asUser(t, d.adminUser, false)
	d.memberUser, err = e.svc.CreateUser(d.admin, "", atelier.UserSpec{Email: &d.memberEmail, Password: &d.memberPass})
	if err != nil {
		t.Fatalf("create member: %v", err)
	}
	d.member = asUser(t, d.memberUser, false)
	d.app = atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{TenantID: d.acme, Role: atelier.RoleApp, ClientID: "acme-app"})
	return d
}

// auditEvents returns the audit events with action, newest first.
func (e *env) auditEvents(t testing.TB, action string) []*atelier.AuditEvent {
	t.Helper()
	evs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestDirectoryTenants(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	d.clock.Advance(time.Second) // after the harness's own events
	set := atelier.TenantSettings{MFA: atelier.MFAOptional, PasswordPolicy: atelier.PasswordPolicy{MinLength: 12, ExpiryDays: 90, WarnDays: 10}}
	tn, err := d.svc.CreateTenant(d.platform, "  globex ", &set)
	if err != nil || tn.Name != "globex" || tn.Settings != set {
		t.Fatalf("CreateTenant = %+v, %v", tn, err)
	}
	if evs := d.auditEvents(t, "tenant.create"); len(evs) != 2 || evs[0].Target != tn.ID || evs[0].ActorID != d.platformUser.ID || evs[0].Outcome != atelier.AuditSuccess {
		t.Errorf("tenant.create audit = %+v", evs)
	}
	for _, tc := range []struct {
		name     string
		tenant   string
		settings *atelier.TenantSettings
		code     atelier.Code
		field    string
	}{
		{"taken", "acme", nil, atelier.CodeTenantExists, ""},
		{"empty", " ", nil, atelier.CodeInvalidParam, "name"},
		{"long", strings.Repeat("x", 257), nil, atelier.CodeInvalidParam, "name"},
		{"control", "a\x00b", nil, atelier.CodeInvalidParam, "name"},
		{"mfa", "t1", &atelier.TenantSettings{MFA: "sometimes"}, atelier.CodeInvalidParam, "mfa"},
		{"min length", "t2", &atelier.TenantSettings{PasswordPolicy: atelier.PasswordPolicy{MinLength: 500}}, atelier.CodeInvalidParam, "password_policy.min_length"},
		{"warn days", "t3", &atelier.TenantSettings{PasswordPolicy: atelier.PasswordPolicy{ExpiryDays: 5, WarnDays: 5}}, atelier.CodeInvalidParam, "password_policy.warn_days"},
	} {
		_, err := d.svc.CreateTenant(d.platform, tc.tenant, tc.settings)
		wantField(t, tc.name, err, tc.code, tc.field)
	}

	// Tenant admins: no creating or listing; their own tenant only.
	_, err = d.svc.CreateTenant(d.admin, "mine", nil)
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.ListTenants(d.admin)
	wantCode(t, err, atelier.CodeForbidden)
	if ts, err := d.svc.ListTenants(d.platform); err != nil || len(ts) != 3 {
		t.Errorf("ListTenants = %d tenants, %v; want 3", len(ts), err)
	}
	if got, err := d.svc.GetTenant(d.admin, ""); err != nil || got.ID != d.acme {
		t.Errorf("GetTenant(own) = %+v, %v", got, err)
	}
	_, err = d.svc.GetTenant(d.admin, tn.ID)
	wantCode(t, err, atelier.CodeTenantNotFound)
	_, err = d.svc.UpdateTenantSettings(d.admin, tn.ID, set)
	wantCode(t, err, atelier.CodeTenantNotFound)
	_, err = d.svc.UpdateTenantSettings(d.member, d.acme, set)
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.UpdateTenantSettings(d.admin, d.acme, atelier.TenantSettings{MFA: "x"})
	wantField(t, "update mfa", err, atelier.CodeInvalidParam, "mfa")
	got, err := d.svc.UpdateTenantSettings(d.admin, d.acme, atelier.TenantSettings{CaptchaVerification: true})
	if err != nil || !got.Settings.CaptchaVerification || got.Settings.MFA != atelier.MFAOff {
		t.Errorf("UpdateTenantSettings = %+v, %v", got, err)
	}
	// A platform admin changes another tenant; the event is that tenant's.
	if _, err := d.svc.UpdateTenantSettings(d.platform, tn.ID, atelier.TenantSettings{}); err != nil {
		t.Fatal(err)
	}
	// Events of one instant come in no set order: count them.
	outcomes := map[string]int{}
	for _, e := range d.auditEvents(t, "tenant.update") {
		outcomes[e.TenantID+" "+e.Outcome+" "+e.Reason]++
	}
	want := map[string]int{
		tn.ID + " success ":               1, // the platform admin's
		d.acme + " success ":              1,
		d.acme + " failure ATL.GEN.0005":  1,
		d.acme + " failure ATL.AUTH.0004": 1,
		d.acme + " failure ATL.IAM.0001":  1, // another tenant, audited in the caller's
	}
	if !maps.Equal(outcomes, want) {
		t.Errorf("tenant.update events = %v, want %v", outcomes, want)
	}
}

// wantField checks an error's code and, when field is set, its field.
func wantField(t testing.TB, name string, err error, c atelier.Code, field string) {
	t.Helper()
	if atelier.ErrorCode(err) != c.ID {
		t.Errorf("%s: error = %v, want %s", name, err, c.ID)
		return
	}
	if field == "" {
		return
	}
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Field != field {
		t.Errorf("%s: error %v does not name the field %q", name, err, field)
	}
}

func TestDirectoryUserValidation(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	pw := ptr("long-enough-1")
	for _, tc := range []struct {
		name  string
		spec  atelier.UserSpec
		code  atelier.Code
		field string
	}{
		{"no email", atelier.UserSpec{Password: pw}, atelier.CodeInvalidParam, "email"},
		{"no password", atelier.UserSpec{Email: ptr("p@x.example")}, atelier.CodeInvalidParam, "password"},
		{"bad email", atelier.UserSpec{Email: ptr("not an email"), Password: pw}, atelier.CodeInvalidParam, "email"},
		{"two ats", atelier.UserSpec{Email: ptr("a@b@c"), Password: pw}, atelier.CodeInvalidParam, "email"},
		{"long email", atelier.UserSpec{Email: ptr(strings.Repeat("a", 250) + "@x.example"), Password: pw}, atelier.CodeInvalidParam, "email"},
		{"empty name", atelier.UserSpec{Email: ptr("p@x.example"), UserName: ptr(" "), Password: pw}, atelier.CodeInvalidParam, "user_name"},
		{"long name", atelier.UserSpec{Email: ptr("p@x.example"), UserName: ptr(strings.Repeat("n", 257)), Password: pw}, atelier.CodeInvalidParam, "user_name"},
		{"long display", atelier.UserSpec{Email: ptr("p@x.example"), DisplayName: ptr(strings.Repeat("n", 257)), Password: pw}, atelier.CodeInvalidParam, "display_name"},
		{"mobile letters", atelier.UserSpec{Email: ptr("p@x.example"), Mobile: ptr("12345a"), Password: pw}, atelier.CodeInvalidParam, "mobile"},
		{"mobile short", atelier.UserSpec{Email: ptr("p@x.example"), Mobile: ptr("+12345"), Password: pw}, atelier.CodeInvalidParam, "mobile"},
		{"role", atelier.UserSpec{Email: ptr("p@x.example"), Role: ptr("owner"), Password: pw}, atelier.CodeInvalidParam, "role"},
		{"status", atelier.UserSpec{Email: ptr("p@x.example"), Status: ptr("gone"), Password: pw}, atelier.CodeInvalidParam, "status"},
		{"unknown org", atelier.UserSpec{Email: ptr("p@x.example"), OrgID: ptr("nope"), Password: pw}, atelier.CodeInvalidParam, "org_id"},
		{"weak password", atelier.UserSpec{Email: ptr("p@x.example"), Password: ptr("short")}, atelier.CodePasswordPolicy, "password"},
		{"taken email", atelier.UserSpec{Email: ptr("WORKER@acme.example"), Password: pw}, atelier.CodeUserExists, ""},
		{"taken name", atelier.UserSpec{Email: ptr("p@x.example"), UserName: ptr(d.memberUser.Name), Password: pw}, atelier.CodeUserExists, ""},
	} {
		_, err := d.svc.CreateUser(d.admin, "", tc.spec)
		wantField(t, tc.name, err, tc.code, tc.field)
	}
	// An organization of another tenant is unknown here.
	org, err := d.svc.CreateOrg(d.platform, "", "platform-team", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.CreateUser(d.admin, "", atelier.UserSpec{Email: ptr("p@x.example"), OrgID: &org.ID, Password: pw})
	wantField(t, "other tenant's org", err, atelier.CodeInvalidParam, "org_id")

	u, err := d.svc.CreateUser(d.admin, "", atelier.UserSpec{Email: ptr(" Pat@X.Example "), DisplayName: ptr("Pat"), Mobile: ptr("+8613800000000"), Password: pw, MFA: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "pat@x.example" || u.Name != "pat@x.example" || u.Role != atelier.RoleMember || u.Status != atelier.UserActive || !u.MFA || u.Mobile != "+8613800000000" {
		t.Errorf("created %+v", u)
	}
	if u.PasswordHash != "" || u.PasswordHistory != nil {
		t.Error("CreateUser answers the password hash")
	}
	_, err = d.svc.UpdateUser(d.admin, u.ID, atelier.UserSpec{Password: pw})
	wantField(t, "update password", err, atelier.CodeInvalidParam, "password")
	_, err = d.svc.UpdateUser(d.admin, u.ID, atelier.UserSpec{Email: ptr(d.memberEmail)})
	wantCode(t, err, atelier.CodeUserExists)
	got, err := d.svc.UpdateUser(d.admin, u.ID, atelier.UserSpec{UserName: ptr("pat"), Mobile: ptr("")})
	if err != nil || got.Name != "pat" || got.Mobile != "" || got.Email != "pat@x.example" {
		t.Errorf("UpdateUser = %+v, %v", got, err)
	}
}

func TestDirectoryUserAuthorization(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	pw := ptr("long-enough-1")
	// A tenant admin cannot reach the default tenant.
	_, err := d.svc.CreateUser(d.admin, d.def, atelier.UserSpec{Email: ptr("x@x.example"), Password: pw})
	wantCode(t, err, atelier.CodeTenantNotFound)
	_, err = d.svc.ListUsers(d.admin, d.def)
	wantCode(t, err, atelier.CodeTenantNotFound)
	_, err = d.svc.GetUser(d.admin, d.platformUser.ID)
	wantCode(t, err, atelier.CodeUserNotFound)
	for name, f := range map[string]func() error{
		"update":  func() error { _, err := d.svc.UpdateUser(d.admin, d.platformUser.ID, atelier.UserSpec{}); return err },
		"delete":  func() error { return d.svc.DeleteUser(d.admin, d.platformUser.ID) },
		"reset":   func() error { return d.svc.ResetPassword(d.admin, d.platformUser.ID, "another-pw-1") },
		"unlock":  func() error { return d.svc.UnlockUser(d.admin, d.platformUser.ID) },
		"no totp": func() error { return d.svc.DisableTOTP(d.admin, d.platformUser.ID) },
	} {
		if err := f(); atelier.ErrorCode(err) != atelier.CodeUserNotFound.ID {
			t.Errorf("%s of another tenant's user: %v, want not found", name, err)
		}
	}

	// Members read themselves only and change nothing.
	if u, err := d.svc.GetUser(d.member, "me"); err != nil || u.ID != d.memberUser.ID {
		t.Errorf("GetUser(me) = %+v, %v", u, err)
	}
	if u, err := d.svc.GetUser(d.member, d.memberUser.ID); err != nil || u.ID != d.memberUser.ID {
		t.Errorf("GetUser(own id) = %+v, %v", u, err)
	}
	_, err = d.svc.GetUser(d.member, d.adminUser.ID)
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.ListUsers(d.member, "")
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.CreateUser(d.member, "", atelier.UserSpec{Email: ptr("x@x.example"), Password: pw})
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.UpdateUser(d.member, "me", atelier.UserSpec{Role: ptr(atelier.RoleAdmin)})
	wantCode(t, err, atelier.CodeForbidden)
	wantCode(t, d.svc.UnlockUser(d.member, "me"), atelier.CodeForbidden)
	wantCode(t, d.svc.DisableTOTP(d.member, d.adminUser.ID), atelier.CodeForbidden)

	// The tenant's app reads users but changes nothing; "me" is nobody.
	if us, err := d.svc.ListUsers(d.app, ""); err != nil || len(us) != 2 {
		t.Errorf("app ListUsers = %d, %v", len(us), err)
	}
	if _, err := d.svc.GetUser(d.app, d.memberUser.ID); err != nil {
		t.Errorf("app GetUser: %v", err)
	}
	_, err = d.svc.GetUser(d.app, "me")
	wantCode(t, err, atelier.CodeUserNotFound)
	_, err = d.svc.CreateUser(d.app, "", atelier.UserSpec{Email: ptr("x@x.example"), Password: pw})
	wantCode(t, err, atelier.CodeForbidden)
	wantCode(t, d.svc.ChangePassword(d.app, "a", "b"), atelier.CodeForbidden)
	_, err = d.svc.ListUsers(d.app, d.def)
	wantCode(t, err, atelier.CodeTenantNotFound)

	// The platform admin reaches every tenant.
	if us, err := d.svc.ListUsers(d.platform, d.acme); err != nil || len(us) != 2 {
		t.Errorf("platform ListUsers(acme) = %d, %v", len(us), err)
	}
	_, err = d.svc.ListUsers(d.platform, "no-such-tenant")
	wantCode(t, err, atelier.CodeTenantNotFound)
	_, err = d.svc.ListUsers(context.Background(), "")
	wantCode(t, err, atelier.CodeNoCredentials)

	// Refusals are audited as failures.
	evs := d.auditEvents(t, "user.create")
	var refused int
	for _, e := range evs {
		if e.Outcome == atelier.AuditFailure && e.Reason == atelier.CodeForbidden.ID {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d refused user.create events, want 2: %+v", refused, evs)
	}
}

func TestDirectoryLastAdmin(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	_, err := d.svc.UpdateUser(d.admin, d.adminUser.ID, atelier.UserSpec{Role: ptr(atelier.RoleMember)})
	wantCode(t, err, atelier.CodeLastAdmin)
	_, err = d.svc.UpdateUser(d.platform, d.adminUser.ID, atelier.UserSpec{Status: ptr(atelier.UserDisabled)})
	wantCode(t, err, atelier.CodeLastAdmin)
	wantCode(t, d.svc.DeleteUser(d.admin, "me"), atelier.CodeLastAdmin)
	// Another active admin lifts the restriction.
	if _, err := d.svc.UpdateUser(d.admin, d.memberUser.ID, atelier.UserSpec{Role: ptr(atelier.RoleAdmin)}); err != nil {
		t.Fatal(err)
	}
	if u, err := d.svc.UpdateUser(d.admin, d.adminUser.ID, atelier.UserSpec{Role: ptr(atelier.RoleMember)}); err != nil || u.Role != atelier.RoleMember {
		t.Fatalf("demote = %+v, %v", u, err)
	}
	// Now the former member is the last one.
	wantCode(t, d.svc.DeleteUser(d.platform, d.memberUser.ID), atelier.CodeLastAdmin)
	if err := d.svc.DeleteUser(d.platform, d.adminUser.ID); err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.GetUser(d.platform, d.adminUser.ID)
	wantCode(t, err, atelier.CodeUserNotFound)
	var ok, refused int
	for _, e := range d.auditEvents(t, "user.delete") {
		switch {
		case e.Outcome == atelier.AuditSuccess && e.Target == d.adminUser.ID && e.TenantID == d.acme && e.ActorID == d.platformUser.ID:
			ok++
		case e.Outcome == atelier.AuditFailure && e.Reason == atelier.CodeLastAdmin.ID:
			refused++
		}
	}
	if ok != 1 || refused != 2 {
		t.Errorf("user.delete events: %d successes, %d last-admin refusals; want 1 and 2", ok, refused)
	}
}

func TestDirectoryDisableRevokesTokens(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	tok, _ := d.MustLogin(t, d.memberEmail, d.memberPass)
	if _, err := d.svc.UpdateUser(d.admin, d.memberUser.ID, atelier.UserSpec{Status: ptr(atelier.UserDisabled)}); err != nil {
		t.Fatal(err)
	}
	_, err := d.svc.Authenticate(t.Context(), tok)
	wantCode(t, err, atelier.CodeInvalidToken)
	if n, err := d.st.DeleteUserTokens(t.Context(), d.memberUser.ID, ""); err != nil || n != 0 {
		t.Errorf("tokens left after disabling: %d, %v", n, err)
	}
}

func TestDirectoryPasswords(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	ctx := t.Context()
	tok1, _ := d.MustLogin(t, d.memberEmail, d.memberPass)
	tok2, _ := d.MustLogin(t, d.memberEmail, d.memberPass)
	mctx := d.MustPrincipalCtx(t, tok1)

	err := d.svc.ChangePassword(mctx, "wrong", "new-password-2")
	wantField(t, "wrong old", err, atelier.CodeBadCredentials, "old_password")
	err = d.svc.ChangePassword(mctx, d.memberPass, d.memberPass)
	wantField(t, "reuse", err, atelier.CodePasswordPolicy, "password")
	if err := d.svc.ChangePassword(mctx, d.memberPass, "new-password-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.svc.Authenticate(ctx, tok1); err != nil {
		t.Errorf("the caller's own token was revoked: %v", err)
	}
	_, err = d.svc.Authenticate(ctx, tok2)
	wantCode(t, err, atelier.CodeInvalidToken)
	d.MustLogin(t, d.memberEmail, "new-password-2")

	// An admin reset forces a change and revokes every token.
	wantField(t, "weak reset", d.svc.ResetPassword(d.admin, d.memberUser.ID, "x"), atelier.CodePasswordPolicy, "password")
	if err := d.svc.ResetPassword(d.admin, d.memberUser.ID, "admin-chosen-3"); err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.Authenticate(ctx, tok1)
	wantCode(t, err, atelier.CodeInvalidToken)
	u, err := d.svc.GetUser(d.admin, d.memberUser.ID)
	if err != nil || !u.MustChangePassword {
		t.Errorf("after reset: %+v, %v; want must_change_password", u, err)
	}
	res, err := d.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: d.memberEmail, Password: "admin-chosen-3"})
	if err != nil || res.Status != atelier.LoginPasswordExpired {
		t.Errorf("login after reset = %+v, %v; want PASSWORD_EXPIRED", res, err)
	}

	// No secret reaches the audit log.
	all, err := d.st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(all)
	for _, secret := range []string{d.memberPass, "new-password-2", "admin-chosen-3", tok1, tok2} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the audit log holds a secret %q", secret)
		}
	}
	for _, action := range []string{"user.password_change", "user.password_reset"} {
		if evs := d.auditEvents(t, action); len(evs) == 0 || evs[0].Target != d.memberUser.ID {
			t.Errorf("%s audit = %+v", action, evs)
		}
	}
}

func TestDirectoryUnlock(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	ctx := t.Context()
	if _, err := d.st.UpdateUser(ctx, d.memberUser.ID, func(u *atelier.User) error {
		u.FailedLogins, u.LockedUntil = 5, d.clock.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := d.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: d.memberEmail, Password: d.memberPass})
	wantCode(t, err, atelier.CodeAccountLocked)
	if err := d.svc.UnlockUser(d.admin, d.memberUser.ID); err != nil {
		t.Fatal(err)
	}
	u, err := d.svc.GetUser(d.admin, d.memberUser.ID)
	if err != nil || u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("after unlock: %+v, %v", u, err)
	}
	d.MustLogin(t, d.memberEmail, d.memberPass)
}

func TestDirectoryTOTP(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	ctx := t.Context()
	wantCode(t, d.svc.ConfirmTOTP(d.member, "123456"), atelier.CodeMFAChannel)
	enr, err := d.svc.EnrollTOTP(d.member)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr.URL, "otpauth://totp/Atelier:") || !strings.Contains(enr.URL, "worker@acme.example") || len(enr.Secret) != 32 {
		t.Errorf("enrolment = %+v", enr)
	}
	stored, err := d.st.GetUser(ctx, d.memberUser.ID)
	if err != nil || stored.TOTPSecret == "" || strings.Contains(stored.TOTPSecret, enr.Secret) || stored.TOTPEnabled {
		t.Fatalf("stored seed %q (enabled %v): want sealed and off, %v", stored.TOTPSecret, stored.TOTPEnabled, err)
	}
	wantField(t, "wrong code", d.svc.ConfirmTOTP(d.member, "000000x"), atelier.CodeBadOTP, "code")
	// A code of two steps ago is out of the skew.
	old, _ := identity.TOTPCode(enr.Secret, d.clock.Now().Add(-61*time.Second))
	now, _ := identity.TOTPCode(enr.Secret, d.clock.Now())
	if old != now {
		wantCode(t, d.svc.ConfirmTOTP(d.member, old), atelier.CodeBadOTP)
	}
	if err := d.svc.ConfirmTOTP(d.member, now); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.svc.GetUser(d.member, "me"); !u.TOTPEnabled {
		t.Error("TOTP not enabled after confirmation")
	}
	_, err = d.svc.EnrollTOTP(d.member)
	wantField(t, "enrol twice", err, atelier.CodeInvalidParam, "totp")
	// An admin removes it; the member may enrol again and remove it.
	if err := d.svc.DisableTOTP(d.admin, d.memberUser.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.svc.EnrollTOTP(d.member); err != nil {
		t.Fatal(err)
	}
	if err := d.svc.DisableTOTP(d.member, "me"); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.st.GetUser(ctx, d.memberUser.ID); u.TOTPSecret != "" || u.TOTPEnabled {
		t.Errorf("after disable: secret %q enabled %v", u.TOTPSecret, u.TOTPEnabled)
	}
	_, err = d.svc.EnrollTOTP(d.app)
	wantCode(t, err, atelier.CodeForbidden)
	for _, action := range []string{"user.totp_enroll", "user.totp_confirm", "user.totp_disable"} {
		if len(d.auditEvents(t, action)) == 0 {
			t.Errorf("no %s event", action)
		}
	}
}

func TestDirectoryOrgs(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	mk := func(name, parent string) *atelier.Organization {
		t.Helper()
		o, err := d.svc.CreateOrg(d.admin, "", name, parent)
		if err != nil {
			t.Fatalf("create org %s: %v", name, err)
		}
		return o
	}
	a := mk("a", "")
	b := mk("b", a.ID)
	c := mk("c", b.ID)
	mk("b", c.ID) // the same name under another parent
	_, err := d.svc.CreateOrg(d.admin, "", "b", a.ID)
	wantCode(t, err, atelier.CodeOrgExists)
	_, err = d.svc.CreateOrg(d.admin, "", "a", "")
	wantCode(t, err, atelier.CodeOrgExists)
	_, err = d.svc.CreateOrg(d.admin, "", " ", "")
	wantField(t, "empty name", err, atelier.CodeInvalidParam, "name")
	_, err = d.svc.CreateOrg(d.admin, "", "x", "nope")
	wantField(t, "unknown parent", err, atelier.CodeOrgNotFound, "parent_id")
	other, err := d.svc.CreateOrg(d.platform, "", "platform", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.CreateOrg(d.admin, "", "x", other.ID)
	wantField(t, "other tenant's parent", err, atelier.CodeOrgNotFound, "parent_id")
	_, err = d.svc.GetOrg(d.admin, other.ID)
	wantCode(t, err, atelier.CodeOrgNotFound)
	_, err = d.svc.CreateOrg(d.member, "", "x", "")
	wantCode(t, err, atelier.CodeForbidden)

	// Cycles.
	for _, to := range []string{a.ID, b.ID, c.ID} {
		_, err = d.svc.UpdateOrg(d.admin, a.ID, nil, &to)
		wantField(t, "cycle", err, atelier.CodeOrgCycle, "parent_id")
	}
	if o, err := d.svc.UpdateOrg(d.admin, c.ID, nil, ptr("")); err != nil || o.ParentID != "" {
		t.Errorf("move c to the root = %+v, %v", o, err)
	}
	if o, err := d.svc.UpdateOrg(d.admin, a.ID, nil, &c.ID); err != nil || o.ParentID != c.ID {
		t.Errorf("move a under c = %+v, %v", o, err)
	}
	_, err = d.svc.UpdateOrg(d.admin, b.ID, ptr("b"), &c.ID) // c already has a "b"
	wantCode(t, err, atelier.CodeOrgExists)
	if o, err := d.svc.UpdateOrg(d.admin, b.ID, ptr("bee"), nil); err != nil || o.Name != "bee" || o.ParentID != a.ID {
		t.Errorf("rename = %+v, %v", o, err)
	}

	// Reading: admins and the app; members not.
	if orgs, err := d.svc.ListOrgs(d.app, ""); err != nil || len(orgs) != 4 {
		t.Errorf("app ListOrgs = %d, %v", len(orgs), err)
	}
	if _, err := d.svc.GetOrg(d.app, a.ID); err != nil {
		t.Errorf("app GetOrg: %v", err)
	}
	_, err = d.svc.ListOrgs(d.member, "")
	wantCode(t, err, atelier.CodeForbidden)

	// Deleting: not with children or users.
	wantCode(t, d.svc.DeleteOrg(d.admin, a.ID), atelier.CodeOrgNotEmpty)
	if _, err := d.svc.UpdateUser(d.admin, d.memberUser.ID, atelier.UserSpec{OrgID: &b.ID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.svc.DeleteOrg(d.admin, b.ID), atelier.CodeOrgNotEmpty)
	if _, err := d.svc.UpdateUser(d.admin, d.memberUser.ID, atelier.UserSpec{OrgID: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if err := d.svc.DeleteOrg(d.admin, b.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.svc.DeleteOrg(d.admin, b.ID), atelier.CodeOrgNotFound)
	wantCode(t, d.svc.DeleteOrg(d.admin, other.ID), atelier.CodeOrgNotFound)
	for _, action := range []string{"org.create", "org.update", "org.delete"} {
		if len(d.auditEvents(t, action)) == 0 {
			t.Errorf("no %s event", action)
		}
	}
}

func TestDirectoryApps(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		spec  atelier.AppSpec
		code  atelier.Code
		field string
	}{
		{"no name", atelier.AppSpec{}, atelier.CodeInvalidParam, "name"},
		{"access", atelier.AppSpec{Name: ptr("x"), Access: ptr("some")}, atelier.CodeInvalidParam, "access"},
		{"ttl low", atelier.AppSpec{Name: ptr("x"), IDTokenTTL: ptr(int64(299))}, atelier.CodeInvalidParam, "id_token_ttl"},
		{"ttl high", atelier.AppSpec{Name: ptr("x"), IDTokenTTL: ptr(int64(86401))}, atelier.CodeInvalidParam, "id_token_ttl"},
		{"isv", atelier.AppSpec{Name: ptr("x"), ISV: ptr(true)}, atelier.CodeForbidden, ""},
		{"too many uris", atelier.AppSpec{Name: ptr("x"), RedirectURIs: ptr(manyURIs(21))}, atelier.CodeInvalidParam, "redirect_uris"},
	} {
		_, err := d.svc.CreateApp(d.admin, "", tc.spec)
		wantField(t, tc.name, err, tc.code, tc.field)
	}
	for _, uri := range []string{
		"/relative", "example.com/cb", "http://example.com/cb", "https://example.com/cb#frag", "https://example.com/cb#",
		"ftp://example.com/cb", "javascript:alert(1)", "https://user:pw@example.com/cb", "http://127.0.0.1.example.com/cb",
	} {
		_, err := d.svc.CreateApp(d.admin, "", atelier.AppSpec{Name: ptr("x"), RedirectURIs: &[]string{uri}})
		wantField(t, uri, err, atelier.CodeInvalidParam, "redirect_uris")
	}
	good := []string{"https://app.example.com/cb", "http://127.0.0.1:8123/cb", "http://localhost/cb", "http://[::1]:9/cb"}
	na, err := d.svc.CreateApp(d.admin, "", atelier.AppSpec{Name: ptr("Portal"), RedirectURIs: &good, IDTokenTTL: ptr(int64(600)), Access: ptr(atelier.AppAccessGranted)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(na.ClientID, "app-") || len(na.ClientSecret) != 64 || na.SecretHash != "" || na.TenantID != d.acme || len(na.RedirectURIs) != 4 {
		t.Errorf("CreateApp = %+v", na)
	}
	if _, err := d.svc.TenantToken(ctx, na.ClientID, na.ClientSecret); err != nil {
		t.Errorf("client credentials with the new secret: %v", err)
	}
	pub, err := d.svc.CreateApp(d.admin, "", atelier.AppSpec{Name: ptr("SPA"), Public: ptr(true)})
	if err != nil || pub.ClientSecret != "" || !pub.Public {
		t.Errorf("public app = %+v, %v", pub, err)
	}
	if na.Public {
		t.Errorf("a confidential app says it is public: %+v", na)
	}
	if _, err := d.svc.CreateApp(d.platform, "", atelier.AppSpec{Name: ptr("Market"), ISV: ptr(true)}); err != nil {
		t.Errorf("platform ISV app: %v", err)
	}

	// Updates; the built-in app is fixed; other tenants' apps are unknown.
	if a, err := d.svc.UpdateApp(d.admin, na.ClientID, atelier.AppSpec{Name: ptr("Portal 2"), RedirectURIs: &[]string{}}); err != nil || a.Name != "Portal 2" || len(a.RedirectURIs) != 0 || a.IDTokenTTL != 600 {
		t.Errorf("UpdateApp = %+v, %v", a, err)
	}
	_, err = d.svc.UpdateApp(d.admin, pub.ClientID, atelier.AppSpec{Public: ptr(false)})
	wantField(t, "unpublic", err, atelier.CodeInvalidParam, "public")
	_, err = d.svc.UpdateApp(d.platform, atelier.CLIClientID, atelier.AppSpec{Name: ptr("mine")})
	wantCode(t, err, atelier.CodeBuiltInApp)
	wantCode(t, d.svc.DeleteApp(d.platform, atelier.CLIClientID), atelier.CodeBuiltInApp)
	_, err = d.svc.GetApp(d.admin, atelier.CLIClientID)
	wantCode(t, err, atelier.CodeAppNotFound)
	_, err = d.svc.GetApp(d.member, na.ClientID)
	wantCode(t, err, atelier.CodeForbidden)
	if apps, err := d.svc.ListApps(d.admin, ""); err != nil || len(apps) != 2 {
		t.Errorf("ListApps = %d, %v", len(apps), err)
	}

	// Grants.
	if err := d.svc.GrantApp(d.admin, na.ClientID, d.memberUser.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.svc.GrantApp(d.admin, na.ClientID, d.memberUser.ID); err != nil {
		t.Errorf("granting twice: %v", err)
	}
	wantCode(t, d.svc.GrantApp(d.admin, na.ClientID, d.platformUser.ID), atelier.CodeUserNotFound)
	wantField(t, "cross-tenant grant", d.svc.GrantApp(d.platform, na.ClientID, d.platformUser.ID), atelier.CodeInvalidParam, "user_id")
	if ids, err := d.svc.ListAppUsers(d.admin, na.ClientID); err != nil || len(ids) != 1 || ids[0] != d.memberUser.ID {
		t.Errorf("ListAppUsers = %v, %v", ids, err)
	}
	if err := d.svc.RevokeApp(d.admin, na.ClientID, d.memberUser.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.svc.RevokeApp(d.admin, na.ClientID, d.memberUser.ID), atelier.CodeNotGranted)

	// Rotation is a sensitive operation.
	_, err = d.svc.RotateAppSecret(d.admin, na.ClientID, "")
	wantCode(t, err, atelier.CodeVerifyNeeded)
	_, err = d.svc.RotateAppSecret(d.admin, atelier.CLIClientID, "")
	wantCode(t, err, atelier.CodeAppNotFound)
	if _, err := d.svc.UpdateTenantSettings(d.admin, "", atelier.TenantSettings{CaptchaVerification: true}); err != nil {
		t.Fatal(err)
	}
	rot, err := d.svc.RotateAppSecret(d.admin, na.ClientID, "")
	if err != nil || len(rot.ClientSecret) != 64 || rot.ClientSecret == na.ClientSecret {
		t.Fatalf("RotateAppSecret = %+v, %v", rot, err)
	}
	_, err = d.svc.TenantToken(ctx, na.ClientID, na.ClientSecret)
	wantCode(t, err, atelier.CodeInvalidClient)
	if _, err := d.svc.TenantToken(ctx, na.ClientID, rot.ClientSecret); err != nil {
		t.Errorf("the rotated secret: %v", err)
	}
	if err := d.svc.DeleteApp(d.admin, na.ClientID); err != nil {
		t.Fatal(err)
	}
	_, err = d.svc.GetApp(d.admin, na.ClientID)
	wantCode(t, err, atelier.CodeAppNotFound)
	for _, action := range []string{"app.create", "app.update", "app.delete", "app.rotate_secret", "app.grant", "app.revoke"} {
		evs := d.auditEvents(t, action)
		if len(evs) == 0 {
			t.Errorf("no %s event", action)
		}
		b, _ := json.Marshal(evs)
		if strings.Contains(string(b), na.ClientSecret) || strings.Contains(string(b), rot.ClientSecret) {
			t.Errorf("%s events hold a client secret", action)
		}
	}
}

func manyURIs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://example.com/cb" + strings.Repeat("x", i)
	}
	return out
}

func TestDirectoryListAudit(t *testing.T) {
	t.Parallel()
	d := mustDirEnv(t)
	for i := range 5 {
		d.clock.Advance(time.Second)
		if _, err := d.svc.CreateOrg(d.admin, "", "org"+string(rune('a'+i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.svc.ListAudit(d.member, atelier.AuditQuery{})
	wantCode(t, err, atelier.CodeForbidden)
	_, err = d.svc.ListAudit(d.admin, atelier.AuditQuery{TenantID: d.def})
	wantCode(t, err, atelier.CodeTenantNotFound)
	for _, tc := range []struct {
		q     atelier.AuditQuery
		field string
	}{
		{atelier.AuditQuery{Cursor: "!!"}, "cursor"},
		{atelier.AuditQuery{Cursor: "bm9waXBl"}, "cursor"},
		{atelier.AuditQuery{Limit: 1001}, "limit"},
		{atelier.AuditQuery{Outcome: "maybe"}, "outcome"},
		{atelier.AuditQuery{Since: d.clock.Now(), Until: d.clock.Now()}, "since"},
	} {
		_, err := d.svc.ListAudit(d.admin, tc.q)
		wantField(t, tc.field, err, atelier.CodeInvalidParam, tc.field)
	}

	// A tenant admin sees their tenant only: the platform's creation of
	// acme and its admin are acme's; the platform's own events are not.
	page, err := d.svc.ListAudit(d.admin, atelier.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if e.TenantID != d.acme {
			t.Errorf("tenant admin sees %+v", e)
		}
	}
	// Pages of 2 cover the org events exactly once, newest first.
	var got []string
	q := atelier.AuditQuery{Action: "org.", Limit: 2}
	for range 10 {
		page, err := d.svc.ListAudit(d.admin, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			got = append(got, e.Target)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if len(got) != 5 {
		t.Fatalf("paged %d org events, want 5: %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("event for %s listed twice", id)
		}
		seen[id] = true
	}
	// The platform admin sees every tenant, or one.
	all, err := d.svc.ListAudit(d.platform, atelier.AuditQuery{Action: "user.create", Limit: 1000})
	if err != nil || len(all.Events) != 2 {
		t.Errorf("platform user.create events = %+v, %v", all, err)
	}
	def, err := d.svc.ListAudit(d.platform, atelier.AuditQuery{TenantID: d.def, Action: "tenant.create"})
	if err != nil || len(def.Events) != 0 {
		t.Errorf("default tenant's tenant.create events = %+v, %v", def, err)
	}
	if p, err := d.svc.ListAudit(d.platform, atelier.AuditQuery{Since: d.clock.Now().Add(time.Hour)}); err != nil || len(p.Events) != 0 || p.Events == nil {
		t.Errorf("future window = %+v, %v; want an empty list", p, err)
	}
}
