package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/jsonschema"
)

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Summary    string `json:"summary"`
		Parameters []struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		Responses map[string]any `json:"responses"`
	} `json:"paths"`
}

func fetchOpenAPI(t *testing.T, h *harness) openAPIDoc {
	t.Helper()
	w := h.do(httptest.NewRequest("GET", "/openapi.json", nil))
	var doc openAPIDoc
	mustJSON(t, w, 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIRoutesAnswer walks the document and calls every operation:
// none may get the router's 404 or 405, so the document lists nothing the
// server lacks.
func TestOpenAPIRoutesAnswer(t *testing.T) {
	h := newHarness(t)
	notFound := atelier.CodeObjectNotFound.Errorf("nothing here")
	h.auth.LoginFn = func(context.Context, atelier.LoginRequest) (*atelier.LoginResult, error) { return nil, notFound }
	h.auth.LogoutFn = func(context.Context, string) error { return notFound }
	h.auth.ExchangeKeyFn = func(context.Context, string, string) (*atelier.IssuedToken, error) { return nil, notFound }
	h.keys.CreateAPIKeyFn = func(context.Context, string) (*atelier.NewAPIKey, error) { return nil, notFound }
	h.keys.ListAPIKeysFn = func(context.Context) ([]*atelier.APIKey, error) { return nil, notFound }
	h.keys.DeleteAPIKeyFn = func(context.Context, string) error { return notFound }
	o := h.objects
	o.CreateBucketFn = func(context.Context, string) (*atelier.Bucket, error) { return nil, notFound }
	o.DeleteBucketFn = func(context.Context, string) error { return notFound }
	o.GetBucketFn = func(context.Context, string) (*atelier.Bucket, error) { return nil, notFound }
	o.ListBucketsFn = func(context.Context) ([]*atelier.Bucket, error) { return nil, notFound }
	o.PutObjectFn = func(context.Context, string, string, io.Reader, atelier.PutOptions) (*atelier.Object, error) {
		return nil, notFound
	}
	o.CopyObjectFn = func(context.Context, string, string, string, string) (*atelier.Object, error) { return nil, notFound }
	o.GetObjectFn = func(context.Context, string, string, *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
		return nil, nil, nil, notFound
	}
	o.StatObjectFn = func(context.Context, string, string) (*atelier.Object, error) { return nil, notFound }
	o.DeleteObjectFn = func(context.Context, string, string) error { return notFound }
	o.ListObjectsFn = func(context.Context, string, atelier.ListQuery) (*atelier.ObjectList, error) { return nil, notFound }
	tr := h.training
	tr.SubmitJobFn = func(context.Context, string, string, atelier.JobSpec) (*atelier.TrainingJob, *atelier.JobVersion, error) {
		return nil, nil, notFound
	}
	tr.CreateJobVersionFn = func(context.Context, string, int64, string, atelier.JobSpec) (*atelier.JobVersion, error) {
		return nil, notFound
	}
	tr.ListJobsFn = func(context.Context, atelier.JobFilter) (*atelier.JobPage, error) { return nil, notFound }
	tr.GetJobFn = func(context.Context, string) (*atelier.TrainingJob, error) { return nil, notFound }
	tr.ListVersionsFn = func(context.Context, string) ([]*atelier.JobVersion, error) { return nil, notFound }
	tr.GetVersionFn = func(context.Context, string, int64) (*atelier.JobVersion, error) { return nil, notFound }
	tr.ListEventsFn = func(context.Context, string, int64) ([]*atelier.JobEvent, error) { return nil, notFound }
	tr.StopVersionFn = func(context.Context, string, int64) (*atelier.JobVersion, error) { return nil, notFound }
	tr.DeleteJobFn = func(context.Context, string) error { return notFound }
	tr.OpenLogFn = func(context.Context, string, int64, string, int64, bool) (io.ReadCloser, error) { return nil, notFound }
	tr.ListFlavorsFn = func(context.Context) ([]*atelier.Flavor, error) { return nil, notFound }
	tr.ListFrameworksFn = func(context.Context) ([]*atelier.Framework, error) { return nil, notFound }
	stubDatasets(h.datasets, notFound)

	doc := fetchOpenAPI(t, h)
	samples := map[string]string{"bucket": "bkt-1", "key": "dir/sub/file.txt", "access_key": "AK123",
		"channel": "email", "client_id": "app-1", "id": "x1", "user_id": "u1",
		"job_id": "job-1", "version_id": "1", "task": "worker-0", "delivery_id": "dlv-1",
		"dataset_id": "ds-1", "sample_id": "sm-1", "task_id": "imp-1",
		"model_id": "m1", "service_id": "s1", "name": "svc", "version": "1", "path": "sub"}
	var ops []string
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops = append(ops, strings.ToUpper(method)+" "+path)
			if op.Summary == "" {
				t.Errorf("%s %s has no summary", method, path)
			}
			target := path
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				v, ok := samples[p.Name]
				if !ok {
					t.Fatalf("no sample value for path parameter %s", p.Name)
				}
				target = strings.ReplaceAll(target, "{"+p.Name+"}", v)
			}
			if strings.Contains(target, "{") {
				t.Errorf("%s %s: a path parameter is not documented", method, path)
			}
			req := authed(strings.ToUpper(method), target, strings.NewReader("{}"))
			w := h.do(req)
			var e apiError
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if e.Code == "ATL.GEN.0004" || w.Code == 405 {
				t.Errorf("%s %s (%s) answers %d %s: documented but not routed", method, path, target, w.Code, e.Code)
			}
		}
	}
	sort.Strings(ops)
	for _, want := range []string{"GET /healthz", "GET /v1/obs", "PUT /v1/obs/{bucket}/{key}", "POST /api/v2/sdk/login/email", "POST /v1/auth/token"} {
		if _, found := sort.Find(len(ops), func(i int) int { return strings.Compare(want, ops[i]) }); !found {
			t.Errorf("the document lacks %s; it has %v", want, ops)
		}
	}
}

