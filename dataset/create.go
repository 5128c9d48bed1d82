package dataset

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/dataset/format"
	"github.com/atelier-dev/atelier/store"
)

// Limits of a dataset's specification.
const (
	maxDescription = 256
	maxLabels      = 1000
	maxLabelName   = 64
	maxColumns     = 1000
)

// Label properties of a relation label naming its entity labels.
const (
	PropFromType = "@modelarts:from_type"
	PropToType   = "@modelarts:to_type"
)

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return atelier.CodeInvalidParam.Errorf("dataset_name must be 1 to 64 letters, digits, '-' or '_'.").WithField("dataset_name")
	}
	return nil
}

// resolveType returns the data type and dataset type (-1 when none) of
// spec: exactly one of data_type and dataset_type, or both consistent.
func resolveType(dataType string, datasetType *int) (string, int, error) {
	dataType = strings.ToUpper(strings.TrimSpace(dataType))
	if dataType != "" && !slices.Contains(dataTypes, dataType) {
		return "", 0, atelier.CodeDatasetType.Errorf("data_type %q is not one of %s.", dataType, strings.Join(dataTypes, ", ")).WithField("data_type")
	}
	if datasetType == nil {
		if dataType == "" {
			return "", 0, atelier.CodeDatasetType.Errorf("One of data_type and dataset_type is required.").WithField("data_type")
		}
		return dataType, -1, nil
	}
	implied, ok := atelier.DatasetTypeData[*datasetType]
	if !ok {
		return "", 0, atelier.CodeDatasetType.Errorf("dataset_type %d is not a known dataset type.", *datasetType).WithField("dataset_type")
	}
	if dataType != "" && dataType != implied {
		return "", 0, atelier.CodeDatasetType.Errorf("dataset_type %d is a %s dataset type, not %s.", *datasetType, implied, dataType).WithField("dataset_type")
	}
	return implied, *datasetType, nil
}

var dataTypes = []string{atelier.DataImage, atelier.DataText, atelier.DataAudio, atelier.DataTable, atelier.DataVideo, atelier.DataFreeFormat}

// checkLabels checks labels against the dataset type: plain labels (type 0,
// or the dataset's own type code as ModelArts writes them) for every dataset
// but named-entity (101: entity labels only) and text triplet (102: entity
// and relation labels, each relation naming two of the entity labels).
// Names are unique.
func checkLabels(datasetType int, labels []atelier.Label) error {
	if len(labels) > maxLabels {
		return atelier.CodeDatasetLabel.Errorf("A dataset has at most %d labels.", maxLabels).WithField("labels")
	}
	entities := map[string]bool{}
	seen := map[string]bool{}
	for i, l := range labels {
		field := fmt.Sprintf("labels[%d]", i)
		if l.Name == "" || len(l.Name) > maxLabelName || strings.ContainsAny(l.Name, "\x00\n\r\t") {
			return atelier.CodeDatasetLabel.Errorf("%s.name must be 1 to %d characters without control characters.", field, maxLabelName).WithField(field + ".name")
		}
		if seen[l.Name] {
			return atelier.CodeDatasetLabel.Errorf("%s.name %q is a duplicate label name.", field, l.Name).WithField(field + ".name")
		}
		seen[l.Name] = true
		if l.Color != "" && !colorRE.MatchString(l.Color) {
			return atelier.CodeDatasetLabel.Errorf("%s.color must be #rrggbb.", field).WithField(field + ".color")
		}
		if !labelTypeFits(datasetType, l.Type) {
			return atelier.CodeDatasetLabel.Errorf("%s.type %d is not a label type of dataset type %d.", field, l.Type, datasetType).WithField(field + ".type")
		}
		if l.Type == atelier.LabelEntity {
			entities[l.Name] = true
		}
	}
	for i, l := range labels {
		if l.Type != atelier.LabelRelation {
			continue
		}
		field := fmt.Sprintf("labels[%d].property", i)
		for _, p := range []string{PropFromType, PropToType} {
			v := l.Property[p]
			if v == "" {
				return atelier.CodeDatasetLabel.Errorf("The relation label %q needs %s in %s.", l.Name, p, field).WithField(field)
			}
			if !entities[v] {
				return atelier.CodeDatasetLabel.Errorf("%s of the relation label %q names %q, which is not an entity label of the dataset.", p, l.Name, v).WithField(field)
			}
		}
	}
	return nil
}

