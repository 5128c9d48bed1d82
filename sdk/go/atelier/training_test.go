package atelier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

// TestTrainingRequests checks the method, path, query and body of each
// training call against a recording server.
func TestTrainingRequests(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.EscapedPath() + " " + r.URL.RawQuery + " " + strings.TrimSpace(string(b))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/v1/training/jobs" && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"job":{"job_id":"j1","job_name":"mnist"},"version":{"job_id":"j1","version_id":1,"status":"CREATING"}}`)
		case r.URL.Path == "/v1/training/jobs":
			io.WriteString(w, `{"jobs":[{"job_id":"j1"}],"next_cursor":"c2"}`)
		case strings.HasSuffix(r.URL.Path, "/versions") && r.Method == http.MethodGet:
			io.WriteString(w, `{"versions":[{"version_id":2},{"version_id":1}]}`)
		case strings.HasSuffix(r.URL.Path, "/events"):
			io.WriteString(w, `{"events":[{"seq":1,"status":"CREATING"}]}`)
		case strings.HasSuffix(r.URL.Path, "/flavors"):
			io.WriteString(w, `{"flavors":[{"flavor_id":"modelarts.vm.cpu.2u","max_num":2}]}`)
		case strings.HasSuffix(r.URL.Path, "/frameworks"):
			io.WriteString(w, `{"frameworks":[{"framework_type":"PyTorch","framework_version":"2.1","interpreter":"python3"}]}`)
		default:
			io.WriteString(w, `{"job_id":"j1","version_id":3}`)
		}
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	ctx := context.Background()
	v := "3"
	spec := core.JobSpec{BootFile: "t.py", Parameters: []core.JobParam{{Name: "lr", Value: &v}, {Name: "dist"}}, Flavor: "f", InstanceCount: 1}
	tests := []struct {
		call func() error
		want string
	}{
		{func() error {
			j, ver, err := c.SubmitJob(ctx, "mnist", "d", spec)
			if err == nil && (j.ID != "j1" || ver.VersionID != 1) {
				t.Errorf("submit answer %+v %+v", j, ver)
			}
			return err
		}, `POST /v1/training/jobs  {"job_desc":"d","job_name":"mnist","spec":{"boot_file":"t.py","parameters":[{"name":"lr","value":"3"},{"name":"dist"}],"flavor_id":"f","train_instance_count":1}}`},
		{func() error {
			_, err := c.CreateJobVersion(ctx, "j 1", 2, "", core.JobSpec{InstanceCount: 2})
			return err
		}, `POST /v1/training/jobs/j%201/versions  {"job_desc":"","pre_version_id":2,"spec":{"flavor_id":"","train_instance_count":2}}`},
		{func() error {
			p, err := c.ListJobs(ctx, core.JobFilter{Name: "mnist", State: core.JobRunning, Limit: 10, Cursor: "c1"})
			if err == nil && (len(p.Jobs) != 1 || p.NextCursor != "c2") {
				t.Errorf("page %+v", p)
			}
			return err
		}, `GET /v1/training/jobs cursor=c1&limit=10&name=mnist&status=RUNNING `},
		{func() error { _, err := c.ListJobs(ctx, core.JobFilter{}); return err }, `GET /v1/training/jobs  `},
		{func() error { _, err := c.GetJob(ctx, "j1"); return err }, `GET /v1/training/jobs/j1  `},
		{func() error { return c.DeleteJob(ctx, "j1") }, `DELETE /v1/training/jobs/j1  `},
		{func() error {
			vs, err := c.ListVersions(ctx, "j1")
			if err == nil && (len(vs) != 2 || vs[0].VersionID != 2) {
				t.Errorf("versions %+v", vs)
			}
			return err
		}, `GET /v1/training/jobs/j1/versions  `},
		{func() error { _, err := c.GetVersion(ctx, "j1", 0); return err }, `GET /v1/training/jobs/j1/versions/latest  `},
		{func() error { _, err := c.GetVersion(ctx, "j1", 3); return err }, `GET /v1/training/jobs/j1/versions/3  `},
		{func() error { _, err := c.StopVersion(ctx, "j1", 2); return err }, `POST /v1/training/jobs/j1/versions/2/stop  `},
		{func() error {
			es, err := c.ListEvents(ctx, "j1", 0)
			if err == nil && (len(es) != 1 || es[0].State != core.JobCreating) {
				t.Errorf("events %+v", es)
			}
			return err
		}, `GET /v1/training/jobs/j1/versions/latest/events  `},
		{func() error {
			fs, err := c.ListFlavors(ctx)
			if err == nil && (len(fs) != 1 || fs[0].MaxNum != 2) {
				t.Errorf("flavors %+v", fs)
			}
			return err
		}, `GET /v1/training/flavors  `},
		{func() error {
			fs, err := c.ListFrameworks(ctx)
			if err == nil && (len(fs) != 1 || fs[0].Interpreter != "python3") {
				t.Errorf("frameworks %+v", fs)
			}
			return err
		}, `GET /v1/training/frameworks  `},
	}
	for _, tc := range tests {
		got = ""
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.want, err)
		}
		if got != tc.want {
			t.Errorf("request\n got %s\nwant %s", got, tc.want)
		}
	}
}

