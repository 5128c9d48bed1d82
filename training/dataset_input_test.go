package training_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
)

// TestDatasetInput runs a job on a published dataset version: the input
// directory holds the version's manifest, every sample object under data/
// and local.manifest pointing at the local copies.
func TestDatasetInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	discard := slog.New(slog.DiscardHandler)
	ds := dataset.New(h.st, h.objects, dataset.Options{Logger: discard})
	ds.Start(t.Context())
	t.Cleanup(ds.Stop)
	// The harness's service has no dataset service: replace it.
	h.svc.Stop()
	h.opts.Datasets = ds
	h.startService(h.objects)

	h.mustPut("imgs/cat/1.png", "png-1")
	h.mustPut("imgs/dog/2.png", "png-2")
	zero := 0
	d, task, err := ds.CreateDataset(h.ctx, atelier.DatasetSpec{
		Name: "pets", DatasetType: &zero, DataPath: "/data/imgs/", WorkPath: "/data/work/",
		AnnotationConfig: &atelier.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool {
		tk, err := ds.GetImportTask(h.ctx, d.ID, task.ID)
		return err == nil && tk.State == atelier.TaskCompleted && tk.Imported == 2
	})

	// A version that is not published yet is refused at submit time.
	v, err := ds.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool {
		got, err := ds.GetVersion(h.ctx, d.ID, v.ID)
		return err == nil && got.State == dataset.VersionNormal
	})

	spec := atelier.JobSpec{
		UserCommand: `cat "$DATA_URL/local.manifest"; cat "$DATA_URL"/data/data/imgs/cat/1.png; echo; ls "$DATA_URL"`,
		Inputs:      []atelier.JobInput{{DatasetID: d.ID, DatasetVersionID: v.ID, LocalPath: "/cache/data/"}},
		Flavor:      flavor,
	}
	j, _, err := h.svc.SubmitJob(h.ctx, "on-dataset", "", spec)
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(j.ID, 1, atelier.JobCompleted)
	rc, err := h.svc.OpenLog(h.ctx, j.ID, 1, "worker-0", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	log := string(b)
	for _, want := range []string{`"name":"cat"`, `"name":"dog"`, "/data/data/imgs/cat/1.png", "png-1", "V001.manifest", "local.manifest"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job's log lacks %q:\n%s", want, log)
		}
	}

	// Bad dataset inputs are refused before anything is created.
	for _, tc := range []struct {
		in    atelier.JobInput
		code  atelier.Code
		field string
	}{
		{atelier.JobInput{DatasetID: d.ID}, atelier.CodeInvalidJobSpec, "spec.inputs[0].dataset_version_id"},
		{atelier.JobInput{DatasetID: d.ID, DatasetVersionID: v.ID, ObsPath: "obs://data/imgs/"}, atelier.CodeInvalidJobSpec, "spec.inputs[0].obs_path"},
		{atelier.JobInput{DatasetID: d.ID, DatasetVersionID: "nope"}, atelier.CodeJobInputMissing, "spec.inputs[0].dataset_version_id"},
	} {
		bad := spec
		bad.Inputs = []atelier.JobInput{tc.in}
		_, _, err := h.svc.SubmitJob(h.ctx, "bad-dataset-input", "", bad)
		wantCode(t, err, tc.code, tc.field)
	}
}

// poll waits until cond holds, failing the test after 30 s.
func poll(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		<-time.After(5 * time.Millisecond) // the dataset service signals nothing: poll
	}
}
