package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// ExportVersion copies a published version's manifest (and nothing else) to
// <path>/<V00n>.manifest in a background task on the queue, which commits
// with the task and resumes after a stop or a crash. path must be an OBS
// directory of the caller's tenant.
func (s *Service) ExportVersion(ctx context.Context, id, versionID, exportPath string) (*atelier.ExportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	v, err := s.version(ctx, id, versionID)
	if err != nil {
		return nil, err
	}
	if v.State != VersionNormal {
		return nil, atelier.CodeDatasetVersionRun.Errorf("The version %s is %s, not published.", v.Name, v.State).WithField("version_id")
	}
	src, err := parseObsPath(v.ManifestPath)
	if err != nil {
		return nil, fmt.Errorf("dataset: version %s has a bad manifest path: %w", v.ID, err)
	}
	dst, err := s.checkDir(ctx, exportPath, "export_path")
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &atelier.ExportTask{
		ID: atelier.NewID(), DatasetID: id, VersionID: v.ID, Path: dst.dirString(),
		State: atelier.TaskQueued, CreatedAt: now, UpdatedAt: now,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, atelier.CodeUnavailable.Errorf("The server is shutting down.")
	}
	args := exportArgs{Tenant: tenant, DatasetID: id, TaskID: t.ID, VersionID: v.ID,
		SrcBucket: src.Bucket, SrcKey: src.Key, DstBucket: dst.Bucket, DstKey: dst.Key + path.Base(src.Key)}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateExportTask(ctx, t); err != nil {
			return fmt.Errorf("dataset: create export task: %w", err)
		}
		if _, _, err := s.queue.Insert(ctx, tx, KindExport, args, queue.InsertOpts{UniqueKey: exportKey(t.ID), MaxAttempts: TaskAttempts}); err != nil {
			return fmt.Errorf("dataset: queue the export: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// exportKey is the unique key of export task id's queue item.
func exportKey(taskID string) string { return KindExport + ":" + taskID }

// exportArgs are the arguments of a KindExport item.
type exportArgs struct {
	Tenant    string `json:"tenant"`
	DatasetID string `json:"dataset_id"`
	TaskID    string `json:"task_id"`
	VersionID string `json:"version_id"`
	SrcBucket string `json:"src_bucket"`
	SrcKey    string `json:"src_key"`
	DstBucket string `json:"dst_bucket"`
	DstKey    string `json:"dst_key"`
}

// workExport is the KindExport worker: it copies the manifest (again, when
// an earlier attempt was interrupted) and records the outcome. A task that
// already ended, or is gone, is left alone.
func (s *Service) workExport(ctx context.Context, it *store.QueueItem) error {
	var a exportArgs
	if err := json.Unmarshal(it.Args, &a); err != nil {
		return queue.Cancel(fmt.Errorf("dataset: export arguments: %w", err))
	}
	defer s.taskEnded(a.TaskID)
	ctx = tenantCtx(ctx, a.Tenant)
	t, err := s.exportTask(ctx, a.DatasetID, a.TaskID)
	if err != nil || t == nil || (t.State != atelier.TaskQueued && t.State != atelier.TaskRunning) {
		return err
	}
	v, err := s.st.GetDatasetVersion(ctx, a.DatasetID, a.VersionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted with its dataset
	}
	if err != nil {
		return fmt.Errorf("dataset: get version: %w", err)
	}
	if t.State == atelier.TaskQueued {
		if err := s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State = atelier.TaskRunning }); err != nil {
			return err
		}
	}
	_, err = s.objects.CopyObject(ctx, a.DstBucket, a.DstKey, a.SrcBucket, a.SrcKey)
	if ctx.Err() != nil {
		return ctx.Err() // stopped: the queue runs it again
	}
	if err != nil {
		s.log.ErrorContext(ctx, "dataset: export", "dataset", t.DatasetID, "task", t.ID, "attempt", it.Attempt, "err", err)
		if retryable(err) && it.Attempt < it.MaxAttempts {
			return err
		}
		msg := "The copy failed on a server error; see the server log."
		var ae *atelier.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		if uerr := s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State, t.Error = atelier.TaskFailed, msg }); uerr != nil {
			return uerr
		}
		return queue.Cancel(err)
	}
	// On an error the queue runs the item again, which copies again.
	return s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State, t.Exported = atelier.TaskCompleted, v.SampleCount })
}

// exportTask returns an export task of the dataset, or nil when it is gone.
func (s *Service) exportTask(ctx context.Context, datasetID, taskID string) (*atelier.ExportTask, error) {
	ts, err := s.st.ListExportTasks(ctx, datasetID)
	if err != nil {
		return nil, fmt.Errorf("dataset: list export tasks: %w", err)
	}
	for _, t := range ts {
		if t.ID == taskID {
			return t, nil
		}
	}
	return nil, nil
}

// updateExport applies fn to the stored task; a task deleted meanwhile is
// not an error.
func (s *Service) updateExport(ctx context.Context, t *atelier.ExportTask, fn func(t *atelier.ExportTask)) error {
	_, err := s.st.UpdateExportTask(ctx, t.DatasetID, t.ID, func(t *atelier.ExportTask) error {
		fn(t)
		t.UpdatedAt = s.now()
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("dataset: update export task: %w", err)
	}
	return nil
}

// ListExportTasks returns a dataset's export tasks. A task left QUEUED or
// RUNNING that no queue item runs any more (one of a server from before
// the queue, or whose last attempt died with its server) is FAILED on the
// way.
func (s *Service) ListExportTasks(ctx context.Context, id string) ([]*atelier.ExportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	ts, err := s.st.ListExportTasks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dataset: list export tasks: %w", err)
	}
	for i, t := range ts {
		if t.State != atelier.TaskQueued && t.State != atelier.TaskRunning {
			continue
		}
		queued, err := s.queued(ctx, exportKey(t.ID))
		if err != nil {
			return nil, err
		}
		if queued {
			continue
		}
		nt, err := s.st.UpdateExportTask(ctx, id, t.ID, func(t *atelier.ExportTask) error {
			if t.State == atelier.TaskQueued || t.State == atelier.TaskRunning {
				t.State, t.Error, t.UpdatedAt = atelier.TaskFailed, ReasonRestarted, s.now()
			}
			return nil
		})
		if err == nil {
			ts[i] = nt
		}
	}
	if ts == nil {
		ts = []*atelier.ExportTask{}
	}
	return ts, nil
}
