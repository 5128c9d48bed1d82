package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/mock"
)

// callbackHarness returns a harness whose server has cb as its callback
// service.
func callbackHarness(t *testing.T, cb *mock.CallbackService) *harness {
	t.Helper()
	h := newHarness(t)
	h.opts.Callbacks = cb
	return h
}

func testSubscription() *atelier.Subscription {
	return &atelier.Subscription{ClientID: "app-1", TenantID: "t1", URL: "https://hooks.example.com/cb",
		EventTypes: []string{atelier.EventCreateUser}, Ordered: true, Enabled: true, Encrypted: true,
		Sealed: "sealed-secret-keys", SealedNext: "sealed-next-keys",
		CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local)}
}

func testDelivery() *atelier.Delivery {
	return &atelier.Delivery{ID: "d-1", ClientID: "app-1", TenantID: "t1", EventID: 42, EventType: atelier.EventCreateUser,
		Subject: "u-9", Nonce: "n-1", State: atelier.DeliveryDelivered, Attempts: 2, LastStatus: 200, LastReply: `{"code":"200"}`,
		CreatedAt: testTime.In(local), UpdatedAt: testTime.In(local), DeliveredAt: testTime.In(local)}
}

// assertNoSecrets fails when body carries any key or sealed blob.
func assertNoSecrets(t *testing.T, body string) {
	t.Helper()
	for _, s := range []string{"sealed-secret-keys", "sealed-next-keys", "signing_key", "encryption_key",
		"sig-key-0123456789", "enc-key-0123456789"} {
		if strings.Contains(body, s) {
			t.Errorf("the answer leaks %q: %s", s, body)
		}
	}
}

func TestCallbackEventTypes(t *testing.T) {
	h := callbackHarness(t, &mock.CallbackService{})
	var out struct {
		EventTypes []string `json:"event_types"`
	}
	mustJSON(t, h.do(authed("GET", "/v1/callback/event-types", nil)), 200, &out)
	if strings.Join(out.EventTypes, ",") != strings.Join(atelier.EventTypes, ",") {
		t.Errorf("event_types = %v, want %v", out.EventTypes, atelier.EventTypes)
	}
}

