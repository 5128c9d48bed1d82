// Package dataset manages a tenant's datasets: it validates a dataset's
// specification (types, labels, schema, OBS paths), keeps datasets, samples,
// versions and tasks in the store, imports samples from the object store in
// resumable background tasks (plain directories, "ModelArts image
// classification 1.0", "ModelArts PASCAL VOC 1.0", manifests, CSV tables and
// text files), publishes versions as ModelArts manifests and exports them
// on the durable queue (package queue), so that both resume after a restart.
//
// The package knows no HTTP or SQL: it gets a store.Store and an
// atelier.ObjectService. Background work acts for the dataset's tenant
// through a context carrying a principal of that tenant.
package dataset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options.
const (
	// DefaultBatchSize is how many samples an import writes per store
	// transaction, and how many a version reads per page.
	DefaultBatchSize = 1000
	// DefaultMaxErrors is how many bad inputs an import task keeps.
	DefaultMaxErrors = 20
)

// Options configure a Service. Zero fields take the defaults.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// BatchSize is how many samples go to the store in one transaction
	// (default 1000).
	BatchSize int
	// MaxErrors is how many error messages an import task keeps (default
	// 20); all rejected samples are counted.
	MaxErrors int

	// afterBatch, when set (by tests), runs after each batch an import
	// wrote, with the task as stored; an error ends the import there as a
	// crash would, leaving the task RUNNING for the next Start.
	afterBatch func(t *atelier.ImportTask) error
	// Queue runs version publishes and exports; the Service registers its
	// workers on it in New, so pass it before the client starts, and the
	// client's owner starts and stops it. Nil: the Service runs a client of
	// its own over the store, started by Start and stopped by Stop.
	Queue *queue.Client

	// onTaskEnd, when set (by tests), runs when a background task (import,
	// version, export) has ended, whatever its outcome.
	onTaskEnd func(id string)
}

// Service manages datasets; it implements atelier.DatasetService. It is
// safe for concurrent use.
type Service struct {
	st      store.Store
	objects atelier.ObjectService
	clock   clock.Clock
	log     *slog.Logger
	opts    Options

	// queue runs publishes and exports; ownQueue says that the Service
	// made it and so starts and stops it.
	queue    *queue.Client
	ownQueue bool

	// ctx is the parent of all background work; Stop cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// imports are the running imports by dataset id, with the cancel
	// function of each.
	imports map[string]*running
	started bool
	stopped bool
}

// running is an import task in progress in this process.
type running struct {
	taskID string
	cancel context.CancelFunc
	done   chan struct{}
}

var _ atelier.DatasetService = (*Service)(nil)

// New returns a Service and registers its workers on opts.Queue. It starts
// nothing: call Start to resume the imports that a previous server left
// unfinished.
func New(st store.Store, objects atelier.ObjectService, opts Options) *Service {
	opts.Clock = cmp.Or[clock.Clock](opts.Clock, clock.Real{})
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		st: st, objects: objects,
		clock: opts.Clock, log: opts.Logger, opts: opts,
		queue: opts.Queue,
		ctx:   ctx, cancel: cancel,
		imports: map[string]*running{},
	}
	if s.queue == nil {
		// New fails only without a store.
		s.queue, _ = queue.New(queue.Options{Store: st, Clock: opts.Clock, Logger: opts.Logger})
		s.ownQueue = true
	}
	s.queue.Register(KindPublish, queue.WorkerFunc(s.workPublish))
	s.queue.Register(KindExport, queue.WorkerFunc(s.workExport))
	return s
}

// Start resumes, in the background, the import tasks that a previous server
// left QUEUED or RUNNING, each from its stored cursor, and starts the
// Service's own queue client (publishes and exports resume through the
// queue). Background work ends when ctx ends or Stop is called. Calling it
// twice does nothing.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	if s.ownQueue {
		s.queue.Start(ctx)
	}
	stop := context.AfterFunc(ctx, s.cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		stop()
	}()
	tasks, err := s.st.ActiveImportTasks(s.ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "dataset: list active import tasks", "err", err)
		return
	}
	for _, t := range tasks {
		cur, err := decodeCursor(t.Cursor)
		if err != nil || cur.Tenant == "" {
			s.log.ErrorContext(ctx, "dataset: bad import cursor", "dataset", t.DatasetID, "task", t.ID, "err", err)
			continue
		}
		s.launchImport(cur.Tenant, t)
	}
}

// Stop ends the service's background work and waits for it. Imports stop
// between two batches and stay RUNNING: a new Service over the same store
// resumes them; so are publishes and exports, through the queue (the
// Service's own client stops here; a shared one, with its owner). It is
// safe to call more than once and without Start.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.ownQueue {
		s.queue.Stop()
	}
	s.cancel()
	s.wg.Wait()
}

