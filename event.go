package atelier

import (
	"context"
	"encoding/json"
	"time"
)

// Event types delivered to subscribed apps (CONTRACT §5). Once shipped, a
// type and the shape of its data never change meaning.
const (
	EventCreateUser         = "CREATE_USER"
	EventUpdateUser         = "UPDATE_USER"
	EventDeleteUser         = "DELETE_USER"
	EventCreateOrganization = "CREATE_ORGANIZATION"
	EventUpdateOrganization = "UPDATE_ORGANIZATION"
	EventDeleteOrganization = "DELETE_ORGANIZATION"
	EventTrainingJobState   = "TRAINING_JOB_STATE_CHANGED"
	EventModelStatus        = "MODEL_STATUS_CHANGED"
	EventServiceState       = "SERVICE_STATE_CHANGED"
	// EventCheckURL is the handshake sent when a callback URL is set; it
	// is never stored in the outbox nor subscribable.
	EventCheckURL = "CHECK_URL"
)

// EventTypes lists the subscribable event types, in documentation order.
var EventTypes = []string{
	EventCreateUser, EventUpdateUser, EventDeleteUser,
	EventCreateOrganization, EventUpdateOrganization, EventDeleteOrganization,
	EventTrainingJobState,
	EventModelStatus, EventServiceState,
}

// Event is one row of the outbox: a change, written in the same
// transaction as the change itself, to be delivered to every app of the
// tenant subscribed to its type. Data is the event's JSON as receivers get
// it (before encryption).
type Event struct {
	ID       int64  `json:"id"` // assigned by the store, increasing in commit order per subject
	TenantID string `json:"tenant_id"`
	Type     string `json:"event_type"`
	// Subject is the id of what the event is about (a user, an
	// organization, a job): subscriptions with ordering get a subject's
	// events one at a time, in the order they were committed.
	Subject   string          `json:"subject"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// UserEventData is the data of the user events: the user's public
// attributes, never a secret or a login counter.
type UserEventData struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenantId"`
	UserName    string    `json:"userName"`
	Name        string    `json:"name,omitempty"`
	Email       string    `json:"email"`
	Mobile      string    `json:"mobile,omitempty"`
	Role        string    `json:"role"`
	Status      string    `json:"status"`
	OrgID       string    `json:"organizationId,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	MFA         bool      `json:"mfa"`
	TOTPEnabled bool      `json:"totpEnabled"`
}

// NewUserEvent returns the event of type typ about u, at time at.
func NewUserEvent(typ string, u *User, at time.Time) *Event {
	d := UserEventData{
		ID: u.ID, TenantID: u.TenantID, UserName: u.Name, Name: u.DisplayName, Email: u.Email,
		Mobile: u.Mobile, Role: u.Role, Status: u.Status, OrgID: u.OrgID,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), MFA: u.MFA, TOTPEnabled: u.TOTPEnabled,
	}
	return newEvent(typ, u.TenantID, u.ID, d, at)
}

// OrgEventData is the data of the organization events.
type OrgEventData struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenantId"`
	Name      string    `json:"name"`
	ParentID  string    `json:"parentId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// NewOrgEvent returns the event of type typ about o, at time at.
func NewOrgEvent(typ string, o *Organization, at time.Time) *Event {
	d := OrgEventData{ID: o.ID, TenantID: o.TenantID, Name: o.Name, ParentID: o.ParentID,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
	return newEvent(typ, o.TenantID, o.ID, d, at)
}

// JobStateEventData is the data of TRAINING_JOB_STATE_CHANGED.
type JobStateEventData struct {
	JobID     string    `json:"jobId"`
	JobName   string    `json:"jobName,omitempty"`
	VersionID int64     `json:"versionId"`
	TenantID  string    `json:"tenantId"`
	State     string    `json:"status"`
	Previous  string    `json:"previousStatus,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ExitCode  *int      `json:"exitCode,omitempty"`
	Time      time.Time `json:"time"`
}

// NewJobStateEvent returns the event of a version's transition from
// previous ("" for its first state) to v.State.
func NewJobStateEvent(jobName string, v *JobVersion, previous string, at time.Time) *Event {
	d := JobStateEventData{JobID: v.JobID, JobName: jobName, VersionID: v.VersionID, TenantID: v.TenantID,
		State: v.State, Previous: previous, Reason: v.Reason, ExitCode: v.ExitCode, Time: at.UTC()}
	return newEvent(EventTrainingJobState, v.TenantID, v.JobID, d, at)
}

