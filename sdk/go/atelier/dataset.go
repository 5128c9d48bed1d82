package atelier

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	core "github.com/atelier-dev/atelier"
)

// This file holds the dataset calls: datasets, their import tasks, samples
// and annotations, versions and exports.

// CreateDataset creates a dataset and starts importing its source; the
// import task is nil when the server started none.
func (c *Client) CreateDataset(ctx context.Context, spec core.DatasetSpec) (*core.Dataset, *core.ImportTask, error) {
	var out struct {
		Dataset    *core.Dataset    `json:"dataset"`
		ImportTask *core.ImportTask `json:"import_task"`
	}
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/datasets", spec, &out); err != nil {
		return nil, nil, err
	}
	if out.Dataset == nil {
		return nil, nil, &APIError{Err: CodeBadResponse.Errorf("The server's answer to a dataset creation lacks the dataset.")}
	}
	return out.Dataset, out.ImportTask, nil
}

// GetDataset describes a dataset.
func (c *Client) GetDataset(ctx context.Context, id string) (*core.Dataset, error) {
	var d core.Dataset
	if err := c.getJSON(ctx, pathOf("datasets", id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ListDatasets returns the tenant's datasets; a non-empty name returns only
// the dataset of that exact name (if any).
func (c *Client) ListDatasets(ctx context.Context, name string) ([]*core.Dataset, error) {
	var q url.Values
	if name != "" {
		q = url.Values{"name": {name}}
	}
	var out struct {
		Datasets []*core.Dataset `json:"datasets"`
	}
	if err := c.getJSON(ctx, "/v1/datasets", q, &out); err != nil {
		return nil, err
	}
	return out.Datasets, nil
}

// UpdateDataset changes a dataset's name, description or labels (nil fields
// stay) and returns it.
func (c *Client) UpdateDataset(ctx context.Context, id string, u core.DatasetUpdate) (*core.Dataset, error) {
	var d core.Dataset
	if err := c.sendJSON(ctx, http.MethodPatch, pathOf("datasets", id), u, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// DeleteDataset deletes a dataset with its samples, versions and tasks;
// with deleteSource also the source objects under its data path.
func (c *Client) DeleteDataset(ctx context.Context, id string, deleteSource bool) error {
	r := &request{method: http.MethodDelete, path: pathOf("datasets", id)}
	if deleteSource {
		r.query = url.Values{"delete_source": {"true"}}
	}
	return c.doJSON(ctx, r, nil)
}

// ImportData starts importing a directory or a .manifest file into a
// dataset; poll the task with GetImportTask or WaitImport.
func (c *Client) ImportData(ctx context.Context, id string, req core.ImportRequest) (*core.ImportTask, error) {
	var t core.ImportTask
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("datasets", id, "imports"), req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListImportTasks returns a dataset's import tasks.
func (c *Client) ListImportTasks(ctx context.Context, id string) ([]*core.ImportTask, error) {
	var out struct {
		Tasks []*core.ImportTask `json:"import_tasks"`
	}
	if err := c.getJSON(ctx, pathOf("datasets", id, "imports"), nil, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// GetImportTask describes one import task of a dataset.
func (c *Client) GetImportTask(ctx context.Context, id, taskID string) (*core.ImportTask, error) {
	var t core.ImportTask
	if err := c.getJSON(ctx, pathOf("datasets", id, "imports", taskID), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ImportDone reports whether an import task in state s will not change
// again.
func ImportDone(s string) bool { return s == core.TaskCompleted || s == core.TaskFailed }

// WaitImport polls an import task every interval (default one second) until
// it is COMPLETED or FAILED, and returns it. progress, when not nil, is
// called with each state polled before that, for a progress display. A
// FAILED task is returned without an error: its Errors say why.
func (c *Client) WaitImport(ctx context.Context, id, taskID string, interval time.Duration, progress func(*core.ImportTask)) (*core.ImportTask, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		t, err := c.GetImportTask(ctx, id, taskID)
		if err != nil {
			return nil, err
		}
		if ImportDone(t.State) {
			return t, nil
		}
		if progress != nil {
			progress(t)
		}
		tm := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil, fmt.Errorf("wait for import %s: %w", taskID, ctx.Err())
		case <-tm.C:
		}
	}
}

// sampleQuery renders a sample filter as query parameters.
func sampleQuery(f core.SampleFilter) url.Values {
	q := url.Values{}
	if f.Labelled != nil {
		q.Set("labelled", strconv.FormatBool(*f.Labelled))
	}
	if f.Label != "" {
		q.Set("label", f.Label)
	}
	if f.Usage != "" {
		q.Set("usage", f.Usage)
	}
	if f.After != "" {
		q.Set("cursor", f.After)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// ListSamples returns one page of a dataset's samples in id order; pass the
// page's NextCursor as f.After for the next.
func (c *Client) ListSamples(ctx context.Context, id string, f core.SampleFilter) (*core.SamplePage, error) {
	var page core.SamplePage
	if err := c.getJSON(ctx, pathOf("datasets", id, "samples"), sampleQuery(f), &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// WalkSamples calls fn for every sample that f selects, from f.After on,
// following cursors (f.Limit is the page size). An error from fn stops the
// walk and is returned.
func (c *Client) WalkSamples(ctx context.Context, id string, f core.SampleFilter, fn func(*core.Sample) error) error {
	for {
		page, err := c.ListSamples(ctx, id, f)
		if err != nil {
			return err
		}
		for _, s := range page.Samples {
			if err := fn(s); err != nil {
				return err
			}
		}
		if page.NextCursor == "" || page.NextCursor == f.After {
			return nil
		}
		f.After = page.NextCursor
	}
}

// GetSample describes one sample with its annotations.
func (c *Client) GetSample(ctx context.Context, id, sampleID string) (*core.Sample, error) {
	var s core.Sample
	if err := c.getJSON(ctx, pathOf("datasets", id, "samples", sampleID), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SetAnnotations replaces a sample's annotations, and its usage unless
// usage is empty, and returns the sample.
func (c *Client) SetAnnotations(ctx context.Context, id, sampleID string, annotations []core.Annotation, usage string) (*core.Sample, error) {
	if annotations == nil {
		annotations = []core.Annotation{}
	}
	body := map[string]any{"annotations": annotations}
	if usage != "" {
		body["usage"] = usage
	}
	var s core.Sample
	if err := c.sendJSON(ctx, http.MethodPut, pathOf("datasets", id, "samples", sampleID, "annotations"), body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSamples deletes samples by id and returns how many were deleted.
func (c *Client) DeleteSamples(ctx context.Context, id string, sampleIDs []string) (int, error) {
	if sampleIDs == nil {
		sampleIDs = []string{}
	}
	var out struct {
		Deleted int `json:"deleted"`
	}
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("datasets", id, "samples", "delete"), map[string]any{"sample_ids": sampleIDs}, &out); err != nil {
		return 0, err
	}
	return out.Deleted, nil
}

// DatasetStats counts a dataset's samples, by label and by usage.
func (c *Client) DatasetStats(ctx context.Context, id string) (*core.DatasetStats, error) {
	var st core.DatasetStats
	if err := c.getJSON(ctx, pathOf("datasets", id, "stats"), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// CreateDatasetVersion snapshots a dataset's samples as a new version and
// publishes its manifest.
func (c *Client) CreateDatasetVersion(ctx context.Context, id string, spec core.VersionSpec) (*core.DatasetVersion, error) {
	var v core.DatasetVersion
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("datasets", id, "versions"), spec, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListDatasetVersions returns a dataset's versions.
func (c *Client) ListDatasetVersions(ctx context.Context, id string) ([]*core.DatasetVersion, error) {
	var out struct {
		Versions []*core.DatasetVersion `json:"versions"`
	}
	if err := c.getJSON(ctx, pathOf("datasets", id, "versions"), nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// GetDatasetVersion describes one version of a dataset.
func (c *Client) GetDatasetVersion(ctx context.Context, id, versionID string) (*core.DatasetVersion, error) {
	var v core.DatasetVersion
	if err := c.getJSON(ctx, pathOf("datasets", id, "versions", versionID), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ExportDatasetVersion starts copying a version's manifest to an OBS
// directory (/bucket/dir/, obs://bucket/dir/ or s3://bucket/dir/).
func (c *Client) ExportDatasetVersion(ctx context.Context, id, versionID, path string) (*core.ExportTask, error) {
	var t core.ExportTask
	body := map[string]string{"version_id": versionID, "export_path": path}
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("datasets", id, "exports"), body, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListExportTasks returns a dataset's export tasks.
func (c *Client) ListExportTasks(ctx context.Context, id string) ([]*core.ExportTask, error) {
	var out struct {
		Tasks []*core.ExportTask `json:"export_tasks"`
	}
	if err := c.getJSON(ctx, pathOf("datasets", id, "exports"), nil, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}
