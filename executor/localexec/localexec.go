// Package localexec runs gangs of worker processes on the local machine.
//
// Every worker is its own process group, started through a small shell
// supervisor (Dir/.atelier/run.sh) that runs the command with its stdout and
// stderr going to Dir/.atelier/worker-N.log and then writes the exit code to
// Dir/.atelier/worker-N.exit. Nothing of a worker goes through the server
// (files, never pipes), so workers survive a restart of the server, and a new
// Executor finds their exit codes on disk: Recover re-adopts a gang from the
// state file the executor keeps for it (Dir/.atelier/gang.json, or
// Options.StateDir/<id>.json).
//
// Limits: with Options.CgroupDir (a delegated cgroup v2 directory with the
// cpu and memory controllers enabled for its children) every worker gets a
// cgroup with cpu.max and memory.max. Without it, Spec.MemoryBytes becomes
// RLIMIT_AS (ulimit -v) and Spec.CPU is not enforced: RLIMIT_CPU limits CPU
// time, not cores. RLIMIT_AS counts address space, not resident memory, so
// programs that reserve much more than they touch (many threads, CUDA) need a
// generous limit or cgroups.
package localexec

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/internal/clock"
)

// Driver is the Handle.Driver of this executor.
const Driver = "local"

// handleVersion is the version of the Handle.Data format.
const handleVersion = 1

// Defaults applied by New.
const (
	DefaultGrace        = 10 * time.Second
	DefaultPollInterval = 100 * time.Millisecond
	// logTailBytes is how much of a failed worker's log end goes into the
	// reason; at most logTailLines lines of it.
	logTailBytes = 4096
	logTailLines = 10
)

// Options configures an Executor. Zero values take the defaults.
type Options struct {
	// Slots is how many workers run at once (default: number of CPUs).
	Slots int
	// CPU, MemoryMB and GPUs are the capacity reported by Capacity
	// (defaults: number of CPUs, total memory from /proc/meminfo, 0).
	CPU      int
	MemoryMB int64
	GPUs     int
	// Clock drives polling, grace periods and timeouts (default: real).
	Clock clock.Clock
	// Logger receives events (default: slog.Default()).
	Logger *slog.Logger
	// StateDir holds one state file per gang for recovery (default: the
	// gang's Dir/.atelier/gang.json).
	StateDir string
	// Grace is how long workers get between SIGTERM and SIGKILL when the
	// gang fails or times out (default DefaultGrace).
	Grace time.Duration
	// PollInterval is how often exit files are checked and followed logs
	// re-read (default DefaultPollInterval). The exit of a worker this
	// process started is noticed at once.
	PollInterval time.Duration
	// CgroupDir, when set, is a cgroup v2 directory delegated to the
	// executor; each worker then runs in its own child cgroup with cpu.max
	// and memory.max.
	CgroupDir string
}

// Executor runs gangs on this machine. It is safe for concurrent use.
type Executor struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	gangs  map[string]*gang
	queues map[string][]*gang // per tenant, FIFO
	ring   []string           // tenants with queued gangs, round-robin order
	next   int                // index in ring of the tenant served next
	last   string             // tenant served last
	used   int                // slots in use
	seq    int64

	kick      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ executor.Executor = (*Executor)(nil)

// handleData is Handle.Data.
type handleData struct {
	State string `json:"state"` // path of the state file
}

// state is what the executor persists of a gang.
type state struct {
	Spec         executor.Spec `json:"spec"`
	Seq          int64         `json:"seq"`
	State        string        `json:"state"`
	Port         int           `json:"port,omitempty"`
	PIDs         []int         `json:"pids,omitempty"` // also the process group ids
	StartedAt    time.Time     `json:"started_at,omitzero"`
	FinishedAt   time.Time     `json:"finished_at,omitzero"`
	Stop         string        `json:"stop,omitempty"` // reason of a requested stop
	ExitCode     int           `json:"exit_code"`
	FailedWorker int           `json:"failed_worker"`
	Reason       string        `json:"reason,omitempty"`
}

type gang struct {
	st     state
	path   string // state file
	done   chan struct{}
	ws     []*worker
	killAt time.Time // SIGKILL the remaining workers at this time
	termed bool      // SIGTERM sent to the remaining workers
}

