package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// harness is a dataset Service over the real SQLite store and the real
// object store on a file backend, with a context of tenant A (buckets
// "data" and "work") and one of tenant B (bucket "other-b").
type harness struct {
	t       testing.TB
	st      store.Store
	objects atelier.ObjectService
	svc     *dataset.Service
	opts    dataset.Options
	ctx     context.Context
	ctxB    context.Context
	ended   chan string
}

func newHarness(t testing.TB, batch int, afterBatch func(*atelier.ImportTask) error) *harness {
	t.Helper()
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
		t: t, st: st,
		objects: obs.New(st, be, obs.Options{Logger: discard}),
		ctx:     atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u1", TenantID: "tenant-a"}),
		ctxB:    atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u2", TenantID: "tenant-b"}),
		ended:   make(chan string, 1),
	}
	h.opts = dataset.Options{Clock: clock.NewFake(t0), Logger: discard, BatchSize: batch}
	dataset.SetTestHooks(&h.opts, afterBatch, func(string) {
		select {
		case h.ended <- "":
		default:
		}
	})
	for _, b := range []string{"data", "work"} {
		if _, err := h.objects.CreateBucket(h.ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.objects.CreateBucket(h.ctxB, "other-b"); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

func (h *harness) start() {
	svc := dataset.New(h.st, h.objects, h.opts)
	svc.Start(h.t.Context())
	h.t.Cleanup(svc.Stop)
	h.svc = svc
}

func (h *harness) mustPut(key, data string) {
	h.t.Helper()
	if _, err := h.objects.PutObject(h.ctx, "data", key, strings.NewReader(data), atelier.PutOptions{Size: int64(len(data))}); err != nil {
		h.t.Fatalf("put %s: %v", key, err)
	}
}

func (h *harness) mustGet(bucket, key string) string {
	h.t.Helper()
	_, rc, _, err := h.objects.GetObject(h.ctx, bucket, key, nil)
	if err != nil {
		h.t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// eventually polls get until done says so, waking on task ends, and fails
// the test after a deadline.
func eventually[T any](h *harness, what string, get func() (T, error), done func(T) bool) T {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := get()
		if err != nil {
			h.t.Fatalf("%s: %v", what, err)
		}
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not done by the deadline: %+v", what, v)
		}
		select {
		case <-h.ended:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *harness) waitImport(dsID, taskID string) *atelier.ImportTask {
	h.t.Helper()
	return eventually(h, "import "+taskID, func() (*atelier.ImportTask, error) {
		return h.svc.GetImportTask(h.ctx, dsID, taskID)
	}, func(t *atelier.ImportTask) bool {
		return t.State == atelier.TaskCompleted || t.State == atelier.TaskFailed
	})
}

func (h *harness) mustCreate(spec atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask) {
	h.t.Helper()
	d, task, err := h.svc.CreateDataset(h.ctx, spec)
	if err != nil {
		h.t.Fatalf("CreateDataset(%s): %v", spec.Name, err)
	}
	return d, h.waitImport(d.ID, task.ID)
}

// allSamples lists every sample of a dataset, page by page.
func (h *harness) allSamples(dsID string, f atelier.SampleFilter) []*atelier.Sample {
	h.t.Helper()
	var out []*atelier.Sample
	for {
		p, err := h.svc.ListSamples(h.ctx, dsID, f)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, p.Samples...)
		if p.NextCursor == "" {
			return out
		}
		f.After = p.NextCursor
	}
}

func sources(ss []*atelier.Sample) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Source
	}
	slices.Sort(out)
	return out
}

func intp(n int) *int { return &n }

func wantCode(t *testing.T, err error, code atelier.Code, field string) {
	t.Helper()
	if atelier.ErrorCode(err) != code.ID {
		t.Fatalf("err = %v, want %s", err, code.ID)
	}
	var ae *atelier.Error
	if field != "" && (!errors.As(err, &ae) || ae.Field != field) {
		t.Fatalf("err field = %q, want %q (%v)", ae.Field, field, err)
	}
}

func wantTask(t *testing.T, task *atelier.ImportTask, state string, imported, rejected int64) {
	t.Helper()
	if task.State != state || task.Imported != imported || task.Rejected != rejected {
		t.Fatalf("task = %s imported %d rejected %d (%q), want %s %d %d", task.State, task.Imported, task.Rejected, task.Errors, state, imported, rejected)
	}
}

const png = "\x89PNG tiny"

var tripletLabels = []atelier.Label{
	{Name: "疾病", Type: atelier.LabelEntity},
	{Name: "疾病别称", Type: atelier.LabelEntity},
	{Name: "又称为", Type: atelier.LabelRelation, Property: map[string]string{dataset.PropFromType: "疾病", dataset.PropToType: "疾病别称"}},
}

var tableSchema = []atelier.SchemaColumn{
	{ID: 0, Name: "name", Type: "STRING"}, {ID: 1, Name: "age", Type: "STRING"}, {ID: 2, Name: "label", Type: "STRING"},
}

func TestCreateDataset(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("image/cls/1.jpg", png)
	h.mustPut("image/cls/2.png", png)
	h.mustPut("text/t/a.txt", "高血压又称为原发性高血压\n\n糖尿病\n")
	h.mustPut("table/t0/a.csv", "name,age,label\nann,3,x\nbob,4,y\n")
	tests := []struct {
		spec     atelier.DatasetSpec
		dataType string
		dsType   int
		format   string
		imported int64
	}{
		{atelier.DatasetSpec{Name: "dataset-image", DataType: "IMAGE", DataPath: "/data/image/cls/", WorkPath: "/work/out/"},
			atelier.DataImage, -1, dataset.FormatDirectory, 2},
		{atelier.DatasetSpec{Name: "dataset-image-cls", DatasetType: intp(0), DataPath: "obs://data/image/cls/", WorkPath: "s3://work/out/"},
			atelier.DataImage, 0, dataset.FormatDirectory, 2},
		{atelier.DatasetSpec{Name: "dataset-image-ann", DataType: "IMAGE", DataPath: "/data/image/cls/", WorkPath: "/work/out/",
			AnnotationConfig: &atelier.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"}},
			atelier.DataImage, -1, dataset.FormatImageClassification, 2},
		{atelier.DatasetSpec{Name: "dataset-text-triplet", DatasetType: intp(102), DataPath: "/data/text/t/", WorkPath: "/work/out/", Labels: tripletLabels},
			atelier.DataText, 102, dataset.FormatText, 2},
		{atelier.DatasetSpec{Name: "dataset-table", DatasetType: intp(400), DataType: "TABLE", DataPath: "/data/table/t0/", WorkPath: "/work/out/",
			WithColumnHeader: true, Schema: tableSchema},
			atelier.DataTable, 400, dataset.FormatCSV, 2},
	}
	for _, tt := range tests {
		t.Run(tt.spec.Name, func(t *testing.T) {
			d, task := h.mustCreate(tt.spec)
			if d.DataType != tt.dataType || d.DatasetType != tt.dsType {
				t.Errorf("types = %s %d, want %s %d", d.DataType, d.DatasetType, tt.dataType, tt.dsType)
			}
			if !strings.HasPrefix(d.DataPath, "/data/") || !strings.HasSuffix(d.DataPath, "/") || d.WorkPath != "/work/out/" {
				t.Errorf("paths = %q %q", d.DataPath, d.WorkPath)
			}
			if task.Format != tt.format {
				t.Errorf("format = %q, want %q", task.Format, tt.format)
			}
			wantTask(t, task, atelier.TaskCompleted, tt.imported, 0)
			got, err := h.svc.GetDataset(h.ctx, d.ID)
			if err != nil || got.SampleCount != tt.imported || len(got.Labels) != len(tt.spec.Labels) {
				t.Errorf("GetDataset = %+v, %v", got, err)
			}
		})
	}
	t.Run("table rows", func(t *testing.T) {
		ds, err := h.svc.ListDatasets(h.ctx, "dataset-table")
		if err != nil || len(ds) != 1 {
			t.Fatalf("ListDatasets = %v, %v", ds, err)
		}
		ss := h.allSamples(ds[0].ID, atelier.SampleFilter{})
		if got := sources(ss); !slices.Equal(got, []string{"obs://data/table/t0/a.csv#L2", "obs://data/table/t0/a.csv#L3"}) {
			t.Fatalf("sources = %q", got)
		}
		row := ss[0].Annotations[0].Property[dataset.PropRow].(map[string]any)
		if row["name"] != "ann" || row["age"] != "3" || row["label"] != "x" {
			t.Errorf("row = %v", row)
		}
	})
	t.Run("other tenant", func(t *testing.T) {
		ds, err := h.svc.ListDatasets(h.ctxB, "")
		if err != nil || len(ds) != 0 {
			t.Fatalf("tenant B sees %d datasets, %v", len(ds), err)
		}
	})
}

func TestCreateDatasetBadInput(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("image/1.jpg", png)
	h.mustPut("empty/", "")
	if _, err := h.objects.PutObject(h.ctxB, "other-b", "image/1.jpg", strings.NewReader(png), atelier.PutOptions{Size: int64(len(png))}); err != nil {
		t.Fatal(err)
	}
	ok := atelier.DatasetSpec{Name: "ok", DataType: "IMAGE", DataPath: "/data/image/", WorkPath: "/work/out/"}
	mod := func(f func(s *atelier.DatasetSpec)) atelier.DatasetSpec {
		s := ok
		f(&s)
		return s
	}
	text := func(s *atelier.DatasetSpec) { s.DataType, s.DatasetType, s.DataPath = "", intp(102), "/data/image/" }
	tests := []struct {
		name  string
		spec  atelier.DatasetSpec
		code  atelier.Code
		field string
	}{
		{"bad name", mod(func(s *atelier.DatasetSpec) { s.Name = "bad name!" }), atelier.CodeInvalidParam, "dataset_name"},
		{"long name", mod(func(s *atelier.DatasetSpec) { s.Name = strings.Repeat("a", 65) }), atelier.CodeInvalidParam, "dataset_name"},
		{"no type", mod(func(s *atelier.DatasetSpec) { s.DataType = "" }), atelier.CodeDatasetType, "data_type"},
		{"unknown data type", mod(func(s *atelier.DatasetSpec) { s.DataType = "PICTURE" }), atelier.CodeDatasetType, "data_type"},
		{"unknown dataset type", mod(func(s *atelier.DatasetSpec) { s.DataType, s.DatasetType = "", intp(7) }), atelier.CodeDatasetType, "dataset_type"},
		{"type mismatch", mod(func(s *atelier.DatasetSpec) { s.DatasetType = intp(102) }), atelier.CodeDatasetType, "dataset_type"},
		{"entity label in image dataset", mod(func(s *atelier.DatasetSpec) {
			s.DatasetType = intp(0)
			s.Labels = []atelier.Label{{Name: "cat", Type: atelier.LabelEntity}}
		}), atelier.CodeDatasetLabel, "labels[0].type"},
		{"plain label in triplet dataset", mod(func(s *atelier.DatasetSpec) {
			text(s)
			s.Labels = []atelier.Label{{Name: "x", Type: atelier.LabelPlain}}
		}), atelier.CodeDatasetLabel, "labels[0].type"},
		{"relation without to_type", mod(func(s *atelier.DatasetSpec) {
			text(s)
			s.Labels = []atelier.Label{tripletLabels[0], {Name: "r", Type: atelier.LabelRelation, Property: map[string]string{dataset.PropFromType: "疾病"}}}
		}), atelier.CodeDatasetLabel, "labels[1].property"},
		{"relation naming no entity", mod(func(s *atelier.DatasetSpec) {
			text(s)
			s.Labels = []atelier.Label{tripletLabels[0], {Name: "r", Type: atelier.LabelRelation, Property: map[string]string{dataset.PropFromType: "疾病", dataset.PropToType: "nope"}}}
		}), atelier.CodeDatasetLabel, "labels[1].property"},
		{"duplicate labels", mod(func(s *atelier.DatasetSpec) {
			s.Labels = []atelier.Label{{Name: "cat"}, {Name: "cat"}}
		}), atelier.CodeDatasetLabel, "labels[1].name"},
		{"table without schema", mod(func(s *atelier.DatasetSpec) { s.DataType = "TABLE" }), atelier.CodeDatasetSchema, "schema"},
		{"schema bad type", mod(func(s *atelier.DatasetSpec) {
			s.DataType, s.Schema = "TABLE", []atelier.SchemaColumn{{Name: "a", Type: "BLOB"}}
		}), atelier.CodeDatasetSchema, "schema"},
		{"schema duplicate name", mod(func(s *atelier.DatasetSpec) {
			s.DataType, s.Schema = "TABLE", []atelier.SchemaColumn{{ID: 0, Name: "a", Type: "STRING"}, {ID: 1, Name: "a", Type: "INT"}}
		}), atelier.CodeDatasetSchema, "schema"},
		{"schema on image", mod(func(s *atelier.DatasetSpec) { s.Schema = tableSchema }), atelier.CodeDatasetSchema, "schema"},
		{"missing source", mod(func(s *atelier.DatasetSpec) { s.DataPath = "/data/nothing/" }), atelier.CodeDatasetSource, "data_path"},
		{"empty source", mod(func(s *atelier.DatasetSpec) { s.DataPath = "/data/none/" }), atelier.CodeDatasetSource, "data_path"},
		{"no bucket", mod(func(s *atelier.DatasetSpec) { s.DataPath = "/nobucket/image/" }), atelier.CodeDatasetSource, "data_path"},
		{"another tenant's bucket", mod(func(s *atelier.DatasetSpec) { s.DataPath = "/other-b/image/" }), atelier.CodeDatasetSource, "data_path"},
		{"work path of another tenant", mod(func(s *atelier.DatasetSpec) { s.WorkPath = "obs://other-b/out/" }), atelier.CodeDatasetSource, "work_path"},
		{"relative path", mod(func(s *atelier.DatasetSpec) { s.DataPath = "image/" }), atelier.CodeDatasetSource, "data_path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.svc.CreateDataset(h.ctx, tt.spec)
			wantCode(t, err, tt.code, tt.field)
		})
	}
	if ds, _ := h.svc.ListDatasets(h.ctx, ""); len(ds) != 0 {
		t.Fatalf("rejected specs left %d datasets", len(ds))
	}
	t.Run("duplicate name", func(t *testing.T) {
		h.mustCreate(ok)
		_, _, err := h.svc.CreateDataset(h.ctx, ok)
		wantCode(t, err, atelier.CodeDatasetExists, "dataset_name")
	})
	t.Run("no principal", func(t *testing.T) {
		_, _, err := h.svc.CreateDataset(t.Context(), ok)
		if atelier.ErrorKind(err) != atelier.Unauthenticated {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestObjectPathSpellings is what a new user tried: a scheme in capitals is
// the same path (CONTRACT §2), and a bucket the object store would refuse
// is a bad request whose message names the field and says what is wrong.
func TestObjectPathSpellings(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("img/1.jpg", png)
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "caps", DataType: "IMAGE", DataPath: "OBS://data/img/", WorkPath: "S3://work/out/"})
	wantTask(t, task, atelier.TaskCompleted, 1, 0)
	if d.DataPath != "/data/img/" || d.WorkPath != "/work/out/" {
		t.Errorf("paths = %q, %q", d.DataPath, d.WorkPath)
	}
	for _, tt := range []struct {
		field string
		call  func(path string) error
	}{
		{"data_path", func(p string) error {
			_, _, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "bad", DataType: "IMAGE", DataPath: p, WorkPath: "/work/out/"})
			return err
		}},
		{"work_path", func(p string) error {
			_, _, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "bad", DataType: "IMAGE", DataPath: "/data/img/", WorkPath: p})
			return err
		}},
		{"import_path", func(p string) error {
			_, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: p})
			return err
		}},
	} {
		for _, p := range []string{"obs://Bad_Bucket/x/", "/Bad_Bucket/x/"} {
			err := tt.call(p)
			wantCode(t, err, atelier.CodeDatasetSource, tt.field)
			if msg := atelier.ErrorMessage(err); !strings.Contains(msg, tt.field) || !strings.Contains(msg, "The bucket name may hold only") {
				t.Errorf("%s %q: message %q does not name the field and say what is wrong", tt.field, p, msg)
			}
		}
	}
}

