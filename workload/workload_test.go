package workload_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/fakeexec"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/workload"
)

const deadline = 10 * time.Second

// env is a runtime over a fake driver and a real object store, and a
// recorder of the hooks it calls.
type env struct {
	t       *testing.T
	dir     string
	objects atelier.ObjectService
	d       *fakeexec.Driver
	ex      *executor.Executor
	rt      *workload.Runtime
	ctx     context.Context

	mu     sync.Mutex
	steps  []string
	result *workload.Result
	handle *executor.Handle
	done   chan struct{}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, opts fakeexec.Options) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	be, err := blobstore.OpenBackend(t.Context(), "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	e := &env{
		t: t, dir: dir, d: fakeexec.New(opts),
		objects: obs.New(st, be, obs.Options{Logger: quiet()}),
		ctx:     atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{TenantID: "tenant-a", UserID: "u"}),
	}
	if _, err := e.objects.CreateBucket(e.ctx, "data"); err != nil {
		t.Fatal(err)
	}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	ex, err := executor.Open(e.t.Context(), e.d, executor.Options{StateDir: filepath.Join(e.dir, "journal"), Slots: 2, Logger: quiet()})
	if err != nil {
		e.t.Fatal(err)
	}
	set, err := executor.NewSet(fakeexec.Name, ex)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ex = ex
	e.rt = workload.New(e.objects, set, workload.Options{Logger: quiet(), StopGrace: time.Second, CollectWait: deadline})
	e.t.Cleanup(func() {
		e.rt.Stop()
		ex.Close()
	})
}

// restart stops the runtime and the executor as a server's shutdown does
// and opens new ones over the same journal and fake tasks.
func (e *env) restart() {
	e.t.Helper()
	e.rt.Stop()
	if err := e.ex.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.d = e.d.Reopen()
	e.open()
}

