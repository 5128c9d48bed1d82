package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atelier-dev/atelier"
)

// Defaults of the gateway (Options.Predict*).
const (
	DefaultPredictTimeout       = 60 * time.Second
	DefaultMaxPredictBytes      = 64 << 20
	DefaultMaxPredictReplyBytes = 64 << 20
	// retryBodyBytes: request bodies up to this size are kept, so that a
	// request whose instance turned out dead is sent to another one.
	retryBodyBytes = 1 << 20
	// predictAttempts is how many instances one request may try.
	predictAttempts = 3
	// replyPeekBytes of an answer of unknown length are read before its
	// status is sent.
	replyPeekBytes = 32 << 10
)

// Gateway headers of a predict answer.
const (
	HeaderInstance = "X-Atelier-Instance"
	HeaderConfig   = "X-Atelier-Config"
)

// Wire shapes of models and services, for the route table.
const (
	modelJSON         = `{"model_id","tenant_id","workspace_id","model_name","model_version","description","source_location","source_job_id","source_job_version","model_type","runtime","execution_code","input_params","output_params","dependencies","apis","model_status","failed_reason","handler","model_size","model_digest","owner","create_at","update_at"}`
	modelSpecJSON     = `{"model_name","model_version","description","workspace_id","source_location","source_job_id","source_job_version","model_type","runtime","execution_code","input_params","output_params","dependencies","apis"}`
	serviceConfigJSON = `[{"model_id","weight","instance_count","specification","envs","model_name","model_version"}]`
	serviceJSON       = `{"service_id","tenant_id","workspace_id","service_name","description","infer_type","config":` + serviceConfigJSON + `,"status","failed_reason","generation","owner","created_at","updated_at","access_address","instances":[{"instance_id","config_index","model_id","generation","status","restarts","reason","started_at","created_at"}]}`
)

// anyType is the media type of what the gateway forwards: whatever the
// instance takes and answers.
const anyType = "*/*"

// workspaceInput is the body of POST /v1/workspaces.
type workspaceInput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type workspacesJSON struct {
	Workspaces []*atelier.Workspace `json:"workspaces"`
}

// v2Live and v2Ready are the Open Inference Protocol's server health.
type v2Live struct {
	Live bool `json:"live"`
}

type v2Ready struct {
	Ready bool `json:"ready"`
}

