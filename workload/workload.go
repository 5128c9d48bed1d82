// Package workload is the one runtime for tenants' code: training jobs
// today, model services and function instances next. It takes a workload
// through its whole life — stage its inputs from the object store into a
// working directory, submit its task to an executor (executor.Set picks the
// driver by name), hand the task's handle to the owner to persist, follow
// the task's state and logs, upload its outputs and logs when it ends,
// and re-attach after a restart of the server — and tells the owner each
// step through Hooks, so that the owner (training) keeps only its own
// states and rules.
//
// The package knows no HTTP, SQL or process handling: it gets an
// atelier.ObjectService and an executor.Set. Tasks run in the executor's
// sandbox; nothing here runs tenants' code.
package workload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/internal/clock"
)

// Defaults of Options.
const (
	DefaultStopGrace     = 10 * time.Second
	DefaultCollectWait   = time.Minute
	DefaultPresignMargin = 6 * time.Hour
)

// Options configure a Runtime. Zero fields take the defaults.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// StopGrace is how long a stopped task's workers get between SIGTERM
	// and SIGKILL (default 10s).
	StopGrace time.Duration
	// CollectWait bounds how long Stop waits, after the grace, for a
	// stopped task's outputs and logs to be uploaded (default 1m).
	CollectWait time.Duration

	// Staging without a shared filesystem (remote.go): for executors
	// whose tasks do not see the server's disk, the runtime presigns
	// object URLs with Presigner and runs the task's command behind
	// Stager (the atelier binary as tasks see it) `task-stage`, which
	// reaches the server at TaskEndpoint. Unset, such executors cannot
	// run workloads.
	Presigner    atelier.ObjectPresigner
	Stager       string
	TaskEndpoint string
	// PresignMargin is added to a task's timeout for the expiry of its
	// URLs: it covers the wait in a queue, the staging and the uploads
	// (default 6h).
	PresignMargin time.Duration
}

// Runtime runs workloads. It is safe for concurrent use.
type Runtime struct {
	objects atelier.ObjectService
	execs   *executor.Set
	clock   clock.Clock
	log     *slog.Logger
	opts    Options

	// ctx is the parent of all background work; Stop cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	runs    map[string]*run
	stopped bool
}

// New returns a Runtime over the object store and the executors.
func New(objects atelier.ObjectService, execs *executor.Set, opts Options) *Runtime {
	opts.Clock = cmp.Or[clock.Clock](opts.Clock, clock.Real{})
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.StopGrace = cmp.Or(opts.StopGrace, DefaultStopGrace)
	opts.CollectWait = cmp.Or(opts.CollectWait, DefaultCollectWait)
	opts.PresignMargin = cmp.Or(opts.PresignMargin, DefaultPresignMargin)
	ctx, cancel := context.WithCancel(context.Background())
	return &Runtime{
		objects: objects, execs: execs, clock: opts.Clock, log: opts.Logger, opts: opts,
		ctx: ctx, cancel: cancel, runs: map[string]*run{},
	}
}

// Stop ends the runtime's background work and waits for it. It does not
// stop tasks: a new Runtime over the same executors resumes them. Safe to
// call twice.
func (r *Runtime) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// Executors returns the runtime's executors.
func (r *Runtime) Executors() *executor.Set { return r.execs }

// Spec is one workload.
type Spec struct {
	// ID names the workload; it is its task's ID, unique among all tasks
	// (e.g. "<job id>-v3").
	ID string
	// Tenant owns it; User acts for it when staging and collecting (the
	// principal of object store calls), "workload" when empty.
	Tenant, User string
	// Executor names the driver ("" = the default one).
	Executor string
	// Dir is the working directory. On a shared filesystem the runtime
	// empties it before staging; otherwise it is the path the task's
	// driver gives the task its own directory at, and the server never
	// touches it.
	Dir string
	// Task is what runs: every field but ID, Tenant and Dir, which the
	// runtime sets.
	Task executor.Spec
	// Inputs are staged into Dir before the task is submitted, in order.
	Inputs []Input
	// Outputs are uploaded when the task has ended.
	Outputs []Output
	// Logs, when set, says where worker i's log is uploaded at the end.
	Logs func(worker int) (atelier.ObjectPath, bool)
	// MaxUnzipBytes bounds what one .zip input unpacks to (0: no bound).
	MaxUnzipBytes int64
}

