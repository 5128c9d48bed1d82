package httpapi

import (
	"net"
	"net/http"
	"time"

	"github.com/atelier-dev/atelier"
)

// requiredV2Headers are the headers every /api/v2/sdk login must carry
// (CONTRACT §4), in the order they are checked.
var requiredV2Headers = []string{"X-client-id", "X-operating-sys-version", "X-device-fingerprint", "X-agent"}

// checkV2Headers returns ATL.AUTH.0006 naming the first missing header.
func checkV2Headers(r *http.Request) error {
	for _, h := range requiredV2Headers {
		if r.Header.Get(h) == "" {
			return atelier.CodeMissingHeader.Errorf("missing header %s", h).WithField(h)
		}
	}
	return nil
}

// clientOf describes who sends r. The IP is the remote address, never the
// client's own X-device-ip claim, because rate limits are keyed on it; the
// claim is kept separately for the audit log.
func clientOf(r *http.Request) *atelier.Client {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	return &atelier.Client{
		IP:                ip,
		ClaimedIP:         r.Header.Get("X-device-ip"),
		DeviceFingerprint: r.Header.Get("X-device-fingerprint"),
		Agent:             r.Header.Get("X-agent"),
		OS:                r.Header.Get("X-operating-sys-version"),
		Lang:              r.Header.Get("X-L"),
	}
}

// loginAnswer is the /api/v2 login answer; every field is always present.
type loginAnswer struct {
	Status       string         `json:"status"`
	SessionToken string         `json:"session_token"`
	IDToken      string         `json:"id_token"`
	Expire       int64          `json:"expire"`
	StateToken   string         `json:"state_token"`
	Data         map[string]any `json:"data"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, req atelier.LoginRequest) error {
	req.ClientID = r.Header.Get("X-client-id")
	req.TenantID = r.Header.Get("X-tenant-id")
	res, err := s.auth.Login(r.Context(), req)
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

// loginEmailInput is the request body of handleLoginEmail.
type loginEmailInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) handleLoginEmail(w http.ResponseWriter, r *http.Request) error {
	if err := checkV2Headers(r); err != nil {
		return err
	}
	var body loginEmailInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.Email == "" {
		return atelier.CodeInvalidParam.Errorf("The field email is required.").WithField("email")
	}
	return s.login(w, r, atelier.LoginRequest{Email: body.Email, Password: body.Password})
}

// loginNameInput is the request body of handleLoginName.
type loginNameInput struct {
	UserName string `json:"user_name"`
	Password string `json:"password"`
}

func (s *Server) handleLoginName(w http.ResponseWriter, r *http.Request) error {
	if err := checkV2Headers(r); err != nil {
		return err
	}
	var body loginNameInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.UserName == "" {
		return atelier.CodeInvalidParam.Errorf("The field user_name is required.").WithField("user_name")
	}
	return s.login(w, r, atelier.LoginRequest{UserName: body.UserName, Password: body.Password})
}

// handleLogout needs only X-session-token: a client that lost its device
// headers must still be able to revoke its token.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	token := r.Header.Get("X-session-token")
	if token == "" {
		return atelier.CodeMissingHeader.Errorf("missing header X-session-token").WithField("X-session-token")
	}
	if err := s.auth.Logout(r.Context(), token); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// exchangeKeyInput is the request body of handleExchangeKey.
type exchangeKeyInput struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

func (s *Server) handleExchangeKey(w http.ResponseWriter, r *http.Request) error {
	var body exchangeKeyInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	switch {
	case body.AccessKey == "":
		return atelier.CodeInvalidParam.Errorf("The field access_key is required.").WithField("access_key")
	case body.SecretKey == "":
		return atelier.CodeInvalidParam.Errorf("The field secret_key is required.").WithField("secret_key")
	}
	tok, err := s.auth.ExchangeKey(r.Context(), body.AccessKey, body.SecretKey)
	if err != nil {
		return err
	}
	tok.ExpiresAt = tok.ExpiresAt.UTC()
	writeJSON(w, http.StatusOK, tok)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	p := atelier.PrincipalFromContext(r.Context())
	writeJSON(w, http.StatusOK, whoamiJSON{UserID: p.UserID, TenantID: p.TenantID, Email: p.Email, Role: p.Role, ClientID: p.ClientID})
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.Logout(r.Context(), bearerToken(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiKeyJSON is an API key on the wire, times in UTC.
func apiKeyJSON(k *atelier.APIKey) *atelier.APIKey {
	c := *k
	c.CreatedAt = c.CreatedAt.UTC()
	return &c
}

// createAPIKeyInput is the request body of handleCreateAPIKey.
type createAPIKeyInput struct {
	Description string `json:"description"`
}

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var body createAPIKeyInput
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	k, err := s.apiKeys.CreateAPIKey(r.Context(), body.Description)
	if err != nil {
		return err
	}
	out := *k
	out.CreatedAt = out.CreatedAt.UTC()
	writeJSON(w, http.StatusCreated, &out)
	return nil
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.apiKeys.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	out := make([]*atelier.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, apiKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
	return nil
}

func (s *Server) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.apiKeys.DeleteAPIKey(r.Context(), r.PathValue("access_key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// utc returns t in UTC, for the wire.
func utc(t time.Time) time.Time { return t.UTC() }

// whoamiJSON is the answer of GET /v1/auth/whoami.
type whoamiJSON struct {
	UserID   string `json:"user_id"`
	TenantID string `json:"tenant_id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	ClientID string `json:"client_id"`
}
