package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
)

// Staging without a shared filesystem (docs/workloads.md): when the
// executor's driver says its tasks do not see the server's disk
// (Capabilities.SharedFS false), the runtime stages nothing on the
// server. It presigns a read URL for every object input and a write URL
// for every output, puts them in a StageManifest, and wraps the task's
// command as `<stager> task-stage -- <command…>` with the manifest in
// StageEnv: the atelier binary, inside the task, downloads the inputs,
// runs the command, and uploads the outputs.

// StageEnv is the variable that carries a task's manifest (JSON) to
// `atelier task-stage`, which removes it from the command's environment.
const StageEnv = "ATELIER_STAGE"

// StageCommand is the stager's subcommand; the task's command follows it
// after "--".
const StageCommand = "task-stage"

// Exit codes of `atelier task-stage` besides the command's own.
const (
	// StagerExitInputs: the manifest was bad or an input could not be
	// staged; the command did not run.
	StagerExitInputs = 117
	// StagerExitOutputs: the command exited 0 but its outputs could not
	// all be uploaded.
	StagerExitOutputs = 118
)

// StageManifestVersion is the version of StageManifest this package
// writes and reads.
const StageManifestVersion = 1

// StageManifest says what `atelier task-stage` fetches before the command
// and uploads after it. It holds presigned URLs, which are capabilities:
// it travels only in the task's environment and is never logged.
type StageManifest struct {
	Version int           `json:"version"`
	Inputs  []StageInput  `json:"inputs,omitempty"`
	Outputs []StageOutput `json:"outputs,omitempty"`
	// MaxUnzipBytes bounds what one .zip input unpacks to.
	MaxUnzipBytes int64 `json:"max_unzip_bytes,omitempty"`
}

// StageInput is one input of a manifest.
type StageInput struct {
	// Field names the input in errors ("spec.inputs[0].obs_path").
	Field string `json:"field"`
	// Dir is where it goes, relative to the task's working directory.
	Dir string `json:"dir"`
	// Kind is SourceDir (every object under the prefix, at its relative
	// key), SourceZip (unpacked), SourceObject (saved as its base name),
	// or "" (an empty directory).
	Kind SourceKind `json:"kind,omitempty"`
	// URL is, for SourceDir, the presigned listing URL of the prefix
	// (its objects are fetched with the same parameters), else the
	// presigned URL of the object.
	URL string `json:"url,omitempty"`
}

// StageOutput is one output of a manifest.
type StageOutput struct {
	Field string `json:"field"`
	// Dir is the directory uploaded, relative to the working directory.
	Dir string `json:"dir"`
	// URL is the presigned write URL of the destination prefix: a file
	// at <rel> under Dir goes to URL's path followed by <rel>, with the
	// same query.
	URL string `json:"url"`
}

// ParseStageManifest decodes and checks a manifest: unknown fields,
// directories outside the working directory, unknown kinds and URLs that
// are not http(s) are errors.
func ParseStageManifest(r io.Reader) (*StageManifest, error) {
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	dec.DisallowUnknownFields()
	var m StageManifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("the stage manifest is not valid JSON: %w", err)
	}
	if m.Version != StageManifestVersion {
		return nil, fmt.Errorf("the stage manifest is version %d, not %d", m.Version, StageManifestVersion)
	}
	checkURL := func(field, raw string) error {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasPrefix(u.Path, "/v1/obs/") {
			return fmt.Errorf("%s: the url is not an http(s) object store URL", field)
		}
		return nil
	}
	checkDir := func(field, dir string) error {
		if !filepath.IsLocal(dir) {
			return fmt.Errorf("%s: the directory %q is not inside the working directory", field, dir)
		}
		return nil
	}
	for _, in := range m.Inputs {
		if err := checkDir(in.Field, in.Dir); err != nil {
			return nil, err
		}
		switch in.Kind {
		case "":
			continue
		case SourceDir, SourceZip, SourceObject:
		default:
			return nil, fmt.Errorf("%s: unknown kind %q", in.Field, in.Kind)
		}
		if err := checkURL(in.Field, in.URL); err != nil {
			return nil, err
		}
	}
	for _, o := range m.Outputs {
		if err := checkDir(o.Field, o.Dir); err != nil {
			return nil, err
		}
		if err := checkURL(o.Field, o.URL); err != nil {
			return nil, err
		}
	}
	if m.MaxUnzipBytes < 0 {
		return nil, errors.New("max_unzip_bytes must not be negative")
	}
	return &m, nil
}

// SetTaskEndpoint sets the server's URL as tasks reach it, for a server
// that learns its address after New (a listener on port 0).
func (r *Runtime) SetTaskEndpoint(endpoint string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.TaskEndpoint = endpoint
}

func (r *Runtime) taskEndpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts.TaskEndpoint
}