// labelTypeFits reports whether a label of type lt may belong to a dataset
// of type dt.
func labelTypeFits(dt, lt int) bool {
	switch dt {
	case atelier.DatasetNamedEntity:
		return lt == atelier.LabelEntity
	case atelier.DatasetTextTriplet:
		return lt == atelier.LabelEntity || lt == atelier.LabelRelation
	case -1:
		return lt == atelier.LabelPlain
	}
	return lt == atelier.LabelPlain || lt == dt
}

// checkSchema checks a table schema as the table reader will use it (at
// least one column, unique names, known types) and that column ids are
// unique.
func checkSchema(schema []atelier.SchemaColumn) error {
	if len(schema) > maxColumns {
		return atelier.CodeDatasetSchema.Errorf("A schema has at most %d columns.", maxColumns).WithField("schema")
	}
	if err := format.ValidateSchema(schema); err != nil {
		return err
	}
	ids := map[int]bool{}
	for i, c := range schema {
		if ids[c.ID] {
			field := fmt.Sprintf("schema[%d].schema_id", i)
			return atelier.CodeDatasetSchema.Errorf("%s %d is a duplicate column id.", field, c.ID).WithField(field)
		}
		ids[c.ID] = true
	}
	return nil
}

// checkDir parses an OBS directory path of the caller's tenant and checks
// that its bucket exists. field names it in errors.
func (s *Service) checkDir(ctx context.Context, path, field string) (obsPath, error) {
	p, err := atelier.ParseObjectDir(path)
	if err != nil {
		return obsPath{}, atelier.CodeDatasetSource.Errorf("%s must be an OBS directory such as /bucket/dir/ (or obs://bucket/dir/). %s", field, atelier.ErrorMessage(err)).WithField(field)
	}
	if _, err := s.objects.GetBucket(ctx, p.Bucket); err != nil {
		if atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID {
			return obsPath{}, atelier.CodeDatasetSource.Errorf("The bucket of %s does not exist in your tenant.", field).WithField(field)
		}
		return obsPath{}, fmt.Errorf("dataset: get bucket: %w", err)
	}
	return obsPath(p), nil
}

// checkSource checks that an import path (a directory, or a .manifest
// object) exists in the caller's tenant and is not empty.
func (s *Service) checkSource(ctx context.Context, path, field string) (obsPath, error) {
	p, err := parseObsPath(path)
	if err != nil {
		return obsPath{}, atelier.CodeDatasetSource.Errorf("%s must be an OBS path such as /bucket/dir/ (or obs://bucket/dir/). %s", field, atelier.ErrorMessage(err)).WithField(field)
	}
	if isManifest(p.Key) {
		o, err := s.objects.StatObject(ctx, p.Bucket, p.Key)
		switch {
		case err == nil && o.Size > 0:
			return p, nil
		case err == nil:
			return obsPath{}, atelier.CodeDatasetSource.Errorf("The manifest of %s is empty.", field).WithField(field)
		case atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID, atelier.ErrorCode(err) == atelier.CodeObjectNotFound.ID:
			return obsPath{}, atelier.CodeDatasetSource.Errorf("The manifest of %s does not exist in your tenant.", field).WithField(field)
		default:
			return obsPath{}, fmt.Errorf("dataset: stat manifest: %w", err)
		}
	}
	if !p.isDir() {
		p.Key += "/"
	}
	page, err := s.objects.ListObjects(ctx, p.Bucket, atelier.ListQuery{Prefix: p.Key, MaxKeys: 1})
	if err != nil {
		if atelier.ErrorCode(err) == atelier.CodeBucketNotFound.ID {
			return obsPath{}, atelier.CodeDatasetSource.Errorf("The bucket of %s does not exist in your tenant.", field).WithField(field)
		}
		return obsPath{}, fmt.Errorf("dataset: list source: %w", err)
	}
	if len(page.Objects) == 0 {
		return obsPath{}, atelier.CodeDatasetSource.Errorf("%s is missing or empty.", field).WithField(field)
	}
	return p, nil
}

