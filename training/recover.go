package training

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
)

// Reasons of versions that a restarted server cannot continue.
const (
	ReasonRestartedStaging = "server restarted while staging"
	ReasonLost             = "lost after a server restart"
)

// recoverAll re-adopts vs, the versions that a previous server left active
// (listed by Start):
//
//   - a version with an executor handle is recovered and followed again,
//     to its end (outputs and logs uploaded as usual); when the executor
//     has lost it (ErrLost, ErrNotFound) it is FAILED "lost after a
//     server restart";
//   - a version without a handle was being staged: it is FAILED "server
//     restarted while staging" (staging again could run a job twice if
//     the old server had submitted it just before dying). Submit a new
//     version to run it again.
//
// No version is left RUNNING forever.
func (s *Service) recoverAll(ctx context.Context, vs []*atelier.JobVersion) {
	for _, v := range vs {
		if ctx.Err() != nil {
			return
		}
		if s.getRun(v.JobID, v.VersionID) != nil {
			continue // submitted by this server
		}
		s.recoverVersion(ctx, v)
	}
}

func (s *Service) recoverVersion(ctx context.Context, v *atelier.JobVersion) {
	if v.Handle == "" {
		s.finishEarly(ctx, v, atelier.JobFailed, ReasonRestartedStaging)
		return
	}
	h := new(executor.Handle)
	if err := json.Unmarshal([]byte(v.Handle), h); err != nil {
		s.log.ErrorContext(ctx, "training: bad stored handle", "job", v.JobID, "version", v.VersionID, "err", err)
		s.finishEarly(ctx, v, atelier.JobFailed, ReasonLost)
		return
	}
	if err := s.exec.Recover(ctx, h); err != nil {
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, executor.ErrLost) && !errors.Is(err, executor.ErrNotFound) {
			s.log.ErrorContext(ctx, "training: recover", "job", v.JobID, "version", v.VersionID, "err", err)
		}
		s.finishEarly(ctx, v, atelier.JobFailed, ReasonLost)
		return
	}
	r := newRun()
	r.handle = h
	r.markSubmitted()
	s.start(v, r, func(ctx context.Context) {
		jobName := v.JobID
		if j, err := s.st.GetJob(ctx, v.TenantID, v.JobID); err == nil {
			jobName = j.Name
		}
		s.follow(ctx, r, v, h, jobName, v.State == atelier.JobRunning)
	})
}
