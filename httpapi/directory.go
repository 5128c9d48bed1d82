package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
)

// Wire shapes of the directory, for the route table.
const (
	tenantJSON = `{"id","name","settings":{"password_policy":{"min_length","min_classes","history","expiry_days","warn_days"},"mfa","captcha_verification"},"created_at","updated_at"}`
	userJSON   = `{"id","tenant_id","email","user_name","display_name","mobile","role","status","org_id","password_changed_at","must_change_password","mfa","totp_enabled","failed_logins","locked_until","created_at","updated_at"}`
	orgJSON    = `{"id","tenant_id","parent_id","name","created_at","updated_at"}`
	appJSON    = `{"id","tenant_id","client_id","name","built_in","isv","access","redirect_uris","id_token_ttl","created_at","updated_at"}`
	userSpec   = `{"email","user_name","display_name","mobile","role":"admin|member","status":"active|disabled","org_id","mfa"}`
	appSpec    = `{"name","isv","access":"all|granted","redirect_uris":[…],"id_token_ttl","public"}`
)

// directoryRoutes are the /v1 calls of atelier.DirectoryService: tenants,
// users, organizations, apps and the audit log.
func (s *Server) directoryRoutes() []route {
	id := func(what string) param { return param{Name: "id", Desc: "The " + what + " id.", Required: true} }
	userID := param{Name: "id", Desc: "The user id, or me for the caller.", Required: true}
	clientID := param{Name: "client_id", Desc: "The app's client id.", Required: true}
	tenantQuery := []param{{Name: "tenant_id", Desc: "Tenant to act on (platform admins); default the caller's."}}
	return []route{
		{Method: "GET", Pattern: "/v1/tenants", Summary: "List every tenant (platform admins).", Auth: true,
			Response: `{"tenants":[` + tenantJSON + `]}`, Status: 200, Out: struct {
				Tenants []*atelier.Tenant `json:"tenants"`
			}{}, Handler: s.handleListTenants},
		{Method: "POST", Pattern: "/v1/tenants", Summary: "Create a tenant (platform admins).", Auth: true,
			Request: `{"name","settings"} (settings optional)`, Response: tenantJSON, Status: 201, In: createTenantInput{}, Out: atelier.Tenant{}, Handler: s.handleCreateTenant},
		{Method: "GET", Pattern: "/v1/tenants/{id}", Summary: "Describe a tenant.", Auth: true,
			Params: []param{id("tenant")}, Response: tenantJSON, Status: 200, Out: atelier.Tenant{}, Handler: s.handleGetTenant},
		{Method: "PUT", Pattern: "/v1/tenants/{id}/settings", Summary: "Replace a tenant's security settings.", Auth: true,
			Params: []param{id("tenant")}, Request: `{"password_policy":{…},"mfa":"off|optional|required","captcha_verification"}`,
			Response: tenantJSON, Status: 200, In: atelier.TenantSettings{}, Out: atelier.Tenant{}, Handler: s.handleUpdateTenantSettings},

		{Method: "GET", Pattern: "/v1/users", Summary: "List a tenant's users (admins and the tenant's apps).", Auth: true,
			Query: tenantQuery, Response: `{"users":[` + userJSON + `]}`, Status: 200, Out: struct {
				Users []*atelier.User `json:"users"`
			}{}, Handler: s.handleListUsers},
		{Method: "POST", Pattern: "/v1/users", Summary: "Create a user.", Auth: true,
			Request:  `{"tenant_id","email","password",…} with the fields of ` + userSpec + `; email and password required`,
			Response: userJSON, Status: 201, In: createUserInput{}, Out: atelier.User{}, Handler: s.handleCreateUser},
		{Method: "GET", Pattern: "/v1/users/{id}", Summary: "Describe a user; members may read only themselves (me).", Auth: true,
			Params: []param{userID}, Response: userJSON, Status: 200, Out: atelier.User{}, Handler: s.handleGetUser},
		{Method: "PATCH", Pattern: "/v1/users/{id}", Summary: "Change the fields a user's body sets; disabling revokes the user's tokens.", Auth: true,
			Params: []param{userID}, Request: userSpec, Response: userJSON, Status: 200, In: atelier.UserSpec{}, Out: atelier.User{}, Handler: s.handleUpdateUser},
		{Method: "DELETE", Pattern: "/v1/users/{id}", Summary: "Delete a user with their tokens, API keys and app grants.", Auth: true,
			Params: []param{userID}, Status: 204, Handler: s.handleDeleteUser},
		{Method: "POST", Pattern: "/v1/users/{id}/password/reset", Summary: "Set a user's password (admins); the user must change it at the next login and loses every token.", Auth: true,
			Params: []param{userID}, Request: `{"password"}`, Status: 204, In: resetPasswordInput{}, Handler: s.handleResetPassword},
		{Method: "POST", Pattern: "/v1/users/me/password", Summary: "Change the caller's password; the caller's other tokens are revoked.", Auth: true,
			Request: `{"old_password","new_password"}`, Status: 204, In: changePasswordInput{}, Handler: s.handleChangePassword},
		{Method: "POST", Pattern: "/v1/users/{id}/unlock", Summary: "Clear a user's failed logins and lockout.", Auth: true,
			Params: []param{userID}, Status: 204, Handler: s.handleUnlockUser},
		{Method: "POST", Pattern: "/v1/users/me/mfa/totp", Summary: "Start TOTP enrolment of the caller: the secret is shown only in this answer.", Auth: true,
			Response: `{"secret","otpauth_url"}`, Status: 201, Out: atelier.TOTPEnrolment{}, Handler: s.handleEnrollTOTP},
		{Method: "DELETE", Pattern: "/v1/users/me/mfa/totp", Summary: "Remove the caller's authenticator app.", Auth: true,
			Status: 204, Handler: s.handleDisableTOTP},
		{Method: "POST", Pattern: "/v1/users/me/mfa/totp/confirm", Summary: "Turn TOTP on with a first valid code of the enrolled secret.", Auth: true,
			Request: `{"code"}`, Status: 204, In: confirmTOTPInput{}, Handler: s.handleConfirmTOTP},
		{Method: "DELETE", Pattern: "/v1/users/{id}/mfa/totp", Summary: "Remove a user's authenticator app (admins).", Auth: true,
			Params: []param{userID}, Status: 204, Handler: s.handleDisableTOTP},

		{Method: "GET", Pattern: "/v1/orgs", Summary: "List a tenant's organizations, ordered by name.", Auth: true,
			Query: tenantQuery, Response: `{"orgs":[` + orgJSON + `]}`, Status: 200, Out: struct {
				Orgs []*atelier.Organization `json:"orgs"`
			}{}, Handler: s.handleListOrgs},
		{Method: "POST", Pattern: "/v1/orgs", Summary: "Create an organization under a parent (none: a root).", Auth: true,
			Request: `{"tenant_id","name","parent_id"}`, Response: orgJSON, Status: 201, In: createOrgInput{}, Out: atelier.Organization{}, Handler: s.handleCreateOrg},
		{Method: "GET", Pattern: "/v1/orgs/{id}", Summary: "Describe an organization.", Auth: true,
			Params: []param{id("organization")}, Response: orgJSON, Status: 200, Out: atelier.Organization{}, Handler: s.handleGetOrg},
		{Method: "PATCH", Pattern: "/v1/orgs/{id}", Summary: "Rename an organization or move it (parent_id \"\": to the root).", Auth: true,
			Params: []param{id("organization")}, Request: `{"name","parent_id"} (either or both)`, Response: orgJSON, Status: 200, In: updateOrgInput{}, Out: atelier.Organization{}, Handler: s.handleUpdateOrg},
		{Method: "DELETE", Pattern: "/v1/orgs/{id}", Summary: "Delete an organization without sub-organizations or users.", Auth: true,
			Params: []param{id("organization")}, Status: 204, Handler: s.handleDeleteOrg},

		{Method: "GET", Pattern: "/v1/apps", Summary: "List a tenant's apps.", Auth: true,
			Query: tenantQuery, Response: `{"apps":[` + appJSON + `]}`, Status: 200, Out: struct {
				Apps []*atelier.App `json:"apps"`
			}{}, Handler: s.handleListApps},
		{Method: "POST", Pattern: "/v1/apps", Summary: "Register an app; the client secret is shown only in this answer.", Auth: true,
			Request: `{"tenant_id",…} with the fields of ` + appSpec + `; name required`, Response: `{…app,"client_secret"}`, Status: 201, In: createAppInput{}, Out: atelier.NewApp{}, Handler: s.handleCreateApp},
		{Method: "GET", Pattern: "/v1/apps/{client_id}", Summary: "Describe an app.", Auth: true,
			Params: []param{clientID}, Response: appJSON, Status: 200, Out: atelier.App{}, Handler: s.handleGetApp},
		{Method: "PATCH", Pattern: "/v1/apps/{client_id}", Summary: "Change the fields an app's body sets; public true drops the secret.", Auth: true,
			Params: []param{clientID}, Request: appSpec, Response: appJSON, Status: 200, In: atelier.AppSpec{}, Out: atelier.App{}, Handler: s.handleUpdateApp},
		{Method: "DELETE", Pattern: "/v1/apps/{client_id}", Summary: "Delete an app with its grants and the tokens issued through it.", Auth: true,
			Params: []param{clientID}, Status: 204, Handler: s.handleDeleteApp},
		{Method: "POST", Pattern: "/v1/apps/{client_id}/secret", Summary: "Rotate an app's client secret (sensitive: needs a verification token for app.rotate_secret with params {client_id}).", Auth: true,
			Params:   []param{clientID},
			Headers:  []param{{Name: "X-verification-token", Desc: "Token from POST /v1/verifications/{id}/confirm, unless the tenant has captcha verification on."}},
			Response: `{…app,"client_secret"}`, Status: 200, Out: atelier.NewApp{}, Handler: s.handleRotateAppSecret},
		{Method: "GET", Pattern: "/v1/apps/{client_id}/users", Summary: "List the ids of the users granted an app.", Auth: true,
			Params: []param{clientID}, Response: `{"user_ids":[…]}`, Status: 200, Out: struct {
				UserIDs []string `json:"user_ids"`
			}{}, Handler: s.handleListAppUsers},
		{Method: "POST", Pattern: "/v1/apps/{client_id}/users", Summary: "Grant a user an app; granting twice is not an error.", Auth: true,
			Params: []param{clientID}, Request: `{"user_id"}`, Status: 204, In: grantAppInput{}, Handler: s.handleGrantApp},
		{Method: "DELETE", Pattern: "/v1/apps/{client_id}/users/{user_id}", Summary: "Revoke a user's grant of an app.", Auth: true,
			Params: []param{clientID, {Name: "user_id", Desc: "The user id.", Required: true}}, Status: 204, Handler: s.handleRevokeApp},

		{Method: "GET", Pattern: "/v1/audit", Summary: "Query the audit log, newest first (admins).", Auth: true,
			Query: []param{
				{Name: "action", Desc: "Exact action, or a prefix ending in a dot (user.)."},
				{Name: "actor_id", Desc: "Only events of this user."},
				{Name: "outcome", Desc: "success or failure."},
				{Name: "since", Desc: "RFC 3339 time, inclusive."},
				{Name: "until", Desc: "RFC 3339 time, exclusive."},
				{Name: "tenant_id", Desc: "Tenant (platform admins; default all); others see their own."},
				{Name: "cursor", Desc: "next_cursor of the previous page."},
				{Name: "limit", Desc: "Page size, 1–1000 (default 100)."},
			},
			Response: `{"events":[{"id","time","tenant_id","actor_id","actor","action","target","outcome","reason","ip","device","client_id"}],"next_cursor"}`,
			Status:   200, Out: atelier.AuditPage{}, Handler: s.handleListAudit},
	}
}

