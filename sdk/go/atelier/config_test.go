package atelier

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

// isolateConfig points the credentials file at a fresh directory and clears
// the client settings of the environment; it returns the file's path.
func isolateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	for _, k := range []string{EnvEndpoint, EnvProfile, EnvToken, EnvAccessKey, EnvSecretKey} {
		t.Setenv(k, "")
	}
	return filepath.Join(dir, "atelier", "credentials")
}

// captureServer records the Authorization header of every request it gets.
type captureServer struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newCaptureServer(t *testing.T) *captureServer {
	t.Helper()
	s := &captureServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error_code":"ATL.AUTH.0001","error_msg":"Authentication is required."}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// headers returns the Authorization headers received, one per request.
func (s *captureServer) headers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

// TestTokenNeverSentToAnotherServer is the finding: with a token saved for
// one server, ATELIER_ENDPOINT naming another made the SDK send that token
// to it. Now the other server gets a request without Authorization.
func TestTokenNeverSentToAnotherServer(t *testing.T) {
	isolateConfig(t)
	if err := SaveCredentials(&Credentials{Endpoint: "http://issuer.example:8080", Token: "secret-token"}); err != nil {
		t.Fatal(err)
	}
	capture := newCaptureServer(t)
	t.Setenv(EnvEndpoint, capture.URL)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(context.Background()); err == nil {
		t.Error("ListBuckets on the capture server succeeded")
	}
	for _, h := range capture.headers() {
		if h != "" {
			t.Errorf("the capture server received Authorization %q", h)
		}
	}
}

func TestResolveConfig(t *testing.T) {
	const a, b = "http://a.example:8080", "https://b.example"
	file := &CredentialsFile{Current: "default", Profiles: map[string]*Credentials{
		"default": {Endpoint: a, Token: "tok-a"},
		"b":       {Endpoint: b + "/", Token: "tok-b"},
		"b-out":   {Endpoint: b}, // logged out
		"c":       {Endpoint: "http://c.example"},
	}}
	tests := []struct {
		name     string
		env      map[string]string
		sel      Selection
		file     *CredentialsFile
		wantEP   string
		wantTok  string
		wantAK   string
		wantProf string
		wantErr  string
		wantHint string // NotLoggedIn's message when there is no token
	}{
		{name: "nothing", wantEP: DefaultEndpoint, wantHint: "not logged in to " + DefaultEndpoint + "; run atelier login"},
		{name: "current profile", file: file, wantEP: a, wantTok: "tok-a", wantProf: "default"},
		{name: "env token beats the file", env: map[string]string{EnvToken: "etok"}, file: file, wantEP: a, wantTok: "etok"},
		{name: "env key beats the file", env: map[string]string{EnvAccessKey: "AK", EnvSecretKey: "SK"}, file: file, wantEP: a, wantAK: "AK"},
		{name: "env token goes to the env endpoint", env: map[string]string{EnvToken: "etok", EnvEndpoint: "http://x.example"}, file: file, wantEP: "http://x.example", wantTok: "etok"},
		{name: "env endpoint of another server: no token", env: map[string]string{EnvEndpoint: "http://x.example"}, file: file,
			wantEP: "http://x.example", wantHint: "not logged in to http://x.example; run atelier login"},
		{name: "endpoint flag of another server: no token, hint names it", sel: Selection{Endpoint: "http://x.example"}, file: file,
			wantEP: "http://x.example", wantHint: "not logged in to http://x.example; run atelier login --endpoint http://x.example"},
		{name: "endpoint of another profile: its token", sel: Selection{Endpoint: "HTTPS://B.example:443"}, file: file, wantEP: "HTTPS://B.example:443", wantTok: "tok-b", wantProf: "b"},
		{name: "env endpoint of another profile: its token", env: map[string]string{EnvEndpoint: b}, file: file, wantEP: b, wantTok: "tok-b", wantProf: "b"},
		{name: "profile flag", sel: Selection{Profile: "b"}, file: file, wantEP: b + "/", wantTok: "tok-b", wantProf: "b"},
		{name: "profile env", env: map[string]string{EnvProfile: "b"}, file: file, wantEP: b + "/", wantTok: "tok-b", wantProf: "b"},
		{name: "logged-out profile", sel: Selection{Profile: "c"}, file: file, wantEP: "http://c.example",
			wantHint: "not logged in to http://c.example; run atelier login --profile c"},
		{name: "profile with the endpoint of another server", sel: Selection{Profile: "b", Endpoint: a}, file: file, wantErr: `The profile "b" is for https://b.example/, not http://a.example:8080`},
		{name: "missing profile", sel: Selection{Profile: "nope"}, file: file, wantErr: `There is no profile "nope"`},
		{name: "missing profile with an env token", env: map[string]string{EnvToken: "etok"}, sel: Selection{Profile: "nope"}, file: file, wantErr: `There is no profile "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateConfig(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.file != nil {
				if err := SaveCredentialsFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := ResolveConfig(tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Endpoint != tt.wantEP || cfg.Token != tt.wantTok || cfg.AccessKey != tt.wantAK || cfg.Profile != tt.wantProf {
				t.Errorf("got endpoint %q token %q key %q profile %q; want %q %q %q %q",
					cfg.Endpoint, cfg.Token, cfg.AccessKey, cfg.Profile, tt.wantEP, tt.wantTok, tt.wantAK, tt.wantProf)
			}
			if cfg.HasCredentials() != (tt.wantHint == "") {
				t.Errorf("HasCredentials = %v", cfg.HasCredentials())
			}
			if tt.wantHint != "" {
				err := cfg.NotLoggedIn()
				if core.ErrorCode(err) != core.CodeSDKNoCredentials.ID || !strings.Contains(err.Error(), tt.wantHint) {
					t.Errorf("NotLoggedIn = %v, want %s saying %q", err, core.CodeSDKNoCredentials.ID, tt.wantHint)
				}
			}
		})
	}
}

// TestCredentialsFileMigration: a file of the old format (one login at the
// top level) reads as the profile "default" and is written back in the new
// format, mode 0600, atomically.
func TestCredentialsFileMigration(t *testing.T) {
	path := isolateConfig(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	old := `{"endpoint":"http://old.example:8080","token":"tok-old","expires_at":"2030-01-01T00:00:00Z","email":"a@b.c","tenant_id":"t1","user_id":"u1"}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := LoadConfig()
	if err != nil || opts.Endpoint != "http://old.example:8080" || opts.Token != "tok-old" {
		t.Fatalf("LoadConfig of the old format = %+v, %v", opts, err)
	}
	cr, err := LoadCredentials()
	want := Credentials{Endpoint: "http://old.example:8080", Token: "tok-old", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Email: "a@b.c", TenantID: "t1", UserID: "u1"}
	if err != nil || *cr != want {
		t.Fatalf("LoadCredentials = %+v, %v", cr, err)
	}
	if err := SaveCredentials(&Credentials{Endpoint: "http://new.example", Token: "tok-new"}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version  int                     `json:"version"`
		Current  string                  `json:"current"`
		Profiles map[string]*Credentials `json:"profiles"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 2 || doc.Current != "new.example" || len(doc.Profiles) != 2 || *doc.Profiles["default"] != want ||
		doc.Profiles["new.example"].Token != "tok-new" {
		t.Errorf("after a save the file is %s", b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("the directory holds %d entries, want only the credentials", len(ents))
	}

	// A file from a newer client is refused, not overwritten.
	os.WriteFile(path, []byte(`{"version":3,"profiles":{}}`), 0o600)
	if _, err := LoadConfig(); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("a version 3 file: %v", err)
	}
	os.WriteFile(path, []byte(`{not json`), 0o600)
	if _, err := LoadConfig(); err == nil || !strings.Contains(err.Error(), "atelier login") {
		t.Errorf("a corrupt file: %v", err)
	}
}

func TestSaveCredentialsFileMode(t *testing.T) {
	path := isolateConfig(t)
	want := &Credentials{Endpoint: "http://x:1", Token: "tok", Email: "a@b.c", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := SaveCredentials(want); err != nil {
		t.Fatal(err)
	}
	if err := SaveCredentials(want); err != nil { // replacing keeps the mode
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	f, err := LoadCredentialsFile()
	if err != nil || len(f.Profiles) != 1 || f.Current != DefaultProfile || *f.Profiles[DefaultProfile] != *want {
		t.Errorf("LoadCredentialsFile = %+v, %v", f, err)
	}
	if err := RemoveCredentials(); err != nil {
		t.Fatal(err)
	}
	if err := RemoveCredentials(); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	if _, err := LoadCredentials(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after remove: %v", err)
	}
}

func TestNewProfileName(t *testing.T) {
	f := &CredentialsFile{Profiles: map[string]*Credentials{}}
	for _, tt := range []struct{ endpoint, want string }{
		{"http://127.0.0.1:8080", "default"},
		{"http://127.0.0.1:9090", "127.0.0.1:9090"},
		{"http://127.0.0.1:9090/", "127.0.0.1:9090-2"},
		{"https://[::1]:8443", ""}, // only valid
		{"HTTPS://Atelier.Example.COM", "atelier.example.com"},
	} {
		got := f.NewProfileName(tt.endpoint)
		if tt.want != "" && got != tt.want {
			t.Errorf("NewProfileName(%q) = %q, want %q", tt.endpoint, got, tt.want)
		}
		if err := CheckProfileName(got); err != nil {
			t.Errorf("NewProfileName(%q) = %q: %v", tt.endpoint, got, err)
		}
		f.Profiles[got] = &Credentials{Endpoint: tt.endpoint}
	}
}

// TestNotLoggedInSendsNothing: a client from LoadConfig without credentials
// for its server answers every authenticated call with NotLoggedIn's error
// and sends nothing; calls without authentication (a login) still go out.
func TestNotLoggedInSendsNothing(t *testing.T) {
	isolateConfig(t)
	if err := SaveCredentials(&Credentials{Endpoint: "http://issuer.example:8080", Token: "secret-token"}); err != nil {
		t.Fatal(err)
	}
	capture := newCaptureServer(t)
	t.Setenv(EnvEndpoint, capture.URL)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListBuckets(context.Background())
	if core.ErrorCode(err) != core.CodeSDKNoCredentials.ID || !strings.Contains(err.Error(), "not logged in to "+capture.URL) {
		t.Errorf("ListBuckets = %v, want %s not logged in", err, core.CodeSDKNoCredentials.ID)
	}
	if got := capture.headers(); len(got) != 0 {
		t.Errorf("the capture server received %d request(s), want none", len(got))
	}
	c.LoginEmail(context.Background(), "a@b.c", "pw", "")
	if got := capture.headers(); len(got) != 1 || got[0] != "" {
		t.Errorf("the login sent Authorization %q, want one request with none", got)
	}
}