type worker struct {
	pid    int
	reaped chan struct{} // closed when this process reaped it; nil if recovered
	ended  bool
	code   int  // exit code; -1 when killed
	noExit bool // ended without an exit file
}

// New returns an Executor and starts its watch loop; Close stops it.
func New(opts Options) (*Executor, error) {
	opts.Slots = cmp.Or(opts.Slots, runtime.NumCPU())
	opts.CPU = cmp.Or(opts.CPU, runtime.NumCPU())
	opts.MemoryMB = cmp.Or(opts.MemoryMB, totalMemoryMB())
	opts.Grace = cmp.Or(opts.Grace, DefaultGrace)
	opts.PollInterval = cmp.Or(opts.PollInterval, DefaultPollInterval)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Slots < 1 || opts.GPUs < 0 || opts.Grace < 0 || opts.PollInterval < 0 {
		return nil, errors.New("localexec: Slots, GPUs, Grace and PollInterval must not be negative")
	}
	if opts.StateDir != "" {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("localexec: state dir: %w", err)
		}
	}
	e := &Executor{
		opts:   opts,
		log:    opts.Logger.With("executor", Driver),
		gangs:  map[string]*gang{},
		queues: map[string][]*gang{},
		kick:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	e.wg.Add(1)
	go e.loop()
	return e, nil
}

// Capacity implements executor.Executor.
func (e *Executor) Capacity() executor.Capacity {
	return executor.Capacity{Slots: e.opts.Slots, CPU: e.opts.CPU, MemoryMB: e.opts.MemoryMB, GPUs: e.opts.GPUs}
}

// EnforcesCPU says whether Spec.CPU is enforced (only with cgroups).
func (e *Executor) EnforcesCPU() bool { return e.opts.CgroupDir != "" }

// Close stops the watch loop; workers keep running. The goroutines that
// reap workers this process started end when those workers do.
func (e *Executor) Close() error {
	e.closeOnce.Do(func() { close(e.closed) })
	e.wg.Wait()
	return nil
}

func (e *Executor) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

var errClosed = errors.New("localexec: executor closed")

// Submit implements executor.Executor.
func (e *Executor) Submit(ctx context.Context, spec *executor.Spec) (*executor.Handle, error) {
	if err := e.validate(spec); err != nil {
		return nil, err
	}
	s := *spec
	s.Command = slices.Clone(spec.Command)
	if spec.Env != nil {
		s.Env = make(map[string]string, len(spec.Env))
		for k, v := range spec.Env {
			s.Env[k] = v
		}
	}
	meta := filepath.Join(s.Dir, ".atelier")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return nil, fmt.Errorf("localexec: submit: %w", err)
	}
	for i := range s.Workers {
		// A reused directory must not hand a stale exit code to this gang.
		if err := os.Remove(exitPath(s.Dir, i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("localexec: submit: %w", err)
		}
	}
	path := filepath.Join(meta, "gang.json")
	if e.opts.StateDir != "" {
		path = filepath.Join(e.opts.StateDir, fileName(s.ID)+".json")
	}
	data, err := json.Marshal(handleData{State: path})
	if err != nil {
		return nil, fmt.Errorf("localexec: submit: %w", err)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return nil, errClosed
	}
	if _, ok := e.gangs[s.ID]; ok {
		return nil, atelier.CodeInvalidParam.Errorf("ID %q is already in use.", s.ID)
	}
	e.seq++
	g := &gang{
		st:   state{Spec: s, Seq: e.seq, State: executor.Queued, FailedWorker: -1},
		path: path,
		done: make(chan struct{}),
	}
	if err := g.save(); err != nil {
		return nil, fmt.Errorf("localexec: submit: %w", err)
	}
	e.gangs[s.ID] = g
	e.enqueue(g)
	e.schedule()
	return &executor.Handle{Driver: Driver, Version: handleVersion, ID: s.ID, Data: data}, nil
}

