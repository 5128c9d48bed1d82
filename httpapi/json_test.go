package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

// TestDuplicateJSONKeysRefused checks that a body naming a key twice, at
// any depth, is refused naming the key, rather than the last one winning
// unseen (a proxy or a log may have read the first).
func TestDuplicateJSONKeysRefused(t *testing.T) {
	h := newHarness(t)
	h.auth.ExchangeKeyFn = func(ctx context.Context, ak, sk string) (*atelier.IssuedToken, error) {
		return &atelier.IssuedToken{Token: "t"}, nil
	}
	tests := []struct{ body, key string }{
		{`{"access_key":"AK","secret_key":"s","access_key":"other"}`, "access_key"},
		{`{"access_key":"AK","secret_key":"s","secret_key":"s"}`, "secret_key"},
		{`{"access_key":"AK","secret_key":"s","x":{"a":1,"a":2}}`, "x.a"},
		{`{"access_key":"AK","secret_key":"s","x":[{"a":1},{"b":1,"b":2}]}`, "x[1].b"},
	}
	for _, tt := range tests {
		e := mustError(t, h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(tt.body))), 400, atelier.CodeInvalidJSON.ID)
		if !strings.Contains(e.Message, `"`+tt.key+`"`) {
			t.Errorf("%s: message %q does not name %q", tt.body, e.Message, tt.key)
		}
	}
	// The same key in two objects, or escaped differently but equal, is
	// fine and a duplicate respectively.
	mustJSON(t, h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"access_key":"AK","secret_key":"s"}`))), 200, nil)
	mustError(t, h.do(httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"access_key":"AK","secret_key":"s","access\u005fkey":"B"}`))), 400, atelier.CodeInvalidJSON.ID)
}
