// Package executor runs tasks — gangs of identical workers, batch or
// long-running — on a driver (executor/driver): the local machine in a
// sandbox (localexec), an in-memory fake (fakeexec), and later Slurm and
// Kubernetes. It is the portable half of go-cloud's portable-type/driver
// split: validation, the queue with per-tenant fairness, placement of
// workers on slots and of GPU memory on GPUs, timeouts, stop reasons, a
// journal that survives restarts, and the typed errors live here once, so
// that a driver only starts, stops, observes and recovers tasks.
//
// An Executor knows nothing of jobs, tenants' objects or the store. Its
// callers (the workload runtime) stage a working directory, Submit a Spec,
// follow the Status and logs, and keep the Handle, so that a restarted
// server can Recover the task.
//
// Durability: every accepted task has a journal record in
// Options.StateDir, written (synced) before Submit returns and at every
// change of state, so that a queued task is queued again after a restart
// and a running one is re-attached through its driver.
package executor

import (
	"cmp"
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
	"strings"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/internal/atomicfile"
	"github.com/atelier-dev/atelier/internal/clock"
)

// handleVersion is the version of Handle's format.
const handleVersion = 2

// Defaults applied by Open.
const (
	DefaultGrace        = 10 * time.Second
	DefaultPollInterval = time.Second
)

// GPU memory granularity (CONTRACT §6): a share of a GPU is a whole
// number of GiB, at least one.
const GPUMemoryStepMB = 1024

// Errors of the executor contract, besides driver.ErrNotFound (an unknown
// handle) and driver.ErrLost (re-exported below).
var (
	// ErrNotFound: the handle names no task this executor knows.
	ErrNotFound = driver.ErrNotFound
	// ErrLost: the task's processes are gone without a recorded end;
	// Recover returns it (the task is then exited with ExitLost).
	ErrLost = driver.ErrLost
	// ErrTooLarge: the spec asks for more than the executor can ever run
	// (more workers than slots, more GPUs or GPU memory than exist).
	ErrTooLarge = errors.New("executor: spec exceeds capacity")
	// ErrUnsupported: the spec needs what the driver does not declare.
	ErrUnsupported = driver.ErrUnsupported
)

// States of a task.
const (
	Queued  = "queued"  // accepted, waiting for capacity (or in the driver's queue)
	Running = "running" // every worker started
	Exited  = "exited"  // every worker has ended; see Status.Exit
)

// starting is the journal's state of a task handed to the driver whose
// handle is not recorded yet. Status shows it as Queued.
const starting = "starting"

