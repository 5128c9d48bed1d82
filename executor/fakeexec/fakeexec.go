// Package fakeexec is an executor driver that runs nothing: its tasks live
// in memory until the test ends them (Exit), so that the portable executor
// and the workload runtime can be tested deterministically, on a fake
// clock, without processes. It declares every capability by default
// (Options.Capabilities narrows them) and keeps its tasks across Reopen,
// the way a real driver's tasks outlive the server.
package fakeexec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor/driver"
)

// Name is the default driver name.
const Name = "fake"

// Options configures a Driver.
type Options struct {
	Name         string               // default Name
	Capabilities *driver.Capabilities // default: everything
	CPUs         int                  // default 4
	MemoryMB     int64                // default 16384
	GPUs         []driver.GPU
	// StartErr, when set, is returned by StartTask for the task IDs it
	// names (a driver refusing a task).
	StartErr map[string]error
}

// Driver is the fake driver. It is safe for concurrent use.
type Driver struct {
	opts   Options
	tasks  *tasks
	closed bool
	mu     sync.Mutex
}

// tasks are shared by the Drivers of one Reopen chain.
type tasks struct {
	mu      sync.Mutex
	m       map[string]*Task
	started chan string // IDs, as tasks start
	stops   []string    // IDs, as StopTask is called
}

// Task is a fake task.
type Task struct {
	Config  driver.TaskConfig
	started time.Time
	exit    *driver.ExitResult
	done    chan struct{}
	ready   bool
	logs    []bytes.Buffer
	Stopped bool          // StopTask was called
	Grace   time.Duration // of the last StopTask
}

var _ driver.Driver = (*Driver)(nil)

// New returns a fake driver.
func New(opts Options) *Driver {
	if opts.Name == "" {
		opts.Name = Name
	}
	if opts.CPUs == 0 {
		opts.CPUs = 4
	}
	if opts.MemoryMB == 0 {
		opts.MemoryMB = 16384
	}
	return &Driver{opts: opts, tasks: &tasks{m: map[string]*Task{}, started: make(chan string, 1024)}}
}

// Reopen returns a new Driver over the same tasks, as a restarted server
// would find them; d should be closed first.
func (d *Driver) Reopen() *Driver {
	return &Driver{opts: d.opts, tasks: d.tasks}
}

// Started receives the ID of every task as it starts.
func (d *Driver) Started() <-chan string { return d.tasks.started }

// WaitStarted returns the ID of the next task the driver starts; t fails
// when none starts within the given time.
func (d *Driver) WaitStarted(t testing.TB, within time.Duration) string {
	t.Helper()
	select {
	case id := <-d.tasks.started:
		return id
	case <-time.After(within):
		t.Fatal("no task started")
		return ""
	}
}

// Stops returns the IDs StopTask was called for, in order.
func (d *Driver) Stops() []string {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	return slices.Clone(d.tasks.stops)
}

// Task returns a copy of a task's configuration and whether it exists.
func (d *Driver) Task(id string) (driver.TaskConfig, bool) {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	t, ok := d.tasks.m[id]
	if !ok {
		return driver.TaskConfig{}, false
	}
	return t.Config, true
}

// Running returns the IDs of the tasks that have not exited, sorted.
func (d *Driver) Running() []string {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	var out []string
	for id, t := range d.tasks.m {
		if t.exit == nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Exit ends a task with res (Worker -1 and Code 0 for a success).
func (d *Driver) Exit(id string, res driver.ExitResult) error {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	t, ok := d.tasks.m[id]
	if !ok {
		return driver.ErrNotFound
	}
	if t.exit == nil {
		x := res
		t.exit = &x
		close(t.done)
	}
	return nil
}

// Vanish forgets a task, as if its processes died with the machine:
// RecoverTask then returns ErrLost.
func (d *Driver) Vanish(id string) {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	if t, ok := d.tasks.m[id]; ok && t.exit == nil {
		t.exit = &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1}
		close(t.done)
		t.Config.ID = "" // marks it lost
	}
}

// Log appends text to worker's log.
func (d *Driver) Log(id string, worker int, text string) {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	if t, ok := d.tasks.m[id]; ok && worker < len(t.logs) {
		t.logs[worker].WriteString(text)
	}
}

// SetReady sets a running task's readiness.
func (d *Driver) SetReady(id string, ready bool) {
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	if t, ok := d.tasks.m[id]; ok {
		t.ready = ready
	}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return d.opts.Name }

// Capabilities implements driver.Driver.
func (d *Driver) Capabilities() driver.Capabilities {
	if d.opts.Capabilities != nil {
		return *d.opts.Capabilities
	}
	return driver.Capabilities{
		Batch: true, LongRunning: true, Gang: true, Ports: true, GPUs: true, SharedFS: true,
		Recover: true, MemoryLimit: true, CPULimit: true, ProcessLimit: true, Isolation: driver.IsolationNamespaces,
	}
}

// Fingerprint implements driver.Driver.
func (d *Driver) Fingerprint(ctx context.Context) (*driver.Fingerprint, error) {
	return &driver.Fingerprint{CPUs: d.opts.CPUs, MemoryMB: d.opts.MemoryMB, GPUs: slices.Clone(d.opts.GPUs)}, nil
}

var errClosed = errors.New("fakeexec: closed")

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// StartTask implements driver.Driver.
func (d *Driver) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	if d.isClosed() {
		return nil, errClosed
	}
	if err := d.opts.StartErr[cfg.ID]; err != nil {
		return nil, err
	}
	d.tasks.mu.Lock()
	t := &Task{Config: *cfg, started: time.Now(), done: make(chan struct{}), logs: make([]bytes.Buffer, cfg.Workers)}
	d.tasks.m[cfg.ID] = t
	d.tasks.mu.Unlock()
	select {
	case d.tasks.started <- cfg.ID:
	default:
	}
	return &driver.TaskHandle{Driver: d.opts.Name, Version: 1, ID: cfg.ID}, nil
}

