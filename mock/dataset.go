package mock

import (
	"context"

	"github.com/atelier-dev/atelier"
)

// Interface guards.
var (
	_ atelier.DatasetService = (*DatasetService)(nil)
)

// DatasetService mocks atelier.DatasetService.
type DatasetService struct {
	CreateDatasetFn   func(ctx context.Context, spec atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error)
	GetDatasetFn      func(ctx context.Context, id string) (*atelier.Dataset, error)
	ListDatasetsFn    func(ctx context.Context, name string) ([]*atelier.Dataset, error)
	UpdateDatasetFn   func(ctx context.Context, id string, u atelier.DatasetUpdate) (*atelier.Dataset, error)
	DeleteDatasetFn   func(ctx context.Context, id string, deleteSource bool) error
	ImportDataFn      func(ctx context.Context, id string, req atelier.ImportRequest) (*atelier.ImportTask, error)
	ListImportTasksFn func(ctx context.Context, id string) ([]*atelier.ImportTask, error)
	GetImportTaskFn   func(ctx context.Context, id, taskID string) (*atelier.ImportTask, error)
	ListSamplesFn     func(ctx context.Context, id string, f atelier.SampleFilter) (*atelier.SamplePage, error)
	GetSampleFn       func(ctx context.Context, id, sampleID string) (*atelier.Sample, error)
	SetAnnotationsFn  func(ctx context.Context, id, sampleID string, annotations []atelier.Annotation, usage string) (*atelier.Sample, error)
	DeleteSamplesFn   func(ctx context.Context, id string, sampleIDs []string) (int, error)
	StatsFn           func(ctx context.Context, id string) (*atelier.DatasetStats, error)
	CreateVersionFn   func(ctx context.Context, id string, spec atelier.VersionSpec) (*atelier.DatasetVersion, error)
	ListVersionsFn    func(ctx context.Context, id string) ([]*atelier.DatasetVersion, error)
	GetVersionFn      func(ctx context.Context, id, versionID string) (*atelier.DatasetVersion, error)
	ExportVersionFn   func(ctx context.Context, id, versionID, path string) (*atelier.ExportTask, error)
	ListExportTasksFn func(ctx context.Context, id string) ([]*atelier.ExportTask, error)
}

// CreateDataset calls CreateDatasetFn.
func (s *DatasetService) CreateDataset(ctx context.Context, spec atelier.DatasetSpec) (*atelier.Dataset, *atelier.ImportTask, error) {
	if s.CreateDatasetFn == nil {
		panic("mock: DatasetService.CreateDataset called but CreateDatasetFn is not set")
	}
	return s.CreateDatasetFn(ctx, spec)
}

// GetDataset calls GetDatasetFn.
func (s *DatasetService) GetDataset(ctx context.Context, id string) (*atelier.Dataset, error) {
	if s.GetDatasetFn == nil {
		panic("mock: DatasetService.GetDataset called but GetDatasetFn is not set")
	}
	return s.GetDatasetFn(ctx, id)
}

// ListDatasets calls ListDatasetsFn.
func (s *DatasetService) ListDatasets(ctx context.Context, name string) ([]*atelier.Dataset, error) {
	if s.ListDatasetsFn == nil {
		panic("mock: DatasetService.ListDatasets called but ListDatasetsFn is not set")
	}
	return s.ListDatasetsFn(ctx, name)
}

// UpdateDataset calls UpdateDatasetFn.
func (s *DatasetService) UpdateDataset(ctx context.Context, id string, u atelier.DatasetUpdate) (*atelier.Dataset, error) {
	if s.UpdateDatasetFn == nil {
		panic("mock: DatasetService.UpdateDataset called but UpdateDatasetFn is not set")
	}
	return s.UpdateDatasetFn(ctx, id, u)
}

// DeleteDataset calls DeleteDatasetFn.
func (s *DatasetService) DeleteDataset(ctx context.Context, id string, deleteSource bool) error {
	if s.DeleteDatasetFn == nil {
		panic("mock: DatasetService.DeleteDataset called but DeleteDatasetFn is not set")
	}
	return s.DeleteDatasetFn(ctx, id, deleteSource)
}

// ImportData calls ImportDataFn.
func (s *DatasetService) ImportData(ctx context.Context, id string, req atelier.ImportRequest) (*atelier.ImportTask, error) {
	if s.ImportDataFn == nil {
		panic("mock: DatasetService.ImportData called but ImportDataFn is not set")
	}
	return s.ImportDataFn(ctx, id, req)
}

