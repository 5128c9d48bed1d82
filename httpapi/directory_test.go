package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
)

func TestDirectoryUsers(t *testing.T) {
	h := newHarness(t)
	var gotTenant string
	var gotSpec atelier.UserSpec
	h.dir.CreateUserFn = func(ctx context.Context, tenantID string, spec atelier.UserSpec) (*atelier.User, error) {
		if atelier.PrincipalFromContext(ctx) == nil {
			t.Error("CreateUser without a principal")
		}
		gotTenant, gotSpec = tenantID, spec
		return &atelier.User{ID: "u2", TenantID: "t2", Email: *spec.Email, PasswordHash: "$argon2id$secret", TOTPSecret: "sealed",
			CreatedAt: testTime.In(time.FixedZone("X", 3600))}, nil
	}
	w := h.do(authed("POST", "/v1/users", strings.NewReader(`{"tenant_id":"t2","email":"a@b.c","password":"pw-1234567","role":"admin","mfa":true}`)))
	var u map[string]any
	mustJSON(t, w, 201, &u)
	if gotTenant != "t2" || *gotSpec.Email != "a@b.c" || *gotSpec.Password != "pw-1234567" || *gotSpec.Role != "admin" || !*gotSpec.MFA || gotSpec.Mobile != nil {
		t.Errorf("CreateUser(%q, %+v)", gotTenant, gotSpec)
	}
	if u["id"] != "u2" || u["created_at"] != "2025-03-01T12:00:00Z" || strings.Contains(w.Body.String(), "argon2") || strings.Contains(w.Body.String(), "sealed") {
		t.Errorf("answer %s", w.Body)
	}
	mustError(t, h.do(authed("POST", "/v1/users", strings.NewReader(`{"email":"a@b.c","password_hash":"x"}`))), 400, "ATL.GEN.0002")

	h.dir.ListUsersFn = func(ctx context.Context, tenantID string) ([]*atelier.User, error) {
		if tenantID != "t9" {
			return nil, atelier.CodeTenantNotFound.Errorf("no")
		}
		return nil, nil
	}
	w = h.do(authed("GET", "/v1/users?tenant_id=t9", nil))
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"users":[]}` {
		t.Errorf("empty list = %d %s", w.Code, w.Body)
	}
	mustError(t, h.do(authed("GET", "/v1/users", nil)), 404, "ATL.IAM.0001")

	var gotID string
	h.dir.GetUserFn = func(ctx context.Context, id string) (*atelier.User, error) {
		gotID = id
		return &atelier.User{ID: "u1"}, nil
	}
	mustJSON(t, h.do(authed("GET", "/v1/users/me", nil)), 200, nil)
	if gotID != "me" {
		t.Errorf("GetUser(%q)", gotID)
	}
	h.dir.UpdateUserFn = func(ctx context.Context, id string, spec atelier.UserSpec) (*atelier.User, error) {
		if spec.Status != nil && *spec.Status == "disabled" {
			return nil, atelier.CodeLastAdmin.Errorf("last")
		}
		return &atelier.User{ID: id, Status: *spec.Status}, nil
	}
	mustError(t, h.do(authed("PATCH", "/v1/users/u1", strings.NewReader(`{"status":"disabled"}`))), 409, "ATL.IAM.0011")
	mustJSON(t, h.do(authed("PATCH", "/v1/users/u1", strings.NewReader(`{"status":"active"}`))), 200, nil)
	h.dir.DeleteUserFn = func(ctx context.Context, id string) error { gotID = id; return nil }
	if w := h.do(authed("DELETE", "/v1/users/u7", nil)); w.Code != 204 || gotID != "u7" {
		t.Errorf("delete = %d, id %q", w.Code, gotID)
	}
	h.dir.UnlockUserFn = func(ctx context.Context, id string) error { gotID = id; return nil }
	if w := h.do(authed("POST", "/v1/users/u8/unlock", nil)); w.Code != 204 || gotID != "u8" {
		t.Errorf("unlock = %d, id %q", w.Code, gotID)
	}
}

func TestDirectoryPasswordsAndTOTP(t *testing.T) {
	h := newHarness(t)
	var got []string
	h.dir.ResetPasswordFn = func(ctx context.Context, id, pw string) error { got = []string{id, pw}; return nil }
	h.dir.ChangePasswordFn = func(ctx context.Context, old, pw string) error { got = []string{old, pw}; return nil }
	h.dir.DisableTOTPFn = func(ctx context.Context, id string) error { got = []string{id}; return nil }
	h.dir.ConfirmTOTPFn = func(ctx context.Context, code string) error {
		if code != "123456" {
			return atelier.CodeBadOTP.Errorf("wrong").WithField("code")
		}
		return nil
	}
	h.dir.EnrollTOTPFn = func(ctx context.Context) (*atelier.TOTPEnrolment, error) {
		return &atelier.TOTPEnrolment{Secret: "JBSWY3DPEHPK3PXP", URL: "otpauth://totp/Atelier:a"}, nil
	}
	check := func(method, target, body string, status int, want ...string) {
		t.Helper()
		got = nil
		w := h.do(authed(method, target, strings.NewReader(body)))
		if w.Code != status || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s %s = %d %s, calls %q; want %d %q", method, target, w.Code, w.Body, got, status, want)
		}
	}
	check("POST", "/v1/users/u2/password/reset", `{"password":"new-pw-1"}`, 204, "u2", "new-pw-1")
	check("POST", "/v1/users/u2/password/reset", `{}`, 400)
	check("POST", "/v1/users/me/password", `{"old_password":"a","new_password":"b"}`, 204, "a", "b")
	check("POST", "/v1/users/me/password", `{"old_password":"a"}`, 400)
	check("DELETE", "/v1/users/me/mfa/totp", ``, 204, "me")
	check("DELETE", "/v1/users/u3/mfa/totp", ``, 204, "u3")
	check("POST", "/v1/users/me/mfa/totp/confirm", `{"code":"123456"}`, 204)
	mustError(t, h.do(authed("POST", "/v1/users/me/mfa/totp/confirm", strings.NewReader(`{"code":"1"}`))), 400, "ATL.AUTH.0011")

	w := h.do(authed("POST", "/v1/users/me/mfa/totp", nil))
	var enr atelier.TOTPEnrolment
	mustJSON(t, w, 201, &enr)
	if enr.Secret != "JBSWY3DPEHPK3PXP" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("enrol = %+v, Cache-Control %q", enr, w.Header().Get("Cache-Control"))
	}
	// The admin's route for another user has no POST.
	if w := h.do(authed("POST", "/v1/users/u3/mfa/totp", nil)); w.Code != 405 {
		t.Errorf("POST /v1/users/u3/mfa/totp = %d, want 405", w.Code)
	}
}

func TestDirectoryTenantsAndOrgs(t *testing.T) {
	h := newHarness(t)
	var gotSettings *atelier.TenantSettings
	h.dir.CreateTenantFn = func(ctx context.Context, name string, s *atelier.TenantSettings) (*atelier.Tenant, error) {
		gotSettings = s
		return &atelier.Tenant{ID: "t2", Name: name}, nil
	}
	mustJSON(t, h.do(authed("POST", "/v1/tenants", strings.NewReader(`{"name":"acme"}`))), 201, nil)
	if gotSettings != nil {
		t.Errorf("settings = %+v, want nil", gotSettings)
	}
	mustJSON(t, h.do(authed("POST", "/v1/tenants", strings.NewReader(`{"name":"acme","settings":{"mfa":"required","password_policy":{"min_length":12}}}`))), 201, nil)
	if gotSettings == nil || gotSettings.MFA != "required" || gotSettings.PasswordPolicy.MinLength != 12 {
		t.Errorf("settings = %+v", gotSettings)
	}
	h.dir.UpdateTenantSettingsFn = func(ctx context.Context, id string, s atelier.TenantSettings) (*atelier.Tenant, error) {
		return &atelier.Tenant{ID: id, Settings: s}, nil
	}
	var tn atelier.Tenant
	mustJSON(t, h.do(authed("PUT", "/v1/tenants/t2/settings", strings.NewReader(`{"captcha_verification":true}`))), 200, &tn)
	if tn.ID != "t2" || !tn.Settings.CaptchaVerification {
		t.Errorf("tenant = %+v", tn)
	}
	h.dir.ListTenantsFn = func(ctx context.Context) ([]*atelier.Tenant, error) {
		return nil, atelier.CodeForbidden.Errorf("no")
	}
	mustError(t, h.do(authed("GET", "/v1/tenants", nil)), 403, "ATL.AUTH.0004")

	var name, parent *string
	h.dir.UpdateOrgFn = func(ctx context.Context, id string, n, p *string) (*atelier.Organization, error) {
		name, parent = n, p
		if p != nil && *p == id {
			return nil, atelier.CodeOrgCycle.Errorf("cycle").WithField("parent_id")
		}
		return &atelier.Organization{ID: id}, nil
	}
	mustJSON(t, h.do(authed("PATCH", "/v1/orgs/o1", strings.NewReader(`{"parent_id":""}`))), 200, nil)
	if name != nil || parent == nil || *parent != "" {
		t.Errorf("UpdateOrg(name %v, parent %v); want a move to the root", name, parent)
	}
	mustError(t, h.do(authed("PATCH", "/v1/orgs/o1", strings.NewReader(`{"parent_id":"o1"}`))), 400, "ATL.IAM.0009")
	mustError(t, h.do(authed("PATCH", "/v1/orgs/o1", strings.NewReader(`{}`))), 400, "ATL.GEN.0005")
	h.dir.DeleteOrgFn = func(ctx context.Context, id string) error { return atelier.CodeOrgNotEmpty.Errorf("busy") }
	mustError(t, h.do(authed("DELETE", "/v1/orgs/o1", nil)), 409, "ATL.IAM.0008")
	h.dir.CreateOrgFn = func(ctx context.Context, tenantID, name, parentID string) (*atelier.Organization, error) {
		return &atelier.Organization{ID: "o9", TenantID: tenantID, Name: name, ParentID: parentID}, nil
	}
	var o atelier.Organization
	mustJSON(t, h.do(authed("POST", "/v1/orgs", strings.NewReader(`{"name":"eng","parent_id":"o1"}`))), 201, &o)
	if o.Name != "eng" || o.ParentID != "o1" || o.TenantID != "" {
		t.Errorf("org = %+v", o)
	}
}

func TestDirectoryApps(t *testing.T) {
	h := newHarness(t)
	var gotSpec atelier.AppSpec
	h.dir.CreateAppFn = func(ctx context.Context, tenantID string, spec atelier.AppSpec) (*atelier.NewApp, error) {
		gotSpec = spec
		return &atelier.NewApp{App: atelier.App{ClientID: "app-1", SecretHash: "$argon2id$x"}, ClientSecret: "s3cr3t"}, nil
	}
	w := h.do(authed("POST", "/v1/apps", strings.NewReader(`{"name":"Portal","redirect_uris":["https://a/cb"],"public":false,"id_token_ttl":600}`)))
	var a map[string]any
	mustJSON(t, w, 201, &a)
	if a["client_secret"] != "s3cr3t" || a["client_id"] != "app-1" || strings.Contains(w.Body.String(), "argon2") || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("answer %s", w.Body)
	}
	if *gotSpec.Name != "Portal" || (*gotSpec.RedirectURIs)[0] != "https://a/cb" || *gotSpec.Public || *gotSpec.IDTokenTTL != 600 {
		t.Errorf("spec %+v", gotSpec)
	}
	var gotToken string
	h.dir.RotateAppSecretFn = func(ctx context.Context, clientID, token string) (*atelier.NewApp, error) {
		gotToken = token
		if token == "" {
			return nil, atelier.CodeVerifyNeeded.Errorf("verify")
		}
		return &atelier.NewApp{App: atelier.App{ClientID: clientID}, ClientSecret: "new"}, nil
	}
	mustError(t, h.do(authed("POST", "/v1/apps/app-1/secret", nil)), 403, "ATL.VFY.0001")
	req := authed("POST", "/v1/apps/app-1/secret", nil)
	req.Header.Set("X-verification-token", "vt")
	mustJSON(t, h.do(req), 200, &a)
	if gotToken != "vt" || a["client_secret"] != "new" {
		t.Errorf("rotate: token %q, answer %v", gotToken, a)
	}

	var grant []string
	h.dir.GrantAppFn = func(ctx context.Context, clientID, userID string) error {
		grant = []string{"grant", clientID, userID}
		return nil
	}
	h.dir.RevokeAppFn = func(ctx context.Context, clientID, userID string) error {
		grant = []string{"revoke", clientID, userID}
		return atelier.CodeNotGranted.Errorf("no")
	}
	h.dir.ListAppUsersFn = func(ctx context.Context, clientID string) ([]string, error) { return nil, nil }
	if w := h.do(authed("POST", "/v1/apps/app-1/users", strings.NewReader(`{"user_id":"u2"}`))); w.Code != 204 || strings.Join(grant, " ") != "grant app-1 u2" {
		t.Errorf("grant = %d, %v", w.Code, grant)
	}
	mustError(t, h.do(authed("POST", "/v1/apps/app-1/users", strings.NewReader(`{}`))), 400, "ATL.GEN.0005")
	mustError(t, h.do(authed("DELETE", "/v1/apps/app-1/users/u2", nil)), 404, "ATL.IAM.0013")
	if strings.Join(grant, " ") != "revoke app-1 u2" {
		t.Errorf("revoke called with %v", grant)
	}
	w = h.do(authed("GET", "/v1/apps/app-1/users", nil))
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"user_ids":[]}` {
		t.Errorf("app users = %d %s", w.Code, w.Body)
	}
	h.dir.UpdateAppFn = func(ctx context.Context, clientID string, spec atelier.AppSpec) (*atelier.App, error) {
		return nil, atelier.CodeBuiltInApp.Errorf("built in")
	}
	mustError(t, h.do(authed("PATCH", "/v1/apps/atelier-cli", strings.NewReader(`{"name":"x"}`))), 409, "ATL.IAM.0012")
}