func TestImportDirectory(t *testing.T) {
	h := newHarness(t, 2, nil)
	for i := range 5 {
		h.mustPut(fmt.Sprintf("img/%d.jpg", i), png)
	}
	h.mustPut("img/sub/5.PNG", png)
	h.mustPut("img/notes.txt", "hello")
	h.mustPut("img/readme.md", "hello")
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "dir", DataType: "IMAGE", DataPath: "/data/img/", WorkPath: "/work/out/"})
	wantTask(t, task, atelier.TaskCompleted, 6, 2)
	if len(task.Errors) != 2 || !strings.HasPrefix(task.Errors[0], "notes.txt: ") || !strings.HasPrefix(task.Errors[1], "readme.md: ") {
		t.Errorf("errors = %q", task.Errors)
	}
	ss := h.allSamples(d.ID, atelier.SampleFilter{Limit: 4})
	if len(ss) != 6 || !slices.Contains(sources(ss), "obs://data/img/sub/5.PNG") {
		t.Fatalf("sources = %q", sources(ss))
	}

	t.Run("reimport adds nothing twice", func(t *testing.T) {
		h.mustPut("img/6.jpg", png)
		task, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/img/"})
		if err != nil {
			t.Fatal(err)
		}
		h.waitImport(d.ID, task.ID)
		if got := h.allSamples(d.ID, atelier.SampleFilter{}); len(got) != 7 {
			t.Fatalf("%d samples after re-import, want 7", len(got))
		}
		ts, err := h.svc.ListImportTasks(h.ctx, d.ID)
		if err != nil || len(ts) != 2 || !slices.ContainsFunc(ts, func(x *atelier.ImportTask) bool { return x.ID == task.ID }) {
			t.Fatalf("ListImportTasks = %v, %v", ts, err)
		}
	})
	t.Run("missing import path", func(t *testing.T) {
		_, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/gone/"})
		wantCode(t, err, atelier.CodeDatasetSource, "import_path")
	})
	t.Run("source gone when the task runs", func(t *testing.T) {
		h.mustPut("tmp/1.jpg", png)
		h.svc.Stop() // the task is recorded QUEUED, then resumed by the next Start
		task, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/tmp/"})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.objects.DeleteObject(h.ctx, "data", "tmp/1.jpg"); err != nil {
			t.Fatal(err)
		}
		h.start()
		task = h.waitImport(d.ID, task.ID)
		if task.State != atelier.TaskFailed || len(task.Errors) != 1 || !strings.Contains(task.Errors[0], "missing or empty") {
			t.Fatalf("task = %+v", task)
		}
	})
}