// Spec is one task to run.
type Spec struct {
	// ID names the task; unique among the executor's tasks, e.g.
	// "<job id>-v3". Letters, digits, '-', '_' and '.', at most 128.
	ID string `json:"id"`
	// Tenant is the owner, for per-tenant fair queuing.
	Tenant string `json:"tenant"`
	// Kind is driver.KindBatch (default) or driver.KindService.
	Kind driver.Kind `json:"kind,omitempty"`
	// Workers is the number of identical workers, at least 1. Every
	// worker gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
	// NODE_RANK, GROUP_RANK, MASTER_ADDR, MASTER_PORT and the torchrun
	// PET_* family, so torch.distributed and torchrun scripts work.
	Workers int `json:"workers"`
	// Command is the argv every worker runs, in Dir.
	Command []string `json:"command"`
	// Env is the task's own environment (nothing of the server's is
	// inherited; the driver adds the documented variables).
	Env map[string]string `json:"env,omitempty"`
	// Dir is the task's working directory (see driver.TaskConfig.Dir).
	Dir string `json:"dir"`
	// Mounts are extra directories in the task's view.
	Mounts []driver.Mount `json:"mounts,omitempty"`
	// CPU (cores) and MemoryBytes limit each worker where the driver can
	// (0: no limit).
	CPU         float64 `json:"cpu,omitempty"`
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	// GPUs is the number of whole GPUs per worker; GPUMemoryMB instead
	// asks for a share of one GPU per worker, in MB, a multiple of
	// GPUMemoryStepMB. At most one of the two is set. GPUType, when set,
	// restricts placement to GPUs of that type (e.g. "nvidia-t4").
	GPUs        int    `json:"gpus,omitempty"`
	GPUMemoryMB int64  `json:"gpu_memory_mb,omitempty"`
	GPUType     string `json:"gpu_type,omitempty"`
	// Ports and Readiness are for long-running tasks.
	Ports     []string      `json:"ports,omitempty"`
	Readiness *driver.Probe `json:"readiness,omitempty"`
	// Limits bound processes, open files and /tmp (0: driver defaults).
	Limits driver.Limits `json:"limits"`
	// Timeout stops the task after this long running (0: never); it then
	// exits with driver.ExitTimedOut.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Handle identifies a submitted task. It is serialisable (JSON) and
// versioned; the caller stores it and hands it to Recover after a
// restart. It never changes after Submit.
type Handle struct {
	Driver  string `json:"driver"`
	Version int    `json:"version"`
	ID      string `json:"id"`
}

// Status is what the executor knows of a task.
type Status struct {
	State string
	// Exit is how the task ended, once State is Exited.
	Exit       *driver.ExitResult
	StartedAt  time.Time
	FinishedAt time.Time
	// Endpoints and Ready are the driver's, while running.
	Endpoints []driver.Endpoint
	Ready     bool
	// GPUs[i] are the GPUs placed for worker i.
	GPUs [][]driver.Assigned
}

// Capacity is what an executor can run at once.
type Capacity struct {
	Slots    int   // workers that run at once; more are queued
	CPU      int   // cores
	MemoryMB int64 // total memory
	GPUs     []driver.GPU
}

// Options configures an Executor. Zero values take the defaults.
type Options struct {
	// StateDir holds the journal, one file per task. Required.
	StateDir string
	// Slots is how many workers run at once (default: the driver's CPUs).
	// Ignored for a driver with its own queue.
	Slots int
	// Grace is how long workers get between SIGTERM and SIGKILL at a
	// timeout (default DefaultGrace).
	Grace time.Duration
	// PollInterval is how often timeouts are checked (default 1s).
	PollInterval time.Duration
	Clock        clock.Clock  // default clock.Real
	Logger       *slog.Logger // default slog.Default()
}

// Executor runs tasks on one driver. It is safe for concurrent use.
type Executor struct {
	d    driver.Driver
	caps driver.Capabilities
	fp   *driver.Fingerprint
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	tasks  map[string]*task
	queues map[string][]*task // per tenant, in submission order
	ring   []string           // tenants with queued tasks, round-robin
	next   int                // index in ring of the tenant served next
	last   string             // tenant served last
	used   int                // slots in use
	gpus   []gpuBin
	seq    int64

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

type task struct {
	rec     record
	done    chan struct{} // closed once exited
	started chan struct{} // closed once running or exited
	stopReq bool          // a stop came while starting
	lost    bool          // the driver had lost it when the journal was loaded
	gone    bool          // forgotten: its journal record is removed and stays so
}

// record is a task's journal entry.
type record struct {
	Spec       Spec                `json:"spec"`
	Seq        int64               `json:"seq"`
	State      string              `json:"state"`
	Placement  [][]driver.Assigned `json:"placement,omitempty"`
	Handle     *driver.TaskHandle  `json:"handle,omitempty"`
	Stop       driver.ExitKind     `json:"stop,omitempty"` // stopped or timed_out, once asked
	Grace      time.Duration       `json:"grace,omitempty"`
	StartedAt  time.Time           `json:"started_at,omitzero"`
	FinishedAt time.Time           `json:"finished_at,omitzero"`
	Exit       *driver.ExitResult  `json:"exit,omitempty"`
}

type gpuBin struct {
	driver.GPU
	freeMB    int64
	exclusive bool // held whole
}

// Open fingerprints d and returns an Executor over it; Close stops it
// (tasks keep running where the driver can recover them).
func Open(ctx context.Context, d driver.Driver, opts Options) (*Executor, error) {
	if opts.StateDir == "" {
		return nil, errors.New("executor: Options.StateDir is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Grace = cmp.Or(opts.Grace, DefaultGrace)
	opts.PollInterval = cmp.Or(opts.PollInterval, DefaultPollInterval)
	fp, err := d.Fingerprint(ctx)
	if err != nil {
		return nil, fmt.Errorf("executor: fingerprint %s: %w", d.Name(), err)
	}
	opts.Slots = cmp.Or(opts.Slots, fp.CPUs, 1)
	if opts.Slots < 1 || opts.Grace < 0 || opts.PollInterval < 0 {
		return nil, errors.New("executor: Slots must be at least 1, Grace and PollInterval not negative")
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("executor: state dir: %w", err)
	}
	e := &Executor{
		d: d, caps: d.Capabilities(), fp: fp, opts: opts,
		log:    opts.Logger.With("executor", d.Name()),
		tasks:  map[string]*task{},
		queues: map[string][]*task{},
	}
	for _, g := range fp.GPUs {
		e.gpus = append(e.gpus, gpuBin{GPU: g, freeMB: g.MemoryMB})
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.mu.Lock()
	err = e.load(ctx)
	e.mu.Unlock()
	if err != nil {
		e.cancel()
		e.wg.Wait()
		return nil, err
	}
	e.wg.Add(1)
	go e.timeouts()
	return e, nil
}

// Name is the driver's name.
func (e *Executor) Name() string { return e.d.Name() }

// Capabilities are the driver's.
func (e *Executor) Capabilities() driver.Capabilities { return e.caps }

// Fingerprint is the driver's, as read at Open.
func (e *Executor) Fingerprint() driver.Fingerprint { return *e.fp }

// Capacity says what the executor runs at once.
func (e *Executor) Capacity() Capacity {
	return Capacity{Slots: e.opts.Slots, CPU: e.fp.CPUs, MemoryMB: e.fp.MemoryMB, GPUs: slices.Clone(e.fp.GPUs)}
}

// Close stops watching tasks and closes the driver; tasks keep running
// where the driver can recover them. Safe to call twice.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return e.d.Close()
}

var errClosed = atelier.CodeUnavailable.Errorf("The executor is shutting down.")

// Submit validates spec, journals it and queues it; it returns at once.
// Tasks start in submission order within a tenant, tenants taking turns,
// when every worker fits at once (slots and GPUs).
func (e *Executor) Submit(ctx context.Context, spec *Spec) (*Handle, error) {
	if err := e.validate(spec); err != nil {
		return nil, err
	}
	s := cloneSpec(spec)
	s.Kind = cmp.Or(s.Kind, driver.KindBatch)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	if _, ok := e.tasks[s.ID]; ok {
		return nil, atelier.CodeInvalidParam.Errorf("The task ID %q is already in use.", s.ID).WithField("id")
	}
	if _, err := os.Stat(e.journalPath(s.ID)); err == nil {
		return nil, atelier.CodeInvalidParam.Errorf("The task ID %q is already in use.", s.ID).WithField("id")
	}
	e.seq++
	t := newTask(record{Spec: s, Seq: e.seq, State: Queued})
	if err := e.saveDurably(t); err != nil {
		return nil, fmt.Errorf("executor: submit: %w", err)
	}
	e.tasks[s.ID] = t
	e.enqueue(t)
	e.schedule()
	return &Handle{Driver: e.d.Name(), Version: handleVersion, ID: s.ID}, nil
}

func newTask(r record) *task {
	return &task{rec: r, done: make(chan struct{}), started: make(chan struct{})}
}

func cloneSpec(s *Spec) Spec {
	c := *s
	c.Command = slices.Clone(s.Command)
	c.Mounts = slices.Clone(s.Mounts)
	c.Ports = slices.Clone(s.Ports)
	c.Env = maps.Clone(s.Env)
	if s.Readiness != nil {
		r := *s.Readiness
		c.Readiness = &r
	}
	return c
}

// validate checks a spec against the contract and the driver.
func (e *Executor) validate(s *Spec) error {
	inv := atelier.CodeInvalidParam
	switch {
	case s == nil:
		return inv.Errorf("The task spec is required.")
	case !validID(s.ID):
		return inv.Errorf("The task ID %q is not 1–128 letters, digits, '-', '_' or '.'.", s.ID).WithField("id")
	case s.Workers < 1:
		return inv.Errorf("workers must be at least 1.").WithField("workers")
	case len(s.Command) == 0 || s.Command[0] == "":
		return inv.Errorf("command must not be empty.").WithField("command")
	case s.CPU < 0 || s.MemoryBytes < 0 || s.GPUs < 0 || s.GPUMemoryMB < 0 || s.Timeout < 0:
		return inv.Errorf("cpu, memory, gpus, gpu_memory and timeout must not be negative.")
	case s.Limits.Processes < 0 || s.Limits.OpenFiles < 0 || s.Limits.TmpBytes < 0:
		return inv.Errorf("limits must not be negative.").WithField("limits")
	case s.GPUs > 0 && s.GPUMemoryMB > 0:
		return inv.Errorf("Ask for whole gpus or for gpu_memory, not both.").WithField("gpu_memory")
	case s.GPUMemoryMB > 0 && s.GPUMemoryMB%GPUMemoryStepMB != 0:
		return inv.Errorf("gpu_memory must be a multiple of %d MB, not %d.", GPUMemoryStepMB, s.GPUMemoryMB).WithField("gpu_memory")
	case s.Kind != "" && s.Kind != driver.KindBatch && s.Kind != driver.KindService:
		return inv.Errorf("kind %q is not batch or service.", s.Kind).WithField("kind")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return inv.Errorf("The environment variable name %q is not valid.", k).WithField("env")
		}
	}
	unsupported := func(what string) error {
		return fmt.Errorf("executor: the %s driver does not support %s: %w", e.d.Name(), what, ErrUnsupported)
	}
	switch {
	case s.Kind == driver.KindService && !e.caps.LongRunning:
		return unsupported("long-running tasks")
	case (s.Kind == "" || s.Kind == driver.KindBatch) && !e.caps.Batch:
		return unsupported("batch tasks")
	case s.Workers > 1 && !e.caps.Gang:
		return unsupported("gangs of several workers")
	case len(s.Ports) > 0 && !e.caps.Ports:
		return unsupported("ports")
	case (s.GPUs > 0 || s.GPUMemoryMB > 0) && !e.caps.GPUs:
		return unsupported("GPUs")
	}
	if !e.caps.Queue && s.Workers > e.opts.Slots {
		return fmt.Errorf("executor: %d workers, %d slots: %w", s.Workers, e.opts.Slots, ErrTooLarge)
	}
	if s.GPUs > 0 || s.GPUMemoryMB > 0 {
		// Against every GPU free: from the fingerprint, which no one
		// changes (e.gpus is the scheduler's, under mu).
		empty := make([]gpuBin, len(e.fp.GPUs))
		for i, g := range e.fp.GPUs {
			empty[i] = gpuBin{GPU: g, freeMB: g.MemoryMB}
		}
		if _, ok := place(empty, s); !ok {
			field := "gpus"
			if s.GPUMemoryMB > 0 {
				field = "gpu_memory"
			}
			return fmt.Errorf("executor: %s: %d workers × %s: %w", field, s.Workers, gpuAsk(s), ErrTooLarge)
		}
	}
	return nil
}

func gpuAsk(s *Spec) string {
	t := cmp.Or(s.GPUType, "any")
	if s.GPUs > 0 {
		return fmt.Sprintf("%d GPUs of type %s", s.GPUs, t)
	}
	return fmt.Sprintf("%d MB of GPU memory of type %s", s.GPUMemoryMB, t)
}

func validID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// enqueue adds t to its tenant's queue in submission order. Caller holds mu.
func (e *Executor) enqueue(t *task) {
	tn := t.rec.Spec.Tenant
	q := e.queues[tn]
	if len(q) == 0 {
		e.ring = append(e.ring, tn)
	}
	i, _ := slices.BinarySearchFunc(q, t.rec.Seq, func(x *task, seq int64) int { return cmp.Compare(x.rec.Seq, seq) })
	e.queues[tn] = slices.Insert(q, i, t)
}

// dequeue removes t from its queue. Caller holds mu.
func (e *Executor) dequeue(t *task) {
	tn := t.rec.Spec.Tenant
	q := slices.DeleteFunc(e.queues[tn], func(x *task) bool { return x == t })
	if len(q) > 0 {
		e.queues[tn] = q
		return
	}
	delete(e.queues, tn)
	i := slices.Index(e.ring, tn)
	if i < 0 {
		return
	}
	e.ring = slices.Delete(e.ring, i, i+1)
	if i < e.next {
		e.next--
	}
	if e.next >= len(e.ring) {
		e.next = 0
	}
}

// schedule starts queued tasks while they fit: tenants take turns in the
// order they queued, each starting the oldest of its tasks, and the tenant
// served last goes last when others wait. A tenant whose oldest task does
// not fit is passed over for this round. Caller holds mu.
func (e *Executor) schedule() {
	for len(e.ring) > 0 && !e.closed {
		order := make([]int, 0, len(e.ring))
		for i := range len(e.ring) {
			order = append(order, (e.next+i)%len(e.ring))
		}
		if len(order) > 1 && e.ring[order[0]] == e.last {
			order = append(order[1:], order[0])
		}
		started := false
		for _, idx := range order {
			tn := e.ring[idx]
			t := e.queues[tn][0]
			placement, ok := e.reserve(&t.rec.Spec)
			if !ok {
				continue
			}
			after := e.ring[(idx+1)%len(e.ring)]
			e.dequeue(t)
			e.next = max(slices.Index(e.ring, after), 0)
			e.last = tn
			e.begin(t, placement)
			started = true
			break
		}
		if !started {
			return
		}
	}
}

// reserve takes slots and GPUs for s when they are free. Caller holds mu.
func (e *Executor) reserve(s *Spec) ([][]driver.Assigned, bool) {
	if !e.caps.Queue && s.Workers > e.opts.Slots-e.used {
		return nil, false
	}
	var placement [][]driver.Assigned
	if s.GPUs > 0 || s.GPUMemoryMB > 0 {
		bins := slices.Clone(e.gpus)
		var ok bool
		if placement, ok = place(bins, s); !ok {
			return nil, false
		}
		e.gpus = bins
	}
	if !e.caps.Queue {
		e.used += s.Workers
	}
	return placement, true
}

// release gives back what reserve took. Caller holds mu.
func (e *Executor) release(r *record) {
	if !e.caps.Queue {
		e.used -= r.Spec.Workers
	}
	e.eachPlaced(r, func(b *gpuBin, share int64) {
		b.freeMB = min(b.freeMB+share, b.MemoryMB)
		if share >= b.MemoryMB {
			b.exclusive = false
		}
	})
}

// occupy marks a recovered task's placement as used. Caller holds mu.
func (e *Executor) occupy(r *record) {
	if !e.caps.Queue {
		e.used += r.Spec.Workers
	}
	e.eachPlaced(r, func(b *gpuBin, share int64) {
		b.freeMB = max(b.freeMB-share, 0)
		if share >= b.MemoryMB {
			b.exclusive = true
		}
	})
}

// eachPlaced calls fn with the GPU bin and the share of every GPU placed
// for r's workers. Caller holds mu.
func (e *Executor) eachPlaced(r *record, fn func(b *gpuBin, share int64)) {
	for _, w := range r.Placement {
		for _, a := range w {
			for i := range e.gpus {
				if e.gpus[i].Index == a.Index {
					fn(&e.gpus[i], a.ShareMB)
				}
			}
		}
	}
}

// place finds GPUs for every worker of s in bins, which it updates:
// whole GPUs are the lowest-numbered free ones of the type; a share of GPU
// memory goes to the GPU of the type whose free memory fits it most
// tightly (best fit), never over-committing a GPU.
func place(bins []gpuBin, s *Spec) ([][]driver.Assigned, bool) {
	out := make([][]driver.Assigned, s.Workers)
	for w := range s.Workers {
		if s.GPUs > 0 {
			for i := range bins {
				b := &bins[i]
				if len(out[w]) == s.GPUs {
					break
				}
				if typeMatches(b.Type, s.GPUType) && !b.exclusive && b.freeMB == b.MemoryMB && b.MemoryMB > 0 {
					b.exclusive, b.freeMB = true, 0
					out[w] = append(out[w], driver.Assigned{GPU: b.GPU, ShareMB: b.MemoryMB})
				}
			}
			if len(out[w]) < s.GPUs {
				return nil, false
			}
			continue
		}
		best := -1
		for i := range bins {
			b := &bins[i]
			if !typeMatches(b.Type, s.GPUType) || b.exclusive || b.freeMB < s.GPUMemoryMB {
				continue
			}
			if best < 0 || b.freeMB < bins[best].freeMB {
				best = i
			}
		}
		if best < 0 {
			return nil, false
		}
		bins[best].freeMB -= s.GPUMemoryMB
		out[w] = []driver.Assigned{{GPU: bins[best].GPU, ShareMB: s.GPUMemoryMB}}
	}
	return out, true
}

func typeMatches(have, want string) bool {
	return want == "" || strings.EqualFold(have, want)
}

// begin hands t to the driver in the background. Caller holds mu.
func (e *Executor) begin(t *task, placement [][]driver.Assigned) {
	t.rec.State = starting
	t.rec.Placement = placement
	if err := e.save(t); err != nil {
		e.log.Error("journal task", "task", t.rec.Spec.ID, "err", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.start(t)
	}()
}

// start calls the driver and then follows the task.
func (e *Executor) start(t *task) {
	cfg := e.taskConfig(&t.rec)
	h, err := e.d.StartTask(e.ctx, cfg)
	e.mu.Lock()
	if t.gone {
		// Forgotten while the driver started it: end it now.
		e.mu.Unlock()
		if err == nil {
			if err := e.d.DestroyTask(context.WithoutCancel(e.ctx), h); err != nil {
				e.log.Warn("destroy a forgotten task", "task", cfg.ID, "err", err)
			}
		}
		return
	}
	if err != nil {
		if e.ctx.Err() != nil {
			// Shutting down: the journal says starting; Recover finds out
			// whether the driver started it.
			e.mu.Unlock()
			return
		}
		e.log.Error("start task", "task", cfg.ID, "err", err)
		e.finish(t, &driver.ExitResult{Kind: driver.ExitStartFailed, Code: -1, Worker: -1, Message: startMessage(err)})
		e.schedule()
		e.mu.Unlock()
		return
	}
	t.rec.Handle = h
	t.rec.State = Running
	t.rec.StartedAt = e.opts.Clock.Now().UTC()
	if err := e.save(t); err != nil {
		e.log.Error("journal task", "task", cfg.ID, "err", err)
	}
	markStarted(t)
	stop := t.stopReq
	e.mu.Unlock()
	e.log.Info("task started", "task", cfg.ID, "tenant", cfg.Tenant, "workers", cfg.Workers)
	if stop {
		if err := e.d.StopTask(e.ctx, h, t.rec.Grace); err != nil {
			e.log.Warn("stop task", "task", cfg.ID, "err", err)
		}
	}
	e.watch(t, h)
}

// startMessage is what a task's owner is told of a driver's refusal.
func startMessage(err error) string {
	if ae, ok := errors.AsType[*atelier.Error](err); ok {
		return ae.Message
	}
	return "The executor could not start the task (the server log has the details)."
}

func (e *Executor) taskConfig(r *record) *driver.TaskConfig {
	s := &r.Spec
	return &driver.TaskConfig{
		ID: s.ID, Tenant: s.Tenant, Kind: s.Kind, Workers: s.Workers,
		Command: slices.Clone(s.Command), Env: maps.Clone(s.Env), Dir: s.Dir,
		Mounts:     slices.Clone(s.Mounts),
		Resources:  driver.Resources{CPU: s.CPU, MemoryBytes: s.MemoryBytes},
		WorkerGPUs: r.Placement,
		Ports:      slices.Clone(s.Ports), Readiness: s.Readiness,
		Limits: s.Limits, Timeout: s.Timeout,
	}
}

// watch waits for the driver to report the task's end in the
// background, then records it. Run in a goroutine counted in wg.
func (e *Executor) watch(t *task, h *driver.TaskHandle) {
	st, err := e.d.WaitTask(e.ctx, h)
	if e.ctx.Err() != nil {
		return // closing: a new executor recovers the task
	}
	var exit *driver.ExitResult
	finished := time.Time{}
	switch {
	case err != nil:
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrLost) {
			e.log.Error("wait task", "task", t.rec.Spec.ID, "err", err)
		}
		exit = &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1, Message: "The executor lost track of the task."}
	case st.Exit == nil:
		exit = &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1}
	default:
		exit = st.Exit
		finished = st.FinishedAt
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !finished.IsZero() {
		t.rec.FinishedAt = finished.UTC()
	}
	e.finish(t, exit)
	e.schedule()
}

// finish records t's end and frees what it held. Caller holds mu.
func (e *Executor) finish(t *task, exit *driver.ExitResult) {
	if t.rec.State == Exited {
		return
	}
	x := *exit
	if t.rec.Stop != "" && x.Kind != driver.ExitCompleted {
		// Asked by Atelier: a stop or a timeout, whatever signal ended it.
		x.Kind = t.rec.Stop
	}
	if t.rec.State == Running || t.rec.State == starting {
		e.release(&t.rec)
	}
	t.rec.State = Exited
	t.rec.Exit = &x
	if t.rec.FinishedAt.IsZero() {
		t.rec.FinishedAt = e.opts.Clock.Now().UTC()
	}
	if err := e.save(t); err != nil {
		e.log.Error("journal task", "task", t.rec.Spec.ID, "err", err)
	}
	markStarted(t)
	close(t.done)
	e.log.Info("task exited", "task", t.rec.Spec.ID, "kind", x.Kind, "code", x.Code)
}

// markStarted closes t.started once. Caller holds mu.
func markStarted(t *task) {
	select {
	case <-t.started:
	default:
		close(t.started)
	}
}

// timeouts stops running tasks past their Timeout.
func (e *Executor) timeouts() {
	defer e.wg.Done()
	tick, stop := e.opts.Clock.NewTicker(e.opts.PollInterval)
	defer stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick:
		}
		now := e.opts.Clock.Now()
		var due []*task
		e.mu.Lock()
		for _, t := range e.tasks {
			r := &t.rec
			if r.State == Running && r.Spec.Timeout > 0 && r.Stop == "" && now.Sub(r.StartedAt) >= r.Spec.Timeout {
				r.Stop, r.Grace = driver.ExitTimedOut, e.opts.Grace
				if err := e.save(t); err != nil {
					e.log.Error("journal task", "task", r.Spec.ID, "err", err)
				}
				due = append(due, t)
			}
		}
		e.mu.Unlock()
		for _, t := range due {
			e.log.Info("task timed out", "task", t.rec.Spec.ID, "timeout", t.rec.Spec.Timeout)
			if err := e.d.StopTask(e.ctx, t.rec.Handle, e.opts.Grace); err != nil && e.ctx.Err() == nil {
				e.log.Warn("stop task at its timeout", "task", t.rec.Spec.ID, "err", err)
			}
		}
	}
}

