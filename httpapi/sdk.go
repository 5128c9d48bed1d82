package httpapi

import (
	"net/http"

	"github.com/atelier-dev/atelier"
)

// sdkRoutes are the OneAccess-compatible login continuation, session and
// tenant calls (CONTRACT §4), and the native step-up verification.
func (s *Server) sdkRoutes(v2Headers []param, loginDesc string) []route {
	state := param{Name: "X-state-token", Desc: "The state_token of the MFA_AUTH or PASSWORD_EXPIRED answer.", Required: true}
	session := param{Name: "X-session-token", Desc: "The session token.", Required: true}
	channel := param{Name: "channel", Desc: "sms or email (send); sms, email or totp (verify).", Required: true}
	withState := append(append([]param{}, v2Headers...), state)
	return []route{
		{Method: "POST", Pattern: "/api/v2/sdk/mfa/{channel}/send", Summary: "Send a one-time login code by SMS or email.",
			Params: []param{channel}, Headers: withState,
			Response: `{"channel","to","expires_in","resend_after"}`, Status: 200, Out: atelier.MFASent{}, Handler: s.handleMFASend},
		{Method: "POST", Pattern: "/api/v2/sdk/mfa/{channel}/verify", Summary: "Check a one-time or TOTP code and continue the login.",
			Params: []param{channel}, Headers: withState, Request: `{"code"}`,
			Response: loginDesc, Status: 200, In: mfaVerifyInput{}, Out: loginAnswer{}, Handler: s.handleMFAVerify},
		{Method: "POST", Pattern: "/api/v2/sdk/pwd/update", Summary: "Change an expired password and continue the login.",
			Headers: withState, Request: `{"old_password","new_password"}`,
			Response: loginDesc, Status: 200, In: passwordUpdateInput{}, Out: loginAnswer{}, Handler: s.handlePasswordUpdate},
		{Method: "POST", Pattern: "/api/v2/sdk/session-token/refresh", Summary: "Trade a live session token for a new one; the old one is revoked.",
			Headers: []param{session}, Response: loginDesc, Status: 200, Out: loginAnswer{}, Handler: s.handleSessionRefresh},
		{Method: "POST", Pattern: "/api/v2/tenant/token", Summary: "Client credentials: an app's id and secret for a tenant access token.",
			Request: `{"client_id","client_secret"}`, Response: `{"access_token","token_type","expires_in"}`, Status: 200, In: tenantTokenInput{}, Out: struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int64  `json:"expires_in"`
			}{}, Handler: s.handleTenantToken},
		{Method: "POST", Pattern: "/api/v2/tenant/sso/session-token/sso-ticket", Summary: "Trade a user's session token for a single-use SSO ticket bound to the device and the calling app.",
			Auth: true, Headers: []param{{Name: "X-device-fingerprint", Desc: "The device the ticket is bound to.", Required: true}},
			Request: `{"session_token"}`, Response: `{"sso_ticket","expire"}`, Status: 200, In: ssoTicketInput{}, Out: atelier.SSOTicket{}, Handler: s.handleSSOTicket},
		{Method: "POST", Pattern: "/api/v2/tenant/sso/sso-ticket/verify", Summary: "Use up an SSO ticket on its device and learn the user.",
			Auth: true, Headers: []param{{Name: "X-device-fingerprint", Desc: "Must be the device the ticket was issued to.", Required: true}},
			Request: `{"sso_ticket"}`, Response: `{"sub","email","name","preferred_username","phone_number","tenant_id","org_id","display_name"}`, Status: 200, In: ssoVerifyInput{}, Out: atelier.UserInfo{}, Handler: s.handleSSOVerify},

		{Method: "POST", Pattern: "/v1/verifications", Summary: "Start a step-up verification for a sensitive operation: sends a code to the caller.", Auth: true,
			Request: `{"operation","channel":"sms|email","params":{…}}`, Response: `{"verification_id","operation","channel","to","expires_at"}`, Status: 201, In: startVerificationInput{}, Out: atelier.Verification{}, Handler: s.handleStartVerification},
		{Method: "POST", Pattern: "/v1/verifications/{id}/confirm", Summary: "Confirm the code; answers a single-use token for X-verification-token, valid 5 minutes.", Auth: true,
			Params: []param{{Name: "id", Desc: "The verification_id.", Required: true}}, Request: `{"code"}`,
			Response: `{"verification_token","expires_in"}`, Status: 200, In: confirmVerificationInput{}, Out: struct {
				VerificationToken string `json:"verification_token"`
				ExpiresIn         int64  `json:"expires_in"`
			}{}, Handler: s.handleConfirmVerification},
	}
}

