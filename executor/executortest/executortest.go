// Package executortest is the conformance suite for executor drivers:
// every driver that runs commands (local, Slurm, Kubernetes) runs Run from
// its own test file with a Harness, through the portable executor.Executor,
// and must pass every test of the capabilities its Harness says it has.
// The harness, not the driver, names them (Harness.Want), and the suite
// fails when the driver reports others, so a driver cannot pass by
// claiming less; the tests of capabilities the harness leaves out are not
// run.
//
// Workers in the suite are tiny sh and python3 scripts. Each test gets a
// fresh working directory (t.TempDir) per task and runs in parallel with
// the others; waits poll with deadlines, never sleep.
//
// Recovery contract checked here: after Close (which leaves workers
// running) a new executor over the same state restores its journal: a
// queued task runs later, a running one is re-attached (Wait then reports
// the exit code and failed worker recorded while nobody watched, and the
// logs are complete), and Recover of the JSON round-tripped handle
// succeeds. When every process of a running task was
// killed while no executor watched, so that no worker recorded an exit
// code, Recover returns an error wrapping executor.ErrLost and the task is
// exited with driver.ExitLost.
//
// Isolation contract (CONTRACT §9), for drivers with IsolationNamespaces: a worker sees its working directory, its mounts and
// the system's read-only files, and nothing else of the host; its
// environment holds only what the driver documents; /proc shows only its
// own processes; it cannot create user namespaces; /tmp is private and
// bounded; the number of its processes is bounded.
package executortest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	"github.com/atelier-dev/atelier/executor/driver"
)

// Harness builds the drivers of one test.
type Harness struct {
	// NewDriver returns a driver keeping its state under stateDir. Every
	// call after the first gets the same stateDir and makes a new instance
	// over the same persistent state, like a restarted server; the suite
	// closes the previous one first.
	NewDriver func(t *testing.T, stateDir string) driver.Driver
	// Slots is the executor's slot count: 2, 3 or 4 (the queueing tests
	// fill it).
	Slots int
	// Groups, when set, returns the host process groups of a running
	// task's workers (the driver's local processes), so that the suite can
	// check they are gone and kill them behind the executor's back.
	Groups func(t *testing.T, stateDir, taskID string) []int
	// GPUs says that the driver's fingerprint lists these (configured)
	// GPUs; with Want.GPUs the placement test needs two of equal memory,
	// at least 4 GiB each.
	GPUs []driver.GPU
	// Want is what the driver must report as its Capabilities, exactly.
	// Each capability's tests run where it is set.
	Want driver.Capabilities
}

// Deadline bounds every wait in the suite.
const Deadline = 30 * time.Second

