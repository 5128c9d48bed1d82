package sim

import (
	"container/heap"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
)

// instance is one simulated instance.
type instance struct {
	start, ready time.Duration
	busy         int           // requests running
	busySince    time.Duration // when busy last went above 0
	busyTotal    time.Duration // time with busy > 0
	idleSince    time.Duration
	up           bool // its readiness was handled
	gone         bool
}

// completion is a request ending on an instance.
type completion struct {
	end  time.Duration
	inst *instance
}

type completions []completion

func (h completions) Len() int           { return len(h) }
func (h completions) Less(i, j int) bool { return h[i].end < h[j].end }
func (h completions) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *completions) Push(x any)        { *h = append(*h, x.(completion)) }
func (h *completions) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// appSim is the state of one app's replay.
type appSim struct {
	c         Config
	a         *autoscale.Autoscaler
	conc      int
	now       time.Duration
	instances []*instance
	queue     []request
	running   completions
	inflight  int

	// The current tick's time-weighted concurrency and arrivals.
	integral  float64 // request-seconds since lastTick
	lastTick  time.Duration
	arrivals  int
	lastLoad  time.Duration // the last time there was load
	delays    []time.Duration
	cold      int // arrivals with no ready instance
	queued    int // arrivals with no free slot on a ready instance
	instSec   float64
	wastedSec float64
	restSec   float64 // instance-seconds while the app had no request at all
}

// simulateApp replays one app's invocations and returns its figures and
// its queueing delays.
func simulateApp(ap *app, s autoscale.Settings, c Config, horizon time.Duration) (AppResult, []time.Duration) {
	a, err := autoscale.New(s)
	if err != nil {
		panic(err) // Run validated the settings
	}
	x := &appSim{c: c, a: a, conc: a.Settings().Concurrency}
	// The floor is up from the start, like a deployed function's.
	x.apply(a.Floor())
	for _, in := range x.instances {
		in.ready, in.idleSince, in.up = 0, 0, true
	}
	const never = time.Duration(1<<63 - 1)
	nextTick := time.Duration(0)
	i := 0
	for {
		nextArrival := never
		if i < len(ap.reqs) {
			nextArrival = ap.reqs[i].arrive
		}
		nextEnd := never
		if len(x.running) > 0 {
			nextEnd = x.running[0].end
		}
		nextReady := never
		for _, in := range x.instances {
			if !in.up && in.ready < nextReady {
				nextReady = in.ready
			}
		}
		work := nextArrival != never || nextEnd != never || nextReady != never || len(x.queue) > 0
		if !work && (nextTick >= horizon || len(x.instances) == 0) {
			break
		}
		next := min(nextArrival, nextEnd, nextReady, nextTick)
		x.advance(next)
		switch next {
		case nextEnd:
			cp := heap.Pop(&x.running).(completion)
			x.finish(cp.inst)
		case nextReady:
			for _, in := range x.instances {
				if !in.up && in.ready <= x.now {
					in.up = true
					x.dispatch(in)
				}
			}
		case nextArrival:
			x.arrive(ap.reqs[i])
			i++
		default:
			nextTick = x.tick(nextArrival, horizon)
		}
	}
	end := max(x.now, horizon)
	x.advance(end)
	for _, in := range x.instances {
		x.retire(in, end)
	}
	memGB := ap.memMB / 1024
	on := ap.alwaysOnInstances(x.conc)
	r := AppResult{
		App: ap.name, Invocations: len(ap.reqs), ColdStarts: x.cold, Queued: x.queued,
		InstanceSeconds: x.instSec, MemoryGBSeconds: x.instSec * memGB, WastedMemoryGBSeconds: x.wastedSec * memGB,
		IdleMemoryGBSeconds:     x.restSec * memGB,
		AlwaysOnMemoryGBSeconds: on * horizon.Seconds() * memGB,
	}
	if on > 0 {
		r.Utilisation = ap.busy.Seconds() / (on * float64(x.conc) * horizon.Seconds())
	}
	return r, x.delays
}

// advance moves the clock to t, integrating the concurrency.
func (x *appSim) advance(t time.Duration) {
	if t <= x.now {
		return
	}
	load := x.inflight + len(x.queue)
	x.integral += float64(load) * (t - x.now).Seconds()
	if load == 0 {
		x.restSec += float64(len(x.instances)) * (t - x.now).Seconds()
	}
	x.now = t
}

func (x *appSim) at(t time.Duration) time.Time { return epoch.Add(t) }

