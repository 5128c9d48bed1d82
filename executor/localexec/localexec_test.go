package localexec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/executortest"
	"github.com/atelier-dev/atelier/executor/localexec"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// requireSandbox skips a test that needs bubblewrap where it is not
// installed, unless ATELIER_REQUIRE_SANDBOX is set (CI sets it, so the
// sandbox tests never skip there).
func requireSandbox(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
			t.Fatal("ATELIER_REQUIRE_SANDBOX is set but bubblewrap is not installed")
		}
		t.Skip("bubblewrap is not installed (apt-get install bubblewrap); CI sets ATELIER_REQUIRE_SANDBOX")
	}
}

// testGPUs is the configured inventory the conformance runs place on: the
// driver only reports them (no device exists), the portable executor
// places on them and workers see CUDA_VISIBLE_DEVICES.
var testGPUs = []driver.GPU{
	{Index: 0, UUID: "GPU-test-0", Type: "nvidia-t4", MemoryMB: 16384},
	{Index: 1, UUID: "GPU-test-1", Type: "nvidia-t4", MemoryMB: 16384},
}

// MustNew returns a fast-polling driver closed at cleanup.
func MustNew(t testing.TB, opts localexec.Options) *localexec.Executor {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	opts.Grace = max(opts.Grace, 200*time.Millisecond)
	opts.PollInterval = max(opts.PollInterval, 10*time.Millisecond)
	opts.Logger = quiet()
	e, err := localexec.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// groups reads a task's worker process groups from the driver's state.
func groups(t *testing.T, stateDir, id string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "tasks", id, "task.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ PIDs []int }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.PIDs
}

// harness runs the suite on a driver with the given sandbox. Sandboxed,
// it has every capability but CPULimit (no cgroup directory here);
// unsandboxed, it neither isolates nor limits processes, so the suite
// leaves those tests out.
func harness(sandbox string) func(t *testing.T) *executortest.Harness {
	want := driver.Capabilities{
		Batch: true, LongRunning: true, Gang: true, Ports: true, GPUs: true, SharedFS: true, Recover: true,
		MemoryLimit: true, ProcessLimit: true, Isolation: driver.IsolationNamespaces,
	}
	if sandbox == localexec.SandboxNone {
		want.ProcessLimit, want.Isolation = false, driver.IsolationNone
	}
	return func(t *testing.T) *executortest.Harness {
		return &executortest.Harness{
			Want:  want,
			Slots: 3,
			GPUs:  testGPUs,
			NewDriver: func(t *testing.T, stateDir string) driver.Driver {
				return MustNew(t, localexec.Options{StateDir: stateDir, Sandbox: sandbox, GPUs: testGPUs})
			},
			Groups: groups,
		}
	}
}

func TestConformance(t *testing.T) {
	requireSandbox(t)
	executortest.Run(t, harness(localexec.SandboxBwrap))
}

// TestConformanceUnsandboxed runs the suite with ATELIER_SANDBOX=none: all
// but the isolation and process-limit tests, which TestConformance runs.
func TestConformanceUnsandboxed(t *testing.T) {
	executortest.Run(t, harness(localexec.SandboxNone))
}

func TestNoBubblewrap(t *testing.T) {
	t.Parallel()
	_, err := localexec.New(t.Context(), localexec.Options{StateDir: t.TempDir(), BwrapPath: "/nonexistent/bwrap", Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "cannot sandbox tasks") {
		t.Errorf("New without bubblewrap = %v, want an error saying tasks cannot be sandboxed", err)
	}
	if _, err := localexec.New(t.Context(), localexec.Options{StateDir: t.TempDir(), Sandbox: "chroot", Logger: quiet()}); err == nil {
		t.Error("New with an unknown sandbox: no error")
	}
}

// TestStateOutsideTask checks that logs, statuses and the state file live
// in the driver's state directory, not in the task's working directory,
// where the task could replace them (a log turned into a link to a host
// file would be read back by the server).
func TestStateOutsideTask(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	e := MustNew(t, localexec.Options{StateDir: stateDir, Sandbox: localexec.SandboxNone})
	dir := t.TempDir()
	h, err := e.StartTask(t.Context(), &driver.TaskConfig{ID: "g", Workers: 2, Command: []string{"sh", "-c", `echo out-$RANK; echo err-$RANK >&2
if [ "$RANK" = 0 ]; then touch ready; exit 0; fi
while [ ! -e ready ]; do sleep 0.01; done
exit 1`}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.WaitTask(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	if x := st.Exit; x.Kind != driver.ExitFailed || x.Code != 1 || x.Worker != 1 || !strings.HasPrefix(x.Message, "worker-1 exited with code 1: ") {
		t.Errorf("exit = %+v", x)
	}
	for i := range 2 {
		log, err := os.ReadFile(filepath.Join(stateDir, "tasks", "g", fmt.Sprintf("worker-%d.log", i)))
		if err != nil || !strings.Contains(string(log), fmt.Sprintf("out-%d\n", i)) || !strings.Contains(string(log), fmt.Sprintf("err-%d\n", i)) {
			t.Errorf("worker-%d.log = %q, %v", i, log, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if ent.Name() != "ready" {
			t.Errorf("the driver left %s in the task's directory", ent.Name())
		}
	}
}

// TestGateClosed: a worker whose gate never opens (the server died while
// starting the task) never runs its command, and RecoverTask says the task
// is unknown, so that the portable executor starts it afresh.
func TestGateClosed(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	dir := t.TempDir()
	// A state file as a server leaves it when it dies before recording the
	// workers: starting, no process groups.
	if err := os.MkdirAll(filepath.Join(stateDir, "tasks", "g"), 0o700); err != nil {
		t.Fatal(err)
	}
	st := fmt.Sprintf(`{"config":{"ID":"g","Workers":1,"Command":["touch","ran"],"Dir":%q},"state":"starting","uid":-1}`, dir)
	if err := os.WriteFile(filepath.Join(stateDir, "tasks", "g", "task.json"), []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	e := MustNew(t, localexec.Options{StateDir: stateDir, Sandbox: localexec.SandboxNone})
	err := e.RecoverTask(t.Context(), &driver.TaskHandle{Driver: localexec.Name, ID: "g"})
	if err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("RecoverTask of a task that never started = %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran")
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	e := MustNew(t, localexec.Options{Sandbox: localexec.SandboxNone, GPUs: testGPUs})
	fp, err := e.Fingerprint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fp.CPUs < 1 || fp.MemoryMB < 1 || len(fp.GPUs) != 2 || fp.GPUs[1].MemoryMB != 16384 || fp.Attributes["sandbox"] != "none" {
		t.Errorf("fingerprint = %+v", fp)
	}
	if c := e.Capabilities(); c.Isolation != driver.IsolationNone || c.CPULimit || !c.Recover || !c.SharedFS {
		t.Errorf("capabilities = %+v", c)
	}
}

func TestStartAfterClose(t *testing.T) {
	t.Parallel()
	e := MustNew(t, localexec.Options{Sandbox: localexec.SandboxNone})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.StartTask(t.Context(), &driver.TaskConfig{ID: "g", Workers: 1, Command: []string{"true"}, Dir: t.TempDir()}); err == nil {
		t.Error("StartTask after Close: no error")
	}
}

// benchStart measures start → exit of a trivial one-worker task through
// the portable executor, sandboxed or not, and reports the p50 and p99.
func benchStart(b *testing.B, sandbox string) {
	if sandbox == localexec.SandboxBwrap {
		requireSandbox(b)
	}
	d := MustNew(b, localexec.Options{Sandbox: sandbox, PollInterval: time.Millisecond})
	ex, err := executor.Open(context.Background(), d, executor.Options{StateDir: b.TempDir(), Slots: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	ctx := context.Background()
	var lat []time.Duration
	n := 0
	for b.Loop() {
		n++
		start := time.Now()
		h, err := ex.Submit(ctx, &executor.Spec{ID: fmt.Sprint("lat-", n), Workers: 1, Command: []string{"true"}, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		st, err := ex.Wait(ctx, h)
		if err != nil || !st.Exit.Success() {
			b.Fatalf("Wait = %+v, %v", st, err)
		}
		lat = append(lat, time.Since(start))
	}
	p50, p99 := executortest.Percentiles(lat)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkStart compares a sandboxed start with a bare one of the same
// trivial command (`go run ./bench -only sandbox` prints the overhead).
func BenchmarkStart(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchStart(b, localexec.SandboxNone) })
	b.Run("sandboxed", func(b *testing.B) { benchStart(b, localexec.SandboxBwrap) })
}

// TestACLSearch: a working directory below a 0700 directory outside the
// search roots (a data directory under /root) is reached through a POSIX
// ACL entry for the tasks' group alone; nobody else gains anything.
func TestACLSearch(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		// The sandbox gives each task a user of its own only when the
		// server runs as root; CI does, and tests it.
		if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
			t.Fatal("ATELIER_REQUIRE_SANDBOX is set but the tests do not run as root: task users are not tested")
		}
		t.Skip("task users exist only when the server runs as root")
	}
	t.Parallel()
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(private, "work")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := MustNew(t, localexec.Options{SearchRoots: []string{dir}})
	ex, err := executor.Open(t.Context(), d, executor.Options{StateDir: t.TempDir(), Slots: 2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	h, err := ex.Submit(t.Context(), &executor.Spec{ID: "acl", Workers: 1, Command: []string{"sh", "-c", "echo reached > ok"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := ex.Wait(t.Context(), h); err != nil || !st.Exit.Success() {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ok")); err != nil || string(b) != "reached\n" {
		t.Errorf("the task wrote %q, %v", b, err)
	}
	fi, err := os.Stat(private)
	if err != nil {
		t.Fatal(err)
	}
	// Others still have nothing; the group class shows only the mask's x.
	if perm := fi.Mode().Perm(); perm&0o007 != 0 || perm&0o060 != 0 {
		t.Errorf("%s is %v after the grant, want no rights for others and none but x for the group class", private, perm)
	}
}

// TestNoSharedFS: with Options.NoSharedFS a task works in an empty
// directory of the driver's own, shown at its Dir's path, never in what
// the server has there; the directory goes when the task exits, and
// Options.ReadOnlyPaths below /tmp are still seen (after the sandbox's
// private /tmp).
func TestNoSharedFS(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	if _, err := localexec.New(t.Context(), localexec.Options{StateDir: t.TempDir(), Sandbox: localexec.SandboxNone, NoSharedFS: true, Logger: quiet()}); err == nil {
		t.Error("NoSharedFS without the sandbox: no error")
	}
	tools := t.TempDir()
	// Task users (when the tests run as root) must reach the tool.
	for _, d := range []string{filepath.Dir(tools), tools} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tool := filepath.Join(tools, "tool.sh")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\necho tool-ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	e := MustNew(t, localexec.Options{StateDir: stateDir, Sandbox: localexec.SandboxBwrap, NoSharedFS: true, ReadOnlyPaths: []string{tool}})
	if e.Capabilities().SharedFS {
		t.Error("Capabilities say SharedFS")
	}
	serverDir := filepath.Join(t.TempDir(), "training", "j-v1")
	if err := os.MkdirAll(serverDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(serverDir, "server.txt"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	h, err := e.StartTask(t.Context(), &driver.TaskConfig{ID: "nofs", Workers: 1, Dir: serverDir, Command: []string{"sh", "-c",
		`echo "pwd=$(pwd) home=$HOME"; echo "before=[$(ls -A)]"; ` + tool + `; echo made > made.txt; echo "after=[$(ls -A)]"`}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.WaitTask(t.Context(), h)
	if err != nil || !st.Exit.Success() {
		t.Fatalf("WaitTask = %+v, %v", st, err)
	}
	rc, err := e.TaskLogs(t.Context(), h, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := io.ReadAll(rc)
	rc.Close()
	want := fmt.Sprintf("pwd=%s home=%s\nbefore=[]\ntool-ran\nafter=[made.txt]\n", serverDir, serverDir)
	if string(log) != want {
		t.Errorf("log = %q, want %q", log, want)
	}
	if _, err := os.Stat(filepath.Join(serverDir, "made.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the task wrote into the server's directory: %v", err)
	}
	if ents, err := os.ReadDir(filepath.Join(stateDir, ".work")); err != nil || len(ents) != 0 {
		t.Errorf("the task's directory outlived it: %v, %v", ents, err)
	}
	// Without NoSharedFS a missing working directory is refused.
	plain := MustNew(t, localexec.Options{Sandbox: localexec.SandboxNone})
	if _, err := plain.StartTask(t.Context(), &driver.TaskConfig{ID: "x", Workers: 1, Command: []string{"true"}, Dir: filepath.Join(serverDir, "missing")}); err == nil {
		t.Error("a missing working directory with a shared filesystem: no error")
	}
}

// TestGPUEnvInSandbox runs `env` in the sandbox of tasks placed on the
// configured 2 × T4 (no device exists here: the driver binds only the
// /dev/nvidia* nodes that exist) with an MPS pipe directory: a worker
// with a GPU share sees exactly the GPU variables of driver.GPUEnv and can
// write to the pipe directory (an MPS client must); a worker without a
// GPU sees none of them and not the directory.
func TestGPUEnvInSandbox(t *testing.T) {
	requireSandbox(t)
	t.Parallel()
	mps := filepath.Join(t.TempDir(), "nvidia-mps")
	if err := os.Mkdir(mps, 0o777); err != nil {
		t.Fatal(err)
	}
	// Task users must reach it, as they must the daemon's real one.
	for _, d := range []string{filepath.Dir(mps), mps} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	d := MustNew(t, localexec.Options{GPUs: testGPUs, MPSPipeDir: mps})
	ex, err := executor.Open(t.Context(), d, executor.Options{StateDir: t.TempDir(), Slots: 3, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close() })
	script := `env | grep -E '^(CUDA_|NVIDIA_|ATELIER_GPU)' | sort > env.out
if [ -d "` + mps + `" ]; then echo seen > pipe.out; else echo absent > pipe.out; fi
if [ -n "$CUDA_MPS_PIPE_DIRECTORY" ]; then echo client > "$CUDA_MPS_PIPE_DIRECTORY/$1"; fi`
	run := func(id string, gpuMB int64) string {
		t.Helper()
		dir := t.TempDir()
		h, err := ex.Submit(t.Context(), &executor.Spec{ID: id, Workers: 1, Command: []string{"sh", "-c", script, "sh", id}, Dir: dir, GPUMemoryMB: gpuMB, GPUType: "nvidia-t4"})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := ex.Wait(t.Context(), h); err != nil || !st.Exit.Success() {
			t.Fatalf("%s: Wait = %+v, %v", id, st, err)
		}
		return dir
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Best fit on two empty T4s: the first 8 GiB share goes to GPU 0.
	dir := run("share", 8192)
	want := "ATELIER_GPU_MEMORY_MB=8192\n" +
		"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=8192M\n" +
		"CUDA_MPS_PIPE_DIRECTORY=" + mps + "\n" +
		"CUDA_VISIBLE_DEVICES=GPU-test-0\n" +
		"NVIDIA_VISIBLE_DEVICES=GPU-test-0\n"
	if got := read(filepath.Join(dir, "env.out")); got != want {
		t.Errorf("a worker with an 8 GiB share sees\n%s\nwant\n%s", got, want)
	}
	if got := read(filepath.Join(mps, "share")); got != "client\n" {
		t.Errorf("the pipe directory holds %q from the worker, want client", got)
	}
	dir = run("nogpu", 0)
	if got := read(filepath.Join(dir, "env.out")); got != "" {
		t.Errorf("a worker without a GPU sees %q", got)
	}
	if got := read(filepath.Join(dir, "pipe.out")); got != "absent\n" {
		t.Errorf("a worker without a GPU: the pipe directory is %q, want absent", got)
	}
}

func TestMPSPipeDirRefused(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"relative/mps", "/nonexistent/nvidia-mps"} {
		_, err := localexec.New(t.Context(), localexec.Options{StateDir: t.TempDir(), Sandbox: localexec.SandboxNone, MPSPipeDir: dir, Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), "MPS pipe directory") {
			t.Errorf("New with MPSPipeDir %q = %v, want an error naming the MPS pipe directory", dir, err)
		}
	}
}