func (d *Driver) lookup(h *driver.TaskHandle) (*Task, error) {
	if h == nil || h.Driver != d.opts.Name {
		return nil, driver.ErrNotFound
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	t, ok := d.tasks.m[h.ID]
	if !ok || t.Config.ID == "" {
		return nil, driver.ErrNotFound
	}
	return t, nil
}

func (t *Task) status() *driver.TaskStatus {
	st := &driver.TaskStatus{State: driver.TaskRunning, StartedAt: t.started, Ready: t.ready}
	for w := range t.Config.Workers {
		for _, p := range t.Config.Ports {
			st.Endpoints = append(st.Endpoints, driver.Endpoint{Worker: w, Name: p, Addr: "127.0.0.1:1"})
		}
	}
	if t.exit != nil {
		x := *t.exit
		st.State, st.Exit, st.Endpoints, st.Ready = driver.TaskExited, &x, nil, false
	}
	return st
}

// InspectTask implements driver.Driver.
func (d *Driver) InspectTask(ctx context.Context, h *driver.TaskHandle) (*driver.TaskStatus, error) {
	t, err := d.lookup(h)
	if err != nil {
		return nil, err
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	return t.status(), nil
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, h *driver.TaskHandle) (*driver.TaskStatus, error) {
	t, err := d.lookup(h)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		d.tasks.mu.Lock()
		defer d.tasks.mu.Unlock()
		return t.status(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// StopTask implements driver.Driver: the task exits stopped at once.
func (d *Driver) StopTask(ctx context.Context, h *driver.TaskHandle, grace time.Duration) error {
	t, err := d.lookup(h)
	if err != nil {
		return err
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	d.tasks.stops = append(d.tasks.stops, h.ID)
	t.Stopped, t.Grace = true, grace
	if t.exit == nil {
		t.exit = &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1}
		close(t.done)
	}
	return nil
}

// RecoverTask implements driver.Driver.
func (d *Driver) RecoverTask(ctx context.Context, h *driver.TaskHandle) error {
	if h == nil || h.Driver != d.opts.Name {
		return driver.ErrNotFound
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	t, ok := d.tasks.m[h.ID]
	switch {
	case !ok:
		return driver.ErrNotFound
	case t.Config.ID == "":
		return driver.ErrLost
	}
	return nil
}

// DestroyTask implements driver.Driver.
func (d *Driver) DestroyTask(ctx context.Context, h *driver.TaskHandle) error {
	if h == nil {
		return nil
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	if t, ok := d.tasks.m[h.ID]; ok && t.exit == nil {
		t.exit = &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1}
		close(t.done)
	}
	delete(d.tasks.m, h.ID)
	return nil
}

// TaskLogs implements driver.Driver; following ends at the task's exit.
func (d *Driver) TaskLogs(ctx context.Context, h *driver.TaskHandle, worker int, offset int64, follow bool) (io.ReadCloser, error) {
	t, err := d.lookup(h)
	if err != nil {
		return nil, err
	}
	if follow {
		select {
		case <-t.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	d.tasks.mu.Lock()
	defer d.tasks.mu.Unlock()
	if worker < 0 || worker >= len(t.logs) {
		return nil, driver.ErrNotFound
	}
	b := t.logs[worker].Bytes()
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(b[offset:]))), nil
}

// Close implements driver.Driver; tasks stay for Reopen.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
