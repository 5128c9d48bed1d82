package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Wire shapes of datasets, for the route table.
const (
	labelJSON      = `{"name","type","property","color"}`
	datasetJSON    = `{"dataset_id","dataset_name","description","data_type","dataset_type","data_path","work_path","labels":[` + labelJSON + `],"schema":[{"schema_id","name","type"}],"with_column_header","total_sample_count","annotated_sample_count","create_time","update_time"}`
	importTaskJSON = `{"task_id","dataset_id","import_path","format","status","imported_sample_count","rejected_sample_count","errors","create_time","update_time"}`
	annotationJSON = `{"type","name","property","annotated-by","creation-time","annotation-loc","annotation-format"}`
	sampleJSON     = `{"sample_id","source","usage","annotations":[` + annotationJSON + `],"labels","create_time","update_time"}`
	dsVersionJSON  = `{"version_id","dataset_id","version_name","description","train_evaluate_sample_ratio","total_sample_count","manifest_path","status","create_time"}`
	exportTaskJSON = `{"task_id","dataset_id","version_id","export_path","status","exported_sample_count","error","create_time","update_time"}`
	annConfigJSON  = `{"scene","format_name"}`
)

// datasetRoutes are the /v1/datasets calls of atelier.DatasetService.
func (s *Server) datasetRoutes() []route {
	dsID := param{Name: "dataset_id", Desc: "The dataset id.", Required: true}
	ds := []param{dsID}
	return []route{
		{Method: "POST", Pattern: "/v1/datasets", Summary: "Create a dataset and start importing its source (create_dataset).", Auth: true,
			Request: `{"dataset_name","description","data_type","dataset_type","data_path","annotation_config":` + annConfigJSON +
				`,"with_column_header","work_path","labels":[` + labelJSON + `],"schema":[{"schema_id","name","type"}]} (data_type or dataset_type)`,
			Response: `{"dataset":` + datasetJSON + `,"import_task":` + importTaskJSON + `}`, Status: 201, In: atelier.DatasetSpec{}, Out: struct {
				Dataset    *atelier.Dataset    `json:"dataset"`
				ImportTask *atelier.ImportTask `json:"import_task"`
			}{}, Handler: s.handleCreateDataset},
		{Method: "GET", Pattern: "/v1/datasets", Summary: "List the tenant's datasets.", Auth: true,
			Query:    []param{{Name: "name", Desc: "Only the dataset of this exact name."}},
			Response: `{"datasets":[` + datasetJSON + `]}`, Status: 200, Out: struct {
				Datasets []*atelier.Dataset `json:"datasets"`
			}{}, Handler: s.handleListDatasets},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}", Summary: "Describe a dataset.", Auth: true,
			Params: ds, Response: datasetJSON, Status: 200, Out: atelier.Dataset{}, Handler: s.handleGetDataset},
		{Method: "PATCH", Pattern: "/v1/datasets/{dataset_id}", Summary: "Change a dataset's name, description or labels (update_dataset); absent fields stay.", Auth: true,
			Params: ds, Request: `{"dataset_name","description","labels":[` + labelJSON + `]} (labels replaces the whole list)`,
			Response: datasetJSON, Status: 200, In: atelier.DatasetUpdate{}, Out: atelier.Dataset{}, Handler: s.handleUpdateDataset},
		{Method: "DELETE", Pattern: "/v1/datasets/{dataset_id}", Summary: "Delete a dataset with its samples, versions and tasks.", Auth: true,
			Params: ds, Query: []param{{Name: "delete_source", Desc: "true: also delete the source objects under data_path (default false)."}},
			Status: 204, Handler: s.handleDeleteDataset},
		{Method: "POST", Pattern: "/v1/datasets/{dataset_id}/imports", Summary: "Import more data (a directory or a .manifest file) into a dataset (import_data).", Auth: true,
			Params: ds, Request: `{"import_path","annotation_config":` + annConfigJSON + `,"with_column_header"}`,
			Response: importTaskJSON, Status: 201, In: atelier.ImportRequest{}, Out: atelier.ImportTask{}, Handler: s.handleImportData},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/imports", Summary: "List a dataset's import tasks.", Auth: true,
			Params: ds, Response: `{"import_tasks":[` + importTaskJSON + `]}`, Status: 200, Out: struct {
				ImportTasks []*atelier.ImportTask `json:"import_tasks"`
			}{}, Handler: s.handleListImportTasks},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/imports/{task_id}", Summary: "Describe one import task (poll it until COMPLETED or FAILED).", Auth: true,
			Params: []param{dsID, {Name: "task_id", Desc: "The import task id.", Required: true}}, Response: importTaskJSON, Status: 200, Out: atelier.ImportTask{}, Handler: s.handleGetImportTask},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/samples", Summary: "List a dataset's samples in id order, a page at a time.", Auth: true,
			Params: ds,
			Query: []param{
				{Name: "labelled", Desc: "true: annotated samples only; false: unannotated only."},
				{Name: "label", Desc: "Only samples with this label."},
				{Name: "usage", Desc: "Only samples of this usage (TRAIN, EVAL, TEST, INFERENCE)."},
				{Name: "limit", Desc: "Page size, 1–1000 (default 100)."},
				{Name: "cursor", Desc: "next_cursor of the previous page."},
			},
			Response: `{"samples":[` + sampleJSON + `],"next_cursor"}`, Status: 200, Out: atelier.SamplePage{}, Handler: s.handleListSamples},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/samples/{sample_id}", Summary: "Describe one sample with its annotations.", Auth: true,
			Params: []param{dsID, {Name: "sample_id", Desc: "The sample id.", Required: true}}, Response: sampleJSON, Status: 200, Out: atelier.Sample{}, Handler: s.handleGetSample},
		{Method: "PUT", Pattern: "/v1/datasets/{dataset_id}/samples/{sample_id}/annotations", Summary: "Replace a sample's annotations, and its usage when given.", Auth: true,
			Params:  []param{dsID, {Name: "sample_id", Desc: "The sample id.", Required: true}},
			Request: `{"annotations":[` + annotationJSON + `],"usage"} (empty usage keeps it)`, Response: sampleJSON, Status: 200, In: setAnnotationsInput{}, Out: atelier.Sample{}, Handler: s.handleSetAnnotations},
		{Method: "POST", Pattern: "/v1/datasets/{dataset_id}/samples/delete", Summary: "Delete samples by id; unknown ids are skipped.", Auth: true,
			Params: ds, Request: `{"sample_ids":[…]}`, Response: `{"deleted"}`, Status: 200, In: deleteSamplesInput{}, Out: struct {
				Deleted int `json:"deleted"`
			}{}, Handler: s.handleDeleteSamples},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/stats", Summary: "Count a dataset's samples, by label and by usage.", Auth: true,
			Params: ds, Response: `{"total_sample_count","annotated_sample_count","label_stats":{"<label>":n},"usage_stats":{"<usage>":n}}`,
			Status: 200, Out: atelier.DatasetStats{}, Handler: s.handleDatasetStats},
		{Method: "POST", Pattern: "/v1/datasets/{dataset_id}/versions", Summary: "Snapshot the samples as a new version and publish its manifest.", Auth: true,
			Params: ds, Request: `{"description","train_evaluate_sample_ratio"} (ratio 0..1; 0 keeps each sample's usage)`,
			Response: dsVersionJSON, Status: 201, In: atelier.VersionSpec{}, Out: atelier.DatasetVersion{}, Handler: s.handleCreateDatasetVersion},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/versions", Summary: "List a dataset's versions.", Auth: true,
			Params: ds, Response: `{"versions":[` + dsVersionJSON + `]}`, Status: 200, Out: struct {
				Versions []*atelier.DatasetVersion `json:"versions"`
			}{}, Handler: s.handleListDatasetVersions},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/versions/{version_id}", Summary: "Describe one dataset version.", Auth: true,
			Params: []param{dsID, {Name: "version_id", Desc: "The version id.", Required: true}}, Response: dsVersionJSON, Status: 200, Out: atelier.DatasetVersion{}, Handler: s.handleGetDatasetVersion},
		{Method: "POST", Pattern: "/v1/datasets/{dataset_id}/exports", Summary: "Export a version's manifest to an OBS directory.", Auth: true,
			Params: ds, Request: `{"version_id","export_path"}`, Response: exportTaskJSON, Status: 201, In: exportDatasetVersionInput{}, Out: atelier.ExportTask{}, Handler: s.handleExportDatasetVersion},
		{Method: "GET", Pattern: "/v1/datasets/{dataset_id}/exports", Summary: "List a dataset's export tasks.", Auth: true,
			Params: ds, Response: `{"export_tasks":[` + exportTaskJSON + `]}`, Status: 200, Out: struct {
				ExportTasks []*atelier.ExportTask `json:"export_tasks"`
			}{}, Handler: s.handleListExportTasks},
	}
}

