package atelier

import (
	"context"
	"time"
)

// Data types of a dataset (ModelArts data_type).
const (
	DataImage      = "IMAGE"
	DataText       = "TEXT"
	DataAudio      = "AUDIO"
	DataTable      = "TABLE"
	DataVideo      = "VIDEO"
	DataFreeFormat = "FREE_FORMAT"
)

// Dataset types (ModelArts dataset_type, the labelling task), with the data
// type each implies.
const (
	DatasetImageClassification = 0
	DatasetObjectDetection     = 1
	DatasetImageSegmentation   = 3
	DatasetTextClassification  = 100
	DatasetNamedEntity         = 101
	DatasetTextTriplet         = 102
	DatasetSoundClassification = 200
	DatasetSpeechContent       = 201
	DatasetSpeechParagraph     = 202
	DatasetTable               = 400
	DatasetVideo               = 600
	DatasetFreeFormat          = 900
)

// DatasetTypeData maps each dataset type to its data type.
var DatasetTypeData = map[int]string{
	DatasetImageClassification: DataImage,
	DatasetObjectDetection:     DataImage,
	DatasetImageSegmentation:   DataImage,
	DatasetTextClassification:  DataText,
	DatasetNamedEntity:         DataText,
	DatasetTextTriplet:         DataText,
	DatasetSoundClassification: DataAudio,
	DatasetSpeechContent:       DataAudio,
	DatasetSpeechParagraph:     DataAudio,
	DatasetTable:               DataTable,
	DatasetVideo:               DataVideo,
	DatasetFreeFormat:          DataFreeFormat,
}

// Label types: 0 a plain (classification) label, 101 an entity of a text
// triplet or named-entity dataset, 102 a relation between two entity types
// (its Property names them with "@modelarts:from_type" and
// "@modelarts:to_type").
const (
	LabelPlain    = 0
	LabelEntity   = 101
	LabelRelation = 102
)

// Label is a label a dataset's annotations may use.
type Label struct {
	Name     string            `json:"name"`
	Type     int               `json:"type"`
	Property map[string]string `json:"property,omitempty"`
	Color    string            `json:"color,omitempty"` // "#rrggbb"
}

// SchemaColumn is a column of a table dataset.
type SchemaColumn struct {
	ID   int    `json:"schema_id"`
	Name string `json:"name"`
	Type string `json:"type"` // STRING, INT, FLOAT, BOOLEAN, …
}

// Dataset is a tenant's dataset: where its data comes from (an OBS
// directory), where its work (annotations, versions) goes, its labels and,
// for tables, its schema.
type Dataset struct {
	ID          string         `json:"dataset_id"`
	TenantID    string         `json:"-"`
	Name        string         `json:"dataset_name"`
	Description string         `json:"description,omitempty"`
	DataType    string         `json:"data_type"`
	DatasetType int            `json:"dataset_type"` // -1: none given (a data-type-only dataset)
	DataPath    string         `json:"data_path"`    // /bucket/dir/ of the source data
	WorkPath    string         `json:"work_path"`    // /bucket/dir/ of annotations and versions
	Labels      []Label        `json:"labels,omitempty"`
	Schema      []SchemaColumn `json:"schema,omitempty"`
	// WithColumnHeader says the table files start with a header row.
	WithColumnHeader bool      `json:"with_column_header,omitempty"`
	SampleCount      int64     `json:"total_sample_count"`
	AnnotatedCount   int64     `json:"annotated_sample_count"`
	CreatedAt        time.Time `json:"create_time"`
	UpdatedAt        time.Time `json:"update_time"`
}

// Sample usages in a manifest.
const (
	UsageTrain     = "TRAIN"
	UsageEval      = "EVAL"
	UsageTest      = "TEST"
	UsageInference = "INFERENCE"
)

// Annotation is one label on a sample, as in a ModelArts manifest line's
// "annotation" array. Type is e.g. "modelarts/image_classification",
// "modelarts/object_detection", "modelarts/text_triplet"; Property holds
// the task's details (boxes, "@modelarts:start_index", …).
type Annotation struct {
	Type         string         `json:"type"`
	Name         string         `json:"name,omitempty"`
	Property     map[string]any `json:"property,omitempty"`
	AnnotatedBy  string         `json:"annotated-by,omitempty"`
	CreationTime string         `json:"creation-time,omitempty"`
	// AnnotationLoc and AnnotationFormat point at an annotation file (a
	// PASCAL VOC XML) instead of inline properties.
	AnnotationLoc    string `json:"annotation-loc,omitempty"`
	AnnotationFormat string `json:"annotation-format,omitempty"`
}

