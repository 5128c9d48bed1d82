package atelier

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

// TestCallbackRequests checks the method, path, query and body of each
// callback call against a recording server, and how the answers decode.
func TestCallbackRequests(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.EscapedPath() + " " + r.URL.RawQuery + " " + strings.TrimSpace(string(b))
		w.Header().Set("Content-Type", "application/json")
		p := r.URL.Path
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case p == "/v1/callback/event-types":
			io.WriteString(w, `{"event_types":["CREATE_USER","DELETE_USER"]}`)
		case strings.HasSuffix(p, "/callback") || strings.HasSuffix(p, "/rotate"):
			io.WriteString(w, `{"client_id":"app-1","tenant_id":"t1","url":"https://r.example/cb","event_types":["CREATE_USER"],`+
				`"ordered":true,"enabled":true,"encrypted":true,"rotation_at":"2025-01-03T00:00:00Z",`+
				`"created_at":"2025-01-02T00:00:00Z","updated_at":"2025-01-02T00:00:00Z","security_token":"tok-once-0123456789"}`)
		case strings.HasSuffix(p, "/deliveries"):
			io.WriteString(w, `{"deliveries":[{"id":"dlv-1","event_id":7,"event_type":"CREATE_USER","state":"DEAD","attempts":12}],"next_cursor":"7"}`)
		case strings.Contains(p, "/deliveries/") && !strings.HasSuffix(p, "/redeliver"):
			io.WriteString(w, `{"delivery":{"id":"dlv-1","state":"DELIVERED","attempts":2},"attempts":[`+
				`{"delivery_id":"dlv-1","attempt":1,"at":"2025-01-02T00:00:00Z","duration_ms":5000,"error":"timeout","ok":false},`+
				`{"delivery_id":"dlv-1","attempt":2,"at":"2025-01-02T00:00:01Z","duration_ms":12,"status":200,"ok":true}]}`)
		default:
			io.WriteString(w, `{"redelivered":3}`)
		}
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	ctx := context.Background()
	u, key, off := "https://r.example/cb", "0123456789abcdef", false
	types := []string{"CREATE_USER"}
	overlap := int64(0)
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	until := since.Add(time.Hour)
	checkResult := func(r *core.SubscriptionResult) {
		t.Helper()
		if r.Subscription == nil || r.ClientID != "app-1" || r.URL != u || !r.Ordered || !r.Encrypted ||
			r.SecurityToken != "tok-once-0123456789" || !r.NextAt.Equal(time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("subscription result = %+v (%+v)", r, r.Subscription)
		}
	}
	tests := []struct {
		call func() error
		want string
	}{
		{func() error {
			r, err := c.SetCallback(ctx, "app 1", core.SubscriptionSpec{URL: &u, EventTypes: &types, SigningKey: &key, Enabled: &off})
			if err == nil {
				checkResult(r)
			}
			return err
		}, `PUT /v1/apps/app%201/callback  {"url":"https://r.example/cb","event_types":["CREATE_USER"],"signing_key":"0123456789abcdef","enabled":false}`},
		{func() error {
			s, err := c.GetCallback(ctx, "app-1")
			if err == nil && (s.ClientID != "app-1" || !slices.Equal(s.EventTypes, types)) {
				t.Errorf("get = %+v", s)
			}
			return err
		}, `GET /v1/apps/app-1/callback  `},
		{func() error { return c.DeleteCallback(ctx, "app-1") }, `DELETE /v1/apps/app-1/callback  `},
		{func() error {
			r, err := c.RotateCallbackKeys(ctx, "app-1", core.RotateSpec{SecurityToken: "generate", OverlapSeconds: &overlap})
			if err == nil {
				checkResult(r)
			}
			return err
		}, `POST /v1/apps/app-1/callback/rotate  {"security_token":"generate","overlap_seconds":0}`},
		{func() error {
			ds, next, err := c.ListDeliveries(ctx, "app-1", core.DeliveryFilter{State: core.DeliveryDead, Since: since, Until: until, Limit: 5, BeforeEvent: 9})
			if err == nil && (len(ds) != 1 || ds[0].ID != "dlv-1" || ds[0].EventID != 7 || next != 7) {
				t.Errorf("deliveries = %+v, next %d", ds, next)
			}
			return err
		}, `GET /v1/apps/app-1/callback/deliveries cursor=9&limit=5&since=2025-01-02T02%3A04%3A05Z&state=DEAD&until=2025-01-02T03%3A04%3A05Z `},
		{func() error { _, _, err := c.ListDeliveries(ctx, "app-1", core.DeliveryFilter{}); return err }, `GET /v1/apps/app-1/callback/deliveries  `},
		{func() error {
			d, as, err := c.GetDelivery(ctx, "app-1", "dlv-1")
			if err == nil && (d.ID != "dlv-1" || len(as) != 2 || as[0].Duration != 5*time.Second || as[0].OK || !as[1].OK || as[1].Status != 200) {
				t.Errorf("delivery = %+v, attempts %+v", d, as)
			}
			return err
		}, `GET /v1/apps/app-1/callback/deliveries/dlv-1  `},
		{func() error {
			n, err := c.Redeliver(ctx, "app-1", "dlv-1")
			if err == nil && n != 3 {
				t.Errorf("redelivered %d", n)
			}
			return err
		}, `POST /v1/apps/app-1/callback/deliveries/dlv-1/redeliver  {}`},
		{func() error { _, err := c.RedeliverRange(ctx, "app-1", since, time.Time{}); return err },
			`POST /v1/apps/app-1/callback/redeliver  {"since":"2025-01-02T02:04:05Z"}`},
		{func() error { _, err := c.RedeliverRange(ctx, "app-1", time.Time{}, time.Time{}); return err },
			`POST /v1/apps/app-1/callback/redeliver  {}`},
		{func() error {
			ts, err := c.EventTypes(ctx)
			if err == nil && !slices.Equal(ts, []string{"CREATE_USER", "DELETE_USER"}) {
				t.Errorf("event types = %v", ts)
			}
			return err
		}, `GET /v1/callback/event-types  `},
	}
	for _, tt := range tests {
		if err := tt.call(); err != nil {
			t.Errorf("%s: %v", tt.want, err)
		}
		if got != tt.want {
			t.Errorf("request %q, want %q", got, tt.want)
		}
	}
}

