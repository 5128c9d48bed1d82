package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Wire shapes of training, for the route table.
const (
	jobJSON     = `{"job_id","tenant_id","job_name","job_desc","version_id","version_count","status","created_at","updated_at"}`
	specJSON    = `{"framework_type","framework_version","code_dir","boot_file","user_command","script_interpreter","parameters":[{"name","value"}],"inputs":[{"obs_path","local_path"}],"outputs":[{"obs_path","local_path"}],"log_url","flavor_id","train_instance_count","max_run_seconds","env"}`
	versionJSON = `{"job_id","tenant_id","version_id","version_name","job_desc","spec":` + specJSON + `,"status","reason","exit_code","created_at","started_at","finished_at"}`
	eventJSON   = `{"job_id","version_id","seq","status","reason","time"}`
)

// logChunkSize is the buffer of log streams: a log arrives a line at a time,
// so a small buffer sends each piece as soon as it is read.
const logChunkSize = 32 << 10

// headerLogOffset is the byte offset a log answer starts at.
const headerLogOffset = "X-Log-Offset"

// trainingRoutes are the /v1/training calls of atelier.TrainingService.
func (s *Server) trainingRoutes() []route {
	jobID := param{Name: "job_id", Desc: "The job id.", Required: true}
	versionID := param{Name: "version_id", Desc: "The version number (1, 2, …) or latest.", Required: true}
	jobVersion := []param{jobID, versionID}
	return []route{
		{Method: "GET", Pattern: "/v1/training/flavors", Summary: "List the resource flavors jobs run on (get_spec_list).", Auth: true,
			Response: `{"flavors":[{"flavor_id","flavor_name","max_num","cpu","memory_mb","gpu_num","gpu_type","executor"}]}`, Status: 200, Out: struct {
				Flavors []*atelier.Flavor `json:"flavors"`
			}{}, Handler: s.handleListFlavors},
		{Method: "GET", Pattern: "/v1/training/frameworks", Summary: "List the configured AI frameworks (get_framework_list).", Auth: true,
			Response: `{"frameworks":[{"framework_type","framework_version","interpreter"}]}`, Status: 200, Out: struct {
				Frameworks []*atelier.Framework `json:"frameworks"`
			}{}, Handler: s.handleListFrameworks},
		{Method: "POST", Pattern: "/v1/training/jobs", Summary: "Create a training job with its first version and start it.", Auth: true,
			Request: `{"job_name","job_desc","spec":` + specJSON + `} (job_name empty: generated)`, Response: `{"job":` + jobJSON + `,"version":` + versionJSON + `}`,
			Status: 201, In: submitJobInput{}, Out: struct {
				Job     *atelier.TrainingJob `json:"job"`
				Version *atelier.JobVersion  `json:"version"`
			}{}, Handler: s.handleSubmitJob},
		{Method: "GET", Pattern: "/v1/training/jobs", Summary: "List the tenant's training jobs, newest first.", Auth: true,
			Query: []param{
				{Name: "name", Desc: "Only the job of this exact name."},
				{Name: "status", Desc: "Only jobs whose newest version is in this state (CREATING, QUEUED, RUNNING, COMPLETED, FAILED, STOPPED)."},
				{Name: "limit", Desc: "Page size, 1–1000."},
				{Name: "cursor", Desc: "next_cursor of the previous page."},
			},
			Response: `{"jobs":[` + jobJSON + `],"next_cursor"}`, Status: 200, Out: atelier.JobPage{}, Handler: s.handleListJobs},
		{Method: "GET", Pattern: "/v1/training/jobs/{job_id}", Summary: "Describe a training job.", Auth: true,
			Params: []param{jobID}, Response: jobJSON, Status: 200, Out: atelier.TrainingJob{}, Handler: s.handleGetJob},
		{Method: "DELETE", Pattern: "/v1/training/jobs/{job_id}", Summary: "Stop a job's running versions and delete it.", Auth: true,
			Params: []param{jobID}, Status: 204, Handler: s.handleDeleteJob},
		{Method: "GET", Pattern: "/v1/training/jobs/{job_id}/versions", Summary: "List a job's versions, newest first.", Auth: true,
			Params: []param{jobID}, Response: `{"versions":[` + versionJSON + `]}`, Status: 200, Out: struct {
				Versions []*atelier.JobVersion `json:"versions"`
			}{}, Handler: s.handleListVersions},
		{Method: "POST", Pattern: "/v1/training/jobs/{job_id}/versions", Summary: "Run a job again (create_job_version): the settings of pre_version_id (0: the latest) overridden by the non-zero fields of spec.", Auth: true,
			Params: []param{jobID}, Request: `{"pre_version_id","job_desc","spec":` + specJSON + `}`, Response: versionJSON, Status: 201, In: createJobVersionInput{}, Out: atelier.JobVersion{}, Handler: s.handleCreateJobVersion},
		{Method: "GET", Pattern: "/v1/training/jobs/{job_id}/versions/{version_id}", Summary: "Describe one version of a job.", Auth: true,
			Params: jobVersion, Response: versionJSON, Status: 200, Out: atelier.JobVersion{}, Handler: s.handleGetVersion},
		{Method: "POST", Pattern: "/v1/training/jobs/{job_id}/versions/{version_id}/stop", Summary: "Stop a version; stopping an ended one is not an error.", Auth: true,
			Params: jobVersion, Response: versionJSON, Status: 200, Out: atelier.JobVersion{}, Handler: s.handleStopVersion},
		{Method: "GET", Pattern: "/v1/training/jobs/{job_id}/versions/{version_id}/events", Summary: "List a version's state transitions in order.", Auth: true,
			Params: jobVersion, Response: `{"events":[` + eventJSON + `]}`, Status: 200, Out: struct {
				Events []*atelier.JobEvent `json:"events"`
			}{}, Handler: s.handleListJobEvents},
		{Method: "GET", Pattern: "/v1/training/jobs/{job_id}/versions/{version_id}/logs/{task}", Summary: "Stream the log of one worker from a byte offset; with follow=1 until the version ends.", Auth: true,
			Params: []param{jobID, versionID, {Name: "task", Desc: "The worker: worker-0 … worker-N-1.", Required: true}},
			Query: []param{
				{Name: "offset", Desc: "Byte offset to start from (default 0); resume with offset + bytes received."},
				{Name: "follow", Desc: "1 or true: keep the answer open and send new output until the version ends."},
			},
			Response:    "text/plain log bytes, chunked and flushed as they come; header X-Log-Offset is the offset served from.",
			ContentType: "text/plain", Status: 200, Handler: s.handleJobLog},
	}
}