// Input is something staged into the working directory: an object path
// (Object), which the runtime stages wherever the task runs, or something
// only the server can stage (Stage), or, with neither, an empty
// directory.
type Input struct {
	// Field names the input in errors, e.g. "spec.inputs[0].obs_path".
	Field string
	// Dir is where it goes (absolute, inside the working directory); the
	// runtime creates it.
	Dir string
	// Object, when set, is the OBS directory, .zip or object the input
	// comes from: staged on the server (StageSource) when the task shares
	// its filesystem, else fetched by the task through a presigned URL.
	Object *ObjectInput
	// Stage, for an input that is not an object path (a dataset
	// version), fills dir on the server; tmp is a scratch directory
	// removed after staging. Such an input cannot be staged for an
	// executor whose tasks share no filesystem with the server: the
	// workload then fails naming it.
	Stage func(ctx context.Context, dir, tmp string) error
}

// ObjectInput is an input staged from the object store.
type ObjectInput struct {
	Path atelier.ObjectPath
	// Resolve finds what Path names when the workload is staged (objects
	// may have changed since it was submitted); nil: ResolveSource.
	// Owners pass their own to turn its errors into their codes: an
	// *atelier.Error is returned as it is, anything else is wrapped with
	// the input's field.
	Resolve func(ctx context.Context) (*Source, error)
}

// Output is a directory uploaded when the task has ended.
type Output struct {
	Field string
	Dir   string
	Dest  atelier.ObjectPath
}

// Hooks tell the owner what happened, in order; each persists the
// owner's state. They run in the workload's goroutine.
type Hooks struct {
	// Submitted: the task was accepted; persist h, so that a restarted
	// server can Resume. It runs even while the server shuts down (with a
	// context that is not cancelled).
	Submitted func(ctx context.Context, h *executor.Handle) error
	// Running: every worker started, at started.
	Running func(ctx context.Context, started time.Time) error
	// Finished: the workload has ended and its outputs and logs are
	// uploaded (or could not be: Result.Notes).
	Finished func(ctx context.Context, res *Result) error
}

// Result is how a workload ended.
type Result struct {
	// Exit is the task's end; nil when it never ran (Err says why, or a
	// stop came first).
	Exit *driver.ExitResult
	// Err is why staging or submitting failed (SafeMessage is safe to
	// show).
	Err error
	// Stopped is set when Stop was asked (StopReason its reason); the
	// owner decides what a stopped workload that completed is.
	Stopped    bool
	StopReason string
	// Notes are failures of uploading outputs (OutputsFailed) or logs,
	// safe to show.
	Notes         []string
	OutputsFailed bool
	FinishedAt    time.Time
}

// run is what this server does for one workload.
type run struct {
	mu         sync.Mutex
	stopReq    bool
	stopReason string
	handle     *executor.Handle
	exited     bool // the task has ended: a stop comes too late
	cancel     context.CancelFunc
	submitted  chan struct{} // closed once handle is set, or the run ends
	subOnce    sync.Once
	done       chan struct{}
}

func newRun() *run { return &run{submitted: make(chan struct{}), done: make(chan struct{})} }

func (w *run) markSubmitted() { w.subOnce.Do(func() { close(w.submitted) }) }

func (w *run) stopRequested() (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopReq, w.stopReason
}

// errBusy: the runtime already runs a workload of that ID.
var errBusy = errors.New("workload: already running")

// begin registers a run for id and runs fn in a goroutine that Stop waits
// for.
func (r *Runtime) begin(spec *Spec, w *run, fn func(ctx context.Context)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return atelier.CodeUnavailable.Errorf("The server is shutting down.")
	}
	if _, dup := r.runs[spec.ID]; dup {
		return errBusy
	}
	r.runs[spec.ID] = w
	r.wg.Add(1)
	ctx := atelier.NewContextWithPrincipal(r.ctx, &atelier.Principal{TenantID: spec.Tenant, UserID: cmp.Or(spec.User, "workload")})
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.runs, spec.ID)
			r.mu.Unlock()
			w.markSubmitted()
			close(w.done)
		}()
		fn(ctx)
	}()
	return nil
}

