package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/store"
)

// Limits of a service's configuration.
const (
	MaxConfigs   = 10
	MaxInstances = 64 // per config
	maxEnvs      = 64
	maxEnvValue  = 4096
	// DeleteWait bounds how long DeleteService waits for the instances to
	// stop before it deletes the records anyway.
	DeleteWait = 2 * time.Minute
)

var (
	serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	envNameRE     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)
)

func invalidService(field, format string, args ...any) error {
	return atelier.CodeInvalidService.Errorf(format, args...).WithField(field)
}

// reservedEnv reports whether a config may not set the variable: the
// sandbox's documented ones and Atelier's own.
func reservedEnv(name string) bool {
	return strings.HasPrefix(name, "ATELIER_") || name == "PYTHONPATH" || slices.Contains(driver.TaskEnv, name)
}

// checkConfigs validates a service's configs and fills in their models'
// names and versions; every error names its field.
func (s *Service) checkConfigs(ctx context.Context, tenant string, cfgs []atelier.ServiceConfig) ([]atelier.ServiceConfig, error) {
	if len(cfgs) == 0 || len(cfgs) > MaxConfigs {
		return nil, invalidService("config", "config must list 1–%d model configurations, not %d.", MaxConfigs, len(cfgs))
	}
	out := make([]atelier.ServiceConfig, len(cfgs))
	sum := 0
	for i, c := range cfgs {
		f := func(name string) string { return fmt.Sprintf("config[%d].%s", i, name) }
		switch {
		case c.ModelID == "":
			return nil, invalidService(f("model_id"), "%s is required.", f("model_id"))
		case c.Weight < 0 || c.Weight > 100:
			return nil, invalidService(f("weight"), "%s must be 0–100, not %d.", f("weight"), c.Weight)
		case c.InstanceCount < 1 || c.InstanceCount > MaxInstances:
			return nil, invalidService(f("instance_count"), "%s must be 1–%d, not %d.", f("instance_count"), MaxInstances, c.InstanceCount)
		case len(c.Envs) > maxEnvs:
			return nil, invalidService(f("envs"), "%s has more than %d variables.", f("envs"), maxEnvs)
		}
		fl := s.flavor(c.Specification)
		if fl == nil {
			ids := make([]string, 0, len(s.opts.Flavors))
			for _, x := range s.opts.Flavors {
				ids = append(ids, x.ID)
			}
			return nil, invalidService(f("specification"), "%s %q is not a flavor of this server (%s).", f("specification"), c.Specification, strings.Join(ids, ", "))
		}
		if fl.MaxNum > 0 && c.InstanceCount > fl.MaxNum {
			return nil, invalidService(f("instance_count"), "%s is above flavor %s's max_num %d.", f("instance_count"), fl.ID, fl.MaxNum)
		}
		for _, k := range slices.Sorted(maps.Keys(c.Envs)) {
			switch {
			case !envNameRE.MatchString(k):
				return nil, invalidService(f("envs"), "%s: %q is not a variable name.", f("envs"), k)
			case reservedEnv(k):
				return nil, invalidService(f("envs"), "%s: %s is set by Atelier and cannot be overridden.", f("envs"), k)
			case len(c.Envs[k]) > maxEnvValue || strings.ContainsRune(c.Envs[k], 0):
				return nil, invalidService(f("envs"), "%s: the value of %s is longer than %d bytes or holds a NUL.", f("envs"), k, maxEnvValue)
			}
		}
		m, err := s.st.GetModel(ctx, tenant, c.ModelID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, atelier.CodeModelNotFound.Errorf("%s: no model %q in this tenant.", f("model_id"), c.ModelID).WithField(f("model_id"))
		}
		if err != nil {
			return nil, err
		}
		if m.Status != atelier.ModelPublished {
			msg := "is still publishing"
			if m.Status == atelier.ModelFailed {
				msg = "failed its check: " + m.Reason
			}
			return nil, atelier.CodeModelNotPublished.Errorf("%s: model %s %s.", f("model_id"), modelRef(m), msg).WithField(f("model_id"))
		}
		sum += c.Weight
		c.ModelName, c.ModelVersion = m.Name, m.Version
		c.Envs = maps.Clone(c.Envs)
		out[i] = c
	}
	if sum != 100 {
		return nil, invalidService("config", "The configs' weights must sum to 100, not %d.", sum)
	}
	return out, nil
}