// remoteTask returns the task of a workload whose executor shares no
// filesystem with the server: its command behind the stager, with a
// manifest of presigned URLs. It resolves every object input (the
// owner's resolver names its errors) and refuses inputs that only the
// server can stage.
func (r *Runtime) remoteTask(ctx context.Context, spec *Spec, ex *executor.Executor) (executor.Spec, error) {
	endpoint := r.taskEndpoint()
	if r.opts.Presigner == nil || r.opts.Stager == "" || endpoint == "" {
		return executor.Spec{}, &StageError{fmt.Sprintf("the tasks of executor %q share no filesystem with the server, and the server is not set up to stage through presigned URLs", ex.Name())}
	}
	if spec.Dir == "" || !filepath.IsAbs(spec.Dir) {
		return executor.Spec{}, errors.New("workload: the working directory must be absolute")
	}
	life := spec.Task.Timeout
	if life <= 0 {
		life = DefaultPresignLifetime
	}
	expires := r.clock.Now().Add(life + r.opts.PresignMargin)
	presign := func(access atelier.ObjectAccess, bucket, key string) (atelier.PresignedQuery, error) {
		return r.opts.Presigner.Presign(atelier.ObjectGrant{Tenant: spec.Tenant, Access: access, Bucket: bucket, Key: key, Expires: expires})
	}
	m := StageManifest{Version: StageManifestVersion, MaxUnzipBytes: spec.MaxUnzipBytes}
	for _, in := range spec.Inputs {
		rel, err := relDir(spec.Dir, in.Dir)
		if err != nil {
			return executor.Spec{}, &StepError{What: in.Field, Err: err}
		}
		si := StageInput{Field: in.Field, Dir: rel}
		switch {
		case in.Object != nil:
			src, err := r.resolve(ctx, &in)
			if err != nil {
				return executor.Spec{}, err
			}
			si.Kind = src.Kind
			var q atelier.PresignedQuery
			if src.Kind == SourceDir {
				q, err = presign(atelier.AccessRead, src.Bucket, src.Key)
				si.URL = atelier.ListURL(endpoint, src.Bucket, src.Key, q)
			} else {
				q, err = presign(atelier.AccessGet, src.Bucket, src.Key)
				si.URL = atelier.ObjectURL(endpoint, src.Bucket, src.Key, q)
			}
			if err != nil {
				return executor.Spec{}, &StepError{What: in.Field, Err: err}
			}
		case in.Stage != nil:
			return executor.Spec{}, &StepError{What: in.Field, Err: &StageError{fmt.Sprintf(
				"this input can only be staged on the server, and the tasks of executor %q share no filesystem with it", ex.Name())}}
		}
		m.Inputs = append(m.Inputs, si)
	}
	for _, o := range spec.Outputs {
		rel, err := relDir(spec.Dir, o.Dir)
		if err != nil {
			return executor.Spec{}, &StepError{What: o.Field, Err: err}
		}
		prefix := o.Dest.Key
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		q, err := presign(atelier.AccessWrite, o.Dest.Bucket, prefix)
		if err != nil {
			return executor.Spec{}, &StepError{What: o.Field, Err: err}
		}
		m.Outputs = append(m.Outputs, StageOutput{Field: o.Field, Dir: rel, URL: atelier.ObjectURL(endpoint, o.Dest.Bucket, prefix, q)})
	}
	b, err := json.Marshal(&m)
	if err != nil {
		return executor.Spec{}, err
	}
	task := spec.Task
	task.Env = maps.Clone(spec.Task.Env)
	if task.Env == nil {
		task.Env = map[string]string{}
	}
	task.Env[StageEnv] = string(b)
	task.Command = slices.Concat([]string{r.opts.Stager, StageCommand, "--"}, spec.Task.Command)
	return task, nil
}

// relDir returns dir relative to the working directory root, which it
// must lie in.
func relDir(root, dir string) (string, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || !filepath.IsLocal(rel) {
		return "", errors.New("workload: the directory is not inside the working directory")
	}
	return filepath.ToSlash(rel), nil
}

// remoteResult turns the stager's own exit codes into what they mean: a
// task that could not stage its inputs never ran its command (Err), one
// whose outputs could not be uploaded completed (OutputsFailed).
func remoteResult(out *Result) {
	x := out.Exit
	if x == nil || x.Kind != driver.ExitFailed {
		return
	}
	switch x.Code {
	case StagerExitInputs:
		out.Err = &StageError{"the task could not stage its inputs: " + x.Message}
	case StagerExitOutputs:
		out.OutputsFailed = true
		out.Notes = append(out.Notes, "uploading the outputs failed: "+x.Message)
		c := *x
		c.Kind, c.Code, c.Worker, c.Message = driver.ExitCompleted, 0, -1, ""
		out.Exit = &c
	}
}

// DefaultPresignLifetime is how long the URLs of a task without a
// timeout live (plus Options.PresignMargin).
const DefaultPresignLifetime = 7 * 24 * time.Hour
