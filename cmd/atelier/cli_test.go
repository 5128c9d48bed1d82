package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/mock"
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
	for _, k := range []string{sdk.EnvEndpoint, sdk.EnvProfile, sdk.EnvToken, sdk.EnvAccessKey, sdk.EnvSecretKey} {
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
		{"obs", "mb", "obs://bkt/key"},
		{"obs", "ls", "-o", "xml"},
		{"obs", "ls", "obs://bkt", "obs://ckt"},
		{"obs", "cp", "a"},
		{"obs", "cp", "./a", "./b"},
		{"obs", "cp", filepath.Join(t.TempDir(), "missing"), "obs://bkt/k"},
		{"obs", "cp", local, "obs://bkt/in/"},
		{"obs", "cp", "-r", local, "obs://bkt/in"},
		{"obs", "cp", "obs://bkt/dir/", "./x"},
		{"obs", "cp", "-j", "0", local, "obs://bkt/in/"},
		{"obs", "rm", "obs://bkt/dir/"},
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
			io.WriteString(w, `{"error_code":"ATL.OBS.0003","error_msg":"bucket \"xyz\" does not exist.","request_id":"r"}`)
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
	code, _, stderr = runCLI(t, "", "obs", "ls", "obs://xyz")
	if code != exitRefused || strings.TrimSpace(stderr) != `atelier: bucket "xyz" does not exist. (ATL.OBS.0003)` {
		t.Errorf("ls of a missing bucket: exit %d, stderr %q", code, stderr)
	}

	if code, _, stderr = runCLI(t, "", "logout"); code != exitOK {
		t.Fatalf("logout: exit %d, %s", code, stderr)
	}
	if b, err := os.ReadFile(credPath); err != nil || strings.Contains(string(b), `"tok"`) {
		t.Errorf("the token is still in the credentials file after logout: %s, %v", b, err)
	}
}

