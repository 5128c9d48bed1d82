package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/localexec"
	"github.com/atelier-dev/atelier/gc"
	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/diskfree"
	"github.com/atelier-dev/atelier/internal/secretbox"
	"github.com/atelier-dev/atelier/internal/startstop"
	"github.com/atelier-dev/atelier/leader"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/queue/queuemetrics"
	"github.com/atelier-dev/atelier/serving"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/pgstore"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/training"
	"github.com/atelier-dev/atelier/webhook"
	"github.com/atelier-dev/atelier/workload"
)

// Server timing.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	// shutdownTimeout bounds how long SIGTERM waits for in-flight requests.
	shutdownTimeout = 20 * time.Second
	// probeTimeout bounds the object store's probe at start.
	probeTimeout = 30 * time.Second
)

// storeOpeners opens a metadata store by the scheme of ATELIER_DATABASE_URL.
var storeOpeners = map[string]func(ctx context.Context, rawURL string) (store.Store, error){
	"sqlite": func(ctx context.Context, rawURL string) (store.Store, error) {
		return sqlitestore.Open(ctx, sqlitePath(rawURL))
	},
	"postgres":   pgstore.Open,
	"postgresql": pgstore.Open,
}

// objectStores opens an object backend by the scheme of
// ATELIER_OBJECT_STORE.
var objectStores = map[string]func(ctx context.Context, rawURL string) (obs.Backend, error){
	"file": blobstore.OpenBackend,
	"s3":   blobstore.OpenBackend,
	"mem":  blobstore.OpenBackend,
}

