package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/mock"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

func TestDatasetUsageErrors(t *testing.T) {
	mustIsolate(t)
	src := []string{"--source", "obs://bkt/in/", "--work-path", "obs://bkt/work/"}
	create := func(extra ...string) []string {
		return append(append([]string{"dataset", "create", "ds"}, src...), extra...)
	}
	for _, args := range [][]string{
		{"dataset"},
		{"dataset", "nope"},
		{"dataset", "create"},
		create(), // no type
		create("--data-type", "PICTURE"),
		create("--dataset-type", "7"),
		create("--dataset-type", "x"),
		{"dataset", "create", "ds", "--data-type", "IMAGE"},                                                         // no paths
		{"dataset", "create", "ds", "--data-type", "IMAGE", "--source", "/local/in", "--work-path", "obs://bkt/w/"}, // local source
		{"dataset", "create", "ds", "--data-type", "IMAGE", "--source", "obs://bkt/in/", "--work-path", "work"},
		create("--data-type", "IMAGE", "--label", ""),
		create("--data-type", "IMAGE", "--label", ":0"),
		create("--data-type", "IMAGE", "--label", "cat:7"),
		create("--data-type", "IMAGE", "--label", "cat:x"),
		create("--data-type", "IMAGE", "--label", "cat:0:extra"),
		create("--data-type", "TEXT", "--label", "rel:102"),
		create("--data-type", "TEXT", "--label", "rel:102:a"),
		create("--data-type", "TABLE", "--schema", "a:INT,b"),
		create("--data-type", "TABLE", "--schema", ":INT"),
		create("--data-type", "IMAGE", "-o", "yaml"),
		{"dataset", "create", "a", "b", "--data-type", "IMAGE"},
		{"dataset", "ls", "x"},
		{"dataset", "show"},
		{"dataset", "import", "ds"},
		{"dataset", "import", "ds", "/local/dir"},
		{"dataset", "samples"},
		{"dataset", "samples", "ds", "--labelled", "--unlabelled"},
		{"dataset", "samples", "ds", "--limit", "0"},
		{"dataset", "samples", "ds", "--limit", "1001"},
		{"dataset", "samples", "ds", "--usage", "PLAY"},
		{"dataset", "label", "ds", "s1"},
		{"dataset", "label", "ds", "s1", "--label", ""},
		{"dataset", "label", "ds", "s1", "--label", "cat", "--usage", "x"},
		{"dataset", "label", "ds"},
		{"dataset", "version"},
		{"dataset", "version", "ds", "drop"},
		{"dataset", "version", "ds", "create", "--ratio", "1.5"},
		{"dataset", "version", "ds", "ls", "--ratio", "0.5"},
		{"dataset", "version", "ds", "ls", "-w"},
		{"dataset", "version", "ds", "create", "extra"},
		{"dataset", "export", "ds"},
		{"dataset", "export", "ds", "--version", "V001"},
		{"dataset", "export", "ds", "--version", "V001", "--to", "/tmp/out"},
		{"dataset", "rm"},
		{"dataset", "rm", "ds", "--delete-source=maybe"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in   string
		want core.Label
		ok   bool
	}{
		{"cat", core.Label{Name: "cat"}, true},
		{"cat:0", core.Label{Name: "cat"}, true},
		{"疾病:101", core.Label{Name: "疾病", Type: core.LabelEntity}, true},
		{"又称为:102:疾病:疾病", core.Label{Name: "又称为", Type: core.LabelRelation,
			Property: map[string]string{"@modelarts:from_type": "疾病", "@modelarts:to_type": "疾病"}}, true},
		{"", core.Label{}, false},
		{"cat:", core.Label{}, false},
		{"cat:1", core.Label{}, false},
		{"cat:101:x", core.Label{}, false},
		{"r:102", core.Label{}, false},
		{"r:102::b", core.Label{}, false},
		{"r:102:a:b:c", core.Label{}, false},
	}
	for _, tc := range tests {
		got, err := parseLabel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseLabel(%q) = %+v, %v; want %+v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"cat", "cat:0", "疾病:101", "r:102:a:b", "", "cat:", "r:102::b", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseLabel(s)
		if err != nil {
			return
		}
		if l.Name == "" || !strings.HasPrefix(s, l.Name) {
			t.Errorf("parseLabel(%q) = %+v: the name is not the input's first part", s, l)
		}
		if (l.Type == core.LabelRelation) != (l.Property != nil) {
			t.Errorf("parseLabel(%q) = %+v: properties only for relations", s, l)
		}
	})
}