// DeployService implements atelier.InferenceServices.
func (s *Service) DeployService(ctx context.Context, spec atelier.ServiceSpec) (*atelier.InferenceService, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if spec.Name == "" {
		spec.Name = "service-" + atelier.NewID()[:8]
	}
	switch {
	case !serviceNameRE.MatchString(spec.Name):
		return nil, invalidService("service_name", "service_name must be 1–64 letters, digits, '_' or '-', not %q.", spec.Name)
	case utf8.RuneCountInString(spec.Description) > maxDescLen || !utf8.ValidString(spec.Description):
		return nil, invalidService("description", "description must be UTF-8 of at most %d characters.", maxDescLen)
	}
	ws, err := s.workspace(ctx, tenant, spec.WorkspaceID)
	if err != nil {
		return nil, err
	}
	cfgs, err := s.checkConfigs(ctx, tenant, spec.Configs)
	if err != nil {
		return nil, err
	}
	var owner string
	if p := atelier.PrincipalFromContext(ctx); p != nil {
		owner = p.UserID
	}
	now := s.now()
	svc := &atelier.InferenceService{
		ID: atelier.NewID(), TenantID: tenant, WorkspaceID: ws, Name: spec.Name, Description: spec.Description,
		InferType: "real-time", Configs: cfgs, Status: atelier.ServiceDeploying, Generation: 1, Owner: owner,
		CreatedAt: now, UpdatedAt: now,
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return nil, atelier.CodeUnavailable.Errorf("The server is shutting down.")
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateService(ctx, svc); err != nil {
			return err
		}
		return tx.AppendEvent(ctx, atelier.NewServiceStateEvent(svc, "", now))
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, atelier.CodeServiceExists.Errorf("A service named %q already exists.", spec.Name).WithField("service_name")
	case errors.Is(err, store.ErrNotFound):
		return nil, atelier.CodeModelNotFound.Errorf("A config's model was deleted meanwhile.").WithField("config")
	case err != nil:
		return nil, err
	}
	c := newController(s, svc)
	s.mu.Lock()
	s.ctrls[svc.ID] = c
	s.mu.Unlock()
	s.startController(c)
	return s.out(svc), nil
}

// out is the service as shown: its access address and live instances.
func (s *Service) out(svc *atelier.InferenceService) *atelier.InferenceService {
	o := *svc
	o.Configs = slices.Clone(svc.Configs)
	o.AccessAddress = "/v1/services/" + svc.ID + "/predict"
	o.Instances = nil
	if c := s.ctrl(svc.ID); c != nil {
		c.mu.Lock()
		for _, in := range c.insts {
			r := in.rec
			switch {
			case in.stopping || in.draining:
				r.Status = atelier.InstanceStopped
			case in.exited && in.failed:
				r.Status, r.Reason = atelier.InstanceFailed, in.exitMsg
			case in.routable():
				r.Status = atelier.InstanceReady
			default:
				r.Status = atelier.InstanceStarting
			}
			r.Restarts = c.failures[r.Config]
			o.Instances = append(o.Instances, &r)
		}
		c.mu.Unlock()
	}
	return &o
}

func (s *Service) getService(ctx context.Context, tenant, id string) (*atelier.InferenceService, error) {
	svc, err := s.st.GetService(ctx, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, atelier.CodeServiceNotFound.Errorf("No service %q in this tenant.", id).WithField("service_id")
	}
	return svc, err
}