func TestImportLabelDirectories(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("cls/cat/1.jpg", png)
	h.mustPut("cls/cat/2.jpg", png)
	h.mustPut("cls/dog/3.jpg", png)
	h.mustPut("cls/4.jpg", png)
	h.mustPut("cls/4.txt", "bird\n")
	h.mustPut("cls/5.jpg", png)
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "cls", DatasetType: intp(0), DataPath: "/data/cls/", WorkPath: "/work/out/",
		Labels:           []atelier.Label{{Name: "cat", Color: "#ff0000"}},
		AnnotationConfig: &atelier.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"}})
	wantTask(t, task, atelier.TaskCompleted, 5, 0)
	d, err := h.svc.GetDataset(h.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range d.Labels {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"bird", "cat", "dog"}) {
		t.Fatalf("labels = %q, want bird, cat, dog added", names)
	}
	st, err := h.svc.Stats(h.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 5 || st.Annotated != 4 || st.ByLabel["cat"] != 2 || st.ByLabel["dog"] != 1 || st.ByLabel["bird"] != 1 {
		t.Fatalf("stats = %+v", st)
	}
	cats := h.allSamples(d.ID, atelier.SampleFilter{Label: "cat"})
	if got := sources(cats); !slices.Equal(got, []string{"obs://data/cls/cat/1.jpg", "obs://data/cls/cat/2.jpg"}) {
		t.Fatalf("cat samples = %q", got)
	}
	if a := cats[0].Annotations; len(a) != 1 || a[0].Type != "modelarts/image_classification" || a[0].Name != "cat" {
		t.Fatalf("annotations = %+v", a)
	}
}

const vocGood = `<annotation><filename>a.jpg</filename><size><width>100</width><height>80</height><depth>3</depth></size>
<object><name>car</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>40</ymax></bndbox></object>
<object><name>person</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>`

const vocOutside = `<annotation><size><width>100</width><height>80</height></size>
<object><name>car</name><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>150</xmax><ymax>40</ymax></bndbox></object></annotation>`

func TestImportVOC(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("det/a.jpg", png)
	h.mustPut("det/a.xml", vocGood)
	h.mustPut("det/b.jpg", png)
	h.mustPut("det/b.xml", "<annotation><size><width>1")
	h.mustPut("det/c.jpg", png)
	h.mustPut("det/c.xml", vocOutside)
	h.mustPut("det/d.jpg", png)
	d, _, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "det", DatasetType: intp(1), DataPath: "/data/empty-src/", WorkPath: "/work/out/"})
	if err == nil {
		t.Fatalf("created %v from an empty source", d)
	}
	h.mustPut("seed/x.jpg", png)
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "det", DatasetType: intp(1), DataPath: "/data/seed/", WorkPath: "/work/out/"})
	wantTask(t, task, atelier.TaskCompleted, 1, 0)
	task, err = h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "obs://data/det/",
		AnnotationConfig: &atelier.AnnotationConfig{Scene: "object_detection", FormatName: "ModelArts PASCAL VOC 1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	task = h.waitImport(d.ID, task.ID)
	wantTask(t, task, atelier.TaskCompleted, 2, 2)
	if task.Format != dataset.FormatVOC || len(task.Errors) != 2 ||
		!strings.HasPrefix(task.Errors[0], "b.xml: ") || !strings.HasPrefix(task.Errors[1], "c.xml: ") {
		t.Fatalf("task = %+v", task)
	}
	ss := h.allSamples(d.ID, atelier.SampleFilter{Label: "car"})
	if len(ss) != 1 || ss[0].Source != "obs://data/det/a.jpg" || len(ss[0].Annotations) != 2 {
		t.Fatalf("car samples = %+v", ss)
	}
	a := ss[0].Annotations[0]
	if a.Type != "modelarts/object_detection" || a.Name != "car" || a.Property["@modelarts:shape"] != "bndbox" {
		t.Fatalf("annotation = %+v", a)
	}
}

