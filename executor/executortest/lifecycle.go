package executortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
)

func testStopRunning(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	// Worker 0 ignores the first SIGTERM and needs SIGKILL; worker 1 dies
	// of SIGTERM.
	s := spec(t, 2, sh(`
if [ "$RANK" = 0 ]; then
	trap 'echo got-term' TERM
	echo ready
	touch ready-0
	while :; do sleep 0.02; done
fi
touch ready-1
exec sleep 1000`))
	hd := MustSubmit(t, ex, s)
	MustState(t, ex, hd, executor.Running)
	waitFile(t, filepath.Join(s.Dir, "ready-0"))
	waitFile(t, filepath.Join(s.Dir, "ready-1"))
	pgids := groups(t, h, s.ID)
	if err := ex.Stop(ctxT(t), hd, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st := MustWait(t, ex, hd)
	wantExit(t, st, driver.ExitStopped, -1, -1)
	if log := MustLogs(t, ex, hd, 0, 0); !strings.Contains(log, "got-term") {
		t.Errorf("worker 0 log %q: SIGTERM never arrived before SIGKILL", log)
	}
	for i, pg := range pgids {
		if !groupGone(pg) {
			t.Errorf("worker %d (group %d) survived Stop", i, pg)
		}
	}
	if err := ex.Stop(ctxT(t), hd, 0); err != nil {
		t.Errorf("Stop of an exited task: %v", err)
	}
	if again, _ := ex.Status(ctxT(t), hd); again == nil || again.Exit == nil || again.Exit.Kind != driver.ExitStopped {
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
		t.Fatalf("second task: %+v, %v; want queued", st, err)
	}
	if err := ex.Stop(ctxT(t), h2, time.Second); err != nil {
		t.Fatal(err)
	}
	st := MustWait(t, ex, h2)
	wantExit(t, st, driver.ExitStopped, -1, -1)
	if !st.StartedAt.IsZero() {
		t.Errorf("stopped queued task started at %v", st.StartedAt)
	}
	touch(t, filepath.Join(first.Dir, "go"))
	if st := MustWait(t, ex, h1); !st.Exit.Success() {
		t.Errorf("first task = %+v", st.Exit)
	}
	// The slots are free now; a task submitted after the stopped one runs,
	// and the stopped one has still not started.
	h3 := MustSubmit(t, ex, spec(t, 1, sh("true")))
	MustWait(t, ex, h3)
	if _, err := os.Stat(filepath.Join(queued.Dir, "started")); err == nil {
		t.Error("a stopped queued task started")
	}
}

func testTimeout(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 2, sh("exec sleep 1000"))
	s.Timeout = 300 * time.Millisecond
	hd := MustSubmit(t, ex, s)
	st := MustWait(t, ex, hd)
	wantExit(t, st, driver.ExitTimedOut, -1, -1)
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
		t.Fatalf("second task while the first holds every slot: %+v, %v; want queued", st, err)
	}
	if st, _ := ex.Status(ctxT(t), h1); st.State != executor.Running {
		t.Fatalf("first task = %+v", st)
	}
	touch(t, filepath.Join(first.Dir, "go"))
	st1 := MustWait(t, ex, h1)
	st2 := MustWait(t, ex, h2)
	if !st1.Exit.Success() || !st2.Exit.Success() {
		t.Errorf("exits %+v, %+v", st1.Exit, st2.Exit)
	}
	if st2.StartedAt.Before(st1.FinishedAt) {
		t.Errorf("second task started at %v, before the first finished at %v", st2.StartedAt, st1.FinishedAt)
	}
}

