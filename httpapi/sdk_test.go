package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

func TestMFASendAndVerify(t *testing.T) {
	h := newHarness(t)
	var gotState, gotChannel, gotCode string
	h.auth.SendMFACodeFn = func(ctx context.Context, state, channel string) (*atelier.MFASent, error) {
		gotState, gotChannel = state, channel
		return &atelier.MFASent{Channel: channel, To: "b***@example.com", ExpiresIn: 300, ResendAfter: 60}, nil
	}
	h.auth.VerifyMFAFn = func(ctx context.Context, state, channel, code string) (*atelier.LoginResult, error) {
		gotState, gotChannel, gotCode = state, channel, code
		if code != "123456" {
			return nil, atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", 4)
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "s", IDToken: "i", Expire: 60}, nil
	}
	req := newLoginRequest("/api/v2/sdk/mfa/email/send", "")
	req.Header.Set("X-state-token", "st")
	var sent map[string]any
	mustJSON(t, h.do(req), 200, &sent)
	if gotState != "st" || gotChannel != "email" || sent["to"] != "b***@example.com" || sent["resend_after"] != float64(60) {
		t.Fatalf("send: state %q channel %q answer %v", gotState, gotChannel, sent)
	}

	req = newLoginRequest("/api/v2/sdk/mfa/totp/verify", `{"code":"000000"}`)
	req.Header.Set("X-state-token", "st")
	e := mustError(t, h.do(req), 400, atelier.CodeBadOTP.ID)
	if e.RequestID != "" || !strings.Contains(e.Message, "4 attempts remain") {
		t.Errorf("error %+v: /api/v2 errors carry no request_id and keep the message", e)
	}
	req = newLoginRequest("/api/v2/sdk/mfa/totp/verify", `{"code":"123456"}`)
	req.Header.Set("X-state-token", "st")
	var ans map[string]any
	mustJSON(t, h.do(req), 200, &ans)
	if ans["status"] != "SUCCESS" || ans["session_token"] != "s" || gotChannel != "totp" || gotCode != "123456" {
		t.Fatalf("verify answer %v (channel %q code %q)", ans, gotChannel, gotCode)
	}
	// The seed headers are required here too.
	req = newLoginRequest("/api/v2/sdk/mfa/totp/verify", `{"code":"123456"}`)
	req.Header.Del("X-agent")
	mustError(t, h.do(req), 400, atelier.CodeMissingHeader.ID)
	// Malformed JSON and unknown fields are refused before the service.
	for _, body := range []string{`{"code":`, `{"code":"1","x":1}`, `["code"]`} {
		req = newLoginRequest("/api/v2/sdk/mfa/sms/verify", body)
		mustError(t, h.do(req), 400, atelier.CodeInvalidJSON.ID)
	}
}

func TestPasswordUpdateAndRefresh(t *testing.T) {
	h := newHarness(t)
	h.auth.UpdateExpiredPasswordFn = func(ctx context.Context, state, old, nw string) (*atelier.LoginResult, error) {
		if state != "st" || old != "o" || nw != "n" {
			t.Errorf("update(%q, %q, %q)", state, old, nw)
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "s2"}, nil
	}
	h.auth.RefreshSessionFn = func(ctx context.Context, tok string) (*atelier.LoginResult, error) {
		if tok != "s1" {
			return nil, atelier.CodeInvalidToken.Errorf("bad")
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "s3"}, nil
	}
	req := newLoginRequest("/api/v2/sdk/pwd/update", `{"old_password":"o","new_password":"n"}`)
	req.Header.Set("X-state-token", "st")
	var ans map[string]any
	mustJSON(t, h.do(req), 200, &ans)
	if ans["session_token"] != "s2" {
		t.Fatalf("answer %v", ans)
	}
	req = newLoginRequest("/api/v2/sdk/session-token/refresh", "")
	req.Header.Set("X-session-token", "s1")
	mustJSON(t, h.do(req), 200, &ans)
	if ans["session_token"] != "s3" {
		t.Fatalf("answer %v", ans)
	}
	req = newLoginRequest("/api/v2/sdk/session-token/refresh", "")
	req.Header.Set("X-session-token", "revoked")
	mustError(t, h.do(req), 401, atelier.CodeInvalidToken.ID)
}