// TestCallbackAnswers checks the answers the SDK must not take at face
// value: a subscription without a generated token, a bad cursor, and an
// error answer with its code.
func TestCallbackAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/deliveries"):
			writeJSON(w, 200, map[string]any{"deliveries": []any{}, "next_cursor": "x"})
		case r.Method == http.MethodPut:
			writeErr(w, 400, "ATL.EVT.0003", "The encryption key must be 16, 24 or 32 printable ASCII characters.")
		default:
			writeJSON(w, 200, map[string]any{"client_id": "app-1", "event_types": []string{}})
		}
	}))
	defer srv.Close()
	c := mustClient(t, Options{Endpoint: srv.URL, Token: "t"})
	ctx := context.Background()

	r, err := c.RotateCallbackKeys(ctx, "app-1", core.RotateSpec{SigningKey: "0123456789abcdef"})
	if err != nil || r.ClientID != "app-1" || r.SecurityToken != "" {
		t.Errorf("rotate = %+v, %v", r, err)
	}
	if _, _, err := c.ListDeliveries(ctx, "app-1", core.DeliveryFilter{}); core.ErrorCode(err) != CodeBadResponse.ID {
		t.Errorf("bad cursor: %v", err)
	}
	key := "0123456789abcdefg"
	_, err = c.SetCallback(ctx, "app-1", core.SubscriptionSpec{EncryptionKey: &key})
	if core.ErrorCode(err) != core.CodeCallbackKey.ID || !isStatus(err, 400) {
		t.Errorf("refused set: %v", err)
	}
}
