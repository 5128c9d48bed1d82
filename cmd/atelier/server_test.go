package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/identity"
)

const testAdminEmail = "admin@example.com"
const testAdminPassword = "correct horse battery staple"

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testServer is a running Main.
type testServer struct {
	*Main
	URL    string
	cancel context.CancelFunc // the root context: SIGTERM
	stdout *lockedBuffer
	log    *lockedBuffer
}

var listenLine = regexp.MustCompile(`(?m)^atelier: listening on (http://127\.0\.0\.1:\d+)$`)

// MustStartServer starts Main on 127.0.0.1:0 over dir and closes it when
// the test ends.
func MustStartServer(t *testing.T, dir string, with ...func(*ServerConfig)) *testServer {
	t.Helper()
	ts, err := startServer(t, dir, with...)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	return ts
}

// testSandbox is the local executor's sandbox for end-to-end tests:
// bubblewrap where it is installed or ATELIER_REQUIRE_SANDBOX is set (CI),
// else none, so that a fresh machine without bubblewrap runs the tests.
func testSandbox() string {
	if _, err := exec.LookPath("bwrap"); err == nil || os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
		return "bwrap"
	}
	return "none"
}

// requireSandbox skips a test that needs bubblewrap where it is not
// installed; with ATELIER_REQUIRE_SANDBOX set (CI) that is a failure.
func requireSandbox(t *testing.T, why string) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
			t.Fatalf("ATELIER_REQUIRE_SANDBOX is set but bubblewrap is not installed (%s)", why)
		}
		t.Skipf("bubblewrap is not installed (apt-get install bubblewrap): %s", why)
	}
}

func startServer(t *testing.T, dir string, with ...func(*ServerConfig)) (*testServer, error) {
	t.Helper()
	m := NewMain()
	m.Config = ServerConfig{
		Addr:          "127.0.0.1:0",
		DataDir:       dir,
		AdminEmail:    testAdminEmail,
		AdminPassword: testAdminPassword,
		LogLevel:      "debug",
		LogFormat:     "json",
	}
	m.Config.Training.Sandbox = testSandbox()
	for _, f := range with {
		f(&m.Config)
	}
	ts := &testServer{Main: m, stdout: &lockedBuffer{}, log: &lockedBuffer{}}
	m.Stdout, m.Stderr = ts.stdout, ts.log
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	t.Cleanup(func() {
		cancel()
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log)
		}
	})
	if err := m.Run(ctx); err != nil {
		return ts, err
	}
	match := listenLine.FindStringSubmatch(ts.stdout.String())
	if match == nil {
		t.Fatalf("stdout lacks the listening line: %q", ts.stdout)
	}
	ts.URL = match[1]
	if ts.URL != "http://"+m.Addr() {
		t.Fatalf("listening line %q, Addr %q", ts.URL, m.Addr())
	}
	return ts, nil
}

// call does a request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, client *http.Client, method, url, token string, body io.Reader, header map[string]string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, data, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp
}

func mustStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

// MustLogin logs the admin in through /api/v2 and returns the session token.
func MustLogin(t *testing.T, ts *testServer) string {
	t.Helper()
	var ans struct {
		Status       string `json:"status"`
		SessionToken string `json:"session_token"`
	}
	resp := call(t, http.DefaultClient, "POST", ts.URL+"/api/v2/sdk/login/email", "",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, testAdminEmail, testAdminPassword)),
		map[string]string{"X-client-id": "atelier-cli", "X-operating-sys-version": "linux", "X-device-fingerprint": "test", "X-agent": "server_test"}, &ans)
	mustStatus(t, resp, 200)
	if ans.Status != "SUCCESS" || len(ans.SessionToken) != 64 {
		t.Fatalf("login answer %+v", ans)
	}
	return ans.SessionToken
}

func TestServerEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ts := MustStartServer(t, dir)
	c := http.DefaultClient

	var st map[string]string
	mustStatus(t, call(t, c, "GET", ts.URL+"/healthz", "", nil, nil, &st), 200)
	if st["status"] != "ok" {
		t.Errorf("/healthz %v", st)
	}
	mustStatus(t, call(t, c, "GET", ts.URL+"/readyz", "", nil, nil, &st), 200)
	if st["status"] != "ready" {
		t.Errorf("/readyz %v", st)
	}

	token := MustLogin(t, ts)
	mustStatus(t, call(t, c, "PUT", ts.URL+"/v1/obs/data", token, nil, nil, nil), 201)
	const content = "hello, atelier"
	const key = "dir//sub/h%C3%A9llo.txt" // "//" and UTF-8 survive
	resp := call(t, c, "PUT", ts.URL+"/v1/obs/data/"+key, token, strings.NewReader(content), map[string]string{"Content-Type": "text/plain"}, nil)
	mustStatus(t, resp, 200)
	if resp.Header.Get("ETag") == "" {
		t.Error("upload answer without ETag")
	}
	resp = call(t, c, "GET", ts.URL+"/v1/obs/data/"+key, token, nil, nil, nil)
	mustStatus(t, resp, 200)
	if body, _ := io.ReadAll(resp.Body); string(body) != content {
		t.Errorf("GET = %q", body)
	}
	var list struct {
		Objects []struct{ Key string } `json:"objects"`
	}
	mustStatus(t, call(t, c, "GET", ts.URL+"/v1/obs/data", token, nil, nil, &list), 200)
	if len(list.Objects) != 1 || list.Objects[0].Key != "dir//sub/héllo.txt" {
		t.Errorf("listing %+v", list)
	}

	resp = call(t, c, "GET", ts.URL+"/metrics", "", nil, nil, nil)
	mustStatus(t, resp, 200)
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `route="/v1/obs/{bucket}/{key...}"`) {
		t.Errorf("/metrics lacks the object route label")
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	mustStatus(t, call(t, c, "GET", ts.URL+"/openapi.json", "", nil, nil, &doc), 200)
	if !strings.HasPrefix(doc.OpenAPI, "3.0") || doc.Paths["/v1/obs/{bucket}/{key}"]["put"] == nil {
		t.Errorf("openapi.json: version %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}

	// A second server on the same data directory is refused.
	if _, err := startServer(t, dir); err == nil || !strings.Contains(err.Error(), "in use by another atelier server") {
		t.Errorf("second server on the same data dir: err = %v", err)
	}

	// Restart on the same directory: the object is still there.
	ts.cancel()
	if err := ts.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ts2 := MustStartServer(t, dir)
	if strings.Contains(ts2.stdout.String(), "created admin") {
		t.Error("the restart bootstrapped a new admin")
	}
	token = MustLogin(t, ts2)
	resp = call(t, c, "GET", ts2.URL+"/v1/obs/data/"+key, token, nil, nil, nil)
	mustStatus(t, resp, 200)
	if body, _ := io.ReadAll(resp.Body); string(body) != content {
		t.Errorf("after restart GET = %q", body)
	}
	if strings.Contains(ts.log.String()+ts2.log.String(), testAdminPassword) {
		t.Error("the log holds the admin password")
	}
}

func TestGeneratedPasswordPrintedOnce(t *testing.T) {
	m := NewMain()
	m.Config = ServerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), LogFormat: "json"}
	m.Config.Training.Sandbox = testSandbox()
	var out, log lockedBuffer
	m.Stdout, m.Stderr = &out, &log
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^atelier: created admin admin@atelier\.local with password (\S+)$`)
	match := re.FindStringSubmatch(out.String())
	if match == nil {
		t.Fatalf("stdout %q lacks the generated password", out.String())
	}
	if strings.Contains(log.String(), match[1]) {
		t.Error("the generated password is in the log")
	}
}

// TestShutdownFinishesInFlightUpload cancels the root context (what SIGTERM
// does) while an upload is half sent: the upload must complete, and Wait
// and Close must return nil.
func TestShutdownFinishesInFlightUpload(t *testing.T) {
	ts := MustStartServer(t, t.TempDir())
	token := MustLogin(t, ts)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/slow", token, nil, nil, nil), 201)

	// Expect: 100-continue makes the server say when the handler starts
	// reading the body: then the request is surely in flight.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	reading := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "PUT", ts.URL+"/v1/obs/slow/big.bin", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Expect", "100-continue")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	go func() {
		// The first chunk is taken only once the server asked for the body.
		_, _ = pw.Write(chunk)
	}()
	select {
	case <-reading:
	case r := <-done:
		t.Fatalf("upload ended early: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the server never started reading the upload")
	}

	ts.cancel() // SIGTERM
	waited := make(chan error, 1)
	go func() { waited <- ts.Wait() }()
	closed := make(chan error, 1)
	go func() { closed <- ts.Close() }()

	// Wait until the server stopped accepting, proving the shutdown began
	// while the upload was still open.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.Dial("tcp", ts.Addr())
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server kept accepting after the root context was cancelled")
		}
		<-tick.C
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the in-flight upload finished", err)
	default:
	}

	for range 3 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, fmt.Sprintf(`"size":%d`, 4*len(chunk))) {
		t.Fatalf("in-flight upload: %+v", r)
	}
	for name, ch := range map[string]chan error{"Wait": waited, "Close": closed} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s = %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return", name)
		}
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{
		"ATELIER_ADDR":              "0.0.0.0:9000",
		"ATELIER_DATA_DIR":          "/var/lib/atelier",
		"ATELIER_MAX_OBJECT_BYTES":  "1GiB",
		"ATELIER_SESSION_TTL":       "1h",
		"ATELIER_MIN_FREE_SPACE":    "1GiB",
		"ATELIER_PREDICT_TIMEOUT":   "30s",
		"ATELIER_GPU_MPS":           "OFF",
		"ATELIER_LOG_FORMAT":        "json",
		"ATELIER_LOGIN_RATE_PER_IP": "off",
		"ATELIER_LOCKOUT_DURATION":  "1h",
		"ATELIER_SMTP_ADDR":         "mail.example.com:587",
		"ATELIER_SMTP_FROM":         "Atelier <no-reply@example.com>",
		"ATELIER_SMTP_PASSWORD":     "smtp-secret",
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	c := m.Config.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := ServerConfig{
		Addr:           "127.0.0.1:0", // the flag wins
		DataDir:        "/var/lib/atelier",
		DatabaseURL:    "sqlite:///var/lib/atelier/atelier.db",
		ObjectStore:    "file:///var/lib/atelier/objects",
		PublicURL:      "http://127.0.0.1:0",
		MaxBodyBytes:   1 << 20,
		MaxObjectBytes: 1 << 30,
		SessionTTL:     time.Hour,
		PredictTimeout: 30 * time.Second,
		MinFreeBytes:   1 << 30,
		LogLevel:       "info",
		LogFormat:      "json",
		Identity: IdentityConfig{
			SecretKeyFile:    "/var/lib/atelier/secret.key",
			LockoutThreshold: 5,
			LockoutDuration:  time.Hour,
			LoginRatePerIP:   rateOff,
			LoginRatePerUser: 10,
			OutboxDir:        "/var/lib/atelier/outbox",
			SMTPAddr:         "mail.example.com:587",
			SMTPFrom:         "Atelier <no-reply@example.com>",
			SMTPPassword:     "smtp-secret",
			HashMemory:       identity.DefaultHashMemory,
		},
		MinBodyRate: httpapi.DefaultMinBodyRate,
		Training:    TrainingConfig{Executor: "local", Slots: runtime.NumCPU(), MaxRun: 24 * time.Hour, Sandbox: "bwrap", Processes: 4096, TmpBytes: 1 << 30, GPUMPS: "off"},
	}
	if fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", want) {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
	if got := sqlitePath(c.DatabaseURL); got != "/var/lib/atelier/atelier.db" {
		t.Errorf("sqlitePath = %q", got)
	}
	if err := m.ParseFlags([]string{"extra"}, func(string) string { return "" }); !errors.As(err, new(usageError)) {
		t.Errorf("positional argument: %v", err)
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	env := map[string]string{
		"ATELIER_ADDR":                 "nohostport",
		"ATELIER_DATABASE_URL":         "mysql://x",
		"ATELIER_OBJECT_STORE":         "gs://bucket",
		"ATELIER_PUBLIC_URL":           "ftp://x",
		"ATELIER_MAX_BODY_BYTES":       "lots",
		"ATELIER_MAX_OBJECT_BYTES":     "-5",
		"ATELIER_SESSION_TTL":          "12",
		"ATELIER_LOG_LEVEL":            "chatty",
		"ATELIER_LOG_FORMAT":           "xml",
		"ATELIER_ADMIN_EMAIL":          "root",
		"ATELIER_LOCKOUT_THRESHOLD":    "none",
		"ATELIER_LOCKOUT_DURATION":     "forever",
		"ATELIER_LOGIN_RATE_PER_IP":    "-3",
		"ATELIER_SMTP_ADDR":            "mail.example.com",
		"ATELIER_SMTP_TLS":             "yes",
		"ATELIER_QUEUE_WORKERS":        "0",
		"ATELIER_QUEUE_LEASE":          "1s",
		"ATELIER_LEADER_TTL":           "1s",
		"ATELIER_GC_INTERVAL":          "soon",
		"ATELIER_RETENTION_QUEUE":      "-1h",
		"ATELIER_RETENTION_QUEUE_DEAD": "10s",
		"ATELIER_PREDICT_TIMEOUT":      "-1s",
		"ATELIER_MAX_PREDICT_BYTES":    "0",
		"ATELIER_GPU_MPS":              "maybe",
	}
	c := configFromEnv(func(k string) string { return env[k] }).withDefaults()
	err := c.validate()
	if err == nil {
		t.Fatal("validate accepted a bad config")
	}
	for _, want := range []string{"ATELIER_ADDR", "ATELIER_DATABASE_URL", "ATELIER_OBJECT_STORE", "ATELIER_PUBLIC_URL",
		"ATELIER_MAX_BODY_BYTES", "ATELIER_MAX_OBJECT_BYTES", "ATELIER_SESSION_TTL", "ATELIER_LOG_LEVEL", "ATELIER_LOG_FORMAT", "ATELIER_ADMIN_EMAIL",
		"ATELIER_LOCKOUT_THRESHOLD", "ATELIER_LOCKOUT_DURATION", "ATELIER_LOGIN_RATE_PER_IP", "ATELIER_SMTP_ADDR", "ATELIER_SMTP_FROM", "ATELIER_SMTP_TLS",
		"ATELIER_QUEUE_WORKERS", "ATELIER_QUEUE_LEASE", "ATELIER_LEADER_TTL", "ATELIER_GC_INTERVAL", "ATELIER_RETENTION_QUEUE",
		"ATELIER_RETENTION_QUEUE_DEAD", "ATELIER_PREDICT_TIMEOUT", "ATELIER_MAX_PREDICT_BYTES", "ATELIER_GPU_MPS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s:\n%v", want, err)
		}
	}
	// Run refuses it as a usage error before touching anything.
	m := NewMain()
	m.Config = configFromEnv(func(k string) string { return env[k] })
	if err := m.Run(context.Background()); !errors.As(err, new(usageError)) {
		t.Errorf("Run = %v, want a usage error", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after a failed Run: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"5GiB", 5 << 30, true},
		{"5G", 5 << 30, true},
		{"64k", 64 << 10, true},
		{"2MB", 2 << 20, true},
		{"1T", 1 << 40, true},
		{"", 0, false},
		{"-1", 0, false},
		{"abc", 0, false},
		{"9999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1048576", "5GiB", "64k", "-1", "9999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Errorf("parseSize(%q) = %d", s, n)
		}
	})
}