func (e *Executor) validate(s *executor.Spec) error {
	switch {
	case s == nil:
		return atelier.CodeInvalidParam.Errorf("Spec is required.")
	case s.ID == "":
		return atelier.CodeInvalidParam.Errorf("ID must not be empty.")
	case s.Workers < 1:
		return atelier.CodeInvalidParam.Errorf("Workers must be at least 1.")
	case len(s.Command) == 0 || s.Command[0] == "":
		return atelier.CodeInvalidParam.Errorf("Command must not be empty.")
	case s.CPU < 0 || s.MemoryBytes < 0 || s.GPUs < 0 || s.Timeout < 0:
		return atelier.CodeInvalidParam.Errorf("CPU, MemoryBytes, GPUs and Timeout must not be negative.")
	}
	if fi, err := os.Stat(s.Dir); s.Dir == "" || err != nil || !fi.IsDir() {
		return atelier.CodeInvalidParam.Errorf("Dir must be an existing directory.")
	}
	if s.Workers > e.opts.Slots {
		return fmt.Errorf("localexec: %d workers, %d slots: %w", s.Workers, e.opts.Slots, executor.ErrTooLarge)
	}
	if s.GPUs*s.Workers > e.opts.GPUs {
		return fmt.Errorf("localexec: %d GPUs, %d available: %w", s.GPUs*s.Workers, e.opts.GPUs, executor.ErrTooLarge)
	}
	return nil
}

// enqueue adds g to its tenant's queue in submission order. Caller holds mu.
func (e *Executor) enqueue(g *gang) {
	t := g.st.Spec.Tenant
	q := e.queues[t]
	if len(q) == 0 {
		e.ring = append(e.ring, t)
	}
	i, _ := slices.BinarySearchFunc(q, g.st.Seq, func(x *gang, seq int64) int { return cmp.Compare(x.st.Seq, seq) })
	e.queues[t] = slices.Insert(q, i, g)
}

// dequeue removes g from its queue. Caller holds mu.
func (e *Executor) dequeue(g *gang) {
	t := g.st.Spec.Tenant
	q := slices.DeleteFunc(e.queues[t], func(x *gang) bool { return x == g })
	if len(q) > 0 {
		e.queues[t] = q
		return
	}
	delete(e.queues, t)
	i := slices.Index(e.ring, t)
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

// schedule starts queued gangs while their workers fit: tenants take turns
// in the order they queued, each starting the oldest of its gangs, and the
// tenant served last goes last when others wait. A tenant whose oldest
// gang does not fit is passed over for this round. Caller holds mu.
func (e *Executor) schedule() {
	for len(e.ring) > 0 {
		order := make([]int, 0, len(e.ring))
		for i := range len(e.ring) {
			order = append(order, (e.next+i)%len(e.ring))
		}
		if len(order) > 1 && e.ring[order[0]] == e.last {
			order = append(order[1:], order[0])
		}
		started := false
		for _, idx := range order {
			t := e.ring[idx]
			g := e.queues[t][0]
			if g.st.Spec.Workers > e.opts.Slots-e.used {
				continue
			}
			after := e.ring[(idx+1)%len(e.ring)]
			e.dequeue(g)
			e.next = max(slices.Index(e.ring, after), 0)
			e.last = t
			e.start(g)
			started = true
			break
		}
		if !started {
			return
		}
	}
}

// start launches every worker of g. Caller holds mu.
func (e *Executor) start(g *gang) {
	s := &g.st.Spec
	now := e.opts.Clock.Now()
	port, err := freePort()
	if err == nil {
		err = e.writeRunScript(s)
	}
	if err != nil {
		e.finish(g, now, -1, -1, "failed to start: "+err.Error())
		e.log.Error("start gang", "gang", s.ID, "err", err)
		return
	}
	e.used += s.Workers
	g.st.Port = port
	g.st.StartedAt = now
	g.ws = make([]*worker, s.Workers)
	for rank := range s.Workers {
		w, err := e.startWorker(s, rank, port)
		if err != nil {
			e.log.Error("start worker", "gang", s.ID, "worker", rank, "err", err)
			g.ws = g.ws[:rank]
			g.st.PIDs = pids(g.ws)
			g.st.State = executor.Running
			g.st.Stop = fmt.Sprintf("worker-%d failed to start", rank)
			for _, w := range g.ws {
				kill(w.pid, syscall.SIGKILL)
			}
			g.ws = append(g.ws, make([]*worker, s.Workers-rank)...)
			for i := rank; i < s.Workers; i++ {
				g.ws[i] = &worker{ended: true, code: -1, noExit: true}
			}
			g.killAt = now
			g.termed = true
			e.poke()
			return
		}
		g.ws[rank] = w
	}
	g.st.PIDs = pids(g.ws)
	g.st.State = executor.Running
	if err := g.save(); err != nil {
		e.log.Error("save gang state", "gang", s.ID, "err", err)
	}
	e.log.Info("gang started", "gang", s.ID, "tenant", s.Tenant, "workers", s.Workers, "port", port)
}

func pids(ws []*worker) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		out[i] = w.pid
	}
	return out
}

