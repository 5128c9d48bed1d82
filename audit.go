package atelier

import (
	"context"
	"time"
)

// AuditEvent is one entry of the audit log: who did what, when, from where,
// and whether it worked. Entries are append-only.
type AuditEvent struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	TenantID string    `json:"tenant_id,omitempty"`
	ActorID  string    `json:"actor_id,omitempty"` // user acting; "" for an unknown account
	Actor    string    `json:"actor,omitempty"`    // email, user name or client id as given
	Action   string    `json:"action"`             // e.g. "login", "user.create"; see docs/identity.md
	Target   string    `json:"target,omitempty"`   // the id of what the action was on
	Outcome  string    `json:"outcome"`            // AuditSuccess or AuditFailure
	Reason   string    `json:"reason,omitempty"`   // why it failed, as an error code or word
	IP       string    `json:"ip,omitempty"`
	Device   string    `json:"device,omitempty"` // X-device-fingerprint
	ClientID string    `json:"client_id,omitempty"`
}

// Audit outcomes.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
)

// Concluded returns e with the outcome of the action it records: success
// when err is nil, else failure with err's code as the reason.
func (e AuditEvent) Concluded(err error) AuditEvent {
	e.Outcome = AuditSuccess
	if err != nil {
		e.Outcome, e.Reason = AuditFailure, ErrorCode(err)
	}
	return e
}

// AuditQuery selects audit events, newest first. Zero fields do not filter.
type AuditQuery struct {
	TenantID string // set by the service from the caller unless platform admin
	ActorID  string
	Action   string // exact action, or a prefix ending in "." (e.g. "user.")
	Outcome  string
	Since    time.Time
	Until    time.Time
	Cursor   string // next_cursor of the previous page
	Limit    int    // default 100, at most 1000
}

// AuditPage is one page of audit events.
type AuditPage struct {
	Events     []*AuditEvent `json:"events"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Client is who a request comes from, as far as the server can tell, for
// rate limits, bindings and the audit log.
type Client struct {
	IP                string // the remote address
	ClaimedIP         string // X-device-ip, as the client says
	DeviceFingerprint string
	Agent             string
	OS                string
	Lang              string // X-L: "zh" or "en"
}

type clientKey struct{}

// NewContextWithClient returns ctx carrying c.
func NewContextWithClient(ctx context.Context, c *Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFromContext returns the client stored in ctx, or an empty one.
func ClientFromContext(ctx context.Context) *Client {
	if c, ok := ctx.Value(clientKey{}).(*Client); ok {
		return c
	}
	return &Client{}
}
