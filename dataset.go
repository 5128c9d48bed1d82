package atelier

import "time"

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
	ID          string       `json:"sample_id"`
	DatasetID   string       `json:"-"`
	Source      string       `json:"source"` // obs://bucket/key, or the text itself for one-line text samples
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
	// "ModelArts PASCAL VOC 1.0", "manifest", "csv", "text".
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