// callersService returns a service of the caller's tenant.
func (s *Service) callersService(ctx context.Context, id string) (*atelier.InferenceService, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.getService(ctx, tenant, id)
}

// GetService implements atelier.InferenceServices.
func (s *Service) GetService(ctx context.Context, id string) (*atelier.InferenceService, error) {
	svc, err := s.callersService(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.out(svc), nil
}

// FindService implements atelier.InferenceServices.
func (s *Service) FindService(ctx context.Context, name string) (*atelier.InferenceService, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	svc, err := s.st.GetServiceByName(ctx, tenant, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, atelier.CodeServiceNotFound.Errorf("No service named %q in this tenant.", name).WithField("name")
	}
	if err != nil {
		return nil, err
	}
	return s.out(svc), nil
}

// ListServices implements atelier.InferenceServices.
func (s *Service) ListServices(ctx context.Context, f atelier.ServiceFilter) (*atelier.ServicePage, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Offset < 0:
		return nil, invalidService("offset", "offset must be 0 or more, not %d.", f.Offset)
	case f.Limit < 0 || f.Limit > 1000:
		return nil, invalidService("limit", "limit must be 1–1000, not %d.", f.Limit)
	case len(f.Name) > 256:
		return nil, invalidService("service_name", "service_name is at most 256 characters.")
	}
	switch f.Status {
	case "", atelier.ServiceDeploying, atelier.ServiceRunning, atelier.ServiceConcerning, atelier.ServiceFailed, atelier.ServiceStopped:
	default:
		return nil, invalidService("status", "status must be deploying, running, concerning, failed or stopped, not %q.", f.Status)
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	p, err := s.st.ListServices(ctx, tenant, f)
	if err != nil {
		return nil, err
	}
	for i, svc := range p.Services {
		p.Services[i] = s.out(svc)
	}
	return p, nil
}

// updateService changes a service's record with fn in one transaction,
// with the SERVICE_STATE_CHANGED event when its status changed.
func (s *Service) updateService(ctx context.Context, tenant, id string, fn func(*atelier.InferenceService) error) (*atelier.InferenceService, error) {
	now := s.now()
	var out *atelier.InferenceService
	err := s.st.InTx(ctx, func(tx store.Store) error {
		var previous string
		svc, err := tx.UpdateService(ctx, tenant, id, func(x *atelier.InferenceService) error {
			previous = x.Status
			if err := fn(x); err != nil {
				return err
			}
			x.UpdatedAt = now
			return nil
		})
		if err != nil {
			return err
		}
		out = svc
		if svc.Status == previous {
			return nil
		}
		return tx.AppendEvent(ctx, atelier.NewServiceStateEvent(svc, previous, now))
	})
	return out, err
}

// change runs an API change of a service and hands the new record to its
// controller (starting one for a service that had none).
func (s *Service) change(ctx context.Context, id string, fn func(*atelier.InferenceService) error) (*atelier.InferenceService, error) {
	cur, err := s.callersService(ctx, id)
	if err != nil {
		return nil, err
	}
	svc, err := s.updateService(ctx, cur.TenantID, id, fn)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, atelier.CodeServiceNotFound.Errorf("No service %q in this tenant (or a config's model was deleted meanwhile).", id).WithField("service_id")
	case err != nil:
		return nil, err
	}
	c := s.ctrl(id)
	if c == nil {
		s.mu.Lock()
		if s.ctrls[id] == nil && !s.stopped {
			c = newController(s, svc)
			s.ctrls[id] = c
			s.mu.Unlock()
			s.startController(c)
		} else {
			c = s.ctrls[id]
			s.mu.Unlock()
		}
	}
	if c != nil {
		c.setRecord(svc)
		c.poke()
	}
	return s.out(svc), nil
}

