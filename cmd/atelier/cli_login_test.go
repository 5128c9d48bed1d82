package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier/sender/filesender"
)

// loginEnv is a running server with an admin token, for `atelier login`
// tests against the real thing.
type loginEnv struct {
	t     *testing.T
	ts    *testServer
	dir   string
	admin string
	home  string
}

func newLoginEnv(t *testing.T) *loginEnv {
	home := mustIsolate(t)
	dir := t.TempDir()
	ts := MustStartServer(t, dir)
	return &loginEnv{t: t, ts: ts, dir: dir, admin: MustLogin(t, ts), home: home}
}

// api calls the server as the admin and decodes the answer into out.
func (e *loginEnv) api(method, path string, body any, want int, out any) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	resp := call(e.t, http.DefaultClient, method, e.ts.URL+path, e.admin, strings.NewReader(string(b)),
		map[string]string{"Content-Type": "application/json"}, out)
	mustStatus(e.t, resp, want)
}

// newUser creates a user in tenant ("" = the admin's) and returns its id
// and email.
func (e *loginEnv) newUser(tenant, name, password string) (string, string) {
	e.t.Helper()
	email := name + "@example.com"
	var u struct {
		ID string `json:"id"`
	}
	e.api("POST", "/v1/users", map[string]any{"tenant_id": tenant, "email": email, "password": password}, 201, &u)
	return u.ID, email
}