func TestParseSchema(t *testing.T) {
	got, err := parseSchema("name:string, age:INT ,score:float")
	want := []core.SchemaColumn{{ID: 1, Name: "name", Type: "STRING"}, {ID: 2, Name: "age", Type: "INT"}, {ID: 3, Name: "score", Type: "FLOAT"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseSchema = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "a", "a:", ":INT", "a:INT,,b:INT"} {
		if _, err := parseSchema(bad); err == nil {
			t.Errorf("parseSchema(%q) accepted", bad)
		}
	}
}

// mockDatasetAPI serves the HTTP API over a mock dataset service, and
// points the CLI at it.
func mockDatasetAPI(t *testing.T) *mock.DatasetService {
	t.Helper()
	mustIsolate(t)
	old := datasetPollInterval
	datasetPollInterval = time.Millisecond
	t.Cleanup(func() { datasetPollInterval = old })
	auth := &mock.AuthService{AuthenticateFn: func(context.Context, string) (*core.Principal, error) {
		return &core.Principal{UserID: "u1", TenantID: "t1", Role: core.RoleAdmin}, nil
	}}
	ds := &mock.DatasetService{}
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Auth: auth, Datasets: ds}))
	t.Cleanup(srv.Close)
	t.Setenv(sdk.EnvEndpoint, srv.URL)
	t.Setenv(sdk.EnvToken, "tok")
	return ds
}