func (r *Runtime) lookup(id string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// Active reports whether this runtime is taking workload id through its
// life (staging, following or collecting).
func (r *Runtime) Active(id string) bool { return r.lookup(id) != nil }

// Done returns a channel closed when this runtime is done with workload
// id (at once when it is not running it).
func (r *Runtime) Done(id string) <-chan struct{} {
	if w := r.lookup(id); w != nil {
		return w.done
	}
	c := make(chan struct{})
	close(c)
	return c
}

// Launch stages, submits and follows a new workload in the background.
func (r *Runtime) Launch(spec Spec, hooks Hooks) error {
	w := newRun()
	return r.begin(&spec, w, func(ctx context.Context) { r.execute(ctx, w, &spec, hooks) })
}

func (r *Runtime) execute(ctx context.Context, w *run, spec *Spec, hooks Hooks) {
	stageCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	w.cancel = cancel
	stop := w.stopReq
	w.mu.Unlock()
	if stop {
		r.finishEarly(ctx, w, spec, hooks, nil)
		return
	}
	ex, err := r.execs.Get(spec.Executor)
	task := spec.Task
	if err == nil {
		if ex.Capabilities().SharedFS {
			err = r.stage(stageCtx, spec)
		} else {
			task, err = r.remoteTask(stageCtx, spec, ex)
		}
	}
	if err != nil {
		if stop, _ := w.stopRequested(); stop || ctx.Err() != nil {
			// A stop, or the server shutting down: a restarted server
			// finds no handle and the owner ends the workload.
			if ctx.Err() == nil {
				r.finishEarly(ctx, w, spec, hooks, nil)
			}
			return
		}
		r.log.WarnContext(ctx, "workload: staging failed", "workload", spec.ID, "err", err)
		r.finishEarly(ctx, w, spec, hooks, err)
		return
	}
	task.ID, task.Tenant, task.Dir = spec.ID, spec.Tenant, spec.Dir

	w.mu.Lock()
	if w.stopReq {
		w.mu.Unlock()
		r.finishEarly(ctx, w, spec, hooks, nil)
		return
	}
	h, err := ex.Submit(ctx, &task)
	if err == nil {
		w.handle = h
	}
	w.mu.Unlock()
	w.markSubmitted()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "workload: submit refused", "workload", spec.ID, "err", err)
		r.finishEarly(ctx, w, spec, hooks, &SubmitError{Err: err})
		return
	}
	// Record the handle even when the server is shutting down right now:
	// without it a restarted server could not re-attach to the task.
	if hooks.Submitted != nil {
		pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if err := hooks.Submitted(pctx, h); err != nil {
			r.log.ErrorContext(ctx, "workload: record handle", "workload", spec.ID, "err", err)
		}
		pcancel()
	}
	r.follow(ctx, w, spec, ex, h, hooks)
}

// SubmitError is an executor's refusal of a task: ErrTooLarge (it can
// never run), ErrUnsupported, or a validation error.
type SubmitError struct{ Err error }

func (e *SubmitError) Error() string { return "workload: submit: " + e.Err.Error() }
func (e *SubmitError) Unwrap() error { return e.Err }

