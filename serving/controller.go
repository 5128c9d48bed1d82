package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/workload"
)

// A controller keeps one service's instances as its record asks: it
// launches the instances each config lacks (after a backoff when they
// failed), reads their readiness, replaces the ones that exit, rolls a new
// generation out before it drains the old one, and derives the service's
// status. One goroutine per active service runs reconcile on every probe
// tick and whenever something changed (wake).
type controller struct {
	s      *Service
	id     string
	tenant string

	wake chan struct{}
	done chan struct{} // closed when run returns

	mu  sync.Mutex
	svc *atelier.InferenceService // as stored
	// insts are the live instances, in launch order.
	insts []*instance
	// stats are the gateway's figures per config of the current configs.
	stats []*configStats
	since time.Time
	// failures counts failed starts per config of the current generation
	// since its last ready instance; nextStart is when a config may
	// launch again after a failure.
	failures  map[int]int
	nextStart map[int]time.Time
	lastFail  map[int]string
	// everRunning: the service was running since it was deployed or
	// started (a restarted server takes running and concerning as so).
	everRunning bool
	deleted     bool
	wrr         []int // smooth weighted round robin state per config
	// changedCh is closed at the end of each round (see changed).
	changedCh chan struct{}
}

// changed returns a channel closed when the current round of reconcile
// ends. Called with c.mu held.
func (c *controller) changed() <-chan struct{} {
	if c.changedCh == nil {
		c.changedCh = make(chan struct{})
	}
	return c.changedCh
}

// instance is one live instance of a service.
type instance struct {
	rec        atelier.ServiceInstance
	handle     *executor.Handle
	launchedAt time.Time
	version    string // the model version it serves
	addr       string
	ready      bool
	down       bool // the gateway could not reach it; until the next ready probe
	inflight   int
	draining   bool
	drainSince time.Time
	stopping   bool // a stop was asked (it ends without counting as failed)
	exited     bool
	exitMsg    string
	// failed: it ended on its own, or never got ready in time.
	failed bool
}

func (in *instance) routable() bool {
	return in.ready && !in.down && !in.draining && !in.exited && !in.stopping && in.addr != ""
}

func newController(s *Service, svc *atelier.InferenceService) *controller {
	c := &controller{
		s: s, id: svc.ID, tenant: svc.TenantID, svc: svc,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		since:    s.clock.Now(),
		failures: map[int]int{}, nextStart: map[int]time.Time{}, lastFail: map[int]string{},
		everRunning: svc.Status == atelier.ServiceRunning || svc.Status == atelier.ServiceConcerning,
	}
	c.resetStats()
	return c
}

func (c *controller) resetStats() {
	c.stats = make([]*configStats, len(c.svc.Configs))
	for i := range c.stats {
		c.stats[i] = newConfigStats()
	}
	c.wrr = make([]int, len(c.svc.Configs))
}

// poke wakes the controller's loop.
func (c *controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// start runs the controller in the background (once).
func (s *Service) startController(c *controller) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(c.done)
		c.run(s.ctx)
	}()
}

// adopt takes over a service a previous server left active: its stored
// instances are re-attached through their handles (the executor re-adopts
// or reports them lost, and they are replaced), the ones without a handle
// are dropped, and the loop goes on as usual.
func (s *Service) adopt(svc *atelier.InferenceService) {
	c := newController(s, svc)
	recs, err := s.st.ListInstances(s.ctx, svc.ID)
	if err != nil {
		s.log.ErrorContext(s.ctx, "serving: list instances", "service", svc.ID, "err", err)
	}
	for _, r := range recs {
		in := &instance{rec: *r, launchedAt: s.clock.Now()}
		if r.Generation == svc.Generation && r.Config < len(svc.Configs) {
			in.version = svc.Configs[r.Config].ModelVersion
		}
		var h executor.Handle
		if r.Handle == "" || json.Unmarshal([]byte(r.Handle), &h) != nil {
			// Staging was interrupted: nothing was submitted.
			_ = s.st.DeleteInstance(s.ctx, svc.ID, r.ID)
			_ = os.RemoveAll(s.instanceDir(svc.ID, r.ID))
			continue
		}
		in.handle = &h
		spec := workload.Spec{ID: r.ID, Tenant: svc.TenantID, User: svc.Owner, Executor: h.Driver, Dir: s.instanceDir(svc.ID, r.ID)}
		if err := s.rt.Resume(spec, &h, true, c.hooks(in)); err != nil {
			s.log.WarnContext(s.ctx, "serving: resume instance", "service", svc.ID, "instance", r.ID, "err", err)
			in.exited, in.failed, in.exitMsg = true, true, "could not be re-attached after a restart"
		}
		c.insts = append(c.insts, in)
	}
	s.mu.Lock()
	s.ctrls[svc.ID] = c
	s.mu.Unlock()
	s.startController(c)
}

