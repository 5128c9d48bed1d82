package atelier

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	core "github.com/atelier-dev/atelier"
)

// This file holds the event callback calls: an app's subscription, its
// keys' rotation, its deliveries and their redelivery (CONTRACT §5).

// SetCallback creates or changes an app's callback; nil fields of spec keep
// their value. The server proves a new URL or new keys with CHECK_URL
// before it saves anything. The answer's SecurityToken is set only when
// the server generated one, and is never shown again.
func (c *Client) SetCallback(ctx context.Context, clientID string, spec core.SubscriptionSpec) (*core.SubscriptionResult, error) {
	var r core.SubscriptionResult
	if err := c.sendJSON(ctx, http.MethodPut, pathOf("apps", clientID, "callback"), spec, &r); err != nil {
		return nil, err
	}
	return subscriptionResult(&r), nil
}

// GetCallback describes an app's callback (never its keys).
func (c *Client) GetCallback(ctx context.Context, clientID string) (*core.Subscription, error) {
	var r core.SubscriptionResult
	if err := c.getJSON(ctx, pathOf("apps", clientID, "callback"), nil, &r); err != nil {
		return nil, err
	}
	return subscriptionResult(&r).Subscription, nil
}

// DeleteCallback removes an app's callback and its queued deliveries.
func (c *Client) DeleteCallback(ctx context.Context, clientID string) error {
	return c.sendJSON(ctx, http.MethodDelete, pathOf("apps", clientID, "callback"), nil, nil)
}

// RotateCallbackKeys stages new keys or a new security token: the server
// keeps using the current ones for the overlap, then switches. The
// answer's SecurityToken is set only when spec asked for a generated one.
func (c *Client) RotateCallbackKeys(ctx context.Context, clientID string, spec core.RotateSpec) (*core.SubscriptionResult, error) {
	var r core.SubscriptionResult
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("apps", clientID, "callback", "rotate"), spec, &r); err != nil {
		return nil, err
	}
	return subscriptionResult(&r), nil
}

// subscriptionResult makes sure r.Subscription is set even when the answer
// held no subscription field (the JSON decoder allocates it only then).
func subscriptionResult(r *core.SubscriptionResult) *core.SubscriptionResult {
	if r.Subscription == nil {
		r.Subscription = &core.Subscription{}
	}
	return r
}

// ListDeliveries returns a page of an app's deliveries, newest event
// first, and the cursor of the next page (0 at the end): pass it as
// f.BeforeEvent to get that page.
func (c *Client) ListDeliveries(ctx context.Context, clientID string, f core.DeliveryFilter) ([]*core.Delivery, int64, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.BeforeEvent > 0 {
		q.Set("cursor", strconv.FormatInt(f.BeforeEvent, 10))
	}
	var out struct {
		Deliveries []*core.Delivery `json:"deliveries"`
		NextCursor string           `json:"next_cursor"`
	}
	path := pathOf("apps", clientID, "callback", "deliveries")
	if err := c.getJSON(ctx, path, q, &out); err != nil {
		return nil, 0, err
	}
	var next int64
	if out.NextCursor != "" {
		n, err := strconv.ParseInt(out.NextCursor, 10, 64)
		if err != nil || n < 1 {
			return nil, 0, &APIError{Err: CodeBadResponse.Errorf("The server's next_cursor %q for GET %s is not a positive number.", out.NextCursor, path)}
		}
		next = n
	}
	return out.Deliveries, next, nil
}

// GetDelivery describes one delivery of an app with every attempt, oldest
// first.
func (c *Client) GetDelivery(ctx context.Context, clientID, deliveryID string) (*core.Delivery, []*core.DeliveryAttempt, error) {
	var out struct {
		Delivery *core.Delivery          `json:"delivery"`
		Attempts []*core.DeliveryAttempt `json:"attempts"`
	}
	if err := c.getJSON(ctx, pathOf("apps", clientID, "callback", "deliveries", deliveryID), nil, &out); err != nil {
		return nil, nil, err
	}
	if out.Delivery == nil {
		out.Delivery = &core.Delivery{}
	}
	for _, a := range out.Attempts {
		a.Duration = time.Duration(a.DurationMS) * time.Millisecond
	}
	return out.Delivery, out.Attempts, nil
}

// Redeliver queues one dead-lettered delivery of an app again, with a fresh
// attempt budget, and returns how many were queued.
func (c *Client) Redeliver(ctx context.Context, clientID, deliveryID string) (int, error) {
	var out struct {
		N int `json:"redelivered"`
	}
	path := pathOf("apps", clientID, "callback", "deliveries", deliveryID, "redeliver")
	if err := c.sendJSON(ctx, http.MethodPost, path, struct{}{}, &out); err != nil {
		return 0, err
	}
	return out.N, nil
}

// RedeliverRange queues again every dead-lettered delivery of an app whose
// event was committed in [since, until); a zero time leaves that end open.
// It returns how many were queued.
func (c *Client) RedeliverRange(ctx context.Context, clientID string, since, until time.Time) (int, error) {
	body := map[string]string{}
	if !since.IsZero() {
		body["since"] = since.UTC().Format(time.RFC3339Nano)
	}
	if !until.IsZero() {
		body["until"] = until.UTC().Format(time.RFC3339Nano)
	}
	var out struct {
		N int `json:"redelivered"`
	}
	if err := c.sendJSON(ctx, http.MethodPost, pathOf("apps", clientID, "callback", "redeliver"), body, &out); err != nil {
		return 0, err
	}
	return out.N, nil
}

// EventTypes lists the event types apps can subscribe to.
func (c *Client) EventTypes(ctx context.Context) ([]string, error) {
	var out struct {
		EventTypes []string `json:"event_types"`
	}
	if err := c.getJSON(ctx, "/v1/callback/event-types", nil, &out); err != nil {
		return nil, err
	}
	return out.EventTypes, nil
}
