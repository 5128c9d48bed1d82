package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/atelier-dev/atelier"
)

const (
	subscriptionJSON = `{"client_id","tenant_id","url","event_types","ordered","enabled","encrypted","rotation_at","created_at","updated_at","security_token (only when Atelier generated it)"}`
	deliveryJSON     = `{"id","client_id","tenant_id","event_id","event_type","subject","nonce","state","attempts","next_attempt_at","last_status","last_reply","last_error","created_at","updated_at","delivered_at"}`
)

// callbackRoutes are the /v1/apps/{client_id}/callback calls of
// atelier.CallbackService.
func (s *Server) callbackRoutes() []route {
	app := param{Name: "client_id", Desc: "The app's client id.", Required: true}
	delivery := param{Name: "delivery_id", Desc: "The delivery id.", Required: true}
	return []route{
		{Method: "GET", Pattern: "/v1/callback/event-types", Summary: "List the event types apps can subscribe to.", Auth: true,
			Response: `{"event_types":[…]}`, Status: 200, Out: struct {
				EventTypes []string `json:"event_types"`
			}{}, Handler: s.handleEventTypes},
		{Method: "PUT", Pattern: "/v1/apps/{client_id}/callback", Summary: "Set an app's callback: URL, event types, signing key, optional encryption key and security token. A new URL or new keys are proved with CHECK_URL first; nothing is saved unless the receiver echoes the challenge.", Auth: true,
			Params: []param{app}, Request: `{"url","event_types","signing_key","encryption_key","security_token","ordered","enabled"} (all optional on a change)`,
			Response: subscriptionJSON, Status: 200, In: atelier.SubscriptionSpec{}, Out: atelier.SubscriptionResult{}, Handler: s.handleSetCallback},
		{Method: "GET", Pattern: "/v1/apps/{client_id}/callback", Summary: "Describe an app's callback (never its keys).", Auth: true,
			Params: []param{app}, Response: subscriptionJSON, Status: 200, Out: atelier.SubscriptionResult{}, Handler: s.handleGetCallback},
		{Method: "DELETE", Pattern: "/v1/apps/{client_id}/callback", Summary: "Remove an app's callback and its queued deliveries.", Auth: true,
			Params: []param{app}, Status: 204, Handler: s.handleDeleteCallback},
		{Method: "POST", Pattern: "/v1/apps/{client_id}/callback/rotate", Summary: "Stage new keys or a new security token: Atelier keeps the current ones for overlap_seconds (default 86400; 0: switch now), then switches.", Auth: true,
			Params: []param{app}, Request: `{"signing_key","encryption_key","security_token ("generate" for a new one)","overlap_seconds"}`,
			Response: subscriptionJSON, Status: 200, In: atelier.RotateSpec{}, Out: atelier.SubscriptionResult{}, Handler: s.handleRotateCallback},
		{Method: "GET", Pattern: "/v1/apps/{client_id}/callback/deliveries", Summary: "List an app's deliveries, newest event first.", Auth: true,
			Params: []param{app},
			Query: []param{
				{Name: "state", Desc: "PENDING, IN_FLIGHT, DELIVERED or DEAD."},
				{Name: "since", Desc: "Events committed at or after this RFC 3339 time."},
				{Name: "until", Desc: "Events committed before this RFC 3339 time."},
				{Name: "limit", Desc: "Page size, 1–1000 (default 100)."},
				{Name: "cursor", Desc: "next_cursor of the previous page."},
			},
			Response: `{"deliveries":[` + deliveryJSON + `],"next_cursor"}`, Status: 200, Out: struct {
				Deliveries []*atelier.Delivery `json:"deliveries"`
				NextCursor string              `json:"next_cursor"`
			}{}, Handler: s.handleListDeliveries},
		{Method: "GET", Pattern: "/v1/apps/{client_id}/callback/deliveries/{delivery_id}", Summary: "Describe a delivery with every attempt: time, duration, HTTP status, reply (truncated) and error.", Auth: true,
			Params: []param{app, delivery}, Response: `{"delivery":` + deliveryJSON + `,"attempts":[{"attempt","at","duration_ms","status","reply","error","ok"}]}`,
			Status: 200, Out: struct {
				Delivery *atelier.Delivery          `json:"delivery"`
				Attempts []*atelier.DeliveryAttempt `json:"attempts"`
			}{}, Handler: s.handleGetDelivery},
		{Method: "POST", Pattern: "/v1/apps/{client_id}/callback/deliveries/{delivery_id}/redeliver", Summary: "Queue a dead-lettered delivery again, with a fresh attempt budget.", Auth: true,
			Params: []param{app, delivery}, Response: `{"redelivered"}`, Status: 200, Out: struct {
				Redelivered int `json:"redelivered"`
			}{}, Handler: s.handleRedeliverOne},
		{Method: "POST", Pattern: "/v1/apps/{client_id}/callback/redeliver", Summary: "Queue again every dead-lettered delivery of the app whose event was committed in [since, until).", Auth: true,
			Params: []param{app}, Request: `{"since","until"} (RFC 3339, both optional)`, Response: `{"redelivered"}`, Status: 200, In: redeliverRangeInput{}, Out: struct {
				Redelivered int `json:"redelivered"`
			}{}, Handler: s.handleRedeliverRange},
	}
}

