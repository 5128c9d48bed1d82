package main

// Serving scenarios (issue 14): the inference gateway's overhead against
// calling the instance directly, the accuracy of a 90/10 canary, and a
// rollout to a new model version under constant load, against a real
// `atelier server` whose instances run on its local executor.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/atelier-dev/atelier/executor/localexec"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

const (
	servingClients = 16 // connections of the gateway overhead rows
	rolloutClients = 8  // clients keeping the load up during the rollout
	servingFlavor  = "bench.cpu.1u"
	servingService = "bench-ok"
	canaryService  = "bench-canary"
	// servingRounds: the direct and gateway runs alternate in this many
	// slices each, so that the machine's other load falls on both alike.
	servingRounds = 4
)

// okHandler answers {"ok": 1} (with the model version it serves, so that
// the canary and rollout rows can tell the versions apart) at once.
const okHandler = `import os

class OkService:
    def __init__(self, model_name, model_path):
        self.version = os.environ.get("ATELIER_MODEL_VERSION", "")

    def _inference(self, data):
        return {"ok": 1, "v": self.version}
`

const okConfig = `{"model_algorithm": "ok", "model_type": "Custom", "runtime": "python3"}`

// Bodies of the requests: a ModelArts prediction and a KServe V2 infer.
var (
	predictBody = []byte(`{"instances": [[1]]}`)
	inferBody   = []byte(`{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`)
)

// servingConfig is cfg's serving sizes with the defaults filled in.
func servingConfig(cfg Config) Config {
	cfg.ServingFor = cmp.Or(cfg.ServingFor, 10*time.Second)
	cfg.CanaryRequests = cmp.Or(cfg.CanaryRequests, 10_000)
	return cfg
}

func gatewayScenario(kind string) string {
	return fmt.Sprintf("Gateway overhead, %s, %d connections, 1 instance (Python runtime)", kind, servingClients)
}

func canaryScenario(n int) string {
	return fmt.Sprintf("Canary 90/10, %d requests, %d clients", n, servingClients)
}

func rolloutScenario() string {
	return fmt.Sprintf("Rollout to a new model version, %d clients of constant load", rolloutClients)
}