// runScript is the supervisor of one worker: $1 is the exit file, $2 the
// cgroup directory or empty, the rest the command. A worker killed by a
// signal leaves 128+signal; one whose supervisor is killed leaves no file.
// The exit file is written in place (no mv: one process less per worker);
// a reader that finds it empty or partial while the supervisor still runs
// just looks again, and the supervisor's exit completes the write.
const runScript = `#!/bin/sh
# Written by Atelier (localexec): runs one worker and records its exit code.
exit_file=$1
cgroup=$2
shift 2
if [ -n "$cgroup" ]; then
	echo $$ > "$cgroup/cgroup.procs" || exit 125
fi
%s
"$@"
code=$?
printf '%%s\n' "$code" > "$exit_file"
exit "$code"
`

func (e *Executor) writeRunScript(s *executor.Spec) error {
	limit := ""
	if s.MemoryBytes > 0 && e.opts.CgroupDir == "" {
		limit = fmt.Sprintf("ulimit -v %d || exit 125", max(s.MemoryBytes/1024, 1))
	}
	// No fsync: the script only matters while the workers start.
	return writeAtomic(filepath.Join(s.Dir, ".atelier", "run.sh"), fmt.Appendf(nil, runScript, limit), 0o755, false)
}

func (e *Executor) startWorker(s *executor.Spec, rank, port int) (*worker, error) {
	meta := filepath.Join(s.Dir, ".atelier")
	cg := ""
	if e.opts.CgroupDir != "" {
		var err error
		if cg, err = e.makeCgroup(s, rank); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(logPath(s.Dir, rank), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := append([]string{filepath.Join(meta, "run.sh"), exitPath(s.Dir, rank), cg}, s.Command...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = s.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = os.Environ()
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	n, master, p := strconv.Itoa(s.Workers), "127.0.0.1", strconv.Itoa(port)
	r := strconv.Itoa(rank)
	cmd.Env = append(cmd.Env,
		"RANK="+r, "LOCAL_RANK="+r, "WORLD_SIZE="+n, "LOCAL_WORLD_SIZE="+n,
		"NODE_RANK=0", "GROUP_RANK=0", "MASTER_ADDR="+master, "MASTER_PORT="+p,
		"PET_NPROC_PER_NODE="+n, "PET_NNODES=1", "PET_NODE_RANK=0",
		"PET_MASTER_ADDR="+master, "PET_MASTER_PORT="+p,
	)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &worker{pid: cmd.Process.Pid, reaped: make(chan struct{})}
	go func() {
		// Reap the supervisor (no zombies) and tell the loop at once.
		_ = cmd.Wait()
		close(w.reaped)
		e.poke()
	}()
	return w, nil
}

func (e *Executor) makeCgroup(s *executor.Spec, rank int) (string, error) {
	dir := filepath.Join(e.opts.CgroupDir, fmt.Sprintf("%s-w%d", fileName(s.ID), rank))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	if s.MemoryBytes > 0 {
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(s.MemoryBytes, 10)), 0); err != nil {
			return "", fmt.Errorf("cgroup memory.max: %w", err)
		}
	}
	if s.CPU > 0 {
		const period = 100000
		quota := fmt.Sprintf("%d %d", int64(s.CPU*period), period)
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(quota), 0); err != nil {
			return "", fmt.Errorf("cgroup cpu.max: %w", err)
		}
	}
	return dir, nil
}

// poke wakes the watch loop.
func (e *Executor) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Executor) loop() {
	defer e.wg.Done()
	tick, stop := e.opts.Clock.NewTicker(e.opts.PollInterval)
	defer stop()
	for {
		select {
		case <-e.closed:
			return
		case <-tick:
		case <-e.kick:
		}
		e.mu.Lock()
		if !e.isClosed() {
			e.poll()
			e.schedule()
		}
		e.mu.Unlock()
	}
}

// poll checks every running gang. Caller holds mu.
func (e *Executor) poll() {
	now := e.opts.Clock.Now()
	for _, g := range e.gangs {
		if g.st.State == executor.Running {
			e.check(g, now)
		}
	}
}