func TestCallbackSet(t *testing.T) {
	cb := &mock.CallbackService{}
	var gotID string
	var got atelier.SubscriptionSpec
	token := ""
	cb.SetCallbackFn = func(ctx context.Context, clientID string, spec atelier.SubscriptionSpec) (*atelier.SubscriptionResult, error) {
		if p := atelier.PrincipalFromContext(ctx); p == nil || p.TenantID != "t1" {
			t.Errorf("principal = %+v", p)
		}
		gotID, got = clientID, spec
		return &atelier.SubscriptionResult{Subscription: testSubscription(), SecurityToken: token}, nil
	}
	h := callbackHarness(t, cb)

	// A first set: the service generated a token, shown in the answer.
	token = "generated-token-xyz"
	body := `{"url":"https://hooks.example.com/cb","event_types":["CREATE_USER"],"signing_key":"sig-key-0123456789",
		"encryption_key":"enc-key-0123456789","ordered":true}`
	w := h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(body)))
	var out map[string]any
	mustJSON(t, w, 200, &out)
	if gotID != "app-1" || got.URL == nil || *got.URL != "https://hooks.example.com/cb" || got.EventTypes == nil ||
		len(*got.EventTypes) != 1 || (*got.EventTypes)[0] != "CREATE_USER" || got.SigningKey == nil ||
		*got.SigningKey != "sig-key-0123456789" || got.EncryptionKey == nil || *got.EncryptionKey != "enc-key-0123456789" ||
		got.Ordered == nil || !*got.Ordered || got.Enabled != nil || got.SecurityToken != nil {
		t.Fatalf("service got %q %+v", gotID, got)
	}
	if out["client_id"] != "app-1" || out["url"] != "https://hooks.example.com/cb" || out["encrypted"] != true ||
		out["ordered"] != true || out["enabled"] != true || out["created_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("answer = %v", out)
	}
	if out["security_token"] != "generated-token-xyz" {
		t.Errorf("security_token = %v, want the generated one", out["security_token"])
	}
	if _, ok := out["rotation_at"]; ok {
		t.Errorf("rotation_at shown with no rotation staged: %v", out)
	}
	assertNoSecrets(t, w.Body.String())

	// A change: nil fields stay nil, "" encryption key turns it off, and
	// no token is shown when the service returns none.
	token = ""
	w = h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{"encryption_key":"","enabled":false}`)))
	out = nil
	mustJSON(t, w, 200, &out)
	if got.URL != nil || got.SigningKey != nil || got.EventTypes != nil || got.EncryptionKey == nil ||
		*got.EncryptionKey != "" || got.Enabled == nil || *got.Enabled {
		t.Errorf("service got %+v", got)
	}
	if _, ok := out["security_token"]; ok {
		t.Errorf("security_token shown though not generated: %v", out)
	}
	assertNoSecrets(t, w.Body.String())
}

func TestCallbackSetErrors(t *testing.T) {
	cb := &mock.CallbackService{}
	called := false
	cb.SetCallbackFn = func(context.Context, string, atelier.SubscriptionSpec) (*atelier.SubscriptionResult, error) {
		called = true
		return nil, atelier.CodeCallbackKey.Errorf("The signing_key must be 16 to 64 printable ASCII characters.").WithField("signing_key")
	}
	h := callbackHarness(t, cb)
	mustError(t, h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{"url":"https://x","bogus":1}`))), 400, atelier.CodeInvalidJSON.ID)
	mustError(t, h.do(authed("PUT", "/v1/apps/app-1/callback", nil)), 400, atelier.CodeInvalidJSON.ID)
	mustError(t, h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{"ordered":"yes"}`))), 400, atelier.CodeInvalidJSON.ID)
	if called {
		t.Fatal("the service was called with a refused body")
	}
	mustError(t, h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{"signing_key":"short"}`))), 400, atelier.CodeCallbackKey.ID)

	cb.SetCallbackFn = func(context.Context, string, atelier.SubscriptionSpec) (*atelier.SubscriptionResult, error) {
		return nil, atelier.CodeCallbackCheckFailed.Errorf("The receiver answered 500.")
	}
	mustError(t, h.do(authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{"url":"https://x"}`))), 409, atelier.CodeCallbackCheckFailed.ID)

	// Without a token the route is refused before the service.
	req := authed("PUT", "/v1/apps/app-1/callback", strings.NewReader(`{}`))
	req.Header.Del("Authorization")
	if w := h.do(req); w.Code != 401 {
		t.Errorf("unauthenticated status = %d, want 401", w.Code)
	}
}

func TestCallbackGetDelete(t *testing.T) {
	cb := &mock.CallbackService{}
	var gotGet, gotDel string
	cb.GetCallbackFn = func(_ context.Context, clientID string) (*atelier.Subscription, error) {
		gotGet = clientID
		if clientID != "app-1" {
			return nil, atelier.CodeCallbackNotFound.Errorf("The app %s has no callback.", clientID)
		}
		s := testSubscription()
		s.EventTypes = nil
		s.NextAt = testTime.Add(time.Hour).In(local)
		return s, nil
	}
	cb.DeleteCallbackFn = func(_ context.Context, clientID string) error {
		gotDel = clientID
		return nil
	}
	h := callbackHarness(t, cb)

	w := h.do(authed("GET", "/v1/apps/app-1/callback", nil))
	var out map[string]any
	mustJSON(t, w, 200, &out)
	if gotGet != "app-1" || out["client_id"] != "app-1" || out["rotation_at"] != "2025-03-01T13:00:00Z" ||
		out["updated_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("get(%q) = %v", gotGet, out)
	}
	if et, ok := out["event_types"].([]any); !ok || len(et) != 0 {
		t.Errorf("event_types = %#v, want []", out["event_types"])
	}
	if _, ok := out["security_token"]; ok {
		t.Errorf("GET shows a security token: %v", out)
	}
	assertNoSecrets(t, w.Body.String())

	mustError(t, h.do(authed("GET", "/v1/apps/app-2/callback", nil)), 404, atelier.CodeCallbackNotFound.ID)

	w = h.do(authed("DELETE", "/v1/apps/app-1/callback", nil))
	if w.Code != 204 || w.Body.Len() != 0 || gotDel != "app-1" {
		t.Errorf("delete(%q) = %d %q", gotDel, w.Code, w.Body)
	}
}

func TestCallbackRotate(t *testing.T) {
	cb := &mock.CallbackService{}
	var gotID string
	var got atelier.RotateSpec
	cb.RotateCallbackKeysFn = func(_ context.Context, clientID string, spec atelier.RotateSpec) (*atelier.SubscriptionResult, error) {
		gotID, got = clientID, spec
		s := testSubscription()
		s.NextAt = testTime.Add(24 * time.Hour)
		tok := ""
		if spec.SecurityToken == "generate" {
			tok = "new-token-abc"
		}
		return &atelier.SubscriptionResult{Subscription: s, SecurityToken: tok}, nil
	}
	h := callbackHarness(t, cb)

	w := h.do(authed("POST", "/v1/apps/app-1/callback/rotate",
		strings.NewReader(`{"signing_key":"sig-key-0123456789","security_token":"generate","overlap_seconds":0}`)))
	var out map[string]any
	mustJSON(t, w, 200, &out)
	if gotID != "app-1" || got.SigningKey != "sig-key-0123456789" || got.SecurityToken != "generate" ||
		got.EncryptionKey != "" || got.OverlapSeconds == nil || *got.OverlapSeconds != 0 {
		t.Fatalf("service got %q %+v", gotID, got)
	}
	if out["security_token"] != "new-token-abc" || out["rotation_at"] != "2025-03-02T12:00:00Z" {
		t.Errorf("answer = %v", out)
	}
	assertNoSecrets(t, w.Body.String())

	// An absent overlap stays nil (the service's default).
	w = h.do(authed("POST", "/v1/apps/app-1/callback/rotate", strings.NewReader(`{"encryption_key":"enc-key-0123456789"}`)))
	out = nil
	mustJSON(t, w, 200, &out)
	if got.OverlapSeconds != nil || got.EncryptionKey != "enc-key-0123456789" {
		t.Errorf("service got %+v", got)
	}
	if _, ok := out["security_token"]; ok {
		t.Errorf("security_token shown though not generated: %v", out)
	}
	assertNoSecrets(t, w.Body.String())

	mustError(t, h.do(authed("POST", "/v1/apps/app-1/callback/rotate", strings.NewReader(`{"overlap":5}`))), 400, atelier.CodeInvalidJSON.ID)
}

func TestCallbackListDeliveries(t *testing.T) {
	cb := &mock.CallbackService{}
	var gotID string
	var got atelier.DeliveryFilter
	var next int64
	cb.ListDeliveriesFn = func(_ context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error) {
		gotID, got = clientID, f
		return []*atelier.Delivery{testDelivery()}, next, nil
	}
	h := callbackHarness(t, cb)

	next = 41
	w := h.do(authed("GET", "/v1/apps/app-1/callback/deliveries?state=DEAD&since=2025-03-01T08:00:00%2B08:00&until=2025-03-02T00:00:00Z&limit=5&cursor=77", nil))
	var out struct {
		Deliveries []map[string]any `json:"deliveries"`
		NextCursor string           `json:"next_cursor"`
	}
	mustJSON(t, w, 200, &out)
	want := atelier.DeliveryFilter{State: "DEAD", Since: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Until: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC), BeforeEvent: 77, Limit: 5}
	if gotID != "app-1" || got != want {
		t.Fatalf("service got %q %+v, want %+v", gotID, got, want)
	}
	if got.Since.Location() != time.UTC {
		t.Errorf("since is not in UTC: %v", got.Since)
	}
	if out.NextCursor != "41" || len(out.Deliveries) != 1 {
		t.Fatalf("answer = %+v", out)
	}
	d := out.Deliveries[0]
	if d["id"] != "d-1" || d["event_id"] != 42.0 || d["state"] != "DELIVERED" || d["created_at"] != "2025-03-01T12:00:00Z" ||
		d["delivered_at"] != "2025-03-01T12:00:00Z" || d["last_status"] != 200.0 {
		t.Errorf("delivery = %v", d)
	}
	if _, ok := d["next_attempt_at"]; ok {
		t.Errorf("next_attempt_at shown though zero: %v", d)
	}

	// No query: a zero filter; the last page has an empty cursor.
	next = 0
	out.NextCursor = "unset"
	mustJSON(t, h.do(authed("GET", "/v1/apps/app-1/callback/deliveries", nil)), 200, &out)
	if got != (atelier.DeliveryFilter{}) || out.NextCursor != "" {
		t.Errorf("filter %+v, next_cursor %q", got, out.NextCursor)
	}

	// An empty page is [] rather than null.
	cb.ListDeliveriesFn = func(context.Context, string, atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error) {
		return nil, 0, nil
	}
	w = h.do(authed("GET", "/v1/apps/app-1/callback/deliveries", nil))
	var raw map[string]json.RawMessage
	mustJSON(t, w, 200, &raw)
	if string(raw["deliveries"]) != "[]" {
		t.Errorf("deliveries = %s, want []", raw["deliveries"])
	}
}

func TestCallbackListDeliveriesBadQuery(t *testing.T) {
	cb := &mock.CallbackService{}
	called := false
	cb.ListDeliveriesFn = func(context.Context, string, atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error) {
		called = true
		return nil, 0, nil
	}
	h := callbackHarness(t, cb)
	for _, tc := range []struct{ query, field string }{
		{"cursor=abc", "cursor"},
		{"cursor=0", "cursor"},
		{"cursor=-3", "cursor"},
		{"since=yesterday", "since"},
		{"until=2025-13-01", "until"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
	} {
		e := mustError(t, h.do(authed("GET", "/v1/apps/app-1/callback/deliveries?"+tc.query, nil)), 400, atelier.CodeInvalidParam.ID)
		if !strings.Contains(e.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.query, e.Message, tc.field)
		}
	}
	if called {
		t.Error("the service was called with a refused query")
	}
}

func TestCallbackGetDelivery(t *testing.T) {
	cb := &mock.CallbackService{}
	var gotApp, gotID string
	cb.GetDeliveryFn = func(_ context.Context, clientID, deliveryID string) (*atelier.Delivery, []*atelier.DeliveryAttempt, error) {
		gotApp, gotID = clientID, deliveryID
		if deliveryID != "d-1" {
			return nil, nil, atelier.CodeCallbackNotFound.Errorf("No delivery %s.", deliveryID)
		}
		return testDelivery(), []*atelier.DeliveryAttempt{
			{DeliveryID: "d-1", N: 1, At: testTime.In(local), Duration: 1500 * time.Millisecond, Status: 500, Reply: "oops", Error: "status 500"},
			{DeliveryID: "d-1", N: 2, At: testTime.Add(time.Minute).In(local), Duration: 42 * time.Millisecond, Status: 200, Reply: `{"code":"200"}`, OK: true},
		}, nil
	}
	h := callbackHarness(t, cb)

	w := h.do(authed("GET", "/v1/apps/app-1/callback/deliveries/d-1", nil))
	var out struct {
		Delivery map[string]any   `json:"delivery"`
		Attempts []map[string]any `json:"attempts"`
	}
	mustJSON(t, w, 200, &out)
	if gotApp != "app-1" || gotID != "d-1" || out.Delivery["id"] != "d-1" || out.Delivery["updated_at"] != "2025-03-01T12:00:00Z" {
		t.Fatalf("get(%q, %q) delivery = %v", gotApp, gotID, out.Delivery)
	}
	if len(out.Attempts) != 2 {
		t.Fatalf("attempts = %v", out.Attempts)
	}
	a1, a2 := out.Attempts[0], out.Attempts[1]
	if a1["attempt"] != 1.0 || a1["duration_ms"] != 1500.0 || a1["status"] != 500.0 || a1["ok"] != false ||
		a1["error"] != "status 500" || a1["at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("attempt 1 = %v", a1)
	}
	if a2["attempt"] != 2.0 || a2["duration_ms"] != 42.0 || a2["ok"] != true || a2["at"] != "2025-03-01T12:01:00Z" {
		t.Errorf("attempt 2 = %v", a2)
	}
	if _, ok := a2["error"]; ok {
		t.Errorf("attempt 2 shows an empty error: %v", a2)
	}

	mustError(t, h.do(authed("GET", "/v1/apps/app-1/callback/deliveries/d-9", nil)), 404, atelier.CodeCallbackNotFound.ID)

	// No attempts yet: [] rather than null.
	cb.GetDeliveryFn = func(context.Context, string, string) (*atelier.Delivery, []*atelier.DeliveryAttempt, error) {
		return testDelivery(), nil, nil
	}
	var raw map[string]json.RawMessage
	mustJSON(t, h.do(authed("GET", "/v1/apps/app-1/callback/deliveries/d-1", nil)), 200, &raw)
	if string(raw["attempts"]) != "[]" {
		t.Errorf("attempts = %s, want []", raw["attempts"])
	}
}

func TestCallbackRedeliver(t *testing.T) {
	cb := &mock.CallbackService{}
	type call struct {
		app, id      string
		since, until time.Time
	}
	var got call
	cb.RedeliverFn = func(_ context.Context, clientID, deliveryID string, since, until time.Time) (int, error) {
		got = call{clientID, deliveryID, since, until}
		if deliveryID != "" {
			return 1, nil
		}
		return 7, nil
	}
	h := callbackHarness(t, cb)

	var out struct {
		Redelivered int `json:"redelivered"`
	}
	// One delivery, with no body or an empty object.
	mustJSON(t, h.do(authed("POST", "/v1/apps/app-1/callback/deliveries/d-1/redeliver", nil)), 200, &out)
	if got != (call{app: "app-1", id: "d-1"}) || out.Redelivered != 1 {
		t.Errorf("redeliver one: %+v -> %d", got, out.Redelivered)
	}
	mustJSON(t, h.do(authed("POST", "/v1/apps/app-1/callback/deliveries/d-2/redeliver", strings.NewReader(`{}`))), 200, &out)
	if got.id != "d-2" {
		t.Errorf("redeliver one: %+v", got)
	}
	mustError(t, h.do(authed("POST", "/v1/apps/app-1/callback/deliveries/d-1/redeliver", strings.NewReader(`{"since":"x"}`))), 400, atelier.CodeInvalidJSON.ID)

	// A range.
	out.Redelivered = 0
	mustJSON(t, h.do(authed("POST", "/v1/apps/app-1/callback/redeliver",
		strings.NewReader(`{"since":"2025-03-01T00:00:00Z","until":"2025-03-02T00:00:00Z"}`))), 200, &out)
	want := call{app: "app-1", since: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), until: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)}
	if !got.since.Equal(want.since) || !got.until.Equal(want.until) || got.app != "app-1" || got.id != "" || out.Redelivered != 7 {
		t.Errorf("redeliver range: %+v -> %d", got, out.Redelivered)
	}
	// Every dead delivery: no body.
	mustJSON(t, h.do(authed("POST", "/v1/apps/app-1/callback/redeliver", nil)), 200, &out)
	if !got.since.IsZero() || !got.until.IsZero() || got.id != "" {
		t.Errorf("redeliver all: %+v", got)
	}
	mustError(t, h.do(authed("POST", "/v1/apps/app-1/callback/redeliver", strings.NewReader(`{"since":"soon"}`))), 400, atelier.CodeInvalidJSON.ID)
	mustError(t, h.do(authed("POST", "/v1/apps/app-1/callback/redeliver", strings.NewReader(`{"from":"2025-03-01T00:00:00Z"}`))), 400, atelier.CodeInvalidJSON.ID)
}

func TestCallbackNotConfigured(t *testing.T) {
	h := newHarness(t) // Options.Callbacks is nil
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/callback/event-types", ""},
		{"PUT", "/v1/apps/app-1/callback", `{"url":"https://x"}`},
		{"GET", "/v1/apps/app-1/callback", ""},
		{"DELETE", "/v1/apps/app-1/callback", ""},
		{"POST", "/v1/apps/app-1/callback/rotate", `{}`},
		{"GET", "/v1/apps/app-1/callback/deliveries", ""},
		{"GET", "/v1/apps/app-1/callback/deliveries/d-1", ""},
		{"POST", "/v1/apps/app-1/callback/deliveries/d-1/redeliver", ""},
		{"POST", "/v1/apps/app-1/callback/redeliver", ""},
	} {
		w := h.do(authed(r.method, r.path, strings.NewReader(r.body)))
		if w.Code != 501 {
			t.Errorf("%s %s = %d, want 501; %s", r.method, r.path, w.Code, w.Body)
			continue
		}
		mustError(t, w, 501, atelier.CodeNotImplemented.ID)
	}
}
