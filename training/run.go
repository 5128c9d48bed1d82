package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
)

type runKey struct {
	job string
	n   int64
}

// run is what this server does for one version: stage, submit, follow,
// finish. StopVersion talks to it.
type run struct {
	mu         sync.Mutex
	stopReq    bool
	stopReason string
	handle     *executor.Handle
	exited     bool // the gang has ended: a stop comes too late
	cancel     context.CancelFunc
	submitted  chan struct{} // closed once handle is set, or the run ends
	subOnce    sync.Once
	done       chan struct{}
}

func newRun() *run {
	return &run{submitted: make(chan struct{}), done: make(chan struct{})}
}

func (r *run) markSubmitted() { r.subOnce.Do(func() { close(r.submitted) }) }

func (r *run) stopRequested() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopReq
}

func (s *Service) getRun(job string, n int64) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[runKey{job, n}]
}

// start registers r for version v and runs fn in a goroutine that Stop
// waits for. It returns false when the service is stopping.
func (s *Service) start(v *atelier.JobVersion, r *run, fn func(ctx context.Context)) bool {
	key := runKey{v.JobID, v.VersionID}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false
	}
	if _, dup := s.runs[key]; dup {
		s.mu.Unlock()
		return false
	}
	s.runs[key] = r
	s.wg.Add(1)
	s.mu.Unlock()
	ctx := atelier.NewContextWithPrincipal(s.ctx, &atelier.Principal{TenantID: v.TenantID, UserID: "training"})
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.runs, key)
			s.mu.Unlock()
			r.markSubmitted()
			close(r.done)
		}()
		fn(ctx)
	}()
	return true
}

// launch stages, submits and follows a new version in the background.
func (s *Service) launch(v *atelier.JobVersion, user string) {
	r := newRun()
	s.start(v, r, func(ctx context.Context) {
		if user != "" {
			ctx = atelier.NewContextWithPrincipal(ctx, &atelier.Principal{TenantID: v.TenantID, UserID: user})
		}
		s.execute(ctx, r, v)
	})
}

func (s *Service) jobDir(jobID string) string { return filepath.Join(s.opts.WorkRoot, jobID) }

func (s *Service) workDir(jobID string, n int64) string {
	return filepath.Join(s.jobDir(jobID), "v"+strconv.FormatInt(n, 10))
}

// execute stages version v, submits it and follows it to its end.
func (s *Service) execute(ctx context.Context, r *run, v *atelier.JobVersion) {
	stageCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.cancel = cancel
	stop := r.stopReq
	r.mu.Unlock()
	if stop {
		return
	}
	l := newLayout(s.workDir(v.JobID, v.VersionID), &v.Spec)
	jobName := v.JobID
	if j, err := s.st.GetJob(ctx, v.TenantID, v.JobID); err == nil {
		jobName = j.Name
	}
	if err := s.stage(stageCtx, &v.Spec, l); err != nil {
		if r.stopRequested() || ctx.Err() != nil {
			// A stop (already persisted) or the server shutting down; a
			// restarted server fails the version honestly.
			return
		}
		s.log.WarnContext(ctx, "training: staging failed", "job", v.JobID, "version", v.VersionID, "err", err)
		s.finishEarly(ctx, v, atelier.JobFailed, "staging failed: "+safeMessage(err))
		return
	}
	spec := s.execSpec(v, jobName, l)

	r.mu.Lock()
	if r.stopReq {
		r.mu.Unlock()
		return
	}
	h, err := s.exec.Submit(ctx, spec)
	if err == nil {
		r.handle = h
	}
	r.mu.Unlock()
	r.markSubmitted()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "training: submit failed", "job", v.JobID, "version", v.VersionID, "err", err)
		reason := "the executor refused the job"
		if errors.Is(err, executor.ErrTooLarge) {
			reason = fmt.Sprintf("the executor can never run %d workers of flavor %s", v.Spec.InstanceCount, v.Spec.Flavor)
		}
		s.finishEarly(ctx, v, atelier.JobFailed, reason)
		return
	}
	hb, err := json.Marshal(h)
	if err != nil {
		s.log.ErrorContext(ctx, "training: marshal handle", "err", err)
		return
	}
	// Record the handle even when the server is shutting down right now:
	// without it a restarted server could not re-adopt the gang.
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	_, err = s.transition(pctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
		if atelier.JobStateFinal(x.State) {
			return errFinal
		}
		x.Handle = string(hb)
		x.State = atelier.JobQueued
		x.Reason = ""
		return nil
	})
	pcancel()
	if err != nil && !errors.Is(err, errFinal) {
		s.log.ErrorContext(ctx, "training: record handle", "job", v.JobID, "version", v.VersionID, "err", err)
	}
	s.follow(ctx, r, v, h, jobName, false)
}

