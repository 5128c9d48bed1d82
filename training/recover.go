package training

import (
	"context"

	"github.com/atelier-dev/atelier"
)

// Reasons of versions that a restarted server cannot continue.
const (
	ReasonRestartedStaging = "server restarted while staging"
	ReasonLost             = "lost after a server restart"
)

// recoverAll re-adopts vs, the versions that a previous server left active
// (listed by Start):
//
//   - a version with an executor handle is resumed by the runtime and
//     followed again, to its end (outputs and logs uploaded as usual);
//     when the executor has lost it, it is FAILED "lost after a server
//     restart";
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
		if s.rt.Active(workloadID(v.JobID, v.VersionID)) {
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
	h := storedHandle(v)
	if h == nil {
		s.log.ErrorContext(ctx, "training: bad stored handle", "job", v.JobID, "version", v.VersionID)
		s.finishEarly(ctx, v, atelier.JobFailed, ReasonLost)
		return
	}
	w := s.workload(v, "", s.jobName(ctx, v))
	if err := s.rt.Resume(w, h, v.State == atelier.JobRunning, s.hooks(v)); err != nil {
		s.log.WarnContext(ctx, "training: resume", "job", v.JobID, "version", v.VersionID, "err", err)
		s.finishEarly(ctx, v, atelier.JobFailed, ReasonLost)
	}
}
