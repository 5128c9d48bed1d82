package atelier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	core "github.com/atelier-dev/atelier"
)

// loginFake plays the server side of a login that needs MFA and then a
// password change, with the error answers of CONTRACT §4.
type loginFake struct {
	t *testing.T

	mu      sync.Mutex
	calls   []string
	headers map[string]http.Header // by path, the last request's
	bodies  map[string]map[string]string
	used    map[string]bool // refreshed session tokens
}

func newLoginFake(t *testing.T) (*loginFake, *Client) {
	f := &loginFake{t: t, headers: map[string]http.Header{}, bodies: map[string]map[string]string{}, used: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, mustClient(t, Options{Endpoint: srv.URL})
}

func (f *loginFake) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.t.Errorf("%s: body: %v", r.URL.Path, err)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.headers[r.URL.Path] = r.Header.Clone()
	f.bodies[r.URL.Path] = body
	f.mu.Unlock()
	state := r.Header.Get("X-state-token")
	switch r.URL.Path {
	case "/api/v2/sdk/login":
		writeJSON(w, 200, map[string]any{"status": "ACCESS_DENIED", "data": map[string]any{}})
	case "/api/v2/sdk/login/email":
		switch body["password"] {
		case "pw":
			writeJSON(w, 200, map[string]any{"status": "MFA_AUTH", "state_token": "st-mfa", "data": map[string]any{"methods": []string{"email", "totp"}}})
		case "old":
			writeJSON(w, 200, map[string]any{"status": "PASSWORD_WARN", "session_token": "sess-warn", "expire": 60, "data": map[string]any{"days_left": 3, "tenant_id": "t", "user_id": "u"}})
		case "locked":
			writeErr(w, 403, "ATL.AUTH.0008", "Too many failed logins; the account is locked for 15 more minutes.")
		default:
			writeErr(w, 400, "ATL.AUTH.0005", "Wrong email or password; 4 attempts remain.")
		}
	case "/api/v2/sdk/mfa/email/send":
		if state != "st-mfa" {
			writeErr(w, 400, "ATL.AUTH.0010", "The state token is unknown, used or expired; log in again.")
			return
		}
		writeJSON(w, 200, core.MFASent{Channel: "email", To: "b***@example.com", ExpiresIn: 300, ResendAfter: 60})
	case "/api/v2/sdk/mfa/email/verify":
		if state != "st-mfa" || body["code"] != "123456" {
			writeErr(w, 400, "ATL.AUTH.0011", "The code is wrong; 4 attempts remain.")
			return
		}
		writeJSON(w, 200, map[string]any{"status": "PASSWORD_EXPIRED", "state_token": "st-pwd", "data": map[string]any{}})
	case "/api/v2/sdk/pwd/update":
		if state != "st-pwd" || body["old_password"] != "pw" || body["new_password"] != "new" {
			writeErr(w, 400, "ATL.AUTH.0005", "The old password is wrong.")
			return
		}
		writeJSON(w, 200, map[string]any{"status": "SUCCESS", "session_token": "sess-1", "id_token": "idt", "expire": 60, "data": map[string]any{"tenant_id": "t", "user_id": "u"}})
	case "/api/v2/sdk/session-token/refresh":
		f.mu.Lock()
		tok := r.Header.Get("X-session-token")
		reused := f.used[tok]
		f.used[tok] = true
		f.mu.Unlock()
		if tok != "sess-1" || reused || r.Header.Get("Authorization") != "" {
			writeErr(w, 401, "ATL.AUTH.0002", "The session token is unknown, revoked or expired; log in again.")
			return
		}
		writeJSON(w, 200, map[string]any{"status": "SUCCESS", "session_token": "sess-2", "expire": 60, "data": map[string]any{"tenant_id": "t", "user_id": "u"}})
	default:
		writeErr(w, 404, "ATL.HTTP.0001", "no route")
	}
}

