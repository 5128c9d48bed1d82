package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFnSimulate: the simulator runs offline, with no credentials: it
// writes a generated trace, reads it back and prints the same figures.
func TestFnSimulate(t *testing.T) {
	mustIsolate(t)
	dir := filepath.Join(t.TempDir(), "trace")
	code, table, stderr := runCLI(t, "", "fn", "simulate", "--generate", "--apps", "3", "--seed", "2", "--trace", dir)
	if code != exitOK || !strings.Contains(table, "always on (peak)") || !strings.Contains(table, "hybrid") {
		t.Fatalf("simulate --generate: exit %d\n%s\n%s", code, table, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "invocations_per_function_md.anon.d01.csv")); err != nil {
		t.Fatal(err)
	}
	code, again, stderr := runCLI(t, "", "fn", "simulate", "--trace", dir, "--seed", "2")
	if code != exitOK || again != table {
		t.Errorf("simulate --trace of the written files: exit %d, %s\n%s", code, stderr, again)
	}
	code, out, stderr := runCLI(t, "", "fn", "simulate", "--trace", dir, "-o", "json")
	var rep struct {
		Apps    int `json:"apps"`
		Results []struct {
			Policy string  `json:"policy"`
			Saving float64 `json:"saving"`
		} `json:"results"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.Apps == 0 || len(rep.Results) < 5 {
		t.Errorf("-o json: exit %d, %s\n%s", code, stderr, out)
	}
	for _, args := range [][]string{{"fn", "simulate"}, {"fn", "simulate", "--generate", "--concurrency", "0"}, {"fn", "simulate", "extra", "--generate"}} {
		if code, _, _ := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, _ := runCLI(t, "", "fn", "simulate", "--trace", t.TempDir()); code != exitRefused {
		t.Errorf("an empty trace directory: exit %d, want %d", code, exitRefused)
	}
}
