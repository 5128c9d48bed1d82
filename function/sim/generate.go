package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// GenerateConfig sizes a generated trace.
type GenerateConfig struct {
	Apps int    // applications; 50 when zero
	Seed uint64 // the same seed gives the same trace
	// Minutes of the day to generate; 1,440 when zero.
	Minutes int
	// MaxRate caps a function's mean invocations per minute; 20 when
	// zero, which keeps a day of 50 apps to a few hundred thousand
	// invocations.
	MaxRate float64
}

// Generate returns a seeded synthetic day in the Azure 2019 schema, shaped
// like the paper's description of that trace: a third of the functions on
// timers (periodic, every 1 to 60 minutes), the rest driven by HTTP, queue
// and event triggers at mean rates spread log-uniformly over four orders of
// magnitude (from a few a day to MaxRate a minute), with a diurnal cycle,
// Pareto (heavy-tailed) inter-arrival times and occasional bursts;
// durations log-normal around medians from 50 ms to 10 s; app memory 100 to
// 600 MB.
func Generate(c GenerateConfig) *Trace {
	if c.Apps <= 0 {
		c.Apps = 50
	}
	if c.Minutes <= 0 || c.Minutes > maxMinutes {
		c.Minutes = maxMinutes
	}
	if c.MaxRate <= 0 {
		c.MaxRate = 20
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x15))
	hash := func() string { return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()) }
	t := &Trace{}
	for a := 0; a < c.Apps; a++ {
		owner, app := hash(), hash()
		nf := 1 + r.IntN(3)
		var total int
		for f := 0; f < nf; f++ {
			fc := FunctionCounts{Owner: owner, App: app, Function: hash(), Counts: make([]int, c.Minutes)}
			if r.Float64() < 0.33 {
				fc.Trigger = "timer"
				period := []int{1, 5, 10, 15, 30, 60}[r.IntN(6)]
				for m := r.IntN(period); m < c.Minutes; m += period {
					fc.Counts[m]++
				}
			} else {
				fc.Trigger = []string{"http", "http", "queue", "event", "storage", "others"}[r.IntN(6)]
				rate := c.MaxRate * math.Pow(10, -4*r.Float64()) // per minute
				arrivals(r, fc.Counts, rate)
			}
			count := 0
			for _, n := range fc.Counts {
				count += n
			}
			total += count
			t.Invocations = append(t.Invocations, fc)
			t.Durations = append(t.Durations, durations(r, owner, app, fc.Function, count))
		}
		t.Memory = append(t.Memory, memory(r, owner, app, total))
	}
	return t
}

// diurnal is the day's rate multiplier at minute m: a trough at 04:00, a
// peak at 16:00, mean 1.
func diurnal(m int) float64 {
	return 1 + 0.6*math.Sin(2*math.Pi*(float64(m)/1440-10.0/24))
}

// arrivals adds a renewal process with Pareto inter-arrival times (shape
// 1.5) of mean 1/rate minutes, scaled by the diurnal cycle, with bursts of
// ten times the rate for a few minutes now and then, to counts.
func arrivals(r *rand.Rand, counts []int, rate float64) {
	const alpha = 1.5
	mean := 1 / rate
	xm := mean * (alpha - 1) / alpha
	burstUntil := -1.0
	t := r.Float64() * mean
	for t < float64(len(counts)) {
		m := int(t)
		counts[m]++
		f := diurnal(m)
		if t < burstUntil {
			f *= 10
		} else if r.Float64() < 0.002 {
			burstUntil = t + 1 + 4*r.Float64()
		}
		gap := xm / math.Pow(1-r.Float64(), 1/alpha) / f
		t += gap
	}
}

func durations(r *rand.Rand, owner, app, fn string, count int) FunctionDurations {
	median := 50 * math.Pow(200, r.Float64()) // ms: 50 ms to 10 s
	sigma := 0.3 + 0.7*r.Float64()
	z := [7]float64{-3.5, -2.326, -0.674, 0, 0.674, 2.326, 3.5}
	d := FunctionDurations{Owner: owner, App: app, Function: fn, Count: count}
	for i := range d.P {
		d.P[i] = math.Round(median * math.Exp(sigma*z[i]))
	}
	d.Minimum, d.Maximum = d.P[0], d.P[6]
	d.Average = math.Round(median * math.Exp(sigma*sigma/2))
	return d
}

func memory(r *rand.Rand, owner, app string, samples int) AppMemory {
	base := 100 + 500*r.Float64()
	m := AppMemory{Owner: owner, App: app, SampleCount: samples, Average: math.Round(base)}
	f := [8]float64{0.6, 0.7, 0.85, 1, 1.1, 1.3, 1.5, 1.7}
	for i := range m.P {
		m.P[i] = math.Round(base * f[i])
	}
	return m
}
