package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// TestDatasetImportSurvivesKill SIGKILLs a real server process in the
// middle of an import and starts a new one on the same data directory: the
// import resumes from its last committed batch and ends with every sample
// exactly once.
func TestDatasetImportSurvivesKill(t *testing.T) {
	const n = 4000 // four batches of the service's 1000
	dir := t.TempDir()
	srv := MustStartProcess(t, dir)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "pets"); err != nil {
		t.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			key := fmt.Sprintf("img/%s/%06d.png", []string{"cat", "dog"}[i%2], i)
			_, err := c.PutObject(gctx, "pets", key, strings.NewReader("png"), 3, sdk.PutOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	zero := 0
	d, task, err := c.CreateDataset(ctx, core.DatasetSpec{
		Name: "pets", DatasetType: &zero, DataPath: "/pets/img/", WorkPath: "/pets/work/",
		AnnotationConfig: &core.AnnotationConfig{Scene: "image_classification", FormatName: "ModelArts image classification 1.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Kill the server once the first batches are committed.
	var seen *core.ImportTask
	waitFor(t, "the import to commit a batch", func() bool {
		seen, err = c.GetImportTask(ctx, d.ID, task.ID)
		return err == nil && (seen.Imported > 0 || sdk.ImportDone(seen.State))
	})
	srv.kill()
	if seen.State == core.TaskCompleted {
		t.Logf("the import finished before the kill (%d samples); the restart below still checks the count", seen.Imported)
	}

	srv = MustStartProcess(t, dir)
	c = mustSDK(t, srv)
	var final *core.ImportTask
	waitFor(t, "the resumed import to end", func() bool {
		final, err = c.GetImportTask(ctx, d.ID, task.ID)
		return err == nil && sdk.ImportDone(final.State)
	})
	if final.State != core.TaskCompleted || final.Rejected != 0 {
		t.Fatalf("import after the restart: %+v", final)
	}
	got, err := c.GetDataset(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SampleCount != n {
		t.Errorf("the dataset has %d samples after a kill and a resume, want exactly %d", got.SampleCount, n)
	}
	// Every source once: walk the samples and count distinct sources.
	sources := map[string]bool{}
	var mu sync.Mutex
	err = c.WalkSamples(context.WithoutCancel(ctx), d.ID, core.SampleFilter{Limit: 1000}, func(s *core.Sample) error {
		mu.Lock()
		defer mu.Unlock()
		if sources[s.Source] {
			return fmt.Errorf("source %s twice", s.Source)
		}
		sources[s.Source] = true
		return nil
	})
	if err != nil || len(sources) != n {
		t.Fatalf("walked %d distinct sources, %v", len(sources), err)
	}
}
