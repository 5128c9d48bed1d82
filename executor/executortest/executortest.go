// Package executortest is the conformance suite for executor.Executor:
// every executor (local, Slurm, Kubernetes, fake) runs Run from its own
// test file with a Harness, and must pass every test its Capabilities
// allow.
//
// Workers in the suite are tiny sh and python3 scripts. Each test gets a
// fresh working directory (t.TempDir) per gang and runs in parallel with
// the others; waits poll with deadlines, never sleep.
//
// Recovery contract checked here: after Close (which leaves workers
// running) a new executor's Recover of the JSON round-tripped handle
// re-adopts a queued gang (it runs later) and a running one (Wait then
// reports the exit code and failed worker recorded while nobody watched,
// and the logs are complete). When every process of a running gang was
// killed while no executor watched, so that no worker recorded an exit
// code, Recover returns an error wrapping executor.ErrLost and the gang is
// not adopted: Status then returns ErrNotFound.
package executortest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
)

// Capabilities says what an executor under test can do; the suite skips
// the tests of what it cannot, with that reason.
type Capabilities struct {
	// MemoryLimit: a worker that allocates more than Spec.MemoryBytes fails.
	MemoryLimit bool
	// CPULimit: Spec.CPU caps the cores a worker uses (not tested here:
	// the suite cannot measure it quickly; documented for callers).
	CPULimit bool
	// LocalProcesses: workers are processes in this test's PID namespace
	// and filesystem, so the suite can check that pids are gone and can kill
	// a worker's process group itself.
	LocalProcesses bool
	// Recover: Close leaves workers running and a new executor from
	// Harness.New re-adopts them with Recover.
	Recover bool
}

// Harness builds the executors of one test.
type Harness struct {
	Capabilities Capabilities
	// New returns an executor whose Capacity().Slots is 2, 3 or 4 (the
	// queueing tests fill it). Every call after the first makes a new
	// instance over the same persistent state, like a restarted server;
	// the suite closes the previous one first. New closes what it makes
	// in t.Cleanup.
	New func(t *testing.T) executor.Executor
}

// Deadline bounds every wait in the suite.
const Deadline = 30 * time.Second

// Run runs the suite; newHarness is called once per test.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Harness)
	}{
		{"SubmitExit", testSubmitExit},
		{"GangFailure", testGangFailure},
		{"DistributedEnv", testDistributedEnv},
		{"LogsOffsetFollow", testLogsOffsetFollow},
		{"LogsLarge", testLogsLarge},
		{"StopRunning", testStopRunning},
		{"StopQueued", testStopQueued},
		{"Timeout", testTimeout},
		{"Queue", testQueue},
		{"Fairness", testFairness},
		{"Validation", testValidation},
		{"NotFound", testNotFound},
		{"WaitContext", testWaitContext},
		{"MemoryLimit", testMemoryLimit},
		{"Recover", testRecover},
		{"RecoverLost", testRecoverLost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

// sh is the argv of a shell script run by every worker.
func sh(script string) []string { return []string{"sh", "-c", script} }

var (
	pythonOnce sync.Once
	pythonPath string
)

// python returns the python3 interpreter for workers. For local processes
// it resolves the real interpreter once, so that a version-manager shim
// does not add its start-up time to every worker.
func python(h *Harness) string {
	if !h.Capabilities.LocalProcesses {
		return "python3"
	}
	pythonOnce.Do(func() {
		pythonPath = "python3"
		out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		if p := strings.TrimSpace(string(out)); err == nil && p != "" {
			pythonPath = p
		}
	})
	return pythonPath
}

// MustNew returns the harness's executor and checks its capacity.
func MustNew(t *testing.T, h *Harness) executor.Executor {
	t.Helper()
	ex := h.New(t)
	if s := ex.Capacity().Slots; s < 2 || s > 4 {
		t.Fatalf("Capacity().Slots = %d; the suite needs 2 to 4", s)
	}
	return ex
}

var gangSeq struct {
	sync.Mutex
	n int
}

// spec returns a spec with a fresh ID and working directory.
func spec(t *testing.T, workers int, cmd []string) *executor.Spec {
	t.Helper()
	gangSeq.Lock()
	gangSeq.n++
	n := gangSeq.n
	gangSeq.Unlock()
	return &executor.Spec{
		ID:      fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), n),
		Tenant:  "tenant-a",
		Workers: workers,
		Command: cmd,
		Dir:     t.TempDir(),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Deadline)
	t.Cleanup(cancel)
	return ctx
}