// execSpec builds the executor's spec of a staged version.
func (s *Service) execSpec(v *atelier.JobVersion, jobName string, l *layout) *executor.Spec {
	spec := &v.Spec
	interp := spec.ScriptInterpreter
	if interp == "" && spec.Framework != "" {
		if f := s.framework(spec.Framework, spec.FrameworkVersion); f != nil {
			interp = f.Interpreter
		}
	}
	env := map[string]string{}
	for k, val := range spec.Env {
		env[k] = val
	}
	env["ATELIER_JOB_ID"] = v.JobID
	env["ATELIER_JOB_NAME"] = jobName
	env["ATELIER_VERSION_ID"] = strconv.FormatInt(v.VersionID, 10)
	env["ATELIER_WORK_DIR"] = l.dir
	env["ATELIER_CODE_DIR"] = l.code
	if len(l.inputs) > 0 {
		env["DATA_URL"] = l.inputs[0] + string(filepath.Separator)
	}
	if len(l.outputs) > 0 {
		env["TRAIN_URL"] = l.outputs[0] + string(filepath.Separator)
	}
	maxRun := s.opts.DefaultMaxRun
	if spec.MaxRunSeconds > 0 {
		maxRun = time.Duration(spec.MaxRunSeconds) * time.Second
	}
	es := &executor.Spec{
		ID:      v.JobID + "-v" + strconv.FormatInt(v.VersionID, 10),
		Tenant:  v.TenantID,
		Workers: spec.InstanceCount,
		Command: buildCommand(spec, l, interp),
		Env:     env,
		Dir:     l.dir,
		Timeout: maxRun,
	}
	if f := s.flavor(spec.Flavor); f != nil {
		es.CPU = float64(f.CPU)
		es.MemoryBytes = f.MemoryMB << 20
		es.GPUs = f.GPU
	}
	return es
}

// pathMapping replaces a user's local path by its place in the working
// directory.
type pathMapping struct{ from, to string }

// mappings returns the local-path mappings of spec's inputs and outputs,
// longest first, so that a nested path wins over its parent.
func mappings(spec *atelier.JobSpec, l *layout) []pathMapping {
	var m []pathMapping
	add := func(local, to string) {
		from := strings.TrimRight(local, "/")
		if from == "" {
			return
		}
		m = append(m, pathMapping{from, to})
	}
	for i, in := range spec.Inputs {
		add(in.LocalPath, l.inputs[i])
	}
	for i, out := range spec.Outputs {
		add(out.LocalPath, l.outputs[i])
	}
	sort.SliceStable(m, func(i, j int) bool { return len(m[i].from) > len(m[j].from) })
	return m
}

