package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/mock"
)

// stubDatasets makes every call of m fail with err.
func stubDatasets(m *mock.DatasetService, err error) {
	m.CreateDatasetFn = func(context.Context, atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error) {
		return nil, nil, err
	}
	m.GetDatasetFn = func(context.Context, string) (*atelier.Dataset, error) { return nil, err }
	m.ListDatasetsFn = func(context.Context, string) ([]*atelier.Dataset, error) { return nil, err }
	m.UpdateDatasetFn = func(context.Context, string, atelier.DatasetUpdate) (*atelier.Dataset, error) { return nil, err }
	m.DeleteDatasetFn = func(context.Context, string, bool) error { return err }
	m.ImportDataFn = func(context.Context, string, atelier.ImportRequest) (*atelier.ImportTask, error) { return nil, err }
	m.ListImportTasksFn = func(context.Context, string) ([]*atelier.ImportTask, error) { return nil, err }
	m.GetImportTaskFn = func(context.Context, string, string) (*atelier.ImportTask, error) { return nil, err }
	m.ListSamplesFn = func(context.Context, string, atelier.SampleFilter) (*atelier.SamplePage, error) { return nil, err }
	m.GetSampleFn = func(context.Context, string, string) (*atelier.Sample, error) { return nil, err }
	m.SetAnnotationsFn = func(context.Context, string, string, []atelier.Annotation, string) (*atelier.Sample, error) {
		return nil, err
	}
	m.DeleteSamplesFn = func(context.Context, string, []string) (int, error) { return 0, err }
	m.StatsFn = func(context.Context, string) (*atelier.DatasetStats, error) { return nil, err }
	m.CreateVersionFn = func(context.Context, string, atelier.VersionSpec) (*atelier.DatasetVersion, error) { return nil, err }
	m.ListVersionsFn = func(context.Context, string) ([]*atelier.DatasetVersion, error) { return nil, err }
	m.GetVersionFn = func(context.Context, string, string) (*atelier.DatasetVersion, error) { return nil, err }
	m.ExportVersionFn = func(context.Context, string, string, string) (*atelier.ExportTask, error) { return nil, err }
	m.ListExportTasksFn = func(context.Context, string) ([]*atelier.ExportTask, error) { return nil, err }
}

func testDataset() *atelier.Dataset {
	return &atelier.Dataset{ID: "ds-1", TenantID: "t1", Name: "flowers", DataType: atelier.DataImage, DatasetType: 0,
		DataPath: "/b/in/", WorkPath: "/b/work/", Labels: []atelier.Label{{Name: "cat"}, {Name: "dog"}},
		SampleCount: 3, AnnotatedCount: 2, CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local)}
}

func testImportTask() *atelier.ImportTask {
	return &atelier.ImportTask{ID: "imp-1", DatasetID: "ds-1", Path: "/b/in/", Format: "directory", State: atelier.TaskRunning,
		Imported: 2, Rejected: 1, Errors: []string{"a.txt: not an image"}, Cursor: "secret-cursor",
		CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local)}
}

