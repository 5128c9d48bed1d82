package atelier

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Model states (ModelArts' model lifecycle): a registered model is
// publishing while its package is checked, then published or failed.
const (
	ModelPublishing = "publishing"
	ModelPublished  = "published"
	ModelFailed     = "failed"
)

// DefaultWorkspace is the workspace every tenant has ("0", ModelArts'
// default workspace_id).
const DefaultWorkspace = "0"

// Workspace is a subdivision of a tenant that models and services belong to.
type Workspace struct {
	ID          string    `json:"workspace_id"`
	TenantID    string    `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Model is one version of a registered model: a package in the object store
// (CONTRACT §7) that services run. Registration copies nothing: the
// package stays at SourceLocation, and Digest pins what was checked (a
// service refuses a package that changed since).
type Model struct {
	ID          string `json:"model_id"`
	TenantID    string `json:"tenant_id"`
	WorkspaceID string `json:"workspace_id"`
	// Name and Version identify it within the workspace; versions of one
	// name are the same model over time.
	Name        string `json:"model_name"`
	Version     string `json:"model_version"`
	Description string `json:"description,omitempty"`
	// SourceLocation is the package's OBS directory ("/bucket/dir/", or
	// obs://bucket/dir/), ending in "/".
	SourceLocation string `json:"source_location"`
	// SourceJobID and SourceJobVersion name the training job version whose
	// output it was registered from, if any.
	SourceJobID      string `json:"source_job_id,omitempty"`
	SourceJobVersion string `json:"source_job_version,omitempty"`
	// ModelType is the framework (TensorFlow, PyTorch, MXNet, Custom, …),
	// Runtime its runtime image name in ModelArts terms (informational
	// here), ExecutionCode the inference code's path (informational).
	ModelType     string          `json:"model_type"`
	Runtime       string          `json:"runtime,omitempty"`
	ExecutionCode string          `json:"execution_code,omitempty"`
	InputParams   json.RawMessage `json:"input_params,omitempty"`
	OutputParams  json.RawMessage `json:"output_params,omitempty"`
	Dependencies  json.RawMessage `json:"dependencies,omitempty"`
	APIs          json.RawMessage `json:"apis,omitempty"`
	// Status is publishing, published or failed (with Reason).
	Status string `json:"model_status"`
	Reason string `json:"failed_reason,omitempty"`
	// Handler is how the package serves, known once published:
	// "python" (customize_service.py run by Atelier's Python runtime) or
	// "command" (config.json's command serves HTTP on $PORT).
	Handler string `json:"handler,omitempty"`
	// Size is the package's bytes and Digest a sha256 of its listing
	// (every object's key, size and content hash), known once published.
	Size      int64     `json:"model_size"`
	Digest    string    `json:"model_digest,omitempty"`
	Owner     string    `json:"owner,omitempty"` // the user who registered it
	CreatedAt time.Time `json:"create_at"`
	UpdatedAt time.Time `json:"update_at"`
}

// ModelSpec is what RegisterModel takes: the Model fields a user sets.
// Exactly one of SourceLocation and SourceJobID (with SourceJobVersion)
// says where the package is.
type ModelSpec struct {
	Name             string          `json:"model_name"`
	Version          string          `json:"model_version"`
	Description      string          `json:"description,omitempty"`
	WorkspaceID      string          `json:"workspace_id,omitempty"`
	SourceLocation   string          `json:"source_location,omitempty"`
	SourceJobID      string          `json:"source_job_id,omitempty"`
	SourceJobVersion string          `json:"source_job_version,omitempty"`
	ModelType        string          `json:"model_type"`
	Runtime          string          `json:"runtime,omitempty"`
	ExecutionCode    string          `json:"execution_code,omitempty"`
	InputParams      json.RawMessage `json:"input_params,omitempty"`
	OutputParams     json.RawMessage `json:"output_params,omitempty"`
	Dependencies     json.RawMessage `json:"dependencies,omitempty"`
	APIs             json.RawMessage `json:"apis,omitempty"`
}

// Model list sort keys and orders (the seed's sort_by and order).
const (
	ModelSortCreateAt = "create_at"
	ModelSortVersion  = "model_version"
	ModelSortSize     = "model_size"
)

// MaxModelPage is the most models one page returns, and DefaultModelPage
// a page's size when limit is not given. The seed says both "at most 150
// model objects" and "limit defaults to 280"; the cap wins (docs/models.md).
const (
	MaxModelPage     = 150
	DefaultModelPage = MaxModelPage
)

// ModelFilter selects models of the caller's tenant (the seed's
// get_model_list parameters). Name and Description match as substrings,
// case-insensitively; Version and Status exactly.
type ModelFilter struct {
	Name        string
	Version     string
	Status      string
	Description string
	WorkspaceID string // "" = DefaultWorkspace
	Offset      int
	Limit       int    // 0 = DefaultModelPage; above MaxModelPage is refused
	SortBy      string // "" = create_at
	Order       string // "asc" | "desc" ("" = desc)
}

// ModelPage is one page of models with the number of all that match.
type ModelPage struct {
	TotalCount int      `json:"total_count"`
	Count      int      `json:"count"`
	Models     []*Model `json:"models"`
}

// Service states (CONTRACT §7).
const (
	ServiceDeploying  = "deploying"
	ServiceRunning    = "running"
	ServiceConcerning = "concerning" // some instances are down
	ServiceFailed     = "failed"
	ServiceStopped    = "stopped"
)

// ServiceConfig is one model version a service runs, with its share of the
// requests (ModelArts' ServiceConfig). Weights of a service's configs sum
// to 100.
type ServiceConfig struct {
	ModelID       string            `json:"model_id"`
	Weight        int               `json:"weight"`
	InstanceCount int               `json:"instance_count"`
	Specification string            `json:"specification"` // a flavor id
	Envs          map[string]string `json:"envs,omitempty"`
	// ModelName and ModelVersion are filled in when read.
	ModelName    string `json:"model_name,omitempty"`
	ModelVersion string `json:"model_version,omitempty"`
}

// InferenceService is a deployed, long-running real-time service: each
// config's instances are sandboxed processes serving HTTP, behind the
// gateway at /v1/services/{service_id}/predict and /v2/models/{name}.
type InferenceService struct {
	ID          string          `json:"service_id"`
	TenantID    string          `json:"tenant_id"`
	WorkspaceID string          `json:"workspace_id"`
	Name        string          `json:"service_name"`
	Description string          `json:"description,omitempty"`
	InferType   string          `json:"infer_type"` // "real-time"
	Configs     []ServiceConfig `json:"config"`
	Status      string          `json:"status"`
	Reason      string          `json:"failed_reason,omitempty"`
	// Generation counts deploys and config updates; instances of older
	// generations are replaced by a rollout.
	Generation int64     `json:"generation"`
	Owner      string    `json:"owner,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// AccessAddress is the gateway path of predictions; Instances are the
	// live instances (not stored): filled in when read.
	AccessAddress string             `json:"access_address,omitempty"`
	Instances     []*ServiceInstance `json:"instances,omitempty"`
}

// Instance states.
const (
	InstanceStarting = "starting"
	InstanceReady    = "ready"
	InstanceFailed   = "failed" // exited; restarting after a backoff
	InstanceStopped  = "stopped"
)

// ServiceInstance is one running process of a service config.
type ServiceInstance struct {
	ID      string `json:"instance_id"`
	Config  int    `json:"config_index"`
	ModelID string `json:"model_id"`
	// Generation is the service's generation the instance was started
	// for; a rollout replaces older ones.
	Generation int64     `json:"generation"`
	Status     string    `json:"status"`
	Restarts   int       `json:"restarts"`
	Reason     string    `json:"reason,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	// Handle is the executor's serialised handle (stored, so that a
	// restarted server re-adopts the instance). Never shown.
	Handle    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	// Addr is where the gateway reaches it (host:port). Never shown.
	Addr string `json:"-"`
}

// ServiceSpec is what DeployService takes.
type ServiceSpec struct {
	Name        string          `json:"service_name"`
	Description string          `json:"description,omitempty"`
	WorkspaceID string          `json:"workspace_id,omitempty"`
	Configs     []ServiceConfig `json:"config"`
}

// ServiceUpdate changes a service: a new config list (weights, instance
// counts, model versions: a rollout) and or a description.
type ServiceUpdate struct {
	Description *string         `json:"description,omitempty"`
	Configs     []ServiceConfig `json:"config,omitempty"`
}

// ServiceFilter selects services of the caller's tenant.
type ServiceFilter struct {
	Name        string // substring
	Status      string
	WorkspaceID string
	Offset      int
	Limit       int // 0 = 100, at most 1000
}

// ServicePage is one page of services, newest first.
type ServicePage struct {
	TotalCount int                 `json:"total_count"`
	Count      int                 `json:"count"`
	Services   []*InferenceService `json:"services"`
}

// ServiceMonitor is what get_service_monitor prints: per config, counts and
// latency percentiles of the requests the gateway routed since the service
// started in this server.
type ServiceMonitor struct {
	ServiceID string          `json:"service_id"`
	Since     time.Time       `json:"since"`
	Configs   []ConfigMonitor `json:"monitors"`
}

// ConfigMonitor is the gateway's figures for one config.
type ConfigMonitor struct {
	ModelID      string  `json:"model_id"`
	Requests     int64   `json:"req_count"`
	Errors       int64   `json:"err_count"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	Instances    int     `json:"instances"`
	Ready        int     `json:"ready_instances"`
}

// RouteQuery narrows the instances Route may pick.
type RouteQuery struct {
	// Exclude are instances a retry already tried.
	Exclude []string
	// ModelVersion, when set, picks only instances serving that model
	// version (the KServe V2 /versions/{v} paths).
	ModelVersion string
}

// Route is where the gateway sends one request: an instance's address, and
// Done to call with the outcome (for the monitor and the router's view of
// the instance's health).
type Route struct {
	ServiceID string
	Config    int
	Instance  string
	Addr      string
	// Done reports the request's end: failed is a transport failure or a
	// 5xx of the instance; unreachable marks the instance down at once.
	Done func(latency time.Duration, failed, unreachable bool)
}

// ModelService is the model registry (CONTRACT §7) for the caller's
// tenant. Implementations are safe for concurrent use.
type ModelService interface {
	// RegisterModel records a model version as publishing and checks its
	// package in the background.
	RegisterModel(ctx context.Context, spec ModelSpec) (*Model, error)
	GetModel(ctx context.Context, id string) (*Model, error)
	ListModels(ctx context.Context, f ModelFilter) (*ModelPage, error)
	// DeleteModel refuses (CodeModelInUse, naming the service) while a
	// service uses the model.
	DeleteModel(ctx context.Context, id string) error
	CreateWorkspace(ctx context.Context, name, desc string) (*Workspace, error)
	ListWorkspaces(ctx context.Context) ([]*Workspace, error)
}

// InferenceServices deploys and runs services and routes their requests.
type InferenceServices interface {
	DeployService(ctx context.Context, spec ServiceSpec) (*InferenceService, error)
	GetService(ctx context.Context, id string) (*InferenceService, error)
	// FindService finds a service of the caller's tenant by name (the
	// KServe V2 paths name services).
	FindService(ctx context.Context, name string) (*InferenceService, error)
	ListServices(ctx context.Context, f ServiceFilter) (*ServicePage, error)
	UpdateService(ctx context.Context, id string, u ServiceUpdate) (*InferenceService, error)
	StopService(ctx context.Context, id string) (*InferenceService, error)
	StartService(ctx context.Context, id string) (*InferenceService, error)
	DeleteService(ctx context.Context, id string) error
	// OpenServiceLog streams one instance's log ("" = the first instance).
	OpenServiceLog(ctx context.Context, id, instance string, offset int64, follow bool) (io.ReadCloser, error)
	Monitor(ctx context.Context, id string) (*ServiceMonitor, error)
	// Route picks a ready instance of the service by the configs' weights,
	// within what q allows.
	Route(ctx context.Context, id string, q RouteQuery) (*Route, error)
}

// Model and service error codes.
var (
	CodeModelNotFound       = NewCode("ATL.MDL.0001", NotFound, "The model does not exist in the caller's tenant.")
	CodeModelExists         = NewCode("ATL.MDL.0002", Conflict, "A model with this name and version already exists in the workspace.")
	CodeInvalidModel        = NewCode("ATL.MDL.0003", Invalid, "The model's registration is invalid; the message names the field.")
	CodeModelInUse          = NewCode("ATL.MDL.0004", Conflict, "The model is used by a service; the message names it. Delete or update the service first.")
	CodeModelNotPublished   = NewCode("ATL.MDL.0005", FailedPrecondition, "The model is still publishing or failed its check; only published models deploy.")
	CodeModelListLimit      = NewCode("ATL.MDL.0006", Invalid, "limit is above the most models one page returns (150), or offset is negative.")
	CodeWorkspaceNotFound   = NewCode("ATL.MDL.0007", NotFound, "The workspace does not exist in the caller's tenant.")
	CodeServiceNotFound     = NewCode("ATL.SVC.0001", NotFound, "The service does not exist in the caller's tenant.")
	CodeServiceExists       = NewCode("ATL.SVC.0002", Conflict, "A service with this name already exists in the tenant.")
	CodeInvalidService      = NewCode("ATL.SVC.0003", Invalid, "The service's configuration is invalid; the message names the field.")
	CodeServiceNotReady     = NewCode("ATL.SVC.0004", Unavailable, "The service has no ready instance (deploying, stopped or failed); retry after Retry-After.")
	CodeServiceTimeout      = NewCode("ATL.SVC.0005", DeadlineExceeded, "The instance did not answer within the gateway's timeout.")
	CodeServiceResponseSize = NewCode("ATL.SVC.0006", Unavailable, "The instance's response is larger than the gateway's limit.")
	CodeServiceBadGateway   = NewCode("ATL.SVC.0007", Unavailable, "The instance failed to answer (it crashed or closed the connection).")
	CodeServiceState        = NewCode("ATL.SVC.0008", FailedPrecondition, "The operation does not apply in the service's state (e.g. start of a running service).")
)