// servingScenarios starts a server with a one-core flavor and enough slots
// for two services and a rollout, registers two versions of a model that
// answers {"ok": 1}, and runs the gateway, canary and rollout rows.
func servingScenarios(ctx context.Context, logf func(string, ...any), bin, work string, cfg Config) ([]Row, error) {
	cfg = servingConfig(cfg)
	if findPython(ctx) == "" {
		logf("serving: no python3, the serving rows are not measured")
		no := "not measured: no python3"
		return []Row{
			{Scenario: gatewayScenario("ModelArts predict"), Figure: "gateway / direct throughput", Value: no},
			{Scenario: canaryScenario(cfg.CanaryRequests), Figure: "shares", Value: no},
			{Scenario: rolloutScenario(), Figure: "failed requests", Value: no},
		}, nil
	}
	flavors := filepath.Join(work, "serving-flavors.json")
	if err := os.WriteFile(flavors, []byte(`[{"flavor_id":"`+servingFlavor+`","cpu":1,"memory_mb":1024,"max_num":4}]`), 0o644); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(work, "serving")
	srv, err := startServer(ctx, bin, dataDir, []string{"ATELIER_TRAINING_SLOTS=8", "ATELIER_TRAINING_FLAVORS=" + flavors})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := sdk.New(sdk.Options{Endpoint: srv.endpoint})
	if err != nil {
		return nil, err
	}
	login, err := c.LoginEmail(ctx, adminEmail, adminPassword, "")
	if err != nil {
		return nil, err
	}
	c.SetToken(login.SessionToken)
	token := login.SessionToken
	// Instances outlive a server's stop (the next one re-adopts them):
	// delete the services first.
	var services []string
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, id := range services {
			if err := c.DeleteService(dctx, id); err != nil {
				logf("serving: deleting service %s: %v", id, err)
			}
		}
	}()

	if _, err := c.CreateBucket(ctx, "bench-models"); err != nil {
		return nil, err
	}
	var models []*core.Model
	for _, v := range []string{"1.0.0", "2.0.0"} {
		for name, body := range map[string]string{"config.json": okConfig, "customize_service.py": okHandler} {
			if _, err := c.PutObject(ctx, "bench-models", "ok/"+v+"/"+name, strings.NewReader(body), int64(len(body)), sdk.PutOptions{}); err != nil {
				return nil, err
			}
		}
		m, err := c.RegisterModel(ctx, core.ModelSpec{Name: "bench-ok", Version: v, SourceLocation: "obs://bench-models/ok/" + v + "/", ModelType: "Custom"})
		if err != nil {
			return nil, err
		}
		if m, err = c.WaitModel(ctx, m.ID, 20*time.Millisecond); err != nil {
			return nil, err
		}
		if m.Status != core.ModelPublished {
			return nil, fmt.Errorf("model %s is %s: %s", v, m.Status, m.Reason)
		}
		models = append(models, m)
	}
	config := func(m *core.Model, weight int) core.ServiceConfig {
		return core.ServiceConfig{ModelID: m.ID, Weight: weight, InstanceCount: 1, Specification: servingFlavor}
	}

	logf("serving: deploying %s", servingService)
	svc, err := deployAndWait(ctx, c, &services, core.ServiceSpec{Name: servingService, Configs: []core.ServiceConfig{config(models[0], 100)}})
	if err != nil {
		return nil, err
	}
	if len(svc.Instances) != 1 {
		return nil, fmt.Errorf("service %s has %d instances, want 1", svc.ID, len(svc.Instances))
	}
	addr, pgid, err := instanceAddr(dataDir, svc.Instances[0].ID)
	if err != nil {
		return nil, err
	}
	cpu := cpuMeters{server: func() time.Duration { return processCPU(srv.cmd.Process.Pid) }, instance: func() time.Duration { return groupCPU(pgid) }}
	sandbox := "ATELIER_SANDBOX default"
	if v := os.Getenv("ATELIER_SANDBOX"); v != "" {
		sandbox = "ATELIER_SANDBOX=" + v
	}
	logf("serving: gateway overhead, %s per target (%s), instance at %s", cfg.ServingFor, sandbox, addr)
	var rows []Row
	for _, k := range []struct{ kind, direct, gateway string }{
		{"ModelArts predict", "POST /", "POST /v1/services/{id}/predict"},
		{"KServe V2 infer", "POST /v2/models/{name}/infer", "POST /v2/models/{name}/infer"},
	} {
		body, directURL, gatewayURL := predictBody, "http://"+addr+"/", srv.endpoint+"/v1/services/"+svc.ID+"/predict"
		if strings.HasPrefix(k.kind, "KServe") {
			body = inferBody
			directURL = "http://" + addr + "/v2/models/" + servingService + "/infer"
			gatewayURL = srv.endpoint + "/v2/models/" + servingService + "/infer"
		}
		r, err := gatewayOverhead(ctx, k.kind, k.direct, k.gateway, directURL, gatewayURL, token, body, cfg.ServingFor, cpu)
		if err != nil {
			return rows, fmt.Errorf("gateway overhead, %s: %w", k.kind, err)
		}
		rows = append(rows, r...)
	}
	r, err := authReference(ctx, srv.endpoint, token, cfg.ServingFor/servingRounds, cpu)
	if err != nil {
		return rows, fmt.Errorf("authentication reference: %w", err)
	}
	rows = append(rows, r)

	logf("serving: canary of %d requests", cfg.CanaryRequests)
	canary, err := deployAndWait(ctx, c, &services, core.ServiceSpec{Name: canaryService,
		Configs: []core.ServiceConfig{config(models[0], 90), config(models[1], 10)}})
	if err != nil {
		return rows, err
	}
	r2, err := canaryShares(ctx, srv.endpoint, token, canary, cfg.CanaryRequests)
	if err != nil {
		return rows, fmt.Errorf("canary: %w", err)
	}
	rows = append(rows, r2...)
	if err := c.DeleteService(ctx, canary.ID); err != nil {
		return rows, err
	}
	services = slices.DeleteFunc(services, func(id string) bool { return id == canary.ID })

	logf("serving: rollout from %s to %s under load", models[0].Version, models[1].Version)
	r2, err = rollout(ctx, c, srv.endpoint, token, svc, config(models[1], 100))
	if err != nil {
		return rows, fmt.Errorf("rollout: %w", err)
	}
	return append(rows, r2...), nil
}

// deployAndWait deploys a service and waits until it is running with every
// instance ready.
func deployAndWait(ctx context.Context, c *sdk.Client, ids *[]string, spec core.ServiceSpec) (*core.InferenceService, error) {
	svc, err := c.DeployService(ctx, spec)
	if err != nil {
		return nil, err
	}
	*ids = append(*ids, svc.ID)
	want := 0
	for _, cf := range spec.Configs {
		want += cf.InstanceCount
	}
	return waitService(ctx, c, svc.ID, 2*time.Minute, func(s *core.InferenceService) (bool, error) {
		if s.Status == core.ServiceFailed {
			return false, fmt.Errorf("service %s failed: %s", s.Name, s.Reason)
		}
		return s.Status == core.ServiceRunning && readyInstances(s, s.Generation) == want && len(s.Instances) == want, nil
	})
}

