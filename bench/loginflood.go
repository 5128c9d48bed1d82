package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	core "github.com/atelier-dev/atelier"
)

// defaultFloodLogins is the size of the login flood of issue 13: 400 logins
// for unknown emails at once, each from its own loopback address.
const defaultFloodLogins = 400

// floodScenario names the login flood rows.
func floodScenario(n int) string {
	return fmt.Sprintf("Login flood: %d unknown emails from %d addresses at once, SQLite", n, n)
}

// loopbackAddr returns the i-th address of 127.0.0.0/8 after 127.0.1.0,
// which Linux routes to lo without any set-up.
func loopbackAddr(i int) net.IP {
	i += 256 // 127.0.1.0 on: 127.0.0.1 stays the server's and /healthz's
	return net.IPv4(127, byte(i>>16), byte(i>>8), byte(i))
}

// fromAddr returns an HTTP client whose connections leave from ip.
func fromAddr(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1, DisableKeepAlives: true}}
}

// floodAnswer is what one login of the flood got.
type floodAnswer struct {
	status int // 0: no answer
	took   time.Duration
}

// loginFloodScenarios starts a fresh server with the default login rate
// limits and sends n logins for unknown emails at once, each from its own
// loopback address, while /healthz is asked every 10 ms from 127.0.0.1
// and a legitimate login is tried from yet another address (again after
// each 429's Retry-After, as a client does). It reports the server's peak
// RSS, the /healthz p99, the flood's answers and the legitimate login.
func loginFloodScenarios(ctx context.Context, logf func(string, ...any), bin, work string, n int) ([]Row, error) {
	name := floodScenario(n)
	if runtime.GOOS != "linux" {
		return []Row{{Scenario: name, Figure: "server peak RSS", Value: "not measured: needs Linux's 127.0.0.0/8 on lo"}}, nil
	}
	srv, err := startServer(ctx, bin, filepath.Join(work, "flood"), []string{
		// The defaults, not the other runs' "off": each address sends one
		// login, as an attack from many addresses does.
		"ATELIER_LOGIN_RATE_PER_IP=30", "ATELIER_LOGIN_RATE_PER_ACCOUNT=10",
		// No job runs here: the sandbox is not needed.
		"ATELIER_SANDBOX=none",
	})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	api := newAPI(srv.endpoint, 2)
	defer api.close()
	if _, err := api.login(ctx, "bench-flood-warmup"); err != nil {
		return nil, fmt.Errorf("warm-up login: %w", err)
	}
	baseRSS := readRSS(srv.cmd.Process.Pid)
	idleLat := healthLatencies(ctx, srv.endpoint, time.Second)
	logf("login flood: %d logins from %d addresses", n, n)

	rss := startRSS(srv.cmd.Process.Pid)
	floodCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	headers := http.Header{
		"Content-Type":            {"application/json"},
		"X-Client-Id":             {core.CLIClientID},
		"X-Operating-Sys-Version": {runtime.GOOS},
		"X-Device-Fingerprint":    {"bench-flood"},
		"X-Agent":                 {"atelier-bench"},
	}
	post := func(ctx context.Context, hc *http.Client, body []byte) (int, http.Header, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.endpoint+"/api/v2/sdk/login/email", bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header = headers.Clone()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, nil
	}

	// /healthz from 127.0.0.1 every 10 ms while the flood lasts.
	healthCtx, stopHealth := context.WithCancel(ctx)
	healthLat := make(chan []time.Duration, 1)
	go func() { healthLat <- healthLatencies(healthCtx, srv.endpoint, time.Hour) }()

	answers := make([]floodAnswer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := fromAddr(loopbackAddr(i))
			defer hc.CloseIdleConnections()
			body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("flood-%d@example.com", i), "password": "guess"})
			<-start
			t0 := time.Now()
			status, _, err := post(floodCtx, hc, body)
			if err != nil {
				status = 0
			}
			answers[i] = floodAnswer{status: status, took: time.Since(t0)}
		}()
	}

	// The legitimate login, from an address outside the flood's, starts
	// with the flood and retries after each 429's Retry-After.
	type legit struct {
		attempts int
		took     time.Duration
		err      error
	}
	legitDone := make(chan legit, 1)
	go func() {
		hc := fromAddr(loopbackAddr(n + 1))
		defer hc.CloseIdleConnections()
		<-start
		t0 := time.Now()
		var r legit
		for r.attempts = 1; ; r.attempts++ {
			status, h, err := post(floodCtx, hc, api.loginBody)
			if err == nil && status == http.StatusOK {
				r.took = time.Since(t0)
				break
			}
			if err == nil && status == http.StatusTooManyRequests {
				secs, _ := strconv.Atoi(h.Get("Retry-After"))
				select {
				case <-time.After(time.Duration(max(secs, 1)) * time.Second):
					continue
				case <-floodCtx.Done():
					err = floodCtx.Err()
				}
			}
			r.err = cmp.Or(err, fmt.Errorf("HTTP %d", status))
			break
		}
		legitDone <- r
	}()

	t0 := time.Now()
	close(start)
	wg.Wait()
	floodTook := time.Since(t0)
	lg := <-legitDone
	stopHealth()
	lat := <-healthLat
	peak := rss.stop()

	counts := map[int]int{}
	for _, a := range answers {
		counts[a.status]++
	}
	slices.Sort(lat)
	p99 := pct(lat, 99)
	slices.Sort(idleLat)
	answered := fmt.Sprintf("%d × 400 (wrong credentials), %d × 429 (busy) in %s", counts[http.StatusBadRequest], counts[http.StatusTooManyRequests], floodTook.Round(10*time.Millisecond))
	if other := n - counts[http.StatusBadRequest] - counts[http.StatusTooManyRequests]; other > 0 {
		answered += fmt.Sprintf(", %d other (%v)", other, counts)
	}
	legitValue := fmt.Sprintf("SUCCESS after %s, %s", lg.took.Round(10*time.Millisecond), plural(lg.attempts, "attempt"))
	if lg.err != nil {
		legitValue = fmt.Sprintf("failed after %s: %v", plural(lg.attempts, "attempt"), lg.err)
	}
	if len(lat) == 0 || len(idleLat) == 0 {
		return nil, errors.New("login flood: no /healthz answer timed")
	}
	return []Row{
		{Scenario: name, Figure: "server peak RSS (idle before)", Value: fmt.Sprintf("%s (%s)", fmtBytes(peak), fmtBytes(baseRSS)), Goal: "< 300 MiB", Verdict: verdictOf(peak < 300<<20)},
		{Scenario: name, Figure: "/healthz p99 during the flood", Value: fmt.Sprintf("%s (%d requests; idle before: %s)", p99.Round(100*time.Microsecond), len(lat), pct(idleLat, 99).Round(100*time.Microsecond)), Goal: "< 100 ms", Verdict: verdictOf(p99 < 100*time.Millisecond)},
		{Scenario: name, Figure: "legitimate login from another address", Value: legitValue, Goal: "succeeds", Verdict: verdictOf(lg.err == nil)},
		{Scenario: name, Figure: "flood answers", Value: answered, Goal: fmt.Sprintf("all %d answered", n), Verdict: verdictOf(counts[0] == 0)},
	}, nil
}

// healthLatencies asks endpoint's /healthz every 10 ms for d or until ctx
// ends, and returns how long each answer took.
func healthLatencies(ctx context.Context, endpoint string, d time.Duration) []time.Duration {
	var lat []time.Duration
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	end := time.After(d)
	for {
		start := time.Now()
		resp, err := hc.Get(endpoint + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		lat = append(lat, time.Since(start))
		select {
		case <-ctx.Done():
			return lat
		case <-end:
			return lat
		case <-t.C:
		}
	}
}
