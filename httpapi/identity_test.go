package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
)

// newLoginRequest returns a /api/v2 request with every required header.
func newLoginRequest(path, body string) *http.Request {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("X-client-id", atelier.CLIClientID)
	req.Header.Set("X-operating-sys-version", "linux")
	req.Header.Set("X-device-fingerprint", "fp")
	req.Header.Set("X-agent", "test")
	return req
}

func TestLoginHeaders(t *testing.T) {
	for _, missing := range []string{"X-client-id", "X-operating-sys-version", "X-device-fingerprint", "X-agent"} {
		t.Run(missing, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for _, path := range []string{"/api/v2/sdk/login/email", "/api/v2/sdk/login"} {
				req := newLoginRequest(path, `{"email":"a@b.c","password":"p"}`)
				req.Header.Del(missing)
				e := mustError(t, h.do(req), 400, "ATL.AUTH.0006")
				if e.Message != "missing header "+missing {
					t.Errorf("error_msg = %q", e.Message)
				}
			}
		})
	}
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	var got atelier.LoginRequest
	var gotClient atelier.Client
	h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
		got = req
		gotClient = *atelier.ClientFromContext(ctx)
		if req.Password != "right" {
			return nil, atelier.CodeBadCredentials.Errorf("Wrong email or password; 4 attempts remain.")
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: strings.Repeat("a", 64), Expire: 43200,
			Data: map[string]any{"tenant_id": "t1", "user_id": "u1"}}, nil
	}
	req := newLoginRequest("/api/v2/sdk/login/email", `{"email":"a@b.c","password":"right"}`)
	req.Header.Set("X-tenant-id", "t1")
	req.RemoteAddr = "192.0.2.7:5555"
	var ans map[string]any
	mustJSON(t, h.do(req), 200, &ans)
	for _, k := range []string{"status", "session_token", "id_token", "expire", "state_token", "data"} {
		if _, ok := ans[k]; !ok {
			t.Errorf("login answer lacks %q: %v", k, ans)
		}
	}
	if ans["status"] != "SUCCESS" || ans["expire"] != float64(43200) {
		t.Errorf("answer %v", ans)
	}
	want := atelier.LoginRequest{ClientID: atelier.CLIClientID, TenantID: "t1", Email: "a@b.c", Password: "right"}
	if got != want {
		t.Errorf("LoginRequest = %+v, want %+v", got, want)
	}
	if gotClient.DeviceFingerprint != "fp" || gotClient.IP != "192.0.2.7" {
		t.Errorf("client = %+v, want fingerprint fp and IP 192.0.2.7", gotClient)
	}

	req = newLoginRequest("/api/v2/sdk/login", `{"user_name":"admin","password":"right"}`)
	req.Header.Set("X-device-ip", "198.51.100.1")
	mustJSON(t, h.do(req), 200, nil)
	// X-device-ip is only a claim: the remote address stays the IP.
	if got.UserName != "admin" || gotClient.ClaimedIP != "198.51.100.1" || gotClient.IP != "192.0.2.1" {
		t.Errorf("LoginRequest = %+v, client %+v", got, gotClient)
	}

	mustError(t, h.do(newLoginRequest("/api/v2/sdk/login/email", `{"email":"a@b.c","password":"wrong"}`)), 400, "ATL.AUTH.0005")
	mustError(t, h.do(newLoginRequest("/api/v2/sdk/login/email", `{"user_name":"x","password":"p"}`)), 400, "ATL.GEN.0002")
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	var revoked string
	h.auth.LogoutFn = func(ctx context.Context, token string) error { revoked = token; return nil }
	req := httptest.NewRequest("GET", "/api/v2/sdk/logout", nil)
	mustError(t, h.do(req), 400, "ATL.AUTH.0006")
	req.Header.Set("X-session-token", "tok")
	w := h.do(req)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" || revoked != "tok" {
		t.Errorf("logout: %d %q revoked %q", w.Code, w.Body, revoked)
	}

	// DELETE /v1/auth/token revokes the bearer of the request.
	w = h.do(authed("DELETE", "/v1/auth/token", nil))
	if w.Code != 204 || revoked != testToken {
		t.Errorf("revoke: %d, revoked %q", w.Code, revoked)
	}
}

