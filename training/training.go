// Package training runs training jobs: it validates a job's specification,
// keeps jobs and their versions in the store, stages each version's code
// and inputs from the object store into a working directory, hands the
// gang of workers to an executor, follows it to its end, uploads outputs
// and logs, and re-adopts running versions after a server restart.
//
// The package knows no HTTP, SQL or process handling: it gets a
// store.Store, an atelier.ObjectService and the workload runtime, which
// stages, runs (in an executor's sandbox), follows and collects each
// version's task.
package training

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/workload"
)

// Defaults of Options.
const (
	DefaultMaxRun = 24 * time.Hour
	// DefaultMaxUnzipBytes caps what one .zip may unpack to (code or input).
	DefaultMaxUnzipBytes = 64 << 30
	// DefaultInterpreter runs a boot file when neither the spec nor the
	// framework names one.
	DefaultInterpreter = "python3"
)

// Options configure a Service. Zero fields take the defaults.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// WorkRoot is where versions' working directories live:
	// <WorkRoot>/<job_id>/v<n>/. Required.
	WorkRoot string
	// Flavors and Frameworks are what jobs may ask for (get_spec_list,
	// get_framework_list).
	Flavors    []*atelier.Flavor
	Frameworks []*atelier.Framework
	// DefaultMaxRun bounds a version whose spec gives no max_run_seconds
	// (default 24h).
	DefaultMaxRun time.Duration
	// Datasets resolves dataset inputs (dataset_id + dataset_version_id);
	// nil refuses them.
	Datasets atelier.DatasetService
	// MaxUnzipBytes caps the unpacked size of one .zip (default 64 GiB).
	MaxUnzipBytes int64
	// OnEvent, when set, is called after every persisted state transition,
	// in order per version. It must not block.
	OnEvent func(atelier.JobEvent)
}

// Service runs training jobs; it implements atelier.TrainingService. It is
// safe for concurrent use.
type Service struct {
	st      store.Store
	objects atelier.ObjectService
	rt      *workload.Runtime
	clock   clock.Clock
	log     *slog.Logger
	opts    Options

	// ctx is the parent of all background work; Stop cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	stopped bool
}

var _ atelier.TrainingService = (*Service)(nil)

// New returns a Service. It starts nothing: call Start to re-adopt the
// versions a previous server left running.
func New(st store.Store, objects atelier.ObjectService, rt *workload.Runtime, opts Options) *Service {
	opts.Clock = cmp.Or[clock.Clock](opts.Clock, clock.Real{})
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.DefaultMaxRun = cmp.Or(opts.DefaultMaxRun, DefaultMaxRun)
	opts.MaxUnzipBytes = cmp.Or(opts.MaxUnzipBytes, DefaultMaxUnzipBytes)
	if opts.WorkRoot == "" {
		opts.WorkRoot = filepath.Join(".", "training")
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		st: st, objects: objects, rt: rt,
		clock: opts.Clock, log: opts.Logger, opts: opts,
		ctx: ctx, cancel: cancel,
	}
}

// Start re-adopts the versions that a previous server left active (see
// recover.go) in the background. Background work ends when ctx ends or
// Stop is called. Calling it twice does nothing.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	stop := context.AfterFunc(ctx, s.cancel)
	// The versions to re-adopt are listed now, before Start returns, so
	// that a version submitted afterwards (still CREATING, no handle yet)
	// can never be taken for one a previous server left behind.
	vs, err := s.st.ActiveVersions(s.ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "training: list active versions", "err", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		s.recoverAll(s.ctx, vs)
	}()
}

// Stop ends the service's background work and waits for it; new jobs are
// refused from then on. It does not stop running jobs: the runtime's Stop
// ends their following, and a new Service over the same store and
// executors re-adopts them. It is safe to call more than once and without
// Start.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// now is the time stored in records: UTC, microsecond precision.
func (s *Service) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// ListFlavors returns the configured flavors.
func (s *Service) ListFlavors(ctx context.Context) ([]*atelier.Flavor, error) {
	if _, err := atelier.TenantFromContext(ctx); err != nil {
		return nil, err
	}
	out := make([]*atelier.Flavor, 0, len(s.opts.Flavors))
	for _, f := range s.opts.Flavors {
		c := *f
		out = append(out, &c)
	}
	return out, nil
}

// ListFrameworks returns the configured frameworks.
func (s *Service) ListFrameworks(ctx context.Context) ([]*atelier.Framework, error) {
	if _, err := atelier.TenantFromContext(ctx); err != nil {
		return nil, err
	}
	out := make([]*atelier.Framework, 0, len(s.opts.Frameworks))
	for _, f := range s.opts.Frameworks {
		c := *f
		out = append(out, &c)
	}
	return out, nil
}

// GetJob returns a job of the caller's tenant.
func (s *Service) GetJob(ctx context.Context, jobID string) (*atelier.TrainingJob, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.job(ctx, tenant, jobID)
}