// Sample is one item of a dataset: an object (or a line of a text or table
// file) with its annotations.
type Sample struct {
	ID        string `json:"sample_id"`
	DatasetID string `json:"-"`
	// Source is obs://bucket/key of the sample's object, or content://<text>
	// for a sample that is a line of a text file (format.ContentText).
	Source      string       `json:"source"`
	Usage       string       `json:"usage,omitempty"`
	Annotations []Annotation `json:"annotations,omitempty"`
	// Labels are the names used by Annotations, kept for filtering.
	Labels    []string  `json:"labels,omitempty"`
	CreatedAt time.Time `json:"create_time"`
	UpdatedAt time.Time `json:"update_time"`
}

// DatasetVersion is an immutable snapshot of a dataset's samples and
// annotations, published as a manifest under the work path
// (<work_path>/dataset-<id>/annotation/V001/V001.manifest).
type DatasetVersion struct {
	ID             string    `json:"version_id"`
	DatasetID      string    `json:"dataset_id"`
	Name           string    `json:"version_name"` // V001, V002, …
	Description    string    `json:"description,omitempty"`
	TrainEvalRatio float64   `json:"train_evaluate_sample_ratio"`
	SampleCount    int64     `json:"total_sample_count"`
	ManifestPath   string    `json:"manifest_path"` // /bucket/…/V001.manifest
	State          string    `json:"status"`        // CREATING, NORMAL, FAILED
	CreatedAt      time.Time `json:"create_time"`
}

// Import task states.
const (
	TaskQueued    = "QUEUED"
	TaskRunning   = "RUNNING"
	TaskCompleted = "COMPLETED"
	TaskFailed    = "FAILED"
)

// ImportTask imports samples into a dataset from a path, resumably.
type ImportTask struct {
	ID        string `json:"task_id"`
	DatasetID string `json:"dataset_id"`
	Path      string `json:"import_path"`
	// Format: "directory", "ModelArts image classification 1.0",
	// "ModelArts PASCAL VOC 1.0", "ModelArts text classification 1.0",
	// "ModelArts audio classification dir 1.0", "manifest", "csv", "text".
	Format   string `json:"format"`
	State    string `json:"status"`
	Imported int64  `json:"imported_sample_count"`
	Rejected int64  `json:"rejected_sample_count"`
	// Errors are the first bad inputs, each naming its file and line.
	Errors    []string  `json:"errors,omitempty"`
	Cursor    string    `json:"-"` // where a resumed import continues
	CreatedAt time.Time `json:"create_time"`
	UpdatedAt time.Time `json:"update_time"`
}

// Dataset error codes.
var (
	CodeDatasetNotFound   = NewCode("ATL.DST.0001", NotFound, "The dataset (or its version, sample or task) does not exist in the caller's tenant.")
	CodeDatasetExists     = NewCode("ATL.DST.0002", Conflict, "A dataset with this name already exists in the tenant.")
	CodeDatasetType       = NewCode("ATL.DST.0003", Invalid, "The data_type or dataset_type is unknown, or they do not match; the message names the field.")
	CodeDatasetSource     = NewCode("ATL.DST.0004", Invalid, "The data source path is missing, empty or outside the tenant's buckets.")
	CodeDatasetFileKind   = NewCode("ATL.DST.0005", Invalid, "A file's kind does not fit the dataset's data type (e.g. a .txt in an IMAGE dataset).")
	CodeDatasetParse      = NewCode("ATL.DST.0006", Invalid, "An import file is malformed; the message lists the first bad lines by number.")
	CodeDatasetLabel      = NewCode("ATL.DST.0007", Invalid, "A label is of the wrong type for the dataset, misses its properties, or is duplicated.")
	CodeDatasetSchema     = NewCode("ATL.DST.0008", Invalid, "A table's columns do not match the dataset's schema.")
	CodeDatasetVersionRun = NewCode("ATL.DST.0009", FailedPrecondition, "Another version or import of this dataset is still running.")
)

// ExportTask exports a dataset version (its manifest) to an OBS path.
type ExportTask struct {
	ID        string    `json:"task_id"`
	DatasetID string    `json:"dataset_id"`
	VersionID string    `json:"version_id"`
	Path      string    `json:"export_path"` // /bucket/dir/
	State     string    `json:"status"`
	Exported  int64     `json:"exported_sample_count"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"create_time"`
	UpdatedAt time.Time `json:"update_time"`
}

// DatasetSpec creates a dataset (the seed's create_dataset arguments).
type DatasetSpec struct {
	Name        string `json:"dataset_name"`
	Description string `json:"description,omitempty"`
	DataType    string `json:"data_type,omitempty"`    // one of DataType or DatasetType
	DatasetType *int   `json:"dataset_type,omitempty"` // nil: not given
	// DataPath is the source directory (/bucket/dir/, obs://…, s3://…).
	DataPath string `json:"data_path"`
	// AnnotationConfig, when set, imports annotations of the source
	// ({"scene","format_name"}); nil imports data only.
	AnnotationConfig *AnnotationConfig `json:"annotation_config,omitempty"`
	WithColumnHeader bool              `json:"with_column_header,omitempty"`
	WorkPath         string            `json:"work_path"`
	Labels           []Label           `json:"labels,omitempty"`
	Schema           []SchemaColumn    `json:"schema,omitempty"`
}

