package serving_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/localexec"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/serving"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/store/storetest"
	"github.com/atelier-dev/atelier/workload"
)

const (
	flavor      = "modelarts.vm.cpu.2u"
	smallFlavor = "small.cpu.1u"
)

// harness is a serving Service over the real SQLite store, the real object
// store on a file backend and the local executor (bubblewrap where it is
// installed), on the real clock with short intervals: tests poll with
// deadlines.
type harness struct {
	t       testing.TB
	dir     string
	st      store.Store
	objects atelier.ObjectService
	execs   *executor.Set
	rt      *workload.Runtime
	svc     *serving.Service
	ctx     context.Context
	opts    serving.Options
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	if _, err := osexec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to serve models")
	}
	dir := t.TempDir()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	be, err := blobstore.OpenBackend(t.Context(), "file://"+filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	discard := slog.New(slog.DiscardHandler)
	h := &harness{
		t: t, dir: dir, st: st,
		objects: obs.New(st, be, obs.Options{Logger: discard}),
		ctx:     atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u1", TenantID: "tenant-a"}),
	}
	h.opts = serving.Options{
		Logger:   discard,
		WorkRoot: filepath.Join(dir, "services"),
		Flavors: []*atelier.Flavor{
			{ID: flavor, Name: "1 core", MaxNum: 4, CPU: 1, Executor: localexec.Name},
			{ID: smallFlavor, Name: "1 core, 512 MiB", MaxNum: 4, CPU: 1, MemoryMB: 512, Executor: localexec.Name},
		},
		// Short, so that tests see restarts and readiness at once.
		ProbeInterval: 20 * time.Millisecond, ReadyTimeout: 30 * time.Second,
		MaxBackoff: 50 * time.Millisecond, DrainTimeout: 5 * time.Second,
	}
	h.startExec()
	h.startService()
	if _, err := h.objects.CreateBucket(h.ctx, "models"); err != nil {
		t.Fatal(err)
	}
	return h
}

