package atelier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	core "github.com/atelier-dev/atelier"
)

// This file holds the training calls: jobs, their versions, events and
// logs, and the flavors and frameworks jobs run on.

// LogRetries is how many times in a row StreamLog asks again after the
// connection broke without a byte received in between.
const LogRetries = 5

// logRetryDelay is the pause before StreamLog's first retry; it doubles on
// each retry that made no progress. A variable so tests can shorten it.
var logRetryDelay = 200 * time.Millisecond

// versionSeg is the path segment of a version: its number, or latest for 0.
func versionSeg(version int64) string {
	if version <= 0 {
		return "latest"
	}
	return strconv.FormatInt(version, 10)
}

// SubmitJob creates a training job with its first version and starts it. An
// empty name lets the server generate one.
func (c *Client) SubmitJob(ctx context.Context, name, desc string, spec core.JobSpec) (*core.TrainingJob, *core.JobVersion, error) {
	var out struct {
		Job     *core.TrainingJob `json:"job"`
		Version *core.JobVersion  `json:"version"`
	}
	body := map[string]any{"job_name": name, "job_desc": desc, "spec": spec}
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/training/jobs", body, &out); err != nil {
		return nil, nil, err
	}
	if out.Job == nil || out.Version == nil {
		return nil, nil, &APIError{Err: CodeBadResponse.Errorf("The server's answer to a job submission lacks the job or its version.")}
	}
	return out.Job, out.Version, nil
}

