package training_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/localexec"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/ziptest"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/training"
	"github.com/atelier-dev/atelier/workload"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

const flavor = "modelarts.vm.cpu.2u"

// harness is a training Service over the real SQLite store, the real
// object store on a file backend and the local executor, with a fake
// clock and a context of tenant A.
type harness struct {
	t       testing.TB
	dir     string
	st      store.Store
	objects atelier.ObjectService
	execs   *executor.Set
	rt      *workload.Runtime
	svc     *training.Service
	clk     *clock.Fake
	ctx     context.Context
	opts    training.Options

	mu     sync.Mutex
	events []atelier.JobEvent
	kick   chan struct{}
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	be, err := blobstore.OpenBackend(t.Context(), "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	discard := slog.New(slog.DiscardHandler)
	h := &harness{
		t: t, dir: dir, st: st,
		objects: obs.New(st, be, obs.Options{Logger: discard}),
		clk:     clock.NewFake(t0),
		ctx:     atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u1", TenantID: "tenant-a"}),
		kick:    make(chan struct{}, 1),
	}
	h.opts = training.Options{
		Clock:    h.clk,
		Logger:   discard,
		WorkRoot: filepath.Join(dir, "work"),
		Flavors: []*atelier.Flavor{
			{ID: flavor, Name: "2 cores", MaxNum: 2, CPU: 2, Executor: "local"},
		},
		Frameworks: []*atelier.Framework{
			{Type: "PyTorch", Version: "PyTorch-1.4.0-python3.6", Interpreter: "python3"},
			{Type: "Python", Version: "3", Interpreter: "python3"},
		},
		OnEvent: func(e atelier.JobEvent) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
			select {
			case h.kick <- struct{}{}:
			default:
			}
		},
	}
	h.startExec()
	h.startService(h.objects)
	if _, err := h.objects.CreateBucket(h.ctx, "data"); err != nil {
		t.Fatal(err)
	}
	return h
}

// sandbox is the local driver's sandbox in these tests: bubblewrap where
// it is installed, none elsewhere so that a fresh machine runs them, unless
// ATELIER_REQUIRE_SANDBOX is set (CI), which makes a missing bwrap a failure.
func sandbox(t testing.TB) string {
	t.Helper()
	if _, err := osexec.LookPath("bwrap"); err == nil {
		return localexec.SandboxBwrap
	}
	if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
		t.Fatal("ATELIER_REQUIRE_SANDBOX is set but bubblewrap is not installed")
	}
	return localexec.SandboxNone
}

// startExec starts the local executor (over the harness's state, like a
// restarted server) and the workload runtime.
func (h *harness) startExec() {
	h.t.Helper()
	state := filepath.Join(h.dir, "executor")
	d, err := localexec.New(h.t.Context(), localexec.Options{
		StateDir: filepath.Join(state, "local"), Sandbox: sandbox(h.t), SearchRoots: []string{h.dir},
		PollInterval: 10 * time.Millisecond, Grace: 2 * time.Second, Logger: h.opts.Logger,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ex, err := executor.Open(h.t.Context(), d, executor.Options{StateDir: filepath.Join(state, "journal"), Slots: 4, Clock: h.clk, PollInterval: time.Second, Logger: h.opts.Logger})
	if err != nil {
		h.t.Fatal(err)
	}
	set, err := executor.NewSet(localexec.Name, ex)
	if err != nil {
		h.t.Fatal(err)
	}
	h.execs = set
	h.rt = workload.New(h.objects, set, workload.Options{Clock: h.clk, Logger: h.opts.Logger, StopGrace: 2 * time.Second})
	h.t.Cleanup(func() {
		h.rt.Stop()
		set.Close()
	})
}

// restart stops the service, the runtime and the executor as a server's
// shutdown does (tasks keep running) and starts new ones over the same
// store and state.
func (h *harness) restart() {
	h.t.Helper()
	h.svc.Stop()
	h.rt.Stop()
	h.execs.Close()
	h.startExec()
	h.startService(h.objects)
}

func (h *harness) startService(objects atelier.ObjectService) {
	svc := training.New(h.st, objects, h.rt, h.opts)
	svc.Start(h.t.Context())
	h.t.Cleanup(svc.Stop)
	h.svc = svc
}

func (h *harness) mustPut(key, data string) {
	h.t.Helper()
	if _, err := h.objects.PutObject(h.ctx, "data", key, strings.NewReader(data), atelier.PutOptions{Size: int64(len(data))}); err != nil {
		h.t.Fatalf("put %s: %v", key, err)
	}
}

func (h *harness) mustGet(key string) string {
	h.t.Helper()
	_, rc, _, err := h.objects.GetObject(h.ctx, "data", key, nil)
	if err != nil {
		h.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// waitState polls the version until it is in state want, moving the fake
// clock so that the service polls the executor, and fails the test after
// a deadline or when the version ends in another state.
func (h *harness) waitState(jobID string, n int64, want string) *atelier.JobVersion {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := h.svc.GetVersion(h.ctx, jobID, n)
		if err != nil {
			h.t.Fatalf("GetVersion: %v", err)
		}
		if v.State == want {
			return v
		}
		if atelier.JobStateFinal(v.State) {
			h.t.Fatalf("version %d is %s (%s), want %s", n, v.State, v.Reason, want)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("version %d still %s after the deadline, want %s", n, v.State, want)
		}
		h.clk.Advance(time.Second)
		select {
		case <-h.kick:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *harness) eventStates(jobID string, n int64) []string {
	h.t.Helper()
	evs, err := h.svc.ListEvents(h.ctx, jobID, n)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.State)
	}
	return out
}

func wantCode(t testing.TB, err error, code atelier.Code, field string) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code.ID)
	}
	if ae.Code != code.ID || ae.Field != field {
		t.Fatalf("err = %s field %q (%s), want %s field %q", ae.Code, ae.Field, ae.Message, code.ID, field)
	}
}

