package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunQuick runs every scenario with tiny sizes against a freshly built
// server, so that the runner cannot rot between full runs. The id_token row
// may read "not measured: no JWKS" while the server has no JWKS route. PostgreSQL is
// measured when its binaries are installed; without them its rows must say
// so (and ATELIER_REQUIRE_PG=1 makes that a failure, as in internal/pgtest).
func TestRunQuick(t *testing.T) {
	cfg := Config{
		Size:         8 << 20,
		PutsDuration: time.Second,
		AuthDuration: time.Second,
		VerifyFor:    200 * time.Millisecond,
		ListObjects:  2500, // two full pages and a short one
		ListPG:       true,
		RequirePG:    os.Getenv("ATELIER_REQUIRE_PG") == "1",
		// Training: 3 timed submissions, 20 queued jobs, 1 MiB of log, 5
		// jobs streaming for 1 s.
		TrainSubmits:   3,
		TrainJobs:      20,
		TrainLogBytes:  1 << 20,
		TrainStreams:   5,
		TrainStreamFor: time.Second,
		// Datasets: 4,000 images, 1,000 of them labelled cat, two full
		// pages of 500.
		DatasetSamples: 4000,
		// Callbacks: 500 events per throughput run, 1 s at 500 events/s,
		// an outage of 1,000 events.
		CallbackEvents:    500,
		CallbackSteadyFor: time.Second,
		CallbackOutage:    1000,
		// Queue: claims among 1,000 queued items.
		QueueItems: 1000,
		// Models: the model list at 1,000 models.
		Models: 1000,
		// Login flood: 50 logins from 50 addresses.
		FloodLogins: 50,
		// Serving: 1 s per gateway target, a canary of 500 requests.
		ServingFor:     time.Second,
		CanaryRequests: 500,
	}
	rows, err := Run(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ scenario, figure string }
	got := map[key]Row{}
	for _, r := range rows {
		k := key{r.Scenario, r.Figure}
		if _, dup := got[k]; dup {
			t.Errorf("row %q / %q appears twice", r.Scenario, r.Figure)
		}
		got[k] = r
	}
	const (
		large     = "Large file 8.0 MiB"
		putsLite  = "4 KiB PUTs, 16 clients, SQLite"
		putsPG    = "4 KiB PUTs, 16 clients, PostgreSQL"
		listLite  = "Listing 2500 objects, pages of 1000, SQLite"
		listPG    = "Listing 2500 objects, pages of 1000, PostgreSQL"
		loginLite = "Logins, 4 clients, SQLite"
		loginPG   = "Logins, 4 clients, PostgreSQL"
		checkLite = "Session-token checks, 16 clients, SQLite"
		checkPG   = "Session-token checks, 16 clients, PostgreSQL"
		verify    = "id_token verifications (in-process, all cores)"
		train     = "Training, local executor, 2 slots, SQLite"
		trainLog  = "Training logs, local executor, SQLite"
		trainRSS  = "Training, 5 jobs streaming logs at once, SQLite"
		dsImpLite = "Dataset import, 4000 images, SQLite"
		dsImpPG   = "Dataset import, 4000 images, PostgreSQL"
		dsLstLite = "Dataset samples, label filter (1000 of 4000), pages of 500, SQLite"
		dsLstPG   = "Dataset samples, label filter (1000 of 4000), pages of 500, PostgreSQL"
		dsVerLite = "Dataset version, 4000 samples, SQLite"
		dsVerPG   = "Dataset version, 4000 samples, PostgreSQL"
		cbPlain   = "Callback throughput, plain, 16 clients, SQLite"
		cbEnc     = "Callback throughput, encrypted (AES-256-GCM), 16 clients, SQLite"
		cbLat     = "Commit → delivery latency at a steady 500 events/s, SQLite"
		cbOutage  = "Receiver outage of 1000 events, then recovery, SQLite"
		queueLite = "Queue: claims of 10 among 1000 queued items, SQLite"
		queuePG   = "Queue: claims of 10 among 1000 queued items, PostgreSQL"
		starts    = "Local executor: start → exit of `true`, one at a time"
		trainBox  = "Training: submit → RUNNING with and without the sandbox, 2 slots"
		flood     = "Login flood: 50 unknown emails from 50 addresses at once, SQLite"
		gwPredict = "Gateway overhead, ModelArts predict, 16 connections, 1 instance (Python runtime)"
		gwInfer   = "Gateway overhead, KServe V2 infer, 16 connections, 1 instance (Python runtime)"
		canary    = "Canary 90/10, 500 requests, 16 clients"
		rollout   = "Rollout to a new model version, 8 clients of constant load"
	)
	datasetRows := func(imp, lst, ver string) []key {
		return []key{
			{imp, "filling the directory (16 clients)"}, {imp, "import, created → COMPLETED"},
			{imp, "server RSS before the import"}, {imp, "server peak RSS during the import"},
			{lst, "walking all pages"}, {lst, "page latency p50 / p99"},
			{lst, "mean page, first 1 / last 1"}, {lst, "last / first"},
			{ver, "publish, created → NORMAL"}, {ver, "manifest object"},
		}
	}
	want := []key{
		{large, "cp (page cache only)"}, {large, "cp + sync (baseline)"},
		{large, "upload through the API"}, {large, "download through the API"},
		{large, "upload / (cp + sync)"}, {large, "download / (cp + sync)"},
		{large, "upload / cp"}, {large, "download / cp"},
		{large, "server RSS before the transfers"}, {large, "server peak RSS during transfers"}, {large, "downloaded SHA-256 equals source"},
		{putsLite, "PUTs/s"}, {putsLite, "latency p50 / p99"},
		{listLite, "filling it (16 clients)"}, {listLite, "walking all pages"},
		{listLite, "mean page, first 1 / last 1"}, {listLite, "last / first"},
		{loginLite, "argon2id parameters"}, {loginLite, "logins/s"}, {loginLite, "latency p50 / p99"},
		{checkLite, "checks/s"}, {checkLite, "latency p50 / p99"},
		{verify, "verifications/s"},
		{train, "submit → RUNNING, p50 / p99"}, {train, "submitting 20 jobs (one client)"},
		{train, "drained, first submit → last end"}, {train, "lost"},
		{trainLog, "live log throughput"}, {trainLog, "line written → received, p50 / p99"},
		{cbPlain, "events/s, first commit → last delivery"}, {cbPlain, "commits/s (creating the organizations alone)"},
		{cbEnc, "events/s, first commit → last delivery"}, {cbEnc, "commits/s (creating the organizations alone)"},
		{cbLat, "latency p50 / p99, createdAt → acknowledged"}, {cbLat, "achieved commit rate"},
		{cbOutage, "commits/s while the receiver is down"}, {cbOutage, "server peak RSS during the outage"},
		{cbOutage, "database on disk at the end of the outage"}, {cbOutage, "failed attempts during the outage"},
		{cbOutage, "dead-lettered during the outage"}, {cbOutage, "drain, recovery → last event acknowledged"},
		{flood, "server peak RSS (idle before)"}, {flood, "/healthz p99 during the flood"},
		{flood, "legitimate login from another address"}, {flood, "flood answers"},
	}
	want = append(want, datasetRows(dsImpLite, dsLstLite, dsVerLite)...)
	want = append(want, key{queueLite, "claims/s, first 10% / last 10%"}, key{queueLite, "last / first"})
	modelRows := func(backend string, measured bool) []key {
		var out []key
		for _, c := range modelListCases {
			name := "Model list, 1000 models, pages of 150, " + backend + ": " + c.name
			out = append(out, key{name, "page p50 (p99), first / last"})
			if measured {
				out = append(out, key{name, "× one plain indexed SQL query (p50), first / last"})
			}
		}
		return out
	}
	want = append(want, modelRows("SQLite", true)...)
	if got[key{starts, "sandbox overhead p50 / p99"}].Value == "not measured: no bubblewrap" {
		t.Log("bubblewrap is not installed; the sandbox rows say so")
		want = append(want, key{starts, "sandbox overhead p50 / p99"}, key{trainBox, "ATELIER_SANDBOX=bwrap, p50 / p99"})
	} else {
		want = append(want, key{starts, "bare p50 / p99"}, key{starts, "sandboxed p50 / p99"}, key{starts, "sandbox overhead p50 / p99"},
			key{trainBox, "ATELIER_SANDBOX=none, p50 / p99"}, key{trainBox, "ATELIER_SANDBOX=bwrap, p50 / p99"})
	}
	noPython := got[key{trainLog, "live log throughput"}].Value == "not measured: no python3"
	if noPython {
		t.Log("python3 is not installed; the log and serving rows say so")
		want = append(want, key{trainRSS, "server peak RSS"},
			key{gwPredict, "gateway / direct throughput"}, key{canary, "shares"}, key{rollout, "failed requests"})
	} else {
		want = append(want, key{trainRSS, "server RSS before the jobs"}, key{trainRSS, "server peak RSS"}, key{trainRSS, "streams complete"})
		for _, gw := range []struct{ sc, direct, gateway string }{
			{gwPredict, "POST /", "POST /v1/services/{id}/predict"},
			{gwInfer, "POST /v2/models/{name}/infer", "POST /v2/models/{name}/infer"},
		} {
			want = append(want, key{gw.sc, "direct to the instance (" + gw.direct + "): req/s, p50 / p99"},
				key{gw.sc, "through the gateway (" + gw.gateway + "): req/s, p50 / p99"},
				key{gw.sc, "gateway / direct throughput"}, key{gw.sc, "p50 added by the gateway"}, key{gw.sc, "CPU per request: server / instance"})
		}
		want = append(want, key{gwPredict, "reference: authentication alone (GET /v1/auth/whoami): req/s, p50, server CPU per request"})
		want = append(want, key{canary, "share of model version 1.0.0 (weight 90)"}, key{canary, "share of model version 2.0.0 (weight 10)"},
			key{rollout, "failed requests"}, key{rollout, "update → new version running, old instance gone"}, key{rollout, "answers per version"})
		// Correctness, not speed: the canary splits exactly (smooth
		// weighted round robin) and the rollout drops nothing.
		for _, k := range []key{{canary, "share of model version 1.0.0 (weight 90)"}, {canary, "share of model version 2.0.0 (weight 10)"}, {rollout, "failed requests"}} {
			if r := got[k]; r.Verdict != "PASS" {
				t.Errorf("%s / %s: %s", k.scenario, k.figure, r.Value)
			}
		}
	}
	pgMissing := got[key{putsPG, "PUTs/s"}].Value == "not measured: no PostgreSQL"
	if pgMissing {
		t.Log("PostgreSQL is not installed; its rows say so")
		want = append(want, key{listPG, "last / first"}, key{loginPG, "logins/s"}, key{checkPG, "checks/s"}, key{dsImpPG, "import, created → COMPLETED"},
			key{queuePG, "claims/s, first 10% / last 10%"})
		want = append(want, modelRows("PostgreSQL", false)...)
	} else {
		want = append(want, key{putsPG, "PUTs/s"}, key{putsPG, "latency p50 / p99"},
			key{listPG, "filling it (16 clients)"}, key{listPG, "walking all pages"},
			key{listPG, "mean page, first 1 / last 1"}, key{listPG, "last / first"},
			key{loginPG, "argon2id parameters"}, key{loginPG, "logins/s"}, key{loginPG, "latency p50 / p99"},
			key{checkPG, "checks/s"}, key{checkPG, "latency p50 / p99"})
		want = append(want, datasetRows(dsImpPG, dsLstPG, dsVerPG)...)
		want = append(want, key{queuePG, "claims/s, first 10% / last 10%"}, key{queuePG, "last / first"})
		want = append(want, modelRows("PostgreSQL", true)...)
	}
	// The simulator's rows: its scenario names the generated day, so it
	// is taken from the rows; every policy has its cost and its curve, and
	// the claims are checked (their verdicts are the trace's, not a bug).
	var sim string
	for _, r := range rows {
		if strings.HasPrefix(r.Scenario, "Function cost simulator") {
			sim = r.Scenario
			break
		}
	}
	if sim == "" {
		t.Error("no function cost simulator rows")
	}
	for _, p := range []string{"fixed 30s", "fixed 1m", "fixed 10m", "fixed 20m", "hybrid", "hybrid, fallback 10m"} {
		want = append(want, key{sim, "keep-alive " + p}, key{sim, "saving by app utilisation, " + p})
	}
	claims := 0
	for _, r := range rows {
		if r.Scenario == sim && r.Goal == "holds" {
			want = append(want, key{sim, r.Figure})
			claims++
		}
	}
	if claims == 0 {
		t.Error("the simulator checked no claim")
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no row %q / %q", k.scenario, k.figure)
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}

	if r := got[key{large, "downloaded SHA-256 equals source"}]; r.Verdict != "PASS" {
		t.Errorf("downloaded file differs from the source: %+v", r)
	}
	for _, k := range []key{{listLite, "walking all pages"}, {listPG, "walking all pages"}} {
		if r, ok := got[k]; ok && !strings.Contains(r.Value, "3 pages, all keys in order") {
			t.Errorf("%s: walking 2500 objects in pages of 1000 gave %q, want 3 pages with all keys in order", k.scenario, r.Value)
		}
	}
	for _, k := range []key{{loginLite, "argon2id parameters"}, {loginPG, "argon2id parameters"}} {
		if r, ok := got[k]; ok && !strings.HasPrefix(r.Value, "19 MiB, 2 passes, 1 lane") {
			t.Errorf("%s: argon2id parameters %q, want the shipped 19 MiB, 2 passes, 1 lane", k.scenario, r.Value)
		}
	}
	for _, k := range []key{{loginLite, "logins/s"}, {loginPG, "logins/s"}, {checkLite, "checks/s"}, {checkPG, "checks/s"}} {
		if r, ok := got[k]; ok && !strings.HasPrefix(r.Value, "not measured") && (r.Value == "" || strings.Contains(r.Value, "(0 in ")) {
			t.Errorf("%s: %s = %q, want a positive rate", k.scenario, k.figure, r.Value)
		}
	}
	if r := got[key{train, "lost"}]; r.Verdict != "PASS" || !strings.HasPrefix(r.Value, "0 (20 of 20 COMPLETED)") {
		t.Errorf("drain lost jobs: %+v", r)
	}
	if r := got[key{train, "drained, first submit → last end"}]; !strings.Contains(r.Value, "jobs/s (20 in ") || strings.HasPrefix(r.Value, "0.0 ") {
		t.Errorf("drain rate = %q, want a positive rate of 20 jobs", r.Value)
	}
	if !noPython {
		if r := got[key{trainRSS, "streams complete"}]; r.Verdict != "PASS" || !strings.HasPrefix(r.Value, "5 of 5 (100 lines each") {
			t.Errorf("streams incomplete: %+v", r)
		}
		if r := got[key{trainLog, "live log throughput"}]; !strings.Contains(r.Value, "MB/s (1.0 MiB, 1024 lines in order") {
			t.Errorf("log throughput = %q, want 1 MiB in 1024 lines", r.Value)
		}
	}
	for _, imp := range []string{dsImpLite, dsImpPG} {
		if r, ok := got[key{imp, "import, created → COMPLETED"}]; ok && !strings.HasPrefix(r.Value, "not measured") &&
			(!strings.Contains(r.Value, "samples/s (4000 in ") || strings.HasPrefix(r.Value, "0 ")) {
			t.Errorf("%s: import = %q, want a positive rate of 4000 samples", imp, r.Value)
		}
	}
	for _, lst := range []string{dsLstLite, dsLstPG} {
		if r, ok := got[key{lst, "walking all pages"}]; ok && !strings.Contains(r.Value, "(2 pages, 1000 samples, each once, all labelled cat)") {
			t.Errorf("%s: walk = %q, want 2 pages of the 1000 samples labelled cat", lst, r.Value)
		}
	}
	for _, ver := range []string{dsVerLite, dsVerPG} {
		if r, ok := got[key{ver, "manifest object"}]; ok && r.Verdict != "PASS" {
			t.Errorf("%s: manifest object %+v, want it at the seed's path and not empty", ver, r)
		}
	}
	for _, sc := range []string{cbPlain, cbEnc} {
		if r := got[key{sc, "events/s, first commit → last delivery"}]; !strings.Contains(r.Value, "(500 in ") || strings.HasPrefix(r.Value, "0 ") {
			t.Errorf("%s: %q, want a positive rate of 500 acknowledged events", sc, r.Value)
		}
	}
	if r := got[key{cbLat, "latency p50 / p99, createdAt → acknowledged"}]; !strings.Contains(r.Value, "ms (500 events)") {
		t.Errorf("callback latency = %q, want p50 / p99 over 500 events", r.Value)
	}
	if r := got[key{cbOutage, "drain, recovery → last event acknowledged"}]; !strings.Contains(r.Value, "(1000 events, ") {
		t.Errorf("outage drain = %q, want all 1000 events", r.Value)
	}
	// The JWKS route may not exist yet; the row must then say so.
	if r := got[key{verify, "verifications/s"}]; r.Value != "not measured: no JWKS" && !strings.Contains(r.Value, "RS256") {
		t.Errorf("id_token verifications = %q, want a rate with the key size or \"not measured: no JWKS\"", r.Value)
	}
	for _, r := range rows {
		if r.Goal != "" && !strings.HasPrefix(r.Value, "not measured") && r.Verdict != "PASS" && r.Verdict != "MISS" {
			t.Errorf("row with a goal has no verdict: %+v", r)
		}
	}

	var b strings.Builder
	printTable(&b, rows)
	if got := strings.Count(b.String(), "\n"); got != len(rows)+2 {
		t.Errorf("table has %d lines, want %d", got, len(rows)+2)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GiB", 1 << 30, true},
		{"32MiB", 32 << 20, true},
		{"4KiB", 4 << 10, true},
		{"1000", 1000, true},
		{"0", 0, false},
		{"-1MiB", 0, false},
		{"MiB", 0, false},
		{"1.5GiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
