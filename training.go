package atelier

import (
	"context"
	"io"
	"time"
)

// Job states (ModelArts' training job lifecycle). A version moves
// CREATING → QUEUED → RUNNING → COMPLETED | FAILED | STOPPED; STOPPED and
// FAILED may also follow CREATING or QUEUED.
const (
	JobCreating  = "CREATING"
	JobQueued    = "QUEUED"
	JobRunning   = "RUNNING"
	JobCompleted = "COMPLETED"
	JobFailed    = "FAILED"
	JobStopped   = "STOPPED"
)

// JobStateFinal reports whether a version in state s will not change again.
func JobStateFinal(s string) bool {
	return s == JobCompleted || s == JobFailed || s == JobStopped
}

// TrainingJob is a named training job of a tenant; its runs are versions.
type TrainingJob struct {
	ID            string    `json:"job_id"`
	TenantID      string    `json:"tenant_id"`
	Name          string    `json:"job_name"` // [a-zA-Z0-9_-]{1,64}, unique per tenant
	Description   string    `json:"job_desc,omitempty"`
	LatestVersion int64     `json:"version_id"` // the newest version
	VersionCount  int       `json:"version_count"`
	State         string    `json:"status"` // the newest version's state
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// JobParam is one command-line parameter: "--name=value", or a bare
// "--name" when Value is nil (the seed's store_true rule).
type JobParam struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

// JobInput is data the job reads. ObsPath is an OBS directory (ending in
// "/") or a .zip object, which is unpacked. LocalPath is where the user's
// script expects it (the seed's local_path); the executor puts the data in
// the job's working directory and rewrites LocalPath in parameter values to
// that place (inputs/<i>/ of the working directory; outputs go to
// outputs/<i>/).
type JobInput struct {
	ObsPath   string `json:"obs_path"`
	LocalPath string `json:"local_path,omitempty"`
	// DatasetID and DatasetVersionID name a dataset version instead of
	// ObsPath (once datasets exist).
	DatasetID        string `json:"dataset_id,omitempty"`
	DatasetVersionID string `json:"dataset_version_id,omitempty"`
}

// JobOutput is a directory the job writes, uploaded to ObsPath when the job
// ends (whatever its end).
type JobOutput struct {
	ObsPath   string `json:"obs_path"`
	LocalPath string `json:"local_path,omitempty"`
}

// JobSpec is what a version runs. Exactly one of BootFile (with CodeDir) and
// UserCommand says what to start.
type JobSpec struct {
	Framework        string `json:"framework_type,omitempty"`
	FrameworkVersion string `json:"framework_version,omitempty"`
	// CodeDir is an OBS directory or an OBS .zip of the code (the SDK zips
	// a local code dir and uploads it); BootFile is relative to it.
	CodeDir           string            `json:"code_dir,omitempty"`
	BootFile          string            `json:"boot_file,omitempty"`
	UserCommand       string            `json:"user_command,omitempty"`
	ScriptInterpreter string            `json:"script_interpreter,omitempty"` // default: the framework's interpreter
	Parameters        []JobParam        `json:"parameters,omitempty"`
	Inputs            []JobInput        `json:"inputs,omitempty"`
	Outputs           []JobOutput       `json:"outputs,omitempty"`
	LogURL            string            `json:"log_url,omitempty"` // OBS directory the logs are copied to at the end
	Flavor            string            `json:"flavor_id"`         // train_instance_type
	InstanceCount     int               `json:"train_instance_count"`
	MaxRunSeconds     int64             `json:"max_run_seconds,omitempty"` // 0: the server's default
	Env               map[string]string `json:"env,omitempty"`
}

// JobVersion is one run of a job. Versions are numbered 1, 2, … per job.
type JobVersion struct {
	JobID      string    `json:"job_id"`
	TenantID   string    `json:"tenant_id"`
	VersionID  int64     `json:"version_id"`
	Name       string    `json:"version_name"` // "V0001"
	Desc       string    `json:"job_desc,omitempty"`
	Spec       JobSpec   `json:"spec"`
	State      string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	ExitCode   *int      `json:"exit_code,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Handle is the executor's serialised handle of the running gang, kept
	// so that a restarted server re-adopts it. Never shown.
	Handle string `json:"-"`
}

// JobEvent is one state transition of a version, persisted in order and
// published to subscribers (the events issue).
type JobEvent struct {
	JobID     string    `json:"job_id"`
	VersionID int64     `json:"version_id"`
	Seq       int64     `json:"seq"`
	State     string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Time      time.Time `json:"time"`
}

// Flavor is a resource specification jobs run on (get_spec_list).
type Flavor struct {
	ID       string `json:"flavor_id"`
	Name     string `json:"flavor_name"`
	MaxNum   int    `json:"max_num"` // most workers of one job
	CPU      int    `json:"cpu"`     // cores per worker
	MemoryMB int64  `json:"memory_mb"`
	GPU      int    `json:"gpu_num"`
	GPUType  string `json:"gpu_type,omitempty"`
	Executor string `json:"executor"` // which executor runs it
}

// Framework is a configured AI framework (get_framework_list).
type Framework struct {
	Type        string `json:"framework_type"`
	Version     string `json:"framework_version"`
	Interpreter string `json:"interpreter"` // e.g. "python3"
}

// JobFilter selects jobs of the caller's tenant.
type JobFilter struct {
	Name   string // exact
	State  string
	Limit  int
	Cursor string
}

// JobPage is one page of jobs, newest first.
type JobPage struct {
	Jobs       []*TrainingJob `json:"jobs"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// TrainingService runs training jobs for the caller's tenant.
// Implementations are safe for concurrent use.
type TrainingService interface {
	// SubmitJob creates job name (or a generated name when empty) with its
	// first version and starts it. CodeJobExists when the name is taken.
	SubmitJob(ctx context.Context, name, desc string, spec JobSpec) (*TrainingJob, *JobVersion, error)
	// CreateJobVersion runs the job again with the settings of version
	// pre (0: the latest) overridden by the non-zero fields of spec.
	CreateJobVersion(ctx context.Context, jobID string, pre int64, desc string, spec JobSpec) (*JobVersion, error)
	ListJobs(ctx context.Context, f JobFilter) (*JobPage, error)
	GetJob(ctx context.Context, jobID string) (*TrainingJob, error)
	ListVersions(ctx context.Context, jobID string) ([]*JobVersion, error)
	// GetVersion takes version 0 for the latest.
	GetVersion(ctx context.Context, jobID string, version int64) (*JobVersion, error)
	ListEvents(ctx context.Context, jobID string, version int64) ([]*JobEvent, error)
	// StopVersion stops a version that has not ended; stopping an ended one
	// is not an error.
	StopVersion(ctx context.Context, jobID string, version int64) (*JobVersion, error)
	// DeleteJob stops the job's running versions and deletes it.
	DeleteJob(ctx context.Context, jobID string) error
	// OpenLog opens the log of one worker ("worker-0", …) of a version from
	// byte offset; with follow, the reader blocks for more until the
	// version ends (and then returns io.EOF) or ctx ends.
	OpenLog(ctx context.Context, jobID string, version int64, task string, offset int64, follow bool) (io.ReadCloser, error)
	ListFlavors(ctx context.Context) ([]*Flavor, error)
	ListFrameworks(ctx context.Context) ([]*Framework, error)
}

// Training error codes.
var (
	CodeJobNotFound      = NewCode("ATL.TRN.0001", NotFound, "The training job or version does not exist in the caller's tenant.")
	CodeJobExists        = NewCode("ATL.TRN.0002", Conflict, "A training job with this name already exists in the tenant.")
	CodeInvalidJobName   = NewCode("ATL.TRN.0003", Invalid, "Job names are 1–64 characters of letters, digits, '_' and '-'.")
	CodeUnknownFlavor    = NewCode("ATL.TRN.0004", Invalid, "The flavor (train_instance_type) is not one of get_spec_list's flavor_id values.")
	CodeTooManyInstances = NewCode("ATL.TRN.0005", Invalid, "train_instance_count is above the flavor's max_num.")
	CodeUnknownFramework = NewCode("ATL.TRN.0006", Invalid, "The framework_type (and version) is not one of get_framework_list's.")
	CodeJobInputMissing  = NewCode("ATL.TRN.0007", Invalid, "An input, the code directory or the boot file does not exist; the message names it.")
	CodeInvalidJobSpec   = NewCode("ATL.TRN.0008", Invalid, "The job specification is invalid; the message names the field.")
	CodeTaskNotFound     = NewCode("ATL.TRN.0009", NotFound, "The job version has no worker with this task id (worker-0 … worker-N-1).")
)