// schemeList names the keys of a backend map, sorted.
func schemeList[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// newServerCommand returns `atelier server`. Environment values become the
// flags' defaults here, at run time, never in init.
func newServerCommand() *cobra.Command {
	m := NewMain()
	m.Config = configFromEnv(os.Getenv)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Atelier platform",
		Long: `Run the Atelier platform: the HTTP API, the metadata store and the object store.

Settings come from flags, then ATELIER_* environment variables, then defaults.
SIGINT or SIGTERM stops accepting, finishes in-flight requests (up to 20s) and exits 0.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError{fmt.Errorf("server takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m.Stdout, m.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := m.Run(ctx); err != nil {
				return errors.Join(err, m.Close())
			}
			err := m.Wait()
			return errors.Join(err, m.Close())
		},
	}
	m.Config.bindFlags(cmd.Flags())
	return cmd
}

// Main is the server program: tests drive it as `atelier server` does. Set
// Config (and optionally the other fields), call Run, then Close. It is not
// safe for concurrent use, except that Close may be called while Wait waits.
type Main struct {
	Config ServerConfig
	Stdout io.Writer   // the listening line and a generated password; default os.Stdout
	Stderr io.Writer   // the log; default os.Stderr
	Clock  clock.Clock // default clock.Real{}

	log       *slog.Logger
	lock      *os.File
	store     store.Store
	backend   obs.Backend
	objects   *obs.Service
	presigner *obs.Presigner
	identity  *identity.Service
	execs     *executor.Set
	runtime   *workload.Runtime
	training  *training.Service
	serving   *serving.Service
	flavors   []*atelier.Flavor
	datasets  *dataset.Service
	callbacks *webhook.Service
	queue     *queue.Client   // durable background work (dataset publishes and exports)
	elector   *leader.Elector // runs the singleton loops (gc) on one server
	ln        net.Listener
	srv       *http.Server
	addr      string

	cancel    context.CancelFunc
	group     *errgroup.Group
	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main with default settings.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Clock: clock.Real{}}
}

// ParseFlags sets m.Config from getenv and the server flags in args; flags
// win. Bad settings are reported by Run's validation, all at once.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	m.Config = configFromEnv(getenv)
	fs := newFlagSet()
	m.Config.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Errorf("server takes no arguments, got %q", fs.Args())}
	}
	return nil
}

// Addr returns the address the server listens on, once Run has returned.
func (m *Main) Addr() string { return m.addr }

// Run validates the settings, opens the stores, bootstraps the admin, starts
// the background services and the HTTP server, and returns once it
// listens. Cancelling ctx (SIGTERM) starts a graceful shutdown; Wait waits
// for it. Call Close afterwards in every case, also when Run fails.
func (m *Main) Run(ctx context.Context) (err error) {
	publicDefault := m.Config.PublicURL == ""
	cfg := m.Config.withDefaults()
	if err := cfg.validate(); err != nil {
		return usageError{fmt.Errorf("invalid settings:\n%w", err)}
	}
	m.Config = cfg
	m.Stdout = cmp.Or[io.Writer](m.Stdout, os.Stdout)
	m.Stderr = cmp.Or[io.Writer](m.Stderr, os.Stderr)
	if m.Clock == nil {
		m.Clock = clock.Real{}
	}
	m.log = newServerLogger(m.Stderr, cfg)
	ctx, m.cancel = context.WithCancel(ctx)

	// Bound first: a port in use fails the start before anything is
	// created or changed (the data directory, the database, the admin).
	if m.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("--addr/ATELIER_ADDR: cannot listen on %s: %w", cfg.Addr, err)
	}
	m.addr = m.ln.Addr().String()

	scheme := urlScheme(cfg.DatabaseURL)
	single := scheme == "sqlite" // one process owns the data: it may sweep everything
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir/ATELIER_DATA_DIR: create data directory: %w", err)
	}
	if single {
		// Taken before the migrations, so that two servers never migrate
		// one database at once.
		if m.lock, err = lockDataDir(cfg.DataDir); err != nil {
			return err
		}
	}
	if m.store, err = storeOpeners[scheme](ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("--database-url/ATELIER_DATABASE_URL: cannot open the %s metadata store: %w", scheme, err)
	}
	if m.backend, err = objectStores[urlScheme(cfg.ObjectStore)](ctx, cfg.ObjectStore); err != nil {
		return fmt.Errorf("--object-store/ATELIER_OBJECT_STORE: cannot open the object store: %w", err)
	}
	// Opening checks little (an s3 bucket is not even contacted): a write,
	// read and delete finds a wrong endpoint, bucket or credentials now.
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err = obs.Probe(pctx, m.backend)
	cancel()
	if err != nil {
		return fmt.Errorf("--object-store/ATELIER_OBJECT_STORE: the %s object store does not work: %w", urlScheme(cfg.ObjectStore), err)
	}
	m.objects = obs.New(m.store, m.backend, obs.Options{Clock: m.Clock, Logger: m.log, MaxObjectBytes: cfg.MaxObjectBytes})
	box, err := secretbox.LoadOrCreateKey(cfg.Identity.SecretKeyFile)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	// Presigned URLs are signed with a key of their own, derived from the
	// secret key (never the secret key itself).
	if m.presigner, err = obs.NewPresigner(box.DeriveKey(obs.PresignKeyLabel), m.Clock); err != nil {
		return err
	}
	codes, where, err := cfg.Identity.codeSender()
	if err != nil {
		return err
	}
	for ch, w := range where {
		m.log.InfoContext(ctx, "one-time codes", "channel", ch, "via", w)
	}
	if publicDefault {
		cfg.PublicURL = "http://" + m.addr // the real port when --addr had :0
		m.Config.PublicURL = cfg.PublicURL
	}
	publicURL := cfg.PublicURL
	m.identity = identity.New(m.store, identity.Options{
		Clock:            m.Clock,
		Logger:           m.log,
		SessionTTL:       cfg.SessionTTL,
		Sealer:           box,
		Sender:           codes,
		Issuer:           publicURL,
		LockoutThreshold: cfg.Identity.LockoutThreshold,
		LockoutDuration:  cfg.Identity.LockoutDuration,
		LoginRatePerIP:   cfg.Identity.LoginRatePerIP,
		LoginRatePerUser: cfg.Identity.LoginRatePerUser,
		HashMemory:       cfg.Identity.HashMemory,
		HashQueue:        cfg.Identity.HashQueue,
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := m.newBackground(cfg, reg); err != nil {
		return err
	}
	m.datasets = dataset.New(m.store, m.objects, dataset.Options{Clock: m.Clock, Logger: m.log, Queue: m.queue})
	wo := cfg.Callback.options()
	wo.Store, wo.Apps, wo.Box, wo.Clock, wo.Logger, wo.Registerer = m.store, m.identity, box, m.Clock, m.log, reg
	wo.Audit = m.identity.Audit
	if m.callbacks, err = webhook.New(wo); err != nil {
		return err
	}
	if err := m.newTraining(ctx, cfg); err != nil {
		return err
	}
	m.serving = serving.New(m.store, m.objects, m.runtime, serving.Options{
		Clock: m.Clock, Logger: m.log, Queue: m.queue,
		WorkRoot: filepath.Join(cfg.DataDir, "services"),
		Flavors:  m.flavors, // a service config's specification is a flavor
		Jobs:     m.training,
	})

	if single {
		// The data directory is locked: queue items a previous process was
		// running are its, and it is dead. They run again now, not after
		// their leases run out.
		if n, err := m.store.EndQueueLeases(ctx, m.Clock.Now()); err != nil {
			m.log.WarnContext(ctx, "ending a previous server's queue leases", "err", err)
		} else if n > 0 {
			m.log.InfoContext(ctx, "queue items of a previous server run again", "items", n)
		}
	}
	if err := m.objects.Sweep(ctx, single); err != nil {
		m.log.WarnContext(ctx, "sweeping leftovers of interrupted uploads", "err", err)
	}
	generated, err := m.identity.Bootstrap(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if generated != "" {
		// Once, to stdout, never to the log.
		fmt.Fprintf(m.Stdout, "atelier: created admin %s with password %s\n", cmp.Or(cfg.AdminEmail, identity.DefaultAdminEmail), generated)
	}

	api := httpapi.New(httpapi.Options{
		Auth:           m.identity,
		APIKeys:        m.identity,
		Objects:        m.objects,
		Directory:      m.identity,
		Verifications:  m.identity,
		OIDC:           m.identity,
		Training:       m.training,
		Datasets:       m.datasets,
		Models:         m.serving,
		Services:       m.serving,
		Callbacks:      m.callbacks,
		Presigner:      m.presigner,
		Ready:          m.ready,
		Logger:         m.log,
		Registerer:     reg,
		Gatherer:       reg,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxObjectBytes: cfg.MaxObjectBytes,
		MinBodyRate:    cfg.MinBodyRate,
		Version:        serverVersion(),

		PredictTimeout:       cfg.PredictTimeout,
		MaxPredictBytes:      cfg.MaxPredictBytes,
		MaxPredictReplyBytes: cfg.MaxPredictReplyBytes,
	})
	m.runtime.SetTaskEndpoint(cmp.Or(cfg.Training.TaskEndpoint, cfg.PublicURL))
	m.srv = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		// No WriteTimeout: downloads of large objects stream for long.
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}

	m.datasets.Start(ctx)
	m.training.Start(ctx)
	m.serving.Start(ctx)
	g, gctx := errgroup.WithContext(ctx)
	m.group = g
	ln := m.ln
	g.Go(func() error {
		if err := m.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// Drain on a fresh context: gctx is already done.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), shutdownTimeout)
		defer cancel()
		m.log.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout)
		if err := m.srv.Shutdown(sctx); err != nil {
			m.log.Warn("in-flight requests cut at the shutdown deadline", "err", err)
			_ = m.srv.Close()
		}
		return nil
	})
	g.Go(func() error { return startstop.Serve(gctx, m.queue) })
	g.Go(func() error { return startstop.Serve(gctx, m.elector) })
	g.Go(func() error { return m.callbacks.Run(gctx) })

	m.log.InfoContext(ctx, "atelier server started", "addr", m.addr, "data_dir", cfg.DataDir,
		"database", scheme, "object_store", urlScheme(cfg.ObjectStore), "public_url", cfg.PublicURL)
	fmt.Fprintf(m.Stdout, "atelier: listening on http://%s\n", m.addr)
	return nil
}

// newBackground builds the queue client, the leader elector and the
// garbage collector, which runs on the leader only. Register the queue's
// workers before Run starts it.
func (m *Main) newBackground(cfg ServerConfig, reg prometheus.Registerer) error {
	bg := cfg.Background
	qm, err := queuemetrics.New(reg, m.store)
	if err != nil {
		return err
	}
	if m.queue, err = queue.New(queue.Options{Store: m.store, Clock: m.Clock, Logger: m.log,
		MaxWorkers: bg.QueueWorkers, LeaseTTL: bg.QueueLease, Observer: qm}); err != nil {
		return err
	}
	if m.elector, err = leader.New(leader.Options{Store: m.store, Clock: m.Clock, Logger: m.log,
		TTL: bg.LeaderTTL, Registerer: reg}); err != nil {
		return err
	}
	collector, err := gc.New(gc.Options{Store: m.store, Clock: m.Clock, Logger: m.log, Every: bg.GCInterval,
		CallbackRetention: cfg.Callback.Retention, QueueRetention: bg.RetentionQueue, QueueDeadRetention: bg.RetentionQueueDead,
		// obs deletes blobs through the object backend: its sweep of
		// abandoned uploads and queued blob deletions is the collector's too.
		Sweepers: []gc.Sweeper{{Name: "stale uploads and queued blob deletions", Sweep: func(ctx context.Context) error { return m.objects.Sweep(ctx, false) }}}})
	if err != nil {
		return err
	}
	m.elector.Register("gc", collector.Run)
	return nil
}

// executorDrivers opens an executor driver by the name of ATELIER_EXECUTOR
// (or a flavor's executor).
var executorDrivers = map[string]func(ctx context.Context, m *Main, cfg ServerConfig, gpus []driver.GPU) (driver.Driver, error){
	localexec.Name: openLocalDriver,
}

// cgroupDir is the delegated cgroup v2 directory of the local driver:
// ATELIER_TRAINING_CGROUP_DIR, else the one found where the server runs
// (localexec.DetectCgroup), none with "off".
func (m *Main) cgroupDir(ctx context.Context, set string) string {
	switch set {
	case CgroupOff:
		return ""
	case "":
		dir, why := localexec.DetectCgroup(localexec.CgroupFiles{})
		if dir == "" {
			m.log.InfoContext(ctx, "no delegated cgroup v2 hierarchy: tasks are limited with rlimits only (no CPU share, no out-of-memory reports)", "why", why)
			return ""
		}
		m.log.InfoContext(ctx, "tasks get cgroups in the delegated cgroup v2 hierarchy the server runs in", "dir", dir)
		return dir
	}
	return set
}

// openLocalDriver opens the local driver: tasks in bubblewrap sandboxes
// under <data-dir>/executor/local, unless ATELIER_SANDBOX=none.
func openLocalDriver(ctx context.Context, m *Main, cfg ServerConfig, gpus []driver.GPU) (driver.Driver, error) {
	tc := cfg.Training
	roPaths := tc.readOnlyPaths()
	if stager := tc.taskStager(); tc.LocalNoSharedFS && stager != "" {
		// Tasks run the stager: they see it, read-only.
		roPaths = append(roPaths, stager)
	}
	var mpsDir string
	if len(gpus) > 0 {
		dir, note, err := gpu.DetectMPS(tc.GPUMPS, gpu.Host())
		if err != nil {
			return nil, fmt.Errorf("ATELIER_GPU_MPS: %w", err)
		}
		if note != "" {
			m.log.InfoContext(ctx, "GPU memory shares: "+note, "mps_pipe_dir", dir)
		}
		mpsDir = dir
	}
	d, err := localexec.New(ctx, localexec.Options{
		StateDir:      filepath.Join(cfg.DataDir, "executor", localexec.Name),
		MPSPipeDir:    mpsDir,
		Sandbox:       tc.Sandbox,
		ReadOnlyPaths: roPaths,
		NoSharedFS:    tc.LocalNoSharedFS,
		SearchRoots:   []string{cfg.DataDir},
		GPUs:          gpus,
		Limits:        driver.Limits{Processes: tc.Processes, TmpBytes: tc.TmpBytes},
		CgroupDir:     m.cgroupDir(ctx, tc.CgroupDir),
		Clock:         m.Clock,
		Logger:        m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w\nTenants' code must not run unisolated. Install bubblewrap (apt-get install bubblewrap), or, only where every user is trusted, set ATELIER_SANDBOX=none (unsafe: jobs can then read the server's data directory, database and key file; docs/training.md)", err)
	}
	if tc.Sandbox == localexec.SandboxNone {
		m.log.WarnContext(ctx, "ATELIER_SANDBOX=none: tenants' jobs run unisolated, as the server's user, and can read its data directory, database and key file")
	}
	return d, nil
}

// newTraining opens the executor of ATELIER_EXECUTOR, the workload
// runtime over it and the training service; jobs work under
// <data-dir>/training.
func (m *Main) newTraining(ctx context.Context, cfg ServerConfig) error {
	tc := cfg.Training
	configured, err := tc.configuredGPUs()
	if err != nil {
		return err
	}
	inv, note := gpu.Detect(ctx, configured)
	if note != "" && len(configured) == 0 {
		m.log.DebugContext(ctx, "GPU inventory", "note", note)
	}
	gpus, err := inv.Devices(ctx)
	if err != nil {
		return fmt.Errorf("GPU inventory (%s): %w", inv.Source(), err)
	}
	d, err := executorDrivers[tc.Executor](ctx, m, cfg, gpus)
	if err != nil {
		return fmt.Errorf("start the %s executor: %w", tc.Executor, err)
	}
	ex, err := executor.Open(ctx, d, executor.Options{
		StateDir: filepath.Join(cfg.DataDir, "executor", "journal", d.Name()),
		Slots:    tc.Slots,
		Clock:    m.Clock,
		Logger:   m.log,
	})
	if err != nil {
		_ = d.Close()
		return fmt.Errorf("start the %s executor: %w", tc.Executor, err)
	}
	if m.execs, err = executor.NewSet(d.Name(), ex); err != nil {
		_ = ex.Close()
		return err
	}
	fp := ex.Fingerprint()
	m.log.InfoContext(ctx, "executor ready", "driver", d.Name(), "slots", ex.Capacity().Slots, "cpus", fp.CPUs,
		"gpus", len(fp.GPUs), "gpu_inventory", inv.Source(), "isolation", ex.Capabilities().Isolation, "sandbox", fp.Attributes["sandbox"])
	flavors, err := tc.flavors(ex.Capacity())
	if err != nil {
		return err
	}
	frameworks, err := tc.frameworks()
	if err != nil {
		return err
	}
	m.runtime = workload.New(m.objects, m.execs, workload.Options{
		Clock: m.Clock, Logger: m.log,
		// For executors whose tasks do not share the server's disk.
		Presigner: m.presigner, Stager: tc.taskStager(), TaskEndpoint: cmp.Or(tc.TaskEndpoint, cfg.PublicURL),
	})
	if !ex.Capabilities().SharedFS {
		m.log.InfoContext(ctx, "tasks share no filesystem with the server: they stage through presigned URLs", "driver", d.Name(), "stager", tc.taskStager())
	}
	m.flavors = flavors
	m.training = training.New(m.store, m.objects, m.runtime, training.Options{
		Clock:         m.Clock,
		Logger:        m.log,
		WorkRoot:      filepath.Join(cfg.DataDir, "training"),
		Flavors:       flavors,
		Frameworks:    frameworks,
		DefaultMaxRun: tc.MaxRun,
		Datasets:      m.datasets, // dataset_id + dataset_version_id inputs
	})
	return nil
}

// Wait blocks until the server has stopped: after ctx of Run is cancelled
// and in-flight requests finished, or when serving fails.
func (m *Main) Wait() error {
	if m.group == nil {
		return nil
	}
	return m.group.Wait()
}

// Close shuts the server down gracefully if it runs, stops the background
// services and closes the stores, the store last. It is safe after a
// partial Run and safe to call twice.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.cancel != nil {
			m.cancel()
		}
		if m.group != nil {
			errs = append(errs, m.group.Wait())
		} else if m.ln != nil {
			errs = append(errs, m.ln.Close())
		}
		// Stopped with the group already; again after a partial Run.
		if m.queue != nil {
			m.queue.Stop() // running items are released for the next server
		}
		if m.elector != nil {
			m.elector.Stop() // stops the gc and releases the leader lease
		}
		if m.training != nil {
			m.training.Stop() // running jobs go on; the next server re-adopts them
		}
		if m.serving != nil {
			m.serving.Stop() // instances go on; the next server re-adopts them
		}
		if m.runtime != nil {
			m.runtime.Stop()
		}
		if m.execs != nil {
			errs = append(errs, m.execs.Close())
		}
		if m.datasets != nil {
			m.datasets.Stop() // running imports resume at the next Start
		}
		if m.objects != nil {
			m.objects.Stop()
		}
		if m.backend != nil {
			errs = append(errs, m.backend.Close())
		}
		if m.store != nil {
			errs = append(errs, m.store.Close())
		}
		if m.lock != nil {
			errs = append(errs, m.lock.Close()) // releases the flock
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// ready is the readiness check: the metadata store must answer and take a
// write, the object store must answer, and the data directory, the SQLite
// database's directory and a file object store's directory must each have
// at least ATELIER_MIN_FREE_SPACE free.
func (m *Main) ready(ctx context.Context) error {
	if err := m.store.Ping(ctx); err != nil {
		return storageError(err, atelier.CodeUnavailable, "The metadata store does not answer.")
	}
	// Free space first: it says why before a write fails for want of it.
	if err := m.freeSpace(); err != nil {
		return err
	}
	if err := m.writeProbe(ctx); err != nil {
		return storageError(err, atelier.CodeUnavailable, "The metadata store does not take writes.")
	}
	if err := m.objects.Ping(ctx); err != nil {
		return storageError(err, atelier.CodeUnavailable, "The object store does not answer.")
	}
	return nil
}

// storageError returns err when it carries a storage code already, else
// err wrapped in code with msg.
func storageError(err error, code atelier.Code, msg string) error {
	switch atelier.ErrorCode(err) {
	case atelier.CodeStoreUnavailable.ID, atelier.CodeStoreFull.ID, atelier.CodeObjectBackend.ID, atelier.CodeStorageFull.ID:
		return err
	}
	return code.Wrap(err, "%s", msg)
}

// writeProbe commits a write to the metadata store and undoes it: it takes
// and releases a lease of this process's own (a row that no other code
// reads), so that a database that still answers reads but cannot write (a
// full disk, a read-only file or replica) is not ready.
func (m *Main) writeProbe(ctx context.Context) error {
	name, holder := "ready-probe/"+startstop.ProcessID(), startstop.ProcessID()
	now := m.Clock.Now()
	if _, err := m.store.AcquireLease(ctx, name, holder, now, now.Add(time.Minute)); err != nil {
		return err
	}
	return m.store.ReleaseLease(ctx, name, holder)
}

// freeSpace reports CodeStoreFull or CodeStorageFull when a directory the
// server writes to has less than ATELIER_MIN_FREE_SPACE free.
func (m *Main) freeSpace() error {
	least := m.Config.MinFreeBytes
	if least <= 0 {
		return nil
	}
	type place struct {
		what, dir string
		code      atelier.Code
	}
	places := []place{{"data directory", m.Config.DataDir, atelier.CodeStoreFull}}
	if urlScheme(m.Config.DatabaseURL) == "sqlite" {
		places = append(places, place{"database", filepath.Dir(sqlitePath(m.Config.DatabaseURL)), atelier.CodeStoreFull})
	}
	if urlScheme(m.Config.ObjectStore) == "file" {
		if u, err := url.Parse(m.Config.ObjectStore); err == nil {
			places = append(places, place{"object store", filepath.FromSlash(u.Path), atelier.CodeStorageFull})
		}
	}
	for _, p := range places {
		free, err := diskfree.Available(p.dir)
		if errors.Is(err, diskfree.ErrUnsupported) {
			return nil
		}
		if err != nil {
			return atelier.CodeUnavailable.Wrap(err, "The %s cannot be read.", p.what)
		}
		if free < uint64(least) {
			return p.code.Wrap(fmt.Errorf("%s %s: %d bytes free, ATELIER_MIN_FREE_SPACE is %d", p.what, p.dir, free, least),
				"The %s's disk has %d KiB free, less than the %d KiB that ATELIER_MIN_FREE_SPACE keeps free.", p.what, free>>10, least>>10)
		}
	}
	return nil
}

// newServerLogger builds the server's logger; every line logged with a
// request's context carries its request_id. The settings are validated.
func newServerLogger(w io.Writer, cfg ServerConfig) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(httpapi.NewLogHandler(h))
}

// lockDataDir takes an exclusive lock on <dir>/LOCK, so that a second
// server on the same data directory fails instead of corrupting it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another atelier server (lock %s held): %w", dir, path, err)
	}
	return f, nil
}

// serverVersion is the module version the binary was built from.
func serverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