// writeLogin writes a login result in the /api/v2 shape.
func writeLogin(w http.ResponseWriter, res *atelier.LoginResult) {
	out := loginAnswer{
		Status:       res.Status,
		SessionToken: res.SessionToken,
		IDToken:      res.IDToken,
		Expire:       res.Expire,
		StateToken:   res.StateToken,
		Data:         res.Data,
	}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMFASend(w http.ResponseWriter, r *http.Request) error {
	if err := checkV2Headers(r); err != nil {
		return err
	}
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	sent, err := s.auth.SendMFACode(r.Context(), r.Header.Get("X-state-token"), r.PathValue("channel"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sent)
	return nil
}

// mfaVerifyInput is the request body of handleMFAVerify.
type mfaVerifyInput struct {
	Code string `json:"code"`
}

func (s *Server) handleMFAVerify(w http.ResponseWriter, r *http.Request) error {
	if err := checkV2Headers(r); err != nil {
		return err
	}
	var body mfaVerifyInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	res, err := s.auth.VerifyMFA(r.Context(), r.Header.Get("X-state-token"), r.PathValue("channel"), body.Code)
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

// passwordUpdateInput is the request body of handlePasswordUpdate.
type passwordUpdateInput struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (s *Server) handlePasswordUpdate(w http.ResponseWriter, r *http.Request) error {
	if err := checkV2Headers(r); err != nil {
		return err
	}
	var body passwordUpdateInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	res, err := s.auth.UpdateExpiredPassword(r.Context(), r.Header.Get("X-state-token"), body.OldPassword, body.NewPassword)
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

func (s *Server) handleSessionRefresh(w http.ResponseWriter, r *http.Request) error {
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	res, err := s.auth.RefreshSession(r.Context(), r.Header.Get("X-session-token"))
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

// tenantTokenInput is the request body of handleTenantToken.
type tenantTokenInput struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	GrantType    string `json:"grant_type"` // accepted for OAuth-minded clients; only client_credentials
}

func (s *Server) handleTenantToken(w http.ResponseWriter, r *http.Request) error {
	var body tenantTokenInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	switch {
	case body.ClientID == "":
		return atelier.CodeInvalidParam.Errorf("The field client_id is required.").WithField("client_id")
	case body.ClientSecret == "":
		return atelier.CodeInvalidParam.Errorf("The field client_secret is required.").WithField("client_secret")
	case body.GrantType != "" && body.GrantType != "client_credentials":
		return atelier.CodeInvalidParam.Errorf("The grant_type must be client_credentials.").WithField("grant_type")
	}
	tok, err := s.auth.TenantToken(r.Context(), body.ClientID, body.ClientSecret)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok.Token, "token_type": "Bearer", "expires_in": tok.ExpiresIn})
	return nil
}

// appCaller returns ATL.AUTH.0004 unless the caller is an app's tenant token.
func appCaller(r *http.Request) error {
	if p := atelier.PrincipalFromContext(r.Context()); p == nil || p.Role != atelier.RoleApp {
		return atelier.CodeForbidden.Errorf("This call needs an app's tenant token from POST /api/v2/tenant/token.")
	}
	return nil
}

// ssoTicketInput is the request body of handleSSOTicket.
type ssoTicketInput struct {
	SessionToken string `json:"session_token"`
}

func (s *Server) handleSSOTicket(w http.ResponseWriter, r *http.Request) error {
	if err := appCaller(r); err != nil {
		return err
	}
	var body ssoTicketInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.SessionToken == "" {
		return atelier.CodeInvalidParam.Errorf("The field session_token is required.").WithField("session_token")
	}
	t, err := s.auth.IssueSSOTicket(r.Context(), body.SessionToken, atelier.PrincipalFromContext(r.Context()).ClientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// ssoVerifyInput is the request body of handleSSOVerify.
type ssoVerifyInput struct {
	SSOTicket string `json:"sso_ticket"`
}

func (s *Server) handleSSOVerify(w http.ResponseWriter, r *http.Request) error {
	if err := appCaller(r); err != nil {
		return err
	}
	var body ssoVerifyInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	info, err := s.auth.VerifySSOTicket(r.Context(), body.SSOTicket)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// startVerificationInput is the request body of handleStartVerification.
type startVerificationInput struct {
	Operation string            `json:"operation"`
	Channel   string            `json:"channel"`
	Params    map[string]string `json:"params"`
}

func (s *Server) handleStartVerification(w http.ResponseWriter, r *http.Request) error {
	var body startVerificationInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	v, err := s.verify.StartVerification(r.Context(), body.Operation, body.Channel, body.Params)
	if err != nil {
		return err
	}
	v.ExpiresAt = v.ExpiresAt.UTC()
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// confirmVerificationInput is the request body of handleConfirmVerification.
type confirmVerificationInput struct {
	Code string `json:"code"`
}

func (s *Server) handleConfirmVerification(w http.ResponseWriter, r *http.Request) error {
	var body confirmVerificationInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	tok, expiresIn, err := s.verify.ConfirmVerification(r.Context(), r.PathValue("id"), body.Code)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"verification_token": tok, "expires_in": expiresIn})
	return nil
}
