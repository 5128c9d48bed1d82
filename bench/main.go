// Command bench measures the object store and identity end to end against
// a real `atelier server` process and prints a Markdown table of the figures
// the foundation and identity issues ask for: large-file throughput against
// cp on the same disk, server memory while streaming, small PUTs per second
// on SQLite and PostgreSQL, walking a large listing page by page, logins and
// session-token checks per second, id_token verifications per second, and
// training jobs on the local executor: submit → RUNNING latency, draining a
// queue, live log throughput and latency, and server memory with many
// jobs streaming their logs; and datasets: importing a directory of tiny
// images (samples/s and server memory), listing the samples of one label
// page by page, and publishing a version as a manifest; and event
// callbacks: delivery throughput (plain and encrypted), commit → delivery
// latency at a steady rate, and a receiver outage with its recovery; and
// the store's model list at 100,000 models, first and last page of every
// sort and of a name filter, against one plain indexed SQL query.
//
//	go run ./bench                  # full sizes: 1 GiB, 10 s of PUTs and of logins, 100,000 objects and samples
//	go run ./bench -quick           # a smoke run of a few seconds
//	go run ./bench -only datasets   # the dataset rows only
//	go run ./bench -only callbacks  # the event callback rows only
//	go run ./bench -only queue -queue-items 100000  # the queue claim rows at the size
//	go run ./bench -only models     # the model list rows (100,000 models, SQLite and PostgreSQL)
//	go run ./bench -only logins     # the login flood rows only
//	go run ./bench -only serving    # the inference service rows: gateway overhead, canary, rollout
//	go run ./bench -only build      # a cold build of the server (minutes; never in the full run)
//	go run ./bench -only simulate   # the function cost simulator's table (a generated day, seconds)
//
// Everything talks to 127.0.0.1 only and is bounded in time.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/internal/jwt"
	"github.com/atelier-dev/atelier/internal/pgtest"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

const (
	adminEmail    = "bench@atelier.local"
	adminPassword = "bench password 123"
	putClients    = 16
	putSize       = 4 << 10
	listPage      = 1000
	loginClients  = 4  // a 2-core box: more only queues behind argon2id
	checkClients  = 16 // like the PUTs
)

// Config selects the sizes of a run. It is a plain value.
type Config struct {
	Bin          string        // server binary; built when empty
	Size         int64         // bytes of the large file
	PutsDuration time.Duration // measured time of the small-PUT run
	AuthDuration time.Duration // measured time of the login and of the session-check run; 10 s when zero
	VerifyFor    time.Duration // time spent verifying id_tokens; 1 s when zero
	ListObjects  int           // objects in the listing
	ListPG       bool          // also walk the listing on PostgreSQL
	NoPG         bool          // measure nothing on PostgreSQL
	RequirePG    bool          // fail when PostgreSQL is missing
	Keep         bool          // keep the work directory
	// Training sizes; zero takes the full run's value.
	TrainSubmits   int           // trivial jobs timed submit → RUNNING, one at a time; 20
	TrainJobs      int           // trivial jobs queued at once and drained with 2 slots; 200
	TrainLogBytes  int64         // bytes the log-throughput job writes; 50 MiB
	TrainStreams   int           // jobs streaming their logs at once for the RSS row; 50
	TrainStreamFor time.Duration // how long each of them prints a line every 10 ms; 5 s
	// DatasetSamples is the number of images imported, listed and
	// published by the dataset scenarios; 100,000 when zero.
	DatasetSamples int
	// Callback sizes; zero takes the full run's value.
	CallbackEvents    int           // events committed by each callback throughput run; 20,000
	CallbackSteadyFor time.Duration // how long the run at a steady 500 events/s lasts; 10 s
	CallbackOutage    int           // events committed while the receiver is down; 100,000
	// BeforeBin, when set, is a server binary from before the sandbox
	// (e.g. built from 4963891); the workload rows then time its submit →
	// RUNNING latency too, in the same run.
	BeforeBin string
	// SandboxStarts is the number of sandboxed (and of bare) starts the
	// workload rows time; 100 when zero.
	SandboxStarts int
	// QueueItems is the backlog of the queue claim rows; 10,000 when zero.
	QueueItems int
	// Models is the registry size of the model list rows; 100,000 when
	// zero.
	Models int
	// FloodLogins is the size of the login flood; 400 when zero.
	FloodLogins int
	// Only restricts the run to one group of scenarios: "" runs them all,
	// "datasets" only the dataset rows (on SQLite and PostgreSQL),
	// "callbacks" only the callback rows, "queue" only the queue rows,
	// "models" only the model list rows, "workloads" only the sandbox rows,
	// "logins" only the login flood rows, "serving" only the inference
	// service rows, "simulate" only the function cost simulator's rows.
	Only string
	// Serving sizes; zero takes the full run's value.
	ServingFor     time.Duration // measured time of each gateway overhead target; 10 s
	CanaryRequests int           // requests of the 90/10 canary row; 10,000
}

