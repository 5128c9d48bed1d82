package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/fakeexec"
	"github.com/atelier-dev/atelier/internal/clock"
)

const deadline = 10 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	t     *testing.T
	d     *fakeexec.Driver
	ex    *executor.Executor
	clock *clock.Fake
	state string
	slots int
}

func newEnv(t *testing.T, slots int, opts fakeexec.Options) *env {
	t.Helper()
	e := &env{t: t, d: fakeexec.New(opts), clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), state: t.TempDir(), slots: slots}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	ex, err := executor.Open(e.t.Context(), e.d, executor.Options{StateDir: e.state, Slots: e.slots, Clock: e.clock, Logger: quiet(), PollInterval: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ex = ex
	e.t.Cleanup(func() { _ = ex.Close() })
}

// restart closes the executor and opens a new one over the same journal
// and the same (surviving) fake tasks.
func (e *env) restart() {
	e.t.Helper()
	if err := e.ex.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.d = e.d.Reopen()
	e.open()
}

func (e *env) submit(id, tenant string, workers int, mod ...func(*executor.Spec)) *executor.Handle {
	e.t.Helper()
	s := &executor.Spec{ID: id, Tenant: tenant, Workers: workers, Command: []string{"run"}, Dir: "/work/" + id}
	for _, m := range mod {
		m(s)
	}
	h, err := e.ex.Submit(e.t.Context(), s)
	if err != nil {
		e.t.Fatalf("Submit(%s): %v", id, err)
	}
	return h
}

// started waits for the driver to start the next task and returns its ID.
func (e *env) started() string {
	e.t.Helper()
	return e.d.WaitStarted(e.t, deadline)
}

// running waits until the executor has recorded h's start (the driver
// signals Started before it returns the handle).
func (e *env) running(h *executor.Handle) {
	e.t.Helper()
	c, err := e.ex.Started(h)
	if err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-c:
	case <-time.After(deadline):
		e.t.Fatalf("%s never ran", h.ID)
	}
}

// noneStarted checks that the driver has been asked to start nothing more
// so far. The decision is taken in Submit or at an exit, but the driver is
// called from a goroutine, so a wrong start can show later: the tests then
// check the exact order of the starts that follow, which it would break.
func (e *env) noneStarted() {
	e.t.Helper()
	select {
	case id := <-e.d.Started():
		e.t.Fatalf("task %s started, want none", id)
	default:
	}
}

func (e *env) wait(h *executor.Handle) *executor.Status {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), deadline)
	defer cancel()
	st, err := e.ex.Wait(ctx, h)
	if err != nil {
		e.t.Fatalf("Wait(%s): %v", h.ID, err)
	}
	return st
}

func (e *env) exit(id string) {
	e.t.Helper()
	if err := e.d.Exit(id, driver.ExitResult{Kind: driver.ExitCompleted, Worker: -1}); err != nil {
		e.t.Fatal(err)
	}
}

func TestFIFOAndFairness(t *testing.T) {
	e := newEnv(t, 2, fakeexec.Options{})
	e.submit("a1", "a", 2)
	if id := e.started(); id != "a1" {
		t.Fatalf("started %s", id)
	}
	// Every task takes both slots, so that one runs at a time and the
	// order of the driver's starts is the scheduler's.
	for _, id := range []string{"a2", "a3"} {
		e.submit(id, "a", 2)
	}
	e.submit("b1", "b", 2)
	e.submit("b2", "b", 2)
	e.noneStarted()
	var order []string
	exit := func(id string) {
		e.exit(id)
		e.wait(&executor.Handle{Driver: fakeexec.Name, Version: 2, ID: id})
	}
	exit("a1")
	// Tenant a was served last: b's oldest goes first, then a's, then b's.
	for len(order) < 4 {
		id := e.started()
		order = append(order, id)
		exit(id)
	}
	if want := []string{"b1", "a2", "b2", "a3"}; !slices.Equal(order, want) {
		t.Errorf("start order %v, want %v", order, want)
	}
}