// stage empties the working directory and stages every input into it,
// and makes every output directory.
func (r *Runtime) stage(ctx context.Context, spec *Spec) error {
	if spec.Dir == "" || !filepath.IsAbs(spec.Dir) {
		return errors.New("workload: the working directory must be absolute")
	}
	if err := os.RemoveAll(spec.Dir); err != nil {
		return err
	}
	tmp := filepath.Join(spec.Dir, ".stage")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, in := range spec.Inputs {
		if err := os.MkdirAll(in.Dir, 0o750); err != nil {
			return err
		}
		var err error
		switch {
		case in.Object != nil:
			var src *Source
			if src, err = r.resolve(ctx, &in); err != nil {
				return err
			}
			err = StageSource(ctx, r.objects, src, in.Dir, tmp, cmp.Or(spec.MaxUnzipBytes, 1<<62))
		case in.Stage != nil:
			err = in.Stage(ctx, in.Dir, tmp)
		}
		if err != nil {
			if _, ok := errors.AsType[*atelier.Error](err); ok {
				return err // it names its field already
			}
			return &StepError{What: in.Field, Err: err}
		}
	}
	for _, o := range spec.Outputs {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds what an object input names: through the owner's
// resolver, whose *atelier.Error names its field already, or
// ResolveSource, whose errors get the input's field.
func (r *Runtime) resolve(ctx context.Context, in *Input) (*Source, error) {
	if in.Object.Resolve != nil {
		src, err := in.Object.Resolve(ctx)
		if _, ok := errors.AsType[*atelier.Error](err); ok || err == nil {
			return src, err
		}
		return nil, &StepError{What: in.Field, Err: err}
	}
	src, err := ResolveSource(ctx, r.objects, in.Object.Path)
	if err != nil {
		return nil, &StepError{What: in.Field, Err: err}
	}
	return src, nil
}

// finishEarly ends a workload that never ran.
func (r *Runtime) finishEarly(ctx context.Context, w *run, spec *Spec, hooks Hooks, err error) {
	stop, reason := w.stopRequested()
	res := &Result{Err: err, Stopped: stop, StopReason: reason, FinishedAt: r.now()}
	r.finished(ctx, spec, hooks, res)
}

func (r *Runtime) finished(ctx context.Context, spec *Spec, hooks Hooks, res *Result) {
	if hooks.Finished == nil {
		return
	}
	if err := hooks.Finished(context.WithoutCancel(ctx), res); err != nil {
		r.log.ErrorContext(ctx, "workload: record the end", "workload", spec.ID, "err", err)
	}
}

func (r *Runtime) now() time.Time { return r.clock.Now().UTC().Truncate(time.Microsecond) }

// Resume re-attaches to a workload submitted before a restart of the
// server, with the handle the owner stored, and follows it to its end. A
// task the executor lost ends the workload with driver.ExitLost. running
// says the owner already recorded it running (Running is not called
// again).
func (r *Runtime) Resume(spec Spec, h *executor.Handle, running bool, hooks Hooks) error {
	ex, err := r.execs.For(h)
	if err != nil {
		return err
	}
	w := newRun()
	w.handle = h
	w.markSubmitted()
	return r.begin(&spec, w, func(ctx context.Context) {
		if err := ex.Recover(ctx, h); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, executor.ErrLost) && !errors.Is(err, executor.ErrNotFound) {
				r.log.ErrorContext(ctx, "workload: recover", "workload", spec.ID, "err", err)
			}
			res := &Result{Exit: &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1}, FinishedAt: r.now()}
			r.finished(ctx, &spec, hooks, res)
			return
		}
		if running {
			hooks.Running = nil
		}
		r.follow(ctx, w, &spec, ex, h, hooks)
	})
}

// follow waits for the task to run and to end, then collects its outputs
// and logs and calls Finished. It returns without Finished when ctx ends
// (the server stops): a restarted server resumes.
func (r *Runtime) follow(ctx context.Context, w *run, spec *Spec, ex *executor.Executor, h *executor.Handle, hooks Hooks) {
	started, err := ex.Started(h)
	if err != nil {
		started = nil
	}
	type waitResult struct {
		st  *executor.Status
		err error
	}
	waitCh := make(chan waitResult, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		st, err := ex.Wait(wctx, h)
		waitCh <- waitResult{st, err}
	}()
	markRunning := func() {
		if hooks.Running == nil {
			return
		}
		st, err := ex.Status(ctx, h)
		if err != nil || st.StartedAt.IsZero() {
			return
		}
		if err := hooks.Running(ctx, st.StartedAt.UTC().Truncate(time.Microsecond)); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "workload: record running", "workload", spec.ID, "err", err)
		}
		hooks.Running = nil
	}
	var res waitResult
wait:
	for {
		select {
		case <-ctx.Done():
			return
		case <-started:
			started = nil
			markRunning()
		case res = <-waitCh:
			break wait
		}
	}
	if ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	w.exited = true
	stop, reason := w.stopReq, w.stopReason
	w.mu.Unlock()
	out := &Result{Stopped: stop, StopReason: reason}
	switch {
	case res.err != nil:
		r.log.ErrorContext(ctx, "workload: wait", "workload", spec.ID, "err", res.err)
		out.Exit = &driver.ExitResult{Kind: driver.ExitLost, Code: -1, Worker: -1}
	default:
		markRunning()
		out.Exit = res.st.Exit
		out.FinishedAt = res.st.FinishedAt.UTC().Truncate(time.Microsecond)
	}
	if !ex.Capabilities().SharedFS {
		// The stager in the task uploaded the outputs (or said why not).
		remoteResult(out)
	} else if err := r.uploadOutputs(ctx, spec); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "workload: upload outputs", "workload", spec.ID, "err", err)
		out.OutputsFailed = true
		out.Notes = append(out.Notes, "uploading the outputs failed: "+SafeMessage(err))
	}
	if err := r.uploadLogs(ctx, spec, ex, h); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "workload: upload logs", "workload", spec.ID, "err", err)
		out.Notes = append(out.Notes, "uploading the logs failed: "+SafeMessage(err))
	}
	if out.FinishedAt.IsZero() {
		out.FinishedAt = r.now()
	}
	r.finished(ctx, spec, hooks, out)
}