// check moves a running gang on: notes exits, fails the gang on the first
// failed worker, enforces stop, timeout and grace, finishes it when every
// worker has ended. Caller holds mu.
func (e *Executor) check(g *gang, now time.Time) {
	s := &g.st.Spec
	for rank, w := range g.ws {
		if w.ended {
			continue
		}
		e.observe(s, rank, w)
		if !w.ended || w.code == 0 || g.st.Stop != "" || g.st.FailedWorker >= 0 {
			continue
		}
		g.st.FailedWorker = rank
		g.st.ExitCode = w.code
		g.st.Reason = failReason(s.Dir, rank, w)
		if w.code > 128 || w.noExit {
			g.st.ExitCode = -1
		}
		e.log.Info("worker failed", "gang", s.ID, "worker", rank, "code", w.code)
	}
	if s.Timeout > 0 && g.st.Stop == "" && g.st.FailedWorker < 0 && now.Sub(g.st.StartedAt) >= s.Timeout {
		g.st.Stop = "timed out after " + s.Timeout.String()
		_ = g.save()
	}
	if !g.termed && (g.st.Stop != "" || g.st.FailedWorker >= 0) {
		g.termed = true
		if g.killAt.IsZero() {
			g.killAt = now.Add(e.opts.Grace)
		}
		for _, w := range g.ws {
			if !w.ended {
				kill(w.pid, syscall.SIGTERM)
			}
		}
	}
	allEnded := true
	for _, w := range g.ws {
		if !w.ended {
			allEnded = false
			if g.termed && !now.Before(g.killAt) {
				kill(w.pid, syscall.SIGKILL)
			}
		}
	}
	if !allEnded {
		return
	}
	for _, w := range g.ws {
		// Leftovers of a worker that exited (background children) go with it.
		kill(w.pid, syscall.SIGKILL)
	}
	e.used -= s.Workers
	switch {
	case g.st.FailedWorker >= 0:
		e.finish(g, now, g.st.ExitCode, g.st.FailedWorker, g.st.Reason)
	case g.st.Stop != "":
		e.finish(g, now, -1, -1, g.st.Stop)
	default:
		e.finish(g, now, 0, -1, "")
	}
}

// observe notes whether worker rank has ended. Caller holds mu.
func (e *Executor) observe(s *executor.Spec, rank int, w *worker) {
	if w.pid == 0 { // never started
		w.ended, w.code, w.noExit = true, -1, true
		return
	}
	// Liveness first: an exit file written before the group emptied is
	// then read below.
	alive := groupAlive(w.pid, w.reaped)
	if code, ok := readExit(s.Dir, rank); ok {
		w.ended, w.code = true, code
		return
	}
	if !alive {
		w.ended, w.code, w.noExit = true, -1, true
	}
}

func (e *Executor) finish(g *gang, now time.Time, code, failed int, reason string) {
	g.st.State = executor.Exited
	g.st.FinishedAt = now
	g.st.ExitCode, g.st.FailedWorker, g.st.Reason = code, failed, reason
	if err := g.save(); err != nil {
		e.log.Error("save gang state", "gang", g.st.Spec.ID, "err", err)
	}
	if e.opts.CgroupDir != "" {
		for i := range g.st.Spec.Workers {
			_ = os.Remove(filepath.Join(e.opts.CgroupDir, fmt.Sprintf("%s-w%d", fileName(g.st.Spec.ID), i)))
		}
	}
	close(g.done)
	e.log.Info("gang exited", "gang", g.st.Spec.ID, "code", code, "reason", reason)
}

func failReason(dir string, rank int, w *worker) string {
	var msg string
	switch {
	case w.noExit:
		msg = fmt.Sprintf("worker-%d was killed", rank)
	case w.code > 128:
		msg = fmt.Sprintf("worker-%d was killed by signal %d", rank, w.code-128)
	default:
		msg = fmt.Sprintf("worker-%d exited with code %d", rank, w.code)
	}
	if tail := logTail(logPath(dir, rank)); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// logTail returns the last lines of a log, reading only its end.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-logTailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	lines := strings.Split(string(b), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // cut in the middle of a line
	}
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.ToValidUTF8(strings.Join(lines, "\n"), "?")
}

