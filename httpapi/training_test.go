package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
)

var local = time.FixedZone("UTC+8", 8*3600)

func testJob() *atelier.TrainingJob {
	return &atelier.TrainingJob{ID: "job-1", TenantID: "t1", Name: "mnist", LatestVersion: 1, VersionCount: 1,
		State: atelier.JobQueued, CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local)}
}

func testVersion(n int64) *atelier.JobVersion {
	return &atelier.JobVersion{JobID: "job-1", TenantID: "t1", VersionID: n, Name: "V0001", State: atelier.JobQueued,
		Spec:      atelier.JobSpec{CodeDir: "obs://b/code/", BootFile: "train.py", Flavor: "modelarts.vm.cpu.2u", InstanceCount: 1},
		CreatedAt: testTime.In(local), StartedAt: testTime.In(local), Handle: "secret-handle"}
}

func TestTrainingSubmitJob(t *testing.T) {
	h := newHarness(t)
	var gotName, gotDesc string
	var gotSpec atelier.JobSpec
	h.training.SubmitJobFn = func(ctx context.Context, name, desc string, spec atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error) {
		if p := atelier.PrincipalFromContext(ctx); p == nil || p.TenantID != "t1" {
			t.Errorf("principal = %+v", p)
		}
		gotName, gotDesc, gotSpec = name, desc, spec
		return testJob(), testVersion(1), nil
	}
	body := `{"job_name":"mnist","job_desc":"d","spec":{"code_dir":"obs://b/code/","boot_file":"train.py",
		"parameters":[{"name":"epochs","value":"3"},{"name":"dist"}],"inputs":[{"obs_path":"obs://b/data/","local_path":"/data"}],
		"flavor_id":"modelarts.vm.cpu.2u","train_instance_count":2}}`
	w := h.do(authed("POST", "/v1/training/jobs", strings.NewReader(body)))
	var out struct {
		Job     map[string]any `json:"job"`
		Version map[string]any `json:"version"`
	}
	mustJSON(t, w, 201, &out)
	if gotName != "mnist" || gotDesc != "d" || gotSpec.InstanceCount != 2 || len(gotSpec.Parameters) != 2 ||
		gotSpec.Parameters[1].Value != nil || *gotSpec.Parameters[0].Value != "3" || gotSpec.Inputs[0].LocalPath != "/data" {
		t.Fatalf("service got %q %q %+v", gotName, gotDesc, gotSpec)
	}
	if out.Job["job_id"] != "job-1" || out.Job["created_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("job = %v", out.Job)
	}
	if out.Version["version_id"] != 1.0 || out.Version["started_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("version = %v", out.Version)
	}
	if strings.Contains(w.Body.String(), "secret-handle") {
		t.Errorf("the answer leaks the executor handle: %s", w.Body)
	}
	if _, ok := out.Version["finished_at"]; ok {
		t.Errorf("a zero finished_at is sent: %v", out.Version)
	}
}

func TestTrainingSubmitErrors(t *testing.T) {
	h := newHarness(t)
	h.training.SubmitJobFn = func(context.Context, string, string, atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error) {
		return nil, nil, atelier.CodeJobExists.Errorf("A job named mnist exists.")
	}
	w := h.do(authed("POST", "/v1/training/jobs", strings.NewReader(`{"job_name":"mnist","spec":{}}`)))
	mustError(t, w, 409, atelier.CodeJobExists.ID)

	w = h.do(authed("POST", "/v1/training/jobs", strings.NewReader(`{"job_name":"mnist","bogus":1}`)))
	mustError(t, w, 400, atelier.CodeInvalidJSON.ID)

	w = h.do(httptest.NewRequest("POST", "/v1/training/jobs", strings.NewReader(`{}`)))
	mustError(t, w, 401, atelier.CodeNoCredentials.ID)
}

