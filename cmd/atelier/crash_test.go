package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/workload"
)

// serverArgsEnv makes the test binary act as `atelier` with these
// arguments (separated by \x1f), so that a test can SIGKILL a real server
// process.
const serverArgsEnv = "ATELIER_E2E_SERVER_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(serverArgsEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f")))
	}
	// Tasks run the test binary as their stager (ATELIER_TASK_STAGER): with
	// nothing of the server's environment, they are told by the argument.
	if len(os.Args) > 1 && os.Args[1] == workload.StageCommand {
		os.Exit(run(os.Args[1:]))
	}
	pgtest.Main(m)
}

// procServer is `atelier server` running as a child process.
type procServer struct {
	URL    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process is reaped
	stdout lockedBuffer
	stderr lockedBuffer
}

// MustStartProcess starts `atelier server` as a child process over dir,
// waits until it reports listening, and kills it when the test ends.
func MustStartProcess(t *testing.T, dir string, extraEnv ...string) *procServer {
	t.Helper()
	p := &procServer{cmd: exec.Command(os.Args[0], "-test.run=^$"), exited: make(chan struct{})}
	// The settings come from the flags and these variables only, never
	// from ATELIER_* variables of the environment the tests run in.
	env := []string{
		serverArgsEnv + "=" + strings.Join([]string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"}, "\x1f"),
		"ATELIER_ADMIN_EMAIL=" + testAdminEmail,
		"ATELIER_ADMIN_PASSWORD=" + testAdminPassword,
		"ATELIER_SANDBOX=" + testSandbox(),
	}
	env = append(env, extraEnv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATELIER_") {
			env = append(env, kv)
		}
	}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.stderr.String())
		}
	})
	waitFor(t, "the server process to report listening", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("the server process exited (%v); stderr:\n%s", p.cmd.ProcessState, p.stderr.String())
		default:
		}
		if m := listenLine.FindStringSubmatch(p.stdout.String()); m != nil {
			p.URL = m[1]
			return true
		}
		return false
	})
	return p
}

// kill sends SIGKILL and waits until the process is reaped; it is safe to
// call twice.
func (p *procServer) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// TestCrashKillMidUploadAndAfterAck kills a real server process in the
// middle of two uploads (a new key and an overwrite) and once right after
// it acknowledged an upload, restarts it on the same data dir each time,
// and checks that every acknowledged object reads back bit for bit, the
// interrupted ones are not there (the overwritten key keeps its old
// content), and the objects directory holds no temp file and exactly one
// blob per committed object.
func TestCrashKillMidUploadAndAfterAck(t *testing.T) {
	dir := t.TempDir()
	objects := filepath.Join(dir, "objects")
	srv := MustStartProcess(t, dir)
	token := MustLogin(t, &testServer{URL: srv.URL})
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash", token, nil, nil, nil), 201)

	done := randomBytes(t, 1<<20+3)
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash/done.bin", token, bytes.NewReader(done), nil, nil), 200)
	mustBlobsMatchListing(t, srv.URL, token, objects, 1)

	// Two uploads of 64 MiB, fed slowly and never finished: one of a new
	// key, one overwriting done.bin.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	partial := startEndlessUpload(t, client, srv.URL+"/v1/obs/crash/partial.bin", token)
	overwrite := startEndlessUpload(t, client, srv.URL+"/v1/obs/crash/done.bin", token)
	waitFor(t, "both interrupted uploads to put MiBs on the disk", func() bool {
		n, size := tempFiles(t, objects)
		return n == 2 && size >= 6<<20
	})
	srv.kill()
	for name, u := range map[string]*endlessUpload{"new key": partial, "overwrite": overwrite} {
		if err := u.stop(); err == nil {
			t.Errorf("the interrupted upload of a %s got an answer", name)
		}
	}
	if n, _ := tempFiles(t, objects); n != 2 {
		t.Fatalf("the kill left %d temp files, want 2; the test did not interrupt the writes", n)
	}

	srv = MustStartProcess(t, dir)
	token = MustLogin(t, &testServer{URL: srv.URL})
	mustBody(t, srv.URL+"/v1/obs/crash/done.bin", token, done)
	mustStatus(t, call(t, http.DefaultClient, "HEAD", srv.URL+"/v1/obs/crash/partial.bin", token, nil, nil, nil), 404)
	mustBlobsMatchListing(t, srv.URL, token, objects, 1)

	// Killed right after acknowledging an upload: the object survives.
	acked := randomBytes(t, 3<<20+5)
	mustStatus(t, call(t, http.DefaultClient, "PUT", srv.URL+"/v1/obs/crash/acked.bin", token, bytes.NewReader(acked), nil, nil), 200)
	srv.kill()

	srv = MustStartProcess(t, dir)
	token = MustLogin(t, &testServer{URL: srv.URL})
	mustBody(t, srv.URL+"/v1/obs/crash/acked.bin", token, acked)
	mustBody(t, srv.URL+"/v1/obs/crash/done.bin", token, done)
	mustBlobsMatchListing(t, srv.URL, token, objects, 2)
}

