package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serverArgsEnv makes the test binary act as `atelier` with these
// arguments (separated by \x1f), so that a test can SIGKILL a real server
// process.
const serverArgsEnv = "ATELIER_E2E_SERVER_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(serverArgsEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f")))
	}
	os.Exit(m.Run())
}

// procServer is a server running as a child process.
type procServer struct {
	cmd *exec.Cmd
	URL string
}

// MustStartProcess starts the server as a child process over dir and kills
// it when the test ends.
func MustStartProcess(t *testing.T, dir string) *procServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		serverArgsEnv+"="+strings.Join([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir}, "\x1f"),
		"ATELIER_ADMIN_EMAIL="+testAdminEmail, "ATELIER_ADMIN_PASSWORD="+testAdminPassword, "ATELIER_LOG_LEVEL=warn")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &procServer{cmd: cmd}
	t.Cleanup(p.kill)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.URL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("server process did not report listening; stderr:\n%s", stderr.String())
	}
	return p
}

// kill sends SIGKILL and reaps the process; it is safe to call twice.
func (p *procServer) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// TestKilledServerLosesNothingAcknowledged kills a real server process in
// the middle of an upload and right after acknowledging one, restarts it
// on the same data dir, and checks that the acknowledged objects are there
// bit for bit, the interrupted one is not, and no partial file remains.
func TestKilledServerLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	srv := MustStartProcess(t, dir)
	token := MustLogin(t, &testServer{URL: srv.URL})
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash", token, nil, nil, nil), 201)

	done := randomBytes(t, 1<<20)
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash/done.bin", token, bytes.NewReader(done), nil, nil), 200)

	// An upload of 64 MiB of which only 8 MiB ever arrive.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", srv.URL+"/v1/obs/crash/partial.bin", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 64 << 20
	req.Header.Set("Authorization", "Bearer "+token)
	uploadErr := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		uploadErr <- err
	}()
	chunk := randomBytes(t, 1<<20)
	for range 8 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	objects := filepath.Join(dir, "objects")
	waitFor(t, "the partial upload to reach the disk", func() bool {
		return sizeOfTemps(t, objects) >= 4<<20
	})
	srv.kill()
	pw.CloseWithError(io.ErrClosedPipe)
	if err := <-uploadErr; err == nil {
		t.Fatal("the interrupted upload got an answer")
	}
	if sizeOfTemps(t, objects) == 0 {
		t.Fatal("the kill left no temp file; the test did not interrupt a write")
	}

	srv = MustStartProcess(t, dir)
	token = MustLogin(t, &testServer{URL: srv.URL})
	mustBody(t, srv.URL+"/v1/obs/crash/done.bin", token, done)
	mustStatus(t, call(t, http.DefaultClient, "HEAD", srv.URL+"/v1/obs/crash/partial.bin", token, nil, nil, nil), 404)
	if n := sizeOfTemps(t, objects); n != 0 {
		t.Errorf("%d bytes of temp files remain after the restart", n)
	}
	if got := countFiles(t, objects); got != 1 {
		t.Errorf("objects dir holds %d files, want 1 (done.bin's blob)", got)
	}

	// Killed right after acknowledging: the object must survive.
	acked := randomBytes(t, 3<<20)
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash/acked.bin", token, bytes.NewReader(acked), nil, nil), 200)
	srv.kill()
	srv = MustStartProcess(t, dir)
	token = MustLogin(t, &testServer{URL: srv.URL})
	mustBody(t, srv.URL+"/v1/obs/crash/acked.bin", token, acked)
	mustBody(t, srv.URL+"/v1/obs/crash/done.bin", token, done)
	if got := countFiles(t, objects); got != 2 {
		t.Errorf("objects dir holds %d files, want 2", got)
	}
}

func mustBody(t *testing.T, url, token string, want []byte) {
	t.Helper()
	resp := call(t, http.DefaultClient, "GET", url, token, nil, nil, nil)
	mustStatus(t, resp, 200)
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, want) {
		t.Fatalf("GET %s: %d bytes differ from the %d uploaded", url, len(got), len(want))
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond every 10 ms until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// sizeOfTemps returns the bytes in the backend's temp files (*.tmp) under dir.
func sizeOfTemps(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	walkFiles(t, dir, func(path string, info fs.FileInfo) {
		if strings.HasSuffix(path, ".tmp") {
			n += info.Size()
		}
	})
	return n
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	walkFiles(t, dir, func(string, fs.FileInfo) { n++ })
	return n
}

func walkFiles(t *testing.T, dir string, fn func(path string, info fs.FileInfo)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a temp file renamed or removed under us
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return nil
			}
			fn(path, info)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}