// servingRoutes are /v1/models, /v1/workspaces, /v1/services and the
// Open Inference Protocol (KServe V2) paths.
func (s *Server) servingRoutes() []route {
	modelID := param{Name: "model_id", Desc: "The model id.", Required: true}
	serviceID := param{Name: "service_id", Desc: "The service id.", Required: true}
	name := param{Name: "name", Desc: "The service name (the protocol's model name).", Required: true}
	version := param{Name: "version", Desc: "The model version.", Required: true}
	predictPath := param{Name: "path", Desc: "The path forwarded to the instance (after /predict)."}
	proxied := "The instance's answer as it is, with headers X-Atelier-Instance and X-Atelier-Config."
	v2 := func(method, pattern, summary, resp string, params ...param) route {
		return route{Method: method, Pattern: pattern, Summary: summary, Auth: true, Params: params,
			Response: resp + " (the instance's answer as it is)", ContentType: anyType, RequestType: anyType, Status: 200, Handler: s.handleV2}
	}
	return []route{
		{Method: "POST", Pattern: "/v1/models", Summary: "Register a model version from an OBS directory or a training job's output; its package is checked in the background (publishing → published | failed).", Auth: true,
			Request: modelSpecJSON, Response: modelJSON, Status: 201, In: atelier.ModelSpec{}, Out: atelier.Model{}, Handler: s.handleRegisterModel},
		{Method: "GET", Pattern: "/v1/models", Summary: "List the tenant's models (get_model_list).", Auth: true,
			Query: []param{
				{Name: "model_name", Desc: "Substring of the name, case-insensitive."},
				{Name: "model_version", Desc: "Exact version."},
				{Name: "model_status", Desc: "publishing, published or failed."},
				{Name: "description", Desc: "Substring of the description, case-insensitive."},
				{Name: "offset", Desc: "Models to skip (default 0)."},
				{Name: "limit", Desc: "Page size, 1–150 (default 150)."},
				{Name: "sort_by", Desc: "create_at (default), model_version or model_size."},
				{Name: "order", Desc: "asc or desc (default)."},
				{Name: "workspace_id", Desc: "Workspace (default 0)."},
			},
			Response: `{"total_count","count","models":[` + modelJSON + `]}`, Status: 200, Out: atelier.ModelPage{}, Handler: s.handleListModels},
		{Method: "GET", Pattern: "/v1/models/{model_id}", Summary: "Describe a model.", Auth: true,
			Params: []param{modelID}, Response: modelJSON, Status: 200, Out: atelier.Model{}, Handler: s.handleGetModel},
		{Method: "DELETE", Pattern: "/v1/models/{model_id}", Summary: "Delete a model (409 while a service uses it).", Auth: true,
			Params: []param{modelID}, Status: 204, Handler: s.handleDeleteModel},
		{Method: "POST", Pattern: "/v1/workspaces", Summary: "Create a workspace.", Auth: true,
			Request: `{"name","description"}`, Response: `{"workspace_id","tenant_id","name","description","created_at"}`, Status: 201, In: workspaceInput{}, Out: atelier.Workspace{}, Handler: s.handleCreateWorkspace},
		{Method: "GET", Pattern: "/v1/workspaces", Summary: "List the tenant's workspaces, the default (0) first.", Auth: true,
			Response: `{"workspaces":[{"workspace_id","tenant_id","name","description","created_at"}]}`, Status: 200, Out: workspacesJSON{}, Handler: s.handleListWorkspaces},

		{Method: "POST", Pattern: "/v1/services", Summary: "Deploy a real-time service (deploy_predictor).", Auth: true,
			Request: `{"service_name","description","workspace_id","config":` + serviceConfigJSON + `}`, Response: serviceJSON, Status: 201, In: atelier.ServiceSpec{}, Out: atelier.InferenceService{}, Handler: s.handleDeployService},
		{Method: "GET", Pattern: "/v1/services", Summary: "List the tenant's services, newest first.", Auth: true,
			Query: []param{
				{Name: "service_name", Desc: "Substring of the name."},
				{Name: "status", Desc: "deploying, running, concerning, failed or stopped."},
				{Name: "workspace_id", Desc: "Workspace."},
				{Name: "offset", Desc: "Services to skip (default 0)."},
				{Name: "limit", Desc: "Page size, 1–1000 (default 100)."},
			},
			Response: `{"total_count","count","services":[` + serviceJSON + `]}`, Status: 200, Out: atelier.ServicePage{}, Handler: s.handleListServices},
		{Method: "GET", Pattern: "/v1/services/{service_id}", Summary: "Describe a service with its instances.", Auth: true,
			Params: []param{serviceID}, Response: serviceJSON, Status: 200, Out: atelier.InferenceService{}, Handler: s.handleGetService},
		{Method: "PUT", Pattern: "/v1/services/{service_id}", Summary: "Update a service: weights and instance counts in place; a new model version, flavor or variables roll out as a new generation.", Auth: true,
			Params: []param{serviceID}, Request: `{"description","config":` + serviceConfigJSON + `}`, Response: serviceJSON, Status: 200, In: atelier.ServiceUpdate{}, Out: atelier.InferenceService{}, Handler: s.handleUpdateService},
		{Method: "DELETE", Pattern: "/v1/services/{service_id}", Summary: "Stop a service's instances and delete it.", Auth: true,
			Params: []param{serviceID}, Status: 204, Handler: s.handleDeleteService},
		{Method: "POST", Pattern: "/v1/services/{service_id}/stop", Summary: "Stop a service (its instances end).", Auth: true,
			Params: []param{serviceID}, Response: serviceJSON, Status: 200, Out: atelier.InferenceService{}, Handler: s.handleStopService},
		{Method: "POST", Pattern: "/v1/services/{service_id}/start", Summary: "Start a stopped or failed service again.", Auth: true,
			Params: []param{serviceID}, Response: serviceJSON, Status: 200, Out: atelier.InferenceService{}, Handler: s.handleStartService},
		{Method: "GET", Pattern: "/v1/services/{service_id}/logs", Summary: "Stream one instance's log from a byte offset.", Auth: true,
			Params: []param{serviceID},
			Query: []param{
				{Name: "instance", Desc: "The instance id (default: the first)."},
				{Name: "offset", Desc: "Byte offset to start from (default 0)."},
				{Name: "follow", Desc: "1 or true: keep the answer open for new output."},
			},
			Response: "text/plain log bytes; header X-Log-Offset is the offset served from.", ContentType: "text/plain", Status: 200, Handler: s.handleServiceLog},
		{Method: "GET", Pattern: "/v1/services/{service_id}/monitor", Summary: "Request and error counts and latency percentiles per config, as the gateway saw them.", Auth: true,
			Params: []param{serviceID}, Response: `{"service_id","since","monitors":[{"model_id","req_count","err_count","latency_p50_ms","latency_p95_ms","latency_p99_ms","instances","ready_instances"}]}`, Status: 200, Out: atelier.ServiceMonitor{}, Handler: s.handleServiceMonitor},
		{Method: "POST", Pattern: "/v1/services/{service_id}/predict", Summary: "Send a request to an instance picked by the configs' weights (the body as it is: JSON or multipart files).", Auth: true,
			Params: []param{serviceID}, Request: "Any body the model's handler takes.", Response: proxied, ContentType: anyType, RequestType: anyType, Status: 200, Handler: s.handlePredict},
		{Method: "POST", Pattern: "/v1/services/{service_id}/predict/{path...}", Summary: "As /predict, forwarded to the instance's path.", Auth: true,
			Params: []param{serviceID, predictPath}, Request: "Any body the model's handler takes.", Response: proxied, ContentType: anyType, RequestType: anyType, Status: 200, Handler: s.handlePredict},

		{Method: "GET", Pattern: "/v2/health/live", Summary: "Open Inference Protocol: the server is live.",
			Response: `{"live"}`, Status: 200, Out: v2Live{}, Handler: s.handleV2Live},
		{Method: "GET", Pattern: "/v2/health/ready", Summary: "Open Inference Protocol: the server is ready to route inference.",
			Response: `{"ready"}`, Status: 200, Out: v2Ready{}, Handler: s.handleV2Ready},
		v2("GET", "/v2/models/{name}", "Open Inference Protocol: model metadata (from a ready instance).", `{"name","versions","platform","inputs","outputs"}`, name),
		v2("GET", "/v2/models/{name}/ready", "Open Inference Protocol: the model is ready (200) or not.", `{"name","ready"}`, name),
		v2("POST", "/v2/models/{name}/infer", "Open Inference Protocol: inference with JSON tensors.", `{"model_name","model_version","id","parameters","outputs":[{"name","shape","datatype","data"}]}`, name),
		v2("GET", "/v2/models/{name}/versions/{version}", "Open Inference Protocol: metadata of one version.", `{"name","versions","platform","inputs","outputs"}`, name, version),
		v2("GET", "/v2/models/{name}/versions/{version}/ready", "Open Inference Protocol: one version is ready.", `{"name","ready"}`, name, version),
		v2("POST", "/v2/models/{name}/versions/{version}/infer", "Open Inference Protocol: inference on one version.", `{"model_name","model_version","id","parameters","outputs":[{"name","shape","datatype","data"}]}`, name, version),
	}
}

