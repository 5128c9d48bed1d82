package sim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
	"github.com/atelier-dev/atelier/function/keepalive"
)

// Fixed keep-alive settings the report compares.
var fixedSettings = []time.Duration{30 * time.Second, time.Minute, 10 * time.Minute, 20 * time.Minute}

// DefaultPolicies are the policies the report compares: fixed keep-alive
// of 30 s, 60 s (the default idle_timeout), 10 min and 20 min, and the
// hybrid histogram policy with the paper's parameters.
func DefaultPolicies() []Policy {
	var ps []Policy
	for _, d := range fixedSettings {
		ps = append(ps, Policy{Name: "fixed " + fmtDur(d), New: func() autoscale.KeepAlive { return keepalive.Fixed(d) }})
	}
	ps = append(ps,
		Policy{Name: "hybrid", New: func() autoscale.KeepAlive { return keepalive.NewHybrid(keepalive.HybridConfig{}) }},
		Policy{Name: "hybrid, fallback 10m", New: func() autoscale.KeepAlive {
			return keepalive.NewHybrid(keepalive.HybridConfig{Fallback: 10 * time.Minute})
		}})
	return ps
}

// UtilisationBands are the bands of the saving curve: an app's busy time
// over the capacity of an always-on deployment sized for its peak.
var UtilisationBands = []float64{0, 0.01, 0.05, 0.2, 0.5, 1.01}

// Band is one point of the saving curve: one policy on the apps of one
// utilisation band.
type Band struct {
	Policy     string  `json:"policy"`
	Band       string  `json:"band"`
	Apps       int     `json:"apps"`
	Saving     float64 `json:"saving"`
	ColdStarts int     `json:"cold_starts"`
	ColdRate   float64 `json:"cold_start_rate"`
}

// Check is a verdict on a claim.
type Check struct {
	Claim  string `json:"claim"`
	Holds  bool   `json:"holds"`
	Detail string `json:"detail"`
}

// Report is the simulator's output.
type Report struct {
	Apps        int      `json:"apps"`
	Functions   int      `json:"functions"`
	Invocations int      `json:"invocations"`
	Results     []Result `json:"results"`
	Curve       []Band   `json:"curve"`
	Checks      []Check  `json:"checks"`
}

// NewReport runs the default policies on the trace and builds the report.
func NewReport(t *Trace, c Config) (*Report, error) {
	res, err := Run(t, c, DefaultPolicies())
	if err != nil {
		return nil, err
	}
	r := &Report{Functions: len(t.Invocations), Results: res}
	if len(res) > 0 {
		r.Apps, r.Invocations = res[0].Apps, res[0].Invocations
	}
	for _, p := range res {
		for b := 0; b+1 < len(UtilisationBands); b++ {
			lo, hi := UtilisationBands[b], UtilisationBands[b+1]
			band := Band{Policy: p.Policy, Band: fmt.Sprintf("%g–%g%%", lo*100, min(hi, 1)*100)}
			var mem, on float64
			inv := 0
			for _, a := range p.PerApp {
				if a.Utilisation >= lo && a.Utilisation < hi {
					band.Apps++
					band.ColdStarts += a.ColdStarts
					inv += a.Invocations
					mem += a.MemoryGBSeconds
					on += a.AlwaysOnMemoryGBSeconds
				}
			}
			if band.Apps == 0 {
				continue
			}
			if on > 0 {
				band.Saving = 1 - mem/on
			}
			band.ColdRate = float64(band.ColdStarts) / float64(inv)
			r.Curve = append(r.Curve, band)
		}
	}
	r.Checks = append(r.Checks, r.seedClaim())
	for _, p := range res {
		if strings.HasPrefix(p.Policy, "hybrid") {
			r.Checks = append(r.Checks, r.paperCriterion(p.Policy))
		}
	}
	return r, nil
}

func (r *Report) result(name string) *Result {
	for i := range r.Results {
		if r.Results[i].Policy == name {
			return &r.Results[i]
		}
	}
	return nil
}

