package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/function/sim"
)

// Sizes of the simulator rows: a generated day small enough to replay in a
// few seconds.
const (
	simulateApps = 30
	simulateSeed = 1
)

// simulateScenarios replays a generated day in the Azure Functions 2019
// schema against the autoscaler and each keep-alive policy (function/sim)
// and returns the simulator's table as rows: one per policy, the saving
// curve by app utilisation, and the seed's and the paper's claims.
func simulateScenarios(logf func(string, ...any)) ([]Row, error) {
	logf("function cost simulator: a generated day of %d apps, seed %d", simulateApps, simulateSeed)
	start := time.Now()
	tr := sim.Generate(sim.GenerateConfig{Apps: simulateApps, Seed: simulateSeed})
	rep, err := sim.NewReport(tr, sim.Config{Seed: simulateSeed, GPUMemoryMB: 4096})
	if err != nil {
		return nil, err
	}
	scenario := fmt.Sprintf("Function cost simulator (generated day: %d apps, %d invocations; 4 GB GPU memory, 300 ms cold start)", rep.Apps, rep.Invocations)
	var rows []Row
	for _, p := range rep.Results {
		rows = append(rows, Row{Scenario: scenario, Figure: "keep-alive " + p.Policy,
			Value: fmt.Sprintf("saving %.1f%% vs always-on; %.0f instance-s, %.0f GPU-GB-s, %.0f GB-s wasted (%.0f at rest); %d cold starts (%.2f%%, p75 app %.1f%%); queue p99 %s",
				p.Saving*100, p.InstanceSeconds, p.GPUMemoryGBSeconds, p.WastedMemoryGBSeconds, p.IdleMemoryGBSeconds, p.ColdStarts,
				100*float64(p.ColdStarts)/float64(max(p.Invocations, 1)), p.ColdStartRateP75*100, p.QueueDelayP99.Round(time.Millisecond))})
	}
	curve := map[string][]string{}
	for _, b := range rep.Curve {
		curve[b.Policy] = append(curve[b.Policy], fmt.Sprintf("%s (%d apps): %.1f%% (cold %.1f%%)", b.Band, b.Apps, b.Saving*100, b.ColdRate*100))
	}
	for _, p := range rep.Results {
		rows = append(rows, Row{Scenario: scenario, Figure: "saving by app utilisation, " + p.Policy, Value: strings.Join(curve[p.Policy], "; ")})
	}
	for _, c := range rep.Checks {
		rows = append(rows, Row{Scenario: scenario, Figure: c.Claim, Value: c.Detail, Goal: "holds", Verdict: verdictOf(c.Holds)})
	}
	logf("function cost simulator: %s", time.Since(start).Round(time.Millisecond))
	return rows, nil
}
