package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/workload"
)

// workloadID is the runtime's (and the executor's) name of version n.
func workloadID(jobID string, n int64) string { return jobID + "-v" + strconv.FormatInt(n, 10) }

func (s *Service) jobDir(jobID string) string { return filepath.Join(s.opts.WorkRoot, jobID) }

func (s *Service) workDir(jobID string, n int64) string {
	return filepath.Join(s.jobDir(jobID), "v"+strconv.FormatInt(n, 10))
}

// jobName is the name of v's job, for log object names.
func (s *Service) jobName(ctx context.Context, v *atelier.JobVersion) string {
	if j, err := s.st.GetJob(ctx, v.TenantID, v.JobID); err == nil {
		return j.Name
	}
	return v.JobID
}

// workload returns the runtime's spec of version v: what to stage, the
// task to run, where its outputs and logs go.
func (s *Service) workload(v *atelier.JobVersion, user, jobName string) workload.Spec {
	l := newLayout(s.workDir(v.JobID, v.VersionID), &v.Spec)
	w := workload.Spec{
		ID: workloadID(v.JobID, v.VersionID), Tenant: v.TenantID, User: user,
		Dir:     l.dir,
		Task:    s.taskSpec(v, jobName, l),
		Inputs:  s.inputs(&v.Spec, l),
		Outputs: outputs(&v.Spec, l),
		Logs: func(worker int) (atelier.ObjectPath, bool) {
			return logObject(v, jobName, worker)
		},
		MaxUnzipBytes: s.opts.MaxUnzipBytes,
	}
	if f := s.flavor(v.Spec.Flavor); f != nil {
		w.Executor = f.Executor
	}
	return w
}

// taskSpec builds the executor's spec of a version (ID, tenant and
// directory are the runtime's to set).
func (s *Service) taskSpec(v *atelier.JobVersion, jobName string, l *layout) executor.Spec {
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
	es := executor.Spec{
		Workers: spec.InstanceCount,
		Command: buildCommand(spec, l, interp),
		Env:     env,
		Timeout: s.maxRun(spec),
	}
	if f := s.flavor(spec.Flavor); f != nil {
		es.CPU = float64(f.CPU)
		es.MemoryBytes = f.MemoryMB << 20
		es.GPUs = f.GPU
		es.GPUType = f.GPUType
	}
	return es
}

func (s *Service) maxRun(spec *atelier.JobSpec) time.Duration {
	if spec.MaxRunSeconds > 0 {
		return time.Duration(spec.MaxRunSeconds) * time.Second
	}
	return s.opts.DefaultMaxRun
}

// hooks turn the runtime's steps into version transitions.
func (s *Service) hooks(v *atelier.JobVersion) workload.Hooks {
	return workload.Hooks{
		Submitted: func(ctx context.Context, h *executor.Handle) error {
			hb, err := json.Marshal(h)
			if err != nil {
				return err
			}
			_, err = s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
				if atelier.JobStateFinal(x.State) {
					return errFinal
				}
				x.Handle = string(hb)
				x.State, x.Reason = atelier.JobQueued, ""
				return nil
			})
			return ignoreFinal(err)
		},
		Running: func(ctx context.Context, started time.Time) error {
			_, err := s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
				if atelier.JobStateFinal(x.State) || x.State == atelier.JobRunning {
					return errFinal
				}
				x.State, x.Reason, x.StartedAt = atelier.JobRunning, "", started
				return nil
			})
			return ignoreFinal(err)
		},
		Finished: func(ctx context.Context, res *workload.Result) error {
			state, reason, code := s.outcome(v, res)
			_, err := s.transition(ctx, v.JobID, v.VersionID, func(x *atelier.JobVersion) error {
				if !atelier.JobStateFinal(x.State) {
					x.State, x.Reason, x.FinishedAt = state, reason, res.FinishedAt
				}
				if x.ExitCode == nil && code != nil {
					c := *code
					x.ExitCode = &c
				}
				if len(res.Notes) > 0 && !(state == atelier.JobFailed && res.OutputsFailed && x.Reason == reason) {
					x.Reason = joinReason(x.Reason, strings.Join(res.Notes, "; "))
				}
				return nil
			})
			return err
		},
	}
}

