// Command bench measures the object store end to end against a real
// `atelier server` process and prints a Markdown table of the figures the
// foundation issue sets goals for: large-file throughput against cp on the
// same disk, server memory while streaming, small PUTs per second on SQLite
// and PostgreSQL, and walking a large listing page by page.
//
//	go run ./bench            # full sizes: 1 GiB, 10 s of PUTs, 100,000 objects
//	go run ./bench -quick     # a smoke run of a few seconds
//
// Everything talks to 127.0.0.1 only and is bounded in time.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
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
	"github.com/atelier-dev/atelier/internal/pgtest"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

const (
	adminEmail    = "bench@atelier.local"
	adminPassword = "bench password 123"
	putClients    = 16
	putSize       = 4 << 10
	listPage      = 1000
)

// Config selects the sizes of a run. It is a plain value.
type Config struct {
	Bin          string        // server binary; built when empty
	Size         int64         // bytes of the large file
	PutsDuration time.Duration // measured time of the small-PUT run
	ListObjects  int           // objects in the listing
	ListPG       bool          // also walk the listing on PostgreSQL
	NoPG         bool          // measure nothing on PostgreSQL
	RequirePG    bool          // fail when PostgreSQL is missing
	Keep         bool          // keep the work directory
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
	quick := flag.Bool("quick", false, "tiny sizes for a smoke run (32 MiB, 2 s, 5,000 objects)")
	size := flag.String("size", "1GiB", "size of the large file (bytes, or with KiB/MiB/GiB)")
	out := flag.String("o", "table", "output: table or json")
	flag.StringVar(&cfg.Bin, "bin", "", "server binary (default: build ./cmd/atelier)")
	flag.DurationVar(&cfg.PutsDuration, "puts-duration", 10*time.Second, "measured duration of the 4 KiB PUT run")
	flag.IntVar(&cfg.ListObjects, "list-objects", 100_000, "objects in the listing scenario")
	flag.BoolVar(&cfg.ListPG, "list-pg", false, "also walk the listing on PostgreSQL")
	flag.BoolVar(&cfg.RequirePG, "require-pg", false, "fail when PostgreSQL binaries are missing")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the work directory")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
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
	if *quick {
		cfg.Size, cfg.PutsDuration, cfg.ListObjects = 32<<20, 2*time.Second, 5000
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

	srv, err := startServer(ctx, bin, filepath.Join(work, "sqlite"), nil)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := srv.login(ctx)
	if err != nil {
		return nil, err
	}

	logf("large file: %s", fmtBytes(cfg.Size))
	r, err := largeFile(ctx, logf, c, srv.cmd.Process.Pid, filepath.Join(work, "files"), cfg.Size)
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
	srv.stop()

	if cfg.NoPG {
		return rows, nil
	}
	logf("starting a throwaway PostgreSQL cluster")
	url, stopPG, err := pgtest.StartCluster()
	switch {
	case errors.Is(err, pgtest.ErrNoBinaries) && !cfg.RequirePG:
		logf("no PostgreSQL: %v", err)
		rows = append(rows, Row{Scenario: fmt.Sprintf("4 KiB PUTs, %d clients, PostgreSQL", putClients), Figure: "PUTs/s", Value: "not measured: no PostgreSQL"})
		if cfg.ListPG {
			rows = append(rows, Row{Scenario: fmt.Sprintf("Listing %d objects, pages of %d, PostgreSQL", cfg.ListObjects, listPage), Figure: "last / first", Value: "not measured: no PostgreSQL"})
		}
		return rows, nil
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
	logf("4 KiB PUTs on PostgreSQL for %s", cfg.PutsDuration)
	r, err = smallPuts(ctx, pc, "PostgreSQL", cfg.PutsDuration)
	if err != nil {
		return rows, fmt.Errorf("small puts on PostgreSQL: %w", err)
	}
	rows = append(rows, r...)
	if cfg.ListPG {
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
	warm := min(d/5, time.Second)
	start := time.Now()
	measureFrom, end := start.Add(warm), start.Add(warm+d)
	lat := make([][]time.Duration, putClients)
	done := make([]int, putClients)
	errs := make([]error, putClients)
	var wg sync.WaitGroup
	for g := range putClients {
		wg.Go(func() {
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				key := fmt.Sprintf("c%02d/%08d", g, i)
				if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), putSize, sdk.PutOptions{}); err != nil {
					errs[g] = err
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return nil, errors.New("no PUT completed")
	}
	var n int
	for _, k := range done {
		n += k
	}
	name := fmt.Sprintf("4 KiB PUTs, %d clients, %s", putClients, store)
	return []Row{
		{Scenario: name, Figure: "PUTs/s", Value: fmt.Sprintf("%.0f (%d in %s)", float64(n)/d.Seconds(), n, d)},
		{Scenario: name, Figure: "latency p50 / p99", Value: fmt.Sprintf("%s / %s", pct(all, 50), pct(all, 99))},
	}, nil
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
				_, errs[g] = c.PutObject(ctx, bucket, listKey(i), strings.NewReader("x"), 1, sdk.PutOptions{})
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
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	fill := time.Since(t0)

	var full []time.Duration // times of the pages that held listPage keys
	token, seen, pages := "", 0, 0
	t0 = time.Now()
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
	cmd.Env = append(os.Environ(), "ATELIER_ADMIN_EMAIL="+adminEmail, "ATELIER_ADMIN_PASSWORD="+adminPassword, "ATELIER_LOG_LEVEL=warn")
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
