package main

import (
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunQuick runs every scenario with tiny sizes against a freshly built
// server, so that the runner cannot rot between full runs.
func TestRunQuick(t *testing.T) {
	rows, err := Run(t.Context(), Config{Size: 8 << 20, PutsDuration: 500 * time.Millisecond, ListObjects: 2500, NoPG: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	figures := map[string]string{}
	for _, r := range rows {
		figures[r.Figure] = r.Value
		if r.Figure == "downloaded SHA-256 equals source" && r.Verdict != "PASS" {
			t.Errorf("downloaded file differs from the source: %+v", r)
		}
	}
	for _, want := range []string{"cp + sync (baseline)", "upload through the API", "download through the API",
		"upload / (cp + sync)", "download / (cp + sync)", "server peak RSS during transfers",
		"downloaded SHA-256 equals source", "PUTs/s", "latency p50 / p99", "walking all pages", "last / first"} {
		if _, ok := figures[want]; !ok {
			t.Errorf("no row %q in %v", want, slices.Collect(maps.Keys(figures)))
		}
	}
	if v := figures["walking all pages"]; !strings.Contains(v, "3 pages") {
		t.Errorf("walking 2500 objects in pages of 1000 took %q, want 3 pages", v)
	}
	var b strings.Builder
	printTable(&b, rows)
	if got := strings.Count(b.String(), "\n"); got != len(rows)+2 {
		t.Errorf("table has %d lines, want %d", got, len(rows)+2)
	}
}