func TestDatasetCreate(t *testing.T) {
	h := newHarness(t)
	var got atelier.DatasetSpec
	h.datasets.CreateDatasetFn = func(ctx context.Context, spec atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error) {
		if p := atelier.PrincipalFromContext(ctx); p == nil || p.TenantID != "t1" {
			t.Errorf("principal = %+v", p)
		}
		got = spec
		return testDataset(), testImportTask(), nil
	}
	body := `{"dataset_name":"flowers","dataset_type":1,"data_path":"/b/in/","work_path":"/b/work/",
		"annotation_config":{"scene":"object_detection","format_name":"ModelArts PASCAL VOC 1.0"},
		"labels":[{"name":"e1","type":101},{"name":"r","type":102,"property":{"@modelarts:from_type":"e1","@modelarts:to_type":"e1"}}],
		"schema":[{"schema_id":1,"name":"a","type":"STRING"}],"with_column_header":true}`
	w := h.do(authed("POST", "/v1/datasets", strings.NewReader(body)))
	var out struct {
		Dataset    map[string]any `json:"dataset"`
		ImportTask map[string]any `json:"import_task"`
	}
	mustJSON(t, w, 201, &out)
	if got.Name != "flowers" || got.DatasetType == nil || *got.DatasetType != 1 || got.AnnotationConfig == nil ||
		got.AnnotationConfig.FormatName != "ModelArts PASCAL VOC 1.0" || len(got.Labels) != 2 ||
		got.Labels[1].Property["@modelarts:to_type"] != "e1" || len(got.Schema) != 1 || !got.WithColumnHeader {
		t.Fatalf("service got %+v", got)
	}
	if out.Dataset["dataset_id"] != "ds-1" || out.Dataset["create_time"] != "2025-03-01T12:00:00Z" || out.Dataset["total_sample_count"] != 3.0 {
		t.Errorf("dataset = %v", out.Dataset)
	}
	if _, ok := out.Dataset["TenantID"]; ok {
		t.Errorf("dataset leaks the tenant: %v", out.Dataset)
	}
	if out.ImportTask["task_id"] != "imp-1" || out.ImportTask["imported_sample_count"] != 2.0 {
		t.Errorf("import_task = %v", out.ImportTask)
	}
	if strings.Contains(w.Body.String(), "secret-cursor") {
		t.Errorf("the answer leaks the import cursor: %s", w.Body)
	}

	// A data-type-only spec leaves dataset_type nil.
	w = h.do(authed("POST", "/v1/datasets", strings.NewReader(`{"dataset_name":"t","data_type":"TABLE","data_path":"/b/t/","work_path":"/b/w/"}`)))
	mustJSON(t, w, 201, nil)
	if got.DatasetType != nil || got.DataType != atelier.DataTable {
		t.Errorf("data-type-only spec = %+v", got)
	}
}

func TestDatasetCreateErrors(t *testing.T) {
	h := newHarness(t)
	h.datasets.CreateDatasetFn = func(context.Context, atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error) {
		return nil, nil, atelier.CodeDatasetExists.Errorf("A dataset named flowers exists.")
	}
	mustError(t, h.do(authed("POST", "/v1/datasets", strings.NewReader(`{"dataset_name":"flowers"}`))), 409, atelier.CodeDatasetExists.ID)
	mustError(t, h.do(authed("POST", "/v1/datasets", strings.NewReader(`{"dataset_name":"x","bogus":1}`))), 400, atelier.CodeInvalidJSON.ID)
	mustError(t, h.do(authed("POST", "/v1/datasets", strings.NewReader(`{"dataset_type":"zero"}`))), 400, atelier.CodeInvalidJSON.ID)
	mustError(t, h.do(authed("POST", "/v1/datasets", nil)), 400, atelier.CodeInvalidJSON.ID)
}

func TestDatasetNotConfigured(t *testing.T) {
	h := newHarness(t)
	h.opts.Datasets = nil
	mustError(t, h.do(authed("GET", "/v1/datasets", nil)), 501, atelier.CodeNotImplemented.ID)
	mustError(t, h.do(authed("GET", "/v1/datasets/ds-1/samples", nil)), 501, atelier.CodeNotImplemented.ID)
}