// ListImportTasks calls ListImportTasksFn.
func (s *DatasetService) ListImportTasks(ctx context.Context, id string) ([]*atelier.ImportTask, error) {
	if s.ListImportTasksFn == nil {
		panic("mock: DatasetService.ListImportTasks called but ListImportTasksFn is not set")
	}
	return s.ListImportTasksFn(ctx, id)
}

// GetImportTask calls GetImportTaskFn.
func (s *DatasetService) GetImportTask(ctx context.Context, id, taskID string) (*atelier.ImportTask, error) {
	if s.GetImportTaskFn == nil {
		panic("mock: DatasetService.GetImportTask called but GetImportTaskFn is not set")
	}
	return s.GetImportTaskFn(ctx, id, taskID)
}

// ListSamples calls ListSamplesFn.
func (s *DatasetService) ListSamples(ctx context.Context, id string, f atelier.SampleFilter) (*atelier.SamplePage, error) {
	if s.ListSamplesFn == nil {
		panic("mock: DatasetService.ListSamples called but ListSamplesFn is not set")
	}
	return s.ListSamplesFn(ctx, id, f)
}

// GetSample calls GetSampleFn.
func (s *DatasetService) GetSample(ctx context.Context, id, sampleID string) (*atelier.Sample, error) {
	if s.GetSampleFn == nil {
		panic("mock: DatasetService.GetSample called but GetSampleFn is not set")
	}
	return s.GetSampleFn(ctx, id, sampleID)
}

// SetAnnotations calls SetAnnotationsFn.
func (s *DatasetService) SetAnnotations(ctx context.Context, id, sampleID string, annotations []atelier.Annotation, usage string) (*atelier.Sample, error) {
	if s.SetAnnotationsFn == nil {
		panic("mock: DatasetService.SetAnnotations called but SetAnnotationsFn is not set")
	}
	return s.SetAnnotationsFn(ctx, id, sampleID, annotations, usage)
}

// DeleteSamples calls DeleteSamplesFn.
func (s *DatasetService) DeleteSamples(ctx context.Context, id string, sampleIDs []string) (int, error) {
	if s.DeleteSamplesFn == nil {
		panic("mock: DatasetService.DeleteSamples called but DeleteSamplesFn is not set")
	}
	return s.DeleteSamplesFn(ctx, id, sampleIDs)
}

// Stats calls StatsFn.
func (s *DatasetService) Stats(ctx context.Context, id string) (*atelier.DatasetStats, error) {
	if s.StatsFn == nil {
		panic("mock: DatasetService.Stats called but StatsFn is not set")
	}
	return s.StatsFn(ctx, id)
}

// CreateVersion calls CreateVersionFn.
func (s *DatasetService) CreateVersion(ctx context.Context, id string, spec atelier.VersionSpec) (*atelier.DatasetVersion, error) {
	if s.CreateVersionFn == nil {
		panic("mock: DatasetService.CreateVersion called but CreateVersionFn is not set")
	}
	return s.CreateVersionFn(ctx, id, spec)
}

// ListVersions calls ListVersionsFn.
func (s *DatasetService) ListVersions(ctx context.Context, id string) ([]*atelier.DatasetVersion, error) {
	if s.ListVersionsFn == nil {
		panic("mock: DatasetService.ListVersions called but ListVersionsFn is not set")
	}
	return s.ListVersionsFn(ctx, id)
}

// GetVersion calls GetVersionFn.
func (s *DatasetService) GetVersion(ctx context.Context, id, versionID string) (*atelier.DatasetVersion, error) {
	if s.GetVersionFn == nil {
		panic("mock: DatasetService.GetVersion called but GetVersionFn is not set")
	}
	return s.GetVersionFn(ctx, id, versionID)
}

// ExportVersion calls ExportVersionFn.
func (s *DatasetService) ExportVersion(ctx context.Context, id, versionID, path string) (*atelier.ExportTask, error) {
	if s.ExportVersionFn == nil {
		panic("mock: DatasetService.ExportVersion called but ExportVersionFn is not set")
	}
	return s.ExportVersionFn(ctx, id, versionID, path)
}

// ListExportTasks calls ListExportTasksFn.
func (s *DatasetService) ListExportTasks(ctx context.Context, id string) ([]*atelier.ExportTask, error) {
	if s.ListExportTasksFn == nil {
		panic("mock: DatasetService.ListExportTasks called but ListExportTasksFn is not set")
	}
	return s.ListExportTasksFn(ctx, id)
}