// arrive places a request on a ready instance with a free slot, the
// busiest first (packing), the most recently used among the idle; without
// one it is queued and the activator asks the autoscaler at once. It is a
// cold start when the app had no ready instance at all (the paper's
// definition: the app was not in memory).
func (x *appSim) arrive(q request) {
	x.arrivals++
	x.lastLoad = x.now
	var best *instance
	warm := false
	for _, in := range x.instances {
		if in.ready > x.now {
			continue
		}
		warm = true
		if in.busy >= x.conc {
			continue
		}
		if best == nil || in.busy > best.busy || (in.busy == best.busy && in.idleSince > best.idleSince) {
			best = in
		}
	}
	if best != nil {
		x.run(best, q)
		return
	}
	x.queued++
	if !warm {
		x.cold++
	}
	x.queue = append(x.queue, q)
	starting := 0
	for _, in := range x.instances {
		if in.ready > x.now {
			starting++
		}
	}
	if len(x.queue) > starting*x.conc {
		d := x.a.Scale(x.at(x.now), x.ready(), len(x.queue))
		x.apply(d.Desired)
	}
}

func (x *appSim) run(in *instance, q request) {
	x.delays = append(x.delays, x.now-q.arrive)
	if in.busy == 0 {
		in.busySince = x.now
	}
	in.busy++
	x.inflight++
	heap.Push(&x.running, completion{end: x.now + q.dur, inst: in})
}

func (x *appSim) finish(in *instance) {
	in.busy--
	x.inflight--
	x.lastLoad = x.now
	if in.busy == 0 {
		in.busyTotal += x.now - in.busySince
		in.idleSince = x.now
	}
	x.dispatch(in)
}

// dispatch gives queued requests to a ready instance's free slots.
func (x *appSim) dispatch(in *instance) {
	for !in.gone && in.ready <= x.now && in.busy < x.conc && len(x.queue) > 0 {
		q := x.queue[0]
		x.queue = x.queue[1:]
		x.run(in, q)
	}
}

func (x *appSim) ready() int {
	n := 0
	for _, in := range x.instances {
		if in.ready <= x.now {
			n++
		}
	}
	return n
}

// tick feeds the autoscaler the tick's sample, applies its decision and
// returns the next tick: one Tick on while there is load or the stable
// window still remembers some, else the next arrival or the next change
// of the keep-alive windows, whichever is first.
func (x *appSim) tick(nextArrival, horizon time.Duration) time.Duration {
	span := x.now - x.lastTick
	sample := autoscale.Sample{Time: x.at(x.now), Requests: x.arrivals}
	if span > 0 {
		sample.Concurrency = x.integral / span.Seconds()
	}
	x.a.Observe(sample)
	x.integral, x.arrivals, x.lastTick = 0, 0, x.now
	d := x.a.Scale(x.at(x.now), x.ready(), len(x.queue))
	x.apply(d.Desired)
	busy := x.inflight > 0 || len(x.queue) > 0 || x.now-x.lastLoad <= x.a.Settings().StableWindow+2*x.c.Tick
	if busy {
		return x.now + x.c.Tick
	}
	next := nextArrival
	if t := x.a.NextChange(x.at(x.now)); !t.IsZero() {
		next = min(next, t.Sub(epoch))
	}
	if next >= horizon && len(x.instances) > 0 {
		next = horizon
	}
	// Ticks stay on the Tick grid.
	if r := next % x.c.Tick; r != 0 {
		next += x.c.Tick - r
	}
	return max(next, x.now+x.c.Tick)
}

// apply starts or retires instances to reach desired: idle ready ones go
// first, the longest idle first; starting ones go only with nothing queued.
func (x *appSim) apply(desired int) {
	total := len(x.instances)
	for ; total < desired; total++ {
		x.instances = append(x.instances, &instance{start: x.now, ready: x.now + x.c.ColdStart, idleSince: x.now + x.c.ColdStart})
	}
	for total > desired {
		var victim *instance
		for _, in := range x.instances {
			if in.busy > 0 || (in.ready > x.now && len(x.queue) > 0) {
				continue
			}
			if victim == nil || in.idleSince < victim.idleSince {
				victim = in
			}
		}
		if victim == nil {
			return // the rest are busy: they go at a later tick
		}
		x.retire(victim, x.now)
		x.instances = removeInstance(x.instances, victim)
		total--
	}
}

// retire accounts an instance's life up to end.
func (x *appSim) retire(in *instance, end time.Duration) {
	if in.busy > 0 {
		in.busyTotal += end - in.busySince
	}
	in.gone = true
	life := end - in.start
	x.instSec += life.Seconds()
	x.wastedSec += (life - in.busyTotal).Seconds()
}

func removeInstance(s []*instance, in *instance) []*instance {
	for i, v := range s {
		if v == in {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}