func (e *Executor) lookup(h *Handle) (*task, error) {
	if h == nil || h.Driver != e.d.Name() {
		return nil, ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tasks[h.ID]
	if !ok {
		return nil, ErrNotFound
	}
	return t, nil
}

// Status returns the task's current status.
func (e *Executor) Status(ctx context.Context, h *Handle) (*Status, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	st := statusOf(&t.rec)
	dh := t.rec.Handle
	e.mu.Unlock()
	if st.State == Running && dh != nil {
		ds, err := e.d.InspectTask(ctx, dh)
		if err == nil {
			st.Endpoints, st.Ready = ds.Endpoints, ds.Ready
			if ds.State == driver.TaskPending {
				st.State = Queued
			}
		}
	}
	return st, nil
}

func statusOf(r *record) *Status {
	st := &Status{State: r.State, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, GPUs: r.Placement}
	if r.State == starting {
		st.State = Queued
	}
	if r.State == Exited && r.Exit != nil {
		x := *r.Exit
		st.Exit = &x
	}
	return st
}

// Wait blocks until the task has exited, or ctx ends (ctx.Err()).
func (e *Executor) Wait(ctx context.Context, h *Handle) (*Status, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		return e.Status(ctx, h)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.ctx.Done():
		return nil, fmt.Errorf("executor: wait: %w", errClosed)
	}
}