func TestTrainingListJobs(t *testing.T) {
	h := newHarness(t)
	var got atelier.JobFilter
	h.training.ListJobsFn = func(_ context.Context, f atelier.JobFilter) (*atelier.JobPage, error) {
		got = f
		return &atelier.JobPage{Jobs: []*atelier.TrainingJob{testJob()}, NextCursor: "c2"}, nil
	}
	w := h.do(authed("GET", "/v1/training/jobs?name=mnist&status=running&limit=5&cursor=c1", nil))
	var page atelier.JobPage
	mustJSON(t, w, 200, &page)
	if got != (atelier.JobFilter{Name: "mnist", State: atelier.JobRunning, Limit: 5, Cursor: "c1"}) {
		t.Errorf("filter = %+v", got)
	}
	if len(page.Jobs) != 1 || page.NextCursor != "c2" || page.Jobs[0].CreatedAt.Location() != time.UTC {
		t.Errorf("page = %+v", page)
	}

	h.training.ListJobsFn = func(context.Context, atelier.JobFilter) (*atelier.JobPage, error) { return &atelier.JobPage{}, nil }
	w = h.do(authed("GET", "/v1/training/jobs", nil))
	if !strings.Contains(w.Body.String(), `"jobs":[]`) {
		t.Errorf("an empty page is %s, want jobs:[]", w.Body)
	}

	for _, tc := range []struct{ query, field string }{
		{"status=DONE", "status"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=x", "limit"},
	} {
		w := h.do(authed("GET", "/v1/training/jobs?"+tc.query, nil))
		e := mustError(t, w, 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.query, e.Message, tc.field)
		}
	}
}