func TestImportManifest(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("img/1.jpg", png)
	d, _ := h.mustCreate(atelier.DatasetSpec{Name: "m", DatasetType: intp(0), DataPath: "/data/img/", WorkPath: "/work/out/"})
	manifest := strings.Join([]string{
		`{"source":"s3://data/img/1.jpg","usage":"TRAIN","annotation":[{"type":"modelarts/image_classification","name":"cat","annotated-by":"human"}]}`,
		`not json`,
		`{"source":"obs://other-b/x.jpg"}`,
		`{"source":"/data/img/2.jpg","annotation":[{"type":"modelarts/image_classification","name":"dog"}]}`,
		``,
		`{"source":"s3://data/img/3.jpg"}`,
	}, "\n")
	h.mustPut("m/in.manifest", manifest)
	task, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/m/in.manifest", AnnotationConfig: &atelier.AnnotationConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	task = h.waitImport(d.ID, task.ID)
	// 1.jpg was there already: taken, not duplicated.
	wantTask(t, task, atelier.TaskCompleted, 3, 2)
	if task.Format != dataset.FormatManifest || len(task.Errors) != 2 ||
		!strings.HasPrefix(task.Errors[0], "in.manifest:2: ") || !strings.HasPrefix(task.Errors[1], "in.manifest:3: ") {
		t.Fatalf("errors = %q", task.Errors)
	}
	ss := h.allSamples(d.ID, atelier.SampleFilter{})
	if got := sources(ss); !slices.Equal(got, []string{"obs://data/img/1.jpg", "obs://data/img/2.jpg", "obs://data/img/3.jpg"}) {
		t.Fatalf("sources = %q", got)
	}
	dogs := h.allSamples(d.ID, atelier.SampleFilter{Label: "dog"})
	if len(dogs) != 1 || dogs[0].Annotations[0].Name != "dog" {
		t.Fatalf("dog samples = %+v", dogs)
	}

	t.Run("without annotation_config", func(t *testing.T) {
		d2, _ := h.mustCreate(atelier.DatasetSpec{Name: "m2", DatasetType: intp(0), DataPath: "/data/m/", WorkPath: "/work/out/"})
		task, err := h.svc.ImportData(h.ctx, d2.ID, atelier.ImportRequest{Path: "obs://data/m/in.manifest"})
		if err != nil {
			t.Fatal(err)
		}
		h.waitImport(d2.ID, task.ID)
		if lab := h.allSamples(d2.ID, atelier.SampleFilter{Labelled: new(true)}); len(lab) != 0 {
			t.Fatalf("%d labelled samples without annotation_config", len(lab))
		}
	})
	t.Run("missing manifest", func(t *testing.T) {
		_, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/m/none.manifest"})
		wantCode(t, err, atelier.CodeDatasetSource, "import_path")
	})
}

