package serving

import (
	"context"
	"slices"
	"time"

	"github.com/atelier-dev/atelier"
)

// Route implements atelier.InferenceServices: it picks a config by the
// weights (smooth weighted round robin over the configs that have a ready
// instance, so that 90/10 is 90/10 over any ten requests) and, in it, the
// ready instance with the fewest requests in flight. During a rollout a
// config without a ready instance of the new generation is served by its
// older ones; when no config of the current list can serve, any ready
// instance does.
func (s *Service) Route(ctx context.Context, id string, q atelier.RouteQuery) (*atelier.Route, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	c := s.ctrl(id)
	if c == nil || c.tenant != tenant {
		svc, err := s.getService(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		return nil, notReady(svc.Name, svc.Status)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := func(in *instance) bool {
		if !in.routable() || slices.Contains(q.Exclude, in.rec.ID) {
			return false
		}
		return q.ModelVersion == "" || in.version == q.ModelVersion
	}
	n := len(c.svc.Configs)
	cand := make([][]*instance, n)
	var rest []*instance
	for _, in := range c.insts {
		if !ok(in) {
			continue
		}
		if i := in.rec.Config; i < n && (in.rec.Generation == c.svc.Generation || !hasCurrent(c, i)) {
			cand[i] = append(cand[i], in)
		} else {
			rest = append(rest, in)
		}
	}
	// Smooth weighted round robin (nginx's) over the configs that can
	// serve: each adds its weight, the largest wins and gives back the
	// total.
	best, total := -1, 0
	for i := range n {
		w := c.svc.Configs[i].Weight
		if len(cand[i]) == 0 || w == 0 {
			continue
		}
		c.wrr[i] += w
		total += w
		if best < 0 || c.wrr[i] > c.wrr[best] {
			best = i
		}
	}
	var pick []*instance
	if best >= 0 {
		c.wrr[best] -= total
		pick = cand[best]
	} else {
		for i := range n {
			pick = append(pick, cand[i]...)
		}
		pick = append(pick, rest...)
	}
	if len(pick) == 0 {
		if q.ModelVersion != "" {
			return nil, atelier.CodeServiceNotReady.Errorf("Service %s has no ready instance of model version %s.", c.svc.Name, q.ModelVersion).WithField("version")
		}
		return nil, notReady(c.svc.Name, c.svc.Status)
	}
	in := pick[0]
	for _, x := range pick[1:] {
		if x.inflight < in.inflight {
			in = x
		}
	}
	in.inflight++
	var st *configStats
	if in.rec.Config < len(c.stats) {
		st = c.stats[in.rec.Config]
	}
	return &atelier.Route{
		ServiceID: c.id, Config: in.rec.Config, Instance: in.rec.ID, Addr: in.addr,
		Done: func(lat time.Duration, failed, unreachable bool) {
			c.mu.Lock()
			in.inflight--
			if unreachable {
				in.down = true
			}
			if st != nil {
				st.record(lat, failed)
			}
			c.mu.Unlock()
			if unreachable || in.draining {
				c.poke()
			}
		},
	}, nil
}

// hasCurrent reports whether config i has a routable instance of the
// current generation. Called with c.mu held.
func hasCurrent(c *controller, i int) bool {
	for _, in := range c.insts {
		if in.rec.Config == i && in.rec.Generation == c.svc.Generation && in.routable() {
			return true
		}
	}
	return false
}

func notReady(name, status string) error {
	return atelier.CodeServiceNotReady.Errorf("Service %s has no ready instance (it is %s).", name, status).WithField("service_id")
}
