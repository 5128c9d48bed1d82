package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

var (
	modelNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	modelVerRE    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,32}$`)
	modelTypeRE   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,32}$`)
	workspaceRE   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	maxDescLen    = 512
	maxParamBytes = 64 << 10
)

func invalidModel(field, format string, args ...any) error {
	return atelier.CodeInvalidModel.Errorf(format, args...).WithField(field)
}

// checkModelSpec validates what a user registers, naming the field of the
// first problem.
func checkModelSpec(spec *atelier.ModelSpec) error {
	switch {
	case !modelNameRE.MatchString(spec.Name):
		return invalidModel("model_name", "model_name must be 1–64 letters, digits, '_' or '-', not %q.", spec.Name)
	case !modelVerRE.MatchString(spec.Version):
		return invalidModel("model_version", "model_version must be 1–32 letters, digits, '.', '_' or '-' (e.g. 0.0.1), not %q.", spec.Version)
	case !modelTypeRE.MatchString(spec.ModelType):
		return invalidModel("model_type", "model_type must name the framework (TensorFlow, PyTorch, Custom, …), not %q.", spec.ModelType)
	case utf8.RuneCountInString(spec.Description) > maxDescLen || !utf8.ValidString(spec.Description):
		return invalidModel("description", "description must be UTF-8 of at most %d characters.", maxDescLen)
	case len(spec.Runtime) > 64:
		return invalidModel("runtime", "runtime must be at most 64 characters.")
	case len(spec.ExecutionCode) > 1024:
		return invalidModel("execution_code", "execution_code must be at most 1024 characters.")
	}
	if spec.WorkspaceID != "" && spec.WorkspaceID != atelier.DefaultWorkspace && !workspaceRE.MatchString(spec.WorkspaceID) {
		return invalidModel("workspace_id", "workspace_id %q is not a workspace id.", spec.WorkspaceID)
	}
	for _, p := range []struct {
		field string
		raw   json.RawMessage
	}{{"input_params", spec.InputParams}, {"output_params", spec.OutputParams}, {"dependencies", spec.Dependencies}, {"apis", spec.APIs}} {
		if len(p.raw) == 0 {
			continue
		}
		if len(p.raw) > maxParamBytes {
			return invalidModel(p.field, "%s must be at most %d bytes of JSON.", p.field, maxParamBytes)
		}
		if !json.Valid(p.raw) {
			return invalidModel(p.field, "%s is not valid JSON.", p.field)
		}
	}
	hasLoc := spec.SourceLocation != ""
	hasJob := spec.SourceJobID != "" || spec.SourceJobVersion != ""
	switch {
	case hasLoc && hasJob:
		return invalidModel("source_location", "Give source_location or source_job_id with source_job_version, not both.")
	case !hasLoc && !hasJob:
		return invalidModel("source_location", "source_location (an OBS directory of the model package) is required, or source_job_id with source_job_version.")
	case hasLoc:
		p, err := atelier.ParseObjectPath(spec.SourceLocation)
		if err != nil {
			return invalidModel("source_location", "source_location: %s", atelier.ErrorMessage(err))
		}
		if !p.IsDir() || p.Key == "" {
			return invalidModel("source_location", "source_location must be a directory in a bucket, ending in '/' (e.g. obs://bucket/model/), not %q.", spec.SourceLocation)
		}
	case spec.SourceJobID == "":
		return invalidModel("source_job_id", "source_job_id is required with source_job_version.")
	case spec.SourceJobVersion == "":
		return invalidModel("source_job_version", "source_job_version is required with source_job_id.")
	}
	return nil
}