func TestTenantTokenAndSSO(t *testing.T) {
	h := newHarness(t)
	h.auth.TenantTokenFn = func(ctx context.Context, id, secret string) (*atelier.IssuedToken, error) {
		if id != "app1" || secret != "sec" {
			return nil, atelier.CodeInvalidClient.Errorf("The client id or client secret is wrong.")
		}
		return &atelier.IssuedToken{Token: "apptoken", ExpiresIn: 7200}, nil
	}
	appPrincipal := &atelier.Principal{TenantID: "t1", Role: atelier.RoleApp, ClientID: "app1"}
	h.auth.AuthenticateFn = func(ctx context.Context, token string) (*atelier.Principal, error) {
		switch token {
		case "apptoken":
			return appPrincipal, nil
		case testToken:
			return testPrincipal, nil
		}
		return nil, atelier.CodeInvalidToken.Errorf("bad")
	}
	var gotDevice string
	h.auth.IssueSSOTicketFn = func(ctx context.Context, session, clientID string) (*atelier.SSOTicket, error) {
		gotDevice = atelier.ClientFromContext(ctx).DeviceFingerprint
		if session != "sess" || clientID != "app1" {
			t.Errorf("issue(%q, %q)", session, clientID)
		}
		return &atelier.SSOTicket{Ticket: "tk", Expire: 120}, nil
	}
	h.auth.VerifySSOTicketFn = func(ctx context.Context, ticket string) (*atelier.UserInfo, error) {
		if ticket != "tk" || atelier.ClientFromContext(ctx).DeviceFingerprint != "phone" {
			return nil, atelier.CodeInvalidTicket.Errorf("bad ticket")
		}
		return &atelier.UserInfo{Sub: "u1", Email: "a@example.com", TenantID: "t1"}, nil
	}

	mustError(t, h.do(jsonPost("/api/v2/tenant/token", `{"client_id":"app1","client_secret":"nope"}`, "")), 401, atelier.CodeInvalidClient.ID)
	mustError(t, h.do(jsonPost("/api/v2/tenant/token", `{"client_id":"app1"}`, "")), 400, atelier.CodeInvalidParam.ID)
	var tok map[string]any
	w := h.do(jsonPost("/api/v2/tenant/token", `{"client_id":"app1","client_secret":"sec"}`, ""))
	mustJSON(t, w, 200, &tok)
	if tok["access_token"] != "apptoken" || tok["token_type"] != "Bearer" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer %v, headers %v", tok, w.Header())
	}

	req := jsonPost("/api/v2/tenant/sso/session-token/sso-ticket", `{"session_token":"sess"}`, "apptoken")
	req.Header.Set("X-device-fingerprint", "phone")
	var tk map[string]any
	mustJSON(t, h.do(req), 200, &tk)
	if tk["sso_ticket"] != "tk" || tk["expire"] != float64(120) || gotDevice != "phone" {
		t.Fatalf("ticket answer %v device %q", tk, gotDevice)
	}
	// Only an app's tenant token may issue or verify tickets.
	req = jsonPost("/api/v2/tenant/sso/session-token/sso-ticket", `{"session_token":"sess"}`, testToken)
	mustError(t, h.do(req), 403, atelier.CodeForbidden.ID)
	req = jsonPost("/api/v2/tenant/sso/sso-ticket/verify", `{"sso_ticket":"tk"}`, "")
	mustError(t, h.do(req), 401, atelier.CodeNoCredentials.ID)

	req = jsonPost("/api/v2/tenant/sso/sso-ticket/verify", `{"sso_ticket":"tk"}`, "apptoken")
	req.Header.Set("X-device-fingerprint", "laptop")
	mustError(t, h.do(req), 400, atelier.CodeInvalidTicket.ID)
	req = jsonPost("/api/v2/tenant/sso/sso-ticket/verify", `{"sso_ticket":"tk"}`, "apptoken")
	req.Header.Set("X-device-fingerprint", "phone")
	var info map[string]any
	mustJSON(t, h.do(req), 200, &info)
	if info["sub"] != "u1" || info["email"] != "a@example.com" {
		t.Fatalf("verify answer %v", info)
	}
}

func TestVerificationRoutes(t *testing.T) {
	h := newHarness(t)
	h.verify.StartVerificationFn = func(ctx context.Context, op, channel string, params map[string]string) (*atelier.Verification, error) {
		if op != "app.rotate_secret" || channel != "sms" || params["client_id"] != "c1" {
			t.Errorf("start(%q, %q, %v)", op, channel, params)
		}
		return &atelier.Verification{ID: "v1", Operation: op, Channel: channel, To: "138****0000", ExpiresAt: testTime}, nil
	}
	h.verify.ConfirmVerificationFn = func(ctx context.Context, id, code string) (string, int64, error) {
		if id != "v1" || code != "123456" {
			return "", 0, atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", 2)
		}
		return "vt", 300, nil
	}
	var v map[string]any
	mustJSON(t, h.do(authed("POST", "/v1/verifications", strings.NewReader(`{"operation":"app.rotate_secret","channel":"sms","params":{"client_id":"c1"}}`))), 201, &v)
	if v["verification_id"] != "v1" || v["to"] != "138****0000" {
		t.Fatalf("start answer %v", v)
	}
	mustError(t, h.do(authed("POST", "/v1/verifications/v1/confirm", strings.NewReader(`{"code":"1"}`))), 400, atelier.CodeBadOTP.ID)
	var c map[string]any
	mustJSON(t, h.do(authed("POST", "/v1/verifications/v1/confirm", strings.NewReader(`{"code":"123456"}`))), 200, &c)
	if c["verification_token"] != "vt" || c["expires_in"] != float64(300) {
		t.Fatalf("confirm answer %v", c)
	}
	// Unauthenticated callers get 401 before the service.
	req := authed("POST", "/v1/verifications", strings.NewReader(`{}`))
	req.Header.Del("Authorization")
	mustError(t, h.do(req), 401, atelier.CodeNoCredentials.ID)
}

// jsonPost builds a JSON POST, with a bearer token when one is given.
func jsonPost(target, body, bearer string) *http.Request {
	req := httptest.NewRequest("POST", target, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}