func TestExchangeKeyAndWhoami(t *testing.T) {
	h := newHarness(t)
	h.auth.ExchangeKeyFn = func(ctx context.Context, ak, sk string) (*atelier.IssuedToken, error) {
		return &atelier.IssuedToken{Token: "tok", ExpiresIn: 43200, ExpiresAt: testTime.In(time.FixedZone("X", 3600)), TenantID: "t1", UserID: "u1"}, nil
	}
	var tok map[string]any
	mustJSON(t, h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"access_key":"AK","secret_key":"s"}`))), 200, &tok)
	if tok["token"] != "tok" || tok["expires_at"] != "2025-03-01T12:00:00Z" || tok["expires_in"] != float64(43200) {
		t.Errorf("token answer %v", tok)
	}
	mustError(t, h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"access_key":"AK"}`))), 400, "ATL.GEN.0005")

	var who map[string]string
	mustJSON(t, h.do(authed("GET", "/v1/auth/whoami", nil)), 200, &who)
	if who["user_id"] != "u1" || who["tenant_id"] != "t1" || who["email"] != "a@example.com" || who["role"] != "admin" || who["client_id"] != "atelier-cli" {
		t.Errorf("whoami %v", who)
	}
}

func TestAPIKeys(t *testing.T) {
	h := newHarness(t)
	var desc string
	h.keys.CreateAPIKeyFn = func(ctx context.Context, d string) (*atelier.NewAPIKey, error) {
		desc = d
		return &atelier.NewAPIKey{APIKey: atelier.APIKey{AccessKey: "AK1", Description: d, TenantID: "t1", UserID: "u1", CreatedAt: testTime}, SecretKey: "sec"}, nil
	}
	h.keys.ListAPIKeysFn = func(ctx context.Context) ([]*atelier.APIKey, error) { return nil, nil }
	h.keys.DeleteAPIKeyFn = func(ctx context.Context, ak string) error {
		if ak != "AK1" {
			return atelier.CodeAPIKeyNotFound.Errorf("No API key %s.", ak)
		}
		return nil
	}
	var k map[string]any
	mustJSON(t, h.do(authed("POST", "/v1/apikeys", strings.NewReader(`{"description":"ci"}`))), 201, &k)
	if k["secret_key"] != "sec" || k["access_key"] != "AK1" || desc != "ci" || k["created_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("create: %v", k)
	}
	// The body is optional.
	mustJSON(t, h.do(authed("POST", "/v1/apikeys", nil)), 201, nil)
	if desc != "" {
		t.Errorf("description %q from an empty body", desc)
	}
	w := h.do(authed("GET", "/v1/apikeys", nil))
	if strings.TrimSpace(w.Body.String()) != `{"api_keys":[]}` {
		t.Errorf("list: %s", w.Body)
	}
	if w := h.do(authed("DELETE", "/v1/apikeys/AK1", nil)); w.Code != 204 {
		t.Errorf("delete: %d", w.Code)
	}
	mustError(t, h.do(authed("DELETE", "/v1/apikeys/AK2", nil)), 404, "ATL.KEY.0001")
}