// CreateDataset checks spec, creates the dataset and starts importing its
// data path.
func (s *Service) CreateDataset(ctx context.Context, spec atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := checkName(spec.Name); err != nil {
		return nil, nil, err
	}
	if len(spec.Description) > maxDescription {
		return nil, nil, atelier.CodeInvalidParam.Errorf("description is longer than %d bytes.", maxDescription).WithField("description")
	}
	dataType, datasetType, err := resolveType(spec.DataType, spec.DatasetType)
	if err != nil {
		return nil, nil, err
	}
	labels := append([]atelier.Label(nil), spec.Labels...)
	if err := checkLabels(datasetType, labels); err != nil {
		return nil, nil, err
	}
	if dataType == atelier.DataTable {
		if err := checkSchema(spec.Schema); err != nil {
			return nil, nil, err
		}
	} else if len(spec.Schema) > 0 {
		return nil, nil, atelier.CodeDatasetSchema.Errorf("schema is only for TABLE datasets.").WithField("schema")
	}
	format, err := importFormat(dataType, datasetType, spec.AnnotationConfig, "")
	if err != nil {
		return nil, nil, err
	}
	dp, err := s.checkDir(ctx, spec.DataPath, "data_path")
	if err != nil {
		return nil, nil, err
	}
	wp, err := s.checkDir(ctx, spec.WorkPath, "work_path")
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.checkSource(ctx, spec.DataPath, "data_path"); err != nil {
		return nil, nil, err
	}
	now := s.now()
	d := &atelier.Dataset{
		ID: atelier.NewID(), TenantID: tenant, Name: spec.Name, Description: spec.Description,
		DataType: dataType, DatasetType: datasetType,
		DataPath: dp.dirString(), WorkPath: wp.dirString(),
		Labels: labels, Schema: append([]atelier.SchemaColumn(nil), spec.Schema...),
		WithColumnHeader: spec.WithColumnHeader,
		CreatedAt:        now, UpdatedAt: now,
	}
	if err := s.st.CreateDataset(ctx, d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, nil, atelier.CodeDatasetExists.Errorf("A dataset named %q already exists.", spec.Name).WithField("dataset_name")
		}
		return nil, nil, fmt.Errorf("dataset: create dataset: %w", err)
	}
	t, err := s.newImport(ctx, tenant, d, d.DataPath, format, spec.AnnotationConfig != nil, spec.WithColumnHeader)
	if err != nil {
		return nil, nil, err
	}
	return d, t, nil
}