// CreateJobVersion runs a job again (ModelArts' create_job_version) with
// the settings of version pre (0: the latest) overridden by the non-zero
// fields of spec.
func (c *Client) CreateJobVersion(ctx context.Context, jobID string, pre int64, desc string, spec core.JobSpec) (*core.JobVersion, error) {
	var v core.JobVersion
	body := map[string]any{"pre_version_id": pre, "job_desc": desc, "spec": spec}
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("training", "jobs", jobID, "versions"), body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListJobs returns one page of the tenant's jobs, newest first; pass the
// page's NextCursor as f.Cursor for the next.
func (c *Client) ListJobs(ctx context.Context, f core.JobFilter) (*core.JobPage, error) {
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.State != "" {
		q.Set("status", f.State)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var page core.JobPage
	if err := c.getJSON(ctx, "/v1/training/jobs", q, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetJob describes a job.
func (c *Client) GetJob(ctx context.Context, jobID string) (*core.TrainingJob, error) {
	var j core.TrainingJob
	if err := c.getJSON(ctx, pathOf("training", "jobs", jobID), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// DeleteJob stops a job's running versions and deletes it.
func (c *Client) DeleteJob(ctx context.Context, jobID string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("training", "jobs", jobID), nil, nil)
}

// ListVersions returns a job's versions, newest first.
func (c *Client) ListVersions(ctx context.Context, jobID string) ([]*core.JobVersion, error) {
	var out struct {
		Versions []*core.JobVersion `json:"versions"`
	}
	if err := c.getJSON(ctx, pathOf("training", "jobs", jobID, "versions"), nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// GetVersion describes one version of a job; version 0 is the latest.
func (c *Client) GetVersion(ctx context.Context, jobID string, version int64) (*core.JobVersion, error) {
	var v core.JobVersion
	if err := c.getJSON(ctx, pathOf("training", "jobs", jobID, "versions", versionSeg(version)), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// StopVersion stops a version (0: the latest); stopping an ended one is not
// an error.
func (c *Client) StopVersion(ctx context.Context, jobID string, version int64) (*core.JobVersion, error) {
	var v core.JobVersion
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("training", "jobs", jobID, "versions", versionSeg(version), "stop"), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListEvents returns the state transitions of a version (0: the latest), in
// order.
func (c *Client) ListEvents(ctx context.Context, jobID string, version int64) ([]*core.JobEvent, error) {
	var out struct {
		Events []*core.JobEvent `json:"events"`
	}
	if err := c.getJSON(ctx, pathOf("training", "jobs", jobID, "versions", versionSeg(version), "events"), nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// ListFlavors returns the resource flavors jobs run on (get_spec_list).
func (c *Client) ListFlavors(ctx context.Context) ([]*core.Flavor, error) {
	var out struct {
		Flavors []*core.Flavor `json:"flavors"`
	}
	if err := c.getJSON(ctx, "/v1/training/flavors", nil, &out); err != nil {
		return nil, err
	}
	return out.Flavors, nil
}

// ListFrameworks returns the configured AI frameworks (get_framework_list).
func (c *Client) ListFrameworks(ctx context.Context) ([]*core.Framework, error) {
	var out struct {
		Frameworks []*core.Framework `json:"frameworks"`
	}
	if err := c.getJSON(ctx, "/v1/training/frameworks", nil, &out); err != nil {
		return nil, err
	}
	return out.Frameworks, nil
}

// WaitVersion polls a version (0: the latest) every interval until it is in
// a final state, and returns it.
func (c *Client) WaitVersion(ctx context.Context, jobID string, version int64, interval time.Duration) (*core.JobVersion, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		v, err := c.GetVersion(ctx, jobID, version)
		if err != nil {
			return nil, err
		}
		if core.JobStateFinal(v.State) {
			return v, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for job %s: %w", jobID, ctx.Err())
		case <-t.C:
		}
	}
}

// errLogWrite marks a failure of StreamLog's destination, which is never
// retried.
type errLogWrite struct{ err error }

func (e *errLogWrite) Error() string { return "write log: " + e.err.Error() }
func (e *errLogWrite) Unwrap() error { return e.err }

// StreamLog copies the log of one worker (task "worker-0", …) of a version
// (0: the latest) to w, from byte offset on; with follow it keeps going
// until the version ends. When the connection breaks mid-stream it asks
// again from the offset reached, up to LogRetries times in a row without
// progress. It returns the offset after the last byte written, so a later
// call can go on from there.
func (c *Client) StreamLog(ctx context.Context, jobID string, version int64, task string, offset int64, follow bool, w io.Writer) (int64, error) {
	path := pathOf("training", "jobs", jobID, "versions", versionSeg(version), "logs", task)
	buf := make([]byte, 32<<10)
	failures := 0
	for {
		q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
		if follow {
			q.Set("follow", "1")
		}
		n, err := c.streamLogOnce(ctx, path, q, &offset, buf, w)
		if err == nil {
			return offset, nil
		}
		var we *errLogWrite
		if ctx.Err() != nil || errors.As(err, &we) || !retryableLogError(err) {
			return offset, err
		}
		if n > 0 {
			failures = 0
		}
		failures++
		if failures > LogRetries {
			return offset, err
		}
		delay := logRetryDelay << (failures - 1)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return offset, fmt.Errorf("stream log of %s: %w", task, ctx.Err())
		case <-t.C:
		}
	}
}

// retryableLogError reports whether a failed log request is worth asking
// again: the connection broke, or the server is briefly unavailable.
func retryableLogError(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Err.Kind == core.Unavailable
	}
	return true // a broken body
}

// streamLogOnce makes one log request and copies its body to w, advancing
// *offset by the bytes written. It returns the bytes written and nil at the
// answer's regular end.
func (c *Client) streamLogOnce(ctx context.Context, path string, q url.Values, offset *int64, buf []byte, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if h := resp.Header.Get("X-Log-Offset"); h != "" {
		if served, perr := strconv.ParseInt(h, 10, 64); perr == nil && served >= 0 {
			*offset = served
		}
	}
	var total int64
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, &errLogWrite{werr}
			}
			total += int64(n)
			*offset += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return total, fmt.Errorf("stream log: %w", ctx.Err())
			}
			return total, fmt.Errorf("stream log: %w", rerr)
		}
	}
}