// seedClaim checks "costs down by 70% or more for low-utilisation
// workloads" with the default idle_timeout (60 s) on the apps under 5%
// utilisation.
func (r *Report) seedClaim() Check {
	c := Check{Claim: "≥ 70% saving for low-utilisation (< 5%) apps, idle_timeout 60 s"}
	var mem, on float64
	apps := 0
	if p := r.result("fixed 1m"); p != nil {
		for _, a := range p.PerApp {
			if a.Utilisation < 0.05 {
				apps++
				mem += a.MemoryGBSeconds
				on += a.AlwaysOnMemoryGBSeconds
			}
		}
	}
	if on == 0 {
		c.Detail = "no app under 5% utilisation"
		return c
	}
	s := 1 - mem/on
	c.Holds = s >= 0.7
	c.Detail = fmt.Sprintf("%.1f%% saving over %d apps", s*100, apps)
	return c
}

// paperCriterion checks the ATC'20 criterion for one hybrid policy: it
// wastes no more memory-time at rest (IdleMemoryGBSeconds: the keep-alive's
// waste, not the scale-out headroom every policy shares) than fixed 30 s,
// 10 min and 20 min, with at most half their 75th-percentile per-app
// cold-start rate.
func (r *Report) paperCriterion(hybrid string) Check {
	c := Check{Claim: hybrid + ": idle memory-time ≤ fixed 30s/10m/20m with ≤ ½ their p75 per-app cold-start rate"}
	h := r.result(hybrid)
	if h == nil {
		return c
	}
	c.Holds = true
	var parts []string
	for _, name := range []string{"fixed 30s", "fixed 10m", "fixed 20m"} {
		f := r.result(name)
		if f == nil {
			continue
		}
		waste := h.IdleMemoryGBSeconds <= f.IdleMemoryGBSeconds
		cold := h.ColdStartRateP75 <= f.ColdStartRateP75/2
		verdict := "ok"
		switch {
		case !waste && !cold:
			verdict = "more waste, cold starts over half"
		case !waste:
			verdict = "more waste"
		case !cold:
			verdict = "cold starts over half"
		}
		c.Holds = c.Holds && waste && cold
		parts = append(parts, fmt.Sprintf("vs %s: waste %.2f×, p75 cold %.1f%% vs %.1f%% (%s)", name,
			ratio(h.IdleMemoryGBSeconds, f.IdleMemoryGBSeconds), h.ColdStartRateP75*100, f.ColdStartRateP75*100, verdict))
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteTable prints the report as tables.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "trace: %d apps, %d functions, %d invocations\n\n", r.Apps, r.Functions, r.Invocations)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tINSTANCE-S\tMEM GB-S\tGPU GB-S\tWASTED MEM GB-S (AT REST)\tQUEUED\tCOLD STARTS\tCOLD % (P75 APP)\tQUEUE P50 / P99\tSAVING")
	for _, p := range r.Results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f (%.0f)\t%d\t%d\t%.2f%% (%.1f%%)\t%s / %s\t%.1f%%\n", p.Policy, p.InstanceSeconds, p.MemoryGBSeconds,
			p.GPUMemoryGBSeconds, p.WastedMemoryGBSeconds, p.IdleMemoryGBSeconds, p.Queued, p.ColdStarts, pct(p.ColdStarts, p.Invocations), p.ColdStartRateP75*100,
			p.QueueDelayP50.Round(time.Millisecond), p.QueueDelayP99.Round(time.Millisecond), p.Saving*100)
	}
	if len(r.Results) > 0 {
		p := r.Results[0]
		fmt.Fprintf(tw, "always on (peak)\t%.0f\t%.0f\t\t\t\t\t\t\t0%%\n", p.AlwaysOnInstanceSeconds, p.AlwaysOnMemoryGBSeconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nsaving (cold-start rate) by app utilisation:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var bands []string
	apps := map[string]int{}
	cell := map[[2]string]Band{}
	for _, b := range r.Curve {
		if _, ok := apps[b.Band]; !ok {
			bands = append(bands, b.Band)
		}
		apps[b.Band] = b.Apps
		cell[[2]string{b.Policy, b.Band}] = b
	}
	fmt.Fprint(tw, "POLICY")
	for _, b := range bands {
		fmt.Fprintf(tw, "\t%s (%d apps)", b, apps[b])
	}
	fmt.Fprintln(tw)
	for _, p := range r.Results {
		fmt.Fprint(tw, p.Policy)
		for _, b := range bands {
			c := cell[[2]string{p.Policy, b}]
			fmt.Fprintf(tw, "\t%.1f%% (%.1f%%)", c.Saving*100, c.ColdRate*100)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		verdict := "does not hold"
		if c.Holds {
			verdict = "holds"
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", c.Claim, verdict, c.Detail)
	}
	return nil
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func fmtDur(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