// ImportData starts importing req.Path (a directory, or a .manifest object)
// into the dataset. Only one import of a dataset runs at a time.
func (s *Service) ImportData(ctx context.Context, id string, req atelier.ImportRequest) (*atelier.ImportTask, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.dataset(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	p, err := s.checkSource(ctx, req.Path, "import_path")
	if err != nil {
		return nil, err
	}
	format, err := importFormat(d.DataType, d.DatasetType, req.AnnotationConfig, p.Key)
	if err != nil {
		return nil, err
	}
	header := d.WithColumnHeader
	if req.WithColumnHeader != nil {
		header = *req.WithColumnHeader
	}
	path := p.String()
	if p.isDir() {
		path = p.dirString()
	}
	return s.newImport(ctx, tenant, d, path, format, req.AnnotationConfig != nil, header)
}

// Import formats (ImportTask.Format).
const (
	FormatDirectory           = "directory"
	FormatImageClassification = "ModelArts image classification 1.0"
	FormatVOC                 = "ModelArts PASCAL VOC 1.0"
	FormatManifest            = "manifest"
	FormatCSV                 = "csv"
	FormatText                = "text"
	// FormatTextClassification reads "text<TAB>label" lines, or a content
	// file with a label file of the same name plus "_result" (line n is
	// the label of line n); ModelArts calls the two "ModelArts text
	// classification combine 1.0" and "ModelArts text classification 1.0".
	FormatTextClassification = "ModelArts text classification 1.0"
	// FormatAudioClassification is the image classification layout for
	// audio: label sub-directories, or a label file of the same name.
	FormatAudioClassification = "ModelArts audio classification dir 1.0"
)

// annotationFormats are the format names annotation_config.format_name
// may give (in lower case), with the data type each reads.
var annotationFormats = map[string]struct{ format, dataType string }{
	strings.ToLower(FormatImageClassification):  {FormatImageClassification, atelier.DataImage},
	strings.ToLower(FormatVOC):                  {FormatVOC, atelier.DataImage},
	strings.ToLower(FormatTextClassification):   {FormatTextClassification, atelier.DataText},
	"modelarts text classification combine 1.0": {FormatTextClassification, atelier.DataText},
	strings.ToLower(FormatAudioClassification):  {FormatAudioClassification, atelier.DataAudio},
}

// annotationScenes are the scenes annotation_config.scene may give, with
// the format each picks for its data type.
var annotationScenes = map[string]struct{ format, dataType string }{
	"image_classification": {FormatImageClassification, atelier.DataImage},
	"object_detection":     {FormatVOC, atelier.DataImage},
	"text_classification":  {FormatTextClassification, atelier.DataText},
	"audio_classification": {FormatAudioClassification, atelier.DataAudio},
}

// importFormat picks the import format of a path (key: its object key, ""
// for a directory) from the dataset's types and the annotation config. A
// format_name this server does not read is refused, naming those it reads.
func importFormat(dataType string, datasetType int, ac *atelier.AnnotationConfig, key string) (string, error) {
	if isManifest(key) {
		return FormatManifest, nil
	}
	if ac != nil && ac.FormatName != "" {
		f, ok := annotationFormats[strings.ToLower(ac.FormatName)]
		if !ok {
			return "", atelier.CodeDatasetType.Errorf("annotation_config.format_name %q is not a format this server reads; it reads %s, and .manifest files.",
				ac.FormatName, strings.Join([]string{FormatImageClassification, FormatVOC, FormatTextClassification,
					"ModelArts text classification combine 1.0", FormatAudioClassification}, ", ")).WithField("annotation_config.format_name")
		}
		if dataType != f.dataType {
			return "", atelier.CodeDatasetType.Errorf("annotation_config.format_name %q is for %s datasets.", ac.FormatName, f.dataType).WithField("annotation_config.format_name")
		}
		return f.format, nil
	}
	if ac != nil {
		if f, ok := annotationScenes[ac.Scene]; ok && f.dataType == dataType {
			return f.format, nil
		}
		switch {
		case datasetType == atelier.DatasetImageClassification:
			return FormatImageClassification, nil
		case datasetType == atelier.DatasetObjectDetection:
			return FormatVOC, nil
		case datasetType == atelier.DatasetTextClassification:
			return FormatTextClassification, nil
		case datasetType == atelier.DatasetSoundClassification:
			return FormatAudioClassification, nil
		}
	}
	switch {
	case dataType == atelier.DataTable:
		return FormatCSV, nil
	case dataType == atelier.DataText && datasetType >= 0:
		return FormatText, nil
	}
	return FormatDirectory, nil
}

func isManifest(key string) bool { return strings.HasSuffix(strings.ToLower(key), ".manifest") }
