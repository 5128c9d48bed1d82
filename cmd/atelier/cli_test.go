package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// runCLI runs the command line with stdin as standard input and returns the
// exit status and what went to standard output and error. It swaps the os
// files, so tests using it do not run in parallel.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	files := make([]*os.File, 3)
	for i, name := range []string{"in", "out", "err"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	io.WriteString(files[0], stdin)
	files[0].Seek(0, io.SeekStart)
	oldIn, oldOut, oldErr := os.Stdin, os.Stdout, os.Stderr
	os.Stdin, os.Stdout, os.Stderr = files[0], files[1], files[2]
	code = run(args)
	os.Stdin, os.Stdout, os.Stderr = oldIn, oldOut, oldErr
	for _, f := range files {
		f.Close()
	}
	out, _ := os.ReadFile(files[1].Name())
	errOut, _ := os.ReadFile(files[2].Name())
	return code, string(out), string(errOut)
}

// mustIsolate points the credentials file and the environment at a fresh
// temporary directory.
func mustIsolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	for _, k := range []string{sdk.EnvEndpoint, sdk.EnvToken, sdk.EnvAccessKey, sdk.EnvSecretKey} {
		t.Setenv(k, "")
	}
	return home
}

func TestUsageErrorsExit2(t *testing.T) {
	mustIsolate(t)
	local := filepath.Join(t.TempDir(), "dir")
	os.MkdirAll(local, 0o755)
	tests := [][]string{
		{"obs"},
		{"obs", "nope"},
		{"obs", "mb"},
		{"obs", "mb", "bucket"},
		{"obs", "mb", "obs://b/key"},
		{"obs", "ls", "-o", "xml"},
		{"obs", "ls", "obs://b", "obs://c"},
		{"obs", "cp", "a"},
		{"obs", "cp", "./a", "./b"},
		{"obs", "cp", filepath.Join(t.TempDir(), "missing"), "obs://b/k"},
		{"obs", "cp", local, "obs://b/in/"},
		{"obs", "cp", "-r", local, "obs://b/in"},
		{"obs", "cp", "obs://b/dir/", "./x"},
		{"obs", "cp", "-j", "0", local, "obs://b/in/"},
		{"obs", "rm", "obs://b/dir/"},
		{"obs", "stat", "obs://"},
		{"obs", "ls", "--bogus"},
		{"apikey", "delete"},
		{"login", "--access-key", "AK"},
		{"login"}, // stdin is not a terminal and no --email
		{"login", "--email", "a@b.c"},
		{"version", "extra"},
	}
	for _, args := range tests {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}

// fakeAPI answers login, whoami, apikeys and one missing bucket.
func fakeAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v2/sdk/login/email" {
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			if body["password"] != "s3cret" || r.Header.Get("X-Client-Id") != "atelier-cli" {
				w.WriteHeader(400)
				io.WriteString(w, `{"error_code":"ATL.AUTH.0005","error_msg":"Wrong email or password."}`)
				return
			}
			io.WriteString(w, `{"status":"SUCCESS","session_token":"tok","expire":3600,"data":{"tenant_id":"t1","user_id":"u1"}}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error_code":"ATL.AUTH.0002","error_msg":"The token is invalid.","request_id":"r"}`)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/auth/whoami":
			io.WriteString(w, `{"user_id":"u1","tenant_id":"t1","email":"a@b.c","role":"admin","client_id":"atelier-cli"}`)
		case "DELETE /v1/auth/token":
			w.WriteHeader(204)
		case "GET /v1/apikeys":
			io.WriteString(w, `{"api_keys":[{"access_key":"AK1","description":"ci","tenant_id":"t1","user_id":"u1","created_at":"2025-01-01T00:00:00Z"}]}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error_code":"ATL.OBS.0003","error_msg":"bucket \"x\" does not exist.","request_id":"r"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoginFlowAgainstFake(t *testing.T) {
	home := mustIsolate(t)
	srv := fakeAPI(t)

	code, _, stderr := runCLI(t, "wrong\n", "login", "--endpoint", srv.URL, "--email", "a@b.c", "--password-stdin")
	if code != exitRefused || !strings.Contains(stderr, "Wrong email or password. (ATL.AUTH.0005)") {
		t.Errorf("wrong password: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "s3cret\n", "login", "--endpoint", srv.URL, "--email", "a@b.c", "--password-stdin")
	if code != exitOK || !strings.Contains(stdout, "a@b.c") {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	credPath := filepath.Join(home, "config", "atelier", "credentials")
	fi, err := os.Stat(credPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v", fi, err)
	}

	// Later commands use the saved endpoint and token.
	code, stdout, _ = runCLI(t, "", "apikey", "list", "-o", "json")
	var keys struct {
		APIKeys []map[string]any `json:"api_keys"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &keys) != nil || len(keys.APIKeys) != 1 {
		t.Errorf("apikey list: exit %d, %q", code, stdout)
	}
	code, _, stderr = runCLI(t, "", "obs", "ls", "obs://x")
	if code != exitRefused || strings.TrimSpace(stderr) != `atelier: bucket "x" does not exist. (ATL.OBS.0003)` {
		t.Errorf("ls of a missing bucket: exit %d, stderr %q", code, stderr)
	}

	if code, _, stderr = runCLI(t, "", "logout"); code != exitOK {
		t.Fatalf("logout: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(credPath); !os.IsNotExist(err) {
		t.Errorf("credentials file still there after logout: %v", err)
	}
}