// UpdateService implements atelier.InferenceServices: new weights and
// instance counts apply in place; a change of a config's model,
// specification or variables (or of the number of configs) is a new
// generation, rolled out before the old one is drained.
func (s *Service) UpdateService(ctx context.Context, id string, u atelier.ServiceUpdate) (*atelier.InferenceService, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if u.Description != nil && (utf8.RuneCountInString(*u.Description) > maxDescLen || !utf8.ValidString(*u.Description)) {
		return nil, invalidService("description", "description must be UTF-8 of at most %d characters.", maxDescLen)
	}
	var cfgs []atelier.ServiceConfig
	if u.Configs != nil {
		if cfgs, err = s.checkConfigs(ctx, tenant, u.Configs); err != nil {
			return nil, err
		}
	}
	return s.change(ctx, id, func(x *atelier.InferenceService) error {
		if u.Description != nil {
			x.Description = *u.Description
		}
		if cfgs == nil {
			return nil
		}
		if newGeneration(x.Configs, cfgs) {
			x.Generation++
		}
		x.Configs = cfgs
		if x.Status == atelier.ServiceFailed {
			x.Status, x.Reason = atelier.ServiceDeploying, ""
		}
		return nil
	})
}

// newGeneration reports whether moving from old to cfgs needs new
// instances (not only other weights or counts).
func newGeneration(old, cfgs []atelier.ServiceConfig) bool {
	if len(old) != len(cfgs) {
		return true
	}
	for i := range old {
		if old[i].ModelID != cfgs[i].ModelID || old[i].Specification != cfgs[i].Specification || !maps.Equal(old[i].Envs, cfgs[i].Envs) {
			return true
		}
	}
	return false
}

// StopService implements atelier.InferenceServices; stopping a stopped
// service is not an error.
func (s *Service) StopService(ctx context.Context, id string) (*atelier.InferenceService, error) {
	return s.change(ctx, id, func(x *atelier.InferenceService) error {
		x.Status, x.Reason = atelier.ServiceStopped, ""
		return nil
	})
}

// StartService implements atelier.InferenceServices: a stopped or failed
// service deploys again.
func (s *Service) StartService(ctx context.Context, id string) (*atelier.InferenceService, error) {
	return s.change(ctx, id, func(x *atelier.InferenceService) error {
		if x.Status != atelier.ServiceStopped && x.Status != atelier.ServiceFailed {
			return atelier.CodeServiceState.Errorf("Service %s is %s; only a stopped or failed service starts.", x.Name, x.Status).WithField("service_id")
		}
		x.Status, x.Reason = atelier.ServiceDeploying, ""
		return nil
	})
}

// DeleteService implements atelier.InferenceServices: it stops the
// instances, waits (bounded) for them to end, and deletes the service.
func (s *Service) DeleteService(ctx context.Context, id string) error {
	if _, err := s.StopService(ctx, id); err != nil {
		return err
	}
	tenant, _ := atelier.TenantFromContext(ctx)
	if c := s.ctrl(id); c != nil {
		c.waitEmpty(ctx, DeleteWait)
		c.mu.Lock()
		c.deleted = true
		c.mu.Unlock()
		c.poke()
		s.mu.Lock()
		delete(s.ctrls, id)
		s.mu.Unlock()
	}
	// Instances no controller stopped (this Service is stopping, or
	// never ran the service) are stopped through their stored handles.
	recs, err := s.st.ListInstances(ctx, id)
	if err != nil {
		return err
	}
	for _, r := range recs {
		var h executor.Handle
		if r.Handle == "" || json.Unmarshal([]byte(r.Handle), &h) != nil {
			continue
		}
		if _, err := s.rt.StopWorkload(ctx, r.ID, &h, "deleted"); err != nil && !errors.Is(err, executor.ErrNotFound) {
			s.log.WarnContext(ctx, "serving: stop instance of a deleted service", "instance", r.ID, "err", err)
		}
		if err := s.rt.Forget(ctx, &h); err != nil && !errors.Is(err, executor.ErrNotFound) {
			s.log.WarnContext(ctx, "serving: forget instance of a deleted service", "instance", r.ID, "err", err)
		}
		_ = os.RemoveAll(s.instanceDir(id, r.ID))
	}
	err = s.st.DeleteService(ctx, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted meanwhile
	}
	return err
}