func TestJSONBodies(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"malformed", `{"description":`, 400, "ATL.GEN.0002", "ends in the middle"},
		{"syntax", `{"description" "x"}`, 400, "ATL.GEN.0002", "not valid JSON"},
		{"unknown field", `{"descripton":"x"}`, 400, "ATL.GEN.0002", `"descripton"`},
		{"wrong type", `{"description":5}`, 400, "ATL.GEN.0002", `"description"`},
		{"not an object", `[1]`, 400, "ATL.GEN.0002", "JSON object"},
		{"two values", `{} {}`, 400, "ATL.GEN.0002", "more than one"},
		{"too large", `{"description":"` + strings.Repeat("x", 2000) + `"}`, 413, "ATL.GEN.0003", "1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.opts.MaxBodyBytes = 1024
			e := mustError(t, h.do(authed("POST", "/v1/apikeys", strings.NewReader(tt.body))), tt.status, tt.code)
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error_msg %q does not name %q", e.Message, tt.msg)
			}
		})
	}
}

// The seed marks Content-Type: application/json required on logins. A JSON
// body without the header is taken (curl --data-raw and many scripts leave it
// out); a header naming another media type is refused, naming the header.
func TestLoginContentType(t *testing.T) {
	h := newHarness(t)
	h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "s", Expire: 60}, nil
	}
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.atelier+json"} {
		t.Run("accepted "+ct, func(t *testing.T) {
			for _, path := range []string{"/api/v2/sdk/login/email", "/api/v2/sdk/login"} {
				req := newLoginRequest(path, loginBody(path))
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				var ans map[string]any
				mustJSON(t, h.do(req), 200, &ans)
			}
		})
	}
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "json"} {
		t.Run("refused "+ct, func(t *testing.T) {
			req := newLoginRequest("/api/v2/sdk/login/email", loginBody("/api/v2/sdk/login/email"))
			req.Header.Set("Content-Type", ct)
			e := mustError(t, h.do(req), 400, atelier.CodeInvalidJSON.ID)
			if !strings.Contains(e.Message, "Content-Type") || !strings.Contains(e.Message, "application/json") {
				t.Fatalf("error %+v: want a message naming Content-Type and application/json", e)
			}
		})
	}
}

func loginBody(path string) string {
	if strings.HasSuffix(path, "/email") {
		return `{"email":"a@b.c","password":"p"}`
	}
	return `{"user_name":"a","password":"p"}`
}

// TestOverlongHeadersRefused checks that every header the server stores or
// logs is capped: one byte over its limit is a 400 naming the header, before
// any service sees the request (a failed login used to store a 1 MiB
// X-device-fingerprint in the audit log), and a header at its limit passes.
func TestOverlongHeadersRefused(t *testing.T) {
	limits := map[string]int{
		"X-device-fingerprint":    256,
		"X-agent":                 256,
		"X-operating-sys-version": 256,
		"X-device-ip":             64,
		"X-L":                     16,
		"X-client-id":             128,
		"X-tenant-id":             256,
		"User-Agent":              1024,
		"Content-Type":            256,
	}
	for name, limit := range limits {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			calls := 0
			h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
				calls++
				return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "s", Data: map[string]any{}}, nil
			}
			for _, path := range []string{"/api/v2/sdk/login/email", "/v1/auth/whoami"} {
				req := newLoginRequest(path, `{"email":"a@b.c","password":"p"}`)
				req.Header.Set(name, strings.Repeat("a", limit+1))
				e := mustError(t, h.do(req), 400, atelier.CodeInvalidParam.ID)
				if !strings.Contains(e.Message, name) || !strings.Contains(e.Message, strconv.Itoa(limit)) {
					t.Errorf("%s: message %q names neither the header nor its limit", path, e.Message)
				}
			}
			if calls != 0 {
				t.Errorf("the service was called %d times", calls)
			}
			req := newLoginRequest("/api/v2/sdk/login/email", `{"email":"a@b.c","password":"p"}`)
			atLimit := strings.Repeat("a", limit)
			if name == "Content-Type" {
				// A JSON body's type must name JSON: pad it with a parameter.
				const ct = "application/json; x="
				atLimit = ct + strings.Repeat("a", limit-len(ct))
			}
			req.Header.Set(name, atLimit)
			mustJSON(t, h.do(req), 200, nil)
		})
	}
}
