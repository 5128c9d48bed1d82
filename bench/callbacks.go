package main

// Callback scenarios: event callbacks (CONTRACT §5) delivered by a real
// server process to a receiver in this process, built on the Go receiver
// kit. Every event is an organization creation (CREATE_ORGANIZATION).

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/sdk/go/atelier/callback"
)

const (
	callbackClients       = 16  // clients creating organizations at full speed
	callbackSteadyClients = 16  // clients of the paced run: enough that a slow server, not they, limits the rate
	callbackRate          = 500 // events/s of the paced run
	callbackSigningKey    = "bench-callback-signing-key"
	callbackEncKey        = "bench-aes-256-gcm-key-32-chars!!" // 32 bytes: AES-256
	callbackToken         = "bench-callback-security-token"
	// callbackStall bounds how long a wait for deliveries may see no new
	// event arrive before the run fails.
	callbackStall = time.Minute
	// callbackOutageBackoffMax is the outage server's
	// ATELIER_CALLBACK_BACKOFF_MAX, which also bounds how long its breaker
	// pauses the app: with the default of 10 minutes the receiver's
	// recovery could go unnoticed for that long, and the drain would time
	// the pause. The other settings keep their defaults, so the oldest
	// deliveries, probed once per pause, are dead-lettered after 12
	// attempts (about a minute) and redelivered at recovery.
	callbackOutageBackoffMax = 5 * time.Second
	// callbackKick is how long a wait sees no new event arrive before it
	// redelivers dead-lettered deliveries again (outage row only).
	callbackKick = 10 * time.Second
)

// callbackConfig is cfg's callback sizes with the defaults filled in.
func callbackConfig(cfg Config) Config {
	cfg.CallbackEvents = cmp.Or(cfg.CallbackEvents, 20_000)
	cfg.CallbackSteadyFor = cmp.Or(cfg.CallbackSteadyFor, 10*time.Second)
	cfg.CallbackOutage = cmp.Or(cfg.CallbackOutage, 100_000)
	return cfg
}

// callbackThroughputScenario, callbackLatencyScenario and
// callbackOutageScenario name the callback rows.
func callbackThroughputScenario(encrypted bool) string {
	if encrypted {
		return fmt.Sprintf("Callback throughput, encrypted (AES-256-GCM), %d clients, SQLite", callbackClients)
	}
	return fmt.Sprintf("Callback throughput, plain, %d clients, SQLite", callbackClients)
}

func callbackLatencyScenario() string {
	return fmt.Sprintf("Commit → delivery latency at a steady %d events/s, SQLite", callbackRate)
}

func callbackOutageScenario(n int) string {
	return fmt.Sprintf("Receiver outage of %d events, then recovery, SQLite", n)
}

// callbackScenarios starts a SQLite server that may call 127.0.0.1 for the
// throughput and latency rows, then one of its own for the outage row.
func callbackScenarios(ctx context.Context, logf func(string, ...any), bin, work string, cfg Config) ([]Row, error) {
	cfg = callbackConfig(cfg)
	srv, api, err := startCallbackServer(ctx, bin, filepath.Join(work, "callbacks"))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	defer api.close()

	var rows []Row
	for _, enc := range []string{"", callbackEncKey} {
		kind := "plain"
		if enc != "" {
			kind = "encrypted"
		}
		logf("callbacks: throughput of %d %s events", cfg.CallbackEvents, kind)
		r, err := callbackThroughput(ctx, api, kind, enc, cfg.CallbackEvents)
		if err != nil {
			return nil, fmt.Errorf("throughput, %s: %w", kind, err)
		}
		rows = append(rows, r...)
	}
	logf("callbacks: latency at %d events/s for %s", callbackRate, cfg.CallbackSteadyFor)
	r, err := callbackLatency(ctx, api, cfg.CallbackSteadyFor)
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	rows = append(rows, r...)
	api.close()
	srv.stop()

	logf("callbacks: receiver outage of %d events", cfg.CallbackOutage)
	r, err = callbackOutage(ctx, logf, bin, filepath.Join(work, "callbacks-outage"), cfg.CallbackOutage)
	if err != nil {
		return nil, fmt.Errorf("outage: %w", err)
	}
	return append(rows, r...), nil
}