// AnnotationConfig says how the annotations of an import are laid out
// (ModelArts annotation_config): Scene "image_classification",
// "object_detection", "text_classification", "audio_classification", …;
// FormatName "ModelArts image classification 1.0", "ModelArts PASCAL VOC
// 1.0", "ModelArts text classification [combine] 1.0", "ModelArts audio
// classification dir 1.0" (another name is refused). For a manifest import
// an empty config imports its annotations.
type AnnotationConfig struct {
	Scene      string `json:"scene,omitempty"`
	FormatName string `json:"format_name,omitempty"`
}

// DatasetUpdate changes a dataset; nil fields stay. Labels replaces the
// whole list (annotations using a removed label keep their name).
type DatasetUpdate struct {
	Name        *string  `json:"dataset_name,omitempty"`
	Description *string  `json:"description,omitempty"`
	Labels      *[]Label `json:"labels,omitempty"`
}

// ImportRequest imports more data into a dataset (import_data).
type ImportRequest struct {
	Path             string            `json:"import_path"` // a directory, or a .manifest file
	AnnotationConfig *AnnotationConfig `json:"annotation_config,omitempty"`
	WithColumnHeader *bool             `json:"with_column_header,omitempty"`
}

// SampleFilter selects samples, in sample id order, after After.
type SampleFilter struct {
	Labelled *bool  // true: annotated only; false: not annotated only
	Label    string // only samples with this label
	Usage    string
	After    string // cursor: the last sample id of the previous page
	Limit    int    // default 100, at most 1000
}

// SamplePage is one page of samples.
type SamplePage struct {
	Samples    []*Sample `json:"samples"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// DatasetStats counts a dataset's samples.
type DatasetStats struct {
	Total     int64            `json:"total_sample_count"`
	Annotated int64            `json:"annotated_sample_count"`
	ByLabel   map[string]int64 `json:"label_stats"`
	ByUsage   map[string]int64 `json:"usage_stats"`
}

// VersionSpec creates a dataset version.
type VersionSpec struct {
	Description    string  `json:"description,omitempty"`
	TrainEvalRatio float64 `json:"train_evaluate_sample_ratio,omitempty"` // 0..1; 0 keeps each sample's usage
}

// DatasetService manages the caller's tenant's datasets. Long work (imports,
// versions, exports) runs as tasks whose state is polled. Implementations
// are safe for concurrent use.
type DatasetService interface {
	// CreateDataset creates the dataset and starts importing its source.
	CreateDataset(ctx context.Context, spec DatasetSpec) (*Dataset, *ImportTask, error)
	GetDataset(ctx context.Context, id string) (*Dataset, error)
	ListDatasets(ctx context.Context, name string) ([]*Dataset, error)
	UpdateDataset(ctx context.Context, id string, u DatasetUpdate) (*Dataset, error)
	// DeleteDataset deletes the dataset, its samples, versions and tasks;
	// with deleteSource also the source objects under DataPath.
	DeleteDataset(ctx context.Context, id string, deleteSource bool) error

	ImportData(ctx context.Context, id string, req ImportRequest) (*ImportTask, error)
	ListImportTasks(ctx context.Context, id string) ([]*ImportTask, error)
	GetImportTask(ctx context.Context, id, taskID string) (*ImportTask, error)

	ListSamples(ctx context.Context, id string, f SampleFilter) (*SamplePage, error)
	GetSample(ctx context.Context, id, sampleID string) (*Sample, error)
	// SetAnnotations replaces a sample's annotations (checked against the
	// dataset's labels) and usage ("" keeps it).
	SetAnnotations(ctx context.Context, id, sampleID string, annotations []Annotation, usage string) (*Sample, error)
	DeleteSamples(ctx context.Context, id string, sampleIDs []string) (int, error)
	Stats(ctx context.Context, id string) (*DatasetStats, error)

	// CreateVersion snapshots the samples and publishes the manifest at
	// <work_path>/dataset-<id>/annotation/V00n/V00n.manifest.
	CreateVersion(ctx context.Context, id string, spec VersionSpec) (*DatasetVersion, error)
	ListVersions(ctx context.Context, id string) ([]*DatasetVersion, error)
	GetVersion(ctx context.Context, id, versionID string) (*DatasetVersion, error)
	// ExportVersion copies a version's manifest (and nothing else) to path.
	ExportVersion(ctx context.Context, id, versionID, path string) (*ExportTask, error)
	ListExportTasks(ctx context.Context, id string) ([]*ExportTask, error)
}
