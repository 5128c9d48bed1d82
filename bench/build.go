package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Cold build figures of the README (issue 13, item 11): the baseline they
// were first measured at, with gocloud.dev's portable blob layer (its
// OpenTelemetry and gRPC dependencies included).
const (
	coldBuildBaselineCPU = 292 * time.Second // user + system
	coldBuildGoal        = 0.5               // of the baseline CPU
)

// buildScenarios times `go build ./cmd/atelier` with an empty build cache
// (the module cache as it is: nothing is downloaded), and counts what goes
// into the binary: the packages (`go list -deps`), the modules
// (`go version -m`) and its size. CPU time (user + system of the go
// command and its compilers) is the figure to compare across machines and
// loads; wall time depends on both. It takes minutes: it runs with -only
// build, never in the full run.
func buildScenarios(ctx context.Context, logf func(string, ...any), work string) ([]Row, error) {
	const scenario = "Cold build of ./cmd/atelier (empty GOCACHE, module cache filled)"
	cache, err := os.MkdirTemp(work, "gocache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cache)
	bin := filepath.Join(work, "atelier-cold")
	logf("cold build (minutes)")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/atelier")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "GOCACHE="+cache)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	wall := time.Since(start)
	// wait4's usage of the go command includes its children's, the
	// compilers and the linker (Linux: RUSAGE_BOTH of the child).
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	deps, err := exec.CommandContext(ctx, "go", "list", "-deps", "./cmd/atelier").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	mods, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go version -m: %w", err)
	}
	nmods := 0
	for _, l := range strings.Split(string(mods), "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "dep" || f[0] == "=>") {
			nmods++
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	verdict := "MISS"
	if float64(cpu) <= coldBuildGoal*float64(coldBuildBaselineCPU) {
		verdict = "PASS"
	}
	return []Row{
		{scenario, "packages (go list -deps) / modules (go version -m) / binary", fmt.Sprintf("%d / %d / %.1f MB",
			len(strings.Fields(string(deps))), nmods, float64(st.Size())/1e6), "", ""},
		{scenario, "CPU time (user + system), wall time", fmt.Sprintf("%s, %s", cpu.Round(time.Second), wall.Round(time.Second)),
			fmt.Sprintf("CPU ≤ %s (half of the %s first measured)", time.Duration(coldBuildGoal*float64(coldBuildBaselineCPU)).Round(time.Second), coldBuildBaselineCPU), verdict},
	}, nil
}