// RegisterModel implements atelier.ModelService.
func (s *Service) RegisterModel(ctx context.Context, spec atelier.ModelSpec) (*atelier.Model, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkModelSpec(&spec); err != nil {
		return nil, err
	}
	ws, err := s.workspace(ctx, tenant, spec.WorkspaceID)
	if err != nil {
		return nil, err
	}
	loc := spec.SourceLocation
	if spec.SourceJobID != "" {
		if loc, err = s.jobOutput(ctx, spec.SourceJobID, spec.SourceJobVersion); err != nil {
			return nil, err
		}
	}
	p, _ := atelier.ParseObjectPath(loc)
	if _, err := s.objects.GetBucket(ctx, p.Bucket); err != nil {
		if atelier.IsKind(err, atelier.NotFound) {
			return nil, invalidModel("source_location", "source_location: no bucket %q in this tenant.", p.Bucket)
		}
		return nil, err
	}
	var owner string
	if pr := atelier.PrincipalFromContext(ctx); pr != nil {
		owner = pr.UserID
	}
	now := s.now()
	m := &atelier.Model{
		ID: atelier.NewID(), TenantID: tenant, WorkspaceID: ws,
		Name: spec.Name, Version: spec.Version, Description: spec.Description,
		SourceLocation: p.String(), SourceJobID: spec.SourceJobID, SourceJobVersion: spec.SourceJobVersion,
		ModelType: spec.ModelType, Runtime: spec.Runtime, ExecutionCode: spec.ExecutionCode,
		InputParams: spec.InputParams, OutputParams: spec.OutputParams, Dependencies: spec.Dependencies, APIs: spec.APIs,
		Status: atelier.ModelPublishing, Owner: owner, CreatedAt: now, UpdatedAt: now,
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateModel(ctx, m); err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, atelier.NewModelStatusEvent(m, "", now)); err != nil {
			return err
		}
		_, _, err := s.queue.Insert(ctx, tx, KindCheck, checkArgs{Tenant: tenant, Model: m.ID}, queue.InsertOpts{UniqueKey: KindCheck + ":" + m.ID})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, atelier.CodeModelExists.Errorf("Model %s version %s already exists in workspace %s.", spec.Name, spec.Version, ws).WithField("model_version")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// jobOutput finds the package a completed training job version wrote: its
// first output directory, or the model/ directory in it when that holds a
// config.json (ModelArts' layout).
func (s *Service) jobOutput(ctx context.Context, jobID, version string) (string, error) {
	if s.opts.Jobs == nil {
		return "", invalidModel("source_job_id", "This server registers models from OBS directories only (no training service).")
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimPrefix(version, "V"), "v"), 10, 64)
	if err != nil || n < 1 {
		return "", invalidModel("source_job_version", "source_job_version must be a version number (1, 2, … or V0001), not %q.", version)
	}
	v, err := s.opts.Jobs.GetVersion(ctx, jobID, n)
	if err != nil {
		if atelier.IsKind(err, atelier.NotFound) {
			return "", invalidModel("source_job_id", "No training job %s with version %d in this tenant.", jobID, n)
		}
		return "", err
	}
	if v.State != atelier.JobCompleted {
		return "", invalidModel("source_job_version", "Training job %s version %d is %s; only a COMPLETED version's output registers.", jobID, n, v.State)
	}
	if len(v.Spec.Outputs) == 0 {
		return "", invalidModel("source_job_version", "Training job %s version %d has no output directory.", jobID, n)
	}
	out, err := atelier.ParseObjectPath(v.Spec.Outputs[0].ObsPath)
	if err != nil || !out.IsDir() {
		return "", invalidModel("source_job_version", "Training job %s version %d's output is not a directory.", jobID, n)
	}
	sub := atelier.ObjectPath{Bucket: out.Bucket, Key: out.Key + "model/"}
	if _, err := s.objects.StatObject(ctx, sub.Bucket, sub.Key+"config.json"); err == nil {
		return sub.String(), nil
	}
	return out.String(), nil
}

// GetModel implements atelier.ModelService.
func (s *Service) GetModel(ctx context.Context, id string) (*atelier.Model, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.getModel(ctx, tenant, id)
}

func (s *Service) getModel(ctx context.Context, tenant, id string) (*atelier.Model, error) {
	m, err := s.st.GetModel(ctx, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, atelier.CodeModelNotFound.Errorf("No model %q in this tenant.", id).WithField("model_id")
	}
	return m, err
}