// TestDatasetCLIAgainstMock checks what each command sends and prints,
// over the real HTTP API and a mock service.
func TestDatasetCLIAgainstMock(t *testing.T) {
	m := mockDatasetAPI(t)
	cli := e2eCLI{t: t}
	flowers := &core.Dataset{ID: "ds-1", Name: "flowers", DataType: core.DataImage, DatasetType: 0, DataPath: "/b/in/", WorkPath: "/b/w/",
		Labels: []core.Label{{Name: "cat"}, {Name: "dog"}}, SampleCount: 3, AnnotatedCount: 2}
	m.GetDatasetFn = func(_ context.Context, id string) (*core.Dataset, error) {
		if id == "ds-1" {
			return flowers, nil
		}
		return nil, core.CodeDatasetNotFound.Errorf("No dataset %s.", id)
	}
	m.ListDatasetsFn = func(_ context.Context, name string) ([]*core.Dataset, error) {
		if name == "" || name == "flowers" {
			return []*core.Dataset{flowers}, nil
		}
		return nil, nil
	}

	// create -w: the spec as flags say, then the import polled to its end.
	var spec core.DatasetSpec
	m.CreateDatasetFn = func(_ context.Context, s core.DatasetSpec) (*core.Dataset, *core.ImportTask, error) {
		spec = s
		return flowers, &core.ImportTask{ID: "imp-1", DatasetID: "ds-1", State: core.TaskQueued, Path: "/b/in/"}, nil
	}
	var mu sync.Mutex
	polls := 0
	m.GetImportTaskFn = func(_ context.Context, id, task string) (*core.ImportTask, error) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		t := &core.ImportTask{ID: task, DatasetID: id, State: core.TaskRunning, Imported: int64(polls)}
		if polls >= 3 {
			t.State, t.Rejected = core.TaskCompleted, 7
			for i := range 7 {
				t.Errors = append(t.Errors, "bad"+string(rune('0'+i))+".txt: not an image")
			}
		}
		return t, nil
	}
	out, _ := cli.run(exitOK, "", "dataset", "create", "flowers", "--dataset-type", "0", "--source", "obs://bkt/in/", "--work-path", "obs://bkt/w/",
		"--label", "cat", "--label", "dog:0", "--format", "ModelArts image classification 1.0", "--scene", "image_classification", "-w")
	if spec.Name != "flowers" || spec.DatasetType == nil || *spec.DatasetType != 0 || spec.DataType != "" || spec.DataPath != "obs://bkt/in/" ||
		spec.WorkPath != "obs://bkt/w/" || len(spec.Labels) != 2 || spec.AnnotationConfig == nil ||
		spec.AnnotationConfig.FormatName != "ModelArts image classification 1.0" || spec.AnnotationConfig.Scene != "image_classification" {
		t.Errorf("create sent %+v", spec)
	}
	if !strings.Contains(out, "COMPLETED: 3 imported, 7 rejected") || !strings.Contains(out, "bad0.txt") ||
		!strings.Contains(out, "bad4.txt") || strings.Contains(out, "bad5.txt") || !strings.Contains(out, "2 more") {
		t.Errorf("create -w printed %q", out)
	}

	// A failed import exits 1 with its first error.
	m.ImportDataFn = func(_ context.Context, id string, req core.ImportRequest) (*core.ImportTask, error) {
		if req.WithColumnHeader == nil || !*req.WithColumnHeader || req.Path != "obs://bkt/more.manifest" {
			t.Errorf("import sent %+v", req)
		}
		return &core.ImportTask{ID: "imp-2", DatasetID: id, State: core.TaskQueued}, nil
	}
	m.GetImportTaskFn = func(_ context.Context, id, task string) (*core.ImportTask, error) {
		return &core.ImportTask{ID: task, State: core.TaskFailed, Errors: []string{"more.manifest line 2: not JSON"}}, nil
	}
	_, errOut := cli.run(exitRefused, "", "dataset", "import", "flowers", "obs://bkt/more.manifest", "--header", "-w")
	if !strings.Contains(errOut, "FAILED") || !strings.Contains(errOut, "line 2") {
		t.Errorf("failed import stderr %q", errOut)
	}

	// ls and show.
	if out, _ := cli.run(exitOK, "", "dataset", "ls"); !strings.Contains(out, "flowers") || !strings.Contains(out, "ds-1") {
		t.Errorf("ls = %q", out)
	}
	m.StatsFn = func(context.Context, string) (*core.DatasetStats, error) {
		return &core.DatasetStats{Total: 3, Annotated: 2, ByLabel: map[string]int64{"cat": 2, "old": 1}, ByUsage: map[string]int64{"TRAIN": 2}}, nil
	}
	out, _ = cli.run(exitOK, "", "dataset", "show", "flowers")
	for _, want := range []string{"ds-1", "/b/in/", "cat", "dog", "old", "TRAIN"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q: %q", want, out)
		}
	}
	cli.refused(core.CodeDatasetNotFound.ID, "dataset", "show", "nope")

	// samples: the filter, and --all following cursors.
	var filters []core.SampleFilter
	m.ListSamplesFn = func(_ context.Context, id string, f core.SampleFilter) (*core.SamplePage, error) {
		filters = append(filters, f)
		if f.After == "" {
			return &core.SamplePage{Samples: []*core.Sample{{ID: "s1", Source: "obs://bkt/in/cat/1.jpg", Labels: []string{"cat"}, Usage: "TRAIN"}}, NextCursor: "s1"}, nil
		}
		return &core.SamplePage{Samples: []*core.Sample{{ID: "s2", Source: "obs://bkt/in/dog/2.jpg"}}}, nil
	}
	out, errOut = cli.run(exitOK, "", "dataset", "samples", "flowers", "--labelled", "--label", "cat", "--usage", "train", "--limit", "5")
	if len(filters) != 1 || filters[0].Labelled == nil || !*filters[0].Labelled || filters[0].Label != "cat" || filters[0].Usage != "TRAIN" || filters[0].Limit != 5 {
		t.Errorf("samples filter %+v", filters)
	}
	if !strings.Contains(out, "s1") || strings.Contains(out, "s2") || !strings.Contains(errOut, "--cursor s1") {
		t.Errorf("samples one page: %q / %q", out, errOut)
	}
	filters = nil
	var page core.SamplePage
	cli.json(&page, "dataset", "samples", "ds-1", "--unlabelled", "--all", "-o", "json")
	if len(page.Samples) != 2 || len(filters) != 2 || filters[1].After != "s1" || *filters[0].Labelled {
		t.Errorf("samples --all = %+v via %+v", page, filters)
	}

	// label: classification annotations of the dataset's type.
	var anns []core.Annotation
	var usage string
	m.SetAnnotationsFn = func(_ context.Context, id, sid string, a []core.Annotation, u string) (*core.Sample, error) {
		anns, usage = a, u
		return &core.Sample{ID: sid, Annotations: a, Usage: u}, nil
	}
	out, _ = cli.run(exitOK, "", "dataset", "label", "flowers", "s2", "--label", "dog", "--label", "cat", "--usage", "eval")
	if len(anns) != 2 || anns[0].Type != "modelarts/image_classification" || anns[0].Name != "dog" || usage != "EVAL" {
		t.Errorf("label sent %+v %q", anns, usage)
	}
	if !strings.Contains(out, "dog,cat") {
		t.Errorf("label printed %q", out)
	}

	// versions and export by version name.
	v1 := &core.DatasetVersion{ID: "ver-1", DatasetID: "ds-1", Name: "V001", State: "NORMAL", SampleCount: 3, ManifestPath: "/b/w/dataset-ds-1/annotation/V001/V001.manifest"}
	var vspec core.VersionSpec
	m.CreateVersionFn = func(_ context.Context, id string, s core.VersionSpec) (*core.DatasetVersion, error) {
		vspec = s
		creating := *v1
		creating.State = versionCreating
		return &creating, nil
	}
	m.GetVersionFn = func(_ context.Context, id, ver string) (*core.DatasetVersion, error) {
		if id != "ds-1" || ver != "ver-1" {
			t.Errorf("version -w polls %s/%s", id, ver)
		}
		return v1, nil
	}
	m.ListVersionsFn = func(context.Context, string) ([]*core.DatasetVersion, error) { return []*core.DatasetVersion{v1}, nil }
	out, _ = cli.run(exitOK, "", "dataset", "version", "flowers", "create", "--desc", "first", "--ratio", "0.8")
	if vspec.Description != "first" || vspec.TrainEvalRatio != 0.8 || !strings.Contains(out, "V001") || !strings.Contains(out, "CREATING") {
		t.Errorf("version create sent %+v, printed %q", vspec, out)
	}
	if out, _ = cli.run(exitOK, "", "dataset", "version", "flowers", "create", "-w"); !strings.Contains(out, "NORMAL") {
		t.Errorf("version create -w printed %q", out)
	}
	if out, _ := cli.run(exitOK, "", "dataset", "version", "flowers", "ls"); !strings.Contains(out, "ver-1") || !strings.Contains(out, "V001.manifest") {
		t.Errorf("version ls = %q", out)
	}
	var export string
	m.ExportVersionFn = func(_ context.Context, id, ver, path string) (*core.ExportTask, error) {
		export = id + " " + ver + " " + path
		return &core.ExportTask{ID: "ex-1", DatasetID: id, VersionID: ver, Path: path, State: core.TaskRunning}, nil
	}
	m.ListExportTasksFn = func(context.Context, string) ([]*core.ExportTask, error) {
		return []*core.ExportTask{{ID: "ex-1", State: core.TaskCompleted, Exported: 3, Path: "/b/out/"}}, nil
	}
	out, _ = cli.run(exitOK, "", "dataset", "export", "flowers", "--version", "v001", "--to", "obs://bkt/out/", "-w")
	if export != "ds-1 ver-1 obs://bkt/out/" || !strings.Contains(out, "COMPLETED") {
		t.Errorf("export sent %q, printed %q", export, out)
	}
	cli.refused(core.CodeDatasetNotFound.ID, "dataset", "export", "flowers", "--version", "V009", "--to", "obs://bkt/out/")

	// rm.
	var deleted string
	m.DeleteDatasetFn = func(_ context.Context, id string, src bool) error {
		deleted = id
		if !src {
			t.Errorf("--delete-source was not sent")
		}
		return nil
	}
	cli.run(exitOK, "", "dataset", "rm", "flowers", "--delete-source")
	if deleted != "ds-1" {
		t.Errorf("rm deleted %q", deleted)
	}
}

