package httpapi

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

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
			ct := "application/json"
			switch {
			case rt.Pattern == "/metrics":
				ct = "text/plain"
			case rt.Method == http.MethodGet && strings.HasSuffix(rt.Pattern, "...}"):
				ct = "application/octet-stream"
			}
			success["content"] = map[string]any{ct: map[string]any{"schema": map[string]any{}}}
		}
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
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
			ct := "application/json"
			if rt.isOBS() && rt.Method == http.MethodPut {
				ct = "application/octet-stream"
			}
			op["requestBody"] = map[string]any{
				"description": rt.Request,
				"content":     map[string]any{ct: map[string]any{"schema": map[string]any{}}},
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
			"schemas": map[string]any{
				"Error": map[string]any{
					"type":     "object",
					"required": []string{"error_code", "error_msg"},
					"properties": map[string]any{
						"error_code": map[string]any{"type": "string", "example": "ATL.OBS.0003"},
						"error_msg":  map[string]any{"type": "string"},
						"request_id": map[string]any{"type": "string"},
					},
				},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("httpapi: render openapi: " + err.Error()) // only maps and strings above
	}
	return append(b, '\n')
}
