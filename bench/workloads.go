package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/localexec"
)

// Scenario names of the workload rows.
const (
	sandboxScenario      = "Local executor: start → exit of `true`, one at a time"
	trainSandboxScenario = "Training: submit → RUNNING with and without the sandbox, 2 slots"
	sandboxOverheadGoal  = "< 20 ms p50"
)

// workloadScenarios measures what the sandbox costs: a sandboxed start
// against a bare one of the same trivial command through the portable
// executor (interleaved, in this process), and the training server's
// submit → RUNNING latency with the sandbox and without it.
func workloadScenarios(ctx context.Context, logf func(string, ...any), bin, work string, cfg Config) ([]Row, error) {
	n := cfg.SandboxStarts
	if n == 0 {
		n = 100
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		logf("workloads: no bubblewrap, the sandbox rows are not measured")
		return []Row{
			{Scenario: sandboxScenario, Figure: "sandbox overhead p50 / p99", Value: "not measured: no bubblewrap", Goal: sandboxOverheadGoal},
			{Scenario: trainSandboxScenario, Figure: "ATELIER_SANDBOX=bwrap, p50 / p99", Value: "not measured: no bubblewrap"},
		}, nil
	}
	logf("workloads: %d sandboxed and %d bare starts, interleaved", n, n)
	bare, boxed, err := startPairs(ctx, filepath.Join(work, "starts"), n)
	if err != nil {
		return nil, fmt.Errorf("starts: %w", err)
	}
	b50, b99 := pct(bare, 50), pct(bare, 99)
	s50, s99 := pct(boxed, 50), pct(boxed, 99)
	rows := []Row{
		{Scenario: sandboxScenario, Figure: "bare p50 / p99", Value: fmt.Sprintf("%s / %s (%s)", ms(b50), ms(b99), plural(n, "start"))},
		{Scenario: sandboxScenario, Figure: "sandboxed p50 / p99", Value: fmt.Sprintf("%s / %s", ms(s50), ms(s99))},
		{Scenario: sandboxScenario, Figure: "sandbox overhead p50 / p99", Value: fmt.Sprintf("%s / %s", ms(s50-b50), ms(s99-b99)),
			Goal: sandboxOverheadGoal, Verdict: verdictOf(s50-b50 < 20*time.Millisecond)},
	}

	tc := trainConfig(cfg)
	modes := []string{localexec.SandboxNone, localexec.SandboxBwrap}
	if cfg.BeforeBin != "" {
		modes = append([]string{"before"}, modes...)
	}
	lats := map[string][]time.Duration{}
	for _, mode := range modes {
		logf("workloads: training submit → RUNNING, %s, %d jobs", mode, tc.TrainSubmits)
		b, env := bin, []string{"ATELIER_TRAINING_SLOTS=2", "ATELIER_SANDBOX=" + mode}
		if mode == "before" {
			b, env = cfg.BeforeBin, env[:1]
		}
		srv, err := startServer(ctx, b, filepath.Join(work, "train-"+mode), env)
		if err != nil {
			return rows, err
		}
		c, err := srv.login(ctx)
		if err != nil {
			srv.stop()
			return rows, err
		}
		lat, err := submitLatencies(ctx, c, tc.TrainSubmits)
		srv.stop()
		if err != nil {
			return rows, fmt.Errorf("submit latency (%s): %w", mode, err)
		}
		lats[mode] = lat
		figure := map[string]string{"before": "-before-bin (no sandbox yet)", localexec.SandboxNone: "ATELIER_SANDBOX=none", localexec.SandboxBwrap: "ATELIER_SANDBOX=bwrap"}[mode]
		row := Row{Scenario: trainSandboxScenario, Figure: figure + ", p50 / p99",
			Value: fmt.Sprintf("%s / %s (%s, one at a time)", ms(pct(lat, 50)), ms(pct(lat, 99)), plural(len(lat), "job"))}
		if mode == localexec.SandboxBwrap {
			// The sandbox adds nothing before RUNNING (the gate opens after
			// the workers are recorded): compare with the unsandboxed run of
			// the same binary, or with the binary from before when given.
			base := lats[localexec.SandboxNone]
			if before, ok := lats["before"]; ok {
				base = before
			}
			row.Goal = fmt.Sprintf("p50 ≤ %s ×1.1 + 2 ms (before the sandbox: 12.8 / 20.4 ms, issue 12)", map[bool]string{true: "-before-bin's", false: "unsandboxed"}[cfg.BeforeBin != ""])
			row.Verdict = verdictOf(pct(lat, 50) <= pct(base, 50)*11/10+2*time.Millisecond)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// startPairs starts `true` n times sandboxed and n times bare, alternating,
// through the portable executor over the local driver, and returns each
// start → exit time.
func startPairs(ctx context.Context, dir string, n int) (bare, boxed []time.Duration, err error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(mode string) (*executor.Executor, error) {
		d, err := localexec.New(ctx, localexec.Options{
			StateDir: filepath.Join(dir, mode, "driver"), Sandbox: mode, SearchRoots: []string{dir},
			PollInterval: time.Millisecond, Logger: quiet,
		})
		if err != nil {
			return nil, err
		}
		return executor.Open(ctx, d, executor.Options{StateDir: filepath.Join(dir, mode, "journal"), Slots: 2, Logger: quiet})
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, nil, err
	}
	exs := map[string]*executor.Executor{}
	for _, mode := range []string{localexec.SandboxNone, localexec.SandboxBwrap} {
		ex, err := open(mode)
		if err != nil {
			return nil, nil, err
		}
		defer ex.Close()
		exs[mode] = ex
	}
	run := func(mode string, i int) (time.Duration, error) {
		wd := filepath.Join(dir, mode, fmt.Sprintf("w%d", i))
		if err := os.MkdirAll(wd, 0o700); err != nil {
			return 0, err
		}
		t0 := time.Now()
		h, err := exs[mode].Submit(ctx, &executor.Spec{ID: fmt.Sprintf("start-%d", i), Workers: 1, Command: []string{"true"}, Dir: wd})
		if err != nil {
			return 0, err
		}
		st, err := exs[mode].Wait(ctx, h)
		if err != nil {
			return 0, err
		}
		if !st.Exit.Success() {
			return 0, fmt.Errorf("%s start %d: %+v", mode, i, st.Exit)
		}
		return time.Since(t0), nil
	}
	for i := range n {
		for _, mode := range []string{localexec.SandboxNone, localexec.SandboxBwrap} {
			d, err := run(mode, i)
			if err != nil {
				return nil, nil, err
			}
			if mode == localexec.SandboxNone {
				bare = append(bare, d)
			} else {
				boxed = append(boxed, d)
			}
		}
	}
	slices.Sort(bare)
	slices.Sort(boxed)
	return bare, boxed, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
