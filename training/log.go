package training

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
)

// OpenLog opens worker task's log of version n from byte offset. It reads
// from the executor while it knows the task (the local driver keeps logs
// until the task is forgotten); otherwise from the uploaded log object in
// log_url, when there is one; otherwise the log is empty. With follow, a
// version still staging is waited for.
func (s *Service) OpenLog(ctx context.Context, jobID string, n int64, task string, offset int64, follow bool) (io.ReadCloser, error) {
	v, err := s.GetVersion(ctx, jobID, n)
	if err != nil {
		return nil, err
	}
	worker, ok := parseTask(task)
	if !ok || worker >= v.Spec.InstanceCount {
		return nil, atelier.CodeTaskNotFound.Errorf("The version has no task %q (worker-0 … worker-%d).", task, v.Spec.InstanceCount-1).WithField("task")
	}
	if offset < 0 {
		return nil, atelier.CodeInvalidParam.Errorf("offset must not be negative.").WithField("offset")
	}
	var h *executor.Handle
	if v.Handle != "" {
		h = storedHandle(v)
	}
	if h != nil || (follow && !atelier.JobStateFinal(v.State)) {
		rc, err := s.rt.OpenLog(ctx, workloadID(jobID, v.VersionID), h, worker, offset, follow)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, executor.ErrNotFound) && !errors.Is(err, executor.ErrLost) {
			return nil, fmt.Errorf("training: open log: %w", err)
		}
		// The version may have ended meanwhile: read its uploaded log.
		if v, err = s.version(ctx, jobID, v.VersionID); err != nil {
			return nil, err
		}
	}
	return s.openLogObject(ctx, v, worker, offset)
}

// openLogObject reads the uploaded log of a worker from offset, or gives
// an empty log when there is none.
func (s *Service) openLogObject(ctx context.Context, v *atelier.JobVersion, worker int, offset int64) (io.ReadCloser, error) {
	op, ok := logObject(v, s.jobName(ctx, v), worker)
	if !ok {
		return io.NopCloser(strings.NewReader("")), nil
	}
	o, err := s.objects.StatObject(ctx, op.Bucket, op.Key)
	if err != nil {
		if notFound(err) {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("training: open log object: %w", err)
	}
	if offset >= o.Size {
		return io.NopCloser(strings.NewReader("")), nil
	}
	_, rc, _, err := s.objects.GetObject(ctx, op.Bucket, op.Key, &atelier.Range{Offset: offset, Length: -1})
	if err != nil {
		return nil, fmt.Errorf("training: open log object: %w", err)
	}
	return rc, nil
}

// parseTask returns the worker index of "worker-<i>".
func parseTask(task string) (int, bool) {
	s, ok := strings.CutPrefix(task, "worker-")
	if !ok || s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0, false
	}
	return i, true
}
