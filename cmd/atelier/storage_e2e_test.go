package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/pgtest"
)

// storageAnswer is the part of an error answer or a /readyz answer that the
// storage tests look at.
type storageAnswer struct {
	Status    string `json:"status"` // /readyz
	Code      string `json:"error_code"`
	Message   string `json:"error_msg"`
	ReadyText string `json:"error"` // /readyz
}

// loginAnswer tries the admin's login and returns the answer.
func loginAnswer(t *testing.T, ts *testServer) (*http.Response, storageAnswer) {
	t.Helper()
	var ans storageAnswer
	resp := call(t, http.DefaultClient, "POST", ts.URL+"/api/v2/sdk/login/email", "",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, testAdminEmail, testAdminPassword)),
		map[string]string{"X-client-id": "atelier-cli", "X-operating-sys-version": "linux", "X-device-fingerprint": "test", "X-agent": "storage_test"}, &ans)
	return resp, ans
}

// wantStorageError checks an answer's status, code and, for 503,
// Retry-After.
func wantStorageError(t *testing.T, what string, resp *http.Response, ans storageAnswer, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || ans.Code != code {
		t.Errorf("%s: %d %s %q, want %d %s", what, resp.StatusCode, ans.Code, ans.Message+ans.ReadyText, status, code)
	}
	if ra := resp.Header.Get("Retry-After"); status == http.StatusServiceUnavailable && what != "readyz" && ra != fmt.Sprint(atelier.StoreRetryAfter) {
		t.Errorf("%s: Retry-After %q, want %d", what, ra, atelier.StoreRetryAfter)
	}
}

// mountTmpfs mounts a tmpfs of size (e.g. "4m") on a fresh directory and
// unmounts it when the test ends; it needs root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		// CI runs as root and sets ATELIER_REQUIRE_SANDBOX, which asks
		// for every test that needs root.
		if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
			t.Fatal("ATELIER_REQUIRE_SANDBOX is set but the tests do not run as root: the disk-full tests need it to mount a tmpfs")
		}
		t.Skip("mounting a small tmpfs to fill its disk needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount a %s tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes path until the filesystem is full and returns the bytes
// written.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("fill the disk: %v", err)
		}
	}
}

// TestDiskFullIsNotReadyAndAnswers507 fills the real (tmpfs) disk of the
// data directory: /readyz must say so and writes must answer 507 with the
// storage code, not 500; freeing the space makes the server ready again.
func TestDiskFullIsNotReadyAndAnswers507(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	ts := MustStartServer(t, filepath.Join(dir, "data"), func(c *ServerConfig) { c.MinFreeBytes = 512 << 10 })
	token := MustLogin(t, ts)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/full-test", token, nil, nil, nil), 201)
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, nil), 200)

	filler := filepath.Join(dir, "filler")
	t.Logf("filled the disk with %d bytes", fillDisk(t, filler))

	var ready storageAnswer
	resp := call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, &ready)
	wantStorageError(t, "readyz", resp, ready, http.StatusServiceUnavailable, atelier.CodeStoreFull.ID)
	if ready.Status != "unavailable" || !strings.Contains(ready.ReadyText, "ATELIER_MIN_FREE_SPACE") {
		t.Errorf("readyz answer %+v: want it unavailable, naming ATELIER_MIN_FREE_SPACE", ready)
	}

	resp, ans := loginAnswer(t, ts)
	wantStorageError(t, "login", resp, ans, http.StatusInsufficientStorage, atelier.CodeStoreFull.ID)
	resp = call(t, http.DefaultClient, "POST", ts.URL+"/v1/orgs", token, strings.NewReader(`{"name":"full"}`), nil, &ans)
	wantStorageError(t, "create org", resp, ans, http.StatusInsufficientStorage, atelier.CodeStoreFull.ID)
	resp = call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/full-test/big", token, bytes.NewReader(make([]byte, 1<<20)), nil, &ans)
	if resp.StatusCode != http.StatusInsufficientStorage || (ans.Code != atelier.CodeStoreFull.ID && ans.Code != atelier.CodeStorageFull.ID) {
		t.Errorf("PUT object: %d %s %q, want 507 %s or %s", resp.StatusCode, ans.Code, ans.Message, atelier.CodeStoreFull.ID, atelier.CodeStorageFull.ID)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, nil), 200)
	MustLogin(t, ts)
	mustStatus(t, call(t, http.DefaultClient, "POST", ts.URL+"/v1/orgs", token, strings.NewReader(`{"name":"after"}`), nil, nil), 201)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/full-test/small", token, strings.NewReader("hello"), nil, nil), 200)
}