// Run runs the suite; newHarness is called once per test.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	always := func(driver.Capabilities, *Harness) bool { return true }
	tests := []struct {
		name string
		fn   func(*testing.T, *Harness)
		// runs says whether the harness's driver has what the test needs.
		runs func(driver.Capabilities, *Harness) bool
	}{
		{"Capabilities", testCapabilities, always},
		{"SubmitExit", testSubmitExit, always},
		{"GangFailure", testGangFailure, always},
		{"Signaled", testSignaled, always},
		{"DistributedEnv", testDistributedEnv, always},
		{"LogsOffsetFollow", testLogsOffsetFollow, always},
		{"LogsLarge", testLogsLarge, always},
		{"StopRunning", testStopRunning, always},
		{"StopQueued", testStopQueued, always},
		{"Timeout", testTimeout, always},
		{"Queue", testQueue, always},
		{"Fairness", testFairness, always},
		{"Validation", testValidation, always},
		{"NotFound", testNotFound, always},
		{"WaitContext", testWaitContext, always},
		{"Forget", testForget, always},
		{"MemoryLimit", testMemoryLimit, func(c driver.Capabilities, _ *Harness) bool { return c.MemoryLimit }},
		{"Recover", testRecover, func(c driver.Capabilities, _ *Harness) bool { return c.Recover }},
		// Killing a task behind the executor's back needs its host
		// process groups.
		{"RecoverLost", testRecoverLost, func(c driver.Capabilities, h *Harness) bool { return c.Recover && h.Groups != nil }},
		{"Service", testService, func(c driver.Capabilities, _ *Harness) bool { return c.LongRunning && c.Ports }},
		{"GPUPlacement", testGPUPlacement, func(c driver.Capabilities, _ *Harness) bool { return c.GPUs }},
		{"Isolation", testIsolation, func(c driver.Capabilities, _ *Harness) bool { return c.Isolation == driver.IsolationNamespaces }},
		{"ProcessLimit", testProcessLimit, func(c driver.Capabilities, _ *Harness) bool { return c.ProcessLimit }},
	}
	h := newHarness(t)
	for _, tc := range tests {
		if !tc.runs(h.Want, h) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

// testCapabilities: the driver reports what its harness says it has, so
// the tests Run leaves out are the ones the driver is known to lack.
func testCapabilities(t *testing.T, h *Harness) {
	if got := MustNew(t, h).Capabilities(); got != h.Want {
		t.Fatalf("Capabilities() = %+v, the harness wants %+v", got, h.Want)
	}
}

// sh is the argv of a shell script run by every worker.
func sh(script string) []string { return []string{"sh", "-c", script} }

// python is the interpreter workers run: the system's, which every
// sandbox sees.
func python() string {
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "python3"
}

// env is one harness instance: its state dir and the executors made over
// it.
type env struct {
	h        *Harness
	stateDir string
	prev     *executor.Executor
}

var envs sync.Map // *Harness → *env

func envOf(t *testing.T, h *Harness) *env {
	v, ok := envs.Load(h)
	if !ok {
		v, _ = envs.LoadOrStore(h, &env{h: h, stateDir: t.TempDir()})
	}
	return v.(*env)
}

// MustNew returns an executor over the harness's driver; a second call
// closes the first, like a restart of the server.
func MustNew(t *testing.T, h *Harness) *executor.Executor {
	t.Helper()
	en := envOf(t, h)
	if en.prev != nil {
		_ = en.prev.Close()
	}
	d := h.NewDriver(t, filepath.Join(en.stateDir, "driver"))
	ex, err := executor.Open(t.Context(), d, executor.Options{
		StateDir: filepath.Join(en.stateDir, "journal"), Slots: h.Slots,
		Grace: 500 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := ex.Capacity().Slots; s < 2 || s > 4 {
		t.Fatalf("Capacity().Slots = %d; the suite needs 2 to 4", s)
	}
	en.prev = ex
	t.Cleanup(func() { _ = ex.Close() })
	return ex
}

var taskSeq struct {
	sync.Mutex
	n int
}

// spec returns a spec with a fresh ID and working directory.
func spec(t *testing.T, workers int, cmd []string) *executor.Spec {
	t.Helper()
	taskSeq.Lock()
	taskSeq.n++
	n := taskSeq.n
	taskSeq.Unlock()
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, t.Name())
	if len(id) > 100 {
		id = id[len(id)-100:]
	}
	return &executor.Spec{
		ID:      fmt.Sprintf("%s-%d", id, n),
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

// MustSubmit submits s and makes sure the task is stopped at cleanup, so
// that no worker outlives its test directory.
func MustSubmit(t *testing.T, ex *executor.Executor, s *executor.Spec) *executor.Handle {
	t.Helper()
	h, err := ex.Submit(ctxT(t), s)
	if err != nil {
		t.Fatalf("Submit(%s): %v", s.ID, err)
	}
	t.Cleanup(func() { _ = ex.Stop(context.Background(), h, 0) })
	return h
}

// MustWait waits for the task to exit.
func MustWait(t *testing.T, ex *executor.Executor, h *executor.Handle) *executor.Status {
	t.Helper()
	st, err := ex.Wait(ctxT(t), h)
	if err != nil {
		t.Fatalf("Wait(%s): %v", h.ID, err)
	}
	if st.State != executor.Exited || st.Exit == nil {
		t.Fatalf("Wait(%s): state %q, exit %v; want %q with an exit", h.ID, st.State, st.Exit, executor.Exited)
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

// MustState waits until the task is in state.
func MustState(t *testing.T, ex *executor.Executor, h *executor.Handle, state string) *executor.Status {
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
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
}

// MustLogs returns a worker's whole log.
func MustLogs(t *testing.T, ex *executor.Executor, h *executor.Handle, worker int, offset int64) string {
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

// wantExit checks an exit's kind, code and failed worker.
func wantExit(t *testing.T, st *executor.Status, kind driver.ExitKind, code, worker int) {
	t.Helper()
	x := st.Exit
	if x == nil || x.Kind != kind || x.Code != code || x.Worker != worker {
		t.Errorf("exit = %+v, want kind %s, code %d, worker %d", x, kind, code, worker)
	}
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
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return false
		}
	}
	return true
}

// groups returns the task's host process groups when the harness can.
func groups(t *testing.T, h *Harness, id string) []int {
	if h.Groups == nil {
		return nil
	}
	return h.Groups(t, filepath.Join(envOf(t, h).stateDir, "driver"), id)
}

func testSubmitExit(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh("echo hello"))
	before := time.Now()
	hd := MustSubmit(t, ex, s)
	if hd.ID != s.ID || hd.Driver != ex.Name() {
		t.Errorf("handle = %+v, want ID %q and driver %q", hd, s.ID, ex.Name())
	}
	st, err := ex.Status(ctxT(t), hd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]string{executor.Queued, executor.Running, executor.Exited}, st.State) {
		t.Errorf("state after submit = %q", st.State)
	}
	st = MustWait(t, ex, hd)
	wantExit(t, st, driver.ExitCompleted, 0, -1)
	if st.Exit.Message != "" || !st.Exit.Success() {
		t.Errorf("exit = %+v, want a success without a message", st.Exit)
	}
	if st.StartedAt.Before(before.Add(-time.Second)) || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("StartedAt %v, FinishedAt %v: want submit ≤ start ≤ finish", st.StartedAt, st.FinishedAt)
	}
	again, err := ex.Status(ctxT(t), hd)
	if err != nil || again.State != st.State || *again.Exit != *st.Exit || !again.FinishedAt.Equal(st.FinishedAt) {
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
	while [ ! -e started-0 ]; do sleep 0.01; done
	i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); done
	echo boom >&2
	exit 3
fi
touch started-0
exec sleep 1000`))
	hd := MustSubmit(t, ex, s)
	waitFile(t, filepath.Join(s.Dir, "started-0"))
	pgids := groups(t, h, s.ID)
	st := MustWait(t, ex, hd)
	wantExit(t, st, driver.ExitFailed, 3, 1)
	for _, want := range []string{"worker-1", "3", "line 29", "boom"} {
		if !strings.Contains(st.Exit.Message, want) {
			t.Errorf("message %q lacks %q", st.Exit.Message, want)
		}
	}
	if strings.Contains(st.Exit.Message, "line 0\n") {
		t.Errorf("message %q has the whole log, want its last lines", st.Exit.Message)
	}
	for i, pg := range pgids {
		if !groupGone(pg) {
			t.Errorf("worker %d (group %d) still runs after the gang failed", i, pg)
		}
	}
}

func testSignaled(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	st := MustWait(t, ex, MustSubmit(t, ex, spec(t, 1, sh(`echo bye; kill -TERM $$`))))
	wantExit(t, st, driver.ExitSignaled, -1, 0)
	if st.Exit.Signal != int(syscall.SIGTERM) {
		t.Errorf("signal = %d, want %d", st.Exit.Signal, syscall.SIGTERM)
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
	s := spec(t, n, []string{python(), "-c", envScript})
	s.Env = map[string]string{"EXTRA": "x y"}
	hd := MustSubmit(t, ex, s)
	if st := MustWait(t, ex, hd); !st.Exit.Success() {
		t.Fatalf("exit = %+v", st.Exit)
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
		t.Error("Logs of worker 1 of a 1-worker task: no error")
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
	if st := MustWait(t, ex, hd); !st.Exit.Success() {
		t.Errorf("exit = %+v", st.Exit)
	}
	var m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grow := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow > 16<<20 {
		t.Errorf("heap grew by %d MiB while a worker wrote 50 MiB", grow>>20)
	}
}

// Percentiles returns the 50th and 99th percentiles of ds (sorted in
// place), for benchmarks.
func Percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}