func TestGPUBestFit(t *testing.T) {
	gpus := []driver.GPU{
		{Index: 0, UUID: "GPU-0", Type: "nvidia-t4", MemoryMB: 16384},
		{Index: 1, UUID: "GPU-1", Type: "nvidia-t4", MemoryMB: 16384},
		{Index: 2, UUID: "GPU-2", Type: "nvidia-a100", MemoryMB: 40960},
	}
	e := newEnv(t, 8, fakeexec.Options{GPUs: gpus})
	share := func(mb int64, typ string) func(*executor.Spec) {
		return func(s *executor.Spec) { s.GPUMemoryMB, s.GPUType = mb, typ }
	}
	placed := func(id string) []string {
		t.Helper()
		cfg, ok := e.d.Task(id)
		if !ok {
			t.Fatalf("%s not started", id)
		}
		var out []string
		for _, w := range cfg.WorkerGPUs {
			for _, g := range w {
				out = append(out, g.UUID)
			}
		}
		return out
	}
	e.submit("x", "a", 1, share(12288, "nvidia-t4"))
	e.started()
	e.submit("y", "a", 1, share(8192, "nvidia-t4")) // GPU 0 has 4096 left: GPU 1
	e.started()
	e.submit("z", "a", 1, share(4096, "nvidia-t4")) // fits GPU 0 exactly (tightest)
	e.started()
	e.submit("w", "a", 2, share(4096, "")) // any type: GPU 1 (8192 left) twice
	e.started()
	for id, want := range map[string][]string{"x": {"GPU-0"}, "y": {"GPU-1"}, "z": {"GPU-0"}, "w": {"GPU-1", "GPU-1"}} {
		if got := placed(id); !slices.Equal(got, want) {
			t.Errorf("%s placed on %v, want %v", id, got, want)
		}
	}
	// Every T4 is full: a whole T4 waits, a whole A100 runs.
	whole := func(typ string) func(*executor.Spec) {
		return func(s *executor.Spec) { s.GPUs, s.GPUType = 1, typ }
	}
	e.submit("v", "b", 1, whole("nvidia-t4"))
	e.submit("u", "c", 1, whole("nvidia-a100"))
	if id := e.started(); id != "u" {
		t.Fatalf("started %s, want u", id)
	}
	e.noneStarted()
	// An A100 share cannot go on the A100 held whole.
	e.submit("s", "d", 1, share(1024, "nvidia-a100"))
	e.noneStarted()
	e.exit("x")
	e.exit("z")
	if id := e.started(); id != "v" {
		t.Fatalf("started %s once GPU 0 was free, want v", id)
	}
	if got := placed("v"); !slices.Equal(got, []string{"GPU-0"}) {
		t.Errorf("v placed on %v", got)
	}
	st, err := e.ex.Status(t.Context(), &executor.Handle{Driver: fakeexec.Name, Version: 2, ID: "v"})
	if err != nil || len(st.GPUs) != 1 || st.GPUs[0][0].ShareMB != 16384 {
		t.Errorf("status GPUs = %+v, %v", st, err)
	}
	// Nothing asks for more than exists.
	_, err = e.ex.Submit(t.Context(), &executor.Spec{ID: "huge", Workers: 1, Command: []string{"x"}, Dir: "/d", GPUMemoryMB: 20480, GPUType: "nvidia-t4"})
	if !errors.Is(err, executor.ErrTooLarge) {
		t.Errorf("20 GiB share of a 16 GiB T4 = %v, want ErrTooLarge", err)
	}
}