// readyInstances counts the ready instances of generation gen.
func readyInstances(s *core.InferenceService, gen int64) int {
	n := 0
	for _, in := range s.Instances {
		if in.Generation == gen && in.Status == core.InstanceReady {
			n++
		}
	}
	return n
}

// waitService polls a service every 20 ms until done says so, for at most
// limit.
func waitService(ctx context.Context, c *sdk.Client, id string, limit time.Duration, done func(*core.InferenceService) (bool, error)) (*core.InferenceService, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last *core.InferenceService
	for {
		s, err := c.GetService(ctx, id)
		if err == nil {
			last = s
			var ok bool
			if ok, err = done(s); ok || err != nil {
				return s, err
			}
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			if last != nil {
				return nil, fmt.Errorf("service %s: still %s after %s (%s)", id, last.Status, limit, last.Reason)
			}
			return nil, err
		}
	}
}

// instanceAddr reads an instance's address and process group from the
// local executor's state file of its task
// (<data>/executor/local/tasks/<id>/task.json), where the server's own
// gateway learns the address from; the API shows neither.
func instanceAddr(dataDir, instanceID string) (addr string, pgid int, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "executor", localexec.Name, "tasks", instanceID, "task.json"))
	if err != nil {
		return "", 0, fmt.Errorf("the instance's task state: %w", err)
	}
	var st struct {
		Ports [][]int `json:"ports"`
		PIDs  []int   `json:"pids"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return "", 0, err
	}
	if len(st.Ports) == 0 || len(st.Ports[0]) == 0 || len(st.PIDs) == 0 {
		return "", 0, fmt.Errorf("the instance's task state names no port or process")
	}
	return "127.0.0.1:" + strconv.Itoa(st.Ports[0][0]), st.PIDs[0], nil
}

// clockTick is the unit of the CPU times in /proc (USER_HZ).
const clockTick = 10 * time.Millisecond

// statFields returns the fields of /proc/<pid>/stat after the command
// name: [0] is the state, [2] the process group, [11] and [12] utime and
// stime.
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func cpuOf(f []string) time.Duration {
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// processCPU is the CPU time a process has used.
func processCPU(pid int) time.Duration { return cpuOf(statFields(strconv.Itoa(pid))) }

// groupCPU is the CPU time the live processes of a process group have
// used (the sandbox and the runtime of an instance).
func groupCPU(pgid int) time.Duration {
	ents, _ := os.ReadDir("/proc")
	var sum time.Duration
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if f := statFields(e.Name()); len(f) > 2 && f[2] == want {
			sum += cpuOf(f)
		}
	}
	return sum
}

// servingClient is one HTTP client of n kept-alive connections.
func servingClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute, DisableCompression: true}}
}

// post sends body to url (with the session token when given) and returns
// the answer's status, its X-Atelier-Config header and its body, read
// whole.
func post(ctx context.Context, hc *http.Client, url, token string, body []byte) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Atelier-Config"), b, err
}

// cpuMeters read the CPU time the server and the instance have used.
type cpuMeters struct{ server, instance func() time.Duration }

// gatewayOverhead measures the same requests sent straight to the
// instance and through the gateway, by the same kind of client with the
// same number of connections, the two alternating in servingRounds slices,
// and the CPU time the server and the instance spent per request of each.
func gatewayOverhead(ctx context.Context, kind, directName, gatewayName, directURL, gatewayURL, token string, body []byte, d time.Duration, cpu cpuMeters) ([]Row, error) {
	type target struct {
		url, token   string
		hc           *http.Client
		n, calls     int
		lat          []time.Duration
		server, inst time.Duration // CPU time over the slices, warm-ups included
	}
	direct := &target{url: directURL, hc: servingClient(servingClients)}
	gateway := &target{url: gatewayURL, token: token, hc: servingClient(servingClients)}
	defer direct.hc.CloseIdleConnections()
	defer gateway.hc.CloseIdleConnections()
	slice := d / servingRounds
	for range servingRounds {
		for _, t := range []*target{direct, gateway} {
			var calls atomic.Int64
			s0, i0 := cpu.server(), cpu.instance()
			n, lat, err := measure(ctx, servingClients, slice, func(ctx context.Context, _, _ int) error {
				calls.Add(1)
				status, _, b, err := post(ctx, t.hc, t.url, t.token, body)
				if err != nil {
					return err
				}
				if status != http.StatusOK || !bytes.Contains(b, []byte(`"ok"`)) {
					return fmt.Errorf("POST %s: HTTP %d: %.200s", t.url, status, b)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			t.server += cpu.server() - s0
			t.inst += cpu.instance() - i0
			t.calls += int(calls.Load())
			t.n += n
			t.lat = append(t.lat, lat...)
		}
	}
	rate := func(t *target) float64 { return float64(t.n) / d.Seconds() }
	for _, t := range []*target{direct, gateway} {
		slices.Sort(t.lat)
	}
	sc := gatewayScenario(kind)
	dr, gr := rate(direct), rate(gateway)
	added := pct(gateway.lat, 50) - pct(direct.lat, 50)
	perReq := func(cpu time.Duration, t *target) string {
		return fmt.Sprintf("%.0f µs", float64(cpu.Microseconds())/float64(max(t.calls, 1)))
	}
	return []Row{
		{Scenario: sc, Figure: "direct to the instance (" + directName + "): req/s, p50 / p99",
			Value: fmt.Sprintf("%.0f req/s, %s / %s", dr, ms(pct(direct.lat, 50)), ms(pct(direct.lat, 99)))},
		{Scenario: sc, Figure: "through the gateway (" + gatewayName + "): req/s, p50 / p99",
			Value: fmt.Sprintf("%.0f req/s, %s / %s", gr, ms(pct(gateway.lat, 50)), ms(pct(gateway.lat, 99)))},
		{Scenario: sc, Figure: "gateway / direct throughput", Value: fmt.Sprintf("%.2f×", gr/dr),
			Goal: "≥ 0.9×", Verdict: verdictOf(gr >= 0.9*dr)},
		{Scenario: sc, Figure: "p50 added by the gateway", Value: ms(added),
			Goal: "< 1 ms", Verdict: verdictOf(added < time.Millisecond)},
		{Scenario: sc, Figure: "CPU per request: server / instance",
			Value: fmt.Sprintf("direct: %s / %s; through the gateway: %s / %s", perReq(direct.server, direct), perReq(direct.inst, direct), perReq(gateway.server, gateway), perReq(gateway.inst, gateway))},
	}, nil
}

// authReference measures what authentication alone costs the server: an
// authenticated request that forwards nothing (GET /v1/auth/whoami: the
// session token and its user looked up, as for every predict), with the
// same clients, for d.
func authReference(ctx context.Context, endpoint, token string, d time.Duration, cpu cpuMeters) (Row, error) {
	hc := servingClient(servingClients)
	defer hc.CloseIdleConnections()
	var calls atomic.Int64
	s0 := cpu.server()
	n, lat, err := measure(ctx, servingClients, d, func(ctx context.Context, _, _ int) error {
		calls.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v1/auth/whoami", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("whoami: HTTP %d", resp.StatusCode)
		}
		return err
	})
	if err != nil {
		return Row{}, err
	}
	used := cpu.server() - s0
	return Row{Scenario: gatewayScenario("ModelArts predict"), Figure: "reference: authentication alone (GET /v1/auth/whoami): req/s, p50, server CPU per request",
		Value: fmt.Sprintf("%.0f req/s, %s, %.0f µs", float64(n)/d.Seconds(), ms(pct(lat, 50)), float64(used.Microseconds())/float64(max(calls.Load(), 1)))}, nil
}

// canaryShares sends n predictions to a 90/10 service with servingClients
// clients and counts the answers of each config (X-Atelier-Config, checked
// against the model version the body names).
func canaryShares(ctx context.Context, endpoint, token string, svc *core.InferenceService, n int) ([]Row, error) {
	hc := servingClient(servingClients)
	defer hc.CloseIdleConnections()
	url := endpoint + "/v1/services/" + svc.ID + "/predict"
	var next atomic.Int64
	counts := make([]atomic.Int64, len(svc.Configs))
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) { errOnce.Do(func() { first = err; cancel() }) }
	for range servingClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				status, cfgHdr, b, err := post(ctx, hc, url, token, predictBody)
				if err != nil {
					fail(err)
					return
				}
				var ans struct {
					V string `json:"v"`
				}
				i, cerr := strconv.Atoi(cfgHdr)
				if status != http.StatusOK || cerr != nil || i < 0 || i >= len(svc.Configs) || json.Unmarshal(b, &ans) != nil {
					fail(fmt.Errorf("HTTP %d, config %q: %.200s", status, cfgHdr, b))
					return
				}
				if ans.V != svc.Configs[i].ModelVersion {
					fail(fmt.Errorf("config %d answered as model version %q, want %q", i, ans.V, svc.Configs[i].ModelVersion))
					return
				}
				counts[i].Add(1)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc := canaryScenario(n)
	var rows []Row
	for i, cf := range svc.Configs {
		k := counts[i].Load()
		share := 100 * float64(k) / float64(n)
		rows = append(rows, Row{Scenario: sc, Figure: fmt.Sprintf("share of model version %s (weight %d)", cf.ModelVersion, cf.Weight),
			Value: fmt.Sprintf("%.2f%% (%d)", share, k), Goal: "within ±1.5 points",
			Verdict: verdictOf(share >= float64(cf.Weight)-1.5 && share <= float64(cf.Weight)+1.5)})
	}
	return rows, nil
}

// rollout keeps rolloutClients clients predicting on svc while the service
// is updated to the config to, and counts the requests that failed: from a
// second of load before the update until a second after the rollout ended
// (the new generation running, every instance of the old one gone).
func rollout(ctx context.Context, c *sdk.Client, endpoint, token string, svc *core.InferenceService, to core.ServiceConfig) ([]Row, error) {
	hc := servingClient(rolloutClients)
	defer hc.CloseIdleConnections()
	url := endpoint + "/v1/services/" + svc.ID + "/predict"
	oldVersion := svc.Configs[0].ModelVersion
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		total, failed atomic.Int64
		answered      sync.Map // model version → *atomic.Int64
		mu            sync.Mutex
		firstNew      time.Time
		lastOld       time.Time
		failures      []string
		wg            sync.WaitGroup
	)
	for range rolloutClients {
		wg.Go(func() {
			for lctx.Err() == nil {
				status, _, b, err := post(lctx, hc, url, token, predictBody)
				now := time.Now()
				if lctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				total.Add(1)
				var ans struct {
					V string `json:"v"`
				}
				if err != nil || status != http.StatusOK || json.Unmarshal(b, &ans) != nil {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("HTTP %d %v %.120s", status, err, b))
					}
					mu.Unlock()
					continue
				}
				v, _ := answered.LoadOrStore(ans.V, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				mu.Lock()
				if ans.V == oldVersion {
					lastOld = now
				} else if firstNew.IsZero() {
					firstNew = now
				}
				mu.Unlock()
			}
		})
	}
	defer wg.Wait()
	defer stop()
	if err := pause(ctx, time.Second); err != nil {
		return nil, err
	}
	t0 := time.Now()
	upd, err := c.UpdateService(ctx, svc.ID, core.ServiceUpdate{Configs: []core.ServiceConfig{to}})
	if err != nil {
		return nil, err
	}
	if upd.Generation == svc.Generation {
		return nil, fmt.Errorf("the update kept generation %d: no rollout", upd.Generation)
	}
	_, err = waitService(ctx, c, svc.ID, 2*time.Minute, func(s *core.InferenceService) (bool, error) {
		if s.Status == core.ServiceFailed {
			return false, fmt.Errorf("service failed during the rollout: %s", s.Reason)
		}
		for _, in := range s.Instances {
			if in.Generation != upd.Generation {
				return false, nil
			}
		}
		return s.Status == core.ServiceRunning && readyInstances(s, upd.Generation) == to.InstanceCount && len(s.Instances) == to.InstanceCount, nil
	})
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	if err := pause(ctx, time.Second); err != nil {
		return nil, err
	}
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	count := func(v string) int64 {
		if x, ok := answered.Load(v); ok {
			return x.(*atomic.Int64).Load()
		}
		return 0
	}
	sc := rolloutScenario()
	f := failed.Load()
	failedValue := fmt.Sprintf("%d of %d", f, total.Load())
	if len(failures) > 0 {
		failedValue += " (" + strings.Join(failures, "; ") + ")"
	}
	newV := upd.Configs[0].ModelVersion
	rows := []Row{
		{Scenario: sc, Figure: "failed requests", Value: failedValue, Goal: "0", Verdict: verdictOf(f == 0)},
		{Scenario: sc, Figure: "update → new version running, old instance gone",
			Value: fmt.Sprintf("%s (first answer of %s after %s, last of %s after %s)", ms(took), newV, ms(sinceOrZero(firstNew, t0)), oldVersion, ms(sinceOrZero(lastOld, t0)))},
		{Scenario: sc, Figure: "answers per version", Value: fmt.Sprintf("%s: %d, %s: %d", oldVersion, count(oldVersion), newV, count(newV))},
	}
	return rows, nil
}

// sinceOrZero is t − t0, or 0 when t is unset.
func sinceOrZero(t, t0 time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(t0)
}
