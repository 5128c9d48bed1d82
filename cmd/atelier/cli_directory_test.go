package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

func TestOrgTree(t *testing.T) {
	org := func(id, parent, name string) *core.Organization {
		return &core.Organization{ID: id, ParentID: parent, Name: name}
	}
	tests := []struct {
		name string
		orgs []*core.Organization
		want string // name@depth, in order
	}{
		{"empty", nil, ""},
		{"roots by name", []*core.Organization{org("2", "", "b"), org("1", "", "a")}, "a@0 b@0"},
		{"nested", []*core.Organization{org("3", "2", "c"), org("1", "", "a"), org("2", "1", "b"), org("4", "1", "a2")}, "a@0 a2@1 b@1 c@2"},
		{"orphan is a root", []*core.Organization{org("3", "gone", "c"), org("1", "", "a")}, "a@0 c@0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, depth := orgTree(tt.orgs)
			var got []string
			for i, o := range tree {
				got = append(got, o.Name+"@"+string(rune('0'+depth[i])))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("orgTree = %q, want %q", s, tt.want)
			}
		})
	}
}

func TestDirectoryUsageErrors(t *testing.T) {
	mustIsolate(t)
	for _, args := range [][]string{
		{"tenant"},
		{"tenant", "create"},
		{"tenant", "set"}, // no setting given
		{"user", "create"},
		{"user", "create", "--email", "a@b.c"}, // stdin is not a terminal
		{"user", "update", "u1"},
		{"user", "rm"},
		{"user", "reset-password", "u1"},
		{"org", "mv", "o1"},
		{"org", "rename", "o1"},
		{"app", "create"},
		{"app", "update", "app-1"},
		{"app", "grant", "app-1"},
		{"audit", "ls", "--since", "yesterday"},
		{"audit", "ls", "--limit", "5000"},
		{"audit", "ls", "extra"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}

// TestDirectoryCLIE2E drives tenant, user, org, app and audit commands
// against a real server.
func TestDirectoryCLIE2E(t *testing.T) {
	mustIsolate(t)
	ts := MustStartServer(t, t.TempDir())
	cli := e2eCLI{t: t}
	cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", ts.URL, "--email", testAdminEmail, "--password-stdin")

	// Tenants.
	var tn core.Tenant
	cli.json(&tn, "tenant", "create", "acme", "--mfa", "optional", "-o", "json")
	if tn.Name != "acme" || tn.Settings.MFA != "optional" || tn.ID == "" {
		t.Fatalf("tenant create = %+v", tn)
	}
	cli.refused("ATL.IAM.0004", "tenant", "create", "acme")
	cli.refused("ATL.GEN.0005", "tenant", "create", "bad", "--mfa", "sometimes")
	cli.json(&tn, "tenant", "set", tn.ID, "--min-length", "10", "--expiry-days", "90", "-o", "json")
	if tn.Settings.MFA != "optional" || tn.Settings.PasswordPolicy.MinLength != 10 || tn.Settings.PasswordPolicy.ExpiryDays != 90 {
		t.Errorf("tenant set kept nothing else: %+v", tn.Settings)
	}
	var tenants struct{ Tenants []core.Tenant }
	cli.json(&tenants, "tenant", "ls", "-o", "json")
	if len(tenants.Tenants) != 2 {
		t.Errorf("tenant ls = %+v", tenants)
	}
	if out, _ := cli.run(exitOK, "", "tenant", "show"); !strings.Contains(out, "default") {
		t.Errorf("tenant show (own) = %q", out)
	}

	// Users.
	var boss core.User
	cli.run(exitRefused, "short\n", "user", "create", "--tenant", tn.ID, "--email", "boss@acme.example", "--password-stdin")
	out, _ := cli.run(exitOK, "boss-password-1\n", "user", "create", "--tenant", tn.ID, "--email", "Boss@Acme.example",
		"--role", "admin", "--display-name", "The Boss", "--password-stdin", "-o", "json")
	mustUnmarshal(t, out, &boss)
	if boss.Email != "boss@acme.example" || boss.Role != "admin" || boss.TenantID != tn.ID || boss.DisplayName != "The Boss" {
		t.Fatalf("user create = %+v", boss)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "boss-password-1") {
		t.Errorf("user create printed a secret: %s", out)
	}
	var worker core.User
	out, _ = cli.run(exitOK, "worker-password-1\n", "user", "create", "--tenant", tn.ID, "--email", "worker@acme.example", "--password-stdin", "-o", "json")
	mustUnmarshal(t, out, &worker)
	var users struct{ Users []core.User }
	cli.json(&users, "user", "ls", "--tenant", tn.ID, "-o", "json")
	if len(users.Users) != 2 {
		t.Errorf("user ls = %+v", users)
	}
	if out, _ := cli.run(exitOK, "", "user", "ls", "--tenant", tn.ID); !strings.Contains(out, "worker@acme.example") || !strings.Contains(out, "EMAIL") {
		t.Errorf("user ls table = %q", out)
	}
	var me core.User
	cli.json(&me, "user", "show", "-o", "json")
	if me.Email != testAdminEmail {
		t.Errorf("user show = %+v", me)
	}
	cli.refused("ATL.IAM.0011", "user", "update", boss.ID, "--status", "disabled")
	cli.refused("ATL.GEN.0005", "user", "update", worker.ID, "--mobile", "12ab")
	var upd core.User
	cli.json(&upd, "user", "update", worker.ID, "--display-name", "W", "--mfa", "-o", "json")
	if upd.DisplayName != "W" || !upd.MFA {
		t.Errorf("user update = %+v", upd)
	}
	cli.run(exitOK, "worker-password-2\n", "user", "reset-password", worker.ID, "--password-stdin")
	cli.json(&upd, "user", "show", worker.ID, "-o", "json")
	if !upd.MustChangePassword {
		t.Errorf("after reset-password: %+v", upd)
	}
	cli.run(exitOK, "", "user", "unlock", worker.ID)

	// Organizations: the tree, cycles, emptiness.
	var eng, backend core.Organization
	cli.json(&eng, "org", "create", "eng", "--tenant", tn.ID, "-o", "json")
	cli.json(&backend, "org", "create", "backend", "--parent", eng.ID, "-o", "json", "--tenant", tn.ID)
	out, _ = cli.run(exitOK, "", "org", "ls", "--tenant", tn.ID)
	if !strings.Contains(out, "\neng ") || !strings.Contains(out, "\n  backend ") {
		t.Errorf("org ls tree = %q", out)
	}
	cli.refused("ATL.IAM.0009", "org", "mv", eng.ID, backend.ID)
	cli.refused("ATL.IAM.0008", "org", "rm", eng.ID)
	cli.refused("ATL.IAM.0007", "org", "create", "backend", "--parent", eng.ID, "--tenant", tn.ID)
	var moved core.Organization
	cli.json(&moved, "org", "mv", backend.ID, "/", "-o", "json")
	if moved.ParentID != "" {
		t.Errorf("org mv to / = %+v", moved)
	}
	cli.json(&moved, "org", "rename", backend.ID, "platform", "-o", "json")
	if moved.Name != "platform" {
		t.Errorf("org rename = %+v", moved)
	}
	cli.run(exitOK, "", "org", "rm", eng.ID)
	cli.refused("ATL.IAM.0006", "org", "show", eng.ID)

	// Apps.
	var app core.NewApp
	out, errOut := cli.run(exitOK, "", "app", "create", "portal", "--redirect-uri", "https://portal.example/cb", "--access", "granted")
	if !strings.Contains(out, "Client secret:") || !strings.Contains(errOut, "shown only now") {
		t.Errorf("app create table = %q / %q", out, errOut)
	}
	cli.json(&app, "app", "create", "portal2", "--redirect-uri", "http://127.0.0.1:9/cb", "-o", "json")
	if !strings.HasPrefix(app.ClientID, "app-") || len(app.ClientSecret) != 64 || app.RedirectURIs[0] != "http://127.0.0.1:9/cb" {
		t.Fatalf("app create = %+v", app)
	}
	cli.refused("ATL.GEN.0005", "app", "create", "bad", "--redirect-uri", "http://evil.example/cb")
	cli.refused("ATL.IAM.0012", "app", "rm", core.CLIClientID)
	var apps struct{ Apps []core.App }
	cli.json(&apps, "app", "ls", "-o", "json")
	if len(apps.Apps) != 3 {
		t.Errorf("app ls = %+v", apps)
	}
	var shown core.App
	cli.json(&shown, "app", "update", app.ClientID, "--access", "granted", "--id-token-ttl", "600", "-o", "json")
	if shown.Access != "granted" || shown.IDTokenTTL != 600 {
		t.Errorf("app update = %+v", shown)
	}
	cli.run(exitOK, "", "app", "grant", app.ClientID, me.ID)
	var grants struct {
		UserIDs []string `json:"user_ids"`
	}
	cli.json(&grants, "app", "users", app.ClientID, "-o", "json")
	if len(grants.UserIDs) != 1 || grants.UserIDs[0] != me.ID {
		t.Errorf("app users = %+v", grants)
	}
	cli.run(exitOK, "", "app", "revoke", app.ClientID, me.ID)
	cli.refused("ATL.IAM.0013", "app", "revoke", app.ClientID, me.ID)
	// Rotation: with captcha verification on, no step-up is needed.
	cli.run(exitOK, "", "tenant", "set", "--captcha")
	var rot core.NewApp
	cli.json(&rot, "app", "rotate-secret", app.ClientID, "-o", "json")
	if len(rot.ClientSecret) != 64 || rot.ClientSecret == app.ClientSecret {
		t.Errorf("rotate-secret = %+v", rot)
	}
	cli.run(exitOK, "", "app", "rm", app.ClientID)
	cli.refused("ATL.IAM.0010", "app", "show", app.ClientID)
	cli.run(exitOK, "", "user", "rm", worker.ID)

	// The audit log saw it all.
	var page core.AuditPage
	cli.json(&page, "audit", "ls", "--action", "user.", "--limit", "2", "--all", "-o", "json")
	actions := map[string]bool{}
	for _, e := range page.Events {
		actions[e.Action] = true
	}
	for _, a := range []string{"user.create", "user.update", "user.password_reset", "user.unlock", "user.delete"} {
		if !actions[a] {
			t.Errorf("audit ls lacks %s: %v", a, actions)
		}
	}
	if page.NextCursor != "" {
		t.Errorf("--all left a cursor %q", page.NextCursor)
	}
	out, errOut = cli.run(exitOK, "", "audit", "ls", "--limit", "1", "--outcome", "failure")
	if !strings.Contains(out, "ACTION") || !strings.Contains(out, "failure") || !strings.Contains(errOut, "--cursor") {
		t.Errorf("audit ls table = %q / %q", out, errOut)
	}
}

func mustUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON (%v): %q", err, s)
	}
}

