package training

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/workload"
)

var (
	jobNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	paramNameRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$`)
	envNameRE   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)
)

// SubmitJob creates a job with its first version and starts staging it.
func (s *Service) SubmitJob(ctx context.Context, name, desc string, spec atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error) {
	p := atelier.PrincipalFromContext(ctx)
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	if name == "" {
		name = s.generateName()
	}
	if !jobNameRE.MatchString(name) {
		return nil, nil, atelier.CodeInvalidJobName.Errorf("The job name %q is not 1–64 letters, digits, '_' or '-'.", name).WithField("job_name")
	}
	spec = cloneSpec(spec)
	if err := s.validateSpec(ctx, &spec); err != nil {
		return nil, nil, err
	}
	if err := s.accepting(); err != nil {
		return nil, nil, err
	}
	now := s.now()
	j := &atelier.TrainingJob{
		ID: atelier.NewID(), TenantID: tenant, Name: name, Description: desc,
		CreatedAt: now, UpdatedAt: now,
	}
	v := &atelier.JobVersion{
		JobID: j.ID, TenantID: tenant, Name: versionName(1), Desc: desc,
		Spec: spec, State: atelier.JobCreating, CreatedAt: now,
	}
	if err := s.createJob(ctx, j, v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, nil, atelier.CodeJobExists.Errorf("A training job named %q already exists.", name).WithField("job_name")
		}
		return nil, nil, fmt.Errorf("training: create job: %w", err)
	}
	s.emitFirst(ctx, v)
	s.launch(ctx, v, userOf(p))
	j, err = s.job(ctx, tenant, j.ID)
	if err != nil {
		return nil, nil, err
	}
	return j, v, nil
}

// CreateJobVersion runs a job again with the spec of version pre (0: the
// latest) overridden by the non-zero fields of spec.
func (s *Service) CreateJobVersion(ctx context.Context, jobID string, pre int64, desc string, spec atelier.JobSpec) (*atelier.JobVersion, error) {
	p := atelier.PrincipalFromContext(ctx)
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	j, err := s.job(ctx, tenant, jobID)
	if err != nil {
		return nil, err
	}
	base, err := s.version(ctx, jobID, pre)
	if err != nil {
		var ae *atelier.Error
		if errors.As(err, &ae) {
			ae.WithField("pre_version_id")
		}
		return nil, err
	}
	merged := mergeSpec(base.Spec, spec)
	if err := s.validateSpec(ctx, &merged); err != nil {
		return nil, err
	}
	if err := s.accepting(); err != nil {
		return nil, err
	}
	if desc == "" {
		desc = base.Desc
	}
	v := &atelier.JobVersion{
		JobID: jobID, TenantID: tenant, Name: versionName(j.LatestVersion + 1), Desc: desc,
		Spec: merged, State: atelier.JobCreating, CreatedAt: s.now(),
	}
	// The store numbers and names the version (a version created
	// concurrently takes the next number and its name).
	if err := s.createVersion(ctx, v); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoJob(jobID)
		}
		return nil, fmt.Errorf("training: create version: %w", err)
	}
	s.emitFirst(ctx, v)
	s.launch(ctx, v, userOf(p))
	return v, nil
}

// DeleteJob stops the job's active versions, deletes it and removes its
// working directories.
func (s *Service) DeleteJob(ctx context.Context, jobID string) error {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	if _, err := s.job(ctx, tenant, jobID); err != nil {
		return err
	}
	vs, err := s.st.ListVersions(ctx, jobID)
	if err != nil {
		return fmt.Errorf("training: list versions: %w", err)
	}
	for _, v := range vs {
		if atelier.JobStateFinal(v.State) {
			continue
		}
		if _, err := s.stopVersion(ctx, v, "the job was deleted"); err != nil {
			return err
		}
	}
	// Wait for the runtime's work on the job, so that nothing writes into
	// the working directory after it is removed, then let the executor
	// forget the tasks (their logs and state).
	for _, v := range vs {
		select {
		case <-s.rt.Done(workloadID(jobID, v.VersionID)):
		case <-ctx.Done():
			return ctx.Err()
		}
		if h := storedHandle(v); h != nil {
			if err := s.rt.Forget(ctx, h); err != nil {
				s.log.WarnContext(ctx, "training: forget task", "job", jobID, "version", v.VersionID, "err", err)
			}
		}
	}
	if err := s.st.DeleteJob(ctx, tenant, jobID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoJob(jobID)
		}
		return fmt.Errorf("training: delete job: %w", err)
	}
	if err := os.RemoveAll(s.jobDir(jobID)); err != nil {
		s.log.WarnContext(ctx, "training: remove working directory", "job", jobID, "err", err)
	}
	return nil
}

// accepting refuses new work once the service is stopping.
func (s *Service) accepting() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return atelier.CodeUnavailable.Errorf("The server is shutting down.")
	}
	return nil
}

// emitFirst publishes a new version's first event (CREATING).
func (s *Service) emitFirst(ctx context.Context, v *atelier.JobVersion) {
	if s.opts.OnEvent == nil {
		return
	}
	if evs, err := s.st.ListEvents(ctx, v.JobID, v.VersionID); err == nil && len(evs) > 0 {
		s.opts.OnEvent(*evs[0])
	}
}

func userOf(p *atelier.Principal) string {
	if p == nil {
		return ""
	}
	return p.UserID
}

func versionName(n int64) string { return fmt.Sprintf("V%04d", n) }

func (s *Service) generateName() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "job-" + s.clock.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// cloneSpec copies the slices and map of spec so that callers' values are
// never shared with stored ones.
func cloneSpec(spec atelier.JobSpec) atelier.JobSpec {
	spec.Parameters = slices.Clone(spec.Parameters)
	spec.Inputs = slices.Clone(spec.Inputs)
	spec.Outputs = slices.Clone(spec.Outputs)
	spec.Env = maps.Clone(spec.Env)
	return spec
}

// mergeSpec returns base overridden by the non-zero fields of over.
// Parameters, Inputs, Outputs and Env replace base's as a whole when not
// nil. Giving a user_command drops base's boot file and the other way
// round.
func mergeSpec(base, over atelier.JobSpec) atelier.JobSpec {
	m := cloneSpec(base)
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.Framework, over.Framework)
	set(&m.FrameworkVersion, over.FrameworkVersion)
	set(&m.CodeDir, over.CodeDir)
	if over.UserCommand != "" && over.BootFile == "" {
		m.BootFile = ""
	}
	if over.BootFile != "" && over.UserCommand == "" {
		m.UserCommand = ""
	}
	set(&m.BootFile, over.BootFile)
	set(&m.UserCommand, over.UserCommand)
	set(&m.ScriptInterpreter, over.ScriptInterpreter)
	set(&m.LogURL, over.LogURL)
	set(&m.Flavor, over.Flavor)
	if over.InstanceCount != 0 {
		m.InstanceCount = over.InstanceCount
	}
	if over.MaxRunSeconds != 0 {
		m.MaxRunSeconds = over.MaxRunSeconds
	}
	if over.Parameters != nil {
		m.Parameters = slices.Clone(over.Parameters)
	}
	if over.Inputs != nil {
		m.Inputs = slices.Clone(over.Inputs)
	}
	if over.Outputs != nil {
		m.Outputs = slices.Clone(over.Outputs)
	}
	if over.Env != nil {
		m.Env = maps.Clone(over.Env)
	}
	return m
}

func invalid(field, format string, args ...any) *atelier.Error {
	return atelier.CodeInvalidJobSpec.Errorf(format, args...).WithField(field)
}

func missing(field, format string, args ...any) *atelier.Error {
	return atelier.CodeJobInputMissing.Errorf(format, args...).WithField(field)
}

// validateSpec checks spec, normalises it (defaults, the boot file made
// relative to the code directory) and checks that its code, boot file and
// inputs exist in the caller's object store. It writes nothing.
func (s *Service) validateSpec(ctx context.Context, spec *atelier.JobSpec) error {
	if err := s.checkSpec(spec); err != nil {
		return err
	}
	return s.checkObjects(ctx, spec)
}

// checkSpec is the part of validateSpec that needs no I/O.
func (s *Service) checkSpec(spec *atelier.JobSpec) error {
	fl := s.flavor(spec.Flavor)
	switch {
	case spec.Flavor == "":
		return invalid("spec.flavor_id", "spec.flavor_id (train_instance_type) is required.")
	case fl == nil:
		return atelier.CodeUnknownFlavor.Errorf("The flavor %q is not one of get_spec_list's flavors.", spec.Flavor).WithField("spec.flavor_id")
	}
	if spec.InstanceCount == 0 {
		spec.InstanceCount = 1
	}
	if spec.InstanceCount < 0 {
		return invalid("spec.train_instance_count", "spec.train_instance_count must be at least 1.")
	}
	if max := max(fl.MaxNum, 1); spec.InstanceCount > max {
		return atelier.CodeTooManyInstances.Errorf("train_instance_count %d is above the flavor %s's max_num %d.", spec.InstanceCount, fl.ID, max).WithField("spec.train_instance_count")
	}
	if spec.Framework == "" && spec.FrameworkVersion != "" {
		return invalid("spec.framework_type", "spec.framework_version needs a spec.framework_type.")
	}
	if spec.Framework != "" && s.framework(spec.Framework, spec.FrameworkVersion) == nil {
		field := "spec.framework_type"
		if s.framework(spec.Framework, "") != nil {
			field = "spec.framework_version"
		}
		return atelier.CodeUnknownFramework.Errorf("The framework %q %q is not one of get_framework_list's.", spec.Framework, spec.FrameworkVersion).WithField(field)
	}
	switch {
	case spec.BootFile == "" && spec.UserCommand == "":
		return invalid("spec.boot_file", "Give spec.boot_file (with spec.code_dir) or spec.user_command.")
	case spec.BootFile != "" && spec.UserCommand != "":
		return invalid("spec.user_command", "Give spec.boot_file or spec.user_command, not both.")
	case spec.BootFile != "" && spec.CodeDir == "":
		return invalid("spec.code_dir", "spec.code_dir is required with spec.boot_file.")
	}
	if spec.CodeDir != "" {
		if _, err := atelier.ParseObjectPath(spec.CodeDir); err != nil {
			return invalid("spec.code_dir", "spec.code_dir %q is not an OBS path (obs://bucket/dir/ or obs://bucket/code.zip). %s", spec.CodeDir, atelier.ErrorMessage(err))
		}
	}
	if spec.BootFile != "" {
		rel, err := relativeBootFile(spec.CodeDir, spec.BootFile)
		if err != nil {
			return invalid("spec.boot_file", "spec.boot_file %q must be a path inside spec.code_dir.", spec.BootFile)
		}
		spec.BootFile = rel
	}
	for i, p := range spec.Parameters {
		if !paramNameRE.MatchString(p.Name) {
			return invalid(fmt.Sprintf("spec.parameters[%d].name", i), "The parameter name %q is not letters, digits, '_', '.' or '-' (without the leading --).", p.Name)
		}
	}
	for i, in := range spec.Inputs {
		field := fmt.Sprintf("spec.inputs[%d]", i)
		if in.DatasetID != "" || in.DatasetVersionID != "" {
			switch {
			case in.DatasetID == "" || in.DatasetVersionID == "":
				return invalid(field+".dataset_version_id", "%s needs both dataset_id and dataset_version_id.", field)
			case in.ObsPath != "":
				return invalid(field+".obs_path", "%s takes either obs_path or a dataset version, not both.", field)
			case s.opts.Datasets == nil:
				return invalid(field+".dataset_id", "This server has no dataset service; give an obs_path.")
			case !s.sharedFS(fl):
				return invalid(field+".dataset_id", "%s: a dataset version is staged on the server, and the tasks of flavor %s's executor share no filesystem with it; give an obs_path.", field, fl.ID)
			}
			continue
		}
		if in.ObsPath == "" {
			return invalid(field+".obs_path", "%s.obs_path is required.", field)
		}
		if _, err := atelier.ParseObjectPath(in.ObsPath); err != nil {
			return invalid(field+".obs_path", "%s.obs_path %q is not an OBS path. %s", field, in.ObsPath, atelier.ErrorMessage(err))
		}
	}
	for i, out := range spec.Outputs {
		field := fmt.Sprintf("spec.outputs[%d].obs_path", i)
		if _, err := atelier.ParseObjectDir(out.ObsPath); err != nil {
			return invalid(field, "%s %q is not an OBS directory (obs://bucket/dir/). %s", field, out.ObsPath, atelier.ErrorMessage(err))
		}
	}
	if spec.LogURL != "" {
		if _, err := atelier.ParseObjectDir(spec.LogURL); err != nil {
			return invalid("spec.log_url", "spec.log_url %q is not an OBS directory (obs://bucket/dir/). %s", spec.LogURL, atelier.ErrorMessage(err))
		}
	}
	if spec.MaxRunSeconds < 0 {
		return invalid("spec.max_run_seconds", "spec.max_run_seconds must not be negative.")
	}
	for k := range spec.Env {
		if !envNameRE.MatchString(k) {
			return invalid("spec.env", "The environment variable name %q is invalid.", k)
		}
	}
	return nil
}

// sharedFS reports whether the tasks of flavor f's executor see the
// server's filesystem (what only the server can stage needs it); true
// when the executor is unknown (the submit refuses that later).
func (s *Service) sharedFS(f *atelier.Flavor) bool {
	if s.rt == nil {
		return true
	}
	ex, err := s.rt.Executors().Get(f.Executor)
	return err != nil || ex.Capabilities().SharedFS
}

func (s *Service) flavor(id string) *atelier.Flavor {
	for _, f := range s.opts.Flavors {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// framework returns the configured framework of that type (and version,
// when given), matching the type without regard to case.
func (s *Service) framework(typ, version string) *atelier.Framework {
	for _, f := range s.opts.Frameworks {
		if strings.EqualFold(f.Type, typ) && (version == "" || f.Version == version) {
			return f
		}
	}
	return nil
}

// relativeBootFile returns the boot file relative to the code directory.
// It accepts a relative path (v2) or an OBS path inside the code directory
// (v1's "/bucket/src/boot.py").
func relativeBootFile(codeDir, boot string) (string, error) {
	if atelier.HasObjectScheme(boot) || strings.HasPrefix(boot, "/") {
		bp, err := atelier.ParseObjectPath(boot)
		if err != nil {
			return "", err
		}
		cp, err := atelier.ParseObjectPath(codeDir)
		if err != nil {
			return "", err
		}
		if strings.HasSuffix(strings.ToLower(cp.Key), ".zip") || bp.Bucket != cp.Bucket {
			return "", errors.New("boot file outside the code dir")
		}
		prefix := cp.Key
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		rel, ok := strings.CutPrefix(bp.Key, prefix)
		if !ok {
			return "", errors.New("boot file outside the code dir")
		}
		boot = rel
	}
	boot = strings.TrimPrefix(boot, "./")
	if boot == "" || strings.HasPrefix(boot, "/") || strings.Contains(boot, "\\") {
		return "", errors.New("bad boot file")
	}
	c := path.Clean(boot)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || !filepath.IsLocal(filepath.FromSlash(c)) {
		return "", errors.New("bad boot file")
	}
	return c, nil
}

// checkObjects checks that the code directory, the boot file, the inputs
// and the buckets of the outputs and the log URL exist.
func (s *Service) checkObjects(ctx context.Context, spec *atelier.JobSpec) error {
	if spec.CodeDir != "" {
		src, err := s.resolveSource(ctx, spec.CodeDir, "spec.code_dir")
		if err != nil {
			return err
		}
		if src.Kind == workload.SourceObject {
			return invalid("spec.code_dir", "spec.code_dir %q is a file, not a directory or a .zip.", spec.CodeDir)
		}
		spec.CodeDir = src.String()
		if spec.BootFile != "" {
			ok, err := s.sourceHas(ctx, src, spec.BootFile)
			if err != nil {
				return err
			}
			if !ok {
				return missing("spec.boot_file", "The boot file %q is not in spec.code_dir.", spec.BootFile)
			}
		}
	}
	for i := range spec.Inputs {
		if in := spec.Inputs[i]; in.DatasetID != "" {
			if _, err := s.datasetManifest(ctx, in, fmt.Sprintf("spec.inputs[%d]", i)); err != nil {
				return err
			}
			continue
		}
		field := fmt.Sprintf("spec.inputs[%d].obs_path", i)
		src, err := s.resolveSource(ctx, spec.Inputs[i].ObsPath, field)
		if err != nil {
			return err
		}
		spec.Inputs[i].ObsPath = src.String()
	}
	for i, out := range spec.Outputs {
		if err := s.checkBucket(ctx, out.ObsPath, fmt.Sprintf("spec.outputs[%d].obs_path", i)); err != nil {
			return err
		}
	}
	if spec.LogURL != "" {
		if err := s.checkBucket(ctx, spec.LogURL, "spec.log_url"); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) checkBucket(ctx context.Context, p, field string) error {
	op, _ := atelier.ParseObjectPath(p)
	if _, err := s.objects.GetBucket(ctx, op.Bucket); err != nil {
		if notFound(err) {
			return missing(field, "The bucket %q of %s does not exist.", op.Bucket, field)
		}
		return fmt.Errorf("training: check %s: %w", field, err)
	}
	return nil
}

// notFound reports whether err is the object store's not-found (bucket or
// object) or an invalid name, which cannot exist either.
func notFound(err error) bool {
	var ae *atelier.Error
	return errors.As(err, &ae) && (ae.Kind == atelier.NotFound || ae.Code == atelier.CodeInvalidBucketName.ID || ae.Code == atelier.CodeInvalidObjectKey.ID)
}