// MustSubmit submits s and makes sure the gang is stopped at cleanup, so
// that no worker outlives its test directory.
func MustSubmit(t *testing.T, ex executor.Executor, s *executor.Spec) *executor.Handle {
	t.Helper()
	h, err := ex.Submit(ctxT(t), s)
	if err != nil {
		t.Fatalf("Submit(%s): %v", s.ID, err)
	}
	t.Cleanup(func() { _ = ex.Stop(context.Background(), h, 0) })
	return h
}

// MustWait waits for the gang to exit.
func MustWait(t *testing.T, ex executor.Executor, h *executor.Handle) *executor.Status {
	t.Helper()
	st, err := ex.Wait(ctxT(t), h)
	if err != nil {
		t.Fatalf("Wait(%s): %v", h.ID, err)
	}
	if st.State != executor.Exited {
		t.Fatalf("Wait(%s): state %q, want %q", h.ID, st.State, executor.Exited)
	}
	return st
}

// poll calls cond every few milliseconds until it is true or the deadline
// passes.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// MustState waits until the gang is in state.
func MustState(t *testing.T, ex executor.Executor, h *executor.Handle, state string) *executor.Status {
	t.Helper()
	var st *executor.Status
	poll(t, h.ID+" "+state, func() bool {
		var err error
		st, err = ex.Status(ctxT(t), h)
		if err != nil {
			t.Fatalf("Status(%s): %v", h.ID, err)
		}
		return st.State == state
	})
	return st
}

// waitFile waits until path exists and returns its trimmed content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	poll(t, filepath.Base(path), func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil
	})
	return strings.TrimSpace(string(b))
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// MustLogs returns a worker's whole log.
func MustLogs(t *testing.T, ex executor.Executor, h *executor.Handle, worker int, offset int64) string {
	t.Helper()
	r, err := ex.Logs(ctxT(t), h, worker, offset, false)
	if err != nil {
		t.Fatalf("Logs(%s, %d): %v", h.ID, worker, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return string(b)
}

// gone says whether process pid has ended (a zombie counts as ended).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// groupGone says whether process group pgid has no live member.
func groupGone(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" && !gone(pid) {
			return false
		}
	}
	return true
}

func testSubmitExit(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh("echo hello"))
	before := time.Now()
	hd := MustSubmit(t, ex, s)
	if hd.ID != s.ID || hd.Driver == "" {
		t.Errorf("handle = %+v, want ID %q and a driver", hd, s.ID)
	}
	st, err := ex.Status(ctxT(t), hd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]string{executor.Queued, executor.Running, executor.Exited}, st.State) {
		t.Errorf("state after submit = %q", st.State)
	}
	st = MustWait(t, ex, hd)
	if st.ExitCode != 0 || st.FailedWorker != -1 || st.Reason != "" {
		t.Errorf("status = %+v, want exit 0, failed worker -1, no reason", st)
	}
	if st.StartedAt.Before(before.Add(-time.Second)) || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("StartedAt %v, FinishedAt %v: want submit ≤ start ≤ finish", st.StartedAt, st.FinishedAt)
	}
	again, err := ex.Status(ctxT(t), hd)
	if err != nil || *again != *st {
		t.Errorf("Status after Wait = %+v, %v; want %+v", again, err, st)
	}
	if got := MustLogs(t, ex, hd, 0, 0); got != "hello\n" {
		t.Errorf("log = %q", got)
	}
}

func testGangFailure(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 2, sh(`
if [ "$RANK" = 1 ]; then
	while [ ! -e pid-0 ]; do sleep 0.01; done
	i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); done
	echo boom >&2
	exit 3
fi
echo $$ > pid-0.tmp && mv pid-0.tmp pid-0
exec sleep 1000`))
	hd := MustSubmit(t, ex, s)
	st := MustWait(t, ex, hd)
	if st.ExitCode != 3 || st.FailedWorker != 1 {
		t.Errorf("status = %+v, want exit code 3 from worker 1", st)
	}
	for _, want := range []string{"worker-1", "3", "line 29", "boom"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q lacks %q", st.Reason, want)
		}
	}
	if strings.Contains(st.Reason, "line 0\n") {
		t.Errorf("reason %q has the whole log, want its last lines", st.Reason)
	}
	if h.Capabilities.LocalProcesses {
		pid, err := strconv.Atoi(waitFile(t, filepath.Join(s.Dir, "pid-0")))
		if err != nil {
			t.Fatal(err)
		}
		if !gone(pid) {
			t.Errorf("worker 0 (pid %d) still runs after the gang failed", pid)
		}
	}
}

