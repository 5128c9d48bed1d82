package atelier

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

// TestDatasetRequests checks the method, path, query and body of each
// dataset call against a recording server.
func TestDatasetRequests(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.EscapedPath() + " " + r.URL.RawQuery + " " + strings.TrimSpace(string(b))
		w.Header().Set("Content-Type", "application/json")
		p := r.URL.Path
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case p == "/v1/datasets" && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"dataset":{"dataset_id":"d1","dataset_name":"flowers"},"import_task":{"task_id":"i1","status":"QUEUED"}}`)
		case p == "/v1/datasets":
			io.WriteString(w, `{"datasets":[{"dataset_id":"d1"}]}`)
		case strings.HasSuffix(p, "/imports") && r.Method == http.MethodGet:
			io.WriteString(w, `{"import_tasks":[{"task_id":"i1"}]}`)
		case strings.HasSuffix(p, "/exports") && r.Method == http.MethodGet:
			io.WriteString(w, `{"export_tasks":[{"task_id":"e1"}]}`)
		case strings.HasSuffix(p, "/versions") && r.Method == http.MethodGet:
			io.WriteString(w, `{"versions":[{"version_id":"v1","version_name":"V001"}]}`)
		case strings.HasSuffix(p, "/samples"):
			io.WriteString(w, `{"samples":[{"sample_id":"s1","annotations":[{"type":"modelarts/image_classification","name":"cat","annotated-by":"human"}]}],"next_cursor":"s1"}`)
		case strings.HasSuffix(p, "/samples/delete"):
			io.WriteString(w, `{"deleted":2}`)
		case strings.HasSuffix(p, "/stats"):
			io.WriteString(w, `{"total_sample_count":3,"label_stats":{"cat":2}}`)
		default:
			io.WriteString(w, `{"dataset_id":"d1","task_id":"t1","sample_id":"s1","version_id":"v1"}`)
		}
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	ctx := context.Background()
	zero, yes, no := 0, true, false
	name := "roses"
	tests := []struct {
		call func() error
		want string
	}{
		{func() error {
			d, task, err := c.CreateDataset(ctx, core.DatasetSpec{Name: "flowers", DatasetType: &zero, DataPath: "/b/in/", WorkPath: "/b/w/",
				AnnotationConfig: &core.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"}})
			if err == nil && (d.ID != "d1" || task == nil || task.ID != "i1") {
				t.Errorf("create answer %+v %+v", d, task)
			}
			return err
		}, `POST /v1/datasets  {"dataset_name":"flowers","dataset_type":0,"data_path":"/b/in/","annotation_config":{"scene":"image_classification","format_name":"ModelArts image classification 1.0"},"work_path":"/b/w/"}`},
		{func() error {
			ds, err := c.ListDatasets(ctx, "flowers")
			if err == nil && len(ds) != 1 {
				t.Errorf("datasets %+v", ds)
			}
			return err
		}, `GET /v1/datasets name=flowers `},
		{func() error { _, err := c.ListDatasets(ctx, ""); return err }, `GET /v1/datasets  `},
		{func() error { _, err := c.GetDataset(ctx, "d 1"); return err }, `GET /v1/datasets/d%201  `},
		{func() error { _, err := c.UpdateDataset(ctx, "d1", core.DatasetUpdate{Name: &name}); return err },
			`PATCH /v1/datasets/d1  {"dataset_name":"roses"}`},
		{func() error { return c.DeleteDataset(ctx, "d1", false) }, `DELETE /v1/datasets/d1  `},
		{func() error { return c.DeleteDataset(ctx, "d1", true) }, `DELETE /v1/datasets/d1 delete_source=true `},
		{func() error {
			_, err := c.ImportData(ctx, "d1", core.ImportRequest{Path: "/b/m.manifest", WithColumnHeader: &no})
			return err
		}, `POST /v1/datasets/d1/imports  {"import_path":"/b/m.manifest","with_column_header":false}`},
		{func() error {
			ts, err := c.ListImportTasks(ctx, "d1")
			if err == nil && len(ts) != 1 {
				t.Errorf("import tasks %+v", ts)
			}
			return err
		}, `GET /v1/datasets/d1/imports  `},
		{func() error { _, err := c.GetImportTask(ctx, "d1", "i1"); return err }, `GET /v1/datasets/d1/imports/i1  `},
		{func() error {
			p, err := c.ListSamples(ctx, "d1", core.SampleFilter{Labelled: &yes, Label: "cat", Usage: core.UsageTrain, After: "s0", Limit: 10})
			if err == nil && (len(p.Samples) != 1 || p.Samples[0].Annotations[0].AnnotatedBy != "human" || p.NextCursor != "s1") {
				t.Errorf("page %+v", p)
			}
			return err
		}, `GET /v1/datasets/d1/samples cursor=s0&label=cat&labelled=true&limit=10&usage=TRAIN `},
		{func() error { _, err := c.ListSamples(ctx, "d1", core.SampleFilter{Labelled: &no}); return err },
			`GET /v1/datasets/d1/samples labelled=false `},
		{func() error { _, err := c.GetSample(ctx, "d1", "s1"); return err }, `GET /v1/datasets/d1/samples/s1  `},
		{func() error {
			_, err := c.SetAnnotations(ctx, "d1", "s1", []core.Annotation{{Type: "modelarts/image_classification", Name: "dog"}}, core.UsageEval)
			return err
		}, `PUT /v1/datasets/d1/samples/s1/annotations  {"annotations":[{"type":"modelarts/image_classification","name":"dog"}],"usage":"EVAL"}`},
		{func() error { _, err := c.SetAnnotations(ctx, "d1", "s1", nil, ""); return err },
			`PUT /v1/datasets/d1/samples/s1/annotations  {"annotations":[]}`},
		{func() error {
			n, err := c.DeleteSamples(ctx, "d1", []string{"a", "b"})
			if err == nil && n != 2 {
				t.Errorf("deleted %d", n)
			}
			return err
		}, `POST /v1/datasets/d1/samples/delete  {"sample_ids":["a","b"]}`},
		{func() error {
			st, err := c.DatasetStats(ctx, "d1")
			if err == nil && (st.Total != 3 || st.ByLabel["cat"] != 2) {
				t.Errorf("stats %+v", st)
			}
			return err
		}, `GET /v1/datasets/d1/stats  `},
		{func() error {
			_, err := c.CreateDatasetVersion(ctx, "d1", core.VersionSpec{Description: "first", TrainEvalRatio: 0.8})
			return err
		}, `POST /v1/datasets/d1/versions  {"description":"first","train_evaluate_sample_ratio":0.8}`},
		{func() error {
			vs, err := c.ListDatasetVersions(ctx, "d1")
			if err == nil && (len(vs) != 1 || vs[0].Name != "V001") {
				t.Errorf("versions %+v", vs)
			}
			return err
		}, `GET /v1/datasets/d1/versions  `},
		{func() error { _, err := c.GetDatasetVersion(ctx, "d1", "v1"); return err }, `GET /v1/datasets/d1/versions/v1  `},
		{func() error { _, err := c.ExportDatasetVersion(ctx, "d1", "v1", "/b/out/"); return err },
			`POST /v1/datasets/d1/exports  {"export_path":"/b/out/","version_id":"v1"}`},
		{func() error {
			ts, err := c.ListExportTasks(ctx, "d1")
			if err == nil && len(ts) != 1 {
				t.Errorf("export tasks %+v", ts)
			}
			return err
		}, `GET /v1/datasets/d1/exports  `},
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

// TestWalkSamples walks three pages of two samples and stops early when fn
// says so.
func TestWalkSamples(t *testing.T) {
	all := []string{"s1", "s2", "s3", "s4", "s5"}
	var cursors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("cursor")
		cursors = append(cursors, after)
		if r.URL.Query().Get("label") != "cat" {
			t.Errorf("the filter is lost on page %q: %s", after, r.URL.RawQuery)
		}
		i := 0
		if after != "" {
			i = slices.Index(all, after) + 1
		}
		page := core.SamplePage{Samples: []*core.Sample{}}
		for _, id := range all[i:min(i+2, len(all))] {
			page.Samples = append(page.Samples, &core.Sample{ID: id})
		}
		if i+2 < len(all) {
			page.NextCursor = all[i+1]
		}
		writeJSON(w, 200, page)
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	var seen []string
	err := c.WalkSamples(context.Background(), "d1", core.SampleFilter{Label: "cat", Limit: 2}, func(s *core.Sample) error {
		seen = append(seen, s.ID)
		return nil
	})
	if err != nil || !slices.Equal(seen, all) || !slices.Equal(cursors, []string{"", "s2", "s4"}) {
		t.Fatalf("walk: err %v, saw %v, cursors %v", err, seen, cursors)
	}

	stop := errors.New("stop")
	seen, cursors = nil, nil
	err = c.WalkSamples(context.Background(), "d1", core.SampleFilter{Label: "cat"}, func(s *core.Sample) error {
		seen = append(seen, s.ID)
		if s.ID == "s3" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, []string{"s1", "s2", "s3"}) {
		t.Fatalf("stopped walk: err %v, saw %v", err, seen)
	}
}

// TestWaitImport polls a task that runs for two polls, then completes.
func TestWaitImport(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/datasets/d1/imports/i1" {
			writeErr(w, 404, "ATL.DST.0001", "No such task.")
			return
		}
		mu.Lock()
		polls++
		n := polls
		mu.Unlock()
		task := core.ImportTask{ID: "i1", DatasetID: "d1", State: core.TaskRunning, Imported: int64(n)}
		if n == 3 {
			task.State, task.Rejected, task.Errors = core.TaskCompleted, 1, []string{"x.txt: not an image"}
		}
		writeJSON(w, 200, task)
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	var progress []int64
	task, err := c.WaitImport(context.Background(), "d1", "i1", time.Millisecond, func(t *core.ImportTask) { progress = append(progress, t.Imported) })
	if err != nil {
		t.Fatal(err)
	}
	if task.State != core.TaskCompleted || task.Imported != 3 || task.Rejected != 1 || !slices.Equal(progress, []int64{1, 2}) {
		t.Errorf("task %+v, progress %v", task, progress)
	}

	_, err = c.WaitImport(context.Background(), "d1", "nope", time.Millisecond, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Err.Code != "ATL.DST.0001" || apiErr.Status != 404 {
		t.Errorf("unknown task: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mu.Lock()
	polls = -100 // running for a long while
	mu.Unlock()
	if _, err := c.WaitImport(ctx, "d1", "i1", time.Hour, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled wait: %v", err)
	}
}
