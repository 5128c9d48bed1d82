package dataset_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// stallingObjects is the object service whose PutObject and CopyObject
// announce themselves on entered and then wait until their context ends,
// as a publish or an export cut short by a stop.
type stallingObjects struct {
	atelier.ObjectService
	entered chan string
}

func (o *stallingObjects) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error) {
	o.entered <- key
	<-ctx.Done()
	return nil, ctx.Err()
}

func (o *stallingObjects) CopyObject(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*atelier.Object, error) {
	o.entered <- dstKey
	<-ctx.Done()
	return nil, ctx.Err()
}

// versionFixture creates a dataset of three samples.
func versionFixture(t *testing.T, h *harness) *atelier.Dataset {
	t.Helper()
	for _, k := range []string{"cls/cat/1.jpg", "cls/cat/2.jpg", "cls/dog/3.jpg"} {
		h.mustPut(k, png)
	}
	d, _ := h.mustCreate(atelier.DatasetSpec{Name: "q", DatasetType: intp(0), DataPath: "/data/cls/", WorkPath: "/work/out/",
		AnnotationConfig: &atelier.AnnotationConfig{FormatName: "ModelArts image classification 1.0"}})
	return d
}

func waitEntered(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case k := <-ch:
		return k
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled write never started")
	}
	return ""
}

// TestPublishResumesAfterStop stops the server in the middle of a publish:
// the version stays CREATING, and a new Service over the same store
// publishes it, with the interrupted attempt not counted.
func TestPublishResumesAfterStop(t *testing.T) {
	h := newHarness(t, 2, nil)
	d := versionFixture(t, h)
	real := h.objects
	stall := &stallingObjects{ObjectService: real, entered: make(chan string, 10)}
	h.svc.Stop()
	h.objects = stall
	h.start()

	v, err := h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{TrainEvalRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	waitEntered(t, stall.entered)
	h.svc.Stop()
	if got, err := h.st.GetDatasetVersion(h.ctx, d.ID, v.ID); err != nil || got.State != dataset.VersionCreating {
		t.Fatalf("version after the stop: %+v, %v; want CREATING", got, err)
	}

	h.objects = real
	h.start() // the next server
	v = eventually(h, "version", func() (*atelier.DatasetVersion, error) { return h.svc.GetVersion(h.ctx, d.ID, v.ID) },
		func(v *atelier.DatasetVersion) bool { return v.State != dataset.VersionCreating })
	if v.State != dataset.VersionNormal || v.SampleCount != 3 {
		t.Fatalf("resumed version %+v", v)
	}
	if man := h.mustGet("work", strings.TrimPrefix(v.ManifestPath, "/work/")); strings.Count(man, "\n") != 3 {
		t.Fatalf("manifest of the resumed publish:\n%s", man)
	}
	// The item completes just after the version is recorded.
	its := eventually(h, "publish item", func() ([]*store.QueueItem, error) {
		return h.st.ListQueueItems(h.ctx, store.QueueFilter{Kind: dataset.KindPublish})
	}, func(its []*store.QueueItem) bool { return len(its) == 1 && its[0].State == store.QueueCompleted })
	if its[0].Attempt != 1 {
		t.Fatalf("publish completed at attempt %d, want 1: the interrupted one does not count", its[0].Attempt)
	}
}

// TestExportResumesAfterCrash leaves an export leased by a server that
// died: once the lease ends, the next server copies the manifest.
func TestExportResumesAfterCrash(t *testing.T) {
	h := newHarness(t, 2, nil)
	d := versionFixture(t, h)
	v, err := h.svc.CreateVersion(h.ctx, d.ID, atelier.VersionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(h, "version", func() (*atelier.DatasetVersion, error) { return h.svc.GetVersion(h.ctx, d.ID, v.ID) },
		func(v *atelier.DatasetVersion) bool { return v.State == dataset.VersionNormal })
	h.svc.Stop()

	// A server whose claim of the export is the last thing it does: its
	// own client claims nothing, the test claims for it.
	real := h.st
	h.st = &deadClaimer{Store: real}
	h.start()
	et, err := h.svc.ExportVersion(h.ctx, d.ID, v.ID, "/work/export/")
	if err != nil {
		t.Fatal(err)
	}
	clk := h.opts.Clock.(*clock.Fake)
	now := clk.Now().UTC()
	claimed, err := real.ClaimQueueItems(h.ctx, store.QueueClaim{Kinds: []string{dataset.KindExport}, Queues: []string{queue.DefaultQueue}, Owner: "killed",
		Now: now, LeaseUntil: now.Add(queue.DefaultLeaseTTL), Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim by the doomed server: %v, %v", claimed, err)
	}
	h.svc.Stop()

	h.st = real
	h.start() // the next server, once the dead one's lease ended
	if ts, err := h.svc.ListExportTasks(h.ctx, d.ID); err != nil || ts[0].State != atelier.TaskQueued {
		t.Fatalf("export of the dead server, listed: %+v, %v; want QUEUED, not failed", ts, err)
	}
	clk.Advance(queue.DefaultLeaseTTL)
	ts := eventually(h, "export", func() ([]*atelier.ExportTask, error) { return h.svc.ListExportTasks(h.ctx, d.ID) },
		func(ts []*atelier.ExportTask) bool { return len(ts) == 1 && ts[0].State == atelier.TaskCompleted })
	if ts[0].ID != et.ID || ts[0].Exported != 3 {
		t.Fatalf("export %+v", ts[0])
	}
	h.mustGet("work", "export/V001.manifest")
}

// deadClaimer is the store of a server that dies right after its claim:
// its queue client's claims get nothing.
type deadClaimer struct{ store.Store }

func (s *deadClaimer) ClaimQueueItems(context.Context, store.QueueClaim) ([]*store.QueueItem, error) {
	return nil, nil
}