// TestObjectPathArgs is what a new user tried: OBS:// was refused by
// training but taken by the SDK and datasets, obs://Bad_Bucket/x/ the other
// way round, and the CLI sent whatever it was given. Now every path flag and
// argument is checked by the one grammar before anything is sent: a bad one
// exits 2 naming the flag or argument and what is wrong, and a scheme in
// capitals is sent in the obs:// spelling.
func TestObjectPathArgs(t *testing.T) {
	auth := &mock.AuthService{AuthenticateFn: func(context.Context, string) (*core.Principal, error) {
		return &core.Principal{UserID: "u1", TenantID: "t1", Role: core.RoleAdmin}, nil
	}}
	objects := &mock.ObjectService{}
	training := &mock.TrainingService{}
	datasets := &mock.DatasetService{}
	mustIsolate(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Auth: auth, Objects: objects, Training: training, Datasets: datasets}))
	t.Cleanup(srv.Close)
	t.Setenv(sdk.EnvEndpoint, srv.URL)
	t.Setenv(sdk.EnvToken, "tok")
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "train.py"), []byte("print(1)\n"), 0o644)

	const bad = "obs://Bad_Bucket/x/"
	submit := []string{"job", "submit", "--command", "true"}
	create := []string{"dataset", "create", "ds", "--data-type", "IMAGE"}
	for _, tt := range []struct {
		name string // what stderr must name
		args []string
	}{
		{"the argument", []string{"obs", "mb", "obs://Bad_Bucket"}},
		{"the argument", []string{"obs", "ls", bad}},
		{"the argument", []string{"obs", "stat", "obs://Bad_Bucket/x"}},
		{"the argument", []string{"obs", "rm", "obs://Bad_Bucket/x"}},
		{"SRC", []string{"obs", "cp", "obs://Bad_Bucket/x", local}},
		{"DST", []string{"obs", "cp", filepath.Join(local, "train.py"), bad}},
		{"--input", append(slices.Clone(submit), "--input", bad)},
		{"--input", append(slices.Clone(submit), "--input", "s3://Bad_Bucket/x/:/data")},
		{"--output-path", append(slices.Clone(submit), "--output-path", bad)},
		{"--log-url", append(slices.Clone(submit), "--log-url", bad)},
		{"--code-dir", []string{"job", "submit", "--boot-file", "train.py", "--code-dir", bad}},
		{"--code-obs-path", []string{"job", "submit", "--boot-file", "train.py", "--code-dir", local, "--code-obs-path", bad}},
		{"--source", append(slices.Clone(create), "--source", bad, "--work-path", "obs://bkt/w/")},
		{"--work-path", append(slices.Clone(create), "--source", "obs://bkt/in/", "--work-path", bad)},
		{"the import path", []string{"dataset", "import", "ds", bad}},
		{"--to", []string{"dataset", "export", "ds", "--version", "V001", "--to", bad}},
	} {
		code, _, stderr := runCLI(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.name) || !strings.Contains(stderr, "The bucket name may hold only") {
			t.Errorf("atelier %s: exit %d, stderr %q; want %d naming %s and the bucket rule", strings.Join(tt.args, " "), code, stderr, exitUsage, tt.name)
		}
	}
	for _, tt := range []struct {
		name, msg string
		args      []string
	}{
		{"--output-path", "must end in /", append(slices.Clone(submit), "--output-path", "obs://bkt/out")},
		{"--log-url", "must end in /", append(slices.Clone(submit), "--log-url", "OBS://bkt/log")},
		{"--source", "must end in /", append(slices.Clone(create), "--source", "obs://bkt/in", "--work-path", "obs://bkt/w/")},
		{"--input", "empty path segment", append(slices.Clone(submit), "--input", "obs://bkt/in//x/")},
		{"the argument", "'..' path segment", []string{"obs", "stat", "obs://bkt/a/../b"}},
	} {
		code, _, stderr := runCLI(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.name) || !strings.Contains(stderr, tt.msg) {
			t.Errorf("atelier %s: exit %d, stderr %q; want %d naming %s and %q", strings.Join(tt.args, " "), code, stderr, exitUsage, tt.name, tt.msg)
		}
	}

	// Schemes in capitals are the same paths, sent as obs://.
	objects.StatObjectFn = func(_ context.Context, bucket, key string) (*core.Object, error) {
		if bucket != "bkt" || key != "in/a.txt" {
			t.Errorf("stat of %q %q", bucket, key)
		}
		return &core.Object{Bucket: bucket, Key: key, Size: 1}, nil
	}
	if code, _, stderr := runCLI(t, "", "obs", "stat", "OBS://bkt/in/a.txt"); code != exitOK {
		t.Errorf("obs stat OBS://bkt/in/a.txt: exit %d, %s", code, stderr)
	}
	var spec core.JobSpec
	training.SubmitJobFn = func(_ context.Context, name, _ string, s core.JobSpec) (*core.TrainingJob, *core.JobVersion, error) {
		spec = s
		return &core.TrainingJob{ID: "job-1", Name: name}, &core.JobVersion{JobID: "job-1", VersionID: 1, Spec: s}, nil
	}
	code, _, stderr := runCLI(t, "", "job", "submit", "--name", "caps", "--boot-file", "train.py", "--code-dir", "OBS://bkt/code/",
		"--input", "S3://bkt/in/:/data", "--output-path", "Obs://bkt/out/", "--log-url", "OBS://bkt/log/")
	if code != exitOK || spec.CodeDir != "obs://bkt/code/" || spec.Inputs[0] != (core.JobInput{ObsPath: "obs://bkt/in/", LocalPath: "/data"}) ||
		spec.Outputs[0].ObsPath != "obs://bkt/out/" || spec.LogURL != "obs://bkt/log/" {
		t.Errorf("job submit with capital schemes: exit %d (%s), sent %+v", code, stderr, spec)
	}
	var dspec core.DatasetSpec
	datasets.CreateDatasetFn = func(_ context.Context, s core.DatasetSpec) (*core.Dataset, *core.ImportTask, error) {
		dspec = s
		return &core.Dataset{ID: "ds-1", Name: s.Name}, nil, nil
	}
	code, _, stderr = runCLI(t, "", "dataset", "create", "caps", "--data-type", "IMAGE", "--source", "OBS://bkt/in/", "--work-path", "S3://bkt/w/")
	if code != exitOK || dspec.DataPath != "obs://bkt/in/" || dspec.WorkPath != "obs://bkt/w/" {
		t.Errorf("dataset create with capital schemes: exit %d (%s), sent %+v", code, stderr, dspec)
	}
}
