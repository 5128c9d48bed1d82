package dataset

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/atelier-dev/atelier"
)

// ExportVersion copies a published version's manifest (and nothing else) to
// <path>/<V00n>.manifest in a background task. path must be an OBS
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
	if err := s.st.CreateExportTask(ctx, t); err != nil {
		return nil, fmt.Errorf("dataset: create export task: %w", err)
	}
	s.exports[t.ID] = true
	task := *t
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.taskEnded(task.ID)
		s.export(tenantCtx(s.ctx, tenant), &task, v, src, dst.Bucket, dst.Key+path.Base(src.Key))
		s.mu.Lock()
		delete(s.exports, task.ID)
		s.mu.Unlock()
	}()
	return t, nil
}

// export copies the manifest and records the outcome.
func (s *Service) export(ctx context.Context, t *atelier.ExportTask, v *atelier.DatasetVersion, src obsPath, dstBucket, dstKey string) {
	s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State = atelier.TaskRunning })
	_, err := s.objects.CopyObject(ctx, dstBucket, dstKey, src.Bucket, src.Key)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		msg := "The copy failed on a server error; see the server log."
		var ae *atelier.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		s.log.ErrorContext(ctx, "dataset: export", "dataset", t.DatasetID, "task", t.ID, "err", err)
		s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State, t.Error = atelier.TaskFailed, msg })
		return
	}
	s.updateExport(ctx, t, func(t *atelier.ExportTask) { t.State, t.Exported = atelier.TaskCompleted, v.SampleCount })
}

func (s *Service) updateExport(ctx context.Context, t *atelier.ExportTask, fn func(t *atelier.ExportTask)) {
	_, err := s.st.UpdateExportTask(ctx, t.DatasetID, t.ID, func(t *atelier.ExportTask) error {
		fn(t)
		t.UpdatedAt = s.now()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "dataset: update export task", "task", t.ID, "err", err)
	}
}

// ListExportTasks returns a dataset's export tasks. A task that a previous
// server left QUEUED or RUNNING is FAILED on the way.
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
		s.mu.Lock()
		mine := s.exports[t.ID]
		s.mu.Unlock()
		if mine {
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