func errNoServing() error {
	return atelier.CodeNotImplemented.Errorf("This server does not run models and services.")
}

func (s *Server) modelService() (atelier.ModelService, error) {
	if s.models == nil {
		return nil, errNoServing()
	}
	return s.models, nil
}

func (s *Server) inferenceServices() (atelier.InferenceServices, error) {
	if s.services == nil {
		return nil, errNoServing()
	}
	return s.services, nil
}

func modelOut(m *atelier.Model) *atelier.Model {
	c := *m
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func serviceOut(v *atelier.InferenceService) *atelier.InferenceService {
	c := *v
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	if c.Configs == nil {
		c.Configs = []atelier.ServiceConfig{}
	}
	return &c
}

// intParam reads a whole-number query parameter of 0 or more; absent is 0.
func intParam(q url.Values, name string) (int, error) {
	raw := q.Get(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, atelier.CodeInvalidParam.Errorf("The %s parameter must be a whole number of 0 or more, not %q.", name, raw).WithField(name)
	}
	return n, nil
}

func (s *Server) handleRegisterModel(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	var spec atelier.ModelSpec
	if err := s.decodeJSON(w, r, &spec, false); err != nil {
		return err
	}
	m, err := ms.RegisterModel(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, modelOut(m))
	return nil
}

func (s *Server) handleListModels(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := atelier.ModelFilter{
		Name: q.Get("model_name"), Version: q.Get("model_version"), Status: q.Get("model_status"),
		Description: q.Get("description"), SortBy: q.Get("sort_by"), Order: q.Get("order"), WorkspaceID: q.Get("workspace_id"),
	}
	if f.Offset, err = intParam(q, "offset"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q, "limit"); err != nil {
		return err
	}
	if q.Has("limit") && f.Limit == 0 {
		return atelier.CodeModelListLimit.Errorf("limit must be 1–%d.", atelier.MaxModelPage).WithField("limit")
	}
	p, err := ms.ListModels(r.Context(), f)
	if err != nil {
		return err
	}
	out := atelier.ModelPage{TotalCount: p.TotalCount, Count: len(p.Models), Models: make([]*atelier.Model, 0, len(p.Models))}
	for _, m := range p.Models {
		out.Models = append(out.Models, modelOut(m))
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) handleGetModel(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	m, err := ms.GetModel(r.Context(), r.PathValue("model_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, modelOut(m))
	return nil
}

func (s *Server) handleDeleteModel(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	if err := ms.DeleteModel(r.Context(), r.PathValue("model_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleCreateWorkspace(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	var body workspaceInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	ws, err := ms.CreateWorkspace(r.Context(), body.Name, body.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ws)
	return nil
}

func (s *Server) handleListWorkspaces(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.modelService()
	if err != nil {
		return err
	}
	wss, err := ms.ListWorkspaces(r.Context())
	if err != nil {
		return err
	}
	if wss == nil {
		wss = []*atelier.Workspace{}
	}
	writeJSON(w, http.StatusOK, workspacesJSON{Workspaces: wss})
	return nil
}

func (s *Server) handleDeployService(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	var spec atelier.ServiceSpec
	if err := s.decodeJSON(w, r, &spec, false); err != nil {
		return err
	}
	svc, err := ss.DeployService(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, serviceOut(svc))
	return nil
}

func (s *Server) handleListServices(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := atelier.ServiceFilter{Name: q.Get("service_name"), Status: q.Get("status"), WorkspaceID: q.Get("workspace_id")}
	if f.Offset, err = intParam(q, "offset"); err != nil {
		return err
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return err
	}
	p, err := ss.ListServices(r.Context(), f)
	if err != nil {
		return err
	}
	out := atelier.ServicePage{TotalCount: p.TotalCount, Count: len(p.Services), Services: make([]*atelier.InferenceService, 0, len(p.Services))}
	for _, v := range p.Services {
		out.Services = append(out.Services, serviceOut(v))
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// serviceCall runs one call on a service and writes the service it returns.
func (s *Server) serviceCall(w http.ResponseWriter, r *http.Request, fn func(ss atelier.InferenceServices, ctx context.Context, id string) (*atelier.InferenceService, error)) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	svc, err := fn(ss, r.Context(), r.PathValue("service_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, serviceOut(svc))
	return nil
}

func (s *Server) handleGetService(w http.ResponseWriter, r *http.Request) error {
	return s.serviceCall(w, r, atelier.InferenceServices.GetService)
}

func (s *Server) handleStopService(w http.ResponseWriter, r *http.Request) error {
	return s.serviceCall(w, r, atelier.InferenceServices.StopService)
}

func (s *Server) handleStartService(w http.ResponseWriter, r *http.Request) error {
	return s.serviceCall(w, r, atelier.InferenceServices.StartService)
}

func (s *Server) handleUpdateService(w http.ResponseWriter, r *http.Request) error {
	var u atelier.ServiceUpdate
	if err := s.decodeJSON(w, r, &u, false); err != nil {
		return err
	}
	return s.serviceCall(w, r, func(ss atelier.InferenceServices, ctx context.Context, id string) (*atelier.InferenceService, error) {
		return ss.UpdateService(ctx, id, u)
	})
}

func (s *Server) handleDeleteService(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	if err := ss.DeleteService(r.Context(), r.PathValue("service_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleServiceMonitor(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	m, err := ss.Monitor(r.Context(), r.PathValue("service_id"))
	if err != nil {
		return err
	}
	if m.Configs == nil {
		m.Configs = []atelier.ConfigMonitor{}
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) handleServiceLog(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	offset, follow, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	rc, err := ss.OpenServiceLog(r.Context(), r.PathValue("service_id"), r.URL.Query().Get("instance"), offset, follow)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamLog(w, r, rc, offset, "service_id", r.PathValue("service_id"))
	return nil
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	return s.forward(w, r, ss, r.PathValue("service_id"), "/"+r.PathValue("path"), "")
}

func (s *Server) handleV2Live(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, v2Live{Live: true})
	return nil
}

func (s *Server) handleV2Ready(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.inferenceServices(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v2Ready{Ready: true})
	return nil
}

// handleV2 forwards an Open Inference Protocol call to an instance of the
// service of that name, at the same path; a /versions/{v} path goes to an
// instance serving that model version.
func (s *Server) handleV2(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.inferenceServices()
	if err != nil {
		return err
	}
	svc, err := ss.FindService(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.forward(w, r, ss, svc.ID, r.URL.EscapedPath(), r.PathValue("version"))
}

// hopHeaders are not forwarded either way (RFC 9110 §7.6.1), and neither
// are the caller's credentials: a tenant's code never sees a token.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Authorization", "Cookie",
}

// forward sends r to an instance of the service at path, and its answer
// back: the gateway. A request whose instance cannot be reached goes to
// another (up to predictAttempts) when its body was kept or not yet sent;
// the instance is then out of rotation until its next ready probe.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, ss atelier.InferenceServices, id, path, version string) error {
	ctx, cancel := context.WithTimeout(r.Context(), s.predictTimeout)
	defer cancel()
	var kept []byte
	body := io.Reader(http.NoBody)
	// replayable: the body can be sent again (kept, or there is none).
	replayable := r.Body == nil || r.Body == http.NoBody
	if !replayable {
		lb := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.maxPredictBytes)}
		if r.ContentLength >= 0 && r.ContentLength <= retryBodyBytes {
			b, err := io.ReadAll(lb)
			if err != nil {
				if lb.hit {
					return atelier.CodeBodyTooLarge.Errorf("The request body is larger than %d bytes.", s.maxPredictBytes)
				}
				return atelier.CodeInvalidParam.Errorf("The request body could not be read: %v.", err).WithField("body")
			}
			kept, replayable = b, true
		} else {
			body = lb
		}
	}
	var tried []string
	var lastErr error
	for attempt := 0; attempt < predictAttempts; attempt++ {
		rt, err := ss.Route(r.Context(), id, atelier.RouteQuery{Exclude: tried, ModelVersion: version})
		if err != nil {
			if lastErr != nil {
				return lastErr
			}
			if atelier.IsKind(err, atelier.Unavailable) {
				w.Header().Set("Retry-After", "1")
			}
			return err
		}
		tried = append(tried, rt.Instance)
		cr := &countingReader{r: body}
		if kept != nil {
			cr.r = bytes.NewReader(kept)
		}
		var reqBody io.Reader = cr
		if r.Body == nil || r.Body == http.NoBody {
			reqBody = nil // no body: no chunked empty one either
		}
		req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+rt.Addr+path, reqBody)
		if err != nil {
			rt.Done(0, true, false)
			return atelier.CodeInvalidParam.Errorf("The path cannot be forwarded: %v.", err).WithField("path")
		}
		req.URL.RawQuery = r.URL.RawQuery
		if kept != nil {
			req.ContentLength = int64(len(kept))
		} else {
			req.ContentLength = r.ContentLength
		}
		copyHeaders(req.Header, r.Header)
		req.Header.Set("X-Request-Id", RequestIDFromContext(r.Context()))
		start := time.Now()
		resp, err := s.proxy.Do(req)
		if err != nil {
			lat := time.Since(start)
			unreachable := isUnreachable(err)
			rt.Done(lat, true, unreachable)
			if ctx.Err() != nil && r.Context().Err() == nil {
				return atelier.CodeServiceTimeout.Errorf("The instance did not answer within %s.", s.predictTimeout)
			}
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			lastErr = atelier.CodeServiceBadGateway.Errorf("The instance failed to answer: %s.", briefNetErr(err))
			// A request the instance never got (the connection was
			// refused) goes to another whatever its method, when its body
			// can be sent again (kept, or none of it read); one that may
			// have reached it (reset, closed mid-answer) only when it is
			// idempotent, so that a prediction never runs twice.
			if isRefused(err) && (replayable || cr.n == 0) || unreachable && replayable && idempotent(r.Method) {
				continue
			}
			return lastErr
		}
		err = s.relay(w, resp, rt)
		rt.Done(time.Since(start), err != nil || resp.StatusCode >= 500, false)
		if err != nil {
			return err
		}
		return nil
	}
	return lastErr
}

// relay copies an instance's answer to the client, bounded. An answer of
// unknown length is looked at first (up to replyPeekBytes), so that a small
// one over the limit still gets a clear error; a longer one is cut short
// when it passes the limit.
func (s *Server) relay(w http.ResponseWriter, resp *http.Response, rt *atelier.Route) error {
	defer resp.Body.Close()
	tooLarge := func(n int64) error {
		return atelier.CodeServiceResponseSize.Errorf("The instance's answer (%d bytes or more) is larger than the gateway's limit of %d bytes.", n, s.maxPredictReplyBytes)
	}
	if resp.ContentLength > s.maxPredictReplyBytes {
		return tooLarge(resp.ContentLength)
	}
	body := io.Reader(resp.Body)
	if resp.ContentLength < 0 {
		br := peekReaders.Get().(*bufio.Reader)
		br.Reset(resp.Body)
		defer func() {
			br.Reset(nil)
			peekReaders.Put(br)
		}()
		b, err := br.Peek(replyPeekBytes)
		if int64(len(b)) > s.maxPredictReplyBytes {
			return tooLarge(int64(len(b)))
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return atelier.CodeServiceBadGateway.Errorf("The instance failed to answer: %s.", briefNetErr(err))
		}
		body = br
	}
	h := w.Header()
	copyHeaders(h, resp.Header)
	h.Del("Set-Cookie")
	h.Set(HeaderInstance, rt.Instance)
	h.Set(HeaderConfig, strconv.Itoa(rt.Config))
	w.WriteHeader(resp.StatusCode)
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(w, io.LimitReader(body, s.maxPredictReplyBytes+1), *buf)
	if err != nil || n > s.maxPredictReplyBytes {
		// The status is sent: all that is left is to cut the answer short.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// The gateway's buffers, reused: a buffer of its own per answer (io.Copy's
// 32 KiB, and as much to peek at an answer of unknown length) was most of
// what a forwarded request allocated, and the garbage collector's work.
var (
	copyBufs    = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	peekReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, replyPeekBytes) }}
)

func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
	for _, k := range hopHeaders {
		dst.Del(k)
	}
	if c := src.Get("Connection"); c != "" {
		for _, f := range strings.Split(c, ",") {
			dst.Del(strings.TrimSpace(f))
		}
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// isUnreachable reports whether the instance could not be reached at all
// (its process is gone): a refused or reset connection.
func isUnreachable(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &op) && op.Op == "dial" || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isRefused reports whether the request never reached the instance: the
// connection was refused or could not be made.
func isRefused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &op) && op.Op == "dial"
}

// briefNetErr says what went wrong without the instance's address.
func briefNetErr(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (the instance is not listening)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the instance closed the connection"
	}
	return "the connection failed"
}

// countingReader counts what the transport read of a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// newProxyTransport is the gateway's client to instances: kept-alive
// connections, no proxy from the environment, no compression games.
func newProxyTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}