// Started returns a channel closed once the task runs or has exited.
func (e *Executor) Started(h *Handle) (<-chan struct{}, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	return t.started, nil
}

// Stop ends the task: a queued one never starts; running workers get
// SIGTERM, and SIGKILL after grace. Stopping an exited task is not an
// error. The task then exits with driver.ExitStopped (unless it had
// completed).
func (e *Executor) Stop(ctx context.Context, h *Handle, grace time.Duration) error {
	t, err := e.lookup(h)
	if err != nil {
		return err
	}
	e.mu.Lock()
	r := &t.rec
	switch r.State {
	case Queued:
		e.dequeue(t)
		r.Stop = driver.ExitStopped
		e.finish(t, &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1})
		e.schedule()
		e.mu.Unlock()
		return nil
	case Exited:
		e.mu.Unlock()
		return nil
	}
	if r.Stop == "" {
		r.Stop = driver.ExitStopped
	}
	r.Grace = max(grace, 0)
	if err := e.save(t); err != nil {
		e.mu.Unlock()
		return fmt.Errorf("executor: stop: %w", err)
	}
	if r.State == starting {
		t.stopReq = true // start stops it once the driver answers
		e.mu.Unlock()
		return nil
	}
	dh := r.Handle
	e.mu.Unlock()
	if err := e.d.StopTask(ctx, dh, max(grace, 0)); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("executor: stop: %w", err)
	}
	return nil
}

