package atelier

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
)

// This file holds the model registry and the inference services
// (CONTRACT §7).

// RegisterModel registers a model version; it is publishing until its
// package is checked (WaitModel).
func (c *Client) RegisterModel(ctx context.Context, spec core.ModelSpec) (*core.Model, error) {
	var m core.Model
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/models", spec, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// GetModel describes a model.
func (c *Client) GetModel(ctx context.Context, id string) (*core.Model, error) {
	var m core.Model
	if err := c.getJSON(ctx, pathOf("models", id), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ListModels returns one page of the tenant's models.
func (c *Client) ListModels(ctx context.Context, f core.ModelFilter) (*core.ModelPage, error) {
	q := pageQuery(f.Offset, f.Limit, map[string]string{"model_name": f.Name, "model_version": f.Version,
		"model_status": f.Status, "description": f.Description, "sort_by": f.SortBy, "order": f.Order, "workspace_id": f.WorkspaceID})
	var p core.ModelPage
	if err := c.getJSON(ctx, "/v1/models", q, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeleteModel deletes a model that no service uses.
func (c *Client) DeleteModel(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("models", id), nil, nil)
}

// WaitModel polls a model every interval until it is no longer publishing.
func (c *Client) WaitModel(ctx context.Context, id string, interval time.Duration) (*core.Model, error) {
	return poll(ctx, interval, func() (*core.Model, bool, error) {
		m, err := c.GetModel(ctx, id)
		return m, err == nil && m.Status != core.ModelPublishing, err
	})
}

// DeployService deploys a service (deploy_predictor).
func (c *Client) DeployService(ctx context.Context, spec core.ServiceSpec) (*core.InferenceService, error) {
	var s core.InferenceService
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/services", spec, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetService describes a service with its instances.
func (c *Client) GetService(ctx context.Context, id string) (*core.InferenceService, error) {
	var s core.InferenceService
	if err := c.getJSON(ctx, pathOf("services", id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListServices returns one page of the tenant's services, newest first.
func (c *Client) ListServices(ctx context.Context, f core.ServiceFilter) (*core.ServicePage, error) {
	q := pageQuery(f.Offset, f.Limit, map[string]string{"service_name": f.Name, "status": f.Status, "workspace_id": f.WorkspaceID})
	var p core.ServicePage
	if err := c.getJSON(ctx, "/v1/services", q, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdateService changes a service's configs or description.
func (c *Client) UpdateService(ctx context.Context, id string, u core.ServiceUpdate) (*core.InferenceService, error) {
	var s core.InferenceService
	if err := c.sendJSON(ctx, http.MethodPut, pathOf("services", id), u, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// StopService stops a service; StartService starts a stopped or failed one.
func (c *Client) StopService(ctx context.Context, id string) (*core.InferenceService, error) {
	return c.serviceAction(ctx, id, "stop")
}

// StartService starts a stopped or failed service again.
func (c *Client) StartService(ctx context.Context, id string) (*core.InferenceService, error) {
	return c.serviceAction(ctx, id, "start")
}

func (c *Client) serviceAction(ctx context.Context, id, action string) (*core.InferenceService, error) {
	var s core.InferenceService
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("services", id, action), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteService stops a service's instances and deletes it.
func (c *Client) DeleteService(ctx context.Context, id string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("services", id), nil, nil)
}

// ServiceMonitor returns the gateway's figures per config.
func (c *Client) ServiceMonitor(ctx context.Context, id string) (*core.ServiceMonitor, error) {
	var m core.ServiceMonitor
	if err := c.getJSON(ctx, pathOf("services", id, "monitor"), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// WaitService polls a service every interval until it is no longer
// deploying.
func (c *Client) WaitService(ctx context.Context, id string, interval time.Duration) (*core.InferenceService, error) {
	return poll(ctx, interval, func() (*core.InferenceService, bool, error) {
		s, err := c.GetService(ctx, id)
		return s, err == nil && s.Status != core.ServiceDeploying, err
	})
}

// Predict sends body to an instance of the service (at path under
// /predict, "" for the root) and returns the answer: its status, headers
// and body, which the caller closes. A non-2xx answer of the instance is
// returned as it is; the gateway's own errors are *APIError.
func (c *Client) Predict(ctx context.Context, id, path, contentType string, body io.Reader, size int64) (*http.Response, error) {
	p := pathOf("services", id, "predict")
	if path = strings.TrimPrefix(path, "/"); path != "" {
		p += "/" + path
	}
	r := &request{method: http.MethodPost, path: p, body: body, size: size, header: http.Header{}}
	if contentType != "" {
		r.header.Set("Content-Type", contentType)
	}
	tok, err := c.bearer(ctx, false, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, r, body, tok)
	if err != nil {
		return nil, err
	}
	if resp.Header.Get("X-Atelier-Instance") == "" && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return nil, decodeError(resp, nil)
	}
	return resp, nil
}

// StreamServiceLog copies an instance's log ("" = the first instance) to
// w from offset, as StreamLog does for training.
func (c *Client) StreamServiceLog(ctx context.Context, id, instance string, offset int64, follow bool, w io.Writer) (int64, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if instance != "" {
		q.Set("instance", instance)
	}
	if follow {
		q.Set("follow", "1")
	}
	buf := make([]byte, 32<<10)
	_, err := c.streamLogOnce(ctx, pathOf("services", id, "logs"), q, &offset, buf, w)
	return offset, err
}

// pageQuery is the query of an offset-paged list: the filters that are
// set, offset and limit when positive.
func pageQuery(offset, limit int, filters map[string]string) url.Values {
	q := url.Values{}
	for k, v := range filters {
		if v != "" {
			q.Set(k, v)
		}
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// poll calls get every interval until it says done or fails.
func poll[T any](ctx context.Context, interval time.Duration, get func() (T, bool, error)) (T, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		v, done, err := get()
		if err != nil || done {
			return v, err
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("wait: %w", ctx.Err())
		case <-t.C:
		}
	}
}