func (e *env) put(key, body string) {
	e.t.Helper()
	if _, err := e.objects.PutObject(e.ctx, "data", key, strings.NewReader(body), atelier.PutOptions{Size: int64(len(body))}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(key string) string {
	e.t.Helper()
	_, rc, _, err := e.objects.GetObject(e.ctx, "data", key, nil)
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func (e *env) hooks() workload.Hooks {
	e.done = make(chan struct{})
	rec := func(s string) {
		e.mu.Lock()
		e.steps = append(e.steps, s)
		e.mu.Unlock()
	}
	return workload.Hooks{
		Submitted: func(ctx context.Context, h *executor.Handle) error {
			e.mu.Lock()
			e.handle = h
			e.mu.Unlock()
			rec("submitted")
			return nil
		},
		Running: func(ctx context.Context, started time.Time) error { rec("running"); return nil },
		Finished: func(ctx context.Context, r *workload.Result) error {
			e.mu.Lock()
			e.result = r
			e.mu.Unlock()
			rec("finished")
			close(e.done)
			return nil
		},
	}
}

func (e *env) finished() *workload.Result {
	e.t.Helper()
	select {
	case <-e.done:
	case <-time.After(deadline):
		e.t.Fatal("the workload did not finish")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.result
}

func (e *env) started() string {
	e.t.Helper()
	return e.d.WaitStarted(e.t, deadline)
}

func (e *env) spec(id string) workload.Spec {
	work := filepath.Join(e.dir, "work", id)
	return workload.Spec{
		ID: id, Tenant: "tenant-a", User: "u", Dir: work,
		Task: executor.Spec{Workers: 1, Command: []string{"run"}},
		Inputs: []workload.Input{{Field: "spec.code_dir", Dir: filepath.Join(work, "code"), Stage: func(ctx context.Context, dir, tmp string) error {
			src, err := workload.ResolveSource(ctx, e.objects, atelier.ObjectPath{Bucket: "data", Key: "code/"})
			if err != nil {
				return err
			}
			return workload.StageSource(ctx, e.objects, src, dir, tmp, 1<<20)
		}}},
		Outputs: []workload.Output{{Field: "spec.outputs[0]", Dir: filepath.Join(work, "out"), Dest: atelier.ObjectPath{Bucket: "data", Key: "result/"}}},
		Logs: func(worker int) (atelier.ObjectPath, bool) {
			return atelier.ObjectPath{Bucket: "data", Key: "logs/" + id + ".log"}, true
		},
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t, fakeexec.Options{})
	e.put("code/train.py", "print('hi')")
	spec := e.spec("job-v1")
	if err := e.rt.Launch(spec, e.hooks()); err != nil {
		t.Fatal(err)
	}
	if id := e.started(); id != "job-v1" {
		t.Fatalf("started %s", id)
	}
	if b, err := os.ReadFile(filepath.Join(spec.Dir, "code", "train.py")); err != nil || string(b) != "print('hi')" {
		t.Fatalf("staged code = %q, %v", b, err)
	}
	// The task writes an output and a log line, then completes.
	if err := os.WriteFile(filepath.Join(spec.Dir, "out", "model.bin"), []byte("weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.Log("job-v1", 0, "epoch 1\n")
	if err := e.d.Exit("job-v1", driver.ExitResult{Kind: driver.ExitCompleted, Worker: -1}); err != nil {
		t.Fatal(err)
	}
	r := e.finished()
	if !r.Exit.Success() || r.Err != nil || r.Stopped || len(r.Notes) > 0 {
		t.Errorf("result = %+v", r)
	}
	e.mu.Lock()
	steps := strings.Join(e.steps, " ")
	e.mu.Unlock()
	if steps != "submitted running finished" {
		t.Errorf("hooks = %s", steps)
	}
	if got := e.get("result/model.bin"); got != "weights" {
		t.Errorf("uploaded output = %q", got)
	}
	if got := e.get("logs/job-v1.log"); got != "epoch 1\n" {
		t.Errorf("uploaded log = %q", got)
	}
}

func TestStagingFailure(t *testing.T) {
	e := newEnv(t, fakeexec.Options{})
	// No code/ objects: the stager fails and nothing is submitted.
	if err := e.rt.Launch(e.spec("job-v1"), e.hooks()); err != nil {
		t.Fatal(err)
	}
	r := e.finished()
	if r.Err == nil || r.Exit != nil || !errors.Is(r.Err, workload.ErrNoSource) {
		t.Errorf("result = %+v, want the staging error", r)
	}
	if msg := workload.SafeMessage(r.Err); !strings.HasPrefix(msg, "spec.code_dir: ") {
		t.Errorf("SafeMessage = %q, want it to name the input", msg)
	}
	if len(e.d.Running()) != 0 {
		t.Error("a task was started")
	}
}

func TestSubmitRefused(t *testing.T) {
	e := newEnv(t, fakeexec.Options{})
	e.put("code/train.py", "x")
	spec := e.spec("job-v1")
	spec.Task.Workers = 3 // two slots
	if err := e.rt.Launch(spec, e.hooks()); err != nil {
		t.Fatal(err)
	}
	r := e.finished()
	if _, ok := errors.AsType[*workload.SubmitError](r.Err); !ok || !errors.Is(r.Err, executor.ErrTooLarge) {
		t.Errorf("result = %+v, want a SubmitError wrapping ErrTooLarge", r)
	}
}

func TestStopWhileQueued(t *testing.T) {
	e := newEnv(t, fakeexec.Options{})
	e.put("code/train.py", "x")
	hog := e.spec("hog")
	hog.Task.Workers = 2
	if err := e.rt.Launch(hog, workload.Hooks{}); err != nil {
		t.Fatal(err)
	}
	e.started()
	if err := e.rt.Launch(e.spec("queued"), e.hooks()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.handle != nil
	})
	stopped, err := e.rt.StopWorkload(e.ctx, "queued", nil, "stopped by the user")
	if err != nil || !stopped {
		t.Fatalf("StopWorkload = %v, %v", stopped, err)
	}
	r := e.finished()
	if !r.Stopped || r.StopReason != "stopped by the user" || r.Exit == nil || r.Exit.Kind != driver.ExitStopped {
		t.Errorf("result = %+v", r)
	}
	if slices := e.d.Running(); len(slices) != 1 || slices[0] != "hog" {
		t.Errorf("running = %v, want only the hog", slices)
	}
}

func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t, fakeexec.Options{})
	e.put("code/train.py", "x")
	spec := e.spec("job-v1")
	if err := e.rt.Launch(spec, e.hooks()); err != nil {
		t.Fatal(err)
	}
	e.started()
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.steps) == 2 // submitted, running
	})
	h := e.handle
	e.restart()
	if err := e.rt.Resume(spec, h, true, e.hooks()); err != nil {
		t.Fatal(err)
	}
	e.d.Log("job-v1", 0, "after\n")
	if err := e.d.Exit("job-v1", driver.ExitResult{Kind: driver.ExitFailed, Code: 3, Worker: 0, Message: "worker-0 exited with code 3"}); err != nil {
		t.Fatal(err)
	}
	r := e.finished()
	if r.Exit.Kind != driver.ExitFailed || r.Exit.Code != 3 {
		t.Errorf("result = %+v", r.Exit)
	}
	if got := e.get("logs/job-v1.log"); got != "after\n" {
		t.Errorf("log = %q", got)
	}

	// A task that vanished while no server watched ends lost.
	spec2 := e.spec("job-v2")
	if err := e.rt.Launch(spec2, e.hooks()); err != nil {
		t.Fatal(err)
	}
	e.started()
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.handle != nil && e.handle.ID == "job-v2"
	})
	h2 := e.handle
	e.rt.Stop()
	e.ex.Close()
	e.d.Vanish("job-v2")
	e.d = e.d.Reopen()
	e.open()
	if err := e.rt.Resume(spec2, h2, true, e.hooks()); err != nil {
		t.Fatal(err)
	}
	if r := e.finished(); r.Exit == nil || r.Exit.Kind != driver.ExitLost {
		t.Errorf("resumed vanished task = %+v", r)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(end) {
			t.Fatal("timed out")
		}
		<-tick.C
	}
}