// pathChar reports whether c can be part of a path name, so that a local
// path is only replaced as a whole (not "/data" inside "/data2" or
// "/x/data").
func pathChar(c byte) bool {
	return c == '/' || c == '.' || c == '-' || c == '_' || c == '~' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// replacePaths replaces every whole occurrence of a mapped local path in s.
func replacePaths(s string, m []pathMapping) string {
	if len(m) == 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || !pathChar(s[i-1]) {
			for _, pm := range m {
				end := i + len(pm.from)
				if strings.HasPrefix(s[i:], pm.from) && (end == len(s) || s[end] == '/' || !pathChar(s[end])) {
					b.WriteString(pm.to)
					i = end
					matched = true
					break
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// buildCommand returns the argv of every worker: the interpreter with the
// boot file and the parameters, or sh -c user_command with the parameters
// as "$@".
func buildCommand(spec *atelier.JobSpec, l *layout, interp string) []string {
	m := mappings(spec, l)
	var params []string
	for _, p := range spec.Parameters {
		if p.Value == nil {
			params = append(params, "--"+p.Name)
		} else {
			params = append(params, "--"+p.Name+"="+replacePaths(*p.Value, m))
		}
	}
	if spec.UserCommand != "" {
		return append([]string{"sh", "-c", replacePaths(spec.UserCommand, m), "sh"}, params...)
	}
	if interp == "" {
		interp = DefaultInterpreter
	}
	return append([]string{interp, filepath.Join(l.code, filepath.FromSlash(spec.BootFile))}, params...)
}

// finishEarly ends a version that never reached the executor.
func (s *Service) finishEarly(ctx context.Context, v *atelier.JobVersion, state, reason string) {
	_, err := s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
		if atelier.JobStateFinal(x.State) {
			return errFinal
		}
		x.State, x.Reason, x.FinishedAt = state, reason, s.now()
		return nil
	})
	if err != nil && !errors.Is(err, errFinal) {
		s.log.ErrorContext(ctx, "training: end version", "job", v.JobID, "version", v.VersionID, "err", err)
	}
}

type waitResult struct {
	st  *executor.Status
	err error
}

// follow watches a submitted gang until it ends, then uploads its outputs
// and logs and records the final state. It returns without a final state
// when ctx ends (the server stops): a restarted server follows again.
func (s *Service) follow(ctx context.Context, r *run, v *atelier.JobVersion, h *executor.Handle, jobName string, running bool) {
	waitCh := make(chan waitResult, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st, err := s.exec.Wait(wctx, h)
		waitCh <- waitResult{st, err}
	}()
	markRunning := func(st *executor.Status) {
		if running || st.StartedAt.IsZero() && st.State != executor.Running {
			return
		}
		running = true
		started := st.StartedAt
		if started.IsZero() {
			started = s.now()
		}
		_, err := s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
			if atelier.JobStateFinal(x.State) || x.State == atelier.JobRunning {
				return errFinal
			}
			x.State, x.Reason = atelier.JobRunning, ""
			x.StartedAt = started.UTC().Truncate(time.Microsecond)
			return nil
		})
		if err != nil && !errors.Is(err, errFinal) && ctx.Err() == nil {
			s.log.WarnContext(ctx, "training: record running", "job", v.JobID, "err", err)
			running = false
		}
	}
	if st, err := s.exec.Status(ctx, h); err == nil {
		markRunning(st)
	}
	tick, stopTick := s.clock.NewTicker(s.opts.PollEvery)
	defer stopTick()
	var res waitResult
wait:
	for {
		select {
		case <-ctx.Done():
			return
		case res = <-waitCh:
			break wait
		case <-tick:
			if !running {
				if st, err := s.exec.Status(ctx, h); err == nil {
					markRunning(st)
				}
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	r.exited = true
	stopReq, stopReason := r.stopReq, r.stopReason
	r.mu.Unlock()

	var state, reason string
	var exitCode *int
	st := res.st
	switch {
	case res.err != nil && errors.Is(res.err, executor.ErrNotFound):
		state, reason = atelier.JobFailed, "lost: the executor no longer knows the job"
	case res.err != nil:
		s.log.ErrorContext(ctx, "training: wait", "job", v.JobID, "version", v.VersionID, "err", res.err)
		state, reason = atelier.JobFailed, "the executor failed while following the job"
	default:
		markRunning(st)
		code := st.ExitCode
		exitCode = &code
		switch {
		case stopReq:
			state, reason = atelier.JobStopped, stopReason
		case code == 0:
			state = atelier.JobCompleted
		case st.Reason == "stopped":
			state, reason = atelier.JobStopped, "stopped"
		default:
			state, reason = atelier.JobFailed, failureReason(st)
		}
	}
	var notes []string
	if err := s.uploadOutputs(ctx, v); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "training: upload outputs", "job", v.JobID, "version", v.VersionID, "err", err)
		msg := "uploading the outputs failed: " + safeMessage(err)
		if state == atelier.JobCompleted {
			state, reason = atelier.JobFailed, msg
		} else {
			notes = append(notes, msg)
		}
	}
	if err := s.uploadLogs(ctx, v, h, jobName); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "training: upload logs", "job", v.JobID, "version", v.VersionID, "err", err)
		notes = append(notes, "uploading the logs failed: "+safeMessage(err))
	}
	finished := s.now()
	if st != nil && !st.FinishedAt.IsZero() {
		finished = st.FinishedAt.UTC().Truncate(time.Microsecond)
	}
	_, err := s.transition(context.WithoutCancel(ctx), v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
		if !atelier.JobStateFinal(x.State) {
			x.State, x.Reason, x.FinishedAt = state, reason, finished
		}
		if x.ExitCode == nil && exitCode != nil {
			c := *exitCode
			x.ExitCode = &c
		}
		if len(notes) > 0 {
			x.Reason = joinReason(x.Reason, strings.Join(notes, "; "))
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "training: end version", "job", v.JobID, "version", v.VersionID, "err", err)
	}
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// failureReason names the exit code and the worker, with the executor's
// last log lines.
func failureReason(st *executor.Status) string {
	r := st.Reason
	code := strconv.Itoa(st.ExitCode)
	if r == "" {
		if st.FailedWorker >= 0 {
			return fmt.Sprintf("worker-%d exited with code %d", st.FailedWorker, st.ExitCode)
		}
		return "exited with code " + code
	}
	if !strings.Contains(r, code) {
		r = "exit code " + code + ": " + r
	}
	return r
}

// uploadOutputs uploads every output directory to its OBS directory.
func (s *Service) uploadOutputs(ctx context.Context, v *atelier.JobVersion) error {
	l := newLayout(s.workDir(v.JobID, v.VersionID), &v.Spec)
	for i, out := range v.Spec.Outputs {
		op, err := atelier.ParseObjectPath(out.ObsPath)
		if err != nil {
			return &stepError{fmt.Sprintf("spec.outputs[%d]", i), err}
		}
		if err := s.uploadDir(ctx, l.outputs[i], op); err != nil {
			return &stepError{fmt.Sprintf("spec.outputs[%d]", i), err}
		}
	}
	return nil
}

// uploadDir streams every regular file under dir to the OBS directory dst.
// Links are skipped: a job must not make the server upload files outside
// its working directory.
func (s *Service) uploadDir(ctx context.Context, dir string, dst obsPath) error {
	prefix := dst.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		_, err = s.objects.PutObject(ctx, dst.Bucket, prefix+filepath.ToSlash(rel), f, atelier.PutOptions{Size: fi.Size()})
		return err
	})
}