// sandbox is the local driver's sandbox in these tests: bubblewrap where
// it is installed, none elsewhere so that a fresh machine runs them, unless
// ATELIER_REQUIRE_SANDBOX is set (CI), which makes a missing bwrap a failure.
func sandbox(t testing.TB) string {
	t.Helper()
	if _, err := osexec.LookPath("bwrap"); err == nil {
		return localexec.SandboxBwrap
	}
	if os.Getenv("ATELIER_REQUIRE_SANDBOX") != "" {
		t.Fatal("ATELIER_REQUIRE_SANDBOX is set but bubblewrap is not installed")
	}
	return localexec.SandboxNone
}
func (h *harness) startExec() {
	h.t.Helper()
	state := filepath.Join(h.dir, "executor")
	d, err := localexec.New(h.t.Context(), localexec.Options{
		StateDir: filepath.Join(state, "local"), Sandbox: sandbox(h.t), SearchRoots: []string{h.dir},
		PollInterval: 10 * time.Millisecond, Grace: 2 * time.Second, Logger: h.opts.Logger,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ex, err := executor.Open(h.t.Context(), d, executor.Options{StateDir: filepath.Join(state, "journal"), Slots: 8,
		PollInterval: 20 * time.Millisecond, Logger: h.opts.Logger})
	if err != nil {
		h.t.Fatal(err)
	}
	set, err := executor.NewSet(localexec.Name, ex)
	if err != nil {
		h.t.Fatal(err)
	}
	h.execs = set
	h.rt = workload.New(h.objects, set, workload.Options{Logger: h.opts.Logger, StopGrace: 2 * time.Second})
	h.t.Cleanup(func() {
		h.rt.Stop()
		set.Close()
	})
}

func (h *harness) startService() {
	svc := serving.New(h.st, h.objects, h.rt, h.opts)
	// Not the test's context: it ends before the cleanups, which still
	// need the Service's controllers to stop what the test left.
	svc.Start(context.Background())
	h.t.Cleanup(svc.Stop)
	// Instances outlive a stopped Service (a restarted server re-adopts
	// them): the services the test left are deleted, which stops them.
	h.t.Cleanup(func() {
		ctx := atelier.NewContextWithPrincipal(context.Background(), &atelier.Principal{UserID: "u1", TenantID: "tenant-a"})
		p, err := svc.ListServices(ctx, atelier.ServiceFilter{})
		if err != nil {
			return // a restart stopped this one; the newer one cleans up
		}
		for _, s := range p.Services {
			if err := svc.DeleteService(ctx, s.ID); err != nil {
				h.t.Errorf("delete service %s at the end: %v", s.Name, err)
			}
		}
	})
	h.svc = svc
}

// restart stops the service, runtime and executor as a server's shutdown
// does (instances keep running) and starts new ones over the same state.
func (h *harness) restart() {
	h.t.Helper()
	h.svc.Stop()
	h.rt.Stop()
	h.execs.Close()
	h.startExec()
	h.startService()
}

// putPackage uploads files under models/<prefix>/ and returns the OBS
// directory.
func (h *harness) putPackage(prefix string, files map[string]string) string {
	h.t.Helper()
	for name, data := range files {
		if _, err := h.objects.PutObject(h.ctx, "models", prefix+"/"+name, strings.NewReader(data), atelier.PutOptions{Size: int64(len(data))}); err != nil {
			h.t.Fatalf("put %s: %v", name, err)
		}
	}
	return "obs://models/" + prefix + "/"
}

// handlerPy answers with the model version it serves and the data it got;
// {"crash": true} kills the instance, as a handler bug would.
const handlerPy = `import os

class EchoService:
    def __init__(self, model_name, model_path):
        self.version = os.environ.get("ATELIER_MODEL_VERSION")

    def _inference(self, data):
        if isinstance(data, dict) and data.get("crash"):
            os._exit(3)
        return {"version": self.version, "echo": data}
`

const configJSON = `{"model_algorithm": "echo", "model_type": "Custom", "runtime": "python3"}`

func echoPackage() map[string]string {
	return map[string]string{"config.json": configJSON, "customize_service.py": handlerPy}
}

// register registers a package and waits for its check.
func (h *harness) register(name, version, loc string) *atelier.Model {
	h.t.Helper()
	m, err := h.svc.RegisterModel(h.ctx, atelier.ModelSpec{Name: name, Version: version, SourceLocation: loc, ModelType: "Custom"})
	if err != nil {
		h.t.Fatalf("register %s %s: %v", name, version, err)
	}
	if m.Status != atelier.ModelPublishing {
		h.t.Fatalf("a new model is %s, want publishing", m.Status)
	}
	return h.waitModel(m.ID)
}

func (h *harness) waitModel(id string) *atelier.Model {
	h.t.Helper()
	var m *atelier.Model
	h.eventually("model "+id+" checked", func() bool {
		var err error
		m, err = h.svc.GetModel(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		return m.Status != atelier.ModelPublishing
	})
	return m
}

// eventually polls cond until it holds, failing the test after a deadline.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) waitStatus(id, want string) *atelier.InferenceService {
	h.t.Helper()
	var svc *atelier.InferenceService
	h.eventually("service "+id+" "+want, func() bool {
		var err error
		svc, err = h.svc.GetService(h.ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		return svc.Status == want
	})
	return svc
}

// predict routes one request the way the gateway does and returns the
// instance's JSON answer.
func (h *harness) predict(id string, body any) (map[string]any, *atelier.Route) {
	h.t.Helper()
	rt, err := h.svc.Route(h.ctx, id, atelier.RouteQuery{})
	if err != nil {
		h.t.Fatalf("route: %v", err)
	}
	b, _ := json.Marshal(body)
	start := time.Now()
	resp, err := http.Post("http://"+rt.Addr+"/", "application/json", bytes.NewReader(b))
	if err != nil {
		rt.Done(time.Since(start), true, true)
		h.t.Fatalf("predict: %v", err)
	}
	defer resp.Body.Close()
	rt.Done(time.Since(start), resp.StatusCode >= 500, false)
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("predict: %s: %v", resp.Status, err)
	}
	return out, rt
}

func wantCode(t testing.TB, err error, code atelier.Code, field string) {
	t.Helper()
	var e *atelier.Error
	if !errors.As(err, &e) || e.Code != code.ID || e.Field != field {
		t.Fatalf("err = %v (%#v), want %s naming %q", err, e, code.ID, field)
	}
}

func TestRegisterChecksPackages(t *testing.T) {
	h := newHarness(t)
	good := h.register("digit", "0.0.1", h.putPackage("good", echoPackage()))
	if good.Status != atelier.ModelPublished || good.Handler != serving.HandlerPython || good.Size != int64(len(configJSON)+len(handlerPy)) ||
		!strings.HasPrefix(good.Digest, "sha256:") {
		t.Fatalf("published model = %+v", good)
	}
	cmdModel := h.register("cmd", "1", h.putPackage("cmd", map[string]string{"config.json": `{"model_type": "Custom", "command": ["python3", "serve.py"]}`, "serve.py": "pass"}))
	if cmdModel.Status != atelier.ModelPublished || cmdModel.Handler != serving.HandlerCommand {
		t.Fatalf("command model = %+v", cmdModel)
	}
	for _, tc := range []struct {
		name   string
		files  map[string]string
		reason string
	}{
		{"noconfig", map[string]string{"customize_service.py": handlerPy}, "missing config.json"},
		{"nohandler", map[string]string{"config.json": configJSON, "weights.bin": "x"}, "missing handler"},
		{"badjson", map[string]string{"config.json": "{", "customize_service.py": handlerPy}, "bad config"},
		{"notype", map[string]string{"config.json": `{"runtime": "python3"}`, "customize_service.py": handlerPy}, "bad config"},
		{"badcommand", map[string]string{"config.json": `{"model_type": "Custom", "command": 42}`}, "bad config"},
	} {
		m := h.register(tc.name, "1", h.putPackage(tc.name, tc.files))
		if m.Status != atelier.ModelFailed || !strings.Contains(m.Reason, tc.reason) {
			t.Errorf("%s: status %s reason %q, want failed with %q", tc.name, m.Status, m.Reason, tc.reason)
		}
	}
	// The registration and the check each wrote their event.
	if got := statuses(t, h.st, atelier.EventModelStatus, good.ID); strings.Join(got, " ") != "publishing published" {
		t.Fatalf("MODEL_STATUS_CHANGED of a good package: %q", got)
	}
}

// statuses reads the outbox and returns the status of each event of type
// typ about subject, in order.
func statuses(t testing.TB, st store.Store, typ, subject string) []string {
	t.Helper()
	var out []string
	for _, e := range storetest.NewOutbox(t, st).Read() {
		if e.Type != typ || e.Subject != subject {
			continue
		}
		var d struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Status)
	}
	return out
}

func TestRegisterRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	loc := h.putPackage("p", echoPackage())
	ok := atelier.ModelSpec{Name: "m", Version: "1.0", SourceLocation: loc, ModelType: "Custom"}
	for _, tc := range []struct {
		mod   func(*atelier.ModelSpec)
		code  atelier.Code
		field string
	}{
		{func(s *atelier.ModelSpec) { s.Name = "" }, atelier.CodeInvalidModel, "model_name"},
		{func(s *atelier.ModelSpec) { s.Name = "a b" }, atelier.CodeInvalidModel, "model_name"},
		{func(s *atelier.ModelSpec) { s.Version = "" }, atelier.CodeInvalidModel, "model_version"},
		{func(s *atelier.ModelSpec) { s.ModelType = "" }, atelier.CodeInvalidModel, "model_type"},
		{func(s *atelier.ModelSpec) { s.SourceLocation = "" }, atelier.CodeInvalidModel, "source_location"},
		{func(s *atelier.ModelSpec) { s.SourceLocation = "obs://models/p/config.json" }, atelier.CodeInvalidModel, "source_location"},
		{func(s *atelier.ModelSpec) { s.SourceLocation = "obs://nobucket/p/" }, atelier.CodeInvalidModel, "source_location"},
		{func(s *atelier.ModelSpec) { s.SourceJobID = "j" }, atelier.CodeInvalidModel, "source_location"},
		{func(s *atelier.ModelSpec) { s.SourceLocation, s.SourceJobID = "", "j" }, atelier.CodeInvalidModel, "source_job_version"},
		{func(s *atelier.ModelSpec) { s.APIs = json.RawMessage("{") }, atelier.CodeInvalidModel, "apis"},
		{func(s *atelier.ModelSpec) { s.WorkspaceID = "nope" }, atelier.CodeWorkspaceNotFound, "workspace_id"},
	} {
		spec := ok
		tc.mod(&spec)
		_, err := h.svc.RegisterModel(h.ctx, spec)
		wantCode(t, err, tc.code, tc.field)
	}
	if _, err := h.svc.RegisterModel(h.ctx, ok); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.RegisterModel(h.ctx, ok)
	wantCode(t, err, atelier.CodeModelExists, "model_version")
	// Another tenant sees none of it.
	other := atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u2", TenantID: "tenant-b"})
	p, err := h.svc.ListModels(other, atelier.ModelFilter{})
	if err != nil || p.TotalCount != 0 {
		t.Fatalf("another tenant lists %+v, %v", p, err)
	}
	mine, _ := h.svc.ListModels(h.ctx, atelier.ModelFilter{})
	_, err = h.svc.GetModel(other, mine.Models[0].ID)
	wantCode(t, err, atelier.CodeModelNotFound, "model_id")
}