// TestAppRotateSecretVerification follows the step-up flow against a fake
// API: refused with ATL.VFY.0001, a verification is started and confirmed
// with the code read from standard input, and the retry carries the token.
func TestAppRotateSecretVerification(t *testing.T) {
	mustIsolate(t)
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls = append(calls, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(body))+" "+r.Header.Get("X-Verification-Token"))
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/apps/app-1/secret":
			if r.Header.Get("X-Verification-Token") != "vtok" {
				w.WriteHeader(403)
				io.WriteString(w, `{"error_code":"ATL.VFY.0001","error_msg":"verify first"}`)
				return
			}
			io.WriteString(w, `{"client_id":"app-1","client_secret":"fresh"}`)
		case "POST /v1/verifications":
			w.WriteHeader(201)
			io.WriteString(w, `{"verification_id":"v1","operation":"app.rotate_secret","channel":"sms","to":"138****0000"}`)
		case "POST /v1/verifications/v1/confirm":
			io.WriteString(w, `{"verification_token":"vtok","expires_in":300}`)
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	t.Setenv(sdk.EnvEndpoint, srv.URL)
	t.Setenv(sdk.EnvToken, "tok")
	code, out, errOut := runCLI(t, "654321\n", "app", "rotate-secret", "app-1", "--channel", "sms", "-o", "json")
	if code != exitOK || !strings.Contains(out, `"client_secret": "fresh"`) || !strings.Contains(errOut, "138****0000") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := []string{
		"POST /v1/apps/app-1/secret  ",
		`POST /v1/verifications {"channel":"sms","operation":"app.rotate_secret","params":{"client_id":"app-1"}} `,
		`POST /v1/verifications/v1/confirm {"code":"654321"} `,
		"POST /v1/apps/app-1/secret  vtok",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	// Without a code the command is a usage error once the code was sent.
	calls = nil
	if code, _, _ := runCLI(t, "", "app", "rotate-secret", "app-1"); code != exitUsage {
		t.Errorf("no code: exit %d, want %d", code, exitUsage)
	}
}
