package httpapi

import (
	"slices"
	"strings"
	"testing"
)

// TestRouteTable checks that every entry is documented and that its path
// parameters are exactly the pattern's.
func TestRouteTable(t *testing.T) {
	s := New(Options{})
	seen := map[string]bool{}
	for _, rt := range s.table {
		id := rt.Method + " " + rt.Pattern
		if seen[id] {
			t.Errorf("%s is in the table twice", id)
		}
		seen[id] = true
		if strings.TrimSpace(rt.Summary) == "" {
			t.Errorf("%s has no summary", id)
		}
		if rt.Handler == nil {
			t.Errorf("%s has no handler", id)
		}
		if rt.Status == 0 {
			t.Errorf("%s documents no success status", id)
		}
		var documented []string
		for _, p := range rt.Params {
			documented = append(documented, p.Name)
			if p.Desc == "" {
				t.Errorf("%s: path parameter %s has no description", id, p.Name)
			}
		}
		if want := patternParams(rt.Pattern); !slices.Equal(documented, want) {
			t.Errorf("%s documents path parameters %v, its pattern has %v", id, documented, want)
		}
		// /v1 needs a bearer token, except the key exchange; so do the
		// OneAccess tenant SSO calls (an app's tenant token) and the Open
		// Inference Protocol's model calls (a model name is a service of
		// the caller's tenant); its health calls are the server's.
		wantAuth := (strings.HasPrefix(rt.Pattern, "/v1/") && id != "POST /v1/auth/token") ||
			strings.HasPrefix(rt.Pattern, "/api/v2/tenant/sso/") || strings.HasPrefix(rt.Pattern, "/v2/models/")
		if rt.Auth != wantAuth {
			t.Errorf("%s: Auth = %v, want %v", id, rt.Auth, wantAuth)
		}
	}
}

// TestOpenAPISchemas checks that every JSON body and answer has its Go type
// in the table (In, Out), so the OpenAPI document's schemas are real.
func TestOpenAPISchemas(t *testing.T) {
	s := New(Options{})
	for _, rt := range s.table {
		id := rt.Method + " " + rt.Pattern
		if rt.Response != "" && rt.Method != "HEAD" && rt.answerType() == "application/json" && rt.Out == nil {
			t.Errorf("%s answers JSON but has no Out type: add Out: <a value of the answer's Go type> to its route", id)
		}
		if rt.Request != "" && rt.requestType() == "application/json" && rt.In == nil {
			t.Errorf("%s takes a JSON body but has no In type: add In: <a value of the body's Go type> to its route", id)
		}
		if rt.Request == "" && rt.In != nil {
			t.Errorf("%s has an In type but documents no request body", id)
		}
	}
}

func TestPatternParams(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{"/healthz", nil},
		{"/v1/apikeys/{access_key}", []string{"access_key"}},
		{"/v1/obs/{bucket}/{key...}", []string{"bucket", "key"}},
	}
	for _, tt := range tests {
		if got := patternParams(tt.pattern); !slices.Equal(got, tt.want) {
			t.Errorf("patternParams(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}