// TestReadyzMinFreeSpace: below ATELIER_MIN_FREE_SPACE the server is not
// ready even though writes still succeed.
func TestReadyzMinFreeSpace(t *testing.T) {
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.MinFreeBytes = 1 << 60 })
	var ready storageAnswer
	resp := call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, &ready)
	wantStorageError(t, "readyz", resp, ready, http.StatusServiceUnavailable, atelier.CodeStoreFull.ID)
	MustLogin(t, ts)
}

// TestPostgresDownAnswers503 stops the server's PostgreSQL mid-test:
// requests answer 503 with Retry-After and the store's code, and /readyz
// says so.
func TestPostgresDownAnswers503(t *testing.T) {
	cl := pgtest.NewCluster(t)
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.DatabaseURL = cl.URL() })
	token := MustLogin(t, ts)
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, nil), 200)

	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	var ans storageAnswer
	resp := call(t, http.DefaultClient, "GET", ts.URL+"/readyz", "", nil, nil, &ans)
	wantStorageError(t, "readyz", resp, ans, http.StatusServiceUnavailable, atelier.CodeStoreUnavailable.ID)
	resp, ans = loginAnswer(t, ts)
	wantStorageError(t, "login", resp, ans, http.StatusServiceUnavailable, atelier.CodeStoreUnavailable.ID)
	resp = call(t, http.DefaultClient, "GET", ts.URL+"/v1/obs", token, nil, nil, &ans)
	wantStorageError(t, "list buckets", resp, ans, http.StatusServiceUnavailable, atelier.CodeStoreUnavailable.ID)
	resp = call(t, http.DefaultClient, "POST", ts.URL+"/v1/orgs", token, strings.NewReader(`{"name":"down"}`), nil, &ans)
	wantStorageError(t, "create org", resp, ans, http.StatusServiceUnavailable, atelier.CodeStoreUnavailable.ID)
}

// TestPortInUseFailsBeforeBootstrap: a port already in use fails the
// start, naming the setting, before the data directory, the database or
// the admin exist.
func TestPortInUseFailsBeforeBootstrap(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "data")
	ts, err := startServer(t, dir, func(c *ServerConfig) {
		c.Addr = taken.Addr().String()
		c.AdminPassword = "" // a generated one would be printed
	})
	if err == nil || !strings.Contains(err.Error(), "ATELIER_ADDR") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Run on a taken port: %v; want EADDRINUSE naming --addr/ATELIER_ADDR", err)
	}
	if out := ts.stdout.String(); out != "" {
		t.Errorf("stdout %q: want nothing (no admin created)", out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory: %v; want it never created", err)
	}
}

// TestBadObjectStoreFailsAtStart: an s3:// object store that cannot work
// fails the start with a message that names the setting and never the
// secret key, before any bucket can be made.
func TestBadObjectStoreFailsAtStart(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close() // nothing listens there now
	_, err = startServer(t, t.TempDir(), func(c *ServerConfig) {
		c.ObjectStore = "s3://no-such-bucket?region=us-east-1&use_path_style=true&endpoint=http://" + addr
	})
	if err == nil {
		t.Fatal("Run with an unreachable s3 object store succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "--object-store/ATELIER_OBJECT_STORE") || strings.Contains(msg, secret) {
		t.Errorf("error %q: want it to name --object-store/ATELIER_OBJECT_STORE and never the secret key", msg)
	}
	t.Logf("start error: %s", msg)
}
