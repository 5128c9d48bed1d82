package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// These tests SIGKILL what serves a model: one instance of a service
// under load, and the server itself. Instances run on the server's local
// executor (in bubblewrap where it is installed), each a real Python
// process of the shipped runtime.

// servedHandler answers with the model version it serves.
const servedHandler = `import os

class Served:
    def __init__(self, model_name, model_path):
        self.version = os.environ.get("ATELIER_MODEL_VERSION")

    def _inference(self, data):
        return {"version": self.version, "echo": data}
`

// killLeftovers SIGKILLs, when the test ends, every process whose command
// line names dir: the instances, which outlive a server process (a
// restarted server re-adopts them). Register it before the server starts,
// so that it runs after the server is killed.
func killLeftovers(t *testing.T, dir string) {
	t.Cleanup(func() {
		for _, pid := range processesMatching(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// mustServedModel uploads servedHandler as a package, registers it and
// waits until it is published.
func mustServedModel(t *testing.T, c *sdk.Client) *core.Model {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "models"); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"config.json":          `{"model_algorithm": "echo", "model_type": "Custom", "runtime": "python3"}`,
		"customize_service.py": servedHandler,
	} {
		if _, err := c.PutObject(ctx, "models", "served/"+name, strings.NewReader(body), int64(len(body)), sdk.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := c.RegisterModel(ctx, core.ModelSpec{Name: "served", Version: "1.0.0", SourceLocation: "obs://models/served/", ModelType: "Custom"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if m, err = c.WaitModel(wctx, m.ID, 10*time.Millisecond); err != nil || m.Status != core.ModelPublished {
		t.Fatalf("model: %+v, %v", m, err)
	}
	return m
}

// waitServing polls a service until it is running with n ready instances
// of its generation and no others, and also (called with every state
// seen) holds, for at most a minute (instances start a Python process in
// a sandbox on a busy machine), and returns it.
func waitServing(t *testing.T, c *sdk.Client, id string, n int, also func(*core.InferenceService) bool) *core.InferenceService {
	t.Helper()
	var s *core.InferenceService
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		s, err = c.GetService(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == core.ServiceFailed {
			t.Fatalf("service failed: %s", s.Reason)
		}
		ready := 0
		for _, in := range s.Instances {
			if in.Generation == s.Generation && in.Status == core.InstanceReady {
				ready++
			}
		}
		alsoOK := also == nil || also(s) // sees every state
		if s.Status == core.ServiceRunning && ready == n && len(s.Instances) == n && alsoOK {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: %s with instances %+v after a minute (%s)", id, s.Status, s.Instances, s.Reason)
		}
		if err := pause(t.Context(), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// predictOnce sends one prediction through the gateway and returns the
// instance that answered, or an error for anything but a 200 with the
// model's answer.
func predictOnce(ctx context.Context, c *sdk.Client, id string) (string, error) {
	body := []byte(`{"x": 1}`)
	resp, err := c.Predict(ctx, id, "", "application/json", bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out struct {
		Version string `json:"version"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Version != "1.0.0" {
		return "", &unexpectedAnswer{status: resp.StatusCode, body: string(b)}
	}
	return resp.Header.Get("X-Atelier-Instance"), nil
}

type unexpectedAnswer struct {
	status int
	body   string
}

func (e *unexpectedAnswer) Error() string { return http.StatusText(e.status) + ": " + e.body }

// outcome is one request of the load.
type outcome struct {
	start, end time.Time
	instance   string
	err        error
}

// load sends predictions with n clients until stop is closed.
type load struct {
	mu   sync.Mutex
	outs []outcome
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func startLoad(ctx context.Context, c *sdk.Client, id string, n int) *load {
	l := &load{stop: make(chan struct{})}
	for range n {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				in, err := predictOnce(ctx, c, id)
				l.mu.Lock()
				l.outs = append(l.outs, outcome{start: start, end: time.Now(), instance: in, err: err})
				l.mu.Unlock()
			}
		})
	}
	return l
}

// end stops the clients and returns every outcome; it is safe to call
// twice.
func (l *load) end() []outcome {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.outs
}

// answeredBy counts the successful requests each instance answered so far.
func (l *load) answeredBy() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]int{}
	for _, o := range l.outs {
		if o.err == nil {
			m[o.instance]++
		}
	}
	return m
}

// TestServiceInstanceSIGKILLUnderLoad: a service of two instances under
// constant load; one instance's processes get SIGKILL. Only requests in
// flight at the kill may fail (the gateway retries a refused or reset
// connection on the other instance); every request sent from a second
// after the kill on succeeds; the service goes concerning, then back to
// running with a new instance, which serves.
func TestServiceInstanceSIGKILLUnderLoad(t *testing.T) {
	const clients = 4
	dir := t.TempDir()
	killLeftovers(t, dir)
	srv := MustStartProcess(t, dir, trainingEnv(t)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	m := mustServedModel(t, c)
	svc, err := c.DeployService(ctx, core.ServiceSpec{Name: "two", Configs: []core.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 2, Specification: e2eFlavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	svc = waitServing(t, c, svc.ID, 2, nil)
	victim, other := svc.Instances[0].ID, svc.Instances[1].ID

	l := startLoad(ctx, c, svc.ID, clients)
	defer l.end()
	// Both instances serve before the kill.
	waitFor(t, "both instances to answer", func() bool {
		by := l.answeredBy()
		return by[victim] >= 20 && by[other] >= 20
	})
	before, err := c.ServiceMonitor(ctx, svc.ID)
	if err != nil {
		t.Fatal(err)
	}

	pids := processesMatching(victim)
	serving := false
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		serving = serving || bytes.Contains(b, []byte("serve.py"))
	}
	if !serving {
		t.Fatalf("no process of instance %s runs serve.py (processes %v)", victim, pids)
	}
	killedAt := time.Now()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Logf("SIGKILL to instance %s: processes %v", victim, pids)

	// The service goes concerning (the replacement waits a backoff of a
	// second), then running with a new instance beside the other.
	// A second after the kill, the gateway's failed attempts are counted
	// again: from then on none may reach the dead instance.
	seen := map[string]bool{}
	var atOneSecond *core.ServiceMonitor
	replaced := waitServing(t, c, svc.ID, 2, func(s *core.InferenceService) bool {
		seen[s.Status] = true
		if atOneSecond == nil && time.Since(killedAt) >= time.Second {
			if atOneSecond, err = c.ServiceMonitor(ctx, svc.ID); err != nil {
				t.Fatal(err)
			}
		}
		return atOneSecond != nil && !slices.ContainsFunc(s.Instances, func(in *core.ServiceInstance) bool { return in.ID == victim })
	})
	if !seen[core.ServiceConcerning] {
		t.Errorf("the service was never seen concerning after the kill (seen %v)", seen)
	}
	var fresh string
	for _, in := range replaced.Instances {
		if in.ID != other {
			fresh = in.ID
		}
	}
	if fresh == "" || fresh == victim {
		t.Fatalf("instances after the kill: %+v", replaced.Instances)
	}
	waitFor(t, "the new instance to answer", func() bool { return l.answeredBy()[fresh] > 0 })
	outs := l.end()

	var failed, late, total int
	for _, o := range outs {
		if !o.end.After(killedAt) {
			continue
		}
		total++
		if o.err == nil {
			continue
		}
		failed++
		if !o.start.Before(killedAt.Add(time.Second)) {
			late++
			t.Errorf("a request sent %s after the kill failed: %v", o.start.Sub(killedAt), o.err)
		}
	}
	after, err := c.ServiceMonitor(ctx, svc.ID)
	if err != nil {
		t.Fatal(err)
	}
	attempts, lateAttempts := after.Configs[0].Errors-before.Configs[0].Errors, after.Configs[0].Errors-atOneSecond.Configs[0].Errors
	t.Logf("after the kill: %d requests, %d failed (%d of them sent a second or more after it); gateway attempts that failed on an instance: %d (%d of them a second or more after it)",
		total, failed, late, attempts, lateAttempts)
	if failed > clients {
		t.Errorf("%d requests failed, more than the %d that can be in flight at the kill", failed, clients)
	}
	if lateAttempts != 0 {
		t.Errorf("the gateway still sent %d requests to a failing instance a second after the kill", lateAttempts)
	}
	if err := c.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
}

// TestServiceSurvivesServerSIGKILL: a running service's server gets
// SIGKILL; its instance goes on, and the next server on the same data
// directory re-adopts it: the service is running again without a deploy
// (same generation) and answers.
func TestServiceSurvivesServerSIGKILL(t *testing.T) {
	dir := t.TempDir()
	killLeftovers(t, dir)
	env := trainingEnv(t)
	srv := MustStartProcess(t, dir, env...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	m := mustServedModel(t, c)
	svc, err := c.DeployService(ctx, core.ServiceSpec{Name: "survivor", Configs: []core.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: e2eFlavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	svc = waitServing(t, c, svc.ID, 1, nil)
	inst := svc.Instances[0].ID
	if _, err := predictOnce(ctx, c, svc.ID); err != nil {
		t.Fatal(err)
	}

	srv.kill()
	if len(processesMatching(inst)) == 0 {
		t.Fatalf("instance %s died with the server", inst)
	}

	srv = MustStartProcess(t, dir, env...)
	c = mustSDK(t, srv)
	back := waitServing(t, c, svc.ID, 1, nil)
	if back.Generation != svc.Generation {
		t.Errorf("generation %d after the restart, was %d: it was deployed again", back.Generation, svc.Generation)
	}
	if back.Instances[0].ID == inst {
		t.Logf("instance %s re-adopted", inst)
	} else {
		t.Logf("instance %s replaced by %s", inst, back.Instances[0].ID)
	}
	var by string
	waitFor(t, "a prediction after the restart", func() bool {
		by, err = predictOnce(ctx, c, svc.ID)
		return err == nil
	})
	if by != back.Instances[0].ID {
		t.Errorf("answered by %q, want the service's instance %s", by, back.Instances[0].ID)
	}
	if err := c.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
}
