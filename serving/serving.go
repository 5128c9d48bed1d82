// Package serving is the model registry and the inference services
// (CONTRACT §7): models are packages in the object store, checked in the
// background (a queue item per registration) and pinned by a digest;
// services run each config's instances as long-running workloads on the
// workload runtime (in the executor's sandbox), keep them healthy
// (readiness probes, restarts with backoff, rollouts that never leave a
// config without a ready instance) and pick the instance of each request
// by the configs' weights. The gateway that forwards requests is
// httpapi's; it asks Route where to go and reports back through Route.Done.
//
// The package knows no HTTP or SQL: it gets a store.Store, an
// atelier.ObjectService, the workload runtime and a queue client.
package serving

import (
	"cmp"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/serving/pyruntime"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/workload"
)

// Defaults of Options.
const (
	DefaultProbeInterval     = 500 * time.Millisecond
	DefaultReadyTimeout      = 5 * time.Minute
	DefaultMaxBackoff        = time.Minute
	DefaultDeployFailures    = 3
	DefaultDrainTimeout      = 30 * time.Second
	DefaultPython            = "python3"
	DefaultMaxPackageObjects = 100000
	// DefaultConfigBytes caps a package's config.json.
	DefaultConfigBytes = 1 << 20
)

// Options configure a Service. Zero fields take the defaults.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// WorkRoot is where instances' working directories live:
	// <WorkRoot>/<service_id>/<instance_id>/. Required.
	WorkRoot string
	// Flavors are the specifications configs may name (the training
	// flavors: a flavor names its executor, cores, memory and GPUs).
	Flavors []*atelier.Flavor
	// Jobs resolves source_job_id registrations; nil refuses them.
	Jobs atelier.TrainingService
	// WriteRuntime writes the Python serving runtime into a directory
	// (default pyruntime.WriteTo: the one Atelier ships).
	WriteRuntime func(dir string) error
	// Python is the interpreter of the shipped runtime (default python3).
	Python string
	// ProbeInterval is how often instances' readiness is read and the
	// services reconciled (default 500ms).
	ProbeInterval time.Duration
	// ReadyTimeout bounds how long a new instance may take to get ready
	// before it counts as failed (default 5m).
	ReadyTimeout time.Duration
	// MaxBackoff caps the wait before a failed instance is restarted
	// (1s, 2s, 4s, … up to it; default 1m).
	MaxBackoff time.Duration
	// DeployFailures is how many failed starts of one config's instances
	// fail a service that never got running (default 3).
	DeployFailures int
	// DrainTimeout bounds how long an instance taken out of rotation
	// waits for its requests in flight before it is stopped (default 30s).
	DrainTimeout time.Duration
	// Queue runs the package checks; nil: the Service runs a client of
	// its own, started by Start and stopped by Stop.
	Queue *queue.Client
}

// Service is the registry and the services; it implements
// atelier.ModelService and atelier.InferenceServices. It is safe for
// concurrent use.
type Service struct {
	st      store.Store
	objects atelier.ObjectService
	rt      *workload.Runtime
	clock   clock.Clock
	log     *slog.Logger
	opts    Options

	queue    *queue.Client
	ownQueue bool

	// ctx is the parent of all background work; Stop cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	ctrls    map[string]*controller // by service id
	started  bool
	stopped  bool
	afterRec func() // tests: after each reconcile round of any service
}

var (
	_ atelier.ModelService      = (*Service)(nil)
	_ atelier.InferenceServices = (*Service)(nil)
)

// KindCheck is the queue kind of package checks.
const KindCheck = "model.check"

// New returns a Service and registers its queue worker. It starts nothing:
// call Start.
func New(st store.Store, objects atelier.ObjectService, rt *workload.Runtime, opts Options) *Service {
	opts.Clock = cmp.Or[clock.Clock](opts.Clock, clock.Real{})
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.ProbeInterval = cmp.Or(opts.ProbeInterval, DefaultProbeInterval)
	opts.ReadyTimeout = cmp.Or(opts.ReadyTimeout, DefaultReadyTimeout)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, DefaultMaxBackoff)
	opts.DeployFailures = cmp.Or(opts.DeployFailures, DefaultDeployFailures)
	opts.DrainTimeout = cmp.Or(opts.DrainTimeout, DefaultDrainTimeout)
	opts.Python = cmp.Or(opts.Python, DefaultPython)
	if opts.WriteRuntime == nil {
		opts.WriteRuntime = pyruntime.WriteTo
	}
	if opts.WorkRoot == "" {
		opts.WorkRoot = filepath.Join(".", "services")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		st: st, objects: objects, rt: rt,
		clock: opts.Clock, log: opts.Logger, opts: opts,
		queue: opts.Queue,
		ctx:   ctx, cancel: cancel,
		ctrls: map[string]*controller{},
	}
	if s.queue == nil {
		s.queue, _ = queue.New(queue.Options{Store: st, Clock: opts.Clock, Logger: opts.Logger})
		s.ownQueue = true
	}
	s.queue.Register(KindCheck, queue.WorkerFunc(s.workCheck))
	return s
}

// Start re-adopts the services a previous server left active (their
// instances are re-attached, or restarted where the executor lost them)
// and starts the Service's own queue client. Calling it twice does
// nothing.
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
	svcs, err := s.st.ActiveServices(s.ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "serving: list active services", "err", err)
		return
	}
	for _, svc := range svcs {
		s.adopt(svc)
	}
}

// Stop ends the background work and waits for it. Instances keep running:
// a new Service over the same store and executors re-adopts them. It is
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

// tenantCtx returns a background context acting for tenant as user (the
// principal of object store calls).
func tenantCtx(ctx context.Context, tenant, user string) context.Context {
	return atelier.NewContextWithPrincipal(ctx, &atelier.Principal{TenantID: tenant, UserID: cmp.Or(user, "serving")})
}

func (s *Service) flavor(id string) *atelier.Flavor {
	for _, f := range s.opts.Flavors {
		if f.ID == id {
			return f
		}
	}
	return nil
}
