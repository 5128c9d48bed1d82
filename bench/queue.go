package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// defaultQueueItems is the backlog of the queue rows when -queue-items is
// not given: short, since the rows fill a store item by item; the issue's
// figure is -queue-items 100000.
const defaultQueueItems = 10_000

// queueScenarios runs the store's shared benchmark BenchmarkStore/QueueClaim
// (store/storetest) once on SQLite and, unless cfg.NoPG, on PostgreSQL, with
// cfg.QueueItems queued items, and turns its figures into rows: claims/s
// over the first and the last 10% of the items, and their ratio (flat is
// 1).
func queueScenarios(ctx context.Context, logf func(string, ...any), cfg Config) ([]Row, error) {
	n := cmp.Or(cfg.QueueItems, defaultQueueItems)
	var rows []Row
	for _, b := range storeBackends(cfg) {
		name := fmt.Sprintf("Queue: claims of 10 among %d queued items, %s", n, b.name)
		logf("queue claims of %d items on %s", n, b.name)
		out, err := b.bench(ctx, cfg, "^BenchmarkStore$/^QueueClaim$", "1x", "ATELIER_BENCH_QUEUE_ITEMS="+strconv.Itoa(n))
		if err != nil {
			return rows, err
		}
		m, ok := benchMetrics(out, "BenchmarkStore/QueueClaim")
		if !ok {
			if bytes.Contains(out, []byte("SKIP")) {
				rows = append(rows, Row{Scenario: name, Figure: "claims/s, first 10% / last 10%", Value: "not measured: no PostgreSQL"})
				continue
			}
			return rows, fmt.Errorf("%s: no BenchmarkStore/QueueClaim line in:\n%s", b.name, out)
		}
		first, last := m["first10%_claims/s"], m["last10%_claims/s"]
		ratio := last / first
		rows = append(rows,
			Row{Scenario: name, Figure: "claims/s, first 10% / last 10%", Value: fmt.Sprintf("%.0f / %.0f", first, last)},
			Row{Scenario: name, Figure: "last / first", Value: fmt.Sprintf("%.2f", ratio), Goal: "≥ 0.67 (flat)", Verdict: verdictOf(ratio >= 0.67)},
		)
	}
	return rows, nil
}

// storeBackend is a store package whose benchmarks the runner runs.
type storeBackend struct{ name, pkg string }

// storeBackends are SQLite and, unless cfg.NoPG, PostgreSQL.
func storeBackends(cfg Config) []storeBackend {
	bs := []storeBackend{{"SQLite", "./store/sqlitestore"}}
	if !cfg.NoPG {
		bs = append(bs, storeBackend{"PostgreSQL", "./store/pgstore"})
	}
	return bs
}

// bench runs the benchmarks matching pattern in b's package, benchtime
// each, with env added (and ATELIER_REQUIRE_PG with cfg.RequirePG), and
// returns go test's output.
func (b storeBackend) bench(ctx context.Context, cfg Config, pattern, benchtime string, env ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, b.pkg)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), env...)
	if cfg.RequirePG {
		cmd.Env = append(cmd.Env, "ATELIER_REQUIRE_PG=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: go test -bench: %w\n%s", b.name, err, out)
	}
	return out, nil
}

// benchMetrics reads the figures ("value unit" pairs) of the benchmark
// line of name in go test's output.
func benchMetrics(out []byte, name string) (map[string]float64, bool) {
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) < 3 || !strings.HasPrefix(fields[0], name+"-") && fields[0] != name {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			m[fields[i+1]] = v
		}
		return m, true
	}
	return nil, false
}
