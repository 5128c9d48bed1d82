package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// tokenServer is a fake API that logs in with the password "s3cret", issues
// token, and records the Authorization header of every request.
type tokenServer struct {
	*httptest.Server
	token string
	mu    sync.Mutex
	auth  []string
}

func newTokenServer(t *testing.T, token string) *tokenServer {
	t.Helper()
	s := &tokenServer{token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v2/sdk/login/email" {
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			if body["password"] != "s3cret" {
				w.WriteHeader(400)
				io.WriteString(w, `{"error_code":"ATL.AUTH.0005","error_msg":"Wrong email or password."}`)
				return
			}
			io.WriteString(w, `{"status":"SUCCESS","session_token":"`+token+`","expire":3600,"data":{"tenant_id":"t1","user_id":"u1"}}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			io.WriteString(w, `{"error_code":"ATL.AUTH.0001","error_msg":"Authentication is required.","request_id":"r"}`)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/auth/whoami":
			io.WriteString(w, `{"user_id":"u1","tenant_id":"t1","email":"a@b.c","role":"admin","client_id":"atelier-cli"}`)
		case "DELETE /v1/auth/token":
			w.WriteHeader(204)
		case "GET /v1/obs":
			io.WriteString(w, `{"buckets":[{"name":"`+token+`-bucket","created_at":"2025-01-01T00:00:00Z"}]}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error_code":"ATL.OBS.0003","error_msg":"not found","request_id":"r"}`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// tokensSeen returns the bearer tokens the server received, "" for none.
func (s *tokenServer) tokensSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.auth {
		out = append(out, strings.TrimPrefix(a, "Bearer "))
	}
	return out
}

// noToken fails the test when the server received any Authorization.
func (s *tokenServer) noToken(t *testing.T) {
	t.Helper()
	for _, tok := range s.tokensSeen() {
		if tok != "" {
			t.Errorf("the capture server received the token %q", tok)
		}
	}
}

// TestCLITokenNeverSentToAnotherServer is the finding: after a login to one
// server, --endpoint or ATELIER_ENDPOINT naming another made the CLI send the
// saved token to it (a capture server received it). Now nothing reaches the
// other server and the CLI says how to log in to it.
func TestCLITokenNeverSentToAnotherServer(t *testing.T) {
	mustIsolate(t)
	issuer := newTokenServer(t, "tok-issuer")
	capture := newTokenServer(t, "tok-capture")
	if code, _, stderr := runCLI(t, "s3cret\n", "login", "--endpoint", issuer.URL, "--email", "a@b.c", "--password-stdin"); code != exitOK {
		t.Fatalf("login: exit %d, %s", code, stderr)
	}
	code, _, stderr := runCLI(t, "", "obs", "ls", "--endpoint", capture.URL)
	if want := "not logged in to " + capture.URL + "; run atelier login --endpoint " + capture.URL; code != exitRefused || !strings.Contains(stderr, want) {
		t.Errorf("obs ls --endpoint capture: exit %d, stderr %q; want %d and %q", code, stderr, exitRefused, want)
	}
	t.Setenv(sdk.EnvEndpoint, capture.URL)
	code, _, stderr = runCLI(t, "", "obs", "ls")
	if want := "not logged in to " + capture.URL + "; run atelier login\n"; code != exitRefused || !strings.HasSuffix(stderr, want) {
		t.Errorf("ATELIER_ENDPOINT=capture obs ls: exit %d, stderr %q; want %d and %q", code, stderr, exitRefused, want)
	}
	code, _, stderr = runCLI(t, "", "obs", "ls", "--profile", "default")
	if code != exitUsage || !strings.Contains(stderr, "is for "+issuer.URL) {
		t.Errorf("obs ls --profile default with ATELIER_ENDPOINT=capture: exit %d, stderr %q", code, stderr)
	}
	// logout against the capture server does not send it the token either.
	if code, _, stderr = runCLI(t, "", "logout"); code != exitOK || !strings.Contains(stderr, "not logged in to "+capture.URL) {
		t.Errorf("logout with ATELIER_ENDPOINT=capture: exit %d, stderr %q", code, stderr)
	}
	capture.noToken(t)
	t.Setenv(sdk.EnvEndpoint, "")

	// The issuer still gets its token.
	code, stdout, stderr := runCLI(t, "", "obs", "ls")
	if code != exitOK || !strings.Contains(stdout, "tok-issuer-bucket") {
		t.Errorf("obs ls on the issuer: exit %d, %q %q", code, stdout, stderr)
	}
}

// TestCLIProfiles logs in to two servers and moves between them: each
// keeps its credentials, the current one is used without flags, --profile
// and ATELIER_PROFILE pick another, and logout leaves the profile with no
// token, so that the next command says to log in again.
func TestCLIProfiles(t *testing.T) {
	home := mustIsolate(t)
	credPath := filepath.Join(home, "config", "atelier", "credentials")
	a := newTokenServer(t, "tok-a")
	b := newTokenServer(t, "tok-b")
	login := func(args ...string) {
		t.Helper()
		args = append([]string{"login", "--email", "a@b.c", "--password-stdin"}, args...)
		if code, _, stderr := runCLI(t, "s3cret\n", args...); code != exitOK {
			t.Fatalf("atelier %s: exit %d, %s", strings.Join(args, " "), code, stderr)
		}
	}
	buckets := func(want string, args ...string) {
		t.Helper()
		args = append([]string{"obs", "ls"}, args...)
		code, stdout, stderr := runCLI(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, want+"-bucket") {
			t.Errorf("atelier %s: exit %d, stdout %q, stderr %q; want the buckets of %s", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	login("--endpoint", a.URL)
	login("--endpoint", b.URL)
	bName := strings.TrimPrefix(b.URL, "http://") // named after the server
	buckets("tok-b")                              // the last login is current
	login("--profile", "ops")                     // a new profile logs in to the current server
	buckets("tok-b", "--profile", "ops")
	if code, _, stderr := runCLI(t, "", "profile", "rm", "ops"); code != exitOK {
		t.Fatalf("profile rm ops: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "profile", "use", bName); code != exitOK {
		t.Fatalf("profile use %s: exit %d, %s", bName, code, stderr)
	}
	buckets("tok-a", "--endpoint", a.URL+"/")
	buckets("tok-a", "--profile", "default")
	t.Setenv(sdk.EnvProfile, "default")
	buckets("tok-a")
	t.Setenv(sdk.EnvProfile, "")

	var list struct {
		Current  string `json:"current"`
		Profiles []struct {
			Name, Endpoint, Email string
			LoggedIn              bool `json:"logged_in"`
		} `json:"profiles"`
	}
	code, stdout, _ := runCLI(t, "", "profile", "ls", "-o", "json")
	if code != exitOK || json.Unmarshal([]byte(stdout), &list) != nil || len(list.Profiles) != 2 {
		t.Fatalf("profile ls -o json: exit %d, %s", code, stdout)
	}
	if strings.Contains(stdout, "tok-") {
		t.Errorf("profile ls prints tokens: %s", stdout)
	}
	endpoints := map[string]string{}
	for _, p := range list.Profiles {
		endpoints[p.Name] = p.Endpoint
		if !p.LoggedIn {
			t.Errorf("profile %s is logged out", p.Name)
		}
	}
	if endpoints["default"] != a.URL || endpoints[bName] != b.URL || list.Current != bName {
		t.Fatalf("profile ls -o json: %s; want default for %s and current %s for %s", stdout, a.URL, bName, b.URL)
	}
	code, stdout, _ = runCLI(t, "", "profile", "list")
	if code != exitOK || !strings.Contains(stdout, "* "+bName) || !strings.Contains(stdout, a.URL) {
		t.Errorf("profile list: exit %d, %q", code, stdout)
	}

	if code, _, stderr := runCLI(t, "", "profile", "use", "default"); code != exitOK {
		t.Fatalf("profile use default: exit %d, %s", code, stderr)
	}
	buckets("tok-a")
	if code, _, stderr := runCLI(t, "", "profile", "use", "nope"); code != exitUsage || !strings.Contains(stderr, `no profile "nope"`) {
		t.Errorf("profile use nope: exit %d, %s", code, stderr)
	}

	// Logout revokes the current profile's token and keeps its endpoint.
	if code, _, stderr := runCLI(t, "", "logout"); code != exitOK {
		t.Fatalf("logout: exit %d, %s", code, stderr)
	}
	if strings.Contains(readFile(t, credPath), "tok-a") {
		t.Errorf("the token survived logout: %s", readFile(t, credPath))
	}
	code, _, stderr := runCLI(t, "", "obs", "ls")
	if want := "not logged in to " + a.URL + "; run atelier login\n"; code != exitRefused || !strings.HasSuffix(stderr, want) {
		t.Errorf("after logout: exit %d, stderr %q; want %q", code, stderr, want)
	}
	buckets("tok-b", "--profile", bName)
	login() // logs in to the current profile's server again
	buckets("tok-a")

	if code, _, stderr := runCLI(t, "", "profile", "delete", bName); code != exitOK {
		t.Fatalf("profile delete: exit %d, %s", code, stderr)
	}
	if strings.Contains(readFile(t, credPath), "tok-b") {
		t.Error("the removed profile's token is still in the file")
	}
	code, _, stderr = runCLI(t, "", "obs", "ls", "--endpoint", b.URL)
	if code != exitRefused || !strings.Contains(stderr, "not logged in to "+b.URL) {
		t.Errorf("after profile rm: exit %d, %s", code, stderr)
	}
	if fi, err := os.Stat(credPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, %v; want mode 0600", fi, err)
	}
}

// TestCLIMigratesOldCredentials: the file the CLI wrote before profiles (one
// login at the top level) still logs in, and the next write turns it into
// profiles.
func TestCLIMigratesOldCredentials(t *testing.T) {
	home := mustIsolate(t)
	a := newTokenServer(t, "tok-a")
	credPath := filepath.Join(home, "config", "atelier", "credentials")
	os.MkdirAll(filepath.Dir(credPath), 0o700)
	os.WriteFile(credPath, []byte(`{"endpoint":"`+a.URL+`","token":"tok-a","email":"a@b.c"}`), 0o600)
	code, stdout, stderr := runCLI(t, "", "obs", "ls")
	if code != exitOK || !strings.Contains(stdout, "tok-a-bucket") {
		t.Fatalf("obs ls with the old file: exit %d, %q %q", code, stdout, stderr)
	}
	b := newTokenServer(t, "tok-b")
	if code, _, stderr := runCLI(t, "s3cret\n", "login", "--endpoint", b.URL, "--email", "a@b.c", "--password-stdin"); code != exitOK {
		t.Fatalf("login: exit %d, %s", code, stderr)
	}
	var doc sdk.CredentialsFile
	if err := json.Unmarshal([]byte(readFile(t, credPath)), &doc); err != nil || doc.Version != 2 || len(doc.Profiles) != 2 ||
		doc.Profiles["default"].Token != "tok-a" {
		t.Errorf("after login the file is %s (%v)", readFile(t, credPath), err)
	}
}
