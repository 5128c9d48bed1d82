package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
)

// OpenLog opens worker task's log of version n from byte offset. It reads
// from the executor while it knows the gang (the local executor keeps logs
// in the working directory after the end); otherwise from the uploaded log
// object in log_url, when there is one; otherwise the log is empty. With
// follow, a version still staging is waited for.
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
	if v.Handle == "" && follow && !atelier.JobStateFinal(v.State) {
		// Staging: wait until the gang is submitted or the version ends.
		if r := s.getRun(jobID, v.VersionID); r != nil {
			select {
			case <-r.submitted:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			// The handle is in memory before it is in the store: use it,
			// so that a follow never ends early for a gang just submitted.
			r.mu.Lock()
			h := r.handle
			r.mu.Unlock()
			if h != nil {
				hb, err := json.Marshal(h)
				if err != nil {
					return nil, fmt.Errorf("training: open log: %w", err)
				}
				v.Handle = string(hb)
			} else if v, err = s.version(ctx, jobID, v.VersionID); err != nil {
				return nil, err
			}
		}
	}
	if v.Handle != "" {
		h := new(executor.Handle)
		if err := json.Unmarshal([]byte(v.Handle), h); err == nil {
			rc, err := s.exec.Logs(ctx, h, worker, offset, follow)
			if errors.Is(err, executor.ErrNotFound) && atelier.JobStateFinal(v.State) {
				// A restarted server has not adopted ended gangs: try once.
				if s.exec.Recover(ctx, h) == nil {
					rc, err = s.exec.Logs(ctx, h, worker, offset, follow)
				}
			}
			if err == nil {
				return rc, nil
			}
			if !errors.Is(err, executor.ErrNotFound) && !errors.Is(err, executor.ErrLost) {
				return nil, fmt.Errorf("training: open log: %w", err)
			}
		}
	}
	return s.openLogObject(ctx, v, worker, offset)
}

// openLogObject reads the uploaded log of a worker from offset, or gives
// an empty log when there is none.
func (s *Service) openLogObject(ctx context.Context, v *atelier.JobVersion, worker int, offset int64) (io.ReadCloser, error) {
	jobName := v.JobID
	if j, err := s.st.GetJob(ctx, v.TenantID, v.JobID); err == nil {
		jobName = j.Name
	}
	op, ok := logObject(v, jobName, worker)
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