// Wire forms in UTC.

func tenantOut(t *atelier.Tenant) *atelier.Tenant {
	c := *t
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func userOut(u *atelier.User) *atelier.User {
	c := *u
	c.PasswordHash, c.PasswordHistory, c.TOTPSecret = "", nil, ""
	c.CreatedAt, c.UpdatedAt, c.PasswordChangedAt, c.LockedUntil = utc(c.CreatedAt), utc(c.UpdatedAt), utc(c.PasswordChangedAt), utc(c.LockedUntil)
	return &c
}

func orgOut(o *atelier.Organization) *atelier.Organization {
	c := *o
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func appOut(a *atelier.App) *atelier.App {
	c := *a
	c.SecretHash = ""
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{}
	}
	return &c
}

// writeNoContent answers 204.
func writeNoContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.dir.ListTenants(r.Context())
	if err != nil {
		return err
	}
	out := make([]*atelier.Tenant, 0, len(ts))
	for _, t := range ts {
		out = append(out, tenantOut(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
	return nil
}

// createTenantInput is the request body of handleCreateTenant.
type createTenantInput struct {
	Name     string                  `json:"name"`
	Settings *atelier.TenantSettings `json:"settings"`
}

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) error {
	var body createTenantInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	t, err := s.dir.CreateTenant(r.Context(), body.Name, body.Settings)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tenantOut(t))
	return nil
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := s.dir.GetTenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantOut(t))
	return nil
}