func TestDatasetCRUD(t *testing.T) {
	h := newHarness(t)
	m := h.datasets
	var gotName string
	m.ListDatasetsFn = func(_ context.Context, name string) ([]*atelier.Dataset, error) {
		gotName = name
		if name == "none" {
			return nil, nil
		}
		return []*atelier.Dataset{testDataset()}, nil
	}
	m.GetDatasetFn = func(_ context.Context, id string) (*atelier.Dataset, error) {
		if id != "ds-1" {
			return nil, atelier.CodeDatasetNotFound.Errorf("No dataset %s.", id)
		}
		return testDataset(), nil
	}
	var gotUpdate atelier.DatasetUpdate
	m.UpdateDatasetFn = func(_ context.Context, id string, u atelier.DatasetUpdate) (*atelier.Dataset, error) {
		gotUpdate = u
		d := testDataset()
		d.Name = *u.Name
		return d, nil
	}
	deleted, delSource := "", false
	m.DeleteDatasetFn = func(_ context.Context, id string, src bool) error {
		deleted, delSource = id, src
		return nil
	}

	var list struct {
		Datasets []*atelier.Dataset `json:"datasets"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets?name=flowers", nil)), 200, &list)
	if gotName != "flowers" || len(list.Datasets) != 1 || list.Datasets[0].CreatedAt.Location() != time.UTC {
		t.Errorf("list(%q) = %+v", gotName, list)
	}
	w := h.do(authed("GET", "/v1/datasets?name=none", nil))
	if !strings.Contains(w.Body.String(), `"datasets":[]`) {
		t.Errorf("an empty list is %s, want datasets:[]", w.Body)
	}

	var d atelier.Dataset
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1", nil)), 200, &d)
	if d.Name != "flowers" || len(d.Labels) != 2 {
		t.Errorf("dataset = %+v", d)
	}
	mustError(t, h.do(authed("GET", "/v1/datasets/nope", nil)), 404, atelier.CodeDatasetNotFound.ID)

	mustJSON(t, h.do(authed("PATCH", "/v1/datasets/ds-1", strings.NewReader(`{"dataset_name":"roses","labels":[]}`))), 200, &d)
	if d.Name != "roses" || gotUpdate.Description != nil || gotUpdate.Labels == nil || len(*gotUpdate.Labels) != 0 {
		t.Errorf("update got %+v, answered %+v", gotUpdate, d)
	}

	mustJSON(t, h.do(authed("DELETE", "/v1/datasets/ds-1", nil)), 204, nil)
	if deleted != "ds-1" || delSource {
		t.Errorf("delete(%q, %v)", deleted, delSource)
	}
	mustJSON(t, h.do(authed("DELETE", "/v1/datasets/ds-1?delete_source=true", nil)), 204, nil)
	if !delSource {
		t.Errorf("delete_source=true was not passed")
	}
	e := mustError(t, h.do(authed("DELETE", "/v1/datasets/ds-1?delete_source=yes", nil)), 400, atelier.CodeInvalidParam.ID)
	if !strings.Contains(e.Message, "delete_source") {
		t.Errorf("message %q does not name delete_source", e.Message)
	}
}

func TestDatasetImports(t *testing.T) {
	h := newHarness(t)
	m := h.datasets
	var got atelier.ImportRequest
	m.ImportDataFn = func(_ context.Context, id string, req atelier.ImportRequest) (*atelier.ImportTask, error) {
		got = req
		return testImportTask(), nil
	}
	m.ListImportTasksFn = func(context.Context, string) ([]*atelier.ImportTask, error) {
		return []*atelier.ImportTask{testImportTask()}, nil
	}
	var gotTask string
	m.GetImportTaskFn = func(_ context.Context, id, task string) (*atelier.ImportTask, error) {
		gotTask = id + "/" + task
		return testImportTask(), nil
	}
	var task atelier.ImportTask
	mustJSON(t, h.do(authed("POST", "/v1/datasets/ds-1/imports",
		strings.NewReader(`{"import_path":"/b/more/","annotation_config":{"format_name":"manifest"},"with_column_header":false}`))), 201, &task)
	if got.Path != "/b/more/" || got.AnnotationConfig.FormatName != "manifest" || got.WithColumnHeader == nil || *got.WithColumnHeader {
		t.Errorf("import request = %+v", got)
	}
	if task.ID != "imp-1" || task.Imported != 2 || task.Rejected != 1 || len(task.Errors) != 1 || task.UpdatedAt.Location() != time.UTC {
		t.Errorf("task = %+v", task)
	}
	var list struct {
		Tasks []*atelier.ImportTask `json:"import_tasks"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/imports", nil)), 200, &list)
	if len(list.Tasks) != 1 {
		t.Errorf("tasks = %+v", list)
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/imports/imp-1", nil)), 200, &task)
	if gotTask != "ds-1/imp-1" {
		t.Errorf("get task asked for %q", gotTask)
	}
}

func TestDatasetSamples(t *testing.T) {
	h := newHarness(t)
	m := h.datasets
	var got atelier.SampleFilter
	sample := &atelier.Sample{ID: "sm-1", DatasetID: "ds-1", Source: "obs://b/in/cat/1.jpg", Usage: atelier.UsageTrain,
		Annotations: []atelier.Annotation{{Type: "modelarts/image_classification", Name: "cat", AnnotatedBy: "human"}},
		Labels:      []string{"cat"}, CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local)}
	m.ListSamplesFn = func(_ context.Context, id string, f atelier.SampleFilter) (*atelier.SamplePage, error) {
		got = f
		if f.Label == "none" {
			return &atelier.SamplePage{}, nil
		}
		return &atelier.SamplePage{Samples: []*atelier.Sample{sample}, NextCursor: "sm-1"}, nil
	}
	var page atelier.SamplePage
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/samples?labelled=true&label=cat&usage=train&limit=5&cursor=sm-0", nil)), 200, &page)
	if got.Labelled == nil || !*got.Labelled || got.Label != "cat" || got.Usage != atelier.UsageTrain || got.Limit != 5 || got.After != "sm-0" {
		t.Errorf("filter = %+v", got)
	}
	if len(page.Samples) != 1 || page.NextCursor != "sm-1" || page.Samples[0].CreatedAt.Location() != time.UTC ||
		page.Samples[0].Annotations[0].AnnotatedBy != "human" {
		t.Errorf("page = %+v", page)
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/samples?labelled=false", nil)), 200, &page)
	if got.Labelled == nil || *got.Labelled || got.Limit != 0 {
		t.Errorf("filter = %+v", got)
	}
	w := h.do(authed("GET", "/v1/datasets/ds-1/samples?label=none", nil))
	if !strings.Contains(w.Body.String(), `"samples":[]`) {
		t.Errorf("an empty page is %s, want samples:[]", w.Body)
	}
	if !strings.Contains(h.do(authed("GET", "/v1/datasets/ds-1/samples", nil)).Body.String(), `"annotated-by":"human"`) {
		t.Errorf("annotations are not in manifest form")
	}
	for _, tc := range []struct{ query, field string }{
		{"labelled=maybe", "labelled"},
		{"usage=PLAY", "usage"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=x", "limit"},
	} {
		e := mustError(t, h.do(authed("GET", "/v1/datasets/ds-1/samples?"+tc.query, nil)), 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.query, e.Message, tc.field)
		}
	}

	m.GetSampleFn = func(_ context.Context, id, sid string) (*atelier.Sample, error) {
		if sid != "sm-1" {
			return nil, atelier.CodeDatasetNotFound.Errorf("No sample %s.", sid)
		}
		return sample, nil
	}
	var sm atelier.Sample
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/samples/sm-1", nil)), 200, &sm)
	if sm.Source != sample.Source {
		t.Errorf("sample = %+v", sm)
	}
	mustError(t, h.do(authed("GET", "/v1/datasets/ds-1/samples/sm-9", nil)), 404, atelier.CodeDatasetNotFound.ID)

	var gotAnn []atelier.Annotation
	var gotUsage string
	m.SetAnnotationsFn = func(_ context.Context, id, sid string, anns []atelier.Annotation, usage string) (*atelier.Sample, error) {
		gotAnn, gotUsage = anns, usage
		return sample, nil
	}
	mustJSON(t, h.do(authed("PUT", "/v1/datasets/ds-1/samples/sm-1/annotations",
		strings.NewReader(`{"annotations":[{"type":"modelarts/image_classification","name":"dog","property":{"x":1}}],"usage":"EVAL"}`))), 200, &sm)
	if len(gotAnn) != 1 || gotAnn[0].Name != "dog" || gotAnn[0].Property["x"] != 1.0 || gotUsage != "EVAL" {
		t.Errorf("set annotations got %+v %q", gotAnn, gotUsage)
	}

	var gotIDs []string
	m.DeleteSamplesFn = func(_ context.Context, id string, ids []string) (int, error) {
		gotIDs = ids
		return len(ids), nil
	}
	var del struct {
		Deleted int `json:"deleted"`
	}
	mustJSON(t, h.do(authed("POST", "/v1/datasets/ds-1/samples/delete", strings.NewReader(`{"sample_ids":["a","b"]}`))), 200, &del)
	if del.Deleted != 2 || len(gotIDs) != 2 {
		t.Errorf("deleted %d of %v", del.Deleted, gotIDs)
	}

	m.StatsFn = func(context.Context, string) (*atelier.DatasetStats, error) {
		return &atelier.DatasetStats{Total: 3, Annotated: 1, ByLabel: map[string]int64{"cat": 1}}, nil
	}
	w = h.do(authed("GET", "/v1/datasets/ds-1/stats", nil))
	var st atelier.DatasetStats
	mustJSON(t, w, 200, &st)
	if st.Total != 3 || st.ByLabel["cat"] != 1 || !strings.Contains(w.Body.String(), `"usage_stats":{}`) {
		t.Errorf("stats = %s", w.Body)
	}
}

func TestDatasetVersionsAndExports(t *testing.T) {
	h := newHarness(t)
	m := h.datasets
	ver := &atelier.DatasetVersion{ID: "v-1", DatasetID: "ds-1", Name: "V001", TrainEvalRatio: 0.8, SampleCount: 3,
		ManifestPath: "/b/work/dataset-ds-1/annotation/V001/V001.manifest", State: "NORMAL", CreatedAt: testTime.In(local)}
	var gotSpec atelier.VersionSpec
	m.CreateVersionFn = func(_ context.Context, id string, spec atelier.VersionSpec) (*atelier.DatasetVersion, error) {
		gotSpec = spec
		return ver, nil
	}
	m.ListVersionsFn = func(context.Context, string) ([]*atelier.DatasetVersion, error) {
		return []*atelier.DatasetVersion{ver}, nil
	}
	var gotVer string
	m.GetVersionFn = func(_ context.Context, id, v string) (*atelier.DatasetVersion, error) {
		gotVer = v
		return ver, nil
	}
	var v atelier.DatasetVersion
	mustJSON(t, h.do(authed("POST", "/v1/datasets/ds-1/versions", strings.NewReader(`{"description":"d","train_evaluate_sample_ratio":0.8}`))), 201, &v)
	if gotSpec.TrainEvalRatio != 0.8 || gotSpec.Description != "d" || v.Name != "V001" || v.CreatedAt.Location() != time.UTC {
		t.Errorf("create version got %+v, answered %+v", gotSpec, v)
	}
	mustJSON(t, h.do(authed("POST", "/v1/datasets/ds-1/versions", nil)), 201, &v) // an empty body is the default spec
	var list struct {
		Versions []*atelier.DatasetVersion `json:"versions"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/versions", nil)), 200, &list)
	if len(list.Versions) != 1 || list.Versions[0].ManifestPath != ver.ManifestPath {
		t.Errorf("versions = %+v", list)
	}
	mustJSON(t, h.do(authed("GET", "/v1/datasets/ds-1/versions/v-1", nil)), 200, &v)
	if gotVer != "v-1" {
		t.Errorf("get version asked for %q", gotVer)
	}

	var gotExport string
	m.ExportVersionFn = func(_ context.Context, id, v, path string) (*atelier.ExportTask, error) {
		gotExport = id + " " + v + " " + path
		return &atelier.ExportTask{ID: "ex-1", DatasetID: id, VersionID: v, Path: path, State: atelier.TaskQueued, CreatedAt: testTime}, nil
	}
	m.ListExportTasksFn = func(context.Context, string) ([]*atelier.ExportTask, error) { return nil, nil }
	var ex atelier.ExportTask
	mustJSON(t, h.do(authed("POST", "/v1/datasets/ds-1/exports", strings.NewReader(`{"version_id":"v-1","export_path":"/b/out/"}`))), 201, &ex)
	if gotExport != "ds-1 v-1 /b/out/" || ex.ID != "ex-1" {
		t.Errorf("export got %q, answered %+v", gotExport, ex)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"export_path":"/b/out/"}`, "version_id"},
		{`{"version_id":"v-1"}`, "export_path"},
	} {
		e := mustError(t, h.do(authed("POST", "/v1/datasets/ds-1/exports", strings.NewReader(tc.body))), 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.body, e.Message, tc.field)
		}
	}
	w := h.do(authed("GET", "/v1/datasets/ds-1/exports", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"export_tasks":[]`) {
		t.Errorf("empty export list = %d %s", w.Code, w.Body)
	}
}