func TestListModelsAsTheSeedSays(t *testing.T) {
	h := newHarness(t)
	loc := h.putPackage("p", echoPackage())
	for _, v := range []string{"0.0.1", "0.0.2", "0.0.3"} {
		h.register("digit", v, loc)
	}
	h.register("other", "1.0.0", loc)
	p, err := h.svc.ListModels(h.ctx, atelier.ModelFilter{Name: "DIG", Status: atelier.ModelPublished, Order: "desc"})
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalCount != 3 || p.Count != 3 || p.Models[0].Version != "0.0.3" {
		t.Fatalf("fuzzy name, newest first: %+v", p)
	}
	p, _ = h.svc.ListModels(h.ctx, atelier.ModelFilter{SortBy: "model_version", Order: "asc", Limit: 2, Offset: 1})
	if p.TotalCount != 4 || p.Count != 2 || p.Models[0].Version != "0.0.2" {
		t.Fatalf("by version, page 2 of size 2: total %d count %d first %s", p.TotalCount, p.Count, p.Models[0].Version)
	}
	_, err = h.svc.ListModels(h.ctx, atelier.ModelFilter{Limit: atelier.MaxModelPage + 1})
	wantCode(t, err, atelier.CodeModelListLimit, "limit")
	_, err = h.svc.ListModels(h.ctx, atelier.ModelFilter{SortBy: "name"})
	wantCode(t, err, atelier.CodeInvalidModel, "sort_by")
	_, err = h.svc.ListModels(h.ctx, atelier.ModelFilter{Order: "up"})
	wantCode(t, err, atelier.CodeInvalidModel, "order")
	_, err = h.svc.ListModels(h.ctx, atelier.ModelFilter{Status: "ready"})
	wantCode(t, err, atelier.CodeInvalidModel, "model_status")
}