// callbackThroughput subscribes a fresh app, creates n organizations with
// callbackClients clients and waits until each event has been acknowledged
// by the receiver. The rate runs from the first create request sent to the
// last acknowledgement.
func callbackThroughput(ctx context.Context, api *callbackAPI, kind, encKey string, n int) ([]Row, error) {
	rc, _, unsubscribe, err := api.subscribe(ctx, "bench-cb-"+kind, encKey)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	defer unsubscribe()
	t0 := time.Now()
	ids, committed, err := api.createOrgs(ctx, "cb-"+kind, n, callbackClients)
	if err != nil {
		return nil, err
	}
	arr, err := rc.wait(ctx, ids, callbackStall, nil)
	if err != nil {
		return nil, err
	}
	last := lastArrival(arr)
	total, commits := last.Sub(t0), committed.Sub(t0)
	name := callbackThroughputScenario(encKey != "")
	return []Row{
		{Scenario: name, Figure: "events/s, first commit → last delivery", Value: fmt.Sprintf("%.0f (%d in %s, each acknowledged by the receiver)", float64(n)/total.Seconds(), n, total.Round(time.Millisecond))},
		{Scenario: name, Figure: "commits/s (creating the organizations alone)", Value: fmt.Sprintf("%.0f (%d in %s)", float64(n)/commits.Seconds(), n, commits.Round(time.Millisecond))},
	}, nil
}