// newTenant creates a tenant with MFA set to mfa and returns its id.
func (e *loginEnv) newTenant(name, mfa string) string {
	e.t.Helper()
	var tn struct {
		ID       string `json:"id"`
		Settings struct {
			MFA string `json:"mfa"`
		} `json:"settings"`
	}
	e.api("POST", "/v1/tenants", map[string]any{"name": name}, 201, &tn)
	e.api("PUT", "/v1/tenants/"+tn.ID+"/settings", map[string]any{"mfa": mfa}, 200, &tn)
	if tn.Settings.MFA != mfa {
		e.t.Fatalf("tenant settings: mfa %q", tn.Settings.MFA)
	}
	return tn.ID
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// codes returns the one-time codes the server sent to, oldest first.
func (e *loginEnv) codes(to string) []string {
	e.t.Helper()
	msgs, err := filesender.Read(context.Background(), filepath.Join(e.dir, "outbox"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.To == to {
			out = append(out, sixDigits.FindString(m.Body))
		}
	}
	return out
}

func (e *loginEnv) pendingPath() string {
	return filepath.Join(e.home, "config", "atelier", "login-pending")
}

func TestCLILoginMFAByEmail(t *testing.T) {
	e := newLoginEnv(t)
	const pw = "Bob-has-a-good-pass1"
	tenant := e.newTenant("mfa-corp", "required")
	_, email := e.newUser(tenant, "bob", pw)
	login := []string{"login", "--endpoint", e.ts.URL, "--email", email, "--tenant", tenant, "--password-stdin"}

	// A code given before one was sent cannot be right: refused, nothing sent.
	code, _, stderr := runCLI(t, pw+"\n", append(login, "--mfa-code", "123456")...)
	if code != exitUsage || !strings.Contains(stderr, "no email code has been sent") || len(e.codes(email)) != 0 {
		t.Fatalf("--mfa-code before a send: exit %d, %q, %d codes", code, stderr, len(e.codes(email)))
	}
	// Not a terminal and no code: the code is sent, the login waits.
	code, stdout, stderr := runCLI(t, pw+"\n", login...)
	if code != exitUsage || !strings.Contains(stderr, "Code sent to b***@example.com") || !strings.Contains(stderr, "--mfa-code") {
		t.Fatalf("first step: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(e.pendingPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pending login file: %v, %v", fi, err)
	}
	sent := e.codes(email)
	if len(sent) != 1 || sent[0] == "" {
		t.Fatalf("outbox codes %q", sent)
	}
	wrong := fmt.Sprintf("%06d", (atoi(t, sent[0])+1)%1000000)

	// A wrong code: refused with the attempts left, and the login still waits.
	code, _, stderr = runCLI(t, "", "login", "--mfa-code", wrong)
	if code != exitRefused || !strings.Contains(stderr, "attempts remain") || !strings.Contains(stderr, "ATL.AUTH.0011") {
		t.Fatalf("wrong code: exit %d, %q", code, stderr)
	}
	// The right one finishes it, on the server the pending login names.
	code, stdout, stderr = runCLI(t, "", "login", "--mfa-code", sent[0], "-o", "json")
	if code != exitOK {
		t.Fatalf("right code: exit %d, %q", code, stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("-o json: %v: %q", err, stdout)
	}
	if out["email"] != email || out["tenant_id"] != tenant || out["status"] != "SUCCESS" || out["endpoint"] != e.ts.URL {
		t.Errorf("-o json = %v", out)
	}
	if strings.Contains(stdout, "token") {
		t.Errorf("-o json shows a token: %q", stdout)
	}
	if _, err := os.Stat(e.pendingPath()); !os.IsNotExist(err) {
		t.Errorf("pending login left behind: %v", err)
	}
	// The saved credentials work.
	code, stdout, stderr = runCLI(t, "", "apikey", "list", "-o", "json")
	if code != exitOK || !strings.Contains(stdout, "api_keys") {
		t.Errorf("apikey list after login: exit %d, %q %q", code, stdout, stderr)
	}
	// The code is single use: nothing is pending any more, and a new login
	// with a stale code is refused without sending anything.
	code, _, stderr = runCLI(t, pw+"\n", append(login, "--mfa-code", sent[0])...)
	if code != exitUsage || len(e.codes(email)) != 1 {
		t.Errorf("stale code: exit %d, %q", code, stderr)
	}
	// An explicit channel the account lacks is a usage error naming the ones it has.
	code, _, stderr = runCLI(t, pw+"\n", append(login, "--mfa-channel", "sms")...)
	if code != exitUsage || !strings.Contains(stderr, "choose one of: email") {
		t.Errorf("--mfa-channel sms: exit %d, %q", code, stderr)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("code %q: %v", s, err)
	}
	return n
}

func TestCLILoginExpiredPassword(t *testing.T) {
	e := newLoginEnv(t)
	id, email := e.newUser("", "carol", "Carol-first-pass1")
	const temporary, fresh = "Temporary-pass-22", "Carol-second-pass3"
	e.api("POST", "/v1/users/"+id+"/password/reset", map[string]string{"password": temporary}, 204, nil)
	login := []string{"login", "--endpoint", e.ts.URL, "--email", email, "--password-stdin"}

	code, _, stderr := runCLI(t, temporary+"\n", login...)
	if code != exitUsage || !strings.Contains(stderr, "--new-password-stdin") {
		t.Fatalf("expired without a new password: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, temporary+"\nshort\n", append(login, "--new-password-stdin")...)
	if code != exitRefused || !strings.Contains(stderr, "ATL.AUTH.0015") {
		t.Fatalf("weak new password: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, temporary+"\n", append(login, "--new-password-stdin")...)
	if code != exitUsage || !strings.Contains(stderr, "second line") {
		t.Fatalf("no second line: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, temporary+"\r\n"+fresh+"\r\n", append(login, "--new-password-stdin")...)
	if code != exitOK || !strings.Contains(stderr, "Password changed") || !strings.Contains(stdout, "Logged in") {
		t.Fatalf("password change: exit %d, %q %q", code, stdout, stderr)
	}
	// The new password is the one now; the temporary one is gone.
	if code, _, stderr = runCLI(t, fresh+"\n", login...); code != exitOK {
		t.Errorf("login with the new password: exit %d, %q", code, stderr)
	}
	if code, _, stderr = runCLI(t, temporary+"\n", login...); code != exitRefused || !strings.Contains(stderr, "ATL.AUTH.0005") {
		t.Errorf("login with the temporary password: exit %d, %q", code, stderr)
	}
}

func TestCLILoginLockoutAndDenied(t *testing.T) {
	e := newLoginEnv(t)
	const pw = "Dave-good-pass-44"
	id, email := e.newUser("", "dave", pw)
	login := []string{"login", "--endpoint", e.ts.URL, "--email", email, "--password-stdin"}
	for i := 4; i >= 1; i-- {
		code, _, stderr := runCLI(t, "wrong\n", login...)
		if code != exitRefused || !strings.Contains(stderr, fmt.Sprintf("%d attempts remain", i)) {
			t.Fatalf("wrong password, %d left: exit %d, %q", i, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, "wrong\n", login...)
	if code != exitRefused || !strings.Contains(stderr, "ATL.AUTH.0008") || !strings.Contains(stderr, "locked") {
		t.Fatalf("fifth wrong password: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, pw+"\n", login...)
	if code != exitRefused || !strings.Contains(stderr, "ATL.AUTH.0008") {
		t.Fatalf("right password while locked: exit %d, %q", code, stderr)
	}

	e.api("POST", "/v1/users/"+id+"/unlock", nil, 204, nil)
	e.api("PATCH", "/v1/users/"+id, map[string]string{"status": "disabled"}, 200, nil)
	code, _, stderr = runCLI(t, pw+"\n", login...)
	if code != exitRefused || !strings.Contains(stderr, "ACCESS_DENIED") {
		t.Fatalf("disabled user: exit %d, %q", code, stderr)
	}
}

func TestCLILoginUsage(t *testing.T) {
	mustIsolate(t)
	for _, args := range [][]string{
		{"login", "--email", "a@b.c", "--new-password-stdin"},
		{"login", "--email", "a@b.c", "--password-stdin", "--mfa-channel", "pigeon"},
		{"login", "--access-key", "AK", "--secret-key", "SK", "--mfa-code", "123456"},
	} {
		if code, _, stderr := runCLI(t, "pw\n", args...); code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}