func testFairness(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	n := ex.Capacity().Slots
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	// Every task appends its name to order in the shared directory, mounted
	// read-write into each.
	cmd := sh(`
if [ "$RANK" = 0 ]; then echo "$NAME" >> "$SHARED/order"; fi
if [ -n "$GATE" ]; then while [ ! -e "$SHARED/go" ]; do sleep 0.01; done; fi`)
	submit := func(tenant, name string, gate bool) *executor.Handle {
		s := spec(t, n, cmd)
		s.Tenant = tenant
		s.Env = map[string]string{"NAME": name, "SHARED": shared}
		if gate {
			s.Env["GATE"] = "1"
		}
		s.Mounts = []driver.Mount{{Source: shared, Target: shared}}
		return MustSubmit(t, ex, s)
	}
	hs := []*executor.Handle{submit("a", "a1", true)}
	MustState(t, ex, hs[0], executor.Running)
	for i := 2; i <= 5; i++ {
		hs = append(hs, submit("a", fmt.Sprintf("a%d", i), false))
	}
	hs = append(hs, submit("b", "b1", false))
	touch(t, filepath.Join(shared, "go"))
	for _, hd := range hs {
		if st := MustWait(t, ex, hd); !st.Exit.Success() {
			t.Fatalf("%s = %+v", hd.ID, st.Exit)
		}
	}
	b, err := os.ReadFile(filepath.Join(shared, "order"))
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
		t.Errorf("start order %v: tenant b's task waited behind tenant a's queue", got)
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
		{"no workers", func(s *executor.Spec) { s.Workers = 0 }, "workers", nil},
		{"negative workers", func(s *executor.Spec) { s.Workers = -1 }, "workers", nil},
		{"no command", func(s *executor.Spec) { s.Command = nil }, "command", nil},
		{"bad id", func(s *executor.Spec) { s.ID = "a/b" }, "ID", nil},
		{"whole GPUs and GPU memory", func(s *executor.Spec) { s.GPUs, s.GPUMemoryMB = 1, 1024 }, "gpu_memory", nil},
		{"GPU memory not whole GiB", func(s *executor.Spec) { s.GPUMemoryMB = 1000 }, "gpu_memory", nil},
		{"more workers than slots", func(s *executor.Spec) { s.Workers = slots + 1 }, "", executor.ErrTooLarge},
		{"more GPUs than exist", func(s *executor.Spec) { s.GPUs = len(ex.Capacity().GPUs) + 1 }, "", gpuErr(ex)},
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
	// A missing working directory is the driver's to refuse: the task
	// exits at once, it never runs.
	s := spec(t, 1, sh("true"))
	s.Dir = filepath.Join(s.Dir, "missing")
	hd, err := ex.Submit(ctxT(t), s)
	if err == nil {
		wantExit(t, MustWait(t, ex, hd), driver.ExitStartFailed, -1, -1)
	}
}

// gpuErr is what asking for more GPUs than exist gives: ErrTooLarge, or
// ErrUnsupported from a driver without GPUs.
func gpuErr(ex *executor.Executor) error {
	if !ex.Capabilities().GPUs {
		return executor.ErrUnsupported
	}
	return executor.ErrTooLarge
}