// Logs opens worker's combined stdout and stderr from byte offset. With
// follow, a queued task is waited for, and reads block for more output
// until the task has exited (then io.EOF) or ctx ends.
func (e *Executor) Logs(ctx context.Context, h *Handle, worker int, offset int64, follow bool) (io.ReadCloser, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	if worker < 0 || worker >= t.rec.Spec.Workers {
		return nil, atelier.CodeInvalidParam.Errorf("worker must be between 0 and %d.", t.rec.Spec.Workers-1).WithField("worker")
	}
	if offset < 0 {
		return nil, atelier.CodeInvalidParam.Errorf("offset must not be negative.").WithField("offset")
	}
	if follow {
		select {
		case <-t.started:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.ctx.Done():
			return nil, fmt.Errorf("executor: logs: %w", errClosed)
		}
	}
	e.mu.Lock()
	dh := t.rec.Handle
	e.mu.Unlock()
	if dh == nil {
		return io.NopCloser(strings.NewReader("")), nil // never started
	}
	return e.d.TaskLogs(ctx, dh, worker, offset, follow)
}

// load restores every task of the journal, oldest first: a queued one is
// queued again (in its original order), a running one is re-attached
// through the driver (exited with driver.ExitLost when the driver lost
// it), an exited one is known again (for Status and Logs). It runs in Open,
// before anything is scheduled, so that recovered tasks hold their slots
// and GPUs before a queued task could take them.
func (e *Executor) load(ctx context.Context) error {
	ents, err := os.ReadDir(e.opts.StateDir)
	if err != nil {
		return fmt.Errorf("executor: read journal: %w", err)
	}
	var recs []record
	for _, ent := range ents {
		name := ent.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.opts.StateDir, name))
		if err != nil {
			return fmt.Errorf("executor: read journal: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.Spec.ID+".json" != name {
			e.log.Error("skipping a bad journal record", "file", name, "err", err)
			continue
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.Seq, b.Seq) })
	var queued []*task
	for _, r := range recs {
		t := e.restore(ctx, r)
		e.tasks[r.Spec.ID] = t
		e.seq = max(e.seq, r.Seq)
		if t.rec.State == Queued {
			queued = append(queued, t)
		}
	}
	for _, t := range queued {
		e.enqueue(t)
	}
	if len(recs) > 0 {
		e.log.Info("journal recovered", "tasks", len(recs), "queued", len(queued))
	}
	e.schedule()
	return nil
}