// ListModels implements atelier.ModelService with the seed's semantics.
func (s *Service) ListModels(ctx context.Context, f atelier.ModelFilter) (*atelier.ModelPage, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Offset < 0:
		return nil, atelier.CodeModelListLimit.Errorf("offset must be 0 or more, not %d.", f.Offset).WithField("offset")
	case f.Limit < 0 || f.Limit > atelier.MaxModelPage:
		return nil, atelier.CodeModelListLimit.Errorf("limit must be 1–%d (the most models one page returns), not %d.", atelier.MaxModelPage, f.Limit).WithField("limit")
	}
	if f.Limit == 0 {
		f.Limit = atelier.DefaultModelPage
	}
	switch f.SortBy {
	case "":
		f.SortBy = atelier.ModelSortCreateAt
	case atelier.ModelSortCreateAt, atelier.ModelSortVersion, atelier.ModelSortSize:
	default:
		return nil, invalidModel("sort_by", "sort_by must be create_at, model_version or model_size, not %q.", f.SortBy)
	}
	switch strings.ToLower(f.Order) {
	case "":
		f.Order = "desc"
	case "asc", "desc":
		f.Order = strings.ToLower(f.Order)
	default:
		return nil, invalidModel("order", "order must be asc or desc, not %q.", f.Order)
	}
	switch f.Status {
	case "", atelier.ModelPublishing, atelier.ModelPublished, atelier.ModelFailed:
	default:
		return nil, invalidModel("model_status", "model_status must be publishing, published or failed, not %q.", f.Status)
	}
	if f.WorkspaceID == "" {
		f.WorkspaceID = atelier.DefaultWorkspace
	}
	if len(f.Name) > 256 || len(f.Description) > 256 || len(f.Version) > 64 {
		return nil, invalidModel("model_name", "Filters are at most 256 characters.")
	}
	return s.st.ListModels(ctx, tenant, f)
}

// DeleteModel implements atelier.ModelService.
func (s *Service) DeleteModel(ctx context.Context, id string) error {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	usedBy, err := s.st.DeleteModel(ctx, tenant, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return atelier.CodeModelNotFound.Errorf("No model %q in this tenant.", id).WithField("model_id")
	case errors.Is(err, store.ErrConflict):
		return atelier.CodeModelInUse.Errorf("Model %s is used by service %s; delete the service or deploy another model first.", id, usedBy).WithField("model_id")
	}
	return err
}

// CreateWorkspace implements atelier.ModelService.
func (s *Service) CreateWorkspace(ctx context.Context, name, desc string) (*atelier.Workspace, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if !workspaceRE.MatchString(name) || name == "default" {
		return nil, invalidModel("name", "A workspace name is 1–64 letters, digits, '_' or '-' (and not \"default\"), not %q.", name)
	}
	if utf8.RuneCountInString(desc) > maxDescLen {
		return nil, invalidModel("description", "description must be at most %d characters.", maxDescLen)
	}
	w := &atelier.Workspace{ID: atelier.NewID(), TenantID: tenant, Name: name, Description: desc, CreatedAt: s.now()}
	if err := s.st.CreateWorkspace(ctx, w); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, atelier.CodeInvalidModel.Errorf("A workspace named %q already exists.", name).WithField("name")
		}
		return nil, err
	}
	return w, nil
}

// workspace returns the id of the workspace a registration or a deploy
// names ("" is the default one, which always exists), or
// CodeWorkspaceNotFound.
func (s *Service) workspace(ctx context.Context, tenant, id string) (string, error) {
	if id == "" || id == atelier.DefaultWorkspace {
		return atelier.DefaultWorkspace, nil
	}
	_, err := s.st.GetWorkspace(ctx, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", atelier.CodeWorkspaceNotFound.Errorf("No workspace %q in this tenant.", id).WithField("workspace_id")
	}
	return id, err
}

// ListWorkspaces implements atelier.ModelService.
func (s *Service) ListWorkspaces(ctx context.Context) ([]*atelier.Workspace, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.st.ListWorkspaces(ctx, tenant)
}

// setModelStatus moves a publishing model to its checked state, with its
// event, in one transaction. A model no longer publishing (checked by an
// earlier run of the item) is left as it is.
func (s *Service) setModelStatus(ctx context.Context, tenant, id string, fn func(m *atelier.Model)) error {
	now := s.now()
	return s.st.InTx(ctx, func(tx store.Store) error {
		var previous string
		m, err := tx.UpdateModel(ctx, tenant, id, func(m *atelier.Model) error {
			previous = m.Status
			if m.Status != atelier.ModelPublishing {
				return errDone
			}
			fn(m)
			m.UpdatedAt = now
			return nil
		})
		if errors.Is(err, errDone) || errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.AppendEvent(ctx, atelier.NewModelStatusEvent(m, previous, now))
	})
}

var errDone = errors.New("serving: nothing to do")

// modelRef formats a model for messages.
func modelRef(m *atelier.Model) string { return fmt.Sprintf("%s %s (%s)", m.Name, m.Version, m.ID) }
