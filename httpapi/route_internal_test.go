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