func TestDirectoryAudit(t *testing.T) {
	h := newHarness(t)
	var got atelier.AuditQuery
	h.dir.ListAuditFn = func(ctx context.Context, q atelier.AuditQuery) (*atelier.AuditPage, error) {
		got = q
		return &atelier.AuditPage{Events: []*atelier.AuditEvent{{ID: "e1", Action: "user.create", Time: testTime.In(time.FixedZone("X", 7200))}}, NextCursor: "c2"}, nil
	}
	w := h.do(authed("GET", "/v1/audit?action=user.&actor_id=u1&outcome=failure&since=2025-01-01T00:00:00%2B01:00&until=2025-02-01T00:00:00Z&tenant_id=t2&cursor=c1&limit=5", nil))
	var page struct {
		Events []map[string]any `json:"events"`
		Next   string           `json:"next_cursor"`
	}
	mustJSON(t, w, 200, &page)
	want := atelier.AuditQuery{TenantID: "t2", ActorID: "u1", Action: "user.", Outcome: "failure",
		Since: time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), Until: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), Cursor: "c1", Limit: 5}
	if got != want {
		t.Errorf("query = %+v, want %+v", got, want)
	}
	if len(page.Events) != 1 || page.Events[0]["time"] != "2025-03-01T12:00:00Z" || page.Next != "c2" {
		t.Errorf("page = %+v", page)
	}
	for _, q := range []string{"since=yesterday", "until=2025-01-01", "limit=0", "limit=1001", "limit=x"} {
		e := mustError(t, h.do(authed("GET", "/v1/audit?"+q, nil)), 400, "ATL.GEN.0005")
		if field := strings.SplitN(q, "=", 2)[0]; !strings.Contains(e.Message, field) {
			t.Errorf("%s: message %q does not name %s", q, e.Message, field)
		}
	}
}

// TestDirectoryRoutesNeedAuth checks that every directory route refuses a
// request without a token before reaching the service (whose mocks panic).
func TestDirectoryRoutesNeedAuth(t *testing.T) {
	h := newHarness(t)
	for _, rt := range []string{"GET /v1/tenants", "POST /v1/users", "GET /v1/users/me", "POST /v1/users/me/password",
		"DELETE /v1/users/u1/mfa/totp", "GET /v1/orgs", "POST /v1/apps/a/secret", "DELETE /v1/apps/a/users/u", "GET /v1/audit"} {
		method, path, _ := strings.Cut(rt, " ")
		req := authed(method, path, strings.NewReader("{}"))
		req.Header.Del("Authorization")
		w := h.do(req)
		var e apiError
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != 401 || e.Code != "ATL.AUTH.0001" {
			t.Errorf("%s without a token = %d %s", rt, w.Code, w.Body)
		}
	}
}