func TestDeployCanaryPredictAndRollout(t *testing.T) {
	h := newHarness(t)
	loc := h.putPackage("echo", echoPackage())
	v1 := h.register("echo", "1", loc)
	v2 := h.register("echo", "2", loc)
	svc, err := h.svc.DeployService(h.ctx, atelier.ServiceSpec{Name: "echo", Configs: []atelier.ServiceConfig{
		{ModelID: v1.ID, Weight: 90, InstanceCount: 1, Specification: flavor},
		{ModelID: v2.ID, Weight: 10, InstanceCount: 1, Specification: flavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Status != atelier.ServiceDeploying || svc.Configs[1].ModelVersion != "2" || svc.AccessAddress != "/v1/services/"+svc.ID+"/predict" {
		t.Fatalf("deployed: %+v", svc)
	}
	svc = h.waitStatus(svc.ID, atelier.ServiceRunning)
	if len(svc.Instances) != 2 {
		t.Fatalf("instances: %+v", svc.Instances)
	}
	// 100 requests at 90/10 land exactly so (smooth weighted round robin).
	counts := map[string]int{}
	for range 100 {
		out, _ := h.predict(svc.ID, map[string]any{"x": 1})
		counts[out["version"].(string)]++
	}
	if counts["1"] != 90 || counts["2"] != 10 {
		t.Fatalf("canary split = %v, want 90/10", counts)
	}
	mon, err := h.svc.Monitor(h.ctx, svc.ID)
	if err != nil || mon.Configs[0].Requests != 90 || mon.Configs[1].Requests != 10 || mon.Configs[0].LatencyP99Ms <= 0 {
		t.Fatalf("monitor = %+v, %v", mon, err)
	}

	// A rollout to v2 alone: every request in between is served.
	stop := make(chan struct{})
	served := make(chan int)
	go func() {
		n := 0
		defer func() { served <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rt, err := h.svc.Route(h.ctx, svc.ID, atelier.RouteQuery{})
			if err != nil {
				t.Errorf("route during rollout: %v", err)
				return
			}
			resp, err := http.Post("http://"+rt.Addr+"/", "application/json", strings.NewReader(`{}`))
			if err != nil {
				rt.Done(0, true, true)
				t.Errorf("request during rollout: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rt.Done(time.Millisecond, false, false)
			n++
		}
	}()
	up, err := h.svc.UpdateService(h.ctx, svc.ID, atelier.ServiceUpdate{Configs: []atelier.ServiceConfig{
		{ModelID: v2.ID, Weight: 100, InstanceCount: 1, Specification: flavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Generation != 2 {
		t.Fatalf("generation = %d, want 2", up.Generation)
	}
	h.eventually("rollout to generation 2 alone", func() bool {
		s, _ := h.svc.GetService(h.ctx, svc.ID)
		if len(s.Instances) != 1 || s.Instances[0].Generation != 2 || s.Instances[0].Status != atelier.InstanceReady {
			return false
		}
		return s.Status == atelier.ServiceRunning
	})
	close(stop)
	if n := <-served; n == 0 {
		t.Fatal("no request was served during the rollout")
	}
	out, _ := h.predict(svc.ID, map[string]any{})
	if out["version"] != "2" {
		t.Fatalf("after the rollout version %v answers", out["version"])
	}

	// The model in use cannot be deleted; the other one can.
	err = h.svc.DeleteModel(h.ctx, v2.ID)
	wantCode(t, err, atelier.CodeModelInUse, "model_id")
	if !strings.Contains(err.Error(), "echo") {
		t.Errorf("in-use error does not name the service: %v", err)
	}
	if err := h.svc.DeleteModel(h.ctx, v1.ID); err != nil {
		t.Fatalf("delete the model no longer used: %v", err)
	}
	// Stop, start, delete.
	if s, err := h.svc.StopService(h.ctx, svc.ID); err != nil || s.Status != atelier.ServiceStopped {
		t.Fatalf("stop: %+v, %v", s, err)
	}
	h.eventually("instances stopped", func() bool {
		s, _ := h.svc.GetService(h.ctx, svc.ID)
		return len(s.Instances) == 0
	})
	_, err = h.svc.Route(h.ctx, svc.ID, atelier.RouteQuery{})
	wantCode(t, err, atelier.CodeServiceNotReady, "service_id")
	if _, err := h.svc.StartService(h.ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(svc.ID, atelier.ServiceRunning)
	if err := h.svc.DeleteService(h.ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.GetService(h.ctx, svc.ID)
	wantCode(t, err, atelier.CodeServiceNotFound, "service_id")
	if err := h.svc.DeleteModel(h.ctx, v2.ID); err != nil {
		t.Fatalf("delete the model of a deleted service: %v", err)
	}
	if got := strings.Join(statuses(t, h.st, atelier.EventServiceState, svc.ID), " "); got != "deploying running stopped deploying running stopped" {
		t.Fatalf("SERVICE_STATE_CHANGED: %s", got)
	}
}

func TestCrashedInstanceRestarts(t *testing.T) {
	h := newHarness(t)
	m := h.register("echo", "1", h.putPackage("echo", echoPackage()))
	svc, err := h.svc.DeployService(h.ctx, atelier.ServiceSpec{Name: "crashy", Configs: []atelier.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: flavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	first := h.waitStatus(svc.ID, atelier.ServiceRunning).Instances[0].ID
	rt, err := h.svc.Route(h.ctx, svc.ID, atelier.RouteQuery{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.Post("http://"+rt.Addr+"/", "application/json", strings.NewReader(`{"crash": true}`))
	rt.Done(time.Millisecond, true, err != nil)
	if err == nil {
		t.Fatal("the crashing request was answered")
	}
	h.eventually("a new instance ready", func() bool {
		s, _ := h.svc.GetService(h.ctx, svc.ID)
		return s.Status == atelier.ServiceRunning && len(s.Instances) == 1 && s.Instances[0].ID != first
	})
	out, _ := h.predict(svc.ID, map[string]any{"after": "restart"})
	if out["version"] != "1" {
		t.Fatalf("answer after the restart: %v", out)
	}

	// The package changes under the published model: the next instance
	// refuses it, and the service says why.
	h.putPackage("echo", map[string]string{"weights.bin": "changed"})
	second, err := h.svc.Route(h.ctx, svc.ID, atelier.RouteQuery{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.Post("http://"+second.Addr+"/", "application/json", strings.NewReader(`{"crash": true}`))
	second.Done(time.Millisecond, true, err != nil)
	h.eventually("the changed package named in the reason", func() bool {
		s, _ := h.svc.GetService(h.ctx, svc.ID)
		return s.Status == atelier.ServiceConcerning && strings.Contains(s.Reason, "changed since it was published")
	})
}

// TestPythonInstanceHoldsManyConnections: the Python runtime serves a
// thread per connection; under a 512 MiB flavor, whose memory is an
// address-space limit where there is no cgroup, 24 connections at once
// are each answered, twice (glibc's arena per thread would have used the
// limit up after a few).
func TestPythonInstanceHoldsManyConnections(t *testing.T) {
	h := newHarness(t)
	m := h.register("echo", "1", h.putPackage("echo", echoPackage()))
	svc, err := h.svc.DeployService(h.ctx, atelier.ServiceSpec{Name: "many", Configs: []atelier.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: smallFlavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitStatus(svc.ID, atelier.ServiceRunning)
	rt, err := h.svc.Route(h.ctx, svc.ID, atelier.RouteQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Done(0, false, false)
	const conns = 24
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	cs := make([]conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", rt.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs[i] = conn{c, bufio.NewReader(c)}
	}
	for round := range 2 {
		for i, c := range cs {
			body := fmt.Sprintf(`{"conn": %d}`, i)
			if _, err := fmt.Fprintf(c.c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
				t.Fatalf("round %d, connection %d: %v", round, i, err)
			}
		}
		for i, c := range cs {
			resp, err := http.ReadResponse(c.r, nil)
			if err != nil {
				t.Fatalf("round %d, connection %d of %d open: %v", round, i, conns, err)
			}
			var out struct {
				Echo struct {
					Conn int `json:"conn"`
				} `json:"echo"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || out.Echo.Conn != i {
				t.Fatalf("round %d, connection %d: %s, %+v, %v", round, i, resp.Status, out, err)
			}
		}
	}
	for _, c := range cs {
		c.c.Close()
	}
	// Instances outlive the harness (as they outlive a server): stop it.
	if err := h.svc.DeleteService(h.ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
}

func TestNeverReadyFailsTheDeploy(t *testing.T) {
	h := newHarness(t)
	h.opts.ReadyTimeout = 300 * time.Millisecond
	h.opts.DeployFailures = 2
	h.svc.Stop()
	h.startService()
	// A command that never listens on $PORT.
	m := h.register("sleepy", "1", h.putPackage("sleepy", map[string]string{"config.json": `{"model_type": "Custom", "command": "echo starting; exec sleep 600"}`}))
	svc, err := h.svc.DeployService(h.ctx, atelier.ServiceSpec{Name: "sleepy", Configs: []atelier.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: flavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := h.waitStatus(svc.ID, atelier.ServiceFailed)
	if !strings.Contains(got.Reason, "not ready within") {
		t.Fatalf("reason = %q", got.Reason)
	}
	h.eventually("the instances stopped", func() bool {
		s, _ := h.svc.GetService(h.ctx, svc.ID)
		return len(s.Instances) == 0
	})
	// Started again, it deploys afresh: its earlier failures do not fail
	// it at once. Failing again takes new instances that each miss their
	// ready timeout, so it cannot come sooner than one timeout.
	start := time.Now()
	if s, err := h.svc.StartService(h.ctx, svc.ID); err != nil || s.Status != atelier.ServiceDeploying {
		t.Fatalf("start a failed service: %+v, %v", s, err)
	}
	h.waitStatus(svc.ID, atelier.ServiceFailed)
	if d := time.Since(start); d < h.opts.ReadyTimeout {
		t.Fatalf("a restarted service failed again after %s, before any new instance could miss its %s ready timeout", d, h.opts.ReadyTimeout)
	}
}

func TestDeployRefusesBadConfigs(t *testing.T) {
	h := newHarness(t)
	loc := h.putPackage("echo", echoPackage())
	m := h.register("echo", "1", loc)
	bad := h.register("bad", "1", h.putPackage("bad", map[string]string{"x": "y"}))
	other := atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u2", TenantID: "tenant-b"})
	cfg := func(mod func(*atelier.ServiceConfig)) []atelier.ServiceConfig {
		c := atelier.ServiceConfig{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: flavor}
		mod(&c)
		return []atelier.ServiceConfig{c}
	}
	for _, tc := range []struct {
		ctx   context.Context
		spec  atelier.ServiceSpec
		code  atelier.Code
		field string
	}{
		{h.ctx, atelier.ServiceSpec{Name: "a b", Configs: cfg(func(*atelier.ServiceConfig) {})}, atelier.CodeInvalidService, "service_name"},
		{h.ctx, atelier.ServiceSpec{Name: "s"}, atelier.CodeInvalidService, "config"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.Weight = 90 })}, atelier.CodeInvalidService, "config"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.Specification = "huge" })}, atelier.CodeInvalidService, "config[0].specification"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.InstanceCount = 0 })}, atelier.CodeInvalidService, "config[0].instance_count"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.InstanceCount = 5 })}, atelier.CodeInvalidService, "config[0].instance_count"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.Envs = map[string]string{"PORT": "1"} })}, atelier.CodeInvalidService, "config[0].envs"},
		{h.ctx, atelier.ServiceSpec{Name: "s", Configs: cfg(func(c *atelier.ServiceConfig) { c.ModelID = bad.ID })}, atelier.CodeModelNotPublished, "config[0].model_id"},
		{other, atelier.ServiceSpec{Name: "s", Configs: cfg(func(*atelier.ServiceConfig) {})}, atelier.CodeModelNotFound, "config[0].model_id"},
	} {
		_, err := h.svc.DeployService(tc.ctx, tc.spec)
		wantCode(t, err, tc.code, tc.field)
	}
	p, _ := h.svc.ListServices(h.ctx, atelier.ServiceFilter{})
	if p.TotalCount != 0 {
		t.Fatalf("a refused deploy left %d services", p.TotalCount)
	}
}

func TestRestartReadoptsInstances(t *testing.T) {
	h := newHarness(t)
	m := h.register("echo", "1", h.putPackage("echo", echoPackage()))
	svc, err := h.svc.DeployService(h.ctx, atelier.ServiceSpec{Name: "kept", Configs: []atelier.ServiceConfig{
		{ModelID: m.ID, Weight: 100, InstanceCount: 1, Specification: flavor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	before := h.waitStatus(svc.ID, atelier.ServiceRunning).Instances[0].ID
	h.restart()
	var after *atelier.InferenceService
	h.eventually("the instance ready again", func() bool {
		after, _ = h.svc.GetService(h.ctx, svc.ID)
		return len(after.Instances) > 0 && after.Instances[0].Status == atelier.InstanceReady
	})
	if after.Status != atelier.ServiceRunning || len(after.Instances) != 1 || after.Instances[0].ID != before {
		t.Fatalf("after a restart the service is %s with instances %+v, want %s re-adopted", after.Status, after.Instances, before)
	}
	out, _ := h.predict(svc.ID, map[string]any{})
	if out["version"] != "1" {
		t.Fatalf("answer after the restart: %v", out)
	}
}