// TestOpenAPISchemasAreReal checks that the document's JSON answers and
// bodies have schemas derived from their Go types, and that those schemas
// refuse what does not fit (every h.do holds answers against them).
func TestOpenAPISchemasAreReal(t *testing.T) {
	h := newHarness(t)
	api, err := jsonschema.NewAPI(h.server().OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path, body string
		ok                 bool
	}{
		{"GET", "/v1/obs", `{"buckets":[{"id":"b1","name":"bkt","created_at":"2026-01-01T00:00:00Z"}]}`, true},
		{"GET", "/v1/obs", `{"buckets":[{"id":1,"name":"bkt","created_at":"2026-01-01T00:00:00Z"}]}`, false},
		{"GET", "/v1/obs", `{"buckets":[],"extra":true}`, false},
		{"GET", "/v1/auth/whoami", `{"user_id":"u","tenant_id":"t","email":"e","role":"admin","client_id":"c"}`, true},
		{"GET", "/v1/auth/whoami", `{"user_id":"u"}`, false},
		{"POST", "/api/v2/sdk/login/email", `{"status":"SUCCESS","session_token":"s","id_token":"","expire":1,"state_token":"","data":{}}`, true},
		{"POST", "/api/v2/sdk/login/email", `{"status":"SUCCESS"}`, false},
	} {
		checked, err := api.CheckResponse(tt.method, tt.path, 200, "application/json", []byte(tt.body))
		if !checked || (err == nil) != tt.ok {
			t.Errorf("CheckResponse(%s %s, %s) = %v, %v; want checked and ok=%v", tt.method, tt.path, tt.body, checked, err, tt.ok)
		}
	}
	if checked, err := api.CheckRequest("POST", "/v1/datasets", []byte(`{"dataset_name":"d","labels":[{"name":"cat"}]}`)); !checked || err != nil {
		t.Errorf("CheckRequest(dataset spec) = %v, %v", checked, err)
	}
	if _, err := api.CheckRequest("POST", "/v1/datasets", []byte(`{"dataset_name":5}`)); err == nil {
		t.Error("a dataset spec with a numeric name fits its schema")
	}
}