func (e *Executor) lookup(h *executor.Handle) (*gang, error) {
	if h == nil || h.Driver != Driver {
		return nil, executor.ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.gangs[h.ID]
	if !ok {
		return nil, executor.ErrNotFound
	}
	return g, nil
}

// Status implements executor.Executor.
func (e *Executor) Status(ctx context.Context, h *executor.Handle) (*executor.Status, error) {
	g, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return g.status(), nil
}

func (g *gang) status() *executor.Status {
	st := &executor.Status{
		State:        g.st.State,
		ExitCode:     g.st.ExitCode,
		FailedWorker: g.st.FailedWorker,
		StartedAt:    g.st.StartedAt,
		FinishedAt:   g.st.FinishedAt,
	}
	if g.st.State == executor.Exited {
		st.Reason = g.st.Reason
	} else {
		st.ExitCode, st.FailedWorker = 0, -1
	}
	return st
}

// Wait implements executor.Executor.
func (e *Executor) Wait(ctx context.Context, h *executor.Handle) (*executor.Status, error) {
	g, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	select {
	case <-g.done:
		return e.Status(ctx, h)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.closed:
		return nil, fmt.Errorf("localexec: wait: %w", errClosed)
	}
}

// Stop implements executor.Executor.
func (e *Executor) Stop(ctx context.Context, h *executor.Handle, grace time.Duration) error {
	g, err := e.lookup(h)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Clock.Now()
	switch g.st.State {
	case executor.Queued:
		e.dequeue(g)
		e.finish(g, now, -1, -1, "stopped")
		e.schedule()
	case executor.Running:
		if g.st.Stop == "" && g.st.FailedWorker < 0 {
			g.st.Stop = "stopped"
			if err := g.save(); err != nil {
				return fmt.Errorf("localexec: stop: %w", err)
			}
		}
		if kill := now.Add(max(grace, 0)); g.killAt.IsZero() || kill.Before(g.killAt) {
			g.killAt = kill
		}
		e.check(g, now)
		e.poke()
	}
	return nil
}

// Logs implements executor.Executor.
func (e *Executor) Logs(ctx context.Context, h *executor.Handle, worker int, offset int64, follow bool) (io.ReadCloser, error) {
	g, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	if worker < 0 || worker >= g.st.Spec.Workers {
		return nil, atelier.CodeInvalidParam.Errorf("worker must be between 0 and %d.", g.st.Spec.Workers-1)
	}
	if offset < 0 {
		return nil, atelier.CodeInvalidParam.Errorf("offset must not be negative.")
	}
	r := &logReader{ctx: ctx, e: e, g: g, path: logPath(g.st.Spec.Dir, worker), off: offset, follow: follow}
	if err := r.open(); err != nil {
		return nil, fmt.Errorf("localexec: logs: %w", err)
	}
	return r, nil
}

// logReader reads a worker log from an offset; following, it waits for
// more until the gang has exited.
type logReader struct {
	ctx    context.Context
	e      *Executor
	g      *gang
	path   string
	f      *os.File
	off    int64
	follow bool
	last   bool // the gang had exited before the latest read
	tick   <-chan time.Time
	stop   func()
}

func (r *logReader) open() error {
	if r.f != nil {
		return nil
	}
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not started yet
	}
	if err != nil {
		return err
	}
	r.f = f
	return nil
}

func (r *logReader) Read(p []byte) (int, error) {
	for {
		exited := r.exited()
		if err := r.open(); err != nil {
			return 0, err
		}
		if r.f != nil {
			n, err := r.f.ReadAt(p, r.off)
			r.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err != nil && err != io.EOF {
				return 0, err
			}
		}
		if !r.follow || exited {
			return 0, io.EOF
		}
		if r.tick == nil {
			r.tick, r.stop = r.e.opts.Clock.NewTicker(r.e.opts.PollInterval)
		}
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-r.e.closed:
			return 0, fmt.Errorf("localexec: logs: %w", errClosed)
		case <-r.g.done:
		case <-r.tick:
		}
	}
}

func (r *logReader) exited() bool {
	select {
	case <-r.g.done:
		return true
	default:
		return false
	}
}