// Row is one line of the result table. It is a plain value.
type Row struct {
	Scenario string `json:"scenario"`
	Figure   string `json:"figure"`
	Value    string `json:"value"`
	Goal     string `json:"goal,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
}

func main() {
	cfg := Config{}
	quick := flag.Bool("quick", false, "tiny sizes for a smoke run (32 MiB, 2 s, 5,000 objects, 0.2 s of id_token verifications, 5/40 jobs, 5 MiB of log, 10 streams, 5,000 dataset samples, 2,000 callback events, 2 s at 500 events/s and an outage of 10,000, 2,000 queued items, 10,000 models, 2 s per gateway target and a canary of 2,000 requests, each unless set)")
	size := flag.String("size", "1GiB", "size of the large file (bytes, or with KiB/MiB/GiB)")
	out := flag.String("o", "table", "output: table or json")
	flag.StringVar(&cfg.Bin, "bin", "", "server binary (default: build ./cmd/atelier)")
	flag.DurationVar(&cfg.PutsDuration, "puts-duration", 10*time.Second, "measured duration of the 4 KiB PUT run")
	flag.DurationVar(&cfg.AuthDuration, "logins-duration", 10*time.Second, "measured duration of the login run and of the session-token check run")
	flag.IntVar(&cfg.ListObjects, "list-objects", 100_000, "objects in the listing scenario")
	flag.BoolVar(&cfg.ListPG, "list-pg", false, "also walk the listing on PostgreSQL")
	flag.BoolVar(&cfg.RequirePG, "require-pg", false, "fail when PostgreSQL binaries are missing")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the work directory")
	flag.IntVar(&cfg.TrainSubmits, "train-submits", 20, "trivial jobs timed from submit to RUNNING, one at a time")
	flag.IntVar(&cfg.TrainJobs, "train-jobs", 200, "trivial jobs queued at once and drained with 2 slots")
	trainLog := flag.String("train-log", "50MiB", "bytes the log-throughput job writes")
	flag.IntVar(&cfg.TrainStreams, "train-streams", 50, "jobs streaming their logs at once for the RSS row")
	flag.DurationVar(&cfg.TrainStreamFor, "train-stream-for", 5*time.Second, "how long each streaming job prints a line every 10 ms")
	flag.IntVar(&cfg.DatasetSamples, "dataset-samples", 100_000, "images imported, listed and published by the dataset scenarios")
	flag.IntVar(&cfg.CallbackEvents, "callback-events", 20_000, "events committed by each callback throughput run")
	flag.DurationVar(&cfg.CallbackSteadyFor, "callback-steady-for", 10*time.Second, "how long the callback latency run creates 500 events/s")
	flag.IntVar(&cfg.CallbackOutage, "callback-outage", 100_000, "events committed while the callback receiver is down")
	flag.StringVar(&cfg.BeforeBin, "before-bin", "", "a server binary from before the sandbox, timed beside this one by the workload rows")
	flag.IntVar(&cfg.SandboxStarts, "sandbox-starts", 100, "sandboxed and bare starts timed by the workload rows")
	flag.IntVar(&cfg.QueueItems, "queue-items", defaultQueueItems, "items queued in the store for the queue claim rows (the issue's figure: 100000)")
	flag.IntVar(&cfg.Models, "models", defaultModels, "models registered in the store for the model list rows")
	flag.IntVar(&cfg.FloodLogins, "flood-logins", defaultFloodLogins, "logins for unknown emails sent at once, each from its own loopback address, by the login flood rows")
	flag.DurationVar(&cfg.ServingFor, "serving-duration", 10*time.Second, "measured time of each gateway overhead target (direct, through the gateway)")
	flag.IntVar(&cfg.CanaryRequests, "canary-requests", 10_000, "requests of the 90/10 canary row")
	flag.StringVar(&cfg.Only, "only", "", `run only one group of scenarios: "datasets", "callbacks", "queue", "models", "workloads", "logins", "serving" or "simulate" (default: all), or "build" (a cold build, minutes; never in the full run)`)
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	setFlags := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	if cfg.Only != "" && !slices.Contains([]string{"datasets", "callbacks", "queue", "models", "workloads", "logins", "serving", "simulate", "build"}, cfg.Only) {
		fmt.Fprintf(os.Stderr, "bench: -only: %q is not datasets, callbacks, queue, models, workloads, logins, serving, simulate or build\n", cfg.Only)
		os.Exit(2)
	}
	if cfg.Models < 1000 {
		fmt.Fprintln(os.Stderr, "bench: -models must be at least 1000")
		os.Exit(2)
	}
	if cfg.QueueItems < 10 {
		fmt.Fprintln(os.Stderr, "bench: -queue-items must be at least 10")
		os.Exit(2)
	}
	if cfg.CallbackEvents < 1 || cfg.CallbackOutage < 1 || cfg.CallbackSteadyFor < 10*time.Millisecond {
		fmt.Fprintln(os.Stderr, "bench: -callback-events and -callback-outage must be at least 1, -callback-steady-for at least 10ms")
		os.Exit(2)
	}
	if cfg.DatasetSamples < 1 {
		fmt.Fprintln(os.Stderr, "bench: -dataset-samples must be at least 1")
		os.Exit(2)
	}
	if *out != "table" && *out != "json" {
		fmt.Fprintf(os.Stderr, "bench: -o: %q is neither table nor json\n", *out)
		os.Exit(2)
	}
	n, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -size:", err)
		os.Exit(2)
	}
	cfg.Size = n
	if cfg.TrainLogBytes, err = parseSize(*trainLog); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -train-log:", err)
		os.Exit(2)
	}
	if *quick {
		cfg.Size, cfg.PutsDuration, cfg.ListObjects = 32<<20, 2*time.Second, 5000
		cfg.AuthDuration, cfg.VerifyFor = 2*time.Second, 200*time.Millisecond
		cfg.TrainSubmits, cfg.TrainJobs, cfg.TrainLogBytes = 5, 40, 5<<20
		cfg.TrainStreams, cfg.TrainStreamFor = 10, 3*time.Second
		if !setFlags["sandbox-starts"] {
			cfg.SandboxStarts = 20
		}
		if !setFlags["dataset-samples"] {
			cfg.DatasetSamples = 5000
		}
		if !setFlags["callback-events"] {
			cfg.CallbackEvents = 2000
		}
		if !setFlags["callback-steady-for"] {
			cfg.CallbackSteadyFor = 2 * time.Second
		}
		if !setFlags["callback-outage"] {
			cfg.CallbackOutage = 10_000
		}
		if !setFlags["queue-items"] {
			cfg.QueueItems = 2000
		}
		if !setFlags["models"] {
			cfg.Models = 10_000
		}
		if !setFlags["serving-duration"] {
			cfg.ServingFor = 2 * time.Second
		}
		if !setFlags["canary-requests"] {
			cfg.CanaryRequests = 2000
		}
	}
	os.Exit(run(cfg, *out, *timeout))
}

// run is main without os.Exit, so that its deferred clean-up runs.
func run(cfg Config, out string, timeout time.Duration) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rows, err := Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	m := machineInfo()
	if out == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(struct {
			Rows    []Row   `json:"rows"`
			Machine Machine `json:"machine"`
		}{rows, m}); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return 0
	}
	printTable(os.Stdout, rows)
	fmt.Fprintf(os.Stdout, "\n%s\n", m)
	return 0
}

// Run builds or takes the server binary, runs every scenario and returns the
// rows. Progress goes to logw.
func Run(ctx context.Context, cfg Config, logw io.Writer) (rows []Row, err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "bench: "+format+"\n", args...) }
	work, err := os.MkdirTemp("", "atelier-bench-")
	if err != nil {
		return nil, err
	}
	if !cfg.Keep {
		defer os.RemoveAll(work)
	} else {
		logf("work directory %s", work)
	}
	if cfg.Only == "build" {
		return buildScenarios(ctx, logf, work)
	}
	if cfg.Only == "queue" || cfg.Only == "" {
		r, err := queueScenarios(ctx, logf, cfg)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		if cfg.Only == "queue" {
			return r, nil
		}
		rows = append(rows, r...)
	}
	if cfg.Only == "simulate" || cfg.Only == "" {
		r, err := simulateScenarios(logf)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		if cfg.Only == "simulate" {
			return r, nil
		}
		rows = append(rows, r...)
	}
	if cfg.Only == "models" || cfg.Only == "" {
		r, err := modelScenarios(ctx, logf, cfg)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		if cfg.Only == "models" {
			return r, nil
		}
		rows = append(rows, r...)
	}
	bin := cfg.Bin
	if bin == "" {
		bin = filepath.Join(work, "atelier")
		logf("building the server")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/atelier")
		build.Dir = repoRoot()
		build.Stdout, build.Stderr = logw, logw
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build: %w", err)
		}
	}

	if cfg.Only == "callbacks" {
		rows, err := callbackScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return nil, fmt.Errorf("callbacks: %w", err)
		}
		return rows, nil
	}
	if cfg.Only == "logins" {
		rows, err := loginFloodScenarios(ctx, logf, bin, work, cmp.Or(cfg.FloodLogins, defaultFloodLogins))
		if err != nil {
			return nil, fmt.Errorf("login flood: %w", err)
		}
		return rows, nil
	}
	if cfg.Only == "workloads" {
		rows, err := workloadScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return nil, fmt.Errorf("workloads: %w", err)
		}
		return rows, nil
	}
	if cfg.Only == "serving" {
		rows, err := servingScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return nil, fmt.Errorf("serving: %w", err)
		}
		return rows, nil
	}

	srv, err := startServer(ctx, bin, filepath.Join(work, "sqlite"), nil)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := srv.login(ctx)
	if err != nil {
		return nil, err
	}

	everything := cfg.Only == ""
	var r []Row
	if everything {
		logf("large file: %s", fmtBytes(cfg.Size))
		r, err = largeFile(ctx, logf, c, srv.cmd.Process.Pid, filepath.Join(work, "files"), cfg.Size)
		if err != nil {
			return nil, fmt.Errorf("large file: %w", err)
		}
		rows = append(rows, r...)

		logf("4 KiB PUTs on SQLite for %s", cfg.PutsDuration)
		r, err = smallPuts(ctx, c, "SQLite", cfg.PutsDuration)
		if err != nil {
			return nil, fmt.Errorf("small puts: %w", err)
		}
		rows = append(rows, r...)

		logf("listing of %d objects on SQLite", cfg.ListObjects)
		r, err = listing(ctx, c, "SQLite", cfg.ListObjects)
		if err != nil {
			return nil, fmt.Errorf("listing: %w", err)
		}
		rows = append(rows, r...)
	}

	nSamples := datasetSamples(cfg)
	r, err = datasetScenarios(ctx, logf, c, srv.cmd.Process.Pid, "SQLite", nSamples)
	if err != nil {
		return rows, fmt.Errorf("datasets: %w", err)
	}
	rows = append(rows, r...)

	if everything {
		r, err = identityScenarios(ctx, logf, srv.endpoint, "SQLite", cfg, true)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	srv.stop()

	if everything {
		r, err = loginFloodScenarios(ctx, logf, bin, work, cmp.Or(cfg.FloodLogins, defaultFloodLogins))
		if err != nil {
			return rows, fmt.Errorf("login flood: %w", err)
		}
		rows = append(rows, r...)
	}

	if everything {
		r, err = trainingScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return rows, fmt.Errorf("training: %w", err)
		}
		rows = append(rows, r...)

		r, err = callbackScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return rows, fmt.Errorf("callbacks: %w", err)
		}
		rows = append(rows, r...)

		r, err = workloadScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return rows, fmt.Errorf("workloads: %w", err)
		}
		rows = append(rows, r...)

		r, err = servingScenarios(ctx, logf, bin, work, cfg)
		if err != nil {
			return rows, fmt.Errorf("serving: %w", err)
		}
		rows = append(rows, r...)
	}

	if cfg.NoPG {
		return rows, nil
	}
	logf("starting a throwaway PostgreSQL cluster")
	url, stopPG, err := pgtest.StartCluster()
	switch {
	case errors.Is(err, pgtest.ErrNoBinaries) && !cfg.RequirePG:
		logf("no PostgreSQL: %v", err)
		if everything {
			rows = append(rows, Row{Scenario: fmt.Sprintf("4 KiB PUTs, %d clients, PostgreSQL", putClients), Figure: "PUTs/s", Value: "not measured: no PostgreSQL"})
			rows = append(rows,
				Row{Scenario: loginScenario("PostgreSQL"), Figure: "logins/s", Value: "not measured: no PostgreSQL"},
				Row{Scenario: checkScenario("PostgreSQL"), Figure: "checks/s", Value: "not measured: no PostgreSQL"})
			if cfg.ListPG {
				rows = append(rows, Row{Scenario: fmt.Sprintf("Listing %d objects, pages of %d, PostgreSQL", cfg.ListObjects, listPage), Figure: "last / first", Value: "not measured: no PostgreSQL"})
			}
		}
		return append(rows, datasetNotMeasured(nSamples, "PostgreSQL", "no PostgreSQL")), nil
	case err != nil:
		return rows, fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		if err := stopPG(); err != nil {
			logf("stopping PostgreSQL: %v", err)
		}
	}()
	pgSrv, err := startServer(ctx, bin, filepath.Join(work, "pg"), []string{"ATELIER_DATABASE_URL=" + url})
	if err != nil {
		return rows, err
	}
	defer pgSrv.stop()
	pc, err := pgSrv.login(ctx)
	if err != nil {
		return rows, err
	}
	if everything {
		logf("4 KiB PUTs on PostgreSQL for %s", cfg.PutsDuration)
		r, err = smallPuts(ctx, pc, "PostgreSQL", cfg.PutsDuration)
		if err != nil {
			return rows, fmt.Errorf("small puts on PostgreSQL: %w", err)
		}
		rows = append(rows, r...)
		r, err = identityScenarios(ctx, logf, pgSrv.endpoint, "PostgreSQL", cfg, false)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r...)
	}
	r, err = datasetScenarios(ctx, logf, pc, pgSrv.cmd.Process.Pid, "PostgreSQL", nSamples)
	if err != nil {
		return rows, fmt.Errorf("datasets on PostgreSQL: %w", err)
	}
	rows = append(rows, r...)
	if everything && cfg.ListPG {
		logf("listing of %d objects on PostgreSQL", cfg.ListObjects)
		r, err = listing(ctx, pc, "PostgreSQL", cfg.ListObjects)
		if err != nil {
			return rows, fmt.Errorf("listing on PostgreSQL: %w", err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// largeFile times cp, an upload and a download of one generated file on the
// same filesystem, and samples the server's RSS during the transfers.
func largeFile(ctx context.Context, logf func(string, ...any), c *sdk.Client, pid int, dir string, size int64) ([]Row, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "src.bin")
	logf("generating %s", src)
	sum, err := generate(ctx, src, size)
	if err != nil {
		return nil, err
	}
	cpDst := filepath.Join(dir, "cp.bin")
	logf("cp and sync")
	t0 := time.Now()
	if err := exec.CommandContext(ctx, "cp", src, cpDst).Run(); err != nil {
		return nil, fmt.Errorf("cp: %w", err)
	}
	cpTime := time.Since(t0)
	if err := exec.CommandContext(ctx, "sync", cpDst).Run(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	cpSyncTime := time.Since(t0)
	_ = os.Remove(cpDst)

	if _, err := c.CreateBucket(ctx, "bench-large"); err != nil {
		return nil, err
	}
	logf("upload, then download")
	before := readRSS(pid)
	sampler := startRSS(pid)
	t0 = time.Now()
	if _, err := c.UploadFile(ctx, src, "bench-large", "large.bin", nil); err != nil {
		sampler.stop()
		return nil, err
	}
	upTime := time.Since(t0)
	dst := filepath.Join(dir, "down.bin")
	t0 = time.Now()
	_, err = c.DownloadFile(ctx, "bench-large", "large.bin", dst, nil)
	downTime := time.Since(t0)
	peak := sampler.stop()
	if err != nil {
		return nil, err
	}
	got, err := fileSHA256(dst)
	if err != nil {
		return nil, err
	}
	same := "PASS"
	if got != sum {
		same = "MISS"
	}
	_ = os.Remove(dst)
	_ = os.Remove(src)

	mbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	ratio := func(d, base time.Duration) float64 { return base.Seconds() / d.Seconds() }
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	name := "Large file " + fmtBytes(size)
	upR, downR := ratio(upTime, cpSyncTime), ratio(downTime, cpSyncTime)
	return []Row{
		{Scenario: name, Figure: "cp (page cache only)", Value: fmt.Sprintf("%.0f MB/s", mbs(cpTime))},
		{Scenario: name, Figure: "cp + sync (baseline)", Value: fmt.Sprintf("%.0f MB/s", mbs(cpSyncTime))},
		{Scenario: name, Figure: "upload through the API", Value: fmt.Sprintf("%.0f MB/s", mbs(upTime))},
		{Scenario: name, Figure: "download through the API", Value: fmt.Sprintf("%.0f MB/s", mbs(downTime))},
		{Scenario: name, Figure: "upload / (cp + sync)", Value: fmt.Sprintf("%.2f", upR), Goal: "≥ 0.6", Verdict: verdict(upR >= 0.6)},
		{Scenario: name, Figure: "download / (cp + sync)", Value: fmt.Sprintf("%.2f", downR), Goal: "≥ 0.8", Verdict: verdict(downR >= 0.8)},
		{Scenario: name, Figure: "upload / cp", Value: fmt.Sprintf("%.2f", ratio(upTime, cpTime))},
		{Scenario: name, Figure: "download / cp", Value: fmt.Sprintf("%.2f", ratio(downTime, cpTime))},
		{Scenario: name, Figure: "server RSS before the transfers", Value: fmtBytes(before)},
		{Scenario: name, Figure: "server peak RSS during transfers", Value: fmtBytes(peak), Goal: "< 100 MiB", Verdict: verdict(peak < 100<<20)},
		{Scenario: name, Figure: "downloaded SHA-256 equals source", Value: got[:12] + "…", Verdict: same},
	}, nil
}

// smallPuts runs putClients goroutines putting 4 KiB objects for d after a
// short warm-up. The rate counts the PUTs that completed inside the measured
// window; the latencies are those of the PUTs that started inside it.
func smallPuts(ctx context.Context, c *sdk.Client, store string, d time.Duration) ([]Row, error) {
	bucket := "bench-small"
	if _, err := c.CreateBucket(ctx, bucket); err != nil {
		return nil, err
	}
	body := make([]byte, putSize)
	for i := range body {
		body[i] = byte(i * 7)
	}
	n, all, err := measure(ctx, putClients, d, func(ctx context.Context, g, i int) error {
		key := fmt.Sprintf("c%02d/%08d", g, i)
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), putSize, sdk.PutOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errors.New("no PUT completed")
	}
	name := fmt.Sprintf("4 KiB PUTs, %d clients, %s", putClients, store)
	return []Row{
		{Scenario: name, Figure: "PUTs/s", Value: fmt.Sprintf("%.0f (%d in %s)", float64(n)/d.Seconds(), n, d)},
		{Scenario: name, Figure: "latency p50 / p99", Value: fmt.Sprintf("%s / %s", pct(all, 50), pct(all, 99))},
	}, nil
}

// measure runs clients goroutines that call op back to back (g is the
// goroutine, i counts its calls) for a warm-up of a fifth of d, at most 1 s,
// and then for d. It returns how many calls completed inside the measured
// window and the sorted latencies of the calls that started inside it. The
// first error of op stops every goroutine and is returned.
func measure(parent context.Context, clients int, d time.Duration, op func(ctx context.Context, g, i int) error) (int, []time.Duration, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	warm := min(d/5, time.Second)
	start := time.Now()
	measureFrom, end := start.Add(warm), start.Add(warm+d)
	lat := make([][]time.Duration, clients)
	done := make([]int, clients)
	var (
		errOnce  sync.Once
		firstErr error
	)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				if err := op(ctx, g, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				t1 := time.Now()
				if !t0.Before(measureFrom) {
					lat[g] = append(lat[g], t1.Sub(t0))
				}
				if t1.After(measureFrom) && !t1.After(end) {
					done[g]++
				}
			}
		})
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return 0, nil, err
	}
	if firstErr != nil {
		return 0, nil, firstErr
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	var n int
	for _, k := range done {
		n += k
	}
	return n, all, nil
}

// listing creates n small objects, then walks them in pages of 1000 and
// compares the mean time of the first full pages with the last full pages'.
// A short final page is left out of the comparison, and the two groups never
// overlap (up to 10 pages each, at most half of the full pages).
func listing(ctx context.Context, c *sdk.Client, store string, n int) ([]Row, error) {
	bucket := "bench-list"
	if _, err := c.CreateBucket(ctx, bucket); err != nil {
		return nil, err
	}
	fill, err := fillObjects(ctx, c, bucket, n, listKey, []byte("x"))
	if err != nil {
		return nil, err
	}

	var full []time.Duration // times of the pages that held listPage keys
	token, seen, pages := "", 0, 0
	t0 := time.Now()
	for {
		p0 := time.Now()
		l, err := c.ListObjects(ctx, bucket, core.ListQuery{Prefix: "list/", MaxKeys: listPage, ContinuationToken: token})
		if err != nil {
			return nil, err
		}
		took := time.Since(p0)
		pages++
		if len(l.Objects) == listPage {
			full = append(full, took)
		}
		for _, o := range l.Objects {
			if want := listKey(seen); o.Key != want {
				return nil, fmt.Errorf("listing out of order: got %q at position %d, want %q", o.Key, seen, want)
			}
			seen++
		}
		if !l.IsTruncated {
			break
		}
		if l.NextContinuationToken == "" || pages > n/listPage+2 {
			return nil, fmt.Errorf("listing does not end: page %d is truncated without a way on", pages)
		}
		token = l.NextContinuationToken
	}
	walk := time.Since(t0)
	if seen != n {
		return nil, fmt.Errorf("listing returned %d objects, want %d", seen, n)
	}
	name := fmt.Sprintf("Listing %d objects, pages of %d, %s", n, listPage, store)
	rows := []Row{
		{Scenario: name, Figure: "filling it (16 clients)", Value: fmt.Sprintf("%s (%.0f PUTs/s)", fill.Round(time.Millisecond), float64(n)/fill.Seconds())},
		{Scenario: name, Figure: "walking all pages", Value: fmt.Sprintf("%s (%s, all keys in order)", walk.Round(time.Millisecond), plural(pages, "page"))},
	}
	k := min(10, len(full)/2)
	if k == 0 {
		return append(rows, Row{Scenario: name, Figure: "last / first", Value: "not measured: fewer than 2 full pages", Goal: "≤ 1.5 (no growth)"}), nil
	}
	first, last := mean(full[:k]), mean(full[len(full)-k:])
	ratio := last.Seconds() / first.Seconds()
	verdict := "PASS"
	if ratio > 1.5 {
		verdict = "MISS"
	}
	return append(rows,
		Row{Scenario: name, Figure: fmt.Sprintf("mean page, first %d / last %d", k, k), Value: fmt.Sprintf("%s / %s", first.Round(10*time.Microsecond), last.Round(10*time.Microsecond))},
		Row{Scenario: name, Figure: "last / first", Value: fmt.Sprintf("%.2f", ratio), Goal: "≤ 1.5 (no growth)", Verdict: verdict},
	), nil
}

// loginScenario names the login rows of one store.
func loginScenario(store string) string {
	return fmt.Sprintf("Logins, %d clients, %s", loginClients, store)
}

// checkScenario names the session-token check rows of one store.
func checkScenario(store string) string {
	return fmt.Sprintf("Session-token checks, %d clients, %s", checkClients, store)
}

// verifyScenario names the id_token verification row.
const verifyScenario = "id_token verifications (in-process, all cores)"

// identityScenarios logs in to the server at endpoint, then measures
// logins and session-token checks against it and, with verify, id_token
// verifications with its JWKS.
func identityScenarios(ctx context.Context, logf func(string, ...any), endpoint, store string, cfg Config, verify bool) ([]Row, error) {
	d := cmp.Or(cfg.AuthDuration, 10*time.Second)
	api := newAPI(endpoint, max(loginClients, checkClients))
	defer api.close()
	first, err := api.login(ctx, "bench-first")
	if err != nil {
		return nil, fmt.Errorf("login on %s: %w", store, err)
	}

	logf("logins on %s for %s", store, d)
	rows, err := logins(ctx, api, store, d)
	if err != nil {
		return nil, fmt.Errorf("logins on %s: %w", store, err)
	}
	logf("session-token checks on %s for %s", store, d)
	r, err := sessionChecks(ctx, api, store, first.SessionToken, d)
	if err != nil {
		return nil, fmt.Errorf("session-token checks on %s: %w", store, err)
	}
	rows = append(rows, r...)
	if verify {
		vd := cmp.Or(cfg.VerifyFor, time.Second)
		logf("id_token verifications for %s", vd)
		r, err := idTokenVerifications(ctx, api, first.IDToken, vd)
		if err != nil {
			return nil, fmt.Errorf("id_token verifications: %w", err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// logins runs loginClients goroutines that log the admin in by email, each
// from its own device, for d after a warm-up.
func logins(ctx context.Context, api *apiClient, store string, d time.Duration) ([]Row, error) {
	n, all, err := measure(ctx, loginClients, d, func(ctx context.Context, g, _ int) error {
		_, err := api.login(ctx, fmt.Sprintf("bench-%02d", g))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errors.New("no login completed")
	}
	name := loginScenario(store)
	return []Row{
		{Scenario: name, Figure: "argon2id parameters", Value: argon2Params(identity.DefaultArgon2)},
		{Scenario: name, Figure: "logins/s", Value: fmt.Sprintf("%.1f (%d in %s)", float64(n)/d.Seconds(), n, d)},
		{Scenario: name, Figure: "latency p50 / p99", Value: fmt.Sprintf("%s / %s", pct(all, 50).Round(time.Millisecond), pct(all, 99).Round(time.Millisecond))},
	}, nil
}

// argon2Params describes the argon2id cost of the server's password hashes.
func argon2Params(p identity.Argon2Params) string {
	mem := fmt.Sprintf("%d KiB", p.Memory)
	if p.Memory%1024 == 0 {
		mem = fmt.Sprintf("%d MiB", p.Memory/1024)
	}
	passes := fmt.Sprintf("%d passes", p.Time)
	if p.Time == 1 {
		passes = "1 pass"
	}
	return fmt.Sprintf("%s, %s, %s (OWASP's recommendation; the shipped default)", mem, passes, plural(int(p.Threads), "lane"))
}

// sessionChecks runs checkClients goroutines that send GET /v1/auth/whoami
// with the session token for d after a warm-up.
func sessionChecks(ctx context.Context, api *apiClient, store, token string, d time.Duration) ([]Row, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	var me struct {
		Email string `json:"email"`
	}
	if err := api.do(ctx, http.MethodGet, "/v1/auth/whoami", h, nil, &me); err != nil {
		return nil, err
	}
	if !strings.EqualFold(me.Email, adminEmail) {
		return nil, fmt.Errorf("whoami names %q, want %q", me.Email, adminEmail)
	}
	n, all, err := measure(ctx, checkClients, d, func(ctx context.Context, _, _ int) error {
		return api.do(ctx, http.MethodGet, "/v1/auth/whoami", h, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errors.New("no check completed")
	}
	name := checkScenario(store)
	return []Row{
		{Scenario: name, Figure: "checks/s", Value: fmt.Sprintf("%.0f (%d in %s)", float64(n)/d.Seconds(), n, d)},
		{Scenario: name, Figure: "latency p50 / p99", Value: fmt.Sprintf("%s / %s", pct(all, 50), pct(all, 99))},
	}, nil
}

// idTokenVerifications fetches the server's JWKS and verifies idToken with
// it on GOMAXPROCS goroutines for about d. Without a JWKS route (404) the
// row says so.
func idTokenVerifications(ctx context.Context, api *apiClient, idToken string, d time.Duration) ([]Row, error) {
	notMeasured := func(why string) []Row {
		return []Row{{Scenario: verifyScenario, Figure: "verifications/s", Value: "not measured: " + why}}
	}
	if idToken == "" {
		return notMeasured("no id_token in the login answer"), nil
	}
	var set jwt.JWKS
	err := api.do(ctx, http.MethodGet, "/api/v2/oauth2/jwks", nil, nil, &set)
	if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusNotFound {
		return notMeasured("no JWKS"), nil
	}
	if err != nil {
		return nil, err
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		keys[k.Kid] = pub
	}
	lookup := func(kid string) (*rsa.PublicKey, bool) {
		pub, ok := keys[kid]
		return pub, ok
	}
	want := jwt.Expect{Issuer: api.base, Audience: core.CLIClientID}
	if _, err := jwt.Verify(idToken, lookup, time.Now(), want); err != nil {
		return nil, fmt.Errorf("the login's id_token does not verify with the JWKS: %w", err)
	}
	bits := 0
	if pub, ok := lookup(tokenKid(idToken)); ok {
		bits = pub.N.BitLen()
	}

	workers := runtime.GOMAXPROCS(0)
	counts := make([]int, workers)
	errs := make([]error, workers)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(deadline) {
					return
				}
				if _, err := jwt.Verify(idToken, lookup, now, want); err != nil {
					errs[w] = err
					return
				}
				counts[w]++
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var n int
	for _, k := range counts {
		n += k
	}
	return []Row{{Scenario: verifyScenario, Figure: "verifications/s", Value: fmt.Sprintf("%.0f (%d in %s, %s, RS256 %d-bit key)",
		float64(n)/took.Seconds(), n, took.Round(time.Millisecond), plural(workers, "goroutine"), bits)}}, nil
}

// tokenKid returns the kid of a compact JWS's header, or "".
func tokenKid(token string) string {
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// apiClient sends plain HTTP requests to one server, keeping an idle
// connection for each benchmark client. It is safe for concurrent use.
type apiClient struct {
	base      string // http://127.0.0.1:port, also the OIDC issuer
	hc        *http.Client
	loginBody []byte
}

func newAPI(base string, conns int) *apiClient {
	body, err := json.Marshal(map[string]string{"email": adminEmail, "password": adminPassword})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return &apiClient{
		base:      base,
		hc:        &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}},
		loginBody: body,
	}
}

func (a *apiClient) close() { a.hc.CloseIdleConnections() }

// login logs the admin in by email through the CLI app from the device
// fingerprint; anything but a 200 SUCCESS answer with a session token is an
// error.
func (a *apiClient) login(ctx context.Context, fingerprint string) (*core.LoginResult, error) {
	h := http.Header{
		"Content-Type":            {"application/json"},
		"X-Client-Id":             {core.CLIClientID},
		"X-Operating-Sys-Version": {runtime.GOOS},
		"X-Device-Fingerprint":    {fingerprint},
		"X-Agent":                 {"atelier-bench"},
	}
	var res core.LoginResult
	if err := a.do(ctx, http.MethodPost, "/api/v2/sdk/login/email", h, a.loginBody, &res); err != nil {
		return nil, err
	}
	if res.Status != core.LoginSuccess || res.SessionToken == "" {
		return nil, fmt.Errorf("login answered status %q (session token present: %t), want %s", res.Status, res.SessionToken != "", core.LoginSuccess)
	}
	return &res, nil
}

// statusError is an answer other than 200 OK.
type statusError struct {
	method, path string
	status       int
	body         string // its start
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, e.body)
}

// do sends a request with a copy of header and decodes a 200 answer's JSON
// into out, or drops it when out is nil. Any other status is a *statusError.
// The body is always read to its end, so that the connection is reused.
func (a *apiClient) do(ctx context.Context, method, path string, header http.Header, body []byte, out any) error {
	return a.doWant(ctx, method, path, header, body, http.StatusOK, out)
}

// doWant is do for an answer of status want.
func (a *apiClient) doWant(ctx context.Context, method, path string, header http.Header, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if header != nil {
		req.Header = header.Clone()
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &statusError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// plural returns "1 page" or "3 pages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// listKey is the key of the i-th object of the listing; the keys sort in
// the order of i.
func listKey(i int) string { return fmt.Sprintf("list/%08d", i) }

// server is a running `atelier server` process.
type server struct {
	cmd      *exec.Cmd
	endpoint string
	once     sync.Once
}

// startServer starts `bin server` on a free port of 127.0.0.1 with its data
// in dataDir and waits for the line that names its address. The server's
// stderr goes to a log file beside dataDir.
func startServer(ctx context.Context, bin, dataDir string, env []string) (*server, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	logPath := dataDir + "-server.log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "server", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "ATELIER_ADMIN_EMAIL="+adminEmail, "ATELIER_ADMIN_PASSWORD="+adminPassword, "ATELIER_LOG_LEVEL=warn",
		// The login runs would otherwise measure the rate limiter's 429s.
		"ATELIER_LOGIN_RATE_PER_IP=off", "ATELIER_LOGIN_RATE_PER_ACCOUNT=off")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	found := make(chan string, 1)
	closed := make(chan struct{})
	go func() {
		// Keep reading until the server exits, so that it never blocks
		// on a full pipe.
		defer close(closed)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "atelier: listening on "); ok {
				select {
				case found <- addr:
				default:
				}
			}
		}
	}()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	var why string
	select {
	case s.endpoint = <-found:
		return s, nil
	case <-closed:
		why = "exited"
	case <-timer.C:
		why = "did not report listening within 60 s"
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	s.stop()
	return nil, fmt.Errorf("server %s; its log ends:\n%s", why, logTail(logPath, 20))
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stop ends the server with SIGTERM, then SIGKILL after 20 s. It is safe to
// call twice.
func (s *server) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	})
}

func (s *server) login(ctx context.Context) (*sdk.Client, error) {
	c, err := sdk.New(sdk.Options{Endpoint: s.endpoint})
	if err != nil {
		return nil, err
	}
	res, err := c.LoginEmail(ctx, adminEmail, adminPassword, "")
	if err != nil {
		return nil, err
	}
	c.SetToken(res.SessionToken)
	return c, nil
}

// rssSampler records the peak VmRSS of a process every 20 ms.
type rssSampler struct {
	done chan struct{}
	peak chan int64
}

func startRSS(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, readRSS(pid))
			select {
			case <-s.done:
				s.peak <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 { close(s.done); return <-s.peak }

// readRSS returns the resident set of pid in bytes, 0 when unknown.
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// generate writes size pseudo-random bytes to path in 1 MiB chunks and
// returns their SHA-256.
func generate(ctx context.Context, path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(buf); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		n := min(left, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return "", err
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), f.Close()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := min(len(sorted)-1, len(sorted)*p/100)
	return sorted[i].Round(10 * time.Microsecond)
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size", s)
	}
	return n * mult, nil
}

// repoRoot returns the module root, where ./cmd/atelier is built from.
func repoRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func printTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| Scenario | Figure | Value | Goal | Verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Scenario, r.Figure, r.Value, r.Goal, r.Verdict)
	}
}

// Machine describes where the figures were taken. It is a plain value.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Filesystem string `json:"filesystem"` // of the temporary directory, from df -T
}

func (m Machine) String() string {
	return fmt.Sprintf("Machine: %d CPUs, %s, %s, temporary directory on %s (warm page cache).",
		m.CPUs, m.GoVersion, m.OS, m.Filesystem)
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Filesystem: "unknown"}
	if out, err := exec.Command("df", "-T", os.TempDir()).Output(); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) > 1 {
			if f := strings.Fields(lines[len(lines)-1]); len(f) > 1 {
				m.Filesystem = f[1]
			}
		}
	}
	return m
}

// Training scenarios ---------------------------------------------------------

// trainFlavor is a default flavor of every server (config_training.go).
const trainFlavor = "modelarts.vm.cpu.2u"

// Scenario names of the training rows.
const (
	trainScenario     = "Training, local executor, 2 slots, SQLite"
	trainLogScenario  = "Training logs, local executor, SQLite"
	trainRSSScenarioF = "Training, %d jobs streaming logs at once, SQLite"
)

// emitScript is the job of the log scenarios: with --bytes it writes lines
// of --line bytes as fast as it can until it has written that many bytes;
// with --every it writes one short line every --every seconds for
// --duration seconds, flushing each. Every line starts with its sequence
// number and time.time_ns() when it was written.
const emitScript = `import argparse, sys, time
p = argparse.ArgumentParser()
p.add_argument("--bytes", type=int, default=0)
p.add_argument("--line", type=int, default=1024)
p.add_argument("--every", type=float, default=0.0)
p.add_argument("--duration", type=float, default=0.0)
a = p.parse_args()
w = sys.stdout.write
if a.every > 0:
    t0 = time.monotonic()
    for i in range(int(round(a.duration / a.every))):
        d = t0 + i * a.every - time.monotonic()
        if d > 0:
            time.sleep(d)
        w("%d %d tick\n" % (i, time.time_ns()))
        sys.stdout.flush()
else:
    pad = "x" * a.line
    i = written = 0
    while written < a.bytes:
        head = "%d %d " % (i, time.time_ns())
        line = head + pad[:max(a.line - len(head) - 1, 0)] + "\n"
        w(line)
        written += len(line)
        i += 1
    sys.stdout.flush()
`

// trainConfig is cfg's training sizes with the defaults filled in.
func trainConfig(cfg Config) Config {
	cfg.TrainSubmits = cmp.Or(cfg.TrainSubmits, 20)
	cfg.TrainJobs = cmp.Or(cfg.TrainJobs, 200)
	cfg.TrainLogBytes = cmp.Or(cfg.TrainLogBytes, 50<<20)
	cfg.TrainStreams = cmp.Or(cfg.TrainStreams, 50)
	cfg.TrainStreamFor = cmp.Or(cfg.TrainStreamFor, 5*time.Second)
	return cfg
}

// findPython returns the system's python3, which sandboxed jobs see, or
// else the real path of python3 on PATH (not a pyenv shim, whose start
// would be timed too), or "" when there is none.
func findPython(ctx context.Context) string {
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// trainingScenarios starts a training server with 2 slots for the latency,
// drain and log rows, then one with a slot per streaming job for the RSS
// row, each over its own data directory.
func trainingScenarios(ctx context.Context, logf func(string, ...any), bin, work string, cfg Config) ([]Row, error) {
	cfg = trainConfig(cfg)
	srv, err := startServer(ctx, bin, filepath.Join(work, "train"), []string{"ATELIER_TRAINING_SLOTS=2"})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := srv.login(ctx)
	if err != nil {
		return nil, err
	}
	logf("training: submit → RUNNING latency of %d trivial jobs", cfg.TrainSubmits)
	rows, err := submitLatency(ctx, c, cfg.TrainSubmits)
	if err != nil {
		return nil, fmt.Errorf("submit latency: %w", err)
	}
	logf("training: draining %d queued trivial jobs with 2 slots", cfg.TrainJobs)
	r, err := drainJobs(ctx, c, cfg.TrainJobs)
	if err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	rows = append(rows, r...)

	python := findPython(ctx)
	rssName := fmt.Sprintf(trainRSSScenarioF, cfg.TrainStreams)
	if python == "" {
		logf("training: no python3, the log rows are not measured")
		return append(rows,
			Row{Scenario: trainLogScenario, Figure: "live log throughput", Value: "not measured: no python3"},
			Row{Scenario: trainLogScenario, Figure: "line written → received, p50 / p99", Value: "not measured: no python3"},
			Row{Scenario: rssName, Figure: "server peak RSS", Value: "not measured: no python3", Goal: "< 200 MiB"},
		), nil
	}
	if err := putEmitter(ctx, c); err != nil {
		return nil, err
	}
	logf("training: live log throughput of a job writing %s", fmtBytes(cfg.TrainLogBytes))
	r, err = logThroughput(ctx, c, python, cfg.TrainLogBytes)
	if err != nil {
		return nil, fmt.Errorf("log throughput: %w", err)
	}
	rows = append(rows, r...)
	logf("training: log latency of a job printing a line every 10 ms for 2 s")
	r, err = logLatency(ctx, c, python)
	if err != nil {
		return nil, fmt.Errorf("log latency: %w", err)
	}
	rows = append(rows, r...)
	srv.stop()

	slots := max(cfg.TrainStreams, 2)
	rssSrv, err := startServer(ctx, bin, filepath.Join(work, "train-streams"), []string{"ATELIER_TRAINING_SLOTS=" + strconv.Itoa(slots)})
	if err != nil {
		return nil, err
	}
	defer rssSrv.stop()
	rc, err := rssSrv.login(ctx)
	if err != nil {
		return nil, err
	}
	if err := putEmitter(ctx, rc); err != nil {
		return nil, err
	}
	logf("training: %d jobs streaming logs for %s at once", cfg.TrainStreams, cfg.TrainStreamFor)
	r, err = streamingRSS(ctx, rc, rssSrv.cmd.Process.Pid, python, cfg.TrainStreams, cfg.TrainStreamFor)
	if err != nil {
		return nil, fmt.Errorf("streaming RSS: %w", err)
	}
	return append(rows, r...), nil
}

// putEmitter uploads emitScript as obs://bench-train/code/emit.py.
func putEmitter(ctx context.Context, c *sdk.Client) error {
	if _, err := c.CreateBucket(ctx, "bench-train"); err != nil {
		return err
	}
	_, err := c.PutObject(ctx, "bench-train", "code/emit.py", strings.NewReader(emitScript), int64(len(emitScript)), sdk.PutOptions{})
	return err
}

// trivialJob is a job that runs `true` on one worker.
func trivialJob() core.JobSpec {
	return core.JobSpec{UserCommand: "true", Flavor: trainFlavor, InstanceCount: 1}
}

// emitJob runs emitScript with python and the parameters.
func emitJob(python string, params ...string) core.JobSpec {
	spec := core.JobSpec{CodeDir: "obs://bench-train/code/", BootFile: "emit.py", ScriptInterpreter: python, Flavor: trainFlavor, InstanceCount: 1}
	for _, p := range params {
		name, value, _ := strings.Cut(p, "=")
		spec.Parameters = append(spec.Parameters, core.JobParam{Name: name, Value: &value})
	}
	return spec
}

// waitJob polls version 1 of a job every interval until it is final, and
// fails unless it completed.
func waitJob(ctx context.Context, c *sdk.Client, jobID string, interval time.Duration) (*core.JobVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	v, err := c.WaitVersion(ctx, jobID, 1, interval)
	if err != nil {
		return nil, err
	}
	if v.State != core.JobCompleted {
		return v, fmt.Errorf("job %s ended %s: %s", jobID, v.State, v.Reason)
	}
	return v, nil
}

// submitLatency submits n trivial jobs one after the other and times each
// from before SubmitJob to the first poll (every 5 ms) that sees it RUNNING
// or later; each job is waited for before the next.
func submitLatency(ctx context.Context, c *sdk.Client, n int) ([]Row, error) {
	lat, err := submitLatencies(ctx, c, n)
	if err != nil {
		return nil, err
	}
	return []Row{{Scenario: trainScenario, Figure: "submit → RUNNING, p50 / p99",
		Value: fmt.Sprintf("%s / %s (%s, one at a time)", pct(lat, 50).Round(100*time.Microsecond), pct(lat, 99).Round(100*time.Microsecond), plural(n, "job"))}}, nil
}

// submitLatencies submits n trivial jobs one at a time and returns each
// one's submit → RUNNING time, sorted.
func submitLatencies(ctx context.Context, c *sdk.Client, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		job, _, err := c.SubmitJob(ctx, fmt.Sprintf("latency-%04d", i), "", trivialJob())
		if err != nil {
			return nil, err
		}
		for {
			v, err := c.GetVersion(ctx, job.ID, 1)
			if err != nil {
				return nil, err
			}
			if v.State == core.JobRunning || core.JobStateFinal(v.State) {
				lat = append(lat, time.Since(t0))
				break
			}
			if time.Since(t0) > time.Minute {
				return nil, fmt.Errorf("job %s still %s after a minute", job.ID, v.State)
			}
			if err := pause(ctx, 5*time.Millisecond); err != nil {
				return nil, err
			}
		}
		if _, err := waitJob(ctx, c, job.ID, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drainJobs submits n trivial jobs back to back (they queue behind the 2
// slots), waits until every one is final, and rates them from the first
// submission to the latest finished_at the server recorded. A job not
// COMPLETED counts as lost.
func drainJobs(ctx context.Context, c *sdk.Client, n int) ([]Row, error) {
	ids := make([]string, 0, n)
	t0 := time.Now()
	for i := range n {
		job, _, err := c.SubmitJob(ctx, fmt.Sprintf("drain-%05d", i), "", trivialJob())
		if err != nil {
			return nil, err
		}
		ids = append(ids, job.ID)
	}
	submitted := time.Since(t0)
	// The executor runs them in submission order: poll the oldest one not
	// yet final, so that each round costs a request or two.
	var end time.Time
	completed, progress := 0, time.Now()
	for next := 0; next < n; {
		v, err := c.GetVersion(ctx, ids[next], 1)
		if err != nil {
			return nil, err
		}
		if core.JobStateFinal(v.State) {
			if v.State == core.JobCompleted {
				completed++
			}
			if v.FinishedAt.After(end) {
				end = v.FinishedAt
			}
			next++
			progress = time.Now()
			continue
		}
		if time.Since(progress) > 2*time.Minute {
			return nil, fmt.Errorf("job %d of %d still %s after 2 minutes without progress", next+1, n, v.State)
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
	took := end.Sub(t0)
	lost := n - completed
	verdict := "PASS"
	if lost != 0 {
		verdict = "MISS"
	}
	return []Row{
		{Scenario: trainScenario, Figure: fmt.Sprintf("submitting %d jobs (one client)", n), Value: fmt.Sprintf("%s (%.0f submissions/s)", submitted.Round(time.Millisecond), float64(n)/submitted.Seconds())},
		{Scenario: trainScenario, Figure: "drained, first submit → last end", Value: fmt.Sprintf("%.1f jobs/s (%d in %s)", float64(n)/took.Seconds(), n, took.Round(time.Millisecond))},
		{Scenario: trainScenario, Figure: "lost", Value: fmt.Sprintf("%d (%d of %d COMPLETED)", lost, completed, n), Goal: "0", Verdict: verdict},
	}, nil
}

// lineWriter splits a streamed log into lines "<seq> <time_ns> …", checks
// that the sequence numbers follow each other from 0, and records when
// each line arrived and its write time. It is not safe for concurrent use.
type lineWriter struct {
	partial    []byte
	bytes      int64
	lines      int
	firstAt    time.Time // arrival of the first byte
	lastAt     time.Time // arrival of the last byte
	firstTS    int64     // time_ns of the first line
	lastTS     int64     // time_ns of the last line
	keepDelays bool
	delays     []time.Duration // arrival − time_ns per line, with keepDelays
	err        error
}

func (w *lineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	if w.bytes == 0 {
		w.firstAt = now
	}
	w.lastAt = now
	w.bytes += int64(len(p))
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			w.partial = append(w.partial, rest...)
			break
		}
		line := rest[:i]
		if len(w.partial) > 0 {
			w.partial = append(w.partial, line...)
			line = w.partial
		}
		w.line(line, now)
		w.partial = w.partial[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) line(line []byte, now time.Time) {
	f := bytes.Fields(line)
	if len(f) < 2 {
		w.fail(fmt.Errorf("line %d is not \"<seq> <time_ns> …\": %.40q", w.lines, line))
		return
	}
	seq, err1 := strconv.Atoi(string(f[0]))
	ts, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil {
		w.fail(fmt.Errorf("line %d is not \"<seq> <time_ns> …\": %.40q", w.lines, line))
		return
	}
	if seq != w.lines {
		w.fail(fmt.Errorf("line %d carries sequence number %d: lines lost or out of order", w.lines, seq))
	}
	if w.lines == 0 {
		w.firstTS = ts
	}
	w.lastTS = ts
	w.lines++
	if w.keepDelays {
		w.delays = append(w.delays, now.Sub(time.Unix(0, ts)))
	}
}

func (w *lineWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// done checks that the stream ended with a whole line and held want lines
// (any number when want < 0).
func (w *lineWriter) done(want int) error {
	if w.err != nil {
		return w.err
	}
	if len(w.partial) > 0 {
		return fmt.Errorf("the log ends inside a line (%d bytes after the last newline)", len(w.partial))
	}
	if want >= 0 && w.lines != want {
		return fmt.Errorf("%d lines received, want %d", w.lines, want)
	}
	return nil
}

// logThroughput runs a job that writes size bytes of 1 KiB lines and
// follows its log from the submission; the throughput is the bytes over
// the time from the first byte received to the last.
func logThroughput(ctx context.Context, c *sdk.Client, python string, size int64) ([]Row, error) {
	job, _, err := c.SubmitJob(ctx, "log-throughput", "", emitJob(python, "bytes="+strconv.FormatInt(size, 10), "line=1024"))
	if err != nil {
		return nil, err
	}
	w := &lineWriter{}
	if _, err := c.StreamLog(ctx, job.ID, 1, "worker-0", 0, true, w); err != nil {
		return nil, err
	}
	if _, err := waitJob(ctx, c, job.ID, 20*time.Millisecond); err != nil {
		return nil, err
	}
	if err := w.done(-1); err != nil {
		return nil, err
	}
	if w.bytes < size {
		return nil, fmt.Errorf("%d bytes received, the job wrote at least %d", w.bytes, size)
	}
	read := w.lastAt.Sub(w.firstAt)
	wrote := time.Duration(w.lastTS - w.firstTS)
	behind := w.lastAt.Sub(time.Unix(0, w.lastTS))
	return []Row{{Scenario: trainLogScenario, Figure: "live log throughput",
		Value: fmt.Sprintf("%.0f MB/s (%s, %d lines in order, first to last byte received in %s; the job wrote them in %s; last line received %s after it was written)",
			float64(w.bytes)/read.Seconds()/1e6, fmtBytes(w.bytes), w.lines, read.Round(time.Millisecond), wrote.Round(time.Millisecond), behind.Round(time.Millisecond))}}, nil
}

// logLatency follows a job that prints a line every 10 ms for 2 s and
// takes, per line, the time from its time_ns to its arrival.
func logLatency(ctx context.Context, c *sdk.Client, python string) ([]Row, error) {
	job, _, err := c.SubmitJob(ctx, "log-latency", "", emitJob(python, "every=0.01", "duration=2"))
	if err != nil {
		return nil, err
	}
	w := &lineWriter{keepDelays: true}
	if _, err := c.StreamLog(ctx, job.ID, 1, "worker-0", 0, true, w); err != nil {
		return nil, err
	}
	if _, err := waitJob(ctx, c, job.ID, 20*time.Millisecond); err != nil {
		return nil, err
	}
	if err := w.done(200); err != nil {
		return nil, err
	}
	slices.Sort(w.delays)
	return []Row{{Scenario: trainLogScenario, Figure: "line written → received, p50 / p99",
		Value: fmt.Sprintf("%s / %s (200 lines, 1 every 10 ms, follow stream)", pct(w.delays, 50).Round(100*time.Microsecond), pct(w.delays, 99).Round(100*time.Microsecond))}}, nil
}

// streamingRSS submits n jobs that each print a line every 10 ms for d,
// follows all their logs at once, and samples the server's RSS from before
// the first submission until every stream has ended.
func streamingRSS(ctx context.Context, c *sdk.Client, pid int, python string, n int, d time.Duration) ([]Row, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	before := readRSS(pid)
	sampler := startRSS(pid)
	lines := int(d / (10 * time.Millisecond))
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		job, _, err := c.SubmitJob(ctx, fmt.Sprintf("stream-%03d", i), "", emitJob(python, "every=0.01", fmt.Sprintf("duration=%g", d.Seconds())))
		if err != nil {
			cancel()
			wg.Wait()
			sampler.stop()
			return nil, err
		}
		ids[i] = job.ID
		wg.Go(func() {
			w := &lineWriter{}
			if _, err := c.StreamLog(ctx, job.ID, 1, "worker-0", 0, true, w); err != nil {
				errs[i] = err
				return
			}
			errs[i] = w.done(lines)
		})
	}
	wg.Wait()
	peak := sampler.stop()
	complete := 0
	for i, id := range ids {
		if errs[i] == nil {
			if _, err := waitJob(ctx, c, id, 20*time.Millisecond); err != nil {
				errs[i] = err
				continue
			}
			complete++
		}
	}
	if err := errors.Join(errs...); err != nil && complete == 0 {
		return nil, err
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	name := fmt.Sprintf(trainRSSScenarioF, n)
	return []Row{
		{Scenario: name, Figure: "server RSS before the jobs", Value: fmtBytes(before)},
		{Scenario: name, Figure: "server peak RSS", Value: fmtBytes(peak), Goal: "< 200 MiB", Verdict: verdict(peak < 200<<20)},
		{Scenario: name, Figure: "streams complete", Value: fmt.Sprintf("%d of %d (%d lines each, in order, jobs COMPLETED)", complete, n, lines), Verdict: verdict(complete == n)},
	}, nil
}

// Dataset scenarios: a directory of tiny images imported as an image
// classification dataset, its samples listed with a label filter, and a
// version published as a manifest.
const (
	datasetBucket = "bench-datasets"
	datasetPage   = 500 // samples per page of the listing
	datasetEdge   = 5   // pages compared at each end of the listing
)

// datasetLabels are the label sub-directories; image i is in
// datasetLabels[i%4], and the listing filters on the first.
var datasetLabels = [...]string{"cat", "dog", "bird", "fish"}

// tinyPNG is the body of every image: the PNG signature, enough for a
// file of the IMAGE kind (the import goes by the extension).
var tinyPNG = []byte("\x89PNG\r\n\x1a\n")

// verdictOf is PASS when a goal is met, MISS otherwise.
func verdictOf(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// datasetKey is the object key of image i.
func datasetKey(i int) string {
	return fmt.Sprintf("img/%s/%08d.png", datasetLabels[i%len(datasetLabels)], i)
}

// datasetSamples is cfg's sample count with the default filled in.
func datasetSamples(cfg Config) int { return cmp.Or(cfg.DatasetSamples, 100_000) }

// datasetImportScenario, datasetListScenario and datasetVersionScenario
// name the dataset rows of one store.
func datasetImportScenario(n int, store string) string {
	return fmt.Sprintf("Dataset import, %d images, %s", n, store)
}

func datasetListScenario(n int, store string) string {
	return fmt.Sprintf("Dataset samples, label filter (%d of %d), pages of %d, %s", labelledCount(n, 0), n, datasetPage, store)
}

func datasetVersionScenario(n int, store string) string {
	return fmt.Sprintf("Dataset version, %d samples, %s", n, store)
}

// labelledCount is how many of n images carry datasetLabels[l].
func labelledCount(n, l int) int {
	k := len(datasetLabels)
	return n/k + min(max(n%k-l, 0), 1)
}

// datasetNotMeasured is the row that stands for a store's dataset rows when
// the store is missing.
func datasetNotMeasured(n int, store, why string) Row {
	return Row{Scenario: datasetImportScenario(n, store), Figure: "import, created → COMPLETED", Value: "not measured: " + why}
}

// fillObjects puts n objects of body, keyed by key(i), into bucket with
// putClients goroutines and returns how long it took.
func fillObjects(ctx context.Context, c *sdk.Client, bucket string, n int, key func(int) string, body []byte) (time.Duration, error) {
	keys := make(chan int)
	errs := make([]error, putClients)
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := range putClients {
		wg.Go(func() {
			for i := range keys {
				if errs[g] != nil {
					continue
				}
				_, errs[g] = c.PutObject(ctx, bucket, key(i), bytes.NewReader(body), int64(len(body)), sdk.PutOptions{})
			}
		})
	}
feed:
	for i := range n {
		select {
		case keys <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(keys)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// datasetScenarios fills a directory of n tiny images in label
// sub-directories, imports it as an image classification dataset (timed
// from creation to COMPLETED, with the server's RSS sampled), walks the
// samples of one label in pages of datasetPage, and publishes a version.
func datasetScenarios(ctx context.Context, logf func(string, ...any), c *sdk.Client, pid int, store string, n int) ([]Row, error) {
	if _, err := c.CreateBucket(ctx, datasetBucket); err != nil {
		return nil, err
	}
	logf("datasets on %s: putting %d images", store, n)
	fill, err := fillObjects(ctx, c, datasetBucket, n, datasetKey, tinyPNG)
	if err != nil {
		return nil, fmt.Errorf("filling the image directory: %w", err)
	}

	logf("datasets on %s: importing %d images", store, n)
	imageClassification := 0
	spec := core.DatasetSpec{
		Name:             "bench-images",
		DatasetType:      &imageClassification,
		DataPath:         "/" + datasetBucket + "/img/",
		WorkPath:         "/" + datasetBucket + "/work/",
		AnnotationConfig: &core.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"},
	}
	before := readRSS(pid)
	sampler := startRSS(pid)
	t0 := time.Now()
	ds, task, err := c.CreateDataset(ctx, spec)
	if err == nil && task == nil {
		err = errors.New("the dataset was created without an import task")
	}
	if err == nil {
		task, err = c.WaitImport(ctx, ds.ID, task.ID, 5*time.Millisecond, nil)
	}
	took := time.Since(t0)
	peak := sampler.stop()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if task.State != core.TaskCompleted || task.Imported != int64(n) || task.Rejected != 0 {
		return nil, fmt.Errorf("import ended %s with %d samples imported and %d rejected, want COMPLETED with %d and 0: %q",
			task.State, task.Imported, task.Rejected, n, task.Errors)
	}
	growth := peak - before
	name := datasetImportScenario(n, store)
	rows := []Row{
		{Scenario: name, Figure: "filling the directory (16 clients)", Value: fmt.Sprintf("%s (%.0f PUTs/s)", fill.Round(time.Millisecond), float64(n)/fill.Seconds())},
		{Scenario: name, Figure: "import, created → COMPLETED", Value: fmt.Sprintf("%.0f samples/s (%d in %s, %s)", float64(n)/took.Seconds(), n, took.Round(time.Millisecond), task.Format)},
		{Scenario: name, Figure: "server RSS before the import", Value: fmtBytes(before)},
		{Scenario: name, Figure: "server peak RSS during the import", Value: fmt.Sprintf("%s (+%s)", fmtBytes(peak), fmtBytes(max(growth, 0))),
			Goal: "peak − before < 100 MiB", Verdict: verdictOf(growth < 100<<20)},
	}

	logf("datasets on %s: listing the samples labelled %s", store, datasetLabels[0])
	r, err := datasetListing(ctx, c, ds.ID, n, store)
	if err != nil {
		return nil, fmt.Errorf("listing samples: %w", err)
	}
	rows = append(rows, r...)

	logf("datasets on %s: publishing a version of %d samples", store, n)
	r, err = datasetVersion(ctx, c, ds.ID, n, store)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	return append(rows, r...), nil
}

// datasetListing walks the samples labelled datasetLabels[0] in pages of
// datasetPage, following cursors to the end, checks that every one of them
// comes once and carries the label, and compares the mean time of the
// first full pages with the last ones'.
func datasetListing(ctx context.Context, c *sdk.Client, id string, n int, store string) ([]Row, error) {
	label := datasetLabels[0]
	want := labelledCount(n, 0)
	dir := "/img/" + label + "/"
	seen := make(map[string]struct{}, want)
	var all, full []time.Duration
	f := core.SampleFilter{Label: label, Limit: datasetPage}
	t0 := time.Now()
	for {
		p0 := time.Now()
		page, err := c.ListSamples(ctx, id, f)
		if err != nil {
			return nil, err
		}
		took := time.Since(p0)
		all = append(all, took)
		if len(page.Samples) == datasetPage {
			full = append(full, took)
		}
		for _, s := range page.Samples {
			if _, dup := seen[s.ID]; dup {
				return nil, fmt.Errorf("sample %s comes twice (page %d)", s.ID, len(all))
			}
			seen[s.ID] = struct{}{}
			if !slices.Contains(s.Labels, label) || !strings.Contains(s.Source, dir) {
				return nil, fmt.Errorf("sample %s (%s, labels %q) is not one labelled %s", s.ID, s.Source, s.Labels, label)
			}
		}
		if page.NextCursor == "" {
			break
		}
		if page.NextCursor == f.After || len(all) > want/datasetPage+2 {
			return nil, fmt.Errorf("the listing does not end: page %d has cursor %q", len(all), page.NextCursor)
		}
		f.After = page.NextCursor
	}
	walk := time.Since(t0)
	if len(seen) != want {
		return nil, fmt.Errorf("the listing returned %d samples labelled %s, want %d", len(seen), label, want)
	}
	slices.Sort(all)
	name := datasetListScenario(n, store)
	rows := []Row{
		{Scenario: name, Figure: "walking all pages", Value: fmt.Sprintf("%s (%s, %d samples, each once, all labelled %s)", walk.Round(time.Millisecond), plural(len(all), "page"), len(seen), label)},
		{Scenario: name, Figure: "page latency p50 / p99", Value: fmt.Sprintf("%s / %s", pct(all, 50).Round(10*time.Microsecond), pct(all, 99).Round(10*time.Microsecond))},
	}
	k := min(datasetEdge, len(full)/2)
	if k == 0 {
		return append(rows, Row{Scenario: name, Figure: "last / first", Value: "not measured: fewer than 2 full pages", Goal: "≤ 1.5 (flat)"}), nil
	}
	first, last := mean(full[:k]), mean(full[len(full)-k:])
	ratio := last.Seconds() / first.Seconds()
	return append(rows,
		Row{Scenario: name, Figure: fmt.Sprintf("mean page, first %d / last %d", k, k), Value: fmt.Sprintf("%s / %s", first.Round(10*time.Microsecond), last.Round(10*time.Microsecond))},
		Row{Scenario: name, Figure: "last / first", Value: fmt.Sprintf("%.2f", ratio), Goal: "≤ 1.5 (flat)", Verdict: verdictOf(ratio <= 1.5)},
	), nil
}

// datasetVersion creates a version of the dataset, polls it every 5 ms
// until it is no longer CREATING, and checks its manifest object at the
// seed's path under the work path.
func datasetVersion(ctx context.Context, c *sdk.Client, id string, n int, store string) ([]Row, error) {
	t0 := time.Now()
	v, err := c.CreateDatasetVersion(ctx, id, core.VersionSpec{})
	if err != nil {
		return nil, err
	}
	for v.State == dataset.VersionCreating {
		if time.Since(t0) > 10*time.Minute {
			return nil, fmt.Errorf("version %s still %s after 10 minutes", v.Name, v.State)
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
		if v, err = c.GetDatasetVersion(ctx, id, v.ID); err != nil {
			return nil, err
		}
	}
	took := time.Since(t0)
	if v.State != dataset.VersionNormal || v.SampleCount != int64(n) {
		return nil, fmt.Errorf("version %s ended %s with %d samples, want NORMAL with %d", v.Name, v.State, v.SampleCount, n)
	}
	key := fmt.Sprintf("work/dataset-%s/annotation/V001/V001.manifest", id)
	if want := "/" + datasetBucket + "/" + key; v.ManifestPath != want {
		return nil, fmt.Errorf("version %s has manifest_path %q, want %q", v.Name, v.ManifestPath, want)
	}
	o, err := c.StatObject(ctx, datasetBucket, key)
	if err != nil {
		return nil, fmt.Errorf("the manifest object: %w", err)
	}
	name := datasetVersionScenario(n, store)
	return []Row{
		{Scenario: name, Figure: "publish, created → NORMAL", Value: fmt.Sprintf("%.0f samples/s (%d in %s)", float64(n)/took.Seconds(), n, took.Round(time.Millisecond))},
		{Scenario: name, Figure: "manifest object", Value: fmt.Sprintf("<work>/dataset-<id>/annotation/V001/V001.manifest, %s", fmtBytes(o.Size)),
			Goal: "at the seed's path, size > 0", Verdict: verdictOf(o.Size > 0)},
	}, nil
}