// restore rebuilds the task of journal record r. Caller holds mu (or runs
// before the executor is shared).
func (e *Executor) restore(ctx context.Context, r record) *task {
	var lost error
	switch r.State {
	case Queued, starting:
		// Only the submission is written durably: a queued record may be
		// older than the task's start.
		dh := &driver.TaskHandle{Driver: e.d.Name(), ID: r.Spec.ID}
		switch err := e.d.RecoverTask(ctx, dh); {
		case err == nil:
			r.State, r.Handle = Running, dh
			if r.StartedAt.IsZero() {
				r.StartedAt = e.opts.Clock.Now().UTC()
			}
		case errors.Is(err, ErrNotFound):
			r.State, r.Placement = Queued, nil // it never started: start it later
		default:
			// It started and the driver lost it: never queue it again.
			r.State, lost = starting, err
		}
	case Running:
		if err := e.d.RecoverTask(ctx, r.Handle); err != nil {
			lost = err
		}
	}
	t := newTask(r)
	switch r.State {
	case Exited:
		close(t.started)
		close(t.done)
	case Running, starting:
		e.occupy(&t.rec)
		if lost != nil {
			if !errors.Is(lost, ErrLost) && !errors.Is(lost, ErrNotFound) {
				e.log.Error("recover task", "task", r.Spec.ID, "err", lost)
			}
			t.lost = true
			msg := "The task's processes were gone after a restart of the server."
			e.finish(t, &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1, Message: msg})
			return t
		}
		t.rec.State = Running
		close(t.started)
		if err := e.save(t); err != nil {
			e.log.Error("journal task", "task", r.Spec.ID, "err", err)
		}
		dh := t.rec.Handle
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.watch(t, dh)
		}()
	}
	return t
}