func (r *logReader) Close() error {
	if r.stop != nil {
		r.stop()
	}
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// Recover implements executor.Executor. A gang that was queued is queued
// again; a running one is watched again, its exits read from the exit
// files. Recover returns ErrLost when no worker of a running gang is alive
// any more and at least one left no exit code (the machine rebooted, or
// someone killed the whole process group), unless a stop had been asked
// for: then the gang exits as stopped.
func (e *Executor) Recover(ctx context.Context, h *executor.Handle) error {
	if h == nil || h.Driver != Driver || h.Version != handleVersion || len(h.Data) == 0 {
		return executor.ErrNotFound
	}
	var hd handleData
	if err := json.Unmarshal(h.Data, &hd); err != nil || hd.State == "" {
		return executor.ErrNotFound
	}
	b, err := os.ReadFile(hd.State)
	if errors.Is(err, os.ErrNotExist) {
		return executor.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("localexec: recover: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("localexec: recover: state file: %w", err)
	}
	if st.Spec.ID != h.ID {
		return executor.ErrNotFound
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return errClosed
	}
	if _, ok := e.gangs[h.ID]; ok {
		return nil
	}
	g := &gang{st: st, path: hd.State, done: make(chan struct{})}
	e.seq = max(e.seq, st.Seq)
	switch st.State {
	case executor.Queued:
		e.gangs[h.ID] = g
		e.enqueue(g)
		e.schedule()
	case executor.Exited:
		close(g.done)
		e.gangs[h.ID] = g
	case executor.Running:
		g.ws = make([]*worker, st.Spec.Workers)
		anyAlive, allExit := false, true
		for rank := range g.ws {
			w := &worker{}
			if rank < len(st.PIDs) {
				w.pid = st.PIDs[rank]
			}
			// Probe a copy: check below records the exits and failures.
			probe := *w
			if w.pid == 0 {
				probe.ended, probe.noExit = true, true
			} else {
				e.observe(&g.st.Spec, rank, &probe)
			}
			anyAlive = anyAlive || !probe.ended
			allExit = allExit && !probe.noExit
			g.ws[rank] = w
		}
		if !anyAlive && !allExit && st.Stop == "" {
			return fmt.Errorf("localexec: recover %s: workers ended without an exit code: %w", h.ID, executor.ErrLost)
		}
		e.gangs[h.ID] = g
		e.used += st.Spec.Workers
		e.check(g, e.opts.Clock.Now())
	default:
		return fmt.Errorf("localexec: recover: unknown state %q", st.State)
	}
	e.log.Info("gang recovered", "gang", h.ID, "state", g.st.State)
	return nil
}

// save writes the state file atomically.
func (g *gang) save() error {
	b, err := json.Marshal(&g.st)
	if err != nil {
		return err
	}
	return writeAtomic(g.path, b, 0o600, true)
}

// writeAtomic replaces path with b through a temporary file, synced first
// when sync is set.
func writeAtomic(path string, b []byte, mode os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func logPath(dir string, rank int) string {
	return filepath.Join(dir, ".atelier", fmt.Sprintf("worker-%d.log", rank))
}

func exitPath(dir string, rank int) string {
	return filepath.Join(dir, ".atelier", fmt.Sprintf("worker-%d.exit", rank))
}

func readExit(dir string, rank int) (int, bool) {
	b, err := os.ReadFile(exitPath(dir, rank))
	if err != nil {
		return 0, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return code, true
}

// fileName makes a gang ID safe as a file name.
func fileName(id string) string {
	var b strings.Builder
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && b.Len() > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// freePort asks the kernel for a free TCP port on the loopback interface.
// Another process could take it before worker 0 listens; that is the usual
// torchrun trade-off.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// kill signals worker process group pgid.
func kill(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// groupAlive says whether process group pgid has a live (non-zombie)
// member. reaped is closed once this process has reaped the leader.
func groupAlive(pgid int, reaped chan struct{}) bool {
	if reaped != nil {
		select {
		case <-reaped:
		default:
			return true // our child, not reaped yet: its supervisor runs
		}
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// The group has members, but orphaned zombies count too when init does
	// not reap them (some container inits): look for a live one.
	alive, ok := procGroupAlive(pgid)
	return alive || !ok
}

// procGroupAlive scans /proc; ok is false where /proc cannot be read.
func procGroupAlive(pgid int) (alive, ok bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		state, pg, ok := procStat(pid)
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			return true, true
		}
	}
	return false, true
}

// procStat reads the state and process group of pid from /proc/pid/stat.
func procStat(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil || len(f[0]) == 0 {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

func totalMemoryMB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb / 1024
		}
	}
	return 0
}