func (c *controller) run(ctx context.Context) {
	tick, stop := c.s.clock.NewTicker(c.s.opts.ProbeInterval)
	defer stop()
	for {
		if !c.reconcile(ctx) {
			return
		}
		c.mu.Lock()
		if c.changedCh != nil {
			close(c.changedCh)
			c.changedCh = nil
		}
		c.mu.Unlock()
		if f := c.s.afterRec; f != nil {
			f()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-c.wake:
		}
	}
}

// action is work reconcile decided under the lock, done outside it.
type action struct {
	launch []*instance
	stop   []*instance
	forget []*instance
}

// reconcile runs one round; false when the service is gone.
func (c *controller) reconcile(ctx context.Context) bool {
	c.probe(ctx)
	now := c.s.clock.Now()
	var act action
	c.mu.Lock()
	if c.deleted {
		c.mu.Unlock()
		return false
	}
	svc := c.svc
	gen := svc.Generation
	serving := svc.Status != atelier.ServiceStopped && svc.Status != atelier.ServiceFailed

	// Ended instances leave; a failure of the current generation counts
	// towards its config's backoff.
	live := c.insts[:0]
	for _, in := range c.insts {
		if !in.exited {
			live = append(live, in)
			continue
		}
		act.forget = append(act.forget, in)
		if in.failed && !in.stopping && in.rec.Generation == gen && serving {
			i := in.rec.Config
			c.failures[i]++
			c.lastFail[i] = in.exitMsg
			c.nextStart[i] = now.Add(backoff(c.failures[i], c.s.opts.MaxBackoff))
		}
	}
	c.insts = live

	want := func(i int) int {
		if !serving || i >= len(svc.Configs) {
			return 0
		}
		return svc.Configs[i].InstanceCount
	}
	// Per config of the current generation: instances kept, ready ones.
	have := make([]int, len(svc.Configs))
	readyCur := make([]int, len(svc.Configs))
	readyAny := make([]int, len(svc.Configs))
	for _, in := range c.insts {
		if in.draining || in.stopping {
			continue
		}
		i := in.rec.Config
		if in.rec.Generation == gen && i < len(have) {
			if have[i] >= want(i) {
				c.drain(in, now) // more than asked (instance_count lowered)
				continue
			}
			have[i]++
			if in.routable() {
				readyCur[i]++
				c.failures[i] = 0
			}
		}
		if in.routable() && i < len(readyAny) {
			readyAny[i]++
		}
	}
	// Launch what each config lacks, once its backoff has passed.
	for i := range svc.Configs {
		for have[i] < want(i) && !now.Before(c.nextStart[i]) {
			in := c.newInstance(i, now)
			c.insts = append(c.insts, in)
			act.launch = append(act.launch, in)
			have[i]++
		}
	}
	// A generation fully ready (or a service not serving) drains the
	// older generations.
	complete := true
	for i := range svc.Configs {
		if readyCur[i] < want(i) {
			complete = false
		}
	}
	for _, in := range c.insts {
		if in.rec.Generation != gen && (complete || !serving) && !in.draining {
			c.drain(in, now)
		}
		if !serving && !in.draining {
			c.drain(in, now)
		}
	}
	// Drained instances stop once idle (or after the drain timeout).
	for _, in := range c.insts {
		if in.draining && !in.stopping && (in.inflight == 0 || now.Sub(in.drainSince) >= c.s.opts.DrainTimeout) {
			in.stopping = true
			act.stop = append(act.stop, in)
		}
	}
	// Instances that never got ready in time fail.
	for _, in := range c.insts {
		if !in.ready && !in.stopping && !in.exited && now.Sub(in.launchedAt) >= c.s.opts.ReadyTimeout {
			in.stopping, in.failed = true, true
			in.exitMsg = fmt.Sprintf("not ready within %s", c.s.opts.ReadyTimeout)
			act.stop = append(act.stop, in)
			// It counts as a failure now, not when it has stopped.
			i := in.rec.Config
			c.failures[i]++
			c.lastFail[i] = in.exitMsg
			c.nextStart[i] = now.Add(backoff(c.failures[i], c.s.opts.MaxBackoff))
		}
	}

	// The status.
	status, reason := svc.Status, svc.Reason
	if serving {
		covered := true
		for i := range svc.Configs {
			if readyAny[i] < want(i) && readyCur[i] < want(i) {
				covered = false
			}
		}
		switch {
		case covered:
			status, reason = atelier.ServiceRunning, ""
			c.everRunning = true
		case c.everRunning:
			status, reason = atelier.ServiceConcerning, c.failReason()
		default:
			status, reason = atelier.ServiceDeploying, c.failReason()
			for i := range svc.Configs {
				if c.failures[i] >= c.s.opts.DeployFailures {
					status = atelier.ServiceFailed
				}
			}
		}
		if complete && status == atelier.ServiceRunning {
			reason = ""
		}
	}
	c.mu.Unlock()

	if status != svc.Status || reason != svc.Reason {
		c.setStatus(ctx, svc.Status, status, reason)
	}
	for _, in := range act.forget {
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			c.forget(ctx, in)
		}()
	}
	for _, in := range act.launch {
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			c.launch(ctx, in)
		}()
	}
	for _, in := range act.stop {
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			c.stopInstance(ctx, in)
		}()
	}
	return true
}