// callbackLatency subscribes a fresh app and creates organizations at
// callbackRate per second for d, paced by a ticker and sent by
// callbackSteadyClients clients; each event's latency is its
// acknowledgement at the receiver minus its createdAt.
func callbackLatency(ctx context.Context, api *callbackAPI, d time.Duration) ([]Row, error) {
	rc, _, unsubscribe, err := api.subscribe(ctx, "bench-cb-latency", "")
	if err != nil {
		return nil, err
	}
	defer rc.close()
	defer unsubscribe()
	n := max(1, int(d.Seconds()*callbackRate))
	jobs := make(chan int, n) // the pacer never blocks: a slow server shows as a lower achieved rate
	t0 := time.Now()
	go func() {
		defer close(jobs)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		sent := 0
		for sent < n {
			due := min(n, int(time.Since(t0).Seconds()*callbackRate)+1)
			for ; sent < due; sent++ {
				jobs <- sent
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	ids, committed, err := api.createFrom(ctx, "cb-latency", jobs, n, callbackSteadyClients)
	if err != nil {
		return nil, err
	}
	arr, err := rc.wait(ctx, ids, callbackStall, nil)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, len(arr))
	for i, a := range arr {
		lat[i] = a.latency
	}
	slices.Sort(lat)
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	took := committed.Sub(t0)
	name := callbackLatencyScenario()
	return []Row{
		{Scenario: name, Figure: "latency p50 / p99, createdAt → acknowledged", Value: fmt.Sprintf("%s ms / %s ms (%d events)", ms(pct(lat, 50)), ms(pct(lat, 99)), len(lat))},
		{Scenario: name, Figure: "achieved commit rate", Value: fmt.Sprintf("%.0f events/s (%d in %s, %d clients)", float64(n)/took.Seconds(), n, took.Round(time.Millisecond), callbackSteadyClients)},
	}, nil
}

// callbackOutage starts a server of its own with a 5 s backoff cap, takes
// its receiver down (503), creates n organizations at full speed, reads the
// server's peak RSS, the database's size and the failed and dead-lettered
// attempts, then brings the receiver back, redelivers the dead letters and
// times the drain until every event has been acknowledged.
func callbackOutage(ctx context.Context, logf func(string, ...any), bin, dataDir string, n int) ([]Row, error) {
	srv, api, err := startCallbackServer(ctx, bin, dataDir, "ATELIER_CALLBACK_BACKOFF_MAX="+callbackOutageBackoffMax.String())
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	defer api.close()
	rc, path, unsubscribe, err := api.subscribe(ctx, "bench-cb-outage", "")
	if err != nil {
		return nil, err
	}
	defer rc.close()
	defer unsubscribe()
	failedBefore, err := api.attempts(ctx, "failed")
	if err != nil {
		return nil, err
	}
	deadBefore, err := api.attempts(ctx, "dead")
	if err != nil {
		return nil, err
	}

	pid := srv.cmd.Process.Pid
	before := readRSS(pid)
	sampler := startRSS(pid)
	rc.down.Store(true)
	t0 := time.Now()
	ids, committed, err := api.createOrgs(ctx, "cb-outage", n, callbackClients)
	peak := sampler.stop()
	if err != nil {
		return nil, err
	}
	dbSize, err := sqliteSize(dataDir)
	if err != nil {
		return nil, err
	}
	failedAfter, err := api.attempts(ctx, "failed")
	if err != nil {
		return nil, err
	}
	deadAfter, err := api.attempts(ctx, "dead")
	if err != nil {
		return nil, err
	}
	refused := rc.refused.Load()

	logf("callbacks: the receiver is back; draining %d events", n)
	recovered := time.Now()
	rc.down.Store(false)
	// Deliveries whose last 503 is recorded after this call are
	// dead-lettered too late for it; a wait that stalls redelivers again.
	redelivered := 0
	redeliver := func(ctx context.Context) error {
		var out struct {
			Redelivered int `json:"redelivered"`
		}
		if err := api.call(ctx, http.MethodPost, path+"/redeliver", map[string]string{}, http.StatusOK, &out); err != nil {
			return fmt.Errorf("redelivering dead letters: %w", err)
		}
		redelivered += out.Redelivered
		return nil
	}
	if err := redeliver(ctx); err != nil {
		return nil, err
	}
	arr, err := rc.wait(ctx, ids, callbackStall, redeliver)
	if err != nil {
		return nil, err
	}
	drain := lastArrival(arr).Sub(recovered)
	commits := committed.Sub(t0)
	name := callbackOutageScenario(n)
	return []Row{
		{Scenario: name, Figure: "commits/s while the receiver is down", Value: fmt.Sprintf("%.0f (%d in %s, %d clients)", float64(n)/commits.Seconds(), n, commits.Round(time.Millisecond), callbackClients)},
		{Scenario: name, Figure: "server peak RSS during the outage", Value: fmt.Sprintf("%s (%s before)", fmtBytes(peak), fmtBytes(before))},
		{Scenario: name, Figure: "database on disk at the end of the outage", Value: fmt.Sprintf("%s (atelier.db + atelier.db-wal)", fmtBytes(dbSize))},
		{Scenario: name, Figure: "failed attempts during the outage", Value: fmt.Sprintf("%.0f (atelier_callback_attempts_total{result=\"failed\"}; %d answered 503 by the receiver; backoff cap %s)", failedAfter-failedBefore, refused, callbackOutageBackoffMax)},
		{Scenario: name, Figure: "dead-lettered during the outage", Value: fmt.Sprintf("%.0f (result=\"dead\", after 12 attempts; %d redelivered at recovery)", deadAfter-deadBefore, redelivered)},
		{Scenario: name, Figure: "drain, recovery → last event acknowledged", Value: fmt.Sprintf("%s (%d events, %.0f events/s)", drain.Round(time.Millisecond), n, float64(n)/drain.Seconds())},
	}, nil
}

// sqliteSize is the size of atelier.db and its write-ahead log in dataDir.
func sqliteSize(dataDir string) (int64, error) {
	var total int64
	for _, name := range []string{"atelier.db", "atelier.db-wal"} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		switch {
		case errors.Is(err, os.ErrNotExist) && name != "atelier.db":
		case err != nil:
			return 0, err
		default:
			total += fi.Size()
		}
	}
	return total, nil
}

// arrival is the first acknowledged delivery of one organization's event.
type arrival struct {
	at      time.Time     // when the receiver acknowledged it
	latency time.Duration // at minus the event's createdAt
}

// lastArrival is the latest of arr's acknowledgements.
func lastArrival(arr []arrival) time.Time {
	var last time.Time
	for _, a := range arr {
		if a.at.After(last) {
			last = a.at
		}
	}
	return last
}

// cbReceiver is an app's callback URL on 127.0.0.1, served by the receiver
// kit's handler: it verifies each POST (security token, signature,
// timestamp), decrypts it when the app has an encryption key, answers
// CHECK_URL, drops duplicate nonces and records the first arrival of each
// organization. While down is set it answers 503 before looking at the
// request.
type cbReceiver struct {
	url     string
	srv     *http.Server
	down    atomic.Bool
	refused atomic.Int64 // POSTs answered 503

	mu    sync.Mutex
	first map[string]arrival // by organization id
	bad   error              // the first event that was not a well-formed organization creation
}

func startReceiver(encKey string) (*cbReceiver, error) {
	rc := &cbReceiver{first: map[string]arrival{}}
	h, err := callback.NewHandler(callback.Config{
		SigningKeys:    []string{callbackSigningKey},
		EncryptionKeys: []string{encKey},
		SecurityTokens: []string{callbackToken},
		Next:           rc.event,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc.url = "http://" + ln.Addr().String() + "/atelier/events"
	mux := http.NewServeMux()
	mux.Handle("/atelier/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.down.Load() {
			rc.refused.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":"503","message":"receiver down"}`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	rc.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

func (rc *cbReceiver) close() { _ = rc.srv.Close() }

// event is the kit's Next: it records the first arrival of an
// organization and acknowledges it.
func (rc *cbReceiver) event(_ context.Context, eventType string, data json.RawMessage) (any, error) {
	now := time.Now()
	var e struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"createdAt"`
	}
	err := json.Unmarshal(data, &e)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case eventType != core.EventCreateOrganization || err != nil || e.ID == "" || e.CreatedAt.IsZero():
		if rc.bad == nil {
			rc.bad = fmt.Errorf("the receiver got a %s event it cannot read (%v): %.200s", eventType, err, data)
		}
	default:
		if _, seen := rc.first[e.ID]; !seen {
			rc.first[e.ID] = arrival{at: now, latency: now.Sub(e.CreatedAt)}
		}
	}
	return nil, nil
}

// wait polls until every organization of ids has arrived and returns their
// arrivals in the order of ids. It fails when no new one arrives for stall;
// kick, when not nil, is called after each callbackKick without one.
func (rc *cbReceiver) wait(ctx context.Context, ids []string, stall time.Duration, kick func(context.Context) error) ([]arrival, error) {
	out := make([]arrival, len(ids))
	missing := make([]int, len(ids))
	for i := range missing {
		missing[i] = i
	}
	progress := time.Now()
	kicked := progress
	for {
		rc.mu.Lock()
		bad := rc.bad
		left := missing[:0]
		for _, i := range missing {
			if a, ok := rc.first[ids[i]]; ok {
				out[i] = a
			} else {
				left = append(left, i)
			}
		}
		rc.mu.Unlock()
		if bad != nil {
			return nil, bad
		}
		if len(left) < len(missing) {
			progress = time.Now()
			kicked = progress
		}
		missing = left
		if len(missing) == 0 {
			return out, nil
		}
		if time.Since(progress) > stall {
			return nil, fmt.Errorf("%d of %d events have not arrived, and none came for %s", len(missing), len(ids), stall)
		}
		if kick != nil && time.Since(kicked) > callbackKick {
			kicked = time.Now()
			if err := kick(ctx); err != nil {
				return nil, err
			}
		}
		if err := pause(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// callbackAPI calls one server's HTTP API as the admin. It is safe for
// concurrent use.
type callbackAPI struct {
	*apiClient
	token string
}

// startCallbackServer starts a SQLite server in dataDir that may call
// 127.0.0.1, with the extra settings env, and logs the admin in.
func startCallbackServer(ctx context.Context, bin, dataDir string, env ...string) (*server, *callbackAPI, error) {
	srv, err := startServer(ctx, bin, dataDir, append([]string{"ATELIER_CALLBACK_ALLOW_PRIVATE=1"}, env...))
	if err != nil {
		return nil, nil, err
	}
	api, err := newCallbackAPI(ctx, srv.endpoint)
	if err != nil {
		srv.stop()
		return nil, nil, err
	}
	return srv, api, nil
}

// newCallbackAPI logs the admin in to the server at endpoint.
func newCallbackAPI(ctx context.Context, endpoint string) (*callbackAPI, error) {
	a := newAPI(endpoint, callbackClients)
	res, err := a.login(ctx, "bench-callbacks")
	if err != nil {
		a.close()
		return nil, fmt.Errorf("login: %w", err)
	}
	return &callbackAPI{apiClient: a, token: res.SessionToken}, nil
}

// call sends in as JSON (none when nil) with the admin's token, wants the
// status want and decodes the answer into out (dropped when nil).
func (a *callbackAPI) call(ctx context.Context, method, path string, in any, want int, out any) error {
	header := http.Header{"Authorization": {"Bearer " + a.token}}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		header.Set("Content-Type", "application/json")
	}
	return a.doWant(ctx, method, path, header, body, want, out)
}

// subscribe starts a receiver, registers an app named name and points its
// callback at the receiver for CREATE_ORGANIZATION, with encKey (none when
// empty). The platform proves the URL with CHECK_URL before it answers.
// path is the callback's, /v1/apps/{client_id}/callback; unsubscribe
// deletes the callback, so that the next run's events are not sent to this
// receiver too.
func (a *callbackAPI) subscribe(ctx context.Context, name, encKey string) (rc *cbReceiver, path string, unsubscribe func(), err error) {
	rc, err = startReceiver(encKey)
	if err != nil {
		return nil, "", nil, err
	}
	var app struct {
		ClientID string `json:"client_id"`
	}
	if err := a.call(ctx, http.MethodPost, "/v1/apps", map[string]string{"name": name}, http.StatusCreated, &app); err != nil {
		rc.close()
		return nil, "", nil, fmt.Errorf("creating the app: %w", err)
	}
	spec := map[string]any{"url": rc.url, "signing_key": callbackSigningKey, "security_token": callbackToken,
		"event_types": []string{core.EventCreateOrganization}}
	if encKey != "" {
		spec["encryption_key"] = encKey
	}
	path = "/v1/apps/" + app.ClientID + "/callback"
	if err := a.call(ctx, http.MethodPut, path, spec, http.StatusOK, nil); err != nil {
		rc.close()
		return nil, "", nil, fmt.Errorf("setting the callback: %w", err)
	}
	return rc, path, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = a.call(ctx, http.MethodDelete, path, nil, http.StatusNoContent, nil)
	}, nil
}

// createOrgs creates n organizations named prefix-<i> with clients
// goroutines as fast as the server answers.
func (a *callbackAPI) createOrgs(ctx context.Context, prefix string, n, clients int) (ids []string, last time.Time, err error) {
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	return a.createFrom(ctx, prefix, jobs, n, clients)
}

// createFrom creates the organization prefix-<i> for each i received from
// jobs with clients goroutines. It returns the ids of the n organizations
// and when the last creation was answered; the first failure stops it.
func (a *callbackAPI) createFrom(parent context.Context, prefix string, jobs <-chan int, n, clients int) (ids []string, last time.Time, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ids = make([]string, n)
	lasts := make([]time.Time, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					continue // drain, so that the producer never blocks
				}
				var o struct {
					ID string `json:"id"`
				}
				if err := a.call(ctx, http.MethodPost, "/v1/orgs", map[string]string{"name": fmt.Sprintf("%s-%07d", prefix, i)}, http.StatusCreated, &o); err != nil {
					errs[g] = fmt.Errorf("creating organization %d: %w", i, err)
					cancel()
					continue
				}
				ids[i] = o.ID
				lasts[g] = time.Now()
			}
		})
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return nil, time.Time{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, time.Time{}, err
	}
	for i, id := range ids {
		if id == "" {
			return nil, time.Time{}, fmt.Errorf("organization %d was not created", i)
		}
	}
	for _, t := range lasts {
		if t.After(last) {
			last = t
		}
	}
	return ids, last, nil
}

// attempts reads atelier_callback_attempts_total{result="<result>"} from
// the server's /metrics; 0 while the counter has no such series.
func (a *callbackAPI) attempts(ctx context.Context, result string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	series := `atelier_callback_attempts_total{result="` + result + `"} `
	var v float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, fmt.Errorf("/metrics: %q has no value", sc.Text())
			}
			if v, err = strconv.ParseFloat(f[0], 64); err != nil {
				return 0, fmt.Errorf("/metrics: %q: %w", sc.Text(), err)
			}
		}
	}
	return v, sc.Err()
}