// TestGPUPackingT4 packs GPU-memory shares on a configured 2 × T4 16 GB:
// best fit, never over-committed, and each worker's environment is
// exactly driver.GPUEnv of its placement.
func TestGPUPackingT4(t *testing.T) {
	t4s := []driver.GPU{
		{Index: 0, UUID: "GPU-t4-0", Type: "nvidia-t4", MemoryMB: 16384},
		{Index: 1, UUID: "GPU-t4-1", Type: "nvidia-t4", MemoryMB: 16384},
	}
	share := func(gb int64) func(*executor.Spec) {
		return func(s *executor.Spec) { s.GPUMemoryMB = gb * 1024 }
	}
	placed := func(e *env, id string) []driver.Assigned {
		t.Helper()
		cfg, ok := e.d.Task(id)
		if !ok || len(cfg.WorkerGPUs) != 1 || len(cfg.WorkerGPUs[0]) != 1 {
			t.Fatalf("%s: placement %+v, want one share of one GPU", id, cfg)
		}
		return cfg.WorkerGPUs[0]
	}
	envOf := func(uuid string, mb int64) map[string]string {
		return map[string]string{"CUDA_VISIBLE_DEVICES": uuid, "NVIDIA_VISIBLE_DEVICES": uuid, "ATELIER_GPU_MEMORY_MB": strconv.FormatInt(mb, 10)}
	}

	t.Run("two 8 GB, then 9 GB on the second GPU, then a wait", func(t *testing.T) {
		e := newEnv(t, 32, fakeexec.Options{GPUs: t4s})
		for _, c := range []struct {
			id   string
			gb   int64
			uuid string
		}{{"a", 8, "GPU-t4-0"}, {"b", 8, "GPU-t4-0"}, {"c", 9, "GPU-t4-1"}, {"d", 7, "GPU-t4-1"}} {
			e.submit(c.id, "t", 1, share(c.gb))
			if id := e.started(); id != c.id {
				t.Fatalf("started %s, want %s", id, c.id)
			}
			got := placed(e, c.id)
			if got[0].UUID != c.uuid || got[0].ShareMB != c.gb*1024 {
				t.Errorf("%s (%d GB) placed %+v, want %s", c.id, c.gb, got[0], c.uuid)
			}
			// Without MPS (fakeexec has none) the share is advisory.
			if env := driver.GPUEnv(got, ""); !maps.Equal(env, envOf(c.uuid, c.gb*1024)) {
				t.Errorf("%s's environment = %v", c.id, env)
			}
		}
		// Both T4s are full (16 + 16): 1 GB waits, queued, until one ends.
		h := e.submit("e", "t", 1, share(1))
		e.noneStarted()
		if st, err := e.ex.Status(t.Context(), h); err != nil || st.State != executor.Queued {
			t.Fatalf("1 GB with both T4s full: %+v, %v, want queued", st, err)
		}
		e.exit("c")
		if id := e.started(); id != "e" {
			t.Fatalf("started %s once c ended, want e", id)
		}
		if got := placed(e, "e"); got[0].UUID != "GPU-t4-1" {
			t.Errorf("e placed on %s, want GPU-t4-1 (the only room)", got[0].UUID)
		}
	})

	t.Run("sixteen 1 GB shares fill one T4 before the other", func(t *testing.T) {
		e := newEnv(t, 64, fakeexec.Options{GPUs: t4s})
		count := map[string]int{}
		for i := range 32 {
			id := fmt.Sprintf("s%02d", i)
			e.submit(id, "t", 1, share(1))
			if got := e.started(); got != id {
				t.Fatalf("started %s, want %s", got, id)
			}
			g := placed(e, id)[0]
			count[g.UUID]++
			if want := fmt.Sprintf("GPU-t4-%d", i/16); g.UUID != want {
				t.Errorf("share %d on %s, want %s (best fit fills the fuller GPU first)", i, g.UUID, want)
			}
		}
		if count["GPU-t4-0"] != 16 || count["GPU-t4-1"] != 16 {
			t.Errorf("shares per GPU %v, want 16 and 16", count)
		}
		h := e.submit("over", "t", 1, share(1))
		e.noneStarted()
		if st, _ := e.ex.Status(t.Context(), h); st.State != executor.Queued {
			t.Errorf("a 33rd 1 GB share: %+v, want queued (never over-committed)", st)
		}
	})

	t.Run("larger than any GPU is refused at submit", func(t *testing.T) {
		e := newEnv(t, 8, fakeexec.Options{GPUs: t4s})
		for _, mod := range []func(*executor.Spec){
			share(17),
			func(s *executor.Spec) { s.GPUMemoryMB, s.GPUType = 8192, "nvidia-a100" },
		} {
			s := &executor.Spec{ID: "big", Workers: 1, Command: []string{"x"}, Dir: "/d"}
			mod(s)
			_, err := e.ex.Submit(t.Context(), s)
			if !errors.Is(err, executor.ErrTooLarge) || !strings.Contains(err.Error(), "gpu_memory") {
				t.Errorf("%d MB of %q = %v, want ErrTooLarge naming gpu_memory", s.GPUMemoryMB, s.GPUType, err)
			}
		}
		_, err := e.ex.Submit(t.Context(), &executor.Spec{ID: "three", Workers: 1, Command: []string{"x"}, Dir: "/d", GPUs: 3})
		if !errors.Is(err, executor.ErrTooLarge) || !strings.Contains(err.Error(), "gpus") {
			t.Errorf("3 whole GPUs of 2 = %v, want ErrTooLarge naming gpus", err)
		}
		// Three 16 GB shares can never run at once on two 16 GB T4s.
		_, err = e.ex.Submit(t.Context(), &executor.Spec{ID: "gang", Workers: 3, Command: []string{"x"}, Dir: "/d", GPUMemoryMB: 16384})
		if !errors.Is(err, executor.ErrTooLarge) {
			t.Errorf("3 × 16 GB on 2 × 16 GB = %v, want ErrTooLarge", err)
		}
		e.noneStarted()
	})
}