// callbackService returns the callback service, or an error when none is
// set.
func (s *Server) callbackService() (atelier.CallbackService, error) {
	if s.callbacks == nil {
		return nil, atelier.CodeNotImplemented.Errorf("This server does not deliver event callbacks.")
	}
	return s.callbacks, nil
}

// subscriptionOut is the wire form of a subscription, in UTC.
func subscriptionOut(r *atelier.SubscriptionResult) any {
	c := *r.Subscription
	c.CreatedAt, c.UpdatedAt, c.NextAt = utc(c.CreatedAt), utc(c.UpdatedAt), utc(c.NextAt)
	if c.EventTypes == nil {
		c.EventTypes = []string{}
	}
	return &atelier.SubscriptionResult{Subscription: &c, SecurityToken: r.SecurityToken}
}

func deliveryOut(d *atelier.Delivery) *atelier.Delivery {
	c := *d
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	c.NextAttemptAt, c.DeliveredAt = utc(c.NextAttemptAt), utc(c.DeliveredAt)
	return &c
}

func (s *Server) handleEventTypes(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.callbackService(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_types": atelier.EventTypes})
	return nil
}

func (s *Server) handleSetCallback(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	var body atelier.SubscriptionSpec
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	res, err := svc.SetCallback(r.Context(), r.PathValue("client_id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, subscriptionOut(res))
	return nil
}

func (s *Server) handleGetCallback(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	sub, err := svc.GetCallback(r.Context(), r.PathValue("client_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, subscriptionOut(&atelier.SubscriptionResult{Subscription: sub}))
	return nil
}

func (s *Server) handleDeleteCallback(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	if err := svc.DeleteCallback(r.Context(), r.PathValue("client_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRotateCallback(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	var body atelier.RotateSpec
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	res, err := svc.RotateCallbackKeys(r.Context(), r.PathValue("client_id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, subscriptionOut(res))
	return nil
}

func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	v := r.URL.Query()
	f := atelier.DeliveryFilter{State: v.Get("state")}
	if f.Since, f.Until, err = parseTimeRange(v); err != nil {
		return err
	}
	if f.Limit, err = parseLimit(v); err != nil {
		return err
	}
	if raw := v.Get("cursor"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 {
			return atelier.CodeInvalidParam.Errorf("The cursor parameter is not a next_cursor of this list.").WithField("cursor")
		}
		f.BeforeEvent = n
	}
	page, next, err := svc.ListDeliveries(r.Context(), r.PathValue("client_id"), f)
	if err != nil {
		return err
	}
	out := make([]*atelier.Delivery, 0, len(page))
	for _, d := range page {
		out = append(out, deliveryOut(d))
	}
	cursor := ""
	if next > 0 {
		cursor = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "next_cursor": cursor})
	return nil
}

func (s *Server) handleGetDelivery(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	d, attempts, err := svc.GetDelivery(r.Context(), r.PathValue("client_id"), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	out := make([]*atelier.DeliveryAttempt, 0, len(attempts))
	for _, a := range attempts {
		c := *a
		c.At = utc(c.At)
		c.DurationMS = c.Duration.Milliseconds()
		out = append(out, &c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"delivery": deliveryOut(d), "attempts": out})
	return nil
}

func (s *Server) handleRedeliverOne(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	if err := s.decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	n, err := svc.Redeliver(r.Context(), r.PathValue("client_id"), r.PathValue("delivery_id"), time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"redelivered": n})
	return nil
}

// redeliverRangeInput is the request body of handleRedeliverRange.
type redeliverRangeInput struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

func (s *Server) handleRedeliverRange(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.callbackService()
	if err != nil {
		return err
	}
	var body redeliverRangeInput
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	n, err := svc.Redeliver(r.Context(), r.PathValue("client_id"), "", body.Since, body.Until)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"redelivered": n})
	return nil
}