func ignoreFinal(err error) error {
	if errors.Is(err, errFinal) {
		return nil
	}
	return err
}

// outcome maps how a workload ended to a version's final state, reason
// and exit code (nil when it never ran).
func (s *Service) outcome(v *atelier.JobVersion, res *workload.Result) (state, reason string, code *int) {
	x := res.Exit
	if x != nil {
		c := x.Code
		code = &c
	}
	switch {
	case res.Err != nil && !res.Stopped:
		if _, ok := errors.AsType[*workload.SubmitError](res.Err); ok {
			if errors.Is(res.Err, executor.ErrTooLarge) {
				return atelier.JobFailed, fmt.Sprintf("the executor can never run %d workers of flavor %s", v.Spec.InstanceCount, v.Spec.Flavor), nil
			}
			return atelier.JobFailed, "the executor refused the job: " + workload.SafeMessage(res.Err), nil
		}
		return atelier.JobFailed, "staging failed: " + workload.SafeMessage(res.Err), nil
	case res.Stopped:
		return atelier.JobStopped, res.StopReason, code
	case x == nil:
		return atelier.JobFailed, "the job ended before it ran", nil
	}
	switch x.Kind {
	case driver.ExitCompleted:
		if res.OutputsFailed {
			return atelier.JobFailed, strings.Join(res.Notes, "; "), code
		}
		return atelier.JobCompleted, "", code
	case driver.ExitStopped:
		return atelier.JobStopped, "stopped", code
	case driver.ExitTimedOut:
		return atelier.JobFailed, "timed out after " + s.maxRun(&v.Spec).String(), code
	case driver.ExitLost:
		return atelier.JobFailed, ReasonLost, code
	case driver.ExitStartFailed:
		return atelier.JobFailed, joinReason("the executor could not start the job", x.Message), code
	case driver.ExitOOMKilled:
		return atelier.JobFailed, joinReason("out of memory", x.Message), code
	}
	return atelier.JobFailed, failureReason(x), code
}

// failureReason names the exit code (or signal) and the worker, with the
// executor's last log lines.
func failureReason(x *driver.ExitResult) string {
	if x.Message != "" {
		if x.Kind == driver.ExitFailed && !strings.Contains(x.Message, strconv.Itoa(x.Code)) {
			return "exit code " + strconv.Itoa(x.Code) + ": " + x.Message
		}
		return x.Message
	}
	switch {
	case x.Signal > 0:
		return fmt.Sprintf("worker-%d was killed by signal %d", x.Worker, x.Signal)
	case x.Worker >= 0:
		return fmt.Sprintf("worker-%d exited with code %d", x.Worker, x.Code)
	}
	return "exited with code " + strconv.Itoa(x.Code)
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// launch stages, submits and follows a new version in the background.
func (s *Service) launch(ctx context.Context, v *atelier.JobVersion, user string) {
	w := s.workload(v, user, s.jobName(ctx, v))
	if err := s.rt.Launch(w, s.hooks(v)); err != nil {
		s.log.ErrorContext(ctx, "training: launch", "job", v.JobID, "version", v.VersionID, "err", err)
		s.finishEarly(ctx, v, atelier.JobFailed, "the server could not start the job: "+workload.SafeMessage(err))
	}
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

// storedHandle decodes a version's executor handle; nil when it has none.
func storedHandle(v *atelier.JobVersion) *executor.Handle {
	if v.Handle == "" {
		return nil
	}
	h := new(executor.Handle)
	if err := json.Unmarshal([]byte(v.Handle), h); err != nil {
		return nil
	}
	return h
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

// stopVersion stops v: during staging the runtime cancels the staging and
// nothing is submitted; once submitted it stops the task and waits (a
// bounded time) for its outputs and logs to be uploaded. Either way the
// stop wins: the version ends STOPPED.
func (s *Service) stopVersion(ctx context.Context, v *atelier.JobVersion, reason string) (*atelier.JobVersion, error) {
	if _, err := s.rt.StopWorkload(ctx, workloadID(v.JobID, v.VersionID), storedHandle(v), reason); err != nil {
		return nil, fmt.Errorf("training: stop: %w", err)
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
