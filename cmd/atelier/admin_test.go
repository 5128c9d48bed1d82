package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAdminResetPassword resets the admin's password offline, checks that
// the new one logs in and the old one does not, and that the command
// refuses while a server holds the data directory.
func TestAdminResetPassword(t *testing.T) {
	mustIsolate(t)
	dir := t.TempDir()
	ts := MustStartServer(t, dir)
	client := &http.Client{}
	old := mustLoginToken(t, client, ts.URL, testAdminEmail, testAdminPassword)

	const newPassword = "a new password 42"
	code, _, stderr := runCLI(t, newPassword+"\n", "admin", "reset-password", "--data-dir", dir, "--email", testAdminEmail, "--password-stdin")
	if code != exitRefused || !strings.Contains(stderr, "in use by another atelier server") {
		t.Fatalf("reset while the server runs: exit %d, stderr %q; want a refusal naming the lock", code, stderr)
	}
	ts.cancel()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, newPassword+"\n", "admin", "reset-password", "--data-dir", dir, "--email", testAdminEmail, "--password-stdin")
	if code != exitOK || !strings.Contains(stdout, "is reset") {
		t.Fatalf("reset: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "", "admin", "reset-password", "--data-dir", t.TempDir(), "--email", testAdminEmail, "--password-stdin")
	if code != exitRefused || !strings.Contains(stderr, "no database") {
		t.Fatalf("reset of an empty directory: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "x\n", "admin", "reset-password", "--data-dir", dir); code != exitUsage {
		t.Fatalf("reset without --email: exit %d, want %d", code, exitUsage)
	}

	ts = MustStartServer(t, dir)
	if status := loginStatus(t, client, ts.URL, testAdminEmail, testAdminPassword); status != http.StatusBadRequest {
		t.Errorf("the old password: HTTP %d, want 400", status)
	}
	mustLoginToken(t, client, ts.URL, testAdminEmail, newPassword)
	if resp := call(t, client, "GET", ts.URL+"/v1/auth/whoami", old, nil, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session of before the reset: HTTP %d, want 401", resp.StatusCode)
	}
	var audit struct {
		Events []struct {
			Action, Outcome, Reason string
		} `json:"events"`
	}
	admin := mustLoginToken(t, client, ts.URL, testAdminEmail, newPassword)
	call(t, client, "GET", ts.URL+"/v1/audit?action=user.password_reset", admin, nil, nil, &audit)
	if len(audit.Events) != 1 || audit.Events[0].Outcome != "success" || audit.Events[0].Reason != "offline" {
		t.Errorf("audit = %+v, want one offline password reset", audit.Events)
	}
}

// loginAt sends a login by email to the server at url and returns the
// answer's status and session token.
func loginAt(t *testing.T, client *http.Client, url, email, password string) (int, string) {
	t.Helper()
	var ans struct {
		SessionToken string `json:"session_token"`
	}
	resp := call(t, client, "POST", url+"/api/v2/sdk/login/email", "",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)),
		map[string]string{"X-client-id": "atelier-cli", "X-operating-sys-version": "linux", "X-device-fingerprint": "test", "X-agent": "admin_test"}, &ans)
	return resp.StatusCode, ans.SessionToken
}

func loginStatus(t *testing.T, client *http.Client, url, email, password string) int {
	t.Helper()
	status, _ := loginAt(t, client, url, email, password)
	return status
}

func mustLoginToken(t *testing.T, client *http.Client, url, email, password string) string {
	t.Helper()
	status, tok := loginAt(t, client, url, email, password)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("login %s: HTTP %d", email, status)
	}
	return tok
}