func testNotFound(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	real := MustSubmit(t, ex, spec(t, 1, sh("true")))
	MustWait(t, ex, real)
	for _, hd := range []*executor.Handle{
		{Driver: real.Driver, Version: real.Version, ID: "no-such-task"},
		{Driver: "no-such-driver", Version: real.Version, ID: real.ID},
		nil,
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
	if err := ex.Recover(ctxT(t), &executor.Handle{Driver: real.Driver, Version: real.Version, ID: "no-such-task"}); !errors.Is(err, executor.ErrNotFound) {
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
	ex := MustNew(t, h)
	const limit = 256 << 20
	run := func(alloc int) *executor.Status {
		s := spec(t, 1, []string{python(), "-c", fmt.Sprintf("b = bytearray(%d); print(len(b))", alloc)})
		s.MemoryBytes = limit
		return MustWait(t, ex, MustSubmit(t, ex, s))
	}
	if st := run(16 << 20); !st.Exit.Success() {
		t.Errorf("16 MiB under a 256 MiB limit: %+v", st.Exit)
	}
	if st := run(1 << 30); st.Exit.Success() || st.Exit.Worker != 0 {
		t.Errorf("1 GiB under a 256 MiB limit: %+v, want a failure", st.Exit)
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
	for _, releaseWhileClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("releaseWhileClosed=%v", releaseWhileClosed), func(t *testing.T) {
			t.Parallel()
			c := *h // a harness of its own: a state directory of its own
			h := &c
			ex1 := MustNew(t, h)
			n := ex1.Capacity().Slots
			// Worker 1 fails with code 4 after worker 0 has finished, so the
			// exit code and the failed worker come from the exit records.
			s := spec(t, n, sh(`
echo start-$RANK
while [ ! -e go ]; do sleep 0.01; done
if [ "$RANK" = 0 ]; then echo done-0; touch done-0; exit 0; fi
while [ ! -e done-0 ]; do sleep 0.01; done
echo done-$RANK
touch done-$RANK
[ "$RANK" = $((WORLD_SIZE-1)) ] || exit 0
exit 4`))
			running := MustSubmit(t, ex1, s)
			queuedSpec := spec(t, 1, sh("echo queued-ran"))
			queued := MustSubmit(t, ex1, queuedSpec)
			MustState(t, ex1, running, executor.Running)
			for i := range n {
				poll(t, "worker start", func() bool { return MustLogs(t, ex1, running, i, 0) != "" })
			}
			if st, _ := ex1.Status(ctxT(t), queued); st.State != executor.Queued {
				t.Fatalf("second task = %+v, want queued", st)
			}
			running, queued = roundTrip(t, running), roundTrip(t, queued)
			if err := ex1.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ex1.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if releaseWhileClosed {
				touch(t, filepath.Join(s.Dir, "go"))
				poll(t, "last worker done", func() bool {
					_, err := os.Stat(filepath.Join(s.Dir, fmt.Sprintf("done-%d", n-1)))
					return err == nil
				})
			}
			ex2 := MustNew(t, h)
			for _, hd := range []*executor.Handle{running, queued} {
				// Open restored the journal: the task is known at once.
				if _, err := ex2.Status(ctxT(t), hd); err != nil {
					t.Errorf("Status before Recover = %v", err)
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
					t.Errorf("recovered task: %+v, %v; want running", st, err)
				}
				touch(t, filepath.Join(s.Dir, "go"))
			}
			st := MustWait(t, ex2, running)
			wantExit(t, st, driver.ExitFailed, 4, n-1)
			if !strings.Contains(st.Exit.Message, fmt.Sprintf("worker-%d", n-1)) {
				t.Errorf("message %q does not name worker %d", st.Exit.Message, n-1)
			}
			if got := MustLogs(t, ex2, running, 0, 0); got != "start-0\ndone-0\n" {
				t.Errorf("worker 0 log = %q", got)
			}
			if st := MustWait(t, ex2, queued); !st.Exit.Success() {
				t.Errorf("recovered queued task = %+v", st.Exit)
			}
			if got := MustLogs(t, ex2, queued, 0, 0); got != "queued-ran\n" {
				t.Errorf("queued task log = %q", got)
			}
		})
	}
}

func testRecoverLost(t *testing.T, h *Harness) {
	ex1 := MustNew(t, h)
	s := spec(t, 2, sh(`touch up-$RANK; exec sleep 1000`))
	hd := MustSubmit(t, ex1, s)
	waitFile(t, filepath.Join(s.Dir, "up-0"))
	waitFile(t, filepath.Join(s.Dir, "up-1"))
	pgids := groups(t, h, s.ID)
	if len(pgids) != 2 {
		t.Fatalf("groups = %v, want 2", pgids)
	}
	hd = roundTrip(t, hd)
	if err := ex1.Close(); err != nil {
		t.Fatal(err)
	}
	// The machine "reboots": every process of the task dies at once,
	// without the chance to record an exit code.
	for _, pg := range pgids {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	for _, pg := range pgids {
		poll(t, "killed group gone", func() bool { return groupGone(pg) })
	}
	ex2 := MustNew(t, h)
	if err := ex2.Recover(ctxT(t), hd); !errors.Is(err, executor.ErrLost) {
		t.Fatalf("Recover of a killed task = %v, want ErrLost", err)
	}
	st, err := ex2.Status(ctxT(t), hd)
	if err != nil || st.State != executor.Exited || st.Exit.Kind != driver.ExitLost {
		t.Errorf("Status of a lost task = %+v, %v; want exited, lost", st, err)
	}
}

func testForget(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh("echo x"))
	hd := MustSubmit(t, ex, s)
	MustWait(t, ex, hd)
	if err := ex.Forget(ctxT(t), hd); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Status(ctxT(t), hd); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Status after Forget = %v, want ErrNotFound", err)
	}
	if err := ex.Recover(ctxT(t), hd); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Recover after Forget = %v, want ErrNotFound", err)
	}
	if err := ex.Forget(ctxT(t), hd); err != nil {
		t.Errorf("second Forget = %v", err)
	}
	// The ID is free again.
	MustWait(t, ex, MustSubmit(t, ex, s))
}