// TestDatasetLabelRefusesOtherTypes: label only sets classification
// annotations.
func TestDatasetLabelRefusesOtherTypes(t *testing.T) {
	m := mockDatasetAPI(t)
	m.GetDatasetFn = func(_ context.Context, id string) (*core.Dataset, error) {
		return &core.Dataset{ID: id, Name: "boxes", DatasetType: core.DatasetObjectDetection}, nil
	}
	cli := e2eCLI{t: t}
	_, errOut := cli.run(exitRefused, "", "dataset", "label", "ds-1", "s1", "--label", "cat")
	if !strings.Contains(errOut, "not a classification dataset") {
		t.Errorf("stderr %q", errOut)
	}
}

// writePNG writes a tiny valid PNG of one colour.
func writePNG(t *testing.T, path string, shade uint8) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	for i := range img.Pix {
		img.Pix[i] = shade
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDatasetCLIE2E drives the dataset commands against a real server:
// images uploaded into label directories, an image classification dataset
// imported from them, samples filtered and labelled, a version published
// and exported, the dataset removed.
func TestDatasetCLIE2E(t *testing.T) {
	mustIsolate(t)
	old := datasetPollInterval
	datasetPollInterval = 10 * time.Millisecond
	t.Cleanup(func() { datasetPollInterval = old })
	ts := MustStartServer(t, t.TempDir())
	cli := e2eCLI{t: t}
	cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", ts.URL, "--email", testAdminEmail, "--password-stdin")
	cli.run(exitOK, "", "obs", "mb", "obs://data")

	local := filepath.Join(t.TempDir(), "flowers")
	writePNG(t, filepath.Join(local, "cat", "a.png"), 10)
	writePNG(t, filepath.Join(local, "cat", "b.png"), 20)
	writePNG(t, filepath.Join(local, "dog", "c.png"), 30)
	writePNG(t, filepath.Join(local, "d.png"), 40) // no label directory: unlabelled
	cli.run(exitOK, "", "obs", "cp", "-r", local, "obs://data/")

	var task core.ImportTask
	cli.json(&task, "dataset", "create", "flowers", "--dataset-type", "0", "--source", "obs://data/flowers/", "--work-path", "obs://data/work/",
		"--label", "cat", "--label", "dog", "--format", "ModelArts image classification 1.0", "-w", "-o", "json")
	if task.State != core.TaskCompleted || task.Imported != 4 || task.Rejected != 0 {
		t.Fatalf("import = %+v", task)
	}
	if out, _ := cli.run(exitOK, "", "dataset", "ls"); !strings.Contains(out, "flowers") {
		t.Errorf("ls = %q", out)
	}
	var show struct {
		Dataset core.Dataset
		Stats   core.DatasetStats
	}
	cli.json(&show, "dataset", "show", "flowers", "-o", "json")
	id := show.Dataset.ID
	if id == "" || show.Stats.Total != 4 || show.Stats.Annotated != 3 || show.Stats.ByLabel["cat"] != 2 || show.Stats.ByLabel["dog"] != 1 {
		t.Fatalf("show = %+v", show)
	}
	if out, _ := cli.run(exitOK, "", "dataset", "show", id); !strings.Contains(out, "cat") || !strings.Contains(out, "/data/work/") {
		t.Errorf("show table = %q", out)
	}

	var page core.SamplePage
	cli.json(&page, "dataset", "samples", "flowers", "--label", "cat", "-o", "json")
	if len(page.Samples) != 2 {
		t.Fatalf("samples --label cat = %+v", page)
	}
	for _, s := range page.Samples {
		if !strings.Contains(s.Source, "/cat/") {
			t.Errorf("a cat sample from %s", s.Source)
		}
	}
	cli.json(&page, "dataset", "samples", "flowers", "--unlabelled", "-o", "json")
	if len(page.Samples) != 1 || !strings.HasSuffix(page.Samples[0].Source, "/d.png") {
		t.Fatalf("samples --unlabelled = %+v", page)
	}
	cli.run(exitOK, "", "dataset", "label", "flowers", page.Samples[0].ID, "--label", "dog", "--usage", "train")
	cli.json(&page, "dataset", "samples", id, "--label", "dog", "--all", "--limit", "1", "-o", "json")
	if len(page.Samples) != 2 {
		t.Errorf("samples --label dog after labelling = %+v", page)
	}
	cli.refused(core.CodeDatasetLabel.ID, "dataset", "label", "flowers", page.Samples[0].ID, "--label", "horse")

	var v core.DatasetVersion
	cli.json(&v, "dataset", "version", "flowers", "create", "--desc", "first", "-w", "-o", "json")
	if v.Name != "V001" || v.State != "NORMAL" || v.SampleCount != 4 {
		t.Fatalf("version = %+v", v)
	}
	manifest := "obs://data/work/dataset-" + id + "/annotation/V001/V001.manifest"
	cli.run(exitOK, "", "obs", "stat", manifest)
	dl := filepath.Join(t.TempDir(), "v.manifest")
	cli.run(exitOK, "", "obs", "cp", manifest, dl)
	data, err := os.ReadFile(dl)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 4 || !strings.Contains(string(data), "s3://data/flowers/cat/a.png") {
		t.Errorf("manifest = %s", data)
	}
	if out, _ := cli.run(exitOK, "", "dataset", "version", "flowers", "ls"); !strings.Contains(out, "V001") {
		t.Errorf("version ls = %q", out)
	}

	var ex core.ExportTask
	cli.json(&ex, "dataset", "export", "flowers", "--version", "V001", "--to", "obs://data/out/", "-w", "-o", "json")
	if ex.State != core.TaskCompleted {
		t.Errorf("export = %+v", ex)
	}
	if out, _ := cli.run(exitOK, "", "obs", "ls", "obs://data/out/", "-r"); !strings.Contains(out, ".manifest") {
		t.Errorf("export wrote %q", out)
	}

	cli.run(exitOK, "", "dataset", "rm", "flowers")
	cli.refused(core.CodeDatasetNotFound.ID, "dataset", "show", "flowers")
}