// waitEmpty waits until the controller has no instance left, its loop
// ended (the Service stopped), ctx ends or d passed.
func (c *controller) waitEmpty(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		n := len(c.insts)
		ch := c.changed()
		c.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ch:
		case <-c.done: // the Service stopped: nothing will change
			return
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// OpenServiceLog implements atelier.InferenceServices.
func (s *Service) OpenServiceLog(ctx context.Context, id, instanceID string, offset int64, follow bool) (io.ReadCloser, error) {
	if _, err := s.callersService(ctx, id); err != nil {
		return nil, err
	}
	c := s.ctrl(id)
	if c == nil {
		return nil, atelier.CodeServiceState.Errorf("Service %s has no instance (it is stopped).", id).WithField("service_id")
	}
	c.mu.Lock()
	var in *instance
	for _, x := range c.insts {
		if (instanceID == "" || x.rec.ID == instanceID) && x.handle != nil {
			in = x
			break
		}
	}
	c.mu.Unlock()
	if in == nil {
		if instanceID != "" {
			return nil, atelier.CodeServiceState.Errorf("Service %s has no running instance %q.", id, instanceID).WithField("instance")
		}
		return nil, atelier.CodeServiceState.Errorf("Service %s has no instance started yet.", id).WithField("service_id")
	}
	return s.rt.OpenLog(ctx, in.rec.ID, in.handle, 0, offset, follow)
}

// Monitor implements atelier.InferenceServices.
func (s *Service) Monitor(ctx context.Context, id string) (*atelier.ServiceMonitor, error) {
	svc, err := s.callersService(ctx, id)
	if err != nil {
		return nil, err
	}
	m := &atelier.ServiceMonitor{ServiceID: id, Since: svc.CreatedAt}
	c := s.ctrl(id)
	if c == nil {
		for _, cfg := range svc.Configs {
			m.Configs = append(m.Configs, atelier.ConfigMonitor{ModelID: cfg.ModelID})
		}
		return m, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m.Since = c.since.UTC()
	for i, cfg := range c.svc.Configs {
		cm := atelier.ConfigMonitor{ModelID: cfg.ModelID}
		if i < len(c.stats) {
			c.stats[i].fill(&cm)
		}
		for _, in := range c.insts {
			if in.rec.Config == i && in.rec.Generation == c.svc.Generation {
				cm.Instances++
				if in.routable() {
					cm.Ready++
				}
			}
		}
		m.Configs = append(m.Configs, cm)
	}
	return m, nil
}

// configStats are the gateway's figures for one config: counts and the
// latencies of the last requests (a ring).
type configStats struct {
	requests, errors int64
	lat              []float64 // ms
	next             int
}

const latencyRing = 4096

func newConfigStats() *configStats { return &configStats{lat: make([]float64, 0, 64)} }

func (st *configStats) record(d time.Duration, failed bool) {
	st.requests++
	if failed {
		st.errors++
	}
	ms := float64(d) / float64(time.Millisecond)
	if len(st.lat) < latencyRing {
		st.lat = append(st.lat, ms)
		return
	}
	st.lat[st.next] = ms
	st.next = (st.next + 1) % latencyRing
}

func (st *configStats) fill(m *atelier.ConfigMonitor) {
	m.Requests, m.Errors = st.requests, st.errors
	if len(st.lat) == 0 {
		return
	}
	l := slices.Clone(st.lat)
	sort.Float64s(l)
	q := func(p float64) float64 { return l[min(len(l)-1, int(p*float64(len(l))))] }
	m.LatencyP50Ms, m.LatencyP95Ms, m.LatencyP99Ms = q(0.50), q(0.95), q(0.99)
}