const envScript = `
import json, os, socket, sys, time
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
        "MASTER_ADDR", "MASTER_PORT", "PET_NPROC_PER_NODE", "PET_NNODES", "PET_NODE_RANK",
        "PET_MASTER_ADDR", "PET_MASTER_PORT", "EXTRA"]
out = {k: os.environ.get(k) for k in keys}
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
if rank == 0:
    srv = socket.create_server(("", port))
    srv.settimeout(20)
    peers = []
    for _ in range(world - 1):
        c, _ = srv.accept()
        r = c.recv(16)
        c.sendall(b"ok:" + r)
        peers.append(int(r))
        c.close()
    out["peers"] = sorted(peers)
else:
    deadline = time.monotonic() + 20
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    c.sendall(str(rank).encode())
    out["reply"] = c.recv(16).decode()
with open("env-%d.tmp" % rank, "w") as f:
    json.dump(out, f)
os.rename("env-%d.tmp" % rank, "env-%d.json" % rank)
`

func testDistributedEnv(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	n := ex.Capacity().Slots
	s := spec(t, n, []string{python(h), "-c", envScript})
	s.Env = map[string]string{"EXTRA": "x y"}
	hd := MustSubmit(t, ex, s)
	if st := MustWait(t, ex, hd); st.ExitCode != 0 {
		t.Fatalf("status = %+v", st)
	}
	type env struct {
		RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK   string
		MASTER_ADDR, MASTER_PORT, PET_NPROC_PER_NODE, PET_NNODES, PET_NODE_RANK string
		PET_MASTER_ADDR, PET_MASTER_PORT, EXTRA                                 string
		Peers                                                                   []int  `json:"peers"`
		Reply                                                                   string `json:"reply"`
	}
	var envs []env
	seen := map[string]bool{}
	for i := range n {
		b, err := os.ReadFile(filepath.Join(s.Dir, fmt.Sprintf("env-%d.json", i)))
		if err != nil {
			t.Fatal(err)
		}
		var e env
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
		seen[e.RANK] = true
		ns := strconv.Itoa(n)
		if e.RANK != strconv.Itoa(i) || e.WORLD_SIZE != ns || e.EXTRA != "x y" ||
			e.MASTER_ADDR == "" || e.MASTER_PORT == "" || e.MASTER_ADDR != envs[0].MASTER_ADDR || e.MASTER_PORT != envs[0].MASTER_PORT ||
			e.PET_MASTER_ADDR != e.MASTER_ADDR || e.PET_MASTER_PORT != e.MASTER_PORT ||
			e.LOCAL_RANK == "" || e.LOCAL_WORLD_SIZE == "" || e.NODE_RANK == "" || e.GROUP_RANK == "" ||
			e.PET_NPROC_PER_NODE == "" || e.PET_NNODES == "" || e.PET_NODE_RANK == "" {
			t.Errorf("worker %d env = %+v", i, e)
		}
		if i > 0 && e.Reply != "ok:"+e.RANK {
			t.Errorf("worker %d got %q from worker 0", i, e.Reply)
		}
	}
	if len(seen) != n {
		t.Errorf("ranks %v are not distinct", seen)
	}
	want := make([]int, 0, n-1)
	for i := 1; i < n; i++ {
		want = append(want, i)
	}
	if !slices.Equal(envs[0].Peers, want) {
		t.Errorf("worker 0 heard from %v, want %v", envs[0].Peers, want)
	}
}

func testLogsOffsetFollow(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh(`echo first; while [ ! -e go ]; do sleep 0.01; done; echo second >&2`))
	hd := MustSubmit(t, ex, s)
	r, err := ex.Logs(ctxT(t), hd, 0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("followed %q, %v; want first line", line, err)
	}
	touch(t, filepath.Join(s.Dir, "go"))
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("followed rest %q, %v; want second line then EOF", rest, err)
	}
	MustWait(t, ex, hd)
	if got := MustLogs(t, ex, hd, 0, 6); got != "second\n" {
		t.Errorf("log from offset 6 = %q", got)
	}
	if got := MustLogs(t, ex, hd, 0, 100); got != "" {
		t.Errorf("log past its end = %q", got)
	}
	if _, err := ex.Logs(ctxT(t), hd, 1, 0, false); err == nil {
		t.Error("Logs of worker 1 of a 1-worker gang: no error")
	}
}