// datasetService returns the dataset service, or an error when none is set.
func (s *Server) datasetService() (atelier.DatasetService, error) {
	if s.datasets == nil {
		return nil, atelier.CodeNotImplemented.Errorf("This server does not manage datasets.")
	}
	return s.datasets, nil
}

// Wire forms in UTC.

func datasetOut(d *atelier.Dataset) *atelier.Dataset {
	c := *d
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func importTaskOut(t *atelier.ImportTask) *atelier.ImportTask {
	c := *t
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func sampleOut(sm *atelier.Sample) *atelier.Sample {
	c := *sm
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func dsVersionOut(v *atelier.DatasetVersion) *atelier.DatasetVersion {
	c := *v
	c.CreatedAt = utc(c.CreatedAt)
	return &c
}

func exportTaskOut(t *atelier.ExportTask) *atelier.ExportTask {
	c := *t
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

// outAll maps out over xs; the answer is never nil, so lists are [] not null.
func outAll[T any](xs []*T, out func(*T) *T) []*T {
	res := make([]*T, 0, len(xs))
	for _, x := range xs {
		res = append(res, out(x))
	}
	return res
}

// parseLimit reads the limit query parameter of a list: 1–1000, or 0 when
// absent (the service's default).
func parseLimit(q url.Values) (int, error) {
	raw := q.Get("limit")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return 0, atelier.CodeInvalidParam.Errorf("The limit parameter must be 1 to 1000.").WithField("limit")
	}
	return n, nil
}

// parseBoolParam reads a true/false query parameter; absent is nil.
func parseBoolParam(r *http.Request, name string) (*bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return nil, atelier.CodeInvalidParam.Errorf("The %s parameter must be true or false, not %q.", name, raw).WithField(name)
	}
	return &b, nil
}

func (s *Server) handleCreateDataset(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var spec atelier.DatasetSpec
	if err := s.decodeJSON(w, r, &spec, false); err != nil {
		return err
	}
	d, task, err := svc.CreateDataset(r.Context(), spec)
	if err != nil {
		return err
	}
	out := map[string]any{"dataset": datasetOut(d), "import_task": nil}
	if task != nil {
		out["import_task"] = importTaskOut(task)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleListDatasets(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	ds, err := svc.ListDatasets(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": outAll(ds, datasetOut)})
	return nil
}

func (s *Server) handleGetDataset(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	d, err := svc.GetDataset(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, datasetOut(d))
	return nil
}

func (s *Server) handleUpdateDataset(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var u atelier.DatasetUpdate
	if err := s.decodeJSON(w, r, &u, false); err != nil {
		return err
	}
	d, err := svc.UpdateDataset(r.Context(), r.PathValue("dataset_id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, datasetOut(d))
	return nil
}

func (s *Server) handleDeleteDataset(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	del, err := parseBoolParam(r, "delete_source")
	if err != nil {
		return err
	}
	if err := svc.DeleteDataset(r.Context(), r.PathValue("dataset_id"), del != nil && *del); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleImportData(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var req atelier.ImportRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	t, err := svc.ImportData(r.Context(), r.PathValue("dataset_id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, importTaskOut(t))
	return nil
}

func (s *Server) handleListImportTasks(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	ts, err := svc.ListImportTasks(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"import_tasks": outAll(ts, importTaskOut)})
	return nil
}

func (s *Server) handleGetImportTask(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	t, err := svc.GetImportTask(r.Context(), r.PathValue("dataset_id"), r.PathValue("task_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, importTaskOut(t))
	return nil
}

// parseSampleFilter reads the query parameters of GET …/samples.
func parseSampleFilter(r *http.Request) (atelier.SampleFilter, error) {
	q := r.URL.Query()
	f := atelier.SampleFilter{Label: q.Get("label"), After: q.Get("cursor")}
	labelled, err := parseBoolParam(r, "labelled")
	if err != nil {
		return f, err
	}
	f.Labelled = labelled
	if raw := q.Get("usage"); raw != "" {
		u := strings.ToUpper(raw)
		switch u {
		case atelier.UsageTrain, atelier.UsageEval, atelier.UsageTest, atelier.UsageInference:
			f.Usage = u
		default:
			return f, atelier.CodeInvalidParam.Errorf("The usage parameter must be one of TRAIN, EVAL, TEST, INFERENCE, not %q.", raw).WithField("usage")
		}
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) handleListSamples(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	f, err := parseSampleFilter(r)
	if err != nil {
		return err
	}
	page, err := svc.ListSamples(r.Context(), r.PathValue("dataset_id"), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &atelier.SamplePage{Samples: outAll(page.Samples, sampleOut), NextCursor: page.NextCursor})
	return nil
}

func (s *Server) handleGetSample(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	sm, err := svc.GetSample(r.Context(), r.PathValue("dataset_id"), r.PathValue("sample_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sampleOut(sm))
	return nil
}

// setAnnotationsInput is the request body of handleSetAnnotations.
type setAnnotationsInput struct {
	Annotations []atelier.Annotation `json:"annotations"`
	Usage       string               `json:"usage"`
}

func (s *Server) handleSetAnnotations(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var body setAnnotationsInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	sm, err := svc.SetAnnotations(r.Context(), r.PathValue("dataset_id"), r.PathValue("sample_id"), body.Annotations, body.Usage)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sampleOut(sm))
	return nil
}

// deleteSamplesInput is the request body of handleDeleteSamples.
type deleteSamplesInput struct {
	IDs []string `json:"sample_ids"`
}

func (s *Server) handleDeleteSamples(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var body deleteSamplesInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	n, err := svc.DeleteSamples(r.Context(), r.PathValue("dataset_id"), body.IDs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
	return nil
}

func (s *Server) handleDatasetStats(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	st, err := svc.Stats(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return err
	}
	c := *st
	if c.ByLabel == nil {
		c.ByLabel = map[string]int64{}
	}
	if c.ByUsage == nil {
		c.ByUsage = map[string]int64{}
	}
	writeJSON(w, http.StatusOK, &c)
	return nil
}

func (s *Server) handleCreateDatasetVersion(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var spec atelier.VersionSpec
	if err := s.decodeJSON(w, r, &spec, true); err != nil {
		return err
	}
	v, err := svc.CreateVersion(r.Context(), r.PathValue("dataset_id"), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, dsVersionOut(v))
	return nil
}

func (s *Server) handleListDatasetVersions(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	vs, err := svc.ListVersions(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": outAll(vs, dsVersionOut)})
	return nil
}

func (s *Server) handleGetDatasetVersion(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	v, err := svc.GetVersion(r.Context(), r.PathValue("dataset_id"), r.PathValue("version_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dsVersionOut(v))
	return nil
}

// exportDatasetVersionInput is the request body of handleExportDatasetVersion.
type exportDatasetVersionInput struct {
	VersionID string `json:"version_id"`
	Path      string `json:"export_path"`
}

func (s *Server) handleExportDatasetVersion(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	var body exportDatasetVersionInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if body.VersionID == "" {
		return atelier.CodeInvalidParam.Errorf("The version_id is required.").WithField("version_id")
	}
	if body.Path == "" {
		return atelier.CodeInvalidParam.Errorf("The export_path is required.").WithField("export_path")
	}
	t, err := svc.ExportVersion(r.Context(), r.PathValue("dataset_id"), body.VersionID, body.Path)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, exportTaskOut(t))
	return nil
}

func (s *Server) handleListExportTasks(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.datasetService()
	if err != nil {
		return err
	}
	ts, err := svc.ListExportTasks(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"export_tasks": outAll(ts, exportTaskOut)})
	return nil
}