// errNoTraining answers when the server runs without a training service.
func errNoTraining() error {
	return atelier.CodeNotImplemented.Errorf("This server does not run training jobs.")
}

// training returns the training service, or an error when none is set.
func (s *Server) trainingService() (atelier.TrainingService, error) {
	if s.training == nil {
		return nil, errNoTraining()
	}
	return s.training, nil
}

// Wire forms in UTC.

func jobOut(j *atelier.TrainingJob) *atelier.TrainingJob {
	c := *j
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return &c
}

func versionOut(v *atelier.JobVersion) *atelier.JobVersion {
	c := *v
	c.Handle = ""
	c.CreatedAt, c.StartedAt, c.FinishedAt = utc(c.CreatedAt), utc(c.StartedAt), utc(c.FinishedAt)
	return &c
}

func versionsOut(vs []*atelier.JobVersion) []*atelier.JobVersion {
	out := make([]*atelier.JobVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionOut(v))
	}
	return out
}

// parseVersionID reads the version_id path parameter: a version number, or
// "latest" (0 for the service).
func parseVersionID(r *http.Request) (int64, error) {
	raw := r.PathValue("version_id")
	if strings.EqualFold(raw, "latest") {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 {
		return 0, atelier.CodeInvalidParam.Errorf("The version_id must be a version number (1, 2, …) or latest, not %q.", raw).WithField("version_id")
	}
	return n, nil
}

func (s *Server) handleListFlavors(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	fs, err := ts.ListFlavors(r.Context())
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []*atelier.Flavor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavors": fs})
	return nil
}

func (s *Server) handleListFrameworks(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	fs, err := ts.ListFrameworks(r.Context())
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []*atelier.Framework{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"frameworks": fs})
	return nil
}

// submitJobInput is the request body of handleSubmitJob.
type submitJobInput struct {
	Name string          `json:"job_name"`
	Desc string          `json:"job_desc"`
	Spec atelier.JobSpec `json:"spec"`
}

func (s *Server) handleSubmitJob(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	var body submitJobInput
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	j, v, err := ts.SubmitJob(r.Context(), body.Name, body.Desc, body.Spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"job": jobOut(j), "version": versionOut(v)})
	return nil
}

