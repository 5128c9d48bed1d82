package dataset

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Sample paging.
const (
	DefaultSampleLimit = 100
	MaxSampleLimit     = 1000
	// MaxDeleteSamples is the most samples one DeleteSamples call takes.
	MaxDeleteSamples = 1000
)

// Relation annotation properties of a text triplet (the entity annotations
// they join).
const (
	PropFrom = "@modelarts:from"
	PropTo   = "@modelarts:to"
)

func validUsage(u string) bool {
	switch u {
	case atelier.UsageTrain, atelier.UsageEval, atelier.UsageTest, atelier.UsageInference:
		return true
	}
	return false
}

// ListSamples returns a page of a dataset's samples in id order, filtered.
// The cursor is the last sample id of the previous page.
func (s *Service) ListSamples(ctx context.Context, id string, f atelier.SampleFilter) (*atelier.SamplePage, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > MaxSampleLimit {
		return nil, atelier.CodeInvalidParam.Errorf("limit must be between 1 and %d.", MaxSampleLimit).WithField("limit")
	}
	if f.Usage != "" && !validUsage(f.Usage) {
		return nil, atelier.CodeInvalidParam.Errorf("usage %q is not one of TRAIN, EVAL, TEST, INFERENCE.", f.Usage).WithField("usage")
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultSampleLimit
	}
	// One more than the page tells whether there is a next one; at the
	// store's maximum a full page gets a cursor (the next may be empty).
	f.Limit = min(limit+1, MaxSampleLimit)
	ss, err := s.st.ListSamples(ctx, id, f)
	if err != nil {
		return nil, fmt.Errorf("dataset: list samples: %w", err)
	}
	page := &atelier.SamplePage{Samples: ss}
	if len(ss) > limit || len(ss) == MaxSampleLimit {
		page.Samples = ss[:limit]
		page.NextCursor = ss[limit-1].ID
	}
	if page.Samples == nil {
		page.Samples = []*atelier.Sample{}
	}
	return page, nil
}

// GetSample returns one sample of a dataset.
func (s *Service) GetSample(ctx context.Context, id, sampleID string) (*atelier.Sample, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	smp, err := s.st.GetSample(ctx, id, sampleID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoSample(sampleID)
		}
		return nil, fmt.Errorf("dataset: get sample: %w", err)
	}
	return smp, nil
}

func errNoSample(id string) *atelier.Error {
	return atelier.CodeDatasetNotFound.Errorf("The sample %q does not exist.", id).WithField("sample_id")
}

// SetAnnotations replaces a sample's annotations, each of whose names must
// be a label of the dataset of the right type, and sets its usage ("" keeps
// it).
func (s *Service) SetAnnotations(ctx context.Context, id, sampleID string, annotations []atelier.Annotation, usage string) (*atelier.Sample, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if usage != "" && !validUsage(usage) {
		return nil, atelier.CodeInvalidParam.Errorf("usage %q is not one of TRAIN, EVAL, TEST, INFERENCE.", usage).WithField("usage")
	}
	d, err := s.dataset(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	labels, err := checkAnnotations(d, annotations)
	if err != nil {
		return nil, err
	}
	as := slices.Clone(annotations)
	smp, err := s.st.UpdateSample(ctx, id, sampleID, func(smp *atelier.Sample) error {
		smp.Annotations = as
		smp.Labels = labels
		if usage != "" {
			smp.Usage = usage
		}
		smp.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoSample(sampleID)
		}
		return nil, fmt.Errorf("dataset: update sample: %w", err)
	}
	return smp, nil
}

// checkAnnotations checks annotations against the dataset's labels and
// returns the distinct label names they use. In a text triplet dataset an
// annotation with "@modelarts:from" is a relation and needs a relation
// label; other named annotations there need entity labels.
func checkAnnotations(d *atelier.Dataset, as []atelier.Annotation) ([]string, error) {
	byName := make(map[string]atelier.Label, len(d.Labels))
	for _, l := range d.Labels {
		byName[l.Name] = l
	}
	var names []string
	for i, a := range as {
		field := fmt.Sprintf("annotations[%d]", i)
		if a.Type == "" {
			return nil, atelier.CodeInvalidParam.Errorf("%s.type is required.", field).WithField(field + ".type")
		}
		if a.Name == "" {
			continue
		}
		l, ok := byName[a.Name]
		if !ok {
			return nil, atelier.CodeDatasetLabel.Errorf("%s.name %q is not a label of the dataset.", field, a.Name).WithField(field + ".name")
		}
		want := -1 // any plain type
		switch d.DatasetType {
		case atelier.DatasetNamedEntity:
			want = atelier.LabelEntity
		case atelier.DatasetTextTriplet:
			want = atelier.LabelEntity
			if _, rel := a.Property[PropFrom]; rel {
				want = atelier.LabelRelation
			}
		}
		if (want >= 0 && l.Type != want) || (want < 0 && (l.Type == atelier.LabelEntity || l.Type == atelier.LabelRelation)) {
			return nil, atelier.CodeDatasetLabel.Errorf("%s.name %q is a label of type %d, the wrong type for this annotation.", field, a.Name, l.Type).WithField(field + ".name")
		}
		if !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	return names, nil
}

// DeleteSamples deletes samples of a dataset and returns how many existed.
func (s *Service) DeleteSamples(ctx context.Context, id string, sampleIDs []string) (int, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return 0, err
	}
	if len(sampleIDs) > MaxDeleteSamples {
		return 0, atelier.CodeInvalidParam.Errorf("sample_ids holds at most %d ids.", MaxDeleteSamples).WithField("sample_ids")
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return 0, err
	}
	if len(sampleIDs) == 0 {
		return 0, nil
	}
	n, err := s.st.DeleteSamples(ctx, id, sampleIDs)
	if err != nil {
		return 0, fmt.Errorf("dataset: delete samples: %w", err)
	}
	return n, nil
}

// Stats counts a dataset's samples: in all, annotated, by label and by
// usage.
func (s *Service) Stats(ctx context.Context, id string) (*atelier.DatasetStats, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.dataset(ctx, tenant, id); err != nil {
		return nil, err
	}
	st, err := s.st.SampleStats(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("dataset: sample stats: %w", err)
	}
	out := &atelier.DatasetStats{Total: st.Total, Annotated: st.Annotated, ByLabel: st.ByLabel, ByUsage: st.ByUsage}
	if out.ByLabel == nil {
		out.ByLabel = map[string]int64{}
	}
	if out.ByUsage == nil {
		out.ByUsage = map[string]int64{}
	}
	return out, nil
}