func TestTrainingJobAndVersions(t *testing.T) {
	h := newHarness(t)
	tr := h.training
	tr.GetJobFn = func(_ context.Context, id string) (*atelier.TrainingJob, error) {
		if id != "job-1" {
			return nil, atelier.CodeJobNotFound.Errorf("No job %s.", id)
		}
		return testJob(), nil
	}
	deleted := ""
	tr.DeleteJobFn = func(_ context.Context, id string) error { deleted = id; return nil }
	tr.ListVersionsFn = func(context.Context, string) ([]*atelier.JobVersion, error) {
		return []*atelier.JobVersion{testVersion(2), testVersion(1)}, nil
	}
	var gotVersion int64 = -1
	tr.GetVersionFn = func(_ context.Context, _ string, v int64) (*atelier.JobVersion, error) {
		gotVersion = v
		return testVersion(3), nil
	}
	var stopped int64 = -1
	tr.StopVersionFn = func(_ context.Context, _ string, v int64) (*atelier.JobVersion, error) {
		stopped = v
		ver := testVersion(v)
		ver.State = atelier.JobStopped
		return ver, nil
	}
	tr.ListEventsFn = func(_ context.Context, _ string, v int64) ([]*atelier.JobEvent, error) {
		return []*atelier.JobEvent{{JobID: "job-1", VersionID: v, Seq: 1, State: atelier.JobCreating, Time: testTime.In(local)}}, nil
	}
	var pre int64 = -1
	var preSpec atelier.JobSpec
	tr.CreateJobVersionFn = func(_ context.Context, _ string, p int64, _ string, spec atelier.JobSpec) (*atelier.JobVersion, error) {
		pre, preSpec = p, spec
		return testVersion(4), nil
	}

	var j atelier.TrainingJob
	mustJSON(t, h.do(authed("GET", "/v1/training/jobs/job-1", nil)), 200, &j)
	if j.Name != "mnist" {
		t.Errorf("job = %+v", j)
	}
	mustError(t, h.do(authed("GET", "/v1/training/jobs/nope", nil)), 404, atelier.CodeJobNotFound.ID)
	mustJSON(t, h.do(authed("DELETE", "/v1/training/jobs/job-1", nil)), 204, nil)
	if deleted != "job-1" {
		t.Errorf("deleted %q", deleted)
	}

	var vs struct {
		Versions []*atelier.JobVersion `json:"versions"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions", nil)), 200, &vs)
	if len(vs.Versions) != 2 || vs.Versions[0].VersionID != 2 {
		t.Errorf("versions = %+v", vs.Versions)
	}

	var v atelier.JobVersion
	mustJSON(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/latest", nil)), 200, &v)
	if gotVersion != 0 || v.VersionID != 3 {
		t.Errorf("latest asked the service for %d, answered %d", gotVersion, v.VersionID)
	}
	mustJSON(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/7", nil)), 200, &v)
	if gotVersion != 7 {
		t.Errorf("version 7 asked the service for %d", gotVersion)
	}
	for _, bad := range []string{"0", "-1", "v1", "1.5"} {
		e := mustError(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/"+bad, nil)), 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, "version_id") {
			t.Errorf("%s: message %q does not name version_id", bad, e.Message)
		}
	}

	mustJSON(t, h.do(authed("POST", "/v1/training/jobs/job-1/versions/2/stop", nil)), 200, &v)
	if stopped != 2 || v.State != atelier.JobStopped {
		t.Errorf("stop: service got %d, answer %+v", stopped, v)
	}

	var es struct {
		Events []*atelier.JobEvent `json:"events"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/latest/events", nil)), 200, &es)
	if len(es.Events) != 1 || es.Events[0].State != atelier.JobCreating || es.Events[0].Time.Location() != time.UTC {
		t.Errorf("events = %+v", es.Events)
	}

	mustJSON(t, h.do(authed("POST", "/v1/training/jobs/job-1/versions",
		strings.NewReader(`{"pre_version_id":2,"job_desc":"again","spec":{"train_instance_count":3}}`))), 201, &v)
	if pre != 2 || preSpec.InstanceCount != 3 || v.VersionID != 4 {
		t.Errorf("create version: pre %d spec %+v answer %+v", pre, preSpec, v)
	}
	// An empty body reruns the latest version unchanged.
	mustJSON(t, h.do(authed("POST", "/v1/training/jobs/job-1/versions", nil)), 201, &v)
	if pre != 0 || preSpec.InstanceCount != 0 {
		t.Errorf("empty body: pre %d spec %+v", pre, preSpec)
	}
	e := mustError(t, h.do(authed("POST", "/v1/training/jobs/job-1/versions", strings.NewReader(`{"pre_version_id":-1}`))), 400, atelier.CodeInvalidParam.ID)
	if !strings.Contains(e.Message, "pre_version_id") {
		t.Errorf("message %q does not name pre_version_id", e.Message)
	}
}

func TestTrainingFlavorsAndFrameworks(t *testing.T) {
	h := newHarness(t)
	h.training.ListFlavorsFn = func(context.Context) ([]*atelier.Flavor, error) {
		return []*atelier.Flavor{{ID: "modelarts.vm.cpu.2u", Name: "2 vCPU", MaxNum: 4, CPU: 2, MemoryMB: 4096, Executor: "local"}}, nil
	}
	h.training.ListFrameworksFn = func(context.Context) ([]*atelier.Framework, error) { return nil, nil }
	var fl struct {
		Flavors []map[string]any `json:"flavors"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/training/flavors", nil)), 200, &fl)
	if len(fl.Flavors) != 1 || fl.Flavors[0]["flavor_id"] != "modelarts.vm.cpu.2u" || fl.Flavors[0]["max_num"] != 4.0 {
		t.Errorf("flavors = %v", fl.Flavors)
	}
	w := h.do(authed("GET", "/v1/training/frameworks", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"frameworks":[]`) {
		t.Errorf("no frameworks: %d %s", w.Code, w.Body)
	}
}

func TestTrainingWithoutService(t *testing.T) {
	h := newHarness(t)
	h.opts.Training = nil
	mustError(t, h.do(authed("GET", "/v1/training/flavors", nil)), 501, atelier.CodeNotImplemented.ID)
}

func TestTrainingLogPlain(t *testing.T) {
	h := newHarness(t)
	type call struct {
		job, task      string
		version, off   int64
		follow, closed bool
	}
	var got call
	h.training.OpenLogFn = func(_ context.Context, job string, version int64, task string, offset int64, follow bool) (io.ReadCloser, error) {
		if task == "worker-9" {
			return nil, atelier.CodeTaskNotFound.Errorf("No worker-9.")
		}
		got = call{job: job, task: task, version: version, off: offset, follow: follow}
		return &closeRecorder{Reader: strings.NewReader("epoch 1\nepoch 2\n"), closed: &got.closed}, nil
	}
	w := h.do(authed("GET", "/v1/training/jobs/job-1/versions/2/logs/worker-1?offset=17", nil))
	if w.Code != 200 || w.Body.String() != "epoch 1\nepoch 2\n" {
		t.Fatalf("log = %d %q", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if off := w.Header().Get("X-Log-Offset"); off != "17" {
		t.Errorf("X-Log-Offset = %q", off)
	}
	if got != (call{job: "job-1", task: "worker-1", version: 2, off: 17, closed: true}) {
		t.Errorf("service call = %+v", got)
	}
	for _, f := range []string{"1", "true"} {
		h.do(authed("GET", "/v1/training/jobs/job-1/versions/latest/logs/worker-0?follow="+f, nil))
		if !got.follow || got.version != 0 || got.off != 0 {
			t.Errorf("follow=%s: service call = %+v", f, got)
		}
	}

	mustError(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/1/logs/worker-9", nil)), 404, atelier.CodeTaskNotFound.ID)
	for _, tc := range []struct{ query, field string }{
		{"offset=-1", "offset"},
		{"offset=abc", "offset"},
		{"offset=99999999999999999999", "offset"},
		{"follow=yes", "follow"},
	} {
		e := mustError(t, h.do(authed("GET", "/v1/training/jobs/job-1/versions/1/logs/worker-0?"+tc.query, nil)), 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.query, e.Message, tc.field)
		}
	}
}

// closeRecorder is a reader that notes its Close.
type closeRecorder struct {
	io.Reader
	closed *bool
}

func (c *closeRecorder) Close() error { *c.closed = true; return nil }

// pipeLog is a log reader over an io.Pipe whose Close is reported on a
// channel; Read gives up when ctx ends, as the service's follow reader does.
type pipeLog struct {
	pr     *io.PipeReader
	closed chan struct{}
}

func (p *pipeLog) Read(b []byte) (int, error) { return p.pr.Read(b) }
func (p *pipeLog) Close() error {
	close(p.closed)
	return p.pr.Close()
}

// followServer serves a harness whose OpenLog hands out the read end of a
// pipe; the test writes the log through pw.
func followServer(t *testing.T) (srv *httptest.Server, pw *io.PipeWriter, log *pipeLog) {
	t.Helper()
	h := newHarness(t)
	pr, pw := io.Pipe()
	log = &pipeLog{pr: pr, closed: make(chan struct{})}
	h.training.OpenLogFn = func(ctx context.Context, _ string, _ int64, _ string, _ int64, follow bool) (io.ReadCloser, error) {
		if !follow {
			t.Errorf("follow = false")
		}
		context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
		return log, nil
	}
	srv = httptest.NewServer(h.server())
	t.Cleanup(srv.Close)
	return srv, pw, log
}

func TestTrainingLogFollowStreams(t *testing.T) {
	srv, pw, log := followServer(t)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/training/jobs/job-1/versions/1/logs/worker-0?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Log-Offset") != "0" {
		t.Fatalf("answer %d, X-Log-Offset %q", resp.StatusCode, resp.Header.Get("X-Log-Offset"))
	}
	br := bufio.NewReader(resp.Body)
	// Each line arrives while the service's reader is still open.
	for _, line := range []string{"step 1\n", "step 2\n"} {
		go func() { _, _ = pw.Write([]byte(line)) }()
		got, err := br.ReadString('\n')
		if err != nil || got != line {
			t.Fatalf("read %q, %v; want %q before the log ends", got, err, line)
		}
	}
	pw.Close() // the version ends
	rest, err := io.ReadAll(br)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the end: %q, %v", rest, err)
	}
	<-log.closed
}

func TestTrainingLogFollowClientGoesAway(t *testing.T) {
	srv, pw, log := followServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/training/jobs/job-1/versions/1/logs/worker-0?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write([]byte("hello\n")) }()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-log.closed: // the handler let go of the log
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still holds the log after the client went away")
	}
}

func TestTrainingLogReadErrorCutsTheAnswer(t *testing.T) {
	h := newHarness(t)
	h.training.OpenLogFn = func(context.Context, string, int64, string, int64, bool) (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("partial\n"), errReader{})), nil
	}
	srv := httptest.NewServer(h.server())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/training/jobs/job-1/versions/1/logs/worker-0", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if string(b) != "partial\n" || err == nil {
		t.Fatalf("body %q, err %v; want the partial log and a broken stream", b, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

func TestTrainingRoutesInOpenAPI(t *testing.T) {
	h := newHarness(t)
	doc := fetchOpenAPI(t, h)
	for _, p := range []string{"/v1/training/jobs", "/v1/training/jobs/{job_id}/versions/{version_id}/logs/{task}", "/v1/training/flavors"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("the document lacks %s", p)
		}
	}
}