// logServer serves a log from ?offset=; cut(n) says after how many bytes
// the n-th request (from 0) breaks the connection (-1: never).
type logServer struct {
	*httptest.Server
	log string
	cut func(n int) int

	mu      sync.Mutex
	offsets []int64
	follow  []string
}

func newLogServer(t *testing.T, log string, cut func(n int) int) *logServer {
	t.Helper()
	old := logRetryDelay
	logRetryDelay = 0
	t.Cleanup(func() { logRetryDelay = old })
	s := &logServer{log: log, cut: cut}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *logServer) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/logs/worker-1") {
		writeErr(w, 404, "ATL.TRN.0009", "No such worker.")
		return
	}
	off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	s.mu.Lock()
	n := len(s.offsets)
	s.offsets = append(s.offsets, off)
	s.follow = append(s.follow, r.URL.Query().Get("follow"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Log-Offset", strconv.FormatInt(off, 10))
	w.WriteHeader(200)
	rest := s.log[off:]
	if c := s.cut(n); c >= 0 && c < len(rest) {
		io.WriteString(w, rest[:c])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	io.WriteString(w, rest)
}

func TestStreamLogResumes(t *testing.T) {
	const log = "line one\nline two\nline three\n"
	// The first two answers break after 5 and 0 bytes; the third completes.
	s := newLogServer(t, log, func(n int) int { return []int{5, 0, -1}[min(n, 2)] })
	c := mustClient(t, Options{Endpoint: s.URL, Token: "t"})
	var out bytes.Buffer
	end, err := c.StreamLog(context.Background(), "j1", 2, "worker-1", 3, true, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != log[3:] || end != int64(len(log)) {
		t.Errorf("got %q, end %d; want %q, %d", out.String(), end, log[3:], len(log))
	}
	if want := []int64{3, 8, 8}; !slices.Equal(s.offsets, want) {
		t.Errorf("offsets asked %v, want %v", s.offsets, want)
	}
	for _, f := range s.follow {
		if f != "1" {
			t.Errorf("follow = %q", f)
		}
	}
}

func TestStreamLogGivesUp(t *testing.T) {
	s := newLogServer(t, "abcdef", func(int) int { return 0 })
	c := mustClient(t, Options{Endpoint: s.URL, Token: "t"})
	var out bytes.Buffer
	end, err := c.StreamLog(context.Background(), "j1", 0, "worker-1", 0, false, &out)
	if err == nil {
		t.Fatal("no error from a server that always breaks")
	}
	if end != 0 || len(s.offsets) != LogRetries+1 {
		t.Errorf("end %d after %d requests; want 0 after %d", end, len(s.offsets), LogRetries+1)
	}
	if s.follow[0] != "" {
		t.Errorf("follow = %q without follow", s.follow[0])
	}
}

func TestStreamLogErrors(t *testing.T) {
	s := newLogServer(t, "abcdef", func(int) int { return -1 })
	c := mustClient(t, Options{Endpoint: s.URL, Token: "t"})
	_, err := c.StreamLog(context.Background(), "j1", 1, "worker-7", 0, false, io.Discard)
	if core.ErrorCode(err) != core.CodeTaskNotFound.ID || len(s.offsets) != 0 {
		t.Errorf("unknown task: %v after %d log requests", err, len(s.offsets))
	}
	failing := errors.New("disk full")
	_, err = c.StreamLog(context.Background(), "j1", 1, "worker-1", 0, false, failWriter{failing})
	if !errors.Is(err, failing) || len(s.offsets) != 1 {
		t.Errorf("write failure: %v after %d requests; want no retry", err, len(s.offsets))
	}
}

func TestWaitVersion(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls++
		st := core.JobRunning
		if polls == 3 {
			st = core.JobCompleted
		}
		mu.Unlock()
		writeJSON(w, 200, map[string]any{"job_id": "j1", "version_id": 1, "status": st})
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	v, err := c.WaitVersion(context.Background(), "j1", 1, time.Millisecond)
	if err != nil || v.State != core.JobCompleted || polls != 3 {
		t.Fatalf("WaitVersion = %+v, %v after %d polls", v, err, polls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	polls = 0
	if _, err := c.WaitVersion(ctx, "j1", 1, time.Millisecond); err == nil {
		t.Error("WaitVersion with a canceled context did not fail")
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
