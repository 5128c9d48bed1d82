package jsonschema

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// PatternField is the operation field that holds the http.ServeMux pattern
// of an operation ("x-atelier-pattern"), by which API finds the operation
// of a request path.
const PatternField = "x-atelier-pattern"

// API checks answers against an OpenAPI 3.0 document whose operations carry
// PatternField. An API is safe for concurrent use once made.
type API struct {
	root map[string]any
	mux  *http.ServeMux
	ops  map[string]map[string]any // by "METHOD pattern"
}

// NewAPI reads an OpenAPI document.
func NewAPI(doc []byte) (*API, error) {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("jsonschema: read the OpenAPI document: %w", err)
	}
	a := &API{root: root, mux: http.NewServeMux(), ops: map[string]map[string]any{}}
	paths, _ := root["paths"].(map[string]any)
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for path, methods := range paths {
		ms, _ := methods.(map[string]any)
		for method, op := range ms {
			o, _ := op.(map[string]any)
			pattern, _ := o[PatternField].(string)
			if pattern == "" {
				return nil, fmt.Errorf("jsonschema: %s %s has no %s", method, path, PatternField)
			}
			key := strings.ToUpper(method) + " " + pattern
			a.ops[key] = o
			a.mux.Handle(key, nop)
		}
	}
	return a, nil
}

// Operation returns the operation that serves method and path (a request
// URL's escaped path), or nil.
func (a *API) Operation(method, path string) map[string]any {
	r, err := http.NewRequest(method, "http://x"+path, nil)
	if err != nil {
		return nil
	}
	_, pattern := a.mux.Handler(r)
	return a.ops[pattern]
}

// CheckResponse holds an answer against the document: when the operation
// documents a JSON schema for status, the body must fit it. It reports
// whether it checked the body against a schema; an answer of an
// undocumented operation is an error.
func (a *API) CheckResponse(method, path string, status int, contentType string, body []byte) (bool, error) {
	op := a.Operation(method, path)
	if op == nil {
		return false, fmt.Errorf("%s %s: no operation of the document serves it", method, path)
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		// Errors (each area renders its own shape), or a 206 next to a
		// documented 200.
		return false, nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	content, _ := resp["content"].(map[string]any)
	media, _ := content[mt].(map[string]any)
	schema, ok := media["schema"].(map[string]any)
	if mt != "application/json" || !ok || len(schema) == 0 {
		if len(content) > 0 && content["application/json"] != nil && mt != "application/json" {
			return false, fmt.Errorf("%s %s: answered %d with Content-Type %q, the document says application/json", method, path, status, contentType)
		}
		return false, nil
	}
	if err := Validate(a.root, schema, body); err != nil {
		return true, fmt.Errorf("%s %s answered %d with a body that does not fit its schema: %w\nbody: %.2000s", method, path, status, err, body)
	}
	return true, nil
}

// CheckRequest holds a JSON request body against the operation's request
// schema, when it documents one.
func (a *API) CheckRequest(method, path string, body []byte) (bool, error) {
	op := a.Operation(method, path)
	if op == nil {
		return false, fmt.Errorf("%s %s: no operation of the document serves it", method, path)
	}
	rb, _ := op["requestBody"].(map[string]any)
	content, _ := rb["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, ok := media["schema"].(map[string]any)
	if !ok || len(schema) == 0 || len(body) == 0 {
		return false, nil
	}
	if err := Validate(a.root, schema, body); err != nil {
		return true, fmt.Errorf("%s %s: the request body does not fit its schema: %w", method, path, err)
	}
	return true, nil
}
