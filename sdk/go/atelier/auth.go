package atelier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"runtime"

	core "github.com/atelier-dev/atelier"
)

// WhoAmI is the caller as the server sees it.
type WhoAmI struct {
	UserID   string `json:"user_id"`
	TenantID string `json:"tenant_id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	ClientID string `json:"client_id"`
}

// DeviceFingerprint returns a stable, anonymous identifier of this machine and
// user: the hex SHA-256 of the host name and the user name.
func DeviceFingerprint() string {
	host, _ := os.Hostname()
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	sum := sha256.Sum256([]byte(host + "\x00" + name))
	return hex.EncodeToString(sum[:])
}

// LoginRequest is a password login through the built-in CLI app: one of
// Email or UserName, and the password. TenantID (X-tenant-id) is optional; it
// is needed when the account exists in several tenants.
type LoginRequest struct {
	Email    string
	UserName string
	Password string
	TenantID string
}

// LoginResult is one step of a login (CONTRACT §4): the API's answer, with
// the fields of its data decoded. Methods lists the second factors of an
// MFA_AUTH answer ("sms", "email", "totp"); DaysLeft is the days until the
// password expires in a PASSWORD_WARN answer. TenantID and UserID are set
// once the login is complete.
type LoginResult struct {
	core.LoginResult
	Methods  []string `json:"-"`
	DaysLeft int      `json:"-"`
	TenantID string   `json:"-"`
	UserID   string   `json:"-"`
}

// Complete reports whether the login is done: SUCCESS or PASSWORD_WARN.
func (r *LoginResult) Complete() bool {
	return r.Status == core.LoginSuccess || r.Status == core.LoginPasswordWarn
}

// Login checks a password through the built-in CLI app and returns the
// answer whatever its status: SUCCESS and PASSWORD_WARN carry the session
// token, which the client then uses; MFA_AUTH and PASSWORD_EXPIRED carry the
// state token that SendMFACode, VerifyMFA and UpdateExpiredPassword continue
// with; ACCESS_DENIED carries nothing. Wrong credentials, a locked account
// or too many attempts are errors (ATL.AUTH.0005, 0008, 0018) whose message
// comes from the server.
func (c *Client) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	path, body := "/api/v2/sdk/login/email", map[string]string{"email": req.Email, "password": req.Password}
	if req.Email == "" {
		path, body = "/api/v2/sdk/login", map[string]string{"user_name": req.UserName, "password": req.Password}
	}
	if req.Email == "" && req.UserName == "" {
		return nil, core.CodeInvalidParam.Errorf("The email or the user name is required.").WithField("email")
	}
	r, err := jsonRequest(http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	return c.loginStep(ctx, v2Headers(r, req.TenantID, ""))
}

// SendMFACode sends a one-time code by channel ("sms" or "email") for the
// login that the MFA_AUTH state token continues. The answer says where it
// went, masked, and how long to wait before asking again.
func (c *Client) SendMFACode(ctx context.Context, stateToken, channel string) (*core.MFASent, error) {
	r := v2Headers(&request{method: http.MethodPost, path: "/api/v2/sdk/mfa/" + url.PathEscape(channel) + "/send"}, "", stateToken)
	var sent core.MFASent
	if err := c.doJSON(ctx, r, &sent); err != nil {
		return nil, err
	}
	return &sent, nil
}

// VerifyMFA checks a code of channel ("sms", "email" or "totp") for the
// login that the MFA_AUTH state token continues, and returns the next step:
// the tokens (which the client then uses) or PASSWORD_EXPIRED. A wrong code
// is ATL.AUTH.0011 with the remaining attempts in the message; the state
// token stays usable for another try.
func (c *Client) VerifyMFA(ctx context.Context, stateToken, channel, code string) (*LoginResult, error) {
	r, err := jsonRequest(http.MethodPost, "/api/v2/sdk/mfa/"+url.PathEscape(channel)+"/verify", map[string]string{"code": code})
	if err != nil {
		return nil, err
	}
	return c.loginStep(ctx, v2Headers(r, "", stateToken))
}

// UpdateExpiredPassword changes the password of the login that a
// PASSWORD_EXPIRED state token continues and returns the finished login,
// whose session token the client then uses. A new password the tenant's
// policy refuses is ATL.AUTH.0015 naming the rule.
func (c *Client) UpdateExpiredPassword(ctx context.Context, stateToken, oldPassword, newPassword string) (*LoginResult, error) {
	r, err := jsonRequest(http.MethodPost, "/api/v2/sdk/pwd/update", map[string]string{"old_password": oldPassword, "new_password": newPassword})
	if err != nil {
		return nil, err
	}
	return c.loginStep(ctx, v2Headers(r, "", stateToken))
}

// RefreshSession trades the client's session token for a new one, which the
// client then uses; the server revokes the old one. It needs no password and
// no second factor, so a session can be kept alive past its lifetime as long
// as it is refreshed before it expires.
func (c *Client) RefreshSession(ctx context.Context) (*LoginResult, error) {
	tok := c.Token()
	if tok == "" {
		return nil, clientError(CodeNoCredentials, nil, "The client has no session token to refresh; log in first.")
	}
	r := &request{method: http.MethodPost, path: "/api/v2/sdk/session-token/refresh", noAuth: true,
		header: http.Header{"X-Session-Token": {tok}}}
	res, err := c.loginStep(ctx, r)
	if err != nil {
		return nil, err
	}
	if !res.Complete() {
		return res, clientError(CodeBadResponse, nil, "The session refresh answered status %s.", res.Status)
	}
	return res, nil
}

// v2Headers makes r an unauthenticated /api/v2/sdk call of the built-in CLI
// app with the device headers the seed requires, and X-tenant-id and
// X-state-token when given.
func v2Headers(r *request, tenantID, stateToken string) *request {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.noAuth = true
	r.header.Set("X-client-id", core.CLIClientID)
	r.header.Set("X-operating-sys-version", runtime.GOOS)
	r.header.Set("X-device-fingerprint", DeviceFingerprint())
	r.header.Set("X-agent", "atelier-go/"+Version)
	if tenantID != "" {
		r.header.Set("X-tenant-id", tenantID)
	}
	if stateToken != "" {
		r.header.Set("X-state-token", stateToken)
	}
	return r
}

// loginStep sends one login call, decodes its answer, and makes the client
// use the session token of a completed login.
func (c *Client) loginStep(ctx context.Context, r *request) (*LoginResult, error) {
	var res LoginResult
	if err := c.doJSON(ctx, r, &res.LoginResult); err != nil {
		return nil, err
	}
	res.decodeData()
	switch {
	case res.Complete():
		if res.SessionToken == "" {
			return &res, clientError(CodeBadResponse, nil, "The login answer carries no session token.")
		}
		c.SetToken(res.SessionToken)
	case res.Status == core.LoginMFA, res.Status == core.LoginPasswordExpired:
		if res.StateToken == "" {
			return &res, clientError(CodeBadResponse, nil, "The %s answer carries no state token.", res.Status)
		}
	case res.Status == core.LoginAccessDenied:
	default:
		return &res, clientError(CodeBadResponse, nil, "The login answered the unknown status %q.", res.Status)
	}
	return &res, nil
}

// decodeData fills the typed fields from the answer's data.
func (r *LoginResult) decodeData() {
	if ms, ok := r.Data["methods"].([]any); ok {
		for _, m := range ms {
			if s, ok := m.(string); ok {
				r.Methods = append(r.Methods, s)
			}
		}
	}
	if d, ok := r.Data["days_left"].(float64); ok {
		r.DaysLeft = int(d)
	}
	r.TenantID, _ = r.Data["tenant_id"].(string)
	r.UserID, _ = r.Data["user_id"].(string)
}

// LoginEmail logs in with an email and password through the built-in CLI app
// and makes the client use the session token. tenantID is optional; it is
// needed when the email exists in several tenants. A login that needs another
// step (MFA, an expired password) or is denied returns the result with a
// CodeLoginIncomplete error; Login returns those steps without an error.
func (c *Client) LoginEmail(ctx context.Context, email, password, tenantID string) (*core.LoginResult, error) {
	res, err := c.Login(ctx, LoginRequest{Email: email, Password: password, TenantID: tenantID})
	if err != nil {
		if res != nil {
			return &res.LoginResult, err
		}
		return nil, err
	}
	if !res.Complete() {
		return &res.LoginResult, clientError(CodeLoginIncomplete, nil, "The login was not completed: status %s.", res.Status)
	}
	return &res.LoginResult, nil
}

// Logout revokes the client's bearer token on the server (DELETE
// /v1/auth/token) and forgets it.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.doJSON(ctx, &request{method: http.MethodDelete, path: "/v1/auth/token"}, nil); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// WhoAmI returns the caller of the client's credentials.
func (c *Client) WhoAmI(ctx context.Context) (*WhoAmI, error) {
	var w WhoAmI
	if err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/v1/auth/whoami"}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// CreateAPIKey creates an access/secret key pair for the caller. The answer
// is the only time the secret is shown.
func (c *Client) CreateAPIKey(ctx context.Context, description string) (*core.NewAPIKey, error) {
	r, err := jsonRequest(http.MethodPost, "/v1/apikeys", map[string]string{"description": description})
	if err != nil {
		return nil, err
	}
	var k core.NewAPIKey
	if err := c.doJSON(ctx, r, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys returns the caller's API keys, without secrets.
func (c *Client) ListAPIKeys(ctx context.Context) ([]*core.APIKey, error) {
	var out struct {
		Keys []*core.APIKey `json:"api_keys"`
	}
	if err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/v1/apikeys"}, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// DeleteAPIKey deletes one of the caller's API keys and revokes the tokens
// issued for it; an unknown key gives ATL.KEY.0001.
func (c *Client) DeleteAPIKey(ctx context.Context, accessKey string) error {
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/v1/apikeys/" + url.PathEscape(accessKey)}, nil)
}