// ModelStatusEventData is the data of MODEL_STATUS_CHANGED.
type ModelStatusEventData struct {
	ModelID     string    `json:"modelId"`
	ModelName   string    `json:"modelName"`
	Version     string    `json:"modelVersion"`
	TenantID    string    `json:"tenantId"`
	WorkspaceID string    `json:"workspaceId"`
	Status      string    `json:"status"`
	Previous    string    `json:"previousStatus,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
}

// NewModelStatusEvent returns the event of a model's change from previous
// ("" for a new model) to m.Status.
func NewModelStatusEvent(m *Model, previous string, at time.Time) *Event {
	d := ModelStatusEventData{ModelID: m.ID, ModelName: m.Name, Version: m.Version, TenantID: m.TenantID,
		WorkspaceID: m.WorkspaceID, Status: m.Status, Previous: previous, Reason: m.Reason, Time: at.UTC()}
	return newEvent(EventModelStatus, m.TenantID, m.ID, d, at)
}

// ServiceStateEventData is the data of SERVICE_STATE_CHANGED.
type ServiceStateEventData struct {
	ServiceID   string    `json:"serviceId"`
	ServiceName string    `json:"serviceName"`
	TenantID    string    `json:"tenantId"`
	Status      string    `json:"status"`
	Previous    string    `json:"previousStatus,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Generation  int64     `json:"generation"`
	Time        time.Time `json:"time"`
}

// NewServiceStateEvent returns the event of a service's change from
// previous ("" for a new service) to s.Status.
func NewServiceStateEvent(s *InferenceService, previous string, at time.Time) *Event {
	d := ServiceStateEventData{ServiceID: s.ID, ServiceName: s.Name, TenantID: s.TenantID, Status: s.Status,
		Previous: previous, Reason: s.Reason, Generation: s.Generation, Time: at.UTC()}
	return newEvent(EventServiceState, s.TenantID, s.ID, d, at)
}

func newEvent(typ, tenantID, subject string, data any, at time.Time) *Event {
	b, err := json.Marshal(data)
	if err != nil { // the data types above always marshal
		panic("atelier: marshal event: " + err.Error())
	}
	return &Event{TenantID: tenantID, Type: typ, Subject: subject, Data: b, CreatedAt: at.UTC()}
}

