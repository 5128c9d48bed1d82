package httpapi

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/jsonschema"
)

// answerType is the media type of the route's success answer.
func (rt *route) answerType() string {
	switch {
	case rt.ContentType != "":
		return rt.ContentType
	case rt.Pattern == "/metrics":
		return "text/plain"
	case rt.Method == http.MethodGet && strings.HasSuffix(rt.Pattern, "...}"):
		return "application/octet-stream"
	}
	return "application/json"
}

// requestType is the media type of the route's request body.
func (rt *route) requestType() string {
	switch {
	case rt.RequestType != "":
		return rt.RequestType
	case rt.isOBS() && rt.Method == http.MethodPut:
		return "application/octet-stream"
	}
	return "application/json"
}

// openAPIPath turns a ServeMux pattern into an OpenAPI path: {key...}
// becomes {key}.
func openAPIPath(pattern string) string {
	return strings.ReplaceAll(pattern, "...}", "}")
}

// operationID derives a stable operation id from method and pattern.
func operationID(rt *route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(rt.Pattern, "/") {
		seg = strings.Trim(strings.TrimSuffix(seg, "...}"), "{}")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// buildOpenAPI renders the OpenAPI 3.0 document of the route table.
func (s *Server) buildOpenAPI() []byte {
	errorRef := map[string]any{"$ref": "#/components/schemas/Error"}
	gen := jsonschema.NewGenerator()
	// Reserved first, so that a Go type named Error gets another name.
	gen.Defs["Error"] = map[string]any{
		"type":     "object",
		"required": []string{"error_code", "error_msg"},
		"properties": map[string]any{
			"error_code": map[string]any{"type": "string", "example": "ATL.OBS.0003"},
			"error_msg":  map[string]any{"type": "string"},
			"request_id": map[string]any{"type": "string"},
		},
	}
	// Request bodies are decoded, so their schemas say what decoding
	// accepts; their components are named <Type>Input.
	inGen := gen.Decoder("Input")
	schemaOf := func(g *jsonschema.Generator, v any) map[string]any {
		if v == nil {
			return map[string]any{}
		}
		return g.Of(v)
	}
	paths := map[string]map[string]any{}
	for i := range s.table {
		rt := &s.table[i]
		var params []any
		for _, p := range rt.Params {
			params = append(params, map[string]any{"name": p.Name, "in": "path", "required": true, "description": p.Desc, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range rt.Query {
			params = append(params, map[string]any{"name": p.Name, "in": "query", "required": p.Required, "description": p.Desc, "schema": map[string]any{"type": "string"}})
		}
		if rt.Presign != "" {
			for _, p := range presignParams {
				params = append(params, map[string]any{"name": p.Name, "in": "query", "required": false, "description": p.Desc, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, p := range rt.Headers {
			params = append(params, map[string]any{"name": p.Name, "in": "header", "required": p.Required, "description": p.Desc, "schema": map[string]any{"type": "string"}})
		}
		success := map[string]any{"description": cmp.Or(rt.Response, http.StatusText(rt.Status))}
		if rt.Response != "" && rt.Method != http.MethodHead {
			ct, schema := rt.answerType(), map[string]any{}
			if ct == "application/json" {
				schema = schemaOf(gen, rt.Out)
			}
			success["content"] = map[string]any{ct: map[string]any{"schema": schema}}
		}
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
			// The ServeMux pattern maps a request path back to its
			// operation ({key...} matches several segments).
			jsonschema.PatternField: rt.Pattern,
			"responses": map[string]any{
				strconv.Itoa(rt.Status): success,
				"default": map[string]any{
					"description": "Error.",
					"content":     map[string]any{"application/json": map[string]any{"schema": errorRef}},
				},
			},
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Request != "" {
			ct, schema := rt.requestType(), map[string]any{}
			if ct == "application/json" {
				schema = schemaOf(inGen, rt.In)
			}
			op["requestBody"] = map[string]any{
				"description": rt.Request,
				"content":     map[string]any{ct: map[string]any{"schema": schema}},
			}
		}
		if rt.Auth {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			if rt.Presign != "" {
				op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"presigned": []string{}}}
			}
		}
		path := openAPIPath(rt.Pattern)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.Method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Atelier API",
			"version":     s.version,
			"description": "The wire contract of Atelier: see docs/api.md. Errors are {\"error_code\",\"error_msg\",\"request_id\"} under /v1 and {\"error_code\",\"error_msg\"} under /api/v2.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				"presigned": map[string]any{"type": "apiKey", "in": "query", "name": atelier.PresignSignatureParam,
					"description": "A presigned object URL (docs/api.md, \"Presigned object URLs\"): with " + atelier.PresignExpiresParam + " and " + atelier.PresignScopeParam + ", in place of Authorization."},
			},
			"schemas": gen.Defs,
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("httpapi: render openapi: " + err.Error()) // only maps and strings above
	}
	return append(b, '\n')
}

// OpenAPI returns the OpenAPI 3.0 document that GET /openapi.json serves.
// The caller must not modify it.
func (s *Server) OpenAPI() []byte { return s.openapi }