func str(s string) *string { return &s }

// trainPy checks its inputs, writes its output and prints what it saw as
// one JSON line.
const trainPy = `import json, os, sys
args = sys.argv[1:]
kv = dict(a[2:].split("=", 1) for a in args if "=" in a)
data = kv["data_url"]
out = kv["output_dir"]
rank = int(os.environ.get("RANK", "0"))
seen = {
  "args": args,
  "rank": rank,
  "world": os.environ.get("WORLD_SIZE"),
  "a": open(os.path.join(data, "a.txt")).read(),
  "nested": open(os.path.join(data, "sub", "b.txt")).read(),
  "zipped": open(os.path.join(kv["zip_url"], "z", "c.txt")).read(),
  "job": os.environ.get("ATELIER_JOB_ID"),
}
if rank == 0:
  os.makedirs(os.path.join(out, "ckpt"), exist_ok=True)
  with open(os.path.join(out, "ckpt", "model.txt"), "w") as f:
    f.write("weights " + seen["a"])
print("SEEN " + json.dumps(seen), flush=True)
`

func (h *harness) fullSpec() atelier.JobSpec {
	h.mustPut("code/train.py", trainPy)
	h.mustPut("code/lib/util.py", "X = 1\n")
	h.mustPut("in/a.txt", "alpha")
	h.mustPut("in/sub/b.txt", "beta")
	h.mustPut("zips/ds.zip", string(ziptest.Bytes(h.t, map[string]string{"z/c.txt": "gamma"})))
	return atelier.JobSpec{
		Framework: "PyTorch",
		CodeDir:   "obs://data/code/",
		BootFile:  "train.py",
		Parameters: []atelier.JobParam{
			{Name: "data_url", Value: str("/home/ma-user/work/data/")},
			{Name: "zip_url", Value: str("/home/ma-user/work/zipdata")},
			{Name: "output_dir", Value: str("/home/ma-user/work/output/")},
			{Name: "dist"},
			{Name: "msg", Value: str("hello world")},
		},
		Inputs: []atelier.JobInput{
			{ObsPath: "obs://data/in/", LocalPath: "/home/ma-user/work/data/"},
			{ObsPath: "/data/zips/ds.zip", LocalPath: "/home/ma-user/work/zipdata/"},
		},
		Outputs:       []atelier.JobOutput{{ObsPath: "obs://data/out/", LocalPath: "/home/ma-user/work/output/"}},
		LogURL:        "obs://data/log/",
		Flavor:        flavor,
		InstanceCount: 2,
	}
}

type seen struct {
	Args   []string `json:"args"`
	Rank   int      `json:"rank"`
	World  string   `json:"world"`
	A      string   `json:"a"`
	Nested string   `json:"nested"`
	Zipped string   `json:"zipped"`
	Job    string   `json:"job"`
}