// Recover re-attaches the caller to a task submitted before a restart of
// the server; Open has already restored every task of the journal. It
// returns ErrNotFound for a handle without a journal record and ErrLost
// when the driver had lost a running task (the task is then exited with
// driver.ExitLost).
func (e *Executor) Recover(ctx context.Context, h *Handle) error {
	if h == nil || h.Driver != e.d.Name() || h.Version != handleVersion || !validID(h.ID) {
		return ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	t, ok := e.tasks[h.ID]
	switch {
	case !ok:
		return ErrNotFound
	case t.lost:
		return fmt.Errorf("executor: recover %s: %w", h.ID, ErrLost)
	}
	return nil
}

// Forget removes an exited task: the driver's leftovers and the journal
// record. A task that has not exited is stopped at once first. Unknown
// handles are not an error.
func (e *Executor) Forget(ctx context.Context, h *Handle) error {
	if h == nil || h.Driver != e.d.Name() || !validID(h.ID) {
		return nil
	}
	e.mu.Lock()
	t := e.tasks[h.ID]
	var dh *driver.TaskHandle
	if t != nil {
		if t.rec.State == Queued {
			e.dequeue(t)
		}
		dh = t.rec.Handle
		t.gone = true
		if t.rec.State != Exited {
			// Its slots and GPUs are free now; DestroyTask below ends it.
			e.finish(t, &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1})
			e.schedule()
		}
		delete(e.tasks, h.ID)
	}
	e.mu.Unlock()
	if t == nil {
		b, err := os.ReadFile(e.journalPath(h.ID))
		var r record
		if err == nil && json.Unmarshal(b, &r) == nil {
			dh = r.Handle
		}
	}
	if dh != nil {
		if err := e.d.DestroyTask(ctx, dh); err != nil {
			return fmt.Errorf("executor: forget: %w", err)
		}
	}
	if err := os.Remove(e.journalPath(h.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("executor: forget: %w", err)
	}
	return nil
}

func (e *Executor) journalPath(id string) string {
	return filepath.Join(e.opts.StateDir, id+".json")
}

// saveDurably writes t's journal record atomically and durably: what
// Submit accepted survives a crash. Caller holds mu or owns t alone.
func (e *Executor) saveDurably(t *task) error { return e.write(t, true) }

// save writes t's journal record atomically but without waiting for the
// disk: after a crash an older record may be found, and load asks the
// driver, whose own state is durable, what became of the task.
func (e *Executor) save(t *task) error { return e.write(t, false) }

func (e *Executor) write(t *task, sync bool) error {
	if t.gone {
		return nil
	}
	b, err := json.Marshal(&t.rec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(e.journalPath(t.rec.Spec.ID), b, 0o600, sync)
}