func TestLoginMFAThenExpiredPassword(t *testing.T) {
	f, c := newLoginFake(t)
	ctx := context.Background()
	res, err := c.Login(ctx, LoginRequest{Email: "bob@example.com", Password: "pw", TenantID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != core.LoginMFA || res.StateToken != "st-mfa" || strings.Join(res.Methods, ",") != "email,totp" || c.Token() != "" {
		t.Fatalf("login = %+v, token %q", res, c.Token())
	}
	if h := f.headers["/api/v2/sdk/login/email"]; h.Get("X-tenant-id") != "t1" || h.Get("X-client-id") != core.CLIClientID {
		t.Errorf("login headers %v", h)
	}
	sent, err := c.SendMFACode(ctx, res.StateToken, "email")
	if err != nil || sent.To != "b***@example.com" || sent.ResendAfter != 60 {
		t.Fatalf("SendMFACode = %+v, %v", sent, err)
	}
	if h := f.headers["/api/v2/sdk/mfa/email/send"]; h.Get("X-device-fingerprint") == "" || h.Get("X-agent") == "" || h.Get("X-operating-sys-version") == "" {
		t.Errorf("send headers %v", h)
	}

	_, err = c.VerifyMFA(ctx, res.StateToken, "email", "000000")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Err.Code != core.CodeBadOTP.ID || !strings.Contains(ae.Error(), "4 attempts remain") {
		t.Fatalf("wrong code: %v", err)
	}
	res, err = c.VerifyMFA(ctx, res.StateToken, "email", "123456")
	if err != nil || res.Status != core.LoginPasswordExpired || res.StateToken != "st-pwd" || c.Token() != "" {
		t.Fatalf("VerifyMFA = %+v, %v", res, err)
	}
	res, err = c.UpdateExpiredPassword(ctx, res.StateToken, "pw", "new")
	if err != nil || !res.Complete() || res.SessionToken != "sess-1" || res.IDToken != "idt" || res.UserID != "u" || res.TenantID != "t" {
		t.Fatalf("UpdateExpiredPassword = %+v, %v", res, err)
	}
	if c.Token() != "sess-1" {
		t.Errorf("token %q after the password change", c.Token())
	}

	res, err = c.RefreshSession(ctx)
	if err != nil || res.SessionToken != "sess-2" || c.Token() != "sess-2" {
		t.Fatalf("RefreshSession = %+v, %v (token %q)", res, err, c.Token())
	}
	// The old token is gone: refreshing it again fails, and the client keeps
	// the token it has.
	c.SetToken("sess-1")
	if _, err := c.RefreshSession(ctx); !core.IsKind(err, core.Unauthenticated) {
		t.Errorf("refresh of a revoked token: %v", err)
	}
}

func TestLoginStatusesAndErrors(t *testing.T) {
	_, c := newLoginFake(t)
	ctx := context.Background()

	res, err := c.Login(ctx, LoginRequest{Email: "a@b.c", Password: "old"})
	if err != nil || res.Status != core.LoginPasswordWarn || res.DaysLeft != 3 || c.Token() != "sess-warn" {
		t.Fatalf("PASSWORD_WARN: %+v, %v", res, err)
	}
	res, err = c.Login(ctx, LoginRequest{UserName: "bob", Password: "pw"})
	if err != nil || res.Status != core.LoginAccessDenied || res.Complete() {
		t.Fatalf("ACCESS_DENIED by user name: %+v, %v", res, err)
	}
	tests := []struct {
		password string
		code     core.Code
		status   int
		msg      string
	}{
		{"wrong", core.CodeBadCredentials, 400, "4 attempts remain"},
		{"locked", core.CodeAccountLocked, 403, "locked for 15 more minutes"},
	}
	for _, tt := range tests {
		_, err := c.Login(ctx, LoginRequest{Email: "a@b.c", Password: tt.password})
		var ae *APIError
		if !errors.As(err, &ae) || ae.Err.Code != tt.code.ID || ae.Status != tt.status || !strings.Contains(ae.Err.Message, tt.msg) {
			t.Errorf("password %q: %v", tt.password, err)
		}
	}
	if _, err := c.Login(ctx, LoginRequest{Password: "pw"}); !core.IsKind(err, core.Invalid) {
		t.Errorf("no account: %v", err)
	}

	// LoginEmail keeps failing on the steps it cannot finish.
	full, err := c.LoginEmail(ctx, "a@b.c", "pw", "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Err.Code != CodeLoginIncomplete.ID || full == nil || full.Status != core.LoginMFA {
		t.Errorf("LoginEmail on MFA_AUTH: %+v, %v", full, err)
	}

	c.SetToken("")
	if _, err := c.RefreshSession(ctx); !errors.As(err, &ae) || ae.Err.Code != CodeNoCredentials.ID {
		t.Errorf("refresh without a token: %v", err)
	}
}