func (s *Server) handleUpdateTenantSettings(w http.ResponseWriter, r *http.Request) error {
	var body atelier.TenantSettings
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	t, err := s.dir.UpdateTenantSettings(r.Context(), r.PathValue("id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantOut(t))
	return nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.dir.ListUsers(r.Context(), r.URL.Query().Get("tenant_id"))
	if err != nil {
		return err
	}
	out := make([]*atelier.User, 0, len(users))
	for _, u := range users {
		out = append(out, userOut(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// createUserInput is the request body of handleCreateUser.
type createUserInput struct {
	TenantID string `json:"tenant_id"`
	atelier.UserSpec
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var body createUserInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	u, err := s.dir.CreateUser(r.Context(), body.TenantID, body.UserSpec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, userOut(u))
	return nil
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.dir.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	var body atelier.UserSpec
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	u, err := s.dir.UpdateUser(r.Context(), r.PathValue("id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.dir.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// resetPasswordInput is the request body of handleResetPassword.
type resetPasswordInput struct {
	Password string `json:"password"`
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) error {
	var body resetPasswordInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.Password == "" {
		return atelier.CodeInvalidParam.Errorf("The field password is required.").WithField("password")
	}
	if err := s.dir.ResetPassword(r.Context(), r.PathValue("id"), body.Password); err != nil {
		return err
	}
	return writeNoContent(w)
}

// changePasswordInput is the request body of handleChangePassword.
type changePasswordInput struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) error {
	var body changePasswordInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	switch {
	case body.OldPassword == "":
		return atelier.CodeInvalidParam.Errorf("The field old_password is required.").WithField("old_password")
	case body.NewPassword == "":
		return atelier.CodeInvalidParam.Errorf("The field new_password is required.").WithField("new_password")
	}
	if err := s.dir.ChangePassword(r.Context(), body.OldPassword, body.NewPassword); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleUnlockUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	if err := s.dir.UnlockUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleEnrollTOTP(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	enr, err := s.dir.EnrollTOTP(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, enr)
	return nil
}

// confirmTOTPInput is the request body of handleConfirmTOTP.
type confirmTOTPInput struct {
	Code string `json:"code"`
}

func (s *Server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request) error {
	var body confirmTOTPInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.Code == "" {
		return atelier.CodeInvalidParam.Errorf("The field code is required.").WithField("code")
	}
	if err := s.dir.ConfirmTOTP(r.Context(), body.Code); err != nil {
		return err
	}
	return writeNoContent(w)
}

// handleDisableTOTP serves both /v1/users/me/mfa/totp and
// /v1/users/{id}/mfa/totp.
func (s *Server) handleDisableTOTP(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" {
		id = "me"
	}
	if err := s.dir.DisableTOTP(r.Context(), id); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleListOrgs(w http.ResponseWriter, r *http.Request) error {
	orgs, err := s.dir.ListOrgs(r.Context(), r.URL.Query().Get("tenant_id"))
	if err != nil {
		return err
	}
	out := make([]*atelier.Organization, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, orgOut(o))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orgs": out})
	return nil
}

// createOrgInput is the request body of handleCreateOrg.
type createOrgInput struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	ParentID string `json:"parent_id"`
}

func (s *Server) handleCreateOrg(w http.ResponseWriter, r *http.Request) error {
	var body createOrgInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	o, err := s.dir.CreateOrg(r.Context(), body.TenantID, body.Name, body.ParentID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, orgOut(o))
	return nil
}

func (s *Server) handleGetOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.dir.GetOrg(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(o))
	return nil
}

// updateOrgInput is the request body of handleUpdateOrg.
type updateOrgInput struct {
	Name     *string `json:"name"`
	ParentID *string `json:"parent_id"`
}

func (s *Server) handleUpdateOrg(w http.ResponseWriter, r *http.Request) error {
	var body updateOrgInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.Name == nil && body.ParentID == nil {
		return atelier.CodeInvalidParam.Errorf("Set name, parent_id or both.").WithField("name")
	}
	o, err := s.dir.UpdateOrg(r.Context(), r.PathValue("id"), body.Name, body.ParentID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(o))
	return nil
}

func (s *Server) handleDeleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := s.dir.DeleteOrg(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := s.dir.ListApps(r.Context(), r.URL.Query().Get("tenant_id"))
	if err != nil {
		return err
	}
	out := make([]*atelier.App, 0, len(apps))
	for _, a := range apps {
		out = append(out, appOut(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

// writeNewApp answers an app with its client secret, never cached.
func writeNewApp(w http.ResponseWriter, status int, a *atelier.NewApp) {
	out := atelier.NewApp{App: *appOut(&a.App), ClientSecret: a.ClientSecret}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, &out)
}

// createAppInput is the request body of handleCreateApp.
type createAppInput struct {
	TenantID string `json:"tenant_id"`
	atelier.AppSpec
}

func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request) error {
	var body createAppInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	a, err := s.dir.CreateApp(r.Context(), body.TenantID, body.AppSpec)
	if err != nil {
		return err
	}
	writeNewApp(w, http.StatusCreated, a)
	return nil
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request) error {
	a, err := s.dir.GetApp(r.Context(), r.PathValue("client_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appOut(a))
	return nil
}

func (s *Server) handleUpdateApp(w http.ResponseWriter, r *http.Request) error {
	var body atelier.AppSpec
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	a, err := s.dir.UpdateApp(r.Context(), r.PathValue("client_id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appOut(a))
	return nil
}

func (s *Server) handleDeleteApp(w http.ResponseWriter, r *http.Request) error {
	if err := s.dir.DeleteApp(r.Context(), r.PathValue("client_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleRotateAppSecret(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	a, err := s.dir.RotateAppSecret(r.Context(), r.PathValue("client_id"), r.Header.Get("X-verification-token"))
	if err != nil {
		return err
	}
	writeNewApp(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleListAppUsers(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.dir.ListAppUsers(r.Context(), r.PathValue("client_id"))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_ids": ids})
	return nil
}

// grantAppInput is the request body of handleGrantApp.
type grantAppInput struct {
	UserID string `json:"user_id"`
}

func (s *Server) handleGrantApp(w http.ResponseWriter, r *http.Request) error {
	var body grantAppInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.UserID == "" {
		return atelier.CodeInvalidParam.Errorf("The field user_id is required.").WithField("user_id")
	}
	if err := s.dir.GrantApp(r.Context(), r.PathValue("client_id"), body.UserID); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleRevokeApp(w http.ResponseWriter, r *http.Request) error {
	if err := s.dir.RevokeApp(r.Context(), r.PathValue("client_id"), r.PathValue("user_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// parseAuditQuery reads the query parameters of GET /v1/audit.
// parseTimeRange reads the since and until query parameters, RFC 3339
// times; absent ones are zero.
func parseTimeRange(v url.Values) (since, until time.Time, err error) {
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		raw := strings.TrimSpace(v.Get(tp.name))
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return since, until, atelier.CodeInvalidParam.Errorf("The %s parameter must be an RFC 3339 time like 2025-01-02T15:04:05Z.", tp.name).WithField(tp.name)
		}
		*tp.dst = t.UTC()
	}
	return since, until, nil
}

func parseAuditQuery(r *http.Request) (atelier.AuditQuery, error) {
	v := r.URL.Query()
	q := atelier.AuditQuery{
		TenantID: v.Get("tenant_id"),
		ActorID:  v.Get("actor_id"),
		Action:   v.Get("action"),
		Outcome:  v.Get("outcome"),
		Cursor:   v.Get("cursor"),
	}
	var err error
	if q.Since, q.Until, err = parseTimeRange(v); err != nil {
		return q, err
	}
	limit, err := parseLimit(v)
	if err != nil {
		return q, err
	}
	q.Limit = limit
	return q, nil
}

func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := parseAuditQuery(r)
	if err != nil {
		return err
	}
	page, err := s.dir.ListAudit(r.Context(), q)
	if err != nil {
		return err
	}
	events := make([]*atelier.AuditEvent, 0, len(page.Events))
	for _, e := range page.Events {
		c := *e
		c.Time = utc(c.Time)
		events = append(events, &c)
	}
	writeJSON(w, http.StatusOK, atelier.AuditPage{Events: events, NextCursor: page.NextCursor})
	return nil
}