// parseJobFilter reads the query parameters of GET /v1/training/jobs.
func parseJobFilter(r *http.Request) (atelier.JobFilter, error) {
	q := r.URL.Query()
	f := atelier.JobFilter{Name: q.Get("name"), Cursor: q.Get("cursor")}
	if raw := q.Get("status"); raw != "" {
		st := strings.ToUpper(raw)
		switch st {
		case atelier.JobCreating, atelier.JobQueued, atelier.JobRunning, atelier.JobCompleted, atelier.JobFailed, atelier.JobStopped:
			f.State = st
		default:
			return f, atelier.CodeInvalidParam.Errorf("The status parameter must be one of CREATING, QUEUED, RUNNING, COMPLETED, FAILED, STOPPED, not %q.", raw).WithField("status")
		}
	}
	limit, err := parseLimit(q)
	if err != nil {
		return f, err
	}
	f.Limit = limit
	return f, nil
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	f, err := parseJobFilter(r)
	if err != nil {
		return err
	}
	page, err := ts.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	out := atelier.JobPage{Jobs: make([]*atelier.TrainingJob, 0, len(page.Jobs)), NextCursor: page.NextCursor}
	for _, j := range page.Jobs {
		out.Jobs = append(out.Jobs, jobOut(j))
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	j, err := ts.GetJob(r.Context(), r.PathValue("job_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobOut(j))
	return nil
}

func (s *Server) handleDeleteJob(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	if err := ts.DeleteJob(r.Context(), r.PathValue("job_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Server) handleListVersions(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	vs, err := ts.ListVersions(r.Context(), r.PathValue("job_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": versionsOut(vs)})
	return nil
}

// createJobVersionInput is the request body of handleCreateJobVersion.
type createJobVersionInput struct {
	Pre  int64           `json:"pre_version_id"`
	Desc string          `json:"job_desc"`
	Spec atelier.JobSpec `json:"spec"`
}

func (s *Server) handleCreateJobVersion(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	var body createJobVersionInput
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	if body.Pre < 0 {
		return atelier.CodeInvalidParam.Errorf("The pre_version_id must be a version number, or 0 for the latest.").WithField("pre_version_id")
	}
	v, err := ts.CreateJobVersion(r.Context(), r.PathValue("job_id"), body.Pre, body.Desc, body.Spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, versionOut(v))
	return nil
}

func (s *Server) handleGetVersion(w http.ResponseWriter, r *http.Request) error {
	return s.versionCall(w, r, atelier.TrainingService.GetVersion)
}

func (s *Server) handleStopVersion(w http.ResponseWriter, r *http.Request) error {
	return s.versionCall(w, r, atelier.TrainingService.StopVersion)
}

// versionCall answers a call on one version of a job (version_id: a number
// or "latest") with the version.
func (s *Server) versionCall(w http.ResponseWriter, r *http.Request,
	call func(atelier.TrainingService, context.Context, string, int64) (*atelier.JobVersion, error)) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	n, err := parseVersionID(r)
	if err != nil {
		return err
	}
	v, err := call(ts, r.Context(), r.PathValue("job_id"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionOut(v))
	return nil
}

func (s *Server) handleListJobEvents(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	n, err := parseVersionID(r)
	if err != nil {
		return err
	}
	es, err := ts.ListEvents(r.Context(), r.PathValue("job_id"), n)
	if err != nil {
		return err
	}
	out := make([]*atelier.JobEvent, 0, len(es))
	for _, e := range es {
		c := *e
		c.Time = utc(c.Time)
		out = append(out, &c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

// parseLogQuery reads the offset and follow parameters of a log request.
func parseLogQuery(r *http.Request) (offset int64, follow bool, err error) {
	q := r.URL.Query()
	if raw := q.Get("offset"); raw != "" {
		n, ok := parseDigits(raw)
		if !ok {
			return 0, false, atelier.CodeInvalidParam.Errorf("The offset parameter must be a byte offset of 0 or more, not %q.", raw).WithField("offset")
		}
		offset = n
	}
	if raw := q.Get("follow"); raw != "" {
		b, perr := strconv.ParseBool(raw)
		if perr != nil {
			return 0, false, atelier.CodeInvalidParam.Errorf("The follow parameter must be 1, 0, true or false, not %q.", raw).WithField("follow")
		}
		follow = b
	}
	return offset, follow, nil
}

// handleJobLog streams a worker's log. Each piece the service's reader
// gives is written and flushed at once, so that a follower sees output as
// it comes; the answer ends when the reader ends (with follow, when the
// version ends) or the client goes away. A read error after the status is
// sent cuts the connection, so the client sees a short answer and resumes
// from the offset it reached.
func (s *Server) handleJobLog(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.trainingService()
	if err != nil {
		return err
	}
	n, err := parseVersionID(r)
	if err != nil {
		return err
	}
	offset, follow, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rc, err := ts.OpenLog(ctx, r.PathValue("job_id"), n, r.PathValue("task"), offset, follow)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamLog(w, r, rc, offset, "job_id", r.PathValue("job_id"), "task", r.PathValue("task"))
	return nil
}

// streamLog sends a log reader as a text/plain answer from offset, each
// piece flushed as soon as it is read, until the reader ends or the client
// goes away; attrs name the log in the warning of a broken stream.
func (s *Server) streamLog(w http.ResponseWriter, r *http.Request, rc io.Reader, offset int64, attrs ...any) {
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set(headerLogOffset, strconv.FormatInt(offset, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rcon := http.NewResponseController(w)
	// The headers go now: a follower learns the stream is open before the
	// first line of a job still starting.
	_ = rcon.Flush()
	buf := make([]byte, logChunkSize)
	var sent int64
	for {
		k, rerr := rc.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return // the client went away
			}
			if ferr := rcon.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return
			}
			sent += int64(k)
		}
		switch {
		case rerr == nil:
			if ctx.Err() != nil {
				return
			}
		case errors.Is(rerr, io.EOF):
			return
		case ctx.Err() != nil:
			return // the client went away while the reader waited
		default:
			s.log.WarnContext(ctx, "log stream interrupted", append(attrs, "offset", offset, "sent", sent, "err", rerr)...)
			panic(http.ErrAbortHandler)
		}
	}
}
