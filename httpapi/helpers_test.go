package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/internal/jsonschema"
	"github.com/atelier-dev/atelier/mock"
)

// testToken is the bearer token that the test AuthService accepts.
const testToken = "good-token"

var testPrincipal = &atelier.Principal{UserID: "u1", TenantID: "t1", Email: "a@example.com", Role: atelier.RoleAdmin, ClientID: atelier.CLIClientID}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logLines returns the JSON log records written so far.
func (s *syncBuffer) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// harness is a Server over mocks, with its log and metrics at hand.
type harness struct {
	t        *testing.T
	auth     *mock.AuthService
	keys     *mock.APIKeyService
	objects  *mock.ObjectService
	dir      *mock.DirectoryService
	verify   *mock.VerificationService
	oidc     *mock.OIDCProvider
	training *mock.TrainingService
	datasets *mock.DatasetService
	log      *syncBuffer
	logger   *slog.Logger
	reg      *prometheus.Registry
	opts     httpapi.Options
	srv      *httpapi.Server
	api      *jsonschema.API
}

// newHarness returns a harness whose AuthService accepts testToken. Set
// mock fields before the first request; call h.server() after changing
// h.opts.
func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		auth:     &mock.AuthService{},
		keys:     &mock.APIKeyService{},
		objects:  &mock.ObjectService{},
		dir:      &mock.DirectoryService{},
		verify:   &mock.VerificationService{},
		oidc:     &mock.OIDCProvider{},
		training: &mock.TrainingService{},
		datasets: &mock.DatasetService{},
		log:      &syncBuffer{},
		reg:      prometheus.NewRegistry(),
	}
	h.auth.AuthenticateFn = func(ctx context.Context, token string) (*atelier.Principal, error) {
		if token != testToken {
			return nil, atelier.CodeInvalidToken.Errorf("The bearer token is unknown, revoked or expired.")
		}
		return testPrincipal, nil
	}
	h.logger = slog.New(httpapi.NewLogHandler(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.opts = httpapi.Options{
		Auth: h.auth, APIKeys: h.keys, Objects: h.objects,
		Directory: h.dir, Verifications: h.verify, OIDC: h.oidc, Training: h.training,
		Datasets: h.datasets,
		Logger:   h.logger, Registerer: h.reg, Gatherer: h.reg,
		Version: "test",
	}
	return h
}

func (h *harness) server() *httpapi.Server {
	if h.srv == nil {
		h.srv = httpapi.New(h.opts)
	}
	return h.srv
}

// do serves req and returns the recorded answer. A successful answer must
// fit its route's schema in the OpenAPI document, and so must the JSON
// request body it accepted: every handler test checks the schemas too.
func (h *harness) do(req *http.Request) *httptest.ResponseRecorder {
	h.t.Helper()
	srv := h.server()
	if h.api == nil {
		api, err := jsonschema.NewAPI(srv.OpenAPI())
		if err != nil {
			h.t.Fatal(err)
		}
		h.api = api
	}
	var reqBody []byte
	if jsonBody(h.api.Operation(req.Method, req.URL.EscapedPath())) && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			h.t.Fatal(err)
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	if w.Code < 300 {
		if _, err := h.api.CheckResponse(req.Method, req.URL.EscapedPath(), w.Code, w.Header().Get("Content-Type"), w.Body.Bytes()); err != nil {
			h.t.Errorf("answer: %v", err)
		}
		if _, err := h.api.CheckRequest(req.Method, req.URL.EscapedPath(), reqBody); err != nil {
			h.t.Errorf("the server accepted a request body its schema refuses: %v", err)
		}
	}
	return w
}

// jsonBody reports whether an operation takes a JSON request body.
func jsonBody(op map[string]any) bool {
	rb, _ := op["requestBody"].(map[string]any)
	content, _ := rb["content"].(map[string]any)
	return content["application/json"] != nil
}

// request builds a request carrying the good bearer token.
func authed(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	return req
}

// apiError is a decoded error answer.
type apiError struct {
	Code      string `json:"error_code"`
	Message   string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

func mustError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) apiError {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	var e apiError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if e.Code != code {
		t.Fatalf("error_code = %q, want %q (%s)", e.Code, code, e.Message)
	}
	return e
}

func mustJSON(t *testing.T, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testObject(bucket, key string, size int64) *atelier.Object {
	return &atelier.Object{Bucket: bucket, Key: key, Size: size, ETag: "0123456789abcdef0123456789abcdef",
		SHA256: strings.Repeat("ab", 32), ContentType: "text/plain", LastModified: testTime}
}