// now is the time stored in records: UTC, microsecond precision.
func (s *Service) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// tenantCtx returns a background context acting for tenant.
func tenantCtx(ctx context.Context, tenant string) context.Context {
	return atelier.NewContextWithPrincipal(ctx, &atelier.Principal{TenantID: tenant, UserID: "dataset-service"})
}

// GetDataset returns a dataset of the caller's tenant.
func (s *Service) GetDataset(ctx context.Context, id string) (*atelier.Dataset, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.dataset(ctx, tenant, id)
}

func (s *Service) dataset(ctx context.Context, tenant, id string) (*atelier.Dataset, error) {
	d, err := s.st.GetDataset(ctx, tenant, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoDataset(id)
		}
		return nil, fmt.Errorf("dataset: get dataset: %w", err)
	}
	return d, nil
}

func errNoDataset(id string) *atelier.Error {
	return atelier.CodeDatasetNotFound.Errorf("The dataset %q does not exist.", id).WithField("dataset_id")
}

// ListDatasets returns the caller's datasets; name "" lists all, else only
// the one of that name.
func (s *Service) ListDatasets(ctx context.Context, name string) ([]*atelier.Dataset, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := s.st.ListDatasets(ctx, tenant, name)
	if err != nil {
		return nil, fmt.Errorf("dataset: list datasets: %w", err)
	}
	if ds == nil {
		ds = []*atelier.Dataset{}
	}
	return ds, nil
}

// UpdateDataset changes a dataset's name, description or labels (checked as
// at creation).
func (s *Service) UpdateDataset(ctx context.Context, id string, u atelier.DatasetUpdate) (*atelier.Dataset, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return nil, err
		}
	}
	if u.Description != nil && len(*u.Description) > maxDescription {
		return nil, atelier.CodeInvalidParam.Errorf("description is longer than %d bytes.", maxDescription).WithField("description")
	}
	d, err := s.st.UpdateDataset(ctx, tenant, id, func(d *atelier.Dataset) error {
		if u.Name != nil {
			d.Name = *u.Name
		}
		if u.Description != nil {
			d.Description = *u.Description
		}
		if u.Labels != nil {
			labels := append([]atelier.Label(nil), (*u.Labels)...)
			if err := checkLabels(d.DatasetType, labels); err != nil {
				return err
			}
			d.Labels = labels
		}
		d.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, errNoDataset(id)
		case errors.Is(err, store.ErrConflict):
			return nil, atelier.CodeDatasetExists.Errorf("A dataset named %q already exists.", *u.Name).WithField("dataset_name")
		}
		var ae *atelier.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, fmt.Errorf("dataset: update dataset: %w", err)
	}
	return d, nil
}

// DeleteDataset stops the dataset's import, deletes the dataset with its
// samples, versions and tasks and, with deleteSource, the objects under its
// DataPath first (page by page). Published manifests under the work path
// stay.
func (s *Service) DeleteDataset(ctx context.Context, id string, deleteSource bool) error {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	d, err := s.dataset(ctx, tenant, id)
	if err != nil {
		return err
	}
	s.stopImport(id)
	if deleteSource {
		if err := s.deleteSource(ctx, d); err != nil {
			return err
		}
	}
	if err := s.st.DeleteDataset(ctx, tenant, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoDataset(id)
		}
		return fmt.Errorf("dataset: delete dataset: %w", err)
	}
	return nil
}

// deleteSource deletes every object under d.DataPath, streaming the listing
// one page at a time.
func (s *Service) deleteSource(ctx context.Context, d *atelier.Dataset) error {
	p, err := parseObsPath(d.DataPath)
	if err != nil {
		return nil // nothing we could have imported
	}
	after := ""
	for {
		page, err := s.objects.ListObjects(ctx, p.Bucket, atelier.ListQuery{Prefix: p.Key, StartAfter: after})
		if err != nil {
			if atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID {
				return nil
			}
			return fmt.Errorf("dataset: list source: %w", err)
		}
		for _, o := range page.Objects {
			if err := s.objects.DeleteObject(ctx, p.Bucket, o.Key); err != nil && atelier.ErrorCode(err) != atelier.CodeObjectNotFound.ID {
				return fmt.Errorf("dataset: delete source object: %w", err)
			}
			after = o.Key
		}
		if !page.IsTruncated || len(page.Objects) == 0 {
			return nil
		}
	}
}

// taskEnded reports the end of a background task to the test hook.
func (s *Service) taskEnded(id string) {
	if s.opts.onTaskEnd != nil {
		s.opts.onTaskEnd(id)
	}
}