func (s *Service) job(ctx context.Context, tenant, jobID string) (*atelier.TrainingJob, error) {
	j, err := s.st.GetJob(ctx, tenant, jobID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoJob(jobID)
		}
		return nil, fmt.Errorf("training: get job: %w", err)
	}
	return j, nil
}

func errNoJob(jobID string) *atelier.Error {
	return atelier.CodeJobNotFound.Errorf("The training job %q does not exist.", jobID).WithField("job_id")
}

func errNoVersion(jobID string, n int64) *atelier.Error {
	return atelier.CodeJobNotFound.Errorf("The training job %q has no version %d.", jobID, n).WithField("version_id")
}

// MaxListJobs is the largest page ListJobs returns.
const MaxListJobs = 1000

// ListJobs returns a page of the caller's jobs, newest first.
func (s *Service) ListJobs(ctx context.Context, f atelier.JobFilter) (*atelier.JobPage, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > MaxListJobs {
		return nil, atelier.CodeInvalidParam.Errorf("limit must be between 1 and %d.", MaxListJobs).WithField("limit")
	}
	if f.State != "" && !validState(f.State) {
		return nil, atelier.CodeInvalidParam.Errorf("status %q is not a job state.", f.State).WithField("status")
	}
	limit := cmp.Or(f.Limit, 100)
	// Ask for one more to know whether there is a next page; at the
	// store's maximum, a full page gets a cursor (the next may be empty).
	lf := store.JobListFilter{Name: f.Name, State: f.State, Limit: min(limit+1, MaxListJobs)}
	if f.Cursor != "" {
		if lf.BeforeTime, lf.BeforeID, err = decodeCursor(f.Cursor); err != nil {
			return nil, atelier.CodeInvalidParam.Errorf("The cursor is invalid.").WithField("cursor")
		}
	}
	jobs, err := s.st.ListJobs(ctx, tenant, lf)
	if err != nil {
		return nil, fmt.Errorf("training: list jobs: %w", err)
	}
	page := &atelier.JobPage{Jobs: jobs}
	if len(jobs) > limit || len(jobs) == MaxListJobs {
		page.Jobs = jobs[:limit]
		last := page.Jobs[limit-1]
		page.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	if page.Jobs == nil {
		page.Jobs = []*atelier.TrainingJob{}
	}
	return page, nil
}

func validState(s string) bool {
	switch s {
	case atelier.JobCreating, atelier.JobQueued, atelier.JobRunning,
		atelier.JobCompleted, atelier.JobFailed, atelier.JobStopped:
		return true
	}
	return false
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	ts, id, ok := strings.Cut(string(b), " ")
	if !ok || id == "" {
		return time.Time{}, "", errors.New("no id")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, id, err
}

// ListVersions returns a job's versions, newest first.
func (s *Service) ListVersions(ctx context.Context, jobID string) ([]*atelier.JobVersion, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.job(ctx, tenant, jobID); err != nil {
		return nil, err
	}
	vs, err := s.st.ListVersions(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("training: list versions: %w", err)
	}
	if vs == nil {
		vs = []*atelier.JobVersion{}
	}
	return vs, nil
}

// GetVersion returns version n of a job (0: the latest).
func (s *Service) GetVersion(ctx context.Context, jobID string, n int64) (*atelier.JobVersion, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.job(ctx, tenant, jobID); err != nil {
		return nil, err
	}
	return s.version(ctx, jobID, n)
}

func (s *Service) version(ctx context.Context, jobID string, n int64) (*atelier.JobVersion, error) {
	if n < 0 {
		return nil, atelier.CodeInvalidParam.Errorf("version_id must not be negative.").WithField("version_id")
	}
	v, err := s.st.GetVersion(ctx, jobID, n)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoVersion(jobID, n)
		}
		return nil, fmt.Errorf("training: get version: %w", err)
	}
	return v, nil
}

// ListEvents returns the state transitions of version n (0: the latest).
func (s *Service) ListEvents(ctx context.Context, jobID string, n int64) ([]*atelier.JobEvent, error) {
	v, err := s.GetVersion(ctx, jobID, n)
	if err != nil {
		return nil, err
	}
	evs, err := s.st.ListEvents(ctx, jobID, v.VersionID)
	if err != nil {
		return nil, fmt.Errorf("training: list events: %w", err)
	}
	if evs == nil {
		evs = []*atelier.JobEvent{}
	}
	return evs, nil
}

// transition updates version n of a job with fn in one store transaction,
// with the transition's events when fn changed the state (updateVersion),
// and then tells OnEvent.
func (s *Service) transition(ctx context.Context, jobID string, n int64, fn func(v *atelier.JobVersion) error) (*atelier.JobVersion, error) {
	v, changed, err := s.updateVersion(ctx, jobID, n, s.now(), fn)
	if err != nil {
		return nil, err
	}
	if changed && s.opts.OnEvent != nil {
		if evs, err := s.st.ListEvents(ctx, jobID, n); err == nil && len(evs) > 0 {
			s.opts.OnEvent(*evs[len(evs)-1])
		}
	}
	return v, nil
}

// errFinal aborts an update of a version that has already ended.
var errFinal = errors.New("training: version already ended")