func TestTimeoutOnFakeClock(t *testing.T) {
	e := newEnv(t, 2, fakeexec.Options{})
	h := e.submit("slow", "a", 1, func(s *executor.Spec) { s.Timeout = time.Minute })
	e.started()
	e.running(h)
	e.clock.Advance(59 * time.Second)
	if st, _ := e.ex.Status(t.Context(), h); st.State != executor.Running {
		t.Fatalf("before its timeout: %+v", st)
	}
	// The check runs on the next tick past the timeout.
	var st *executor.Status
	for st == nil || st.State != executor.Exited {
		e.clock.Advance(time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		st, _ = e.ex.Wait(ctx, h)
		cancel()
		if st == nil {
			st = &executor.Status{}
		}
	}
	if st.Exit.Kind != driver.ExitTimedOut || !slices.Equal(e.d.Stops(), []string{"slow"}) {
		t.Errorf("exit %+v, stops %v; want timed out, one stop", st.Exit, e.d.Stops())
	}
}

func TestStopKinds(t *testing.T) {
	e := newEnv(t, 1, fakeexec.Options{})
	running := e.submit("r", "a", 1)
	e.started()
	queued := e.submit("q", "a", 1)
	if err := e.ex.Stop(t.Context(), queued, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := e.wait(queued); st.Exit.Kind != driver.ExitStopped || !st.StartedAt.IsZero() {
		t.Errorf("stopped queued task = %+v", st)
	}
	if err := e.ex.Stop(t.Context(), running, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := e.wait(running); st.Exit.Kind != driver.ExitStopped {
		t.Errorf("stopped running task = %+v", st.Exit)
	}
	e.noneStarted() // the stopped queued task never starts
}

func TestStartRefused(t *testing.T) {
	e := newEnv(t, 2, fakeexec.Options{StartErr: map[string]error{"bad": errors.New("the cluster said no")}})
	h := e.submit("bad", "a", 1)
	st := e.wait(h)
	if st.Exit.Kind != driver.ExitStartFailed || strings.Contains(st.Exit.Message, "cluster said no") {
		t.Errorf("exit = %+v, want start_failed without the driver's internals", st.Exit)
	}
	// Its slot came back.
	e.submit("good", "a", 2)
	if id := e.started(); id != "good" {
		t.Errorf("started %s", id)
	}
}

func TestCapabilitiesRefuse(t *testing.T) {
	caps := driver.Capabilities{Batch: true}
	e := newEnv(t, 4, fakeexec.Options{Capabilities: &caps})
	for name, mod := range map[string]func(*executor.Spec){
		"gang":    func(s *executor.Spec) { s.Workers = 2 },
		"service": func(s *executor.Spec) { s.Kind = driver.KindService },
		"ports":   func(s *executor.Spec) { s.Ports = []string{"http"} },
		"gpus":    func(s *executor.Spec) { s.GPUs = 1 },
	} {
		s := &executor.Spec{ID: "x", Workers: 1, Command: []string{"x"}, Dir: "/d"}
		mod(s)
		if _, err := e.ex.Submit(t.Context(), s); !errors.Is(err, executor.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
}

func TestDriverQueue(t *testing.T) {
	caps := driver.Capabilities{Batch: true, Gang: true, Queue: true, Recover: true}
	e := newEnv(t, 1, fakeexec.Options{Capabilities: &caps})
	// A driver with a queue of its own gets every task at once, even more
	// workers than the executor's slots.
	e.submit("a", "t", 3)
	e.submit("b", "t", 3)
	got := []string{e.started(), e.started()}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("started %v", got)
	}
}

func TestRecoverJournal(t *testing.T) {
	e := newEnv(t, 1, fakeexec.Options{})
	run := e.submit("run", "a", 1)
	e.started()
	q1 := e.submit("q1", "a", 1)
	q2 := e.submit("q2", "b", 1)
	lost := e.submit("lost", "c", 1)
	_ = lost
	e.restart()
	// Recovered in another order than submitted: the queue keeps the
	// submission order.
	for _, h := range []*executor.Handle{q2, run, q1} {
		if err := e.ex.Recover(t.Context(), h); err != nil {
			t.Fatalf("Recover(%s): %v", h.ID, err)
		}
	}
	if st, _ := e.ex.Status(t.Context(), run); st.State != executor.Running {
		t.Errorf("recovered running task = %+v", st)
	}
	e.noneStarted() // the one slot is held by the recovered task
	e.exit("run")
	if id := e.started(); id != "q1" {
		t.Errorf("started %s first, want q1 (submitted first)", id)
	}
	// A running task whose processes vanished while no server watched.
	if err := e.ex.Close(); err != nil {
		t.Fatal(err)
	}
	e.d.Vanish("q1")
	e.d = e.d.Reopen()
	e.open()
	err := e.ex.Recover(t.Context(), q1)
	if !errors.Is(err, executor.ErrLost) {
		t.Fatalf("Recover of a vanished task = %v, want ErrLost", err)
	}
	if st, _ := e.ex.Status(t.Context(), q1); st.Exit == nil || st.Exit.Kind != driver.ExitLost {
		t.Errorf("vanished task = %+v", st)
	}
	if err := e.ex.Recover(t.Context(), &executor.Handle{Driver: fakeexec.Name, Version: 1, ID: "q2"}); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Recover of an old handle version = %v, want ErrNotFound", err)
	}
}

// TestRecoverQueuedRecordLost: a journal record still says queued (only
// the submission is synced) but the task had started and the driver lost
// it: it ends lost, it is not queued to run again.
func TestRecoverQueuedRecordLost(t *testing.T) {
	e := newEnv(t, 1, fakeexec.Options{})
	h := e.submit("x", "a", 1)
	e.started()
	e.running(h)
	if err := e.ex.Close(); err != nil {
		t.Fatal(err)
	}
	// Turn the record back to queued, as a crash before the unsynced
	// write reached the disk would leave it.
	path := filepath.Join(e.state, "x.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["state"] = executor.Queued
	delete(rec, "handle")
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.Vanish("x")
	e.d = e.d.Reopen()
	e.open()
	if err := e.ex.Recover(t.Context(), h); !errors.Is(err, executor.ErrLost) {
		t.Errorf("Recover = %v, want ErrLost", err)
	}
	if st, _ := e.ex.Status(t.Context(), h); st.Exit == nil || st.Exit.Kind != driver.ExitLost {
		t.Errorf("status = %+v, want exited lost", st)
	}
	e.noneStarted()
}

func TestSubmitDuplicateAndClosed(t *testing.T) {
	e := newEnv(t, 1, fakeexec.Options{})
	e.submit("x", "a", 1)
	if _, err := e.ex.Submit(t.Context(), &executor.Spec{ID: "x", Workers: 1, Command: []string{"x"}, Dir: "/d"}); err == nil {
		t.Error("duplicate ID: no error")
	}
	_ = e.ex.Close()
	if _, err := e.ex.Submit(t.Context(), &executor.Spec{ID: "y", Workers: 1, Command: []string{"x"}, Dir: "/d"}); err == nil {
		t.Error("Submit after Close: no error")
	}
}

// TestForgetRunning: forgetting a task that still runs stops it at once,
// and its journal record stays removed after the executor saw it end.
func TestForgetRunning(t *testing.T) {
	e := newEnv(t, 1, fakeexec.Options{})
	h := e.submit("doomed", "a", 1)
	e.started()
	if err := e.ex.Forget(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.d.Task("doomed"); ok {
		t.Error("the driver still has the task")
	}
	// The slot is free again: the next task starts.
	e.submit("next", "a", 1)
	if id := e.started(); id != "next" {
		t.Fatalf("started %s", id)
	}
	e.restart()
	if err := e.ex.Recover(t.Context(), h); !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Recover of a forgotten task = %v, want ErrNotFound", err)
	}
}