// countWriter counts bytes and checks they are all 'x'.
type countWriter struct {
	n   int64
	bad bool
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if bytes.Count(p, []byte{'x'}) != len(p) {
		w.bad = true
	}
	return len(p), nil
}

func testLogsLarge(t *testing.T, h *Harness) {
	const size = 50 << 20
	ex := MustNew(t, h)
	var m0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := spec(t, 1, sh(fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", size)))
	hd := MustSubmit(t, ex, s)
	r, err := ex.Logs(ctxT(t), hd, 0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var w countWriter
	if _, err := io.Copy(&w, r); err != nil {
		t.Fatal(err)
	}
	if w.n != size || w.bad {
		t.Errorf("followed %d bytes (bad %v), want %d bytes of x", w.n, w.bad, size)
	}
	if st := MustWait(t, ex, hd); st.ExitCode != 0 {
		t.Errorf("status = %+v", st)
	}
	var m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grow := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow > 16<<20 {
		t.Errorf("heap grew by %d MiB while a worker wrote 50 MiB", grow>>20)
	}
}

func testStopRunning(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	// Worker 0 ignores the first SIGTERM and needs SIGKILL; worker 1 dies
	// of SIGTERM.
	s := spec(t, 2, sh(`
echo $$ > pid-$RANK.tmp && mv pid-$RANK.tmp pid-$RANK
if [ "$RANK" = 0 ]; then
	trap 'echo got-term' TERM
	echo ready
	while :; do sleep 0.02; done
fi
exec sleep 1000`))
	hd := MustSubmit(t, ex, s)
	MustState(t, ex, hd, executor.Running)
	var pids []int
	for i := range 2 {
		p := waitFile(t, filepath.Join(s.Dir, fmt.Sprintf("pid-%d", i)))
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	poll(t, "trap installed", func() bool { return strings.Contains(MustLogs(t, ex, hd, 0, 0), "ready") })
	if err := ex.Stop(ctxT(t), hd, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st := MustWait(t, ex, hd)
	if st.Reason != "stopped" || st.ExitCode != -1 || st.FailedWorker != -1 {
		t.Errorf("status = %+v, want stopped, exit -1, failed worker -1", st)
	}
	if log := MustLogs(t, ex, hd, 0, 0); !strings.Contains(log, "got-term") {
		t.Errorf("worker 0 log %q: SIGTERM never arrived before SIGKILL", log)
	}
	if h.Capabilities.LocalProcesses {
		for i, pid := range pids {
			if !gone(pid) {
				t.Errorf("worker %d (pid %d) survived Stop", i, pid)
			}
		}
	}
	if err := ex.Stop(ctxT(t), hd, 0); err != nil {
		t.Errorf("Stop of an exited gang: %v", err)
	}
	if again, _ := ex.Status(ctxT(t), hd); again == nil || again.Reason != "stopped" {
		t.Errorf("status after a second Stop = %+v", again)
	}
}

func testStopQueued(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	n := ex.Capacity().Slots
	first := spec(t, n, sh(`while [ ! -e go ]; do sleep 0.01; done`))
	h1 := MustSubmit(t, ex, first)
	MustState(t, ex, h1, executor.Running)
	queued := spec(t, 1, sh(`touch started`))
	h2 := MustSubmit(t, ex, queued)
	if st, err := ex.Status(ctxT(t), h2); err != nil || st.State != executor.Queued {
		t.Fatalf("second gang: %+v, %v; want queued", st, err)
	}
	if err := ex.Stop(ctxT(t), h2, time.Second); err != nil {
		t.Fatal(err)
	}
	st := MustWait(t, ex, h2)
	if st.Reason != "stopped" || st.ExitCode != -1 || st.FailedWorker != -1 || !st.StartedAt.IsZero() {
		t.Errorf("stopped queued gang = %+v", st)
	}
	touch(t, filepath.Join(first.Dir, "go"))
	if st := MustWait(t, ex, h1); st.ExitCode != 0 {
		t.Errorf("first gang = %+v", st)
	}
	// The slots are free now; a gang submitted after the stopped one runs,
	// and the stopped one has still not started.
	h3 := MustSubmit(t, ex, spec(t, 1, sh("true")))
	MustWait(t, ex, h3)
	if _, err := os.Stat(filepath.Join(queued.Dir, "started")); err == nil {
		t.Error("a stopped queued gang started")
	}
}

func testTimeout(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 2, sh("exec sleep 1000"))
	s.Timeout = 300 * time.Millisecond
	hd := MustSubmit(t, ex, s)
	st := MustWait(t, ex, hd)
	if !strings.Contains(st.Reason, "timed out") || st.ExitCode != -1 || st.FailedWorker != -1 {
		t.Errorf("status = %+v, want timed out, exit -1", st)
	}
	if d := st.FinishedAt.Sub(st.StartedAt); d < s.Timeout {
		t.Errorf("ran %v, less than the timeout %v", d, s.Timeout)
	}
}

func testQueue(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	n := ex.Capacity().Slots
	first := spec(t, n, sh(`while [ ! -e go ]; do sleep 0.01; done`))
	h1 := MustSubmit(t, ex, first)
	MustState(t, ex, h1, executor.Running)
	h2 := MustSubmit(t, ex, spec(t, n, sh("true")))
	if st, err := ex.Status(ctxT(t), h2); err != nil || st.State != executor.Queued || !st.StartedAt.IsZero() {
		t.Fatalf("second gang while the first holds every slot: %+v, %v; want queued", st, err)
	}
	if st, _ := ex.Status(ctxT(t), h1); st.State != executor.Running {
		t.Fatalf("first gang = %+v", st)
	}
	touch(t, filepath.Join(first.Dir, "go"))
	st1 := MustWait(t, ex, h1)
	st2 := MustWait(t, ex, h2)
	if st1.ExitCode != 0 || st2.ExitCode != 0 {
		t.Errorf("statuses %+v, %+v", st1, st2)
	}
	if st2.StartedAt.Before(st1.FinishedAt) {
		t.Errorf("second gang started at %v, before the first finished at %v", st2.StartedAt, st1.FinishedAt)
	}
}

func testFairness(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	n := ex.Capacity().Slots
	order := filepath.Join(t.TempDir(), "order")
	gate := filepath.Join(t.TempDir(), "go")
	cmd := sh(`
if [ "$RANK" = 0 ]; then echo "$NAME" >> "$ORDER"; fi
if [ -n "$GATE" ]; then while [ ! -e "$GATE" ]; do sleep 0.01; done; fi`)
	submit := func(tenant, name, gate string) *executor.Handle {
		s := spec(t, n, cmd)
		s.Tenant = tenant
		s.Env = map[string]string{"NAME": name, "ORDER": order, "GATE": gate}
		return MustSubmit(t, ex, s)
	}
	hs := []*executor.Handle{submit("a", "a1", gate)}
	MustState(t, ex, hs[0], executor.Running)
	for i := 2; i <= 5; i++ {
		hs = append(hs, submit("a", fmt.Sprintf("a%d", i), ""))
	}
	hs = append(hs, submit("b", "b1", ""))
	touch(t, gate)
	for _, hd := range hs {
		if st := MustWait(t, ex, hd); st.ExitCode != 0 {
			t.Fatalf("%s = %+v", hd.ID, st)
		}
	}
	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(b))
	var as []string
	for _, name := range got {
		if name[0] == 'a' {
			as = append(as, name)
		}
	}
	if !slices.Equal(as, []string{"a1", "a2", "a3", "a4", "a5"}) {
		t.Errorf("tenant a ran %v, want FIFO", as)
	}
	if i := slices.Index(got, "b1"); i < 0 || i > 2 {
		t.Errorf("start order %v: tenant b's gang waited behind tenant a's queue", got)
	}
}

func testValidation(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	slots := ex.Capacity().Slots
	tests := []struct {
		name   string
		mod    func(*executor.Spec)
		field  string
		target error
	}{
		{"no workers", func(s *executor.Spec) { s.Workers = 0 }, "Workers", nil},
		{"negative workers", func(s *executor.Spec) { s.Workers = -1 }, "Workers", nil},
		{"no command", func(s *executor.Spec) { s.Command = nil }, "Command", nil},
		{"missing dir", func(s *executor.Spec) { s.Dir = filepath.Join(s.Dir, "missing") }, "Dir", nil},
		{"more workers than slots", func(s *executor.Spec) { s.Workers = slots + 1 }, "", executor.ErrTooLarge},
		{"more GPUs than exist", func(s *executor.Spec) { s.GPUs = ex.Capacity().GPUs + 1 }, "", executor.ErrTooLarge},
	}
	for _, tc := range tests {
		s := spec(t, 1, sh("true"))
		tc.mod(s)
		_, err := ex.Submit(ctxT(t), s)
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.target != nil && !errors.Is(err, tc.target):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.target)
		case tc.target == nil && (errors.Is(err, executor.ErrTooLarge) || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: %v, want a validation error naming %s", tc.name, err, tc.field)
		}
	}
}

func testNotFound(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	real := MustSubmit(t, ex, spec(t, 1, sh("true")))
	MustWait(t, ex, real)
	for _, hd := range []*executor.Handle{
		{Driver: real.Driver, Version: real.Version, ID: "no-such-gang"},
		{Driver: "no-such-driver", Version: real.Version, ID: real.ID, Data: real.Data},
	} {
		ctx := ctxT(t)
		if _, err := ex.Status(ctx, hd); !errors.Is(err, executor.ErrNotFound) {
			t.Errorf("Status(%+v) = %v", hd, err)
		}
		if _, err := ex.Wait(ctx, hd); !errors.Is(err, executor.ErrNotFound) {
			t.Errorf("Wait(%+v) = %v", hd, err)
		}
		if err := ex.Stop(ctx, hd, 0); !errors.Is(err, executor.ErrNotFound) {
			t.Errorf("Stop(%+v) = %v", hd, err)
		}
		if _, err := ex.Logs(ctx, hd, 0, 0, false); !errors.Is(err, executor.ErrNotFound) {
			t.Errorf("Logs(%+v) = %v", hd, err)
		}
	}
	if err := ex.Recover(ctxT(t), &executor.Handle{Driver: real.Driver, Version: real.Version, ID: "no-such-gang"}); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Recover of an unknown handle = %v, want ErrNotFound", err)
	}
}

func testWaitContext(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh(`while [ ! -e go ]; do sleep 0.01; done`))
	hd := MustSubmit(t, ex, s)
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if _, err := ex.Wait(ctx, hd); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context = %v", err)
	}
	touch(t, filepath.Join(s.Dir, "go"))
	MustWait(t, ex, hd)
}