func TestImportTable(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("t/h/a.csv", "name,age,label\nann,3,x\nbob,4\ncid,5,z\n")
	h.mustPut("t/n/a.csv", "ann,3,x\nbob,4,y,extra\ncid,5,z\n")
	h.mustPut("t/n/b.csv", "dan,6,w\n")
	spec := atelier.DatasetSpec{Name: "th", DatasetType: intp(400), DataPath: "/data/t/h/", WorkPath: "/work/out/", WithColumnHeader: true, Schema: tableSchema}
	_, task := h.mustCreate(spec)
	wantTask(t, task, atelier.TaskCompleted, 2, 1)
	if len(task.Errors) != 1 || !strings.HasPrefix(task.Errors[0], "a.csv:3: ") {
		t.Fatalf("errors = %q", task.Errors)
	}
	spec.Name, spec.DataPath, spec.WithColumnHeader = "tn", "/data/t/n/", false
	d, task := h.mustCreate(spec)
	wantTask(t, task, atelier.TaskCompleted, 3, 1)
	if len(task.Errors) != 1 || !strings.HasPrefix(task.Errors[0], "a.csv:2: ") {
		t.Fatalf("errors = %q", task.Errors)
	}
	if got := sources(h.allSamples(d.ID, atelier.SampleFilter{})); !slices.Equal(got, []string{"obs://data/t/n/a.csv#L1", "obs://data/t/n/a.csv#L3", "obs://data/t/n/b.csv#L1"}) {
		t.Fatalf("sources = %q", got)
	}
	t.Run("header mismatch", func(t *testing.T) {
		h.mustPut("t/bad/a.csv", "name,years,label\nann,3,x\n")
		task, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/t/bad/", WithColumnHeader: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		task = h.waitImport(d.ID, task.ID)
		wantTask(t, task, atelier.TaskCompleted, 0, 1)
	})
}

func TestImportResume(t *testing.T) {
	const n = 23
	batches := 0
	h := newHarness(t, 5, func(*atelier.ImportTask) error {
		batches++
		if batches == 2 {
			return errors.New("crash")
		}
		return nil
	})
	for i := range n {
		h.mustPut(fmt.Sprintf("img/%03d.jpg", i), png)
	}
	h.mustPut("img/x.txt", "wrong kind")
	d, task, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "resume", DataType: "IMAGE", DataPath: "/data/img/", WorkPath: "/work/out/"})
	if err != nil {
		t.Fatal(err)
	}
	task = eventually(h, "two batches", func() (*atelier.ImportTask, error) {
		return h.svc.GetImportTask(h.ctx, d.ID, task.ID)
	}, func(t *atelier.ImportTask) bool { return t.Imported == 10 })
	h.svc.Stop()
	if task.State != atelier.TaskRunning {
		t.Fatalf("crashed task is %s", task.State)
	}
	if got := len(h.allSamples(d.ID, atelier.SampleFilter{})); got != 10 {
		t.Fatalf("%d samples after the crash, want 10", got)
	}
	dataset.SetTestHooks(&h.opts, nil, func(string) {
		select {
		case h.ended <- "":
		default:
		}
	})
	h.start()
	task = h.waitImport(d.ID, task.ID)
	wantTask(t, task, atelier.TaskCompleted, n, 1)
	ss := h.allSamples(d.ID, atelier.SampleFilter{})
	src := sources(ss)
	if len(ss) != n || len(slices.Compact(src)) != n {
		t.Fatalf("%d samples (%d distinct), want %d", len(ss), len(slices.Compact(src)), n)
	}
	if got, _ := h.svc.GetDataset(h.ctx, d.ID); got.SampleCount != n {
		t.Fatalf("SampleCount = %d", got.SampleCount)
	}
}

func TestOneImportAtATime(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, 1, func(*atelier.ImportTask) error {
		<-release
		return nil
	})
	h.mustPut("img/1.jpg", png)
	h.mustPut("img/2.jpg", png)
	d, task, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "busy", DataType: "IMAGE", DataPath: "/data/img/", WorkPath: "/work/out/"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/img/"})
	wantCode(t, err, atelier.CodeDatasetVersionRun, "")
	_, err = h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{})
	wantCode(t, err, atelier.CodeDatasetVersionRun, "")
	close(release)
	h.waitImport(d.ID, task.ID)
	if _, err := h.svc.ImportData(h.ctx, d.ID, atelier.ImportRequest{Path: "/data/img/"}); err != nil {
		t.Fatalf("import after the first ended: %v", err)
	}
}

