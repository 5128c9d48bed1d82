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

// LoginEmail logs in with an email and password through the built-in CLI app
// and makes the client use the session token. tenantID is optional; it is
// needed when the email exists in several tenants. A login that needs another
// step (MFA, an expired password) or is denied returns the result with a
// CodeLoginIncomplete error.
func (c *Client) LoginEmail(ctx context.Context, email, password, tenantID string) (*core.LoginResult, error) {
	r, err := jsonRequest(http.MethodPost, "/api/v2/sdk/login/email", map[string]string{"email": email, "password": password})
	if err != nil {
		return nil, err
	}
	r.noAuth = true
	r.header.Set("X-client-id", core.CLIClientID)
	r.header.Set("X-operating-sys-version", runtime.GOOS)
	r.header.Set("X-device-fingerprint", DeviceFingerprint())
	r.header.Set("X-agent", "atelier-go/"+Version)
	if tenantID != "" {
		r.header.Set("X-tenant-id", tenantID)
	}
	var res core.LoginResult
	if err := c.doJSON(ctx, r, &res); err != nil {
		return nil, err
	}
	switch res.Status {
	case core.LoginSuccess, core.LoginPasswordWarn:
		if res.SessionToken == "" {
			return &res, clientError(CodeBadResponse, nil, "The login answer carries no session token.")
		}
		c.SetToken(res.SessionToken)
		return &res, nil
	}
	return &res, clientError(CodeLoginIncomplete, nil, "The login was not completed: status %s.", res.Status)
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