func testMemoryLimit(t *testing.T, h *Harness) {
	if !h.Capabilities.MemoryLimit {
		t.Skip("the executor does not enforce MemoryBytes (Capabilities.MemoryLimit)")
	}
	ex := MustNew(t, h)
	const limit = 256 << 20
	run := func(alloc int) *executor.Status {
		s := spec(t, 1, []string{python(h), "-c", fmt.Sprintf("b = bytearray(%d); print(len(b))", alloc)})
		s.MemoryBytes = limit
		return MustWait(t, ex, MustSubmit(t, ex, s))
	}
	if st := run(16 << 20); st.ExitCode != 0 {
		t.Errorf("16 MiB under a 256 MiB limit: %+v", st)
	}
	if st := run(1 << 30); st.ExitCode == 0 || st.FailedWorker != 0 {
		t.Errorf("1 GiB under a 256 MiB limit: %+v, want a failure", st)
	}
}

// roundTrip passes a handle through JSON, as the store does.
func roundTrip(t *testing.T, hd *executor.Handle) *executor.Handle {
	t.Helper()
	b, err := json.Marshal(hd)
	if err != nil {
		t.Fatal(err)
	}
	var out executor.Handle
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func testRecover(t *testing.T, h *Harness) {
	if !h.Capabilities.Recover {
		t.Skip("the executor cannot recover gangs (Capabilities.Recover)")
	}
	for _, releaseWhileClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("releaseWhileClosed=%v", releaseWhileClosed), func(t *testing.T) {
			t.Parallel()
			ex1 := MustNew(t, h)
			n := ex1.Capacity().Slots
			gate := filepath.Join(t.TempDir(), "go")
			// Worker 1 fails with code 4 after worker 0 has finished, so the
			// exit code and the failed worker come from the exit records.
			s := spec(t, n, sh(`
echo start-$RANK
while [ ! -e "$GATE" ]; do sleep 0.01; done
if [ "$RANK" = 0 ]; then echo done-0; touch done-0; exit 0; fi
while [ ! -e done-0 ]; do sleep 0.01; done
echo done-$RANK
touch done-$RANK
exit 4`))
			s.Env = map[string]string{"GATE": gate}
			running := MustSubmit(t, ex1, s)
			queuedSpec := spec(t, 1, sh("echo queued-ran"))
			queued := MustSubmit(t, ex1, queuedSpec)
			MustState(t, ex1, running, executor.Running)
			for i := range n {
				poll(t, "worker start", func() bool { return MustLogs(t, ex1, running, i, 0) != "" })
			}
			if st, _ := ex1.Status(ctxT(t), queued); st.State != executor.Queued {
				t.Fatalf("second gang = %+v, want queued", st)
			}
			running, queued = roundTrip(t, running), roundTrip(t, queued)
			if err := ex1.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ex1.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if releaseWhileClosed {
				touch(t, gate)
				poll(t, "last worker done", func() bool {
					_, err := os.Stat(filepath.Join(s.Dir, fmt.Sprintf("done-%d", n-1)))
					return err == nil
				})
			}
			ex2 := MustNew(t, h)
			for _, hd := range []*executor.Handle{running, queued} {
				if _, err := ex2.Status(ctxT(t), hd); !errors.Is(err, executor.ErrNotFound) {
					t.Errorf("Status before Recover = %v, want ErrNotFound", err)
				}
				if err := ex2.Recover(ctxT(t), hd); err != nil {
					t.Fatalf("Recover(%s): %v", hd.ID, err)
				}
				if err := ex2.Recover(ctxT(t), hd); err != nil {
					t.Errorf("second Recover(%s): %v", hd.ID, err)
				}
			}
			if !releaseWhileClosed {
				if st, err := ex2.Status(ctxT(t), running); err != nil || st.State != executor.Running {
					t.Errorf("recovered gang: %+v, %v; want running", st, err)
				}
				touch(t, gate)
			}
			st := MustWait(t, ex2, running)
			if st.ExitCode != 4 || st.FailedWorker != n-1 || !strings.Contains(st.Reason, fmt.Sprintf("worker-%d", n-1)) {
				t.Errorf("recovered gang = %+v, want exit 4 from worker %d", st, n-1)
			}
			if got := MustLogs(t, ex2, running, 0, 0); got != "start-0\ndone-0\n" {
				t.Errorf("worker 0 log = %q", got)
			}
			if st := MustWait(t, ex2, queued); st.ExitCode != 0 {
				t.Errorf("recovered queued gang = %+v", st)
			}
			if got := MustLogs(t, ex2, queued, 0, 0); got != "queued-ran\n" {
				t.Errorf("queued gang log = %q", got)
			}
		})
	}
}

