package training

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/workload"
)

// obsPath is a parsed object path (atelier.ParseObjectPath).
type obsPath = atelier.ObjectPath

// resolveSource finds what p names (workload.ResolveSource) and turns
// what the caller must fix into training's codes for field: a path that
// is not one, or a .zip that is not a safe zip, is CodeInvalidJobSpec;
// anything missing is CodeJobInputMissing.
func (s *Service) resolveSource(ctx context.Context, p, field string) (*workload.Source, error) {
	op, err := atelier.ParseObjectPath(p)
	if err != nil {
		return nil, invalid(field, "%s %q is not an OBS path. %s", field, p, atelier.ErrorMessage(err))
	}
	src, err := workload.ResolveSource(ctx, s.objects, op)
	var nb *workload.NoBucketError
	var ue *workload.UnsafeEntryError
	switch {
	case err == nil:
		return src, nil
	case errors.As(err, &nb):
		return nil, missing(field, "%s %q does not exist (no bucket %q).", field, p, nb.Bucket)
	case errors.Is(err, workload.ErrNoSource):
		return nil, missing(field, "%s %q does not exist.", field, p)
	case errors.As(err, &ue):
		return nil, invalid(field, "%s %q has an unsafe entry %q.", field, op.String(), ue.Entry)
	case errors.Is(err, workload.ErrBadZip):
		return nil, invalid(field, "%s %q is not a valid .zip file.", field, op.String())
	}
	return nil, fmt.Errorf("training: %s: %w", field, err)
}

// sourceHas reports whether the directory or zip src holds the file rel.
func (s *Service) sourceHas(ctx context.Context, src *workload.Source, rel string) (bool, error) {
	return src.Has(ctx, s.objects, rel)
}

// layout is where a version's files live in its working directory.
type layout struct {
	dir     string // the working directory
	code    string // dir/code
	inputs  []string
	outputs []string
}

func newLayout(dir string, spec *atelier.JobSpec) *layout {
	l := &layout{dir: dir, code: filepath.Join(dir, "code")}
	for i := range spec.Inputs {
		l.inputs = append(l.inputs, filepath.Join(dir, "inputs", strconv.Itoa(i)))
	}
	for i := range spec.Outputs {
		l.outputs = append(l.outputs, filepath.Join(dir, "outputs", strconv.Itoa(i)))
	}
	return l
}

// objectInput is an object-path input: resolved again when staging (the
// objects may have changed since the submit), with training's codes for
// field.
func (s *Service) objectInput(p, field string) *workload.ObjectInput {
	op, _ := atelier.ParseObjectPath(p) // checked at submit; Resolve says why not
	return &workload.ObjectInput{Path: op, Resolve: func(ctx context.Context) (*workload.Source, error) {
		return s.resolveSource(ctx, p, field)
	}}
}

// inputs are what the runtime stages into a version's working directory:
// the code (always a directory, empty without code_dir), then every
// input. Object paths are declared as such (the runtime stages them on
// the server or through presigned URLs); a dataset version only the
// server can stage.
func (s *Service) inputs(spec *atelier.JobSpec, l *layout) []workload.Input {
	code := workload.Input{Field: "spec.code_dir", Dir: l.code}
	if spec.CodeDir != "" {
		code.Object = s.objectInput(spec.CodeDir, "spec.code_dir")
	}
	ins := []workload.Input{code}
	for i, in := range spec.Inputs {
		if in.DatasetID != "" {
			field := fmt.Sprintf("spec.inputs[%d]", i)
			ins = append(ins, workload.Input{Field: field, Dir: l.inputs[i], Stage: func(ctx context.Context, dir, _ string) error {
				return s.stageDataset(ctx, in, dir, field)
			}})
			continue
		}
		field := fmt.Sprintf("spec.inputs[%d].obs_path", i)
		ins = append(ins, workload.Input{Field: field, Dir: l.inputs[i], Object: s.objectInput(in.ObsPath, field)})
	}
	return ins
}

// outputs are the version's output directories and where they go.
func outputs(spec *atelier.JobSpec, l *layout) []workload.Output {
	var out []workload.Output
	for i, o := range spec.Outputs {
		dest, _ := atelier.ParseObjectDir(o.ObsPath) // checked at submit
		out = append(out, workload.Output{Field: fmt.Sprintf("spec.outputs[%d]", i), Dir: l.outputs[i], Dest: dest})
	}
	return out
}