// failReason describes the last failures of the configs, for the service's
// reason. Called with c.mu held.
func (c *controller) failReason() string {
	var parts []string
	for i := range c.svc.Configs {
		if n := c.failures[i]; n > 0 {
			parts = append(parts, fmt.Sprintf("config %d (model %s): %d failed start(s), last: %s", i, c.svc.Configs[i].ModelID, n, c.lastFail[i]))
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

func (c *controller) drain(in *instance, now time.Time) {
	if !in.draining {
		in.draining, in.drainSince = true, now
	}
}

// backoff is 1s, 2s, 4s, … capped.
func backoff(failures int, maxDelay time.Duration) time.Duration {
	d := time.Second << min(failures-1, 20)
	return min(d, maxDelay)
}

// newInstance makes the record of a new instance of config i. Called with
// c.mu held.
func (c *controller) newInstance(i int, now time.Time) *instance {
	id := fmt.Sprintf("%s-g%d-c%d-%s", c.id, c.svc.Generation, i, atelier.NewID()[:8])
	return &instance{
		rec: atelier.ServiceInstance{
			ID: id, Config: i, ModelID: c.svc.Configs[i].ModelID, Generation: c.svc.Generation,
			Status: atelier.InstanceStarting, CreatedAt: now.UTC().Truncate(time.Microsecond),
		},
		launchedAt: now,
		version:    c.svc.Configs[i].ModelVersion,
	}
}

// probe reads every submitted instance's readiness from its executor.
func (c *controller) probe(ctx context.Context) {
	c.mu.Lock()
	var ins []*instance
	var hs []*executor.Handle
	for _, in := range c.insts {
		if in.handle != nil && !in.exited {
			ins = append(ins, in)
			hs = append(hs, in.handle)
		}
	}
	c.mu.Unlock()
	for k, in := range ins {
		ex, err := c.s.rt.Executors().For(hs[k])
		if err != nil {
			continue
		}
		st, err := ex.Status(ctx, hs[k])
		c.mu.Lock()
		switch {
		case errors.Is(err, executor.ErrNotFound):
			in.exited, in.failed, in.exitMsg = true, true, "the executor lost the instance"
		case err != nil:
		case st.State == executor.Running && st.Ready && len(st.Endpoints) > 0:
			if !in.ready || in.down {
				in.ready, in.down = true, false
			}
			in.addr = st.Endpoints[0].Addr
			if in.rec.StartedAt.IsZero() {
				in.rec.StartedAt = st.StartedAt
			}
		case st.State == executor.Running:
			in.ready = false
		case st.State == executor.Exited:
			in.ready = false
		}
		c.mu.Unlock()
	}
}

// launch prepares and starts one instance; a failure to prepare ends it as
// failed.
func (c *controller) launch(ctx context.Context, in *instance) {
	c.mu.Lock()
	svc := c.svc
	c.mu.Unlock()
	if err := c.s.st.PutInstance(ctx, svc.ID, &in.rec); err != nil {
		c.ended(in, true, "record: "+err.Error())
		return
	}
	spec, err := c.s.instanceSpec(ctx, svc, in)
	if err == nil {
		err = c.s.rt.Launch(*spec, c.hooks(in))
	}
	if err != nil {
		c.s.log.WarnContext(ctx, "serving: instance not launched", "service", svc.ID, "instance", in.rec.ID, "err", err)
		c.ended(in, true, workload.SafeMessage(err))
	}
}

// ended marks an instance exited and wakes the loop.
func (c *controller) ended(in *instance, failed bool, msg string) {
	c.mu.Lock()
	in.exited, in.ready = true, false
	if !in.failed {
		in.failed = failed && !in.stopping
	}
	if in.exitMsg == "" {
		in.exitMsg = msg
	}
	c.mu.Unlock()
	c.poke()
}

// hooks follow one instance's workload.
func (c *controller) hooks(in *instance) workload.Hooks {
	return workload.Hooks{
		Submitted: func(ctx context.Context, h *executor.Handle) error {
			b, err := json.Marshal(h)
			if err != nil {
				return err
			}
			c.mu.Lock()
			in.handle = h
			in.rec.Handle = string(b)
			rec := in.rec
			c.mu.Unlock()
			if err := c.s.st.PutInstance(ctx, c.id, &rec); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			c.poke()
			return nil
		},
		Running: func(ctx context.Context, started time.Time) error {
			c.poke()
			return nil
		},
		Finished: func(ctx context.Context, res *workload.Result) error {
			c.ended(in, true, exitMessage(res))
			return nil
		},
	}
}

// exitMessage says how an instance ended, safe to show.
func exitMessage(res *workload.Result) string {
	switch {
	case res.Err != nil:
		return workload.SafeMessage(res.Err)
	case res.Exit == nil:
		return "stopped before it started"
	}
	x := res.Exit
	msg := string(x.Kind)
	switch x.Kind {
	case driver.ExitFailed, driver.ExitCompleted:
		msg = fmt.Sprintf("exited with code %d", x.Code)
	case driver.ExitSignaled:
		msg = fmt.Sprintf("killed by signal %d", x.Signal)
	case driver.ExitOOMKilled:
		msg = "killed: out of memory"
	}
	if x.Message != "" {
		msg += ": " + x.Message
	}
	if len(msg) > 1000 {
		msg = msg[len(msg)-1000:]
	}
	return msg
}

// stopInstance stops an instance's task (it then ends through Finished).
func (c *controller) stopInstance(ctx context.Context, in *instance) {
	c.mu.Lock()
	h := in.handle
	c.mu.Unlock()
	stopped, err := c.s.rt.StopWorkload(ctx, in.rec.ID, h, "drained")
	if err != nil {
		c.s.log.WarnContext(ctx, "serving: stop instance", "instance", in.rec.ID, "err", err)
	}
	if !stopped || h == nil {
		// Nothing ran (or it already ended): nothing will call Finished.
		c.ended(in, false, "")
	}
}

// forget removes what is kept of an ended instance: the executor's
// record, its directory and its instance record.
func (c *controller) forget(ctx context.Context, in *instance) {
	if in.handle != nil {
		if err := c.s.rt.Forget(ctx, in.handle); err != nil && !errors.Is(err, executor.ErrNotFound) {
			c.s.log.WarnContext(ctx, "serving: forget instance", "instance", in.rec.ID, "err", err)
		}
	}
	_ = os.RemoveAll(c.s.instanceDir(c.id, in.rec.ID))
	if err := c.s.st.DeleteInstance(ctx, c.id, in.rec.ID); err != nil {
		c.s.log.WarnContext(ctx, "serving: delete instance record", "instance", in.rec.ID, "err", err)
	}
}

// setStatus records a status change with its event; the controller's view
// follows the store's.
func (c *controller) setStatus(ctx context.Context, from, to, reason string) {
	svc, err := c.s.updateService(ctx, c.tenant, c.id, func(s *atelier.InferenceService) error {
		if s.Status != from {
			return errDone // changed meanwhile (a stop, an update): next round
		}
		s.Status, s.Reason = to, reason
		return nil
	})
	if err != nil {
		if !errors.Is(err, errDone) && ctx.Err() == nil {
			c.s.log.WarnContext(ctx, "serving: service status", "service", c.id, "err", err)
		}
		return
	}
	c.setRecord(svc)
}

// setRecord takes a newer record of the service (after a change through
// the API or the loop).
func (c *controller) setRecord(svc *atelier.InferenceService) {
	c.mu.Lock()
	defer c.mu.Unlock()
	restarted := svc.Status == atelier.ServiceDeploying && c.svc.Status != svc.Status
	if restarted || svc.Generation != c.svc.Generation || len(svc.Configs) != len(c.svc.Configs) {
		// A new generation, or a stopped or failed service started again
		// (start_service, an update of a failed one): its earlier failures
		// and backoffs no longer count.
		c.failures, c.nextStart, c.lastFail = map[int]int{}, map[int]time.Time{}, map[int]string{}
	}
	if restarted {
		c.everRunning = false // deploying until all are ready
	}
	resize := len(svc.Configs) != len(c.svc.Configs)
	c.svc = svc
	if resize {
		c.resetStats()
	}
}

func (s *Service) instanceDir(serviceID, instanceID string) string {
	return filepath.Join(s.opts.WorkRoot, serviceID, instanceID)
}

// instanceSpec builds an instance's workload: the model package staged
// into model/ (checked against the digest it was published with), the
// shipped runtime into .atelier-runtime/ for Python packages, and the
// command serving HTTP on $PORT.
func (s *Service) instanceSpec(ctx context.Context, svc *atelier.InferenceService, in *instance) (*workload.Spec, error) {
	cfg := svc.Configs[in.rec.Config]
	m, err := s.st.GetModel(ctx, svc.TenantID, cfg.ModelID)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.ModelID, err)
	}
	octx := tenantCtx(ctx, svc.TenantID, svc.Owner)
	pkg, err := s.inspect(octx, m.SourceLocation)
	var perr *packageError
	switch {
	case errors.As(err, &perr):
		// The tenant's own package: safe to show as the instance's reason.
		return nil, &workload.StageError{Msg: fmt.Sprintf("model %s: %s", modelRef(m), perr.msg)}
	case err != nil:
		return nil, fmt.Errorf("model %s: %w", modelRef(m), err)
	case pkg.digest != m.Digest:
		return nil, &workload.StageError{Msg: fmt.Sprintf("model %s: its package at %s changed since it was published (digest %s, now %s); register it again",
			modelRef(m), m.SourceLocation, m.Digest, pkg.digest)}
	}
	loc, _ := atelier.ParseObjectPath(m.SourceLocation)
	dir := s.instanceDir(svc.ID, in.rec.ID)
	modelDir := filepath.Join(dir, "model")
	rtDir := filepath.Join(dir, ".atelier-runtime")
	env := map[string]string{}
	for k, v := range cfg.Envs {
		env[k] = v
	}
	env["ATELIER_SERVICE_ID"] = svc.ID
	env["ATELIER_SERVICE_NAME"] = svc.Name
	env["ATELIER_MODEL_ID"] = m.ID
	env["ATELIER_MODEL_NAME"] = m.Name
	env["ATELIER_MODEL_VERSION"] = m.Version
	env["ATELIER_MODEL_DIR"] = modelDir
	task := executor.Spec{Kind: driver.KindService, Workers: 1, Env: env, Ports: []string{"http"}}
	inputs := []workload.Input{{
		Field: fmt.Sprintf("config[%d].model_id", in.rec.Config), Dir: modelDir,
		Object: &workload.ObjectInput{Path: loc},
	}}
	var health string
	if pkg.config.Health != nil {
		health = pkg.config.Health.URL
	}
	switch pkg.handler {
	case HandlerCommand:
		argv, _ := pkg.config.argv()
		task.Command = append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, modelDir}, argv...)
	default:
		inputs = append(inputs, workload.Input{Field: "runtime", Dir: rtDir, Stage: func(_ context.Context, dir, _ string) error {
			return s.opts.WriteRuntime(dir)
		}})
		task.Command = []string{s.opts.Python, filepath.Join(rtDir, "serve.py"), "--model-dir", modelDir}
		env["PYTHONPATH"] = rtDir + string(os.PathListSeparator) + modelDir
		env["PYTHONDONTWRITEBYTECODE"] = "1"
		// serve.py runs a thread per connection, and glibc gives each new
		// thread a malloc arena of 64 MiB of address space (up to 8 per
		// core): where the flavor's memory is an address-space limit (no
		// cgroup), a 1 GiB instance could not start its 11th thread and
		// closed the connection. Two arenas serve a stdlib runtime.
		env["MALLOC_ARENA_MAX"] = "2"
		if health == "" {
			health = "/health"
		}
	}
	task.Readiness = &driver.Probe{HTTPPath: health}
	f := s.flavor(cfg.Specification)
	w := &workload.Spec{ID: in.rec.ID, Tenant: svc.TenantID, User: svc.Owner, Dir: dir, Task: task, Inputs: inputs}
	if f != nil {
		w.Executor = f.Executor
		w.Task.CPU = float64(f.CPU)
		w.Task.MemoryBytes = f.MemoryMB << 20
		w.Task.GPUs = f.GPU
		w.Task.GPUType = f.GPUType
	}
	return w, nil
}

// ctrl returns the controller of a service, or nil.
func (s *Service) ctrl(id string) *controller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrls[id]
}