// endlessUpload is a PUT whose body is fed 256 KiB at a time until stop.
type endlessUpload struct {
	pw     *io.PipeWriter
	result chan error // the request's error, or nil if it got an answer
	fed    chan struct{}
}

// startEndlessUpload starts a PUT announcing 64 MiB and feeds it at most
// 48 MiB, so that it never completes.
func startEndlessUpload(t *testing.T, client *http.Client, url, token string) *endlessUpload {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 64 << 20
	req.Header.Set("Authorization", "Bearer "+token)
	u := &endlessUpload{pw: pw, result: make(chan error, 1), fed: make(chan struct{})}
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		u.result <- err
	}()
	chunk := randomBytes(t, 256<<10)
	go func() {
		defer close(u.fed)
		for range 48 << 20 / len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return // the request ended
			}
		}
	}()
	return u
}

// stop ends the body and returns the request's result.
func (u *endlessUpload) stop() error {
	u.pw.CloseWithError(io.ErrClosedPipe)
	<-u.fed
	select {
	case err := <-u.result:
		return err
	case <-time.After(30 * time.Second):
		return nil // no answer, but no error either: the caller reports it
	}
}

// mustBlobsMatchListing checks that the objects directory holds no temp
// file and one blob per object listed through the API, and that the API
// lists want objects.
func mustBlobsMatchListing(t *testing.T, base, token, objectsDir string, want int) {
	t.Helper()
	var buckets struct {
		Buckets []struct{ Name string } `json:"buckets"`
	}
	mustStatus(t, call(t, http.DefaultClient, "GET", base+"/v1/obs", token, nil, nil, &buckets), 200)
	listed := 0
	for _, b := range buckets.Buckets {
		q := url.Values{}
		for {
			var l struct {
				Objects     []struct{ Key string } `json:"objects"`
				IsTruncated bool                   `json:"is_truncated"`
				Next        string                 `json:"next_continuation_token"`
			}
			mustStatus(t, call(t, http.DefaultClient, "GET", base+"/v1/obs/"+url.PathEscape(b.Name)+"?"+q.Encode(), token, nil, nil, &l), 200)
			listed += len(l.Objects)
			if !l.IsTruncated {
				break
			}
			q.Set("continuation_token", l.Next)
		}
	}
	if listed != want {
		t.Errorf("the API lists %d objects, want %d", listed, want)
	}
	if n, size := tempFiles(t, objectsDir); n != 0 {
		t.Errorf("%d temp files (%d bytes) remain in the objects directory", n, size)
	}
	if blobs := countFiles(t, objectsDir); blobs != listed {
		t.Errorf("the objects directory holds %d files for %d listed objects", blobs, listed)
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

// tempFiles returns how many of the backend's temp files (*.tmp) are under
// dir and their bytes.
func tempFiles(t *testing.T, dir string) (n int, size int64) {
	t.Helper()
	walkFiles(t, dir, func(path string, info fs.FileInfo) {
		if strings.HasSuffix(path, ".tmp") {
			n++
			size += info.Size()
		}
	})
	return n, size
}

// countFiles returns how many regular files are under dir.
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