func parseSeen(t testing.TB, log string) seen {
	t.Helper()
	for line := range strings.Lines(log) {
		if rest, ok := strings.CutPrefix(line, "SEEN "); ok {
			var s seen
			if err := json.Unmarshal([]byte(rest), &s); err != nil {
				t.Fatalf("bad SEEN line %q: %v", line, err)
			}
			return s
		}
	}
	t.Fatalf("no SEEN line in log %q", log)
	return seen{}
}

func TestJobRunsToCompletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	j, v, err := h.svc.SubmitJob(h.ctx, "cifar10-dis", "a test", h.fullSpec())
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	if j.Name != "cifar10-dis" || v.VersionID != 1 || v.Name != "V0001" || v.State != atelier.JobCreating {
		t.Fatalf("job %+v version %+v", j, v)
	}
	v = h.waitState(j.ID, 1, atelier.JobCompleted)
	if v.ExitCode == nil || *v.ExitCode != 0 || v.StartedAt.IsZero() || v.FinishedAt.IsZero() {
		t.Errorf("completed version: exit %v started %v finished %v", v.ExitCode, v.StartedAt, v.FinishedAt)
	}
	if got, want := h.eventStates(j.ID, 1), []string{"CREATING", "QUEUED", "RUNNING", "COMPLETED"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	h.mu.Lock()
	var hooked []string
	for _, e := range h.events {
		hooked = append(hooked, e.State)
	}
	h.mu.Unlock()
	if want := []string{"CREATING", "QUEUED", "RUNNING", "COMPLETED"}; !slices.Equal(hooked, want) {
		t.Errorf("OnEvent states = %v, want %v", hooked, want)
	}

	// Outputs and both workers' logs are uploaded.
	if got := h.mustGet("out/ckpt/model.txt"); got != "weights alpha" {
		t.Errorf("output = %q", got)
	}
	work := filepath.Join(h.opts.WorkRoot, j.ID, "v1")
	for rank := range 2 {
		log := h.mustGet("log/cifar10-dis-v1-worker-" + string(rune('0'+rank)) + ".log")
		s := parseSeen(t, log)
		wantArgs := []string{
			"--data_url=" + filepath.Join(work, "inputs", "0") + "/",
			"--zip_url=" + filepath.Join(work, "inputs", "1"),
			"--output_dir=" + filepath.Join(work, "outputs", "0") + "/",
			"--dist",
			"--msg=hello world",
		}
		if !slices.Equal(s.Args, wantArgs) {
			t.Errorf("worker %d args = %q, want %q", rank, s.Args, wantArgs)
		}
		if s.Rank != rank || s.World != "2" || s.A != "alpha" || s.Nested != "beta" || s.Zipped != "gamma" || s.Job != j.ID {
			t.Errorf("worker %d saw %+v", rank, s)
		}
	}

	// OpenLog serves the log from an offset; a bad task is named.
	rc, err := h.svc.OpenLog(h.ctx, j.ID, 0, "worker-1", 5, false)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if full := h.mustGet("log/cifar10-dis-v1-worker-1.log"); string(b) != full[5:] {
		t.Errorf("OpenLog from 5 = %q, want %q", b, full[5:])
	}
	_, err = h.svc.OpenLog(h.ctx, j.ID, 1, "worker-2", 0, false)
	wantCode(t, err, atelier.CodeTaskNotFound, "task")

	// Another tenant sees nothing.
	other := atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u2", TenantID: "tenant-b"})
	if _, err := h.svc.GetJob(other, j.ID); atelier.ErrorCode(err) != atelier.CodeJobNotFound.ID {
		t.Errorf("GetJob from another tenant: %v", err)
	}
	page, err := h.svc.ListJobs(h.ctx, atelier.JobFilter{})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].State != atelier.JobCompleted || page.Jobs[0].LatestVersion != 1 {
		t.Errorf("ListJobs = %+v, %v", page, err)
	}
}

func TestCreateJobVersionCopiesSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/echo.py", "import sys\nprint('ARGS', sys.argv[1:])\n")
	spec := atelier.JobSpec{
		CodeDir: "/data/code/", BootFile: "/data/code/echo.py", // v1 style: an OBS boot file
		Parameters: []atelier.JobParam{{Name: "lr", Value: str("0.1")}},
		LogURL:     "/data/log/", Flavor: flavor, InstanceCount: 1,
		Env: map[string]string{"GREETING": "hi"},
	}
	j, _, err := h.svc.SubmitJob(h.ctx, "", "first", spec)
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	if !strings.HasPrefix(j.Name, "job-") {
		t.Errorf("generated name %q", j.Name)
	}
	h.waitState(j.ID, 1, atelier.JobCompleted)
	v2, err := h.svc.CreateJobVersion(h.ctx, j.ID, 1, "", atelier.JobSpec{Parameters: []atelier.JobParam{{Name: "lr", Value: str("0.01")}}})
	if err != nil {
		t.Fatalf("CreateJobVersion: %v", err)
	}
	if v2.VersionID != 2 || v2.Name != "V0002" || v2.Desc != "first" {
		t.Errorf("v2 = %+v", v2)
	}
	if v2.Spec.CodeDir != "obs://data/code/" || v2.Spec.BootFile != "echo.py" || v2.Spec.Flavor != flavor || v2.Spec.Env["GREETING"] != "hi" || v2.Spec.LogURL != "/data/log/" {
		t.Errorf("v2 spec not copied: %+v", v2.Spec)
	}
	h.waitState(j.ID, 2, atelier.JobCompleted)
	if log := h.mustGet("log/" + j.Name + "-v2-worker-0.log"); !strings.Contains(log, "ARGS ['--lr=0.01']") {
		t.Errorf("v2 log = %q", log)
	}
	vs, err := h.svc.ListVersions(h.ctx, j.ID)
	if err != nil || len(vs) != 2 || vs[0].VersionID != 2 {
		t.Fatalf("ListVersions = %v, %v", vs, err)
	}
	if _, err := h.svc.CreateJobVersion(h.ctx, j.ID, 9, "", atelier.JobSpec{}); atelier.ErrorCode(err) != atelier.CodeJobNotFound.ID {
		t.Errorf("CreateJobVersion from a missing version: %v", err)
	}
}

func TestExitCodeFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/fail.py", "import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n")
	j, _, err := h.svc.SubmitJob(h.ctx, "fails", "", atelier.JobSpec{CodeDir: "obs://data/code/", BootFile: "fail.py", Flavor: flavor})
	if err != nil {
		t.Fatal(err)
	}
	v := h.waitState(j.ID, 1, atelier.JobFailed)
	if v.ExitCode == nil || *v.ExitCode != 3 || !strings.Contains(v.Reason, "3") {
		t.Errorf("failed version: exit %v reason %q", v.ExitCode, v.Reason)
	}
	if got := h.eventStates(j.ID, 1); got[len(got)-1] != atelier.JobFailed {
		t.Errorf("events = %v", got)
	}
}

func TestUserCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("in/x.txt", "ex")
	j, _, err := h.svc.SubmitJob(h.ctx, "cmd", "", atelier.JobSpec{
		UserCommand: `cat /mnt/in/x.txt; echo " args:$*"`,
		Parameters:  []atelier.JobParam{{Name: "k", Value: str("v")}},
		Inputs:      []atelier.JobInput{{ObsPath: "obs://data/in/", LocalPath: "/mnt/in"}},
		LogURL:      "obs://data/log/", Flavor: flavor,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(j.ID, 1, atelier.JobCompleted)
	if log := h.mustGet("log/cmd-v1-worker-0.log"); log != "ex args:--k=v\n" {
		t.Errorf("log = %q", log)
	}
}

// sleeper runs until the file "release" appears in its working directory
// (or 60s pass), printing "started" first.
const sleeper = `import os, time
print("started", flush=True)
p = os.path.join(os.environ["ATELIER_WORK_DIR"], "release")
for _ in range(6000):
  if os.path.exists(p):
    break
  time.sleep(0.01)
print("done", flush=True)
`

func TestStopWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/sleep.py", sleeper)
	j, _, err := h.svc.SubmitJob(h.ctx, "sleepy", "", atelier.JobSpec{CodeDir: "obs://data/code/", BootFile: "sleep.py", Flavor: flavor, LogURL: "obs://data/log/"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(j.ID, 1, atelier.JobRunning)
	// Follow the live log until the script has started.
	rc, err := h.svc.OpenLog(h.ctx, j.ID, 1, "worker-0", 0, true)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	if line, err := br.ReadString('\n'); line != "started\n" {
		t.Fatalf("first log line = %q, %v", line, err)
	}
	v, err := h.svc.StopVersion(h.ctx, j.ID, 1)
	if err != nil {
		t.Fatalf("StopVersion: %v", err)
	}
	if v.State != atelier.JobStopped || v.ExitCode == nil {
		t.Errorf("StopVersion returned %s, exit code %v", v.State, v.ExitCode)
	}
	// The followed log ends with the version.
	if rest, err := io.ReadAll(br); err != nil || strings.Contains(string(rest), "done") {
		t.Errorf("rest of the followed log = %q, %v", rest, err)
	}
	// Stopping again is not an error.
	if v, err = h.svc.StopVersion(h.ctx, j.ID, 0); err != nil || v.State != atelier.JobStopped {
		t.Errorf("second StopVersion = %v, %v", v, err)
	}
	h.svc.Stop() // waits for the follower to finish the uploads
	if got, want := h.eventStates(j.ID, 1), []string{"CREATING", "QUEUED", "RUNNING", "STOPPED"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if log := h.mustGet("log/sleepy-v1-worker-0.log"); !strings.Contains(log, "started") || strings.Contains(log, "done") {
		t.Errorf("log = %q", log)
	}
}

// blockingObjects blocks GetObject of one key until its context ends.
type blockingObjects struct {
	atelier.ObjectService
	key     string
	entered chan struct{}
}

func (b *blockingObjects) GetObject(ctx context.Context, bucket, key string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
	if key == b.key && rng == nil {
		close(b.entered)
		<-ctx.Done()
		return nil, nil, nil, ctx.Err()
	}
	return b.ObjectService.GetObject(ctx, bucket, key, rng)
}

func TestStopDuringStaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/train.py", "open('ran', 'w').write('x')\n")
	h.mustPut("in/big.bin", "pretend this is large")
	h.svc.Stop()
	blk := &blockingObjects{ObjectService: h.objects, key: "in/big.bin", entered: make(chan struct{})}
	// The runtime stages object inputs: it gets the blocking store too.
	h.rt.Stop()
	h.rt = workload.New(blk, h.execs, workload.Options{Clock: h.clk, Logger: h.opts.Logger, StopGrace: 2 * time.Second})
	h.t.Cleanup(h.rt.Stop)
	h.startService(blk)
	j, _, err := h.svc.SubmitJob(h.ctx, "staging", "", atelier.JobSpec{
		CodeDir: "obs://data/code/", BootFile: "train.py", Flavor: flavor,
		Inputs: []atelier.JobInput{{ObsPath: "obs://data/in/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-blk.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("staging never reached the input")
	}
	v, err := h.svc.StopVersion(h.ctx, j.ID, 1)
	if err != nil || v.State != atelier.JobStopped {
		t.Fatalf("StopVersion = %+v, %v", v, err)
	}
	h.svc.Stop() // waits for the staging goroutine
	v, err = h.svc.GetVersion(h.ctx, j.ID, 1)
	if err != nil || v.State != atelier.JobStopped || v.ExitCode != nil {
		t.Fatalf("version = %+v, %v", v, err)
	}
	if got, want := h.eventStates(j.ID, 1), []string{"CREATING", "STOPPED"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	work := filepath.Join(h.opts.WorkRoot, j.ID, "v1")
	for _, p := range []string{".atelier", "ran"} {
		if _, err := os.Stat(filepath.Join(work, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a stop during staging: %v", p, err)
		}
	}
}

func TestBadSubmissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/train.py", "print(1)\n")
	h.mustPut("code.zip", string(ziptest.Bytes(t, map[string]string{"train.py": "print(1)\n"})))
	h.mustPut("in/a.txt", "a")
	h.mustPut("evil.zip", string(ziptest.Bytes(t, map[string]string{"ok.txt": "x", "../evil": "x"})))
	good := func() atelier.JobSpec {
		return atelier.JobSpec{CodeDir: "obs://data/code/", BootFile: "train.py", Flavor: flavor, InstanceCount: 1}
	}
	tests := []struct {
		name    string
		jobName string
		edit    func(s *atelier.JobSpec)
		code    atelier.Code
		field   string
	}{
		{"missing boot file", "", func(s *atelier.JobSpec) { s.BootFile = "nope.py" }, atelier.CodeJobInputMissing, "spec.boot_file"},
		{"missing boot file in zip", "", func(s *atelier.JobSpec) { s.CodeDir = "obs://data/code.zip"; s.BootFile = "nope.py" }, atelier.CodeJobInputMissing, "spec.boot_file"},
		{"code dir is a file", "", func(s *atelier.JobSpec) { s.CodeDir = "obs://data/code/train.py" }, atelier.CodeInvalidJobSpec, "spec.code_dir"},
		{"code dir missing", "", func(s *atelier.JobSpec) { s.CodeDir = "obs://data/nothing/" }, atelier.CodeJobInputMissing, "spec.code_dir"},
		{"code dir in a missing bucket", "", func(s *atelier.JobSpec) { s.CodeDir = "obs://nobucket/code/" }, atelier.CodeJobInputMissing, "spec.code_dir"},
		{"boot file escapes", "", func(s *atelier.JobSpec) { s.BootFile = "../x.py" }, atelier.CodeInvalidJobSpec, "spec.boot_file"},
		{"no boot file nor command", "", func(s *atelier.JobSpec) { s.BootFile = "" }, atelier.CodeInvalidJobSpec, "spec.boot_file"},
		{"invalid job name", "bad name!", func(s *atelier.JobSpec) {}, atelier.CodeInvalidJobName, "job_name"},
		{"job name too long", strings.Repeat("a", 65), func(s *atelier.JobSpec) {}, atelier.CodeInvalidJobName, "job_name"},
		{"unknown flavor", "", func(s *atelier.JobSpec) { s.Flavor = "modelarts.vm.gpu.p100" }, atelier.CodeUnknownFlavor, "spec.flavor_id"},
		{"instance count above max_num", "", func(s *atelier.JobSpec) { s.InstanceCount = 3 }, atelier.CodeTooManyInstances, "spec.train_instance_count"},
		{"unknown framework", "", func(s *atelier.JobSpec) { s.Framework = "Caffe" }, atelier.CodeUnknownFramework, "spec.framework_type"},
		{"unknown framework version", "", func(s *atelier.JobSpec) { s.Framework = "PyTorch"; s.FrameworkVersion = "9" }, atelier.CodeUnknownFramework, "spec.framework_version"},
		{"input path missing", "", func(s *atelier.JobSpec) {
			s.Inputs = []atelier.JobInput{{ObsPath: "obs://data/in/"}, {ObsPath: "obs://data/missing/"}}
		}, atelier.CodeJobInputMissing, "spec.inputs[1].obs_path"},
		{"input zip with ../evil", "", func(s *atelier.JobSpec) { s.Inputs = []atelier.JobInput{{ObsPath: "obs://data/evil.zip"}} }, atelier.CodeInvalidJobSpec, "spec.inputs[0].obs_path"},
		{"output not a dir", "", func(s *atelier.JobSpec) { s.Outputs = []atelier.JobOutput{{ObsPath: "obs://data/out"}} }, atelier.CodeInvalidJobSpec, "spec.outputs[0].obs_path"},
		{"output bucket missing", "", func(s *atelier.JobSpec) { s.Outputs = []atelier.JobOutput{{ObsPath: "obs://nobucket/out/"}} }, atelier.CodeJobInputMissing, "spec.outputs[0].obs_path"},
		{"bad parameter name", "", func(s *atelier.JobSpec) { s.Parameters = []atelier.JobParam{{Name: "--x"}} }, atelier.CodeInvalidJobSpec, "spec.parameters[0].name"},
		{"dataset input", "", func(s *atelier.JobSpec) { s.Inputs = []atelier.JobInput{{DatasetID: "d", DatasetVersionID: "v"}} }, atelier.CodeInvalidJobSpec, "spec.inputs[0].dataset_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good()
			tt.edit(&spec)
			name := cmpOr(tt.jobName, "job-"+strings.NewReplacer(" ", "-", ".", "", "/", "").Replace(tt.name))
			_, _, err := h.svc.SubmitJob(h.ctx, name, "", spec)
			wantCode(t, err, tt.code, tt.field)
		})
	}
	page, err := h.svc.ListJobs(h.ctx, atelier.JobFilter{})
	if err != nil || len(page.Jobs) != 0 {
		t.Errorf("bad submissions left jobs behind: %+v, %v", page, err)
	}
	// The name is unique per tenant.
	if _, _, err := h.svc.SubmitJob(h.ctx, "dup", "", good()); err != nil {
		t.Fatal(err)
	}
	_, _, err = h.svc.SubmitJob(h.ctx, "dup", "", good())
	wantCode(t, err, atelier.CodeJobExists, "job_name")
}

// TestObjectPathSpellings is what a new user tried: a scheme in capitals is
// the same path (CONTRACT §2), and a bucket the object store would refuse
// is a bad request naming the field, not a missing input.
func TestObjectPathSpellings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/train.py", "print(1)\n")
	h.mustPut("in/a.txt", "a")
	spec := atelier.JobSpec{
		CodeDir: "OBS://data/code/", BootFile: "train.py", Flavor: flavor, InstanceCount: 1,
		Inputs:  []atelier.JobInput{{ObsPath: "S3://data/in/"}},
		Outputs: []atelier.JobOutput{{ObsPath: "Obs://data/out/"}},
		LogURL:  "OBS://data/log/",
	}
	_, v, err := h.svc.SubmitJob(h.ctx, "capital-scheme", "", spec)
	if err != nil {
		t.Fatalf("SubmitJob with OBS:// paths: %v", err)
	}
	if v.Spec.CodeDir != "obs://data/code/" || v.Spec.Inputs[0].ObsPath != "obs://data/in/" {
		t.Errorf("stored paths %q, %q; want the obs:// spelling", v.Spec.CodeDir, v.Spec.Inputs[0].ObsPath)
	}
	h.waitState(v.JobID, 1, atelier.JobCompleted)

	for _, tt := range []struct {
		field string
		edit  func(s *atelier.JobSpec)
	}{
		{"spec.code_dir", func(s *atelier.JobSpec) { s.CodeDir = "obs://Bad_Bucket/x/" }},
		{"spec.inputs[0].obs_path", func(s *atelier.JobSpec) { s.Inputs[0].ObsPath = "obs://Bad_Bucket/x/" }},
		{"spec.outputs[0].obs_path", func(s *atelier.JobSpec) { s.Outputs[0].ObsPath = "obs://Bad_Bucket/x/" }},
		{"spec.log_url", func(s *atelier.JobSpec) { s.LogURL = "/Bad_Bucket/x/" }},
		{"spec.inputs[0].obs_path", func(s *atelier.JobSpec) { s.Inputs[0].ObsPath = "obs://data/in//a.txt" }},
	} {
		t.Run(tt.field, func(t *testing.T) {
			s := spec
			s.Inputs = slices.Clone(spec.Inputs)
			s.Outputs = slices.Clone(spec.Outputs)
			tt.edit(&s)
			_, _, err := h.svc.SubmitJob(h.ctx, "bad-path", "", s)
			wantCode(t, err, atelier.CodeInvalidJobSpec, tt.field)
			if msg := atelier.ErrorMessage(err); !strings.Contains(msg, tt.field) || !strings.Contains(msg, "The ") {
				t.Errorf("message %q does not name %s and say what is wrong", msg, tt.field)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestRestartReadoptsRunningJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/sleep.py", sleeper)
	h.mustPut("out/.keep", "")
	j, _, err := h.svc.SubmitJob(h.ctx, "survivor", "", atelier.JobSpec{
		CodeDir: "obs://data/code/", BootFile: "sleep.py", Flavor: flavor, LogURL: "obs://data/log/",
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(j.ID, 1, atelier.JobRunning)
	// The server goes away: the service and the executor stop watching,
	// the worker keeps running.
	h.restart()
	work := filepath.Join(h.opts.WorkRoot, j.ID, "v1")
	if err := os.WriteFile(filepath.Join(work, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v := h.waitState(j.ID, 1, atelier.JobCompleted)
	if v.ExitCode == nil || *v.ExitCode != 0 {
		t.Errorf("exit code %v", v.ExitCode)
	}
	if log := h.mustGet("log/survivor-v1-worker-0.log"); log != "started\ndone\n" {
		t.Errorf("log = %q", log)
	}
	if got, want := h.eventStates(j.ID, 1), []string{"CREATING", "QUEUED", "RUNNING", "COMPLETED"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestRestartFailsWhatCannotContinue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.svc.Stop()
	now := t0
	mk := func(name, handle string) string {
		j := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: "tenant-a", Name: name, CreatedAt: now, UpdatedAt: now}
		v := &atelier.JobVersion{JobID: j.ID, TenantID: "tenant-a", Name: "V0001", State: atelier.JobCreating, CreatedAt: now,
			Spec: atelier.JobSpec{Flavor: flavor, InstanceCount: 1, UserCommand: "true"}}
		if err := h.st.CreateJob(t.Context(), j, v); err != nil {
			t.Fatal(err)
		}
		if handle != "" {
			if _, err := h.st.UpdateVersion(t.Context(), j.ID, 1, now, func(v *atelier.JobVersion) error {
				v.State, v.Handle = atelier.JobRunning, handle
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return j.ID
	}
	staging := mk("staging", "")
	lost := mk("lost", `{"driver":"local","version":1,"id":"gone-v1","data":{"state":"/nonexistent/gang.json"}}`)
	h.startService(h.objects)
	if v := h.waitState(staging, 1, atelier.JobFailed); v.Reason != training.ReasonRestartedStaging {
		t.Errorf("staging reason = %q", v.Reason)
	}
	if v := h.waitState(lost, 1, atelier.JobFailed); v.Reason != training.ReasonLost {
		t.Errorf("lost reason = %q", v.Reason)
	}
}

func TestDeleteJobStopsAndRemoves(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustPut("code/sleep.py", sleeper)
	j, _, err := h.svc.SubmitJob(h.ctx, "doomed", "", atelier.JobSpec{CodeDir: "obs://data/code/", BootFile: "sleep.py", Flavor: flavor})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(j.ID, 1, atelier.JobRunning)
	if err := h.svc.DeleteJob(h.ctx, j.ID); err != nil {
		t.Fatalf("DeleteJob: %v", err)
	}
	if _, err := h.svc.GetJob(h.ctx, j.ID); atelier.ErrorCode(err) != atelier.CodeJobNotFound.ID {
		t.Errorf("GetJob after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.opts.WorkRoot, j.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory left: %v", err)
	}
}

func TestFlavorsAndFrameworks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fl, err := h.svc.ListFlavors(h.ctx)
	if err != nil || len(fl) != 1 || fl[0].ID != flavor || fl[0].MaxNum != 2 {
		t.Errorf("ListFlavors = %v, %v", fl, err)
	}
	fw, err := h.svc.ListFrameworks(h.ctx)
	if err != nil || len(fw) != 2 || fw[0].Type != "PyTorch" {
		t.Errorf("ListFrameworks = %v, %v", fw, err)
	}
	if _, err := h.svc.ListFlavors(t.Context()); atelier.ErrorKind(err) != atelier.Unauthenticated {
		t.Errorf("ListFlavors without a principal: %v", err)
	}
}

func TestListJobsPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var ids []string
	for _, name := range []string{"j1", "j2", "j3"} {
		j, _, err := h.svc.SubmitJob(h.ctx, name, "", atelier.JobSpec{UserCommand: "true", Flavor: flavor})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		h.clk.Advance(time.Second) // distinct creation times
	}
	for _, id := range ids {
		h.waitState(id, 1, atelier.JobCompleted)
	}
	p1, err := h.svc.ListJobs(h.ctx, atelier.JobFilter{Limit: 2})
	if err != nil || len(p1.Jobs) != 2 || p1.Jobs[0].Name != "j3" || p1.NextCursor == "" {
		t.Fatalf("page 1 = %+v, %v", p1, err)
	}
	p2, err := h.svc.ListJobs(h.ctx, atelier.JobFilter{Limit: 2, Cursor: p1.NextCursor})
	if err != nil || len(p2.Jobs) != 1 || p2.Jobs[0].Name != "j1" || p2.NextCursor != "" {
		t.Fatalf("page 2 = %+v, %v", p2, err)
	}
	byName, err := h.svc.ListJobs(h.ctx, atelier.JobFilter{Name: "j2", State: atelier.JobCompleted})
	if err != nil || len(byName.Jobs) != 1 || byName.Jobs[0].ID != ids[1] {
		t.Errorf("by name = %+v, %v", byName, err)
	}
	_, err = h.svc.ListJobs(h.ctx, atelier.JobFilter{State: "DONE"})
	wantCode(t, err, atelier.CodeInvalidParam, "status")
	_, err = h.svc.ListJobs(h.ctx, atelier.JobFilter{Cursor: "!!"})
	wantCode(t, err, atelier.CodeInvalidParam, "cursor")
}
