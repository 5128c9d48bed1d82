package httpapi

import (
	"net/http"
	"strings"

	"github.com/atelier-dev/atelier"
)

// route is one entry of the route table. The router and the OpenAPI
// document are both built from the table, and from nothing else.
type route struct {
	Method  string
	Pattern string // http.ServeMux syntax: {name} and a final {name...}
	Summary string
	Auth    bool // needs Authorization: Bearer
	// Presign, when set, is what a request to this route does for a
	// presigned URL (atelier.ObjectGrant.Allows): such a URL then stands in
	// for Authorization.
	Presign atelier.ObjectOp
	Params  []param // path parameters, in pattern order
	Query   []param // query parameters
	Headers []param // request headers the route reads
	// Request describes the request body ("" for none); Response the
	// success answer, sent with status Status.
	Request  string
	Response string
	Status   int
	// ContentType is the media type of the success answer and
	// RequestType that of the request body, when not application/json
	// (metrics and object downloads and uploads have theirs already).
	ContentType, RequestType string
	// In and Out are values of the Go types of a JSON request body and of
	// the JSON success answer (e.g. In: atelier.DatasetSpec{}, Out:
	// datasetJSON{}); the OpenAPI document's schemas are derived from them
	// (internal/jsonschema), and the tests hold every answer against them.
	// A route with a JSON body or answer must set them (TestOpenAPISchemas).
	In, Out any
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// param documents one path, query or header parameter.
type param struct {
	Name     string
	Desc     string
	Required bool
}

// obsPrefix is the path prefix that the server dispatches itself.
const obsPrefix = "/v1/obs"

// isOBS reports whether the route is dispatched by serveOBS.
func (rt *route) isOBS() bool {
	return rt.Pattern == obsPrefix || strings.HasPrefix(rt.Pattern, obsPrefix+"/")
}

// patternParams returns the names of the wildcards in a pattern.
func patternParams(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return names
}

// routes returns the route table. Every route of the server is here.
func (s *Server) routes() []route {
	bucket := param{Name: "bucket", Desc: "Bucket name.", Required: true}
	key := param{Name: "key", Desc: "Object key, percent-encoded per segment; '/' separates segments and is part of the key.", Required: true}
	v2Headers := []param{
		{Name: "X-client-id", Desc: "Client id of a registered app (atelier-cli is built in).", Required: true},
		{Name: "X-operating-sys-version", Desc: "Operating system of the client.", Required: true},
		{Name: "X-device-fingerprint", Desc: "Fingerprint of the client device.", Required: true},
		{Name: "X-agent", Desc: "Client agent.", Required: true},
		{Name: "X-device-ip", Desc: "Client IP; the remote address when absent."},
		{Name: "X-L", Desc: "Message language, zh or en."},
		{Name: "X-tenant-id", Desc: "Tenant to log in to, when the account exists in several."},
	}
	loginDesc := `{"status","session_token","id_token","expire","state_token","data":{"tenant_id","user_id"}}`
	objectJSON := `{"bucket","key","size","etag","sha256","content_type","last_modified"}`
	table := []route{
		// Operational.
		{Method: "GET", Pattern: "/healthz", Summary: "Liveness: answers while the process lives.",
			Response: `{"status":"ok"}`, Status: 200, Out: struct {
				Status string `json:"status"`
			}{}, Handler: s.handleHealthz},
		{Method: "GET", Pattern: "/readyz", Summary: "Readiness: answers 200 once the store answers and takes a write, the object store answers and the disks have free space, else 503.",
			Response: `{"status":"ready"}`, Status: 200, Out: struct {
				Status string `json:"status"`
			}{}, Handler: s.handleReadyz},
		{Method: "GET", Pattern: "/metrics", Summary: "Prometheus metrics in text format.",
			Response: "Prometheus text exposition format.", Status: 200, Handler: s.handleMetrics},
		{Method: "GET", Pattern: "/openapi.json", Summary: "This OpenAPI 3.0 document.",
			Response: "OpenAPI 3.0 JSON.", Status: 200, Out: map[string]any{}, Handler: s.handleOpenAPI},

		// Identity, OneAccess-compatible.
		{Method: "POST", Pattern: "/api/v2/sdk/login/email", Summary: "Log in with email and password.",
			Headers: v2Headers, Request: `{"email","password"}`, Response: loginDesc, Status: 200, In: loginEmailInput{}, Out: loginAnswer{}, Handler: s.handleLoginEmail},
		{Method: "POST", Pattern: "/api/v2/sdk/login", Summary: "Log in with user name and password.",
			Headers: v2Headers, Request: `{"user_name","password"}`, Response: loginDesc, Status: 200, In: loginNameInput{}, Out: loginAnswer{}, Handler: s.handleLoginName},
		{Method: "GET", Pattern: "/api/v2/sdk/logout", Summary: "Revoke a session token.",
			Headers:  []param{{Name: "X-session-token", Desc: "The session token to revoke.", Required: true}},
			Response: "{}", Status: 200, Out: struct{}{}, Handler: s.handleLogout},

		// Identity, native.
		{Method: "POST", Pattern: "/v1/auth/token", Summary: "Exchange an access/secret key pair for a bearer token.",
			Request: `{"access_key","secret_key"}`, Response: `{"token","expires_in","expires_at","tenant_id","user_id"}`, Status: 200, In: exchangeKeyInput{}, Out: atelier.IssuedToken{}, Handler: s.handleExchangeKey},
		{Method: "GET", Pattern: "/v1/auth/whoami", Summary: "Describe the caller.", Auth: true,
			Response: `{"user_id","tenant_id","email","role","client_id"}`, Status: 200, Out: whoamiJSON{}, Handler: s.handleWhoami},
		{Method: "DELETE", Pattern: "/v1/auth/token", Summary: "Revoke the bearer token of the request.", Auth: true,
			Status: 204, Handler: s.handleRevokeToken},
		{Method: "POST", Pattern: "/v1/apikeys", Summary: "Create an API key; the secret is shown only in this answer.", Auth: true,
			Request: `{"description"} (optional, at most 256 characters)`, Response: `{"access_key","secret_key","description","tenant_id","user_id","created_at"}`, Status: 201, In: createAPIKeyInput{}, Out: atelier.NewAPIKey{}, Handler: s.handleCreateAPIKey},
		{Method: "GET", Pattern: "/v1/apikeys", Summary: "List the caller's API keys.", Auth: true,
			Response: `{"api_keys":[{"access_key","description","tenant_id","user_id","created_at"}]}`, Status: 200, Out: struct {
				APIKeys []*atelier.APIKey `json:"api_keys"`
			}{}, Handler: s.handleListAPIKeys},
		{Method: "DELETE", Pattern: "/v1/apikeys/{access_key}", Summary: "Delete one of the caller's API keys and revoke its tokens.", Auth: true,
			Params: []param{{Name: "access_key", Desc: "The access key to delete.", Required: true}}, Status: 204, Handler: s.handleDeleteAPIKey},

		// Object store.
		{Method: "GET", Pattern: "/v1/obs", Summary: "List the tenant's buckets.", Auth: true,
			Response: `{"buckets":[{"id","name","created_at"}]}`, Status: 200, Out: struct {
				Buckets []*atelier.Bucket `json:"buckets"`
			}{}, Handler: s.handleListBuckets},
		{Method: "PUT", Pattern: "/v1/obs/{bucket}", Summary: "Create a bucket.", Auth: true, Params: []param{bucket},
			Response: `{"id","name","created_at"}`, Status: 201, Out: atelier.Bucket{}, Handler: s.handleCreateBucket},
		{Method: "HEAD", Pattern: "/v1/obs/{bucket}", Summary: "Check that a bucket exists.", Auth: true, Params: []param{bucket},
			Status: 200, Handler: s.handleHeadBucket},
		{Method: "DELETE", Pattern: "/v1/obs/{bucket}", Summary: "Delete an empty bucket.", Auth: true, Params: []param{bucket},
			Status: 204, Handler: s.handleDeleteBucket},
		{Method: "GET", Pattern: "/v1/obs/{bucket}", Summary: "List objects in byte order of their keys.", Auth: true, Params: []param{bucket},
			Presign: atelier.OpListObjects,
			Query: []param{
				{Name: "prefix", Desc: "Only keys starting with this."},
				{Name: "delimiter", Desc: "Group keys up to the next delimiter into common_prefixes."},
				{Name: "max_keys", Desc: "Page size, 1–1000 (default 1000)."},
				{Name: "continuation_token", Desc: "next_continuation_token of the previous page."},
				{Name: "start_after", Desc: "Only keys after this one."},
			},
			Response: `{"bucket","prefix","delimiter","objects":[` + objectJSON + `],"common_prefixes","is_truncated","next_continuation_token"}`, Status: 200, Out: atelier.ObjectList{}, Handler: s.handleListObjects},
		{Method: "PUT", Pattern: "/v1/obs/{bucket}/{key...}", Summary: "Upload an object (streamed), or copy one on the server with x-atelier-copy-source.", Auth: true,
			Params: []param{bucket, key}, Presign: atelier.OpPutObject,
			Headers: []param{
				{Name: "Content-Type", Desc: "Stored content type (default application/octet-stream)."},
				{Name: "Content-MD5", Desc: "Base64 of the 16-byte MD5 of the body, verified."},
				{Name: "x-atelier-sha256", Desc: "Hex SHA-256 of the body, verified."},
				{Name: "x-atelier-copy-source", Desc: "/<bucket>/<percent-encoded key> to copy from; the body must be empty."},
			},
			Request: "The object bytes (Content-Length or chunked).", Response: objectJSON + ` and header ETag: "<md5 hex>"`, Status: 200, Out: atelier.Object{}, Handler: s.handlePutObject},
		{Method: "GET", Pattern: "/v1/obs/{bucket}/{key...}", Summary: "Download an object or one byte range of it.", Auth: true,
			Params: []param{bucket, key}, Presign: atelier.OpGetObject,
			Headers:  []param{{Name: "Range", Desc: "bytes=a-b, bytes=a- or bytes=-n (one range)."}},
			Response: "The object bytes; 206 with Content-Range for a range.", Status: 200, Handler: s.handleGetObject},
		{Method: "HEAD", Pattern: "/v1/obs/{bucket}/{key...}", Summary: "Object metadata as headers.", Auth: true,
			Params: []param{bucket, key}, Presign: atelier.OpGetObject, Status: 200, Handler: s.handleHeadObject},
		{Method: "DELETE", Pattern: "/v1/obs/{bucket}/{key...}", Summary: "Delete an object.", Auth: true,
			Params: []param{bucket, key}, Status: 204, Handler: s.handleDeleteObject},
	}
	// Each area keeps its routes beside its handlers.
	table = append(table, s.sdkRoutes(v2Headers, loginDesc)...)
	table = append(table, s.oauthRoutes()...)
	table = append(table, s.directoryRoutes()...)
	table = append(table, s.trainingRoutes()...)
	table = append(table, s.datasetRoutes()...)
	table = append(table, s.servingRoutes()...)
	table = append(table, s.callbackRoutes()...)
	return table
}
