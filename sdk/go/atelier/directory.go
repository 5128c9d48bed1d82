package atelier

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	core "github.com/atelier-dev/atelier"
)

// This file holds the directory calls: tenants, users, organizations, apps,
// grants, the audit log, and the step-up verification that a sensitive
// call (RotateAppSecret) may need.

// pathOf joins escaped path segments under /v1.
func pathOf(segs ...string) string {
	p := "/v1"
	for _, s := range segs {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// getJSON sends a GET for path with query q and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	return c.doJSON(ctx, &request{method: http.MethodGet, path: path, query: q}, out)
}

// sendJSON sends body (nil: none) with method to path and decodes the answer
// into out (nil: discarded).
func (c *Client) sendJSON(ctx context.Context, method, path string, body, out any) error {
	r := &request{method: method, path: path}
	if body != nil {
		var err error
		if r, err = jsonRequest(method, path, body); err != nil {
			return err
		}
	}
	return c.doJSON(ctx, r, out)
}

// tenantQuery is ?tenant_id= when tenantID is set.
func tenantQuery(tenantID string) url.Values {
	if tenantID == "" {
		return nil
	}
	return url.Values{"tenant_id": {tenantID}}
}

// CreateTenant creates a tenant (platform admins); settings nil means the
// defaults.
func (c *Client) CreateTenant(ctx context.Context, name string, settings *core.TenantSettings) (*core.Tenant, error) {
	var t core.Tenant
	body := map[string]any{"name": name}
	if settings != nil {
		body["settings"] = settings
	}
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/tenants", body, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTenants returns every tenant (platform admins).
func (c *Client) ListTenants(ctx context.Context) ([]*core.Tenant, error) {
	var out struct {
		Tenants []*core.Tenant `json:"tenants"`
	}
	if err := c.getJSON(ctx, "/v1/tenants", nil, &out); err != nil {
		return nil, err
	}
	return out.Tenants, nil
}

// GetTenant describes a tenant.
func (c *Client) GetTenant(ctx context.Context, id string) (*core.Tenant, error) {
	var t core.Tenant
	if err := c.getJSON(ctx, pathOf("tenants", id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// UpdateTenantSettings replaces a tenant's security settings.
func (c *Client) UpdateTenantSettings(ctx context.Context, id string, settings core.TenantSettings) (*core.Tenant, error) {
	var t core.Tenant
	if err := c.sendJSON(ctx, http.MethodPut, pathOf("tenants", id, "settings"), settings, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateUser creates a user in tenantID ("" = the caller's tenant).
func (c *Client) CreateUser(ctx context.Context, tenantID string, spec core.UserSpec) (*core.User, error) {
	body := struct {
		TenantID string `json:"tenant_id,omitempty"`
		core.UserSpec
	}{tenantID, spec}
	var u core.User
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/users", body, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListUsers returns the users of tenantID ("" = the caller's tenant).
func (c *Client) ListUsers(ctx context.Context, tenantID string) ([]*core.User, error) {
	var out struct {
		Users []*core.User `json:"users"`
	}
	if err := c.getJSON(ctx, "/v1/users", tenantQuery(tenantID), &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// GetUser describes a user; id "me" is the caller.
func (c *Client) GetUser(ctx context.Context, id string) (*core.User, error) {
	var u core.User
	if err := c.getJSON(ctx, pathOf("users", id), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser changes the fields spec sets.
func (c *Client) UpdateUser(ctx context.Context, id string, spec core.UserSpec) (*core.User, error) {
	var u core.User
	if err := c.sendJSON(ctx, http.MethodPatch, pathOf("users", id), spec, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("users", id), nil, nil)
}

// ResetPassword sets a user's password (admins); the user must change it at
// the next login.
func (c *Client) ResetPassword(ctx context.Context, id, password string) error {
	return c.sendJSON(ctx, http.MethodPost, pathOf("users", id, "password", "reset"), map[string]string{"password": password}, nil)
}

// ChangePassword changes the caller's password; the caller's other tokens
// are revoked, the client's stays valid.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	return c.sendJSON(ctx, http.MethodPost, "/v1/users/me/password",
		map[string]string{"old_password": oldPassword, "new_password": newPassword}, nil)
}

// UnlockUser clears a user's failed logins and lockout.
func (c *Client) UnlockUser(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodPost, pathOf("users", id, "unlock"), nil, nil)
}

// EnrollTOTP starts TOTP enrolment of the caller; the answer is the only
// time the secret is shown.
func (c *Client) EnrollTOTP(ctx context.Context) (*core.TOTPEnrolment, error) {
	var e core.TOTPEnrolment
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/users/me/mfa/totp", nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ConfirmTOTP turns TOTP on with a first valid code.
func (c *Client) ConfirmTOTP(ctx context.Context, code string) error {
	return c.sendJSON(ctx, http.MethodPost, "/v1/users/me/mfa/totp/confirm", map[string]string{"code": code}, nil)
}

// DisableTOTP removes a user's authenticator app; userID "me" is the caller.
func (c *Client) DisableTOTP(ctx context.Context, userID string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("users", userID, "mfa", "totp"), nil, nil)
}

// CreateOrg creates an organization under parentID ("" = a root) in
// tenantID ("" = the caller's tenant).
func (c *Client) CreateOrg(ctx context.Context, tenantID, name, parentID string) (*core.Organization, error) {
	body := map[string]string{"name": name, "parent_id": parentID}
	if tenantID != "" {
		body["tenant_id"] = tenantID
	}
	var o core.Organization
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/orgs", body, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// ListOrgs returns the organizations of tenantID ("" = the caller's
// tenant), ordered by name.
func (c *Client) ListOrgs(ctx context.Context, tenantID string) ([]*core.Organization, error) {
	var out struct {
		Orgs []*core.Organization `json:"orgs"`
	}
	if err := c.getJSON(ctx, "/v1/orgs", tenantQuery(tenantID), &out); err != nil {
		return nil, err
	}
	return out.Orgs, nil
}

// GetOrg describes an organization.
func (c *Client) GetOrg(ctx context.Context, id string) (*core.Organization, error) {
	var o core.Organization
	if err := c.getJSON(ctx, pathOf("orgs", id), nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// UpdateOrg renames (name set) or moves (parentID set; "" = to the root) an
// organization.
func (c *Client) UpdateOrg(ctx context.Context, id string, name, parentID *string) (*core.Organization, error) {
	body := struct {
		Name     *string `json:"name,omitempty"`
		ParentID *string `json:"parent_id,omitempty"`
	}{name, parentID}
	var o core.Organization
	if err := c.sendJSON(ctx, http.MethodPatch, pathOf("orgs", id), body, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// DeleteOrg deletes an organization without sub-organizations or users.
func (c *Client) DeleteOrg(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("orgs", id), nil, nil)
}

// CreateApp registers an app in tenantID ("" = the caller's tenant); the
// answer is the only time the client secret is shown.
func (c *Client) CreateApp(ctx context.Context, tenantID string, spec core.AppSpec) (*core.NewApp, error) {
	body := struct {
		TenantID string `json:"tenant_id,omitempty"`
		core.AppSpec
	}{tenantID, spec}
	var a core.NewApp
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/apps", body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ListApps returns the apps of tenantID ("" = the caller's tenant).
func (c *Client) ListApps(ctx context.Context, tenantID string) ([]*core.App, error) {
	var out struct {
		Apps []*core.App `json:"apps"`
	}
	if err := c.getJSON(ctx, "/v1/apps", tenantQuery(tenantID), &out); err != nil {
		return nil, err
	}
	return out.Apps, nil
}

// GetApp describes an app.
func (c *Client) GetApp(ctx context.Context, clientID string) (*core.App, error) {
	var a core.App
	if err := c.getJSON(ctx, pathOf("apps", clientID), nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// UpdateApp changes the fields spec sets.
func (c *Client) UpdateApp(ctx context.Context, clientID string, spec core.AppSpec) (*core.App, error) {
	var a core.App
	if err := c.sendJSON(ctx, http.MethodPatch, pathOf("apps", clientID), spec, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteApp deletes an app.
func (c *Client) DeleteApp(ctx context.Context, clientID string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("apps", clientID), nil, nil)
}

// RotateAppSecret gives an app a new client secret. verificationToken is
// the step-up token for "app.rotate_secret" with params {client_id} (see
// StartVerification); without one the server answers ATL.VFY.0001 unless
// the tenant has captcha verification on.
func (c *Client) RotateAppSecret(ctx context.Context, clientID, verificationToken string) (*core.NewApp, error) {
	r := &request{method: http.MethodPost, path: pathOf("apps", clientID, "secret"), header: http.Header{}}
	if verificationToken != "" {
		r.header.Set("X-verification-token", verificationToken)
	}
	var a core.NewApp
	if err := c.doJSON(ctx, r, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// GrantApp lets a user use an app.
func (c *Client) GrantApp(ctx context.Context, clientID, userID string) error {
	return c.sendJSON(ctx, http.MethodPost, pathOf("apps", clientID, "users"), map[string]string{"user_id": userID}, nil)
}

// RevokeApp removes a user's grant of an app.
func (c *Client) RevokeApp(ctx context.Context, clientID, userID string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("apps", clientID, "users", userID), nil, nil)
}

// ListAppUsers returns the ids of the users granted an app.
func (c *Client) ListAppUsers(ctx context.Context, clientID string) ([]string, error) {
	var out struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := c.getJSON(ctx, pathOf("apps", clientID, "users"), nil, &out); err != nil {
		return nil, err
	}
	return out.UserIDs, nil
}

// ListAudit returns one page of audit events, newest first; pass the
// page's NextCursor in q.Cursor for the next one.
func (c *Client) ListAudit(ctx context.Context, q core.AuditQuery) (*core.AuditPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("tenant_id", q.TenantID)
	set("actor_id", q.ActorID)
	set("action", q.Action)
	set("outcome", q.Outcome)
	set("cursor", q.Cursor)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page core.AuditPage
	if err := c.getJSON(ctx, "/v1/audit", v, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// StartVerification starts a step-up verification of the caller for a
// sensitive operation: the server sends a code by channel ("sms" or
// "email").
func (c *Client) StartVerification(ctx context.Context, operation, channel string, params map[string]string) (*core.Verification, error) {
	var v core.Verification
	body := map[string]any{"operation": operation, "channel": channel, "params": params}
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/verifications", body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ConfirmVerification checks the code and returns the single-use token to
// send in X-verification-token.
func (c *Client) ConfirmVerification(ctx context.Context, id, code string) (token string, expiresIn int64, err error) {
	var out struct {
		Token     string `json:"verification_token"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("verifications", id, "confirm"), map[string]string{"code": code}, &out); err != nil {
		return "", 0, err
	}
	return out.Token, out.ExpiresIn, nil
}
