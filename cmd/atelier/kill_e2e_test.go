package main

import (
	"fmt"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// TestEveryKindSurvivesSIGKILL SIGKILLs the server with work of every kind
// accepted and unfinished: a dataset version being published and an export
// (queue items), a training job running and one waiting in the executor's
// queue. After a restart each finishes, and the jobs ran once.
func TestEveryKindSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	env := append(trainingEnv(t), "ATELIER_TRAINING_SLOTS=1")
	srv := MustStartProcess(t, dir, env...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "kinds"); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		key := fmt.Sprintf("img/%s/%04d.png", []string{"cat", "dog"}[i%2], i)
		if _, err := c.PutObject(ctx, "kinds", key, strings.NewReader("png"), 3, sdk.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	zero := 0
	d, task, err := c.CreateDataset(ctx, core.DatasetSpec{
		Name: "kinds", DatasetType: &zero, DataPath: "/kinds/img/", WorkPath: "/kinds/work/",
		AnnotationConfig: &core.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the import", func() bool {
		it, err := c.GetImportTask(ctx, d.ID, task.ID)
		return err == nil && sdk.ImportDone(it.State)
	})
	v1, err := c.CreateDatasetVersion(ctx, d.ID, core.VersionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "V001 to be published", func() bool {
		v, err := c.GetDatasetVersion(ctx, d.ID, v1.ID)
		return err == nil && v.State == dataset.VersionNormal
	})

	// Two jobs on one slot: the first runs, the second queues.
	first, second := runningAndQueued(t, c, dir)
	// A publish and an export, accepted, then the kill.
	v2, err := c.CreateDatasetVersion(ctx, d.ID, core.VersionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	export, err := c.ExportDatasetVersion(ctx, d.ID, v1.ID, "obs://kinds/export/")
	if err != nil {
		t.Fatal(err)
	}
	srv.kill()

	srv = MustStartProcess(t, dir, env...)
	c = mustSDK(t, srv)
	waitFor(t, "V002 to be published after the restart", func() bool {
		v, err := c.GetVersion(ctx, first.ID, 1)
		if err != nil || core.JobStateFinal(v.State) {
			t.Fatalf("first job after the restart: %+v, %v", v, err)
		}
		dv, err := c.GetDatasetVersion(ctx, d.ID, v2.ID)
		if err != nil || dv.State == dataset.VersionFailed {
			t.Fatalf("V002: %+v, %v", dv, err)
		}
		return dv.State == dataset.VersionNormal
	})
	waitFor(t, "the export after the restart", func() bool {
		ts, err := c.ListExportTasks(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ts {
			if e.ID == export.ID {
				if e.State == core.TaskFailed {
					t.Fatalf("export failed: %+v", e)
				}
				return e.State == core.TaskCompleted
			}
		}
		t.Fatalf("export task %s is gone", export.ID)
		return false
	})
	if m := mustObject(t, c, "kinds", "export/V001.manifest"); len(m) == 0 {
		t.Error("the exported manifest is empty")
	}
	mustRunInTurn(t, c, first, second)
}