// logObject is where worker i's log of version v is uploaded.
func logObject(v *atelier.JobVersion, jobName string, worker int) (obsPath, bool) {
	if v.Spec.LogURL == "" {
		return obsPath{}, false
	}
	op, err := atelier.ParseObjectPath(v.Spec.LogURL)
	if err != nil {
		return obsPath{}, false
	}
	prefix := op.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	op.Key = fmt.Sprintf("%s%s-v%d-worker-%d.log", prefix, jobName, v.VersionID, worker)
	return op, true
}

// uploadLogs copies every worker's log to log_url, when set.
func (s *Service) uploadLogs(ctx context.Context, v *atelier.JobVersion, h *executor.Handle, jobName string) error {
	if v.Spec.LogURL == "" {
		return nil
	}
	for i := range v.Spec.InstanceCount {
		op, _ := logObject(v, jobName, i)
		rc, err := s.exec.Logs(ctx, h, i, 0, false)
		if err != nil {
			return err
		}
		_, err = s.objects.PutObject(ctx, op.Bucket, op.Key, rc, atelier.PutOptions{Size: -1, ContentType: "text/plain; charset=utf-8"})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// StopVersion stops a version that has not ended.
func (s *Service) StopVersion(ctx context.Context, jobID string, n int64) (*atelier.JobVersion, error) {
	v, err := s.GetVersion(ctx, jobID, n)
	if err != nil {
		return nil, err
	}
	if atelier.JobStateFinal(v.State) {
		return v, nil
	}
	return s.stopVersion(ctx, v, "stopped by the user")
}

// stopVersion stops v: during staging it cancels the staging and nothing
// is submitted; once submitted it stops the gang and waits (a bounded
// time) for the follower to upload outputs and logs. Either way the stop
// wins: the version ends STOPPED.
func (s *Service) stopVersion(ctx context.Context, v *atelier.JobVersion, reason string) (*atelier.JobVersion, error) {
	var h *executor.Handle
	r := s.getRun(v.JobID, v.VersionID)
	if r != nil {
		r.mu.Lock()
		if !r.exited {
			r.stopReq, r.stopReason = true, reason
		}
		h = r.handle
		cancel := r.cancel
		r.mu.Unlock()
		if h == nil && cancel != nil {
			cancel()
		}
	} else if v.Handle != "" {
		h = new(executor.Handle)
		if err := json.Unmarshal([]byte(v.Handle), h); err != nil {
			h = nil
		}
	}
	if h != nil {
		if err := s.exec.Stop(ctx, h, s.opts.StopGrace); err != nil && !errors.Is(err, executor.ErrNotFound) {
			return nil, fmt.Errorf("training: stop: %w", err)
		}
		if r != nil {
			// Let the follower upload the outputs and logs and record the
			// end, so that a STOPPED version has them; record it here if
			// that takes too long.
			tick, stopTick := s.clock.NewTicker(s.opts.StopGrace + stopUploadWait)
			select {
			case <-r.done:
			case <-tick:
			case <-ctx.Done():
			}
			stopTick()
		}
	}
	nv, err := s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
		if atelier.JobStateFinal(x.State) {
			return errFinal
		}
		x.State, x.Reason, x.FinishedAt = atelier.JobStopped, reason, s.now()
		return nil
	})
	if errors.Is(err, errFinal) {
		return s.version(ctx, v.JobID, v.VersionID)
	}
	if err != nil {
		return nil, fmt.Errorf("training: stop: %w", err)
	}
	return nv, nil
}

// stopUploadWait is how long StopVersion waits, after the stop grace, for a
// stopped gang's outputs and logs to be uploaded before it records STOPPED
// itself.
const stopUploadWait = time.Minute