func TestVersionAndExport(t *testing.T) {
	h := newHarness(t, 2, nil)
	h.mustPut("cls/cat/1.jpg", png)
	h.mustPut("cls/cat/2.jpg", png)
	h.mustPut("cls/dog/3.jpg", png)
	h.mustPut("cls/4.jpg", png)
	h.mustPut("cls/5.jpg", png)
	d, _ := h.mustCreate(atelier.DatasetSpec{Name: "v", DatasetType: intp(0), DataPath: "/data/cls/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{FormatName: "ModelArts image classification 1.0"}})
	unl := h.allSamples(d.ID, atelier.SampleFilter{Labelled: new(false)})
	if len(unl) != 2 {
		t.Fatalf("%d unlabelled samples, want 2", len(unl))
	}
	if _, err := h.svc.SetAnnotations(h.ctx, d.ID, unl[0].ID, []atelier.Annotation{{Type: "modelarts/image_classification", Name: "dog"}}, atelier.UsageTest); err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{Description: "first", TrainEvalRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	v = eventually(h, "version", func() (*atelier.DatasetVersion, error) { return h.svc.GetVersion(h.ctx, d.ID, v.ID) },
		func(v *atelier.DatasetVersion) bool { return v.State != dataset.VersionCreating })
	key := "out/dataset-" + d.ID + "/annotation/V001/V001.manifest"
	if v.State != dataset.VersionNormal || v.Name != "V001" || v.SampleCount != 5 || v.ManifestPath != "/work/"+key {
		t.Fatalf("version = %+v", v)
	}
	man := h.mustGet("work", key)
	if lines := strings.Split(strings.TrimSpace(man), "\n"); len(lines) != 5 || !strings.Contains(man, `"source":"s3://data/cls/cat/1.jpg"`) || !strings.Contains(man, `"usage":"TEST"`) {
		t.Fatalf("manifest:\n%s", man)
	}
	for _, line := range strings.Split(strings.TrimSpace(man), "\n") {
		if !strings.Contains(line, `"usage":"`) {
			t.Fatalf("line without usage after a 0.5 split: %s", line)
		}
	}

	t.Run("reimport", func(t *testing.T) {
		h.mustPut("other/x.jpg", png)
		d2, _ := h.mustCreate(atelier.DatasetSpec{Name: "v2", DatasetType: intp(0), DataPath: "/data/other/", WorkPath: "/work/out2/"})
		task, err := h.svc.ImportData(h.ctx, d2.ID, atelier.ImportRequest{Path: v.ManifestPath, AnnotationConfig: &atelier.AnnotationConfig{}})
		if err != nil {
			t.Fatal(err)
		}
		task = h.waitImport(d2.ID, task.ID)
		wantTask(t, task, atelier.TaskCompleted, 5, 0)
		if _, err := h.svc.DeleteSamples(h.ctx, d2.ID, []string{h.allSamples(d2.ID, atelier.SampleFilter{})[0].ID}); err != nil {
			t.Fatal(err)
		}
		a, b := h.allSamples(d.ID, atelier.SampleFilter{}), h.allSamples(d2.ID, atelier.SampleFilter{})
		byA := map[string]*atelier.Sample{}
		for _, s := range a {
			byA[s.Source] = s
		}
		if len(b) != 5 {
			t.Fatalf("%d samples re-imported, want 5", len(b))
		}
		for _, s := range b {
			o := byA[s.Source]
			if o == nil || fmt.Sprint(o.Annotations) != fmt.Sprint(s.Annotations) || !slices.Equal(o.Labels, s.Labels) {
				t.Fatalf("re-imported %+v, original %+v", s, o)
			}
			if o.Usage != "" && o.Usage != s.Usage {
				t.Fatalf("usage %q, want %q", s.Usage, o.Usage)
			}
		}
	})
	t.Run("export", func(t *testing.T) {
		et, err := h.svc.ExportVersion(h.ctx, d.ID, v.ID, "/work/export/")
		if err != nil {
			t.Fatal(err)
		}
		ts := eventually(h, "export", func() ([]*atelier.ExportTask, error) { return h.svc.ListExportTasks(h.ctx, d.ID) },
			func(ts []*atelier.ExportTask) bool { return len(ts) == 1 && ts[0].State == atelier.TaskCompleted })
		if ts[0].ID != et.ID || ts[0].Exported != 5 {
			t.Fatalf("export task = %+v", ts[0])
		}
		if got := h.mustGet("work", "export/V001.manifest"); got != man {
			t.Fatalf("exported manifest differs")
		}
		_, err = h.svc.ExportVersion(h.ctx, d.ID, v.ID, "/other-b/x/")
		wantCode(t, err, atelier.CodeDatasetSource, "export_path")
		_, err = h.svc.ExportVersion(h.ctx, d.ID, "nope", "/work/export/")
		wantCode(t, err, atelier.CodeDatasetNotFound, "version_id")
	})
	t.Run("second version", func(t *testing.T) {
		v2, err := h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if v2.Name != "V002" || !strings.HasSuffix(v2.ManifestPath, "/annotation/V002/V002.manifest") {
			t.Fatalf("version = %+v", v2)
		}
		eventually(h, "version 2", func() (*atelier.DatasetVersion, error) { return h.svc.GetVersion(h.ctx, d.ID, v2.ID) },
			func(v *atelier.DatasetVersion) bool { return v.State == dataset.VersionNormal })
		vs, err := h.svc.ListVersions(h.ctx, d.ID)
		if err != nil || len(vs) != 2 || vs[0].Name != "V002" {
			t.Fatalf("ListVersions = %v, %v", vs, err)
		}
		_, err = h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{TrainEvalRatio: 1.5})
		wantCode(t, err, atelier.CodeInvalidParam, "train_evaluate_sample_ratio")
	})
}

func TestSamples(t *testing.T) {
	h := newHarness(t, 0, nil)
	for i := range 7 {
		h.mustPut(fmt.Sprintf("cls/cat/%d.jpg", i), png)
	}
	for i := range 3 {
		h.mustPut(fmt.Sprintf("cls/%d.jpg", i), png)
	}
	d, _ := h.mustCreate(atelier.DatasetSpec{Name: "s", DatasetType: intp(0), DataPath: "/data/cls/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{FormatName: "ModelArts image classification 1.0"}})

	t.Run("paging", func(t *testing.T) {
		var seen []string
		f := atelier.SampleFilter{Limit: 3}
		pages := 0
		for {
			p, err := h.svc.ListSamples(h.ctx, d.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range p.Samples {
				seen = append(seen, s.ID)
			}
			if p.NextCursor == "" {
				break
			}
			f.After = p.NextCursor
		}
		if len(seen) != 10 || pages != 4 || !slices.IsSorted(seen) {
			t.Fatalf("%d samples in %d pages: %q", len(seen), pages, seen)
		}
	})
	t.Run("filters", func(t *testing.T) {
		if n := len(h.allSamples(d.ID, atelier.SampleFilter{Labelled: new(true)})); n != 7 {
			t.Errorf("labelled = %d", n)
		}
		unl := h.allSamples(d.ID, atelier.SampleFilter{Labelled: new(false)})
		if len(unl) != 3 {
			t.Fatalf("unlabelled = %d", len(unl))
		}
		if _, err := h.svc.SetAnnotations(h.ctx, d.ID, unl[0].ID, nil, atelier.UsageEval); err != nil {
			t.Fatal(err)
		}
		ev := h.allSamples(d.ID, atelier.SampleFilter{Usage: atelier.UsageEval})
		if len(ev) != 1 || ev[0].ID != unl[0].ID {
			t.Errorf("EVAL samples = %v", ev)
		}
		if n := len(h.allSamples(d.ID, atelier.SampleFilter{Label: "cat"})); n != 7 {
			t.Errorf("cat = %d", n)
		}
		if n := len(h.allSamples(d.ID, atelier.SampleFilter{Label: "nope"})); n != 0 {
			t.Errorf("nope = %d", n)
		}
		_, err := h.svc.ListSamples(h.ctx, d.ID, atelier.SampleFilter{Usage: "PLAY"})
		wantCode(t, err, atelier.CodeInvalidParam, "usage")
		_, err = h.svc.ListSamples(h.ctx, d.ID, atelier.SampleFilter{Limit: 1001})
		wantCode(t, err, atelier.CodeInvalidParam, "limit")
	})
	t.Run("annotations", func(t *testing.T) {
		unl := h.allSamples(d.ID, atelier.SampleFilter{Labelled: new(false)})
		s, err := h.svc.SetAnnotations(h.ctx, d.ID, unl[0].ID, []atelier.Annotation{{Type: "modelarts/image_classification", Name: "cat"}}, "")
		if err != nil || len(s.Labels) != 1 || s.Labels[0] != "cat" {
			t.Fatalf("SetAnnotations = %+v, %v", s, err)
		}
		_, err = h.svc.SetAnnotations(h.ctx, d.ID, unl[0].ID, []atelier.Annotation{{Type: "modelarts/image_classification", Name: "zebra"}}, "")
		wantCode(t, err, atelier.CodeDatasetLabel, "annotations[0].name")
		_, err = h.svc.SetAnnotations(h.ctx, d.ID, "nope", nil, "")
		wantCode(t, err, atelier.CodeDatasetNotFound, "sample_id")
		got, err := h.svc.GetSample(h.ctx, d.ID, unl[0].ID)
		if err != nil || got.Annotations[0].Name != "cat" {
			t.Fatalf("GetSample = %+v, %v", got, err)
		}
	})
	t.Run("stats and delete", func(t *testing.T) {
		st, err := h.svc.Stats(h.ctx, d.ID)
		if err != nil || st.Total != 10 || st.Annotated != 8 || st.ByLabel["cat"] != 8 || st.ByUsage[atelier.UsageEval] != 1 {
			t.Fatalf("stats = %+v, %v", st, err)
		}
		all := h.allSamples(d.ID, atelier.SampleFilter{})
		n, err := h.svc.DeleteSamples(h.ctx, d.ID, []string{all[0].ID, all[1].ID, "nope"})
		if err != nil || n != 2 {
			t.Fatalf("DeleteSamples = %d, %v", n, err)
		}
		if st, _ := h.svc.Stats(h.ctx, d.ID); st.Total != 8 {
			t.Fatalf("total after delete = %d", st.Total)
		}
	})
	t.Run("other tenant", func(t *testing.T) {
		_, err := h.svc.ListSamples(h.ctxB, d.ID, atelier.SampleFilter{})
		wantCode(t, err, atelier.CodeDatasetNotFound, "dataset_id")
	})
}

func TestTripletAnnotations(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("text/a.txt", "高血压又称为原发性高血压\n")
	d, task := h.mustCreate(atelier.DatasetSpec{Name: "tri", DatasetType: intp(102), DataPath: "/data/text/", WorkPath: "/work/out/", Labels: tripletLabels})
	wantTask(t, task, atelier.TaskCompleted, 1, 0)
	s := h.allSamples(d.ID, atelier.SampleFilter{})[0]
	if s.Source != "obs://data/text/a.txt#L1" {
		t.Fatalf("source = %q", s.Source)
	}
	ents := []atelier.Annotation{
		{Type: "modelarts/text_triplet", Name: "疾病", Property: map[string]any{"@modelarts:start_index": 0, "@modelarts:end_index": 3}},
		{Type: "modelarts/text_triplet", Name: "疾病别称", Property: map[string]any{"@modelarts:start_index": 6, "@modelarts:end_index": 12}},
	}
	rel := atelier.Annotation{Type: "modelarts/text_triplet", Name: "又称为", Property: map[string]any{dataset.PropFrom: "e1", dataset.PropTo: "e2"}}
	if _, err := h.svc.SetAnnotations(h.ctx, d.ID, s.ID, append(slices.Clone(ents), rel), ""); err != nil {
		t.Fatal(err)
	}
	bad := rel
	bad.Name = "疾病"
	_, err := h.svc.SetAnnotations(h.ctx, d.ID, s.ID, append(slices.Clone(ents), bad), "")
	wantCode(t, err, atelier.CodeDatasetLabel, "annotations[2].name")
	ent := ents[0]
	ent.Name = "又称为"
	_, err = h.svc.SetAnnotations(h.ctx, d.ID, s.ID, []atelier.Annotation{ent}, "")
	wantCode(t, err, atelier.CodeDatasetLabel, "annotations[0].name")
}

func TestUpdateAndDeleteDataset(t *testing.T) {
	h := newHarness(t, 0, nil)
	h.mustPut("a/1.jpg", png)
	h.mustPut("a/2.jpg", png)
	h.mustPut("keep/1.jpg", png)
	d, _ := h.mustCreate(atelier.DatasetSpec{Name: "a", DataType: "IMAGE", DataPath: "/data/a/", WorkPath: "/work/out/"})
	h.mustCreate(atelier.DatasetSpec{Name: "b", DataType: "IMAGE", DataPath: "/data/keep/", WorkPath: "/work/out/"})
	name, desc := "new-dataset-name", "described"
	got, err := h.svc.UpdateDataset(h.ctx, d.ID, atelier.DatasetUpdate{Name: &name, Description: &desc})
	if err != nil || got.Name != name || got.Description != desc {
		t.Fatalf("UpdateDataset = %+v, %v", got, err)
	}
	taken := "b"
	_, err = h.svc.UpdateDataset(h.ctx, d.ID, atelier.DatasetUpdate{Name: &taken})
	wantCode(t, err, atelier.CodeDatasetExists, "dataset_name")
	bad := []atelier.Label{{Name: "x"}, {Name: "x"}}
	_, err = h.svc.UpdateDataset(h.ctx, d.ID, atelier.DatasetUpdate{Labels: &bad})
	wantCode(t, err, atelier.CodeDatasetLabel, "labels[1].name")
	good := []atelier.Label{{Name: "x"}, {Name: "y", Color: "#00ff00"}}
	if got, err = h.svc.UpdateDataset(h.ctx, d.ID, atelier.DatasetUpdate{Labels: &good}); err != nil || len(got.Labels) != 2 {
		t.Fatalf("UpdateDataset labels = %+v, %v", got, err)
	}

	if err := h.svc.DeleteDataset(h.ctx, d.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.GetDataset(h.ctx, d.ID); atelier.ErrorCode(err) != atelier.CodeDatasetNotFound.ID {
		t.Fatalf("GetDataset after delete: %v", err)
	}
	l, err := h.objects.ListObjects(h.ctx, "data", atelier.ListQuery{Prefix: "a/"})
	if err != nil || len(l.Objects) != 0 {
		t.Fatalf("source left: %v, %v", l, err)
	}
	if l, _ := h.objects.ListObjects(h.ctx, "data", atelier.ListQuery{Prefix: "keep/"}); len(l.Objects) != 1 {
		t.Fatalf("another dataset's source was deleted")
	}
	err = h.svc.DeleteDataset(h.ctx, d.ID, false)
	wantCode(t, err, atelier.CodeDatasetNotFound, "dataset_id")
}

// benchObjects puts n tiny images under img/ of bucket data.
func benchObjects(b *testing.B, h *harness, n int) {
	b.Helper()
	for i := range n {
		h.mustPut(fmt.Sprintf("img/%07d.jpg", i), png)
	}
}

func benchCount(b *testing.B) int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// heapPeak samples the live heap until stop is closed and returns the
// highest value seen.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// BenchmarkImport100k imports 100,000 tiny images (10,000 with -short) from
// a directory and reports samples/s and the peak heap growth during the
// import, which stays flat whatever the count.
func BenchmarkImport100k(b *testing.B) {
	n := benchCount(b)
	h := newHarness(b, 0, nil)
	benchObjects(b, h, n)
	i := 0
	var peak uint64
	for b.Loop() {
		i++
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop := make(chan struct{})
		peakc := heapPeak(stop)
		d, task, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: fmt.Sprintf("bench-%d", i), DataType: "IMAGE", DataPath: "/data/img/", WorkPath: "/work/out/"})
		if err != nil {
			b.Fatal(err)
		}
		task = h.waitImport(d.ID, task.ID)
		close(stop)
		if p := <-peakc; p > base {
			peak = max(peak, p-base)
		}
		if task.Imported != int64(n) {
			b.Fatalf("imported %d of %d", task.Imported, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkVersion100k publishes a version of 100,000 samples (10,000 with
// -short) as a manifest and reports samples/s.
func BenchmarkVersion100k(b *testing.B) {
	n := benchCount(b)
	h := newHarness(b, 0, nil)
	benchObjects(b, h, n)
	d, task, err := h.svc.CreateDataset(h.ctx, atelier.DatasetSpec{Name: "bench", DataType: "IMAGE", DataPath: "/data/img/", WorkPath: "/work/out/"})
	if err != nil {
		b.Fatal(err)
	}
	h.waitImport(d.ID, task.ID)
	for b.Loop() {
		v, err := h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{TrainEvalRatio: 0.8})
		if err != nil {
			b.Fatal(err)
		}
		v = eventually(h, "version", func() (*atelier.DatasetVersion, error) { return h.svc.GetVersion(h.ctx, d.ID, v.ID) },
			func(v *atelier.DatasetVersion) bool { return v.State != dataset.VersionCreating })
		if v.State != dataset.VersionNormal || v.SampleCount != int64(n) {
			b.Fatalf("version = %+v", v)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