func testRecoverLost(t *testing.T, h *Harness) {
	if !h.Capabilities.Recover || !h.Capabilities.LocalProcesses {
		t.Skip("needs Capabilities.Recover and LocalProcesses to kill a gang behind the executor's back")
	}
	ex1 := MustNew(t, h)
	s := spec(t, 2, sh(`
set -- $(cat /proc/$$/stat)
echo $5 > pgid-$RANK.tmp && mv pgid-$RANK.tmp pgid-$RANK
exec sleep 1000`))
	hd := MustSubmit(t, ex1, s)
	var pgids []int
	for i := range 2 {
		pgid, err := strconv.Atoi(waitFile(t, filepath.Join(s.Dir, fmt.Sprintf("pgid-%d", i))))
		if err != nil {
			t.Fatal(err)
		}
		pgids = append(pgids, pgid)
	}
	hd = roundTrip(t, hd)
	if err := ex1.Close(); err != nil {
		t.Fatal(err)
	}
	// The machine "reboots": every process of the gang dies at once,
	// without the chance to record an exit code.
	for _, pg := range pgids {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	for _, pg := range pgids {
		poll(t, "killed group gone", func() bool { return groupGone(pg) })
	}
	ex2 := MustNew(t, h)
	if err := ex2.Recover(ctxT(t), hd); !errors.Is(err, executor.ErrLost) {
		t.Fatalf("Recover of a killed gang = %v, want ErrLost", err)
	}
	if _, err := ex2.Status(ctxT(t), hd); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Status of a lost gang = %v, want ErrNotFound (it is not adopted)", err)
	}
}
