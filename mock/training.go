package mock

import (
	"context"
	"io"

	"github.com/atelier-dev/atelier"
)

// Interface guards.
var (
	_ atelier.TrainingService = (*TrainingService)(nil)
)

// TrainingService mocks atelier.TrainingService.
type TrainingService struct {
	SubmitJobFn        func(ctx context.Context, name, desc string, spec atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error)
	CreateJobVersionFn func(ctx context.Context, jobID string, pre int64, desc string, spec atelier.JobSpec) (*atelier.JobVersion, error)
	ListJobsFn         func(ctx context.Context, f atelier.JobFilter) (*atelier.JobPage, error)
	GetJobFn           func(ctx context.Context, jobID string) (*atelier.TrainingJob, error)
	ListVersionsFn     func(ctx context.Context, jobID string) ([]*atelier.JobVersion, error)
	GetVersionFn       func(ctx context.Context, jobID string, version int64) (*atelier.JobVersion, error)
	ListEventsFn       func(ctx context.Context, jobID string, version int64) ([]*atelier.JobEvent, error)
	StopVersionFn      func(ctx context.Context, jobID string, version int64) (*atelier.JobVersion, error)
	DeleteJobFn        func(ctx context.Context, jobID string) error
	OpenLogFn          func(ctx context.Context, jobID string, version int64, task string, offset int64, follow bool) (io.ReadCloser, error)
	ListFlavorsFn      func(ctx context.Context) ([]*atelier.Flavor, error)
	ListFrameworksFn   func(ctx context.Context) ([]*atelier.Framework, error)
}

// SubmitJob calls SubmitJobFn.
func (s *TrainingService) SubmitJob(ctx context.Context, name, desc string, spec atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error) {
	if s.SubmitJobFn == nil {
		panic("mock: TrainingService.SubmitJob called but SubmitJobFn is not set")
	}
	return s.SubmitJobFn(ctx, name, desc, spec)
}

// CreateJobVersion calls CreateJobVersionFn.
func (s *TrainingService) CreateJobVersion(ctx context.Context, jobID string, pre int64, desc string, spec atelier.JobSpec) (*atelier.JobVersion, error) {
	if s.CreateJobVersionFn == nil {
		panic("mock: TrainingService.CreateJobVersion called but CreateJobVersionFn is not set")
	}
	return s.CreateJobVersionFn(ctx, jobID, pre, desc, spec)
}

// ListJobs calls ListJobsFn.
func (s *TrainingService) ListJobs(ctx context.Context, f atelier.JobFilter) (*atelier.JobPage, error) {
	if s.ListJobsFn == nil {
		panic("mock: TrainingService.ListJobs called but ListJobsFn is not set")
	}
	return s.ListJobsFn(ctx, f)
}

// GetJob calls GetJobFn.
func (s *TrainingService) GetJob(ctx context.Context, jobID string) (*atelier.TrainingJob, error) {
	if s.GetJobFn == nil {
		panic("mock: TrainingService.GetJob called but GetJobFn is not set")
	}
	return s.GetJobFn(ctx, jobID)
}

// ListVersions calls ListVersionsFn.
func (s *TrainingService) ListVersions(ctx context.Context, jobID string) ([]*atelier.JobVersion, error) {
	if s.ListVersionsFn == nil {
		panic("mock: TrainingService.ListVersions called but ListVersionsFn is not set")
	}
	return s.ListVersionsFn(ctx, jobID)
}

// GetVersion calls GetVersionFn.
func (s *TrainingService) GetVersion(ctx context.Context, jobID string, version int64) (*atelier.JobVersion, error) {
	if s.GetVersionFn == nil {
		panic("mock: TrainingService.GetVersion called but GetVersionFn is not set")
	}
	return s.GetVersionFn(ctx, jobID, version)
}

// ListEvents calls ListEventsFn.
func (s *TrainingService) ListEvents(ctx context.Context, jobID string, version int64) ([]*atelier.JobEvent, error) {
	if s.ListEventsFn == nil {
		panic("mock: TrainingService.ListEvents called but ListEventsFn is not set")
	}
	return s.ListEventsFn(ctx, jobID, version)
}

// StopVersion calls StopVersionFn.
func (s *TrainingService) StopVersion(ctx context.Context, jobID string, version int64) (*atelier.JobVersion, error) {
	if s.StopVersionFn == nil {
		panic("mock: TrainingService.StopVersion called but StopVersionFn is not set")
	}
	return s.StopVersionFn(ctx, jobID, version)
}

// DeleteJob calls DeleteJobFn.
func (s *TrainingService) DeleteJob(ctx context.Context, jobID string) error {
	if s.DeleteJobFn == nil {
		panic("mock: TrainingService.DeleteJob called but DeleteJobFn is not set")
	}
	return s.DeleteJobFn(ctx, jobID)
}

// OpenLog calls OpenLogFn.
func (s *TrainingService) OpenLog(ctx context.Context, jobID string, version int64, task string, offset int64, follow bool) (io.ReadCloser, error) {
	if s.OpenLogFn == nil {
		panic("mock: TrainingService.OpenLog called but OpenLogFn is not set")
	}
	return s.OpenLogFn(ctx, jobID, version, task, offset, follow)
}

// ListFlavors calls ListFlavorsFn.
func (s *TrainingService) ListFlavors(ctx context.Context) ([]*atelier.Flavor, error) {
	if s.ListFlavorsFn == nil {
		panic("mock: TrainingService.ListFlavors called but ListFlavorsFn is not set")
	}
	return s.ListFlavorsFn(ctx)
}

// ListFrameworks calls ListFrameworksFn.
func (s *TrainingService) ListFrameworks(ctx context.Context) ([]*atelier.Framework, error) {
	if s.ListFrameworksFn == nil {
		panic("mock: TrainingService.ListFrameworks called but ListFrameworksFn is not set")
	}
	return s.ListFrameworksFn(ctx)
}