// uploadOutputs uploads every output directory to its OBS directory.
func (r *Runtime) uploadOutputs(ctx context.Context, spec *Spec) error {
	for _, o := range spec.Outputs {
		if err := UploadDir(ctx, r.objects, o.Dir, o.Dest); err != nil {
			return &StepError{What: o.Field, Err: err}
		}
	}
	return nil
}

// uploadLogs copies every worker's log to where spec.Logs says.
func (r *Runtime) uploadLogs(ctx context.Context, spec *Spec, ex *executor.Executor, h *executor.Handle) error {
	if spec.Logs == nil {
		return nil
	}
	for i := range spec.Task.Workers {
		op, ok := spec.Logs(i)
		if !ok {
			continue
		}
		rc, err := ex.Logs(ctx, h, i, 0, false)
		if err != nil {
			return err
		}
		_, err = r.objects.PutObject(ctx, op.Bucket, op.Key, rc, atelier.PutOptions{Size: -1, ContentType: "text/plain; charset=utf-8"})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// StopWorkload stops workload id: during staging it cancels the staging and
// nothing is submitted; once submitted it stops the task and waits (a
// bounded time) for its outputs and logs to be collected. h is the stored
// handle of a workload this runtime does not follow (another server's,
// or none). It returns false when nothing was running to stop.
func (r *Runtime) StopWorkload(ctx context.Context, id string, h *executor.Handle, reason string) (bool, error) {
	w := r.lookup(id)
	if w != nil {
		w.mu.Lock()
		if !w.exited {
			w.stopReq, w.stopReason = true, reason
		}
		h = w.handle
		cancel := w.cancel
		w.mu.Unlock()
		if h == nil && cancel != nil {
			cancel()
		}
	}
	if h == nil {
		if w == nil {
			return false, nil
		}
		r.wait(ctx, w, r.opts.CollectWait)
		return true, nil
	}
	ex, err := r.execs.For(h)
	if err != nil {
		return false, nil // a driver this server no longer has
	}
	if err := ex.Stop(ctx, h, r.opts.StopGrace); err != nil {
		if errors.Is(err, executor.ErrNotFound) {
			return w != nil, nil
		}
		return false, fmt.Errorf("workload: stop: %w", err)
	}
	if w != nil {
		r.wait(ctx, w, r.opts.StopGrace+r.opts.CollectWait)
	}
	return true, nil
}

// wait waits for w to end, at most d.
func (r *Runtime) wait(ctx context.Context, w *run, d time.Duration) {
	tick, stop := r.clock.NewTicker(d)
	defer stop()
	select {
	case <-w.done:
	case <-tick:
	case <-ctx.Done():
	}
}

// OpenLog opens worker's log of the task with handle h (or, while this
// runtime is still staging workload id and follow is set, once it is
// submitted). It returns executor.ErrNotFound when the executor does not
// know the task (any more): the owner then reads its uploaded copy.
func (r *Runtime) OpenLog(ctx context.Context, id string, h *executor.Handle, worker int, offset int64, follow bool) (io.ReadCloser, error) {
	if h == nil {
		w := r.lookup(id)
		if w == nil || !follow {
			return nil, executor.ErrNotFound
		}
		select {
		case <-w.submitted:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		w.mu.Lock()
		h = w.handle
		w.mu.Unlock()
		if h == nil {
			return nil, executor.ErrNotFound
		}
	}
	ex, err := r.execs.For(h)
	if err != nil {
		return nil, executor.ErrNotFound
	}
	return ex.Logs(ctx, h, worker, offset, follow)
}

// Forget removes what the executor keeps of an ended task.
func (r *Runtime) Forget(ctx context.Context, h *executor.Handle) error {
	ex, err := r.execs.For(h)
	if err != nil {
		return nil
	}
	return ex.Forget(ctx, h)
}
