package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"strconv"
)

// defaultModels is the registry size of the model list rows when -models
// is not given: the figure (the seed's "共100000条").
const defaultModels = 100_000

// modelListCases are the sub-benchmarks of BenchmarkListModels
// (store/storetest.BenchListModels) that the model list rows report, with
// how the rows name them.
var modelListCases = []struct{ bench, name string }{
	{"create_at", "sort_by create_at"},
	{"model_version", "sort_by model_version"},
	{"model_size", "sort_by model_size"},
	{"name", `model_name "digit" (1 in 8), sort_by create_at`},
	{"name_status", `model_name "DIGIT", model_status published, sort_by model_version`},
}

// modelScenarios runs the store benchmark BenchmarkListModels once on
// SQLite and, unless cfg.NoPG, on PostgreSQL, with cfg.Models models in one
// tenant (ATELIER_BENCH_MODELS), and turns its figures into two rows per
// case: the p50 (p99) of the first page and of the last (offset total-150)
// with their ratio (flat is 1), and ListModels against the one plain SQL
// statement that reads the same page and count (sqlstore's
// ListModelsPlain), called alternately on the same database.
func modelScenarios(ctx context.Context, logf func(string, ...any), cfg Config) ([]Row, error) {
	n := cmp.Or(cfg.Models, defaultModels)
	iters := 100
	if n < defaultModels {
		iters = 30
	}
	var rows []Row
	for _, b := range storeBackends(cfg) {
		logf("model list at %d models on %s", n, b.name)
		out, err := b.bench(ctx, cfg, "^BenchmarkListModels$", strconv.Itoa(iters)+"x", "ATELIER_BENCH_MODELS="+strconv.Itoa(n))
		if err != nil {
			return rows, err
		}
		for _, c := range modelListCases {
			name := fmt.Sprintf("Model list, %d models, pages of 150, %s: %s", n, b.name, c.name)
			first, ok1 := benchMetrics(out, "BenchmarkListModels/"+c.bench+"/first")
			last, ok2 := benchMetrics(out, "BenchmarkListModels/"+c.bench+"/last")
			if !ok1 || !ok2 {
				if bytes.Contains(out, []byte("SKIP")) {
					rows = append(rows, Row{Scenario: name, Figure: "page p50 (p99), first / last", Value: "not measured: no PostgreSQL"})
					continue
				}
				return rows, fmt.Errorf("%s: no BenchmarkListModels/%s lines in:\n%s", b.name, c.bench, out)
			}
			flat := last["p50-ms"] / first["p50-ms"]
			worst := max(first["x-plain"], last["x-plain"])
			rows = append(rows,
				Row{Scenario: name, Figure: "page p50 (p99), first / last",
					Value: fmt.Sprintf("%.2f (%.2f) / %.2f (%.2f) ms, last / first %.2f", first["p50-ms"], first["p99-ms"],
						last["p50-ms"], last["p99-ms"], flat),
					Goal: "last / first ≤ 1.5 (flat)", Verdict: verdictOf(flat <= 1.5)},
				Row{Scenario: name, Figure: "× one plain indexed SQL query (p50), first / last",
					Value: fmt.Sprintf("%.2f / %.2f (plain: %.2f / %.2f ms)", first["x-plain"], last["x-plain"],
						first["plain-p50-ms"], last["plain-p50-ms"]),
					Goal: "≤ 2×", Verdict: verdictOf(worst <= 2)},
			)
		}
	}
	return rows, nil
}
