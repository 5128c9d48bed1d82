package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode"
)

// v2Headers are the seed headers of an /api/v2/sdk call.
var v2Headers = map[string]string{"X-client-id": "atelier-cli", "X-operating-sys-version": "linux", "X-device-fingerprint": "fp-e2e", "X-agent": "identity_e2e_test"}

// v2Call posts body to an /api/v2 path with the seed headers plus extra,
// and returns the status and the decoded answer.
func v2Call(t *testing.T, ts *testServer, path, body string, extra map[string]string) (int, map[string]any) {
	t.Helper()
	h := map[string]string{}
	for k, v := range v2Headers {
		h[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	resp := call(t, http.DefaultClient, "POST", ts.URL+path, "", strings.NewReader(body), h, nil)
	data, _ := io.ReadAll(resp.Body)
	var ans map[string]any
	if err := json.Unmarshal(data, &ans); err != nil {
		t.Fatalf("POST %s: %d %q is not JSON", path, resp.StatusCode, data)
	}
	return resp.StatusCode, ans
}

// TestLoginAttacks sends hostile input to the login routes of a real
// server: every answer is a 4xx with an error code (never a 5xx, never a
// session), the server keeps working, and nothing secret reaches its log.
func TestLoginAttacks(t *testing.T) {
	// A high per-address limit for the volley of hostile requests; the
	// per-account limit stays at its default for the brute force below.
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.Identity.LoginRatePerIP = 1000 })
	injections := []string{
		`' OR '1'='1`, `admin@atelier.local' --`, `"; DROP TABLE users; --`, `admin@atelier.local\u0000`,
		`{"$ne": null}`, `<script>alert(1)</script>`, strings.Repeat("a", 5000) + "@x.y", "%00%27", "😀@例子.测试",
	}
	for _, s := range injections {
		q, _ := json.Marshal(s)
		for _, tc := range []struct{ path, body string }{
			{"/api/v2/sdk/login/email", fmt.Sprintf(`{"email":%s,"password":%s}`, q, q)},
			{"/api/v2/sdk/login", fmt.Sprintf(`{"user_name":%s,"password":%s}`, q, q)},
		} {
			status, ans := v2Call(t, ts, tc.path, tc.body, map[string]string{"X-device-ip": "10.0.0.1"})
			if status < 400 || status >= 500 || ans["error_code"] == nil || ans["session_token"] != nil {
				t.Fatalf("%s %s: %d %v", tc.path, tc.body[:min(len(tc.body), 80)], status, ans)
			}
		}
		// Hostile header values.
		status, ans := v2Call(t, ts, "/api/v2/sdk/login/email", `{"email":"a@b.c","password":"x"}`, map[string]string{"X-client-id": s, "X-tenant-id": s})
		want := "ATL.AUTH.0007" // no such app
		if len(s) > 128 {
			want = "ATL.GEN.0005" // longer than any client id: refused before
		}
		if status != 400 || ans["error_code"] != want {
			t.Fatalf("client id %q: %d %v", s, status, ans)
		}
	}
	for _, tc := range []struct {
		name, body string
		extra      map[string]string
		status     int
		code       string
	}{
		{"malformed JSON", `{"email":`, nil, 400, "ATL.GEN.0002"},
		{"wrong type", `{"email":{"$ne":""},"password":"x"}`, nil, 400, "ATL.GEN.0002"},
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`, nil, 400, "ATL.GEN.0002"},
		{"two values", `{"email":"a@b.c","password":"x"}{}`, nil, 400, "ATL.GEN.0002"},
		{"oversized", `{"email":"a@b.c","password":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "ATL.GEN.0003"},
		{"no client id", `{"email":"a@b.c","password":"x"}`, map[string]string{"X-client-id": ""}, 400, "ATL.AUTH.0006"},
		{"no fingerprint", `{"email":"a@b.c","password":"x"}`, map[string]string{"X-device-fingerprint": ""}, 400, "ATL.AUTH.0006"},
		{"unknown client", `{"email":"a@b.c","password":"x"}`, map[string]string{"X-client-id": "nope"}, 400, "ATL.AUTH.0007"},
	} {
		status, ans := v2Call(t, ts, "/api/v2/sdk/login/email", tc.body, tc.extra)
		if status != tc.status || ans["error_code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, ans, tc.status, tc.code)
		}
		if _, ok := ans["request_id"]; ok {
			t.Errorf("%s: /api/v2 errors keep OneAccess's shape, without request_id: %v", tc.name, ans)
		}
	}

	// X-L: zh answers in Chinese on /api/v2.
	_, ans := v2Call(t, ts, "/api/v2/sdk/login/email", `{"email":"nobody@example.com","password":"x"}`, map[string]string{"X-L": "zh"})
	if msg, _ := ans["error_msg"].(string); !strings.ContainsFunc(msg, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		t.Errorf("X-L zh answered %q", msg)
	}

	// Replayed state tokens and made-up ones are refused.
	status, ans := v2Call(t, ts, "/api/v2/sdk/mfa/email/verify", `{"code":"123456"}`, map[string]string{"X-state-token": strings.Repeat("ab", 32)})
	if status != 400 || ans["error_code"] != "ATL.AUTH.0010" {
		t.Errorf("made-up state token: %d %v", status, ans)
	}

	// A hostile password for a real account is just a wrong password.
	status, ans = v2Call(t, ts, "/api/v2/sdk/login/email", fmt.Sprintf(`{"email":%q,"password":"' OR '1'='1"}`, testAdminEmail), nil)
	if status != 400 || ans["error_code"] != "ATL.AUTH.0005" {
		t.Errorf("injection as password: %d %v", status, ans)
	}

	// The server still works, and a right login succeeds.
	tok := MustLogin(t, ts)
	resp := call(t, http.DefaultClient, "GET", ts.URL+"/v1/auth/whoami", tok, nil, nil, nil)
	mustStatus(t, resp, 200)

	// Brute force from one address: locked after five, then rate limited.
	var sawLock, saw429 bool
	for i := range 40 {
		status, ans := v2Call(t, ts, "/api/v2/sdk/login", fmt.Sprintf(`{"user_name":"admin","password":"guess-%d"}`, i), nil)
		switch ans["error_code"] {
		case "ATL.AUTH.0008":
			sawLock = true
		case "ATL.AUTH.0018":
			saw429 = status == 429
		}
		if saw429 {
			break
		}
	}
	if !sawLock || !saw429 {
		t.Errorf("brute force: lock seen %v, 429 seen %v", sawLock, saw429)
	}
	resp = call(t, http.DefaultClient, "POST", ts.URL+"/api/v2/sdk/login", "", strings.NewReader(`{"user_name":"admin","password":"x"}`), v2Headers, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("rate-limited answer: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, secret := range []string{testAdminPassword, tok, "guess-3"} {
		if strings.Contains(ts.log.String(), secret) {
			t.Errorf("the server log contains a secret (%.12s…)", secret)
		}
	}
}
