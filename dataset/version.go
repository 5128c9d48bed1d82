package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset/format"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// Version states.
const (
	VersionCreating = "CREATING"
	VersionNormal   = "NORMAL"
	VersionFailed   = "FAILED"
)

// ReasonRestarted is why a task that no queue item runs any more (one left
// by a server from before the queue, or whose last attempt died with its
// server) failed.
const ReasonRestarted = "The server restarted before it ended; start it again."

// Kinds of the queue items the Service runs, and how many attempts each
// gets before its version or export fails.
const (
	KindPublish  = "dataset.publish"
	KindExport   = "dataset.export"
	TaskAttempts = 5
)

// manifestKey is where version name of dataset id is published under the
// work directory prefix: dataset-<id>/annotation/<name>/<name>.manifest.
func manifestKey(workPrefix, id, name string) string {
	return workPrefix + "dataset-" + id + "/annotation/" + name + "/" + name + ".manifest"
}

// CreateVersion snapshots the dataset's samples and annotations and
// publishes them on the queue as a manifest under the work path; the
// version is CREATING until then, NORMAL after, or FAILED. The version and
// its publish item commit together, so a publish interrupted by a stop or a
// crash resumes on the next server. It is refused while an import or
// another version of the dataset runs.
func (s *Service) CreateVersion(ctx context.Context, id string, spec atelier.VersionSpec) (*atelier.DatasetVersion, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(spec.TrainEvalRatio) || spec.TrainEvalRatio < 0 || spec.TrainEvalRatio > 1 {
		return nil, atelier.CodeInvalidParam.Errorf("train_evaluate_sample_ratio must be between 0 and 1.").WithField("train_evaluate_sample_ratio")
	}
	if len(spec.Description) > maxDescription {
		return nil, atelier.CodeInvalidParam.Errorf("description is longer than %d bytes.", maxDescription).WithField("description")
	}
	d, err := s.dataset(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	wp, err := parseObsPath(d.WorkPath)
	if err != nil {
		return nil, atelier.CodeDatasetSource.Errorf("The dataset's work_path is not an OBS directory.").WithField("work_path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, atelier.CodeUnavailable.Errorf("The server is shutting down.")
	}
	if r := s.imports[id]; r != nil {
		return nil, atelier.CodeDatasetVersionRun.Errorf("The import %s of this dataset is still running.", r.taskID).WithField("dataset_id")
	}
	vs, err := s.st.ListDatasetVersions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dataset: list versions: %w", err)
	}
	for _, v := range vs {
		if v.State != VersionCreating {
			continue
		}
		queued, err := s.queued(ctx, publishKey(v.ID))
		if err != nil {
			return nil, err
		}
		if queued {
			return nil, atelier.CodeDatasetVersionRun.Errorf("The version %s of this dataset is still being created.", v.Name).WithField("dataset_id")
		}
		s.failStale(ctx, v)
	}
	var out *atelier.DatasetVersion
	now := s.now()
	err = s.st.InTx(ctx, func(tx store.Store) error {
		v := &atelier.DatasetVersion{
			ID: atelier.NewID(), DatasetID: id, Description: spec.Description,
			TrainEvalRatio: spec.TrainEvalRatio, State: VersionCreating, CreatedAt: now,
		}
		if err := tx.CreateDatasetVersion(ctx, v); err != nil {
			return fmt.Errorf("dataset: create version: %w", err)
		}
		mkey := manifestKey(wp.Key, id, v.Name)
		v, err := tx.UpdateDatasetVersion(ctx, id, v.ID, func(v *atelier.DatasetVersion) error {
			v.ManifestPath = "/" + wp.Bucket + "/" + mkey
			return nil
		})
		if err != nil {
			return fmt.Errorf("dataset: update version: %w", err)
		}
		args := publishArgs{Tenant: tenant, DatasetID: id, VersionID: v.ID, Bucket: wp.Bucket, Key: mkey}
		if _, _, err := s.queue.Insert(ctx, tx, KindPublish, args, queue.InsertOpts{UniqueKey: publishKey(v.ID), MaxAttempts: TaskAttempts}); err != nil {
			return fmt.Errorf("dataset: queue the publish: %w", err)
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// publishKey is the unique key of version id's publish item.
func publishKey(versionID string) string { return KindPublish + ":" + versionID }

// queued reports whether an unfinished queue item holds key: the version
// or export it names is still on its way.
func (s *Service) queued(ctx context.Context, key string) (bool, error) {
	_, err := s.st.GetQueueItemByKey(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("dataset: look up queue item: %w", err)
}

// failStale marks a version that no queue item publishes any more FAILED:
// one left by a server from before the queue, or whose last attempt died
// with its server.
func (s *Service) failStale(ctx context.Context, v *atelier.DatasetVersion) {
	nv, err := s.st.UpdateDatasetVersion(ctx, v.DatasetID, v.ID, func(v *atelier.DatasetVersion) error {
		if v.State == VersionCreating {
			v.State = VersionFailed
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "dataset: fail stale version", "version", v.ID, "err", err)
		return
	}
	*v = *nv
	s.log.WarnContext(ctx, "dataset: version whose publish was lost failed", "dataset", v.DatasetID, "version", v.Name)
}

// publishArgs are the arguments of a KindPublish item.
type publishArgs struct {
	Tenant    string `json:"tenant"`
	DatasetID string `json:"dataset_id"`
	VersionID string `json:"version_id"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
}

// workPublish is the KindPublish worker: it writes the version's manifest
// (again, when an earlier attempt was interrupted) and records the
// outcome. A version that is no longer CREATING, or gone, is left alone.
func (s *Service) workPublish(ctx context.Context, it *store.QueueItem) error {
	var a publishArgs
	if err := json.Unmarshal(it.Args, &a); err != nil {
		return queue.Cancel(fmt.Errorf("dataset: publish arguments: %w", err))
	}
	defer s.taskEnded(a.VersionID)
	ctx = tenantCtx(ctx, a.Tenant)
	v, err := s.st.GetDatasetVersion(ctx, a.DatasetID, a.VersionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted with its dataset
	}
	if err != nil {
		return fmt.Errorf("dataset: get version: %w", err)
	}
	if v.State != VersionCreating {
		return nil
	}
	err = s.publish(ctx, v, a.Bucket, a.Key)
	if ctx.Err() != nil {
		return ctx.Err() // stopped: the queue runs it again
	}
	state := VersionNormal // SampleCount is the snapshot's
	if err != nil {
		s.log.ErrorContext(ctx, "dataset: publish version", "dataset", v.DatasetID, "version", v.Name,
			"attempt", it.Attempt, "err", err)
		if retryable(err) && it.Attempt < it.MaxAttempts {
			return err
		}
		state = VersionFailed
	}
	_, uerr := s.st.UpdateDatasetVersion(ctx, v.DatasetID, v.ID, func(v *atelier.DatasetVersion) error {
		if v.State == VersionCreating {
			v.State = state
		}
		return nil
	})
	if uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
		return fmt.Errorf("dataset: record version: %w", uerr)
	}
	if err != nil {
		return queue.Cancel(err)
	}
	return nil
}

// retryable reports whether a background task's failure may pass: a
// server-side error (a storage failure among them), not a refusal (a
// missing bucket, a denied write).
func retryable(err error) bool {
	switch atelier.ErrorCode(err) {
	case atelier.CodeInternal.ID, atelier.CodeUnavailable.ID, atelier.CodeDeadline.ID,
		atelier.CodeStoreUnavailable.ID, atelier.CodeStoreFull.ID, atelier.CodeObjectBackend.ID:
		return true
	}
	return false
}

// publish writes the manifest of version v to bucket/key, streaming it page
// by page through a pipe into PutObject. Writing it again replaces it.
func (s *Service) publish(ctx context.Context, v *atelier.DatasetVersion, bucket, key string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.writeManifest(ctx, pw, v)
		pw.CloseWithError(err)
		done <- err
	}()
	_, putErr := s.objects.PutObject(ctx, bucket, key, pr, atelier.PutOptions{Size: -1, ContentType: "application/jsonl"})
	pr.CloseWithError(cmpErr(putErr, io.ErrClosedPipe))
	writeErr := <-done
	if putErr != nil {
		return putErr
	}
	return writeErr
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// writeManifest writes the manifest of v's snapshot to w, BatchSize samples
// per store page, applying the train/eval split.
func (s *Service) writeManifest(ctx context.Context, w io.Writer, v *atelier.DatasetVersion) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	mw := format.NewManifestWriter(bw)
	after := ""
	for {
		ss, err := s.st.ListVersionSamples(ctx, v.ID, after, s.opts.BatchSize)
		if err != nil {
			return fmt.Errorf("list version samples: %w", err)
		}
		for _, smp := range ss {
			if smp.Usage == "" && v.TrainEvalRatio > 0 {
				smp.Usage = SplitUsage(smp.ID, v.TrainEvalRatio)
			}
			if err := mw.Write(smp); err != nil {
				return err
			}
		}
		if len(ss) < s.opts.BatchSize {
			break
		}
		after = ss[len(ss)-1].ID
	}
	return bw.Flush()
}

// SplitUsage is the usage a version gives a sample without one: TRAIN for
// the share ratio of samples, EVAL for the rest, decided by a hash of the
// sample id so that the same sample always lands on the same side.
func SplitUsage(sampleID string, ratio float64) string {
	h := fnv.New64a()
	h.Write([]byte(sampleID))
	if float64(h.Sum64())/float64(math.MaxUint64) < ratio {
		return atelier.UsageTrain
	}
	return atelier.UsageEval
}

// ListVersions returns a dataset's versions, newest first.
func (s *Service) ListVersions(ctx context.Context, id string) ([]*atelier.DatasetVersion, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	vs, err := s.st.ListDatasetVersions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dataset: list versions: %w", err)
	}
	if vs == nil {
		vs = []*atelier.DatasetVersion{}
	}
	return vs, nil
}

// GetVersion returns a version of a dataset.
func (s *Service) GetVersion(ctx context.Context, id, versionID string) (*atelier.DatasetVersion, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	return s.version(ctx, id, versionID)
}

func (s *Service) version(ctx context.Context, id, versionID string) (*atelier.DatasetVersion, error) {
	v, err := s.st.GetDatasetVersion(ctx, id, versionID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, atelier.CodeDatasetNotFound.Errorf("The dataset version %q does not exist.", versionID).WithField("version_id")
		}
		return nil, fmt.Errorf("dataset: get version: %w", err)
	}
	return v, nil
}