// Subscription is an app's callback: where and what to deliver, with which
// keys. One per app. The keys and the security token are stored sealed and
// never shown after they are set (except a token Atelier generated, shown
// once).
type Subscription struct {
	ClientID   string   `json:"client_id"`
	TenantID   string   `json:"tenant_id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	// Ordered delivers the events about one subject one at a time, in
	// commit order (a failing event holds back that subject's later ones).
	Ordered bool `json:"ordered"`
	// Enabled is false while deliveries are paused; events keep being
	// queued.
	Enabled bool `json:"enabled"`
	// Sealed is the JSON of the CallbackKeys sealed with the server key
	// (internal/secretbox); the store never sees them in the clear.
	Sealed string `json:"-"`
	// SealedNext are sealed keys that replace Sealed at NextAt: until then
	// the current keys stay in use, so a receiver configured with both
	// never refuses a delivery. Empty when no rotation is staged.
	SealedNext string    `json:"-"`
	NextAt     time.Time `json:"rotation_at,omitzero"`
	Encrypted  bool      `json:"encrypted"` // whether the keys in use encrypt
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CallbackKeys are the secrets of a subscription, in the clear (the store
// seals them).
type CallbackKeys struct {
	SigningKey    string `json:"signing_key"`
	EncryptionKey string `json:"encryption_key,omitempty"`
	SecurityToken string `json:"security_token"`
}

// Delivery states.
const (
	DeliveryPending   = "PENDING"   // waiting for its next attempt
	DeliveryInFlight  = "IN_FLIGHT" // claimed by a dispatcher, lease running
	DeliveryDelivered = "DELIVERED" // the receiver answered 200 {"code":"200"}
	DeliveryDead      = "DEAD"      // attempts or age exhausted; redeliverable
)

// Delivery is one event to one app, with the outcome of its last attempt.
// Its Nonce is the same in every attempt, so receivers drop duplicates.
type Delivery struct {
	ID            string    `json:"id"`
	ClientID      string    `json:"client_id"`
	TenantID      string    `json:"tenant_id"`
	EventID       int64     `json:"event_id"`
	EventType     string    `json:"event_type"`
	Subject       string    `json:"subject"`
	Nonce         string    `json:"nonce"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LastStatus    int       `json:"last_status,omitempty"` // HTTP status of the last answer
	LastReply     string    `json:"last_reply,omitempty"`  // its body, truncated
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"` // the event's commit time
	UpdatedAt     time.Time `json:"updated_at"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	DeliveryID string        `json:"delivery_id"`
	N          int           `json:"attempt"` // 1, 2, …
	At         time.Time     `json:"at"`
	Duration   time.Duration `json:"-"`
	DurationMS int64         `json:"duration_ms"`
	Status     int           `json:"status,omitempty"`
	Reply      string        `json:"reply,omitempty"`
	Error      string        `json:"error,omitempty"`
	OK         bool          `json:"ok"`
}

// SubscriptionSpec sets an app's callback. Nil fields keep their value
// (all but URL and the signing key are optional on the first set).
type SubscriptionSpec struct {
	URL           *string   `json:"url,omitempty"`
	EventTypes    *[]string `json:"event_types,omitempty"`
	SigningKey    *string   `json:"signing_key,omitempty"`
	EncryptionKey *string   `json:"encryption_key,omitempty"` // "" turns encryption off
	// SecurityToken "" (or unset on the first set) lets Atelier generate
	// one, returned once in the answer.
	SecurityToken *string `json:"security_token,omitempty"`
	Ordered       *bool   `json:"ordered,omitempty"`
	Enabled       *bool   `json:"enabled,omitempty"`
}

// RotateSpec stages new keys: they replace the current ones after the
// overlap, during which Atelier keeps using the current ones. Empty fields
// keep the current value; SecurityToken "generate" makes a new token,
// returned once.
type RotateSpec struct {
	SigningKey    string `json:"signing_key,omitempty"`
	EncryptionKey string `json:"encryption_key,omitempty"`
	SecurityToken string `json:"security_token,omitempty"`
	// OverlapSeconds is nil for the default (24 h); 0 replaces the keys at
	// once.
	OverlapSeconds *int64 `json:"overlap_seconds,omitempty"`
}

// SubscriptionResult is the answer to setting or rotating a callback: the
// subscription and the security token when Atelier generated it (shown
// once).
type SubscriptionResult struct {
	*Subscription
	SecurityToken string `json:"security_token,omitempty"`
}

// DeliveryFilter selects an app's deliveries; zero fields do not filter.
// Pages run newest event first, strictly before event BeforeEvent when set.
type DeliveryFilter struct {
	State       string    // one of the Delivery states
	Since       time.Time // the event's commit time, inclusive
	Until       time.Time // exclusive
	BeforeEvent int64
	Limit       int // default 100, at most 1000
}

// CallbackService manages apps' callbacks and shows their deliveries. The
// caller must be allowed to manage the app (an admin of its tenant).
type CallbackService interface {
	// SetCallback creates or changes the app's subscription. A new URL or
	// new keys are proved with CHECK_URL first; nothing is saved unless the
	// receiver echoes the challenge (CodeCallbackCheckFailed).
	SetCallback(ctx context.Context, clientID string, spec SubscriptionSpec) (*SubscriptionResult, error)
	GetCallback(ctx context.Context, clientID string) (*Subscription, error)
	// DeleteCallback removes the subscription; queued deliveries are
	// dropped, delivered ones stay listed.
	DeleteCallback(ctx context.Context, clientID string) error
	RotateCallbackKeys(ctx context.Context, clientID string, spec RotateSpec) (*SubscriptionResult, error)
	// ListDeliveries returns a page of deliveries and the BeforeEvent of
	// the next page (0 at the end).
	ListDeliveries(ctx context.Context, clientID string, f DeliveryFilter) ([]*Delivery, int64, error)
	GetDelivery(ctx context.Context, clientID, deliveryID string) (*Delivery, []*DeliveryAttempt, error)
	// Redeliver queues one delivery again (deliveryID set), or every
	// failed (dead) delivery of the app created in [since, until).
	Redeliver(ctx context.Context, clientID, deliveryID string, since, until time.Time) (int, error)
}

// Callback error codes.
var (
	CodeCallbackNotFound    = NewCode("ATL.EVT.0001", NotFound, "The app has no callback, or the delivery does not exist.")
	CodeCallbackURL         = NewCode("ATL.EVT.0002", Invalid, "The callback URL must be an absolute http(s) URL; private, loopback and link-local targets need ATELIER_CALLBACK_ALLOW_PRIVATE=1.")
	CodeCallbackKey         = NewCode("ATL.EVT.0003", Invalid, "Signing keys are 16–64 and encryption keys 16, 24 or 32 printable ASCII characters; the message names the field.")
	CodeCallbackEventType   = NewCode("ATL.EVT.0004", Invalid, "An event type is not one of the subscribable types listed in docs/events.md.")
	CodeCallbackCheckFailed = NewCode("ATL.EVT.0005", FailedPrecondition, "The callback URL did not answer CHECK_URL with the challenge; the message says what came back.")
)
