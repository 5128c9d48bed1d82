package atelier

import (
	"context"
	"time"
)

// DefaultTenant is the name of the tenant that the first start creates and
// puts the bootstrap admin in.
const DefaultTenant = "default"

// CLIClientID is the client id of the built-in app that the CLI and the SDKs
// log in through (CONTRACT §4).
const CLIClientID = "atelier-cli"

// Tenant is an isolated account: every /v1 object belongs to exactly one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User statuses.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// User roles within a tenant.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// User is a person who logs in. PasswordHash is an argon2id PHC string and is
// never serialised.
type User struct {
	ID                string    `json:"id"`
	TenantID          string    `json:"tenant_id"`
	Email             string    `json:"email"` // stored lower-case
	Name              string    `json:"user_name"`
	DisplayName       string    `json:"display_name,omitempty"`
	Mobile            string    `json:"mobile,omitempty"`
	Role              string    `json:"role"`
	Status            string    `json:"status"`
	PasswordHash      string    `json:"-"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// App is a registered client application. Users log in through an app,
// identified on the wire by its ClientID.
type App struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	ClientID  string    `json:"client_id"`
	Name      string    `json:"name"`
	BuiltIn   bool      `json:"built_in"`
	CreatedAt time.Time `json:"created_at"`
}

// Token kinds.
const (
	TokenSession = "session" // issued by a password login
	TokenKey     = "key"     // issued in exchange for an access/secret key pair
)

// Token is an issued bearer token. Only the SHA-256 of the token is stored:
// tokens are 256-bit random, so a fast hash is enough and lookups stay cheap.
type Token struct {
	Hash      string    `json:"-"`
	Kind      string    `json:"kind"`
	UserID    string    `json:"user_id"`
	TenantID  string    `json:"tenant_id"`
	ClientID  string    `json:"client_id"`
	AccessKey string    `json:"access_key,omitempty"` // set for TokenKey
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// APIKey is an access/secret key pair. The secret is shown once at creation
// and stored only as an argon2id hash.
type APIKey struct {
	AccessKey   string    `json:"access_key"`
	TenantID    string    `json:"tenant_id"`
	UserID      string    `json:"user_id"`
	Description string    `json:"description"`
	SecretHash  string    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID   string
	TenantID string
	Email    string
	Role     string
	ClientID string
}

type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the caller stored in ctx, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// TenantFromContext returns the caller's tenant id, or an unauthenticated
// error when ctx carries no principal. Services call it first thing so that
// nothing can ever run outside a tenant.
func TenantFromContext(ctx context.Context) (string, error) {
	p := PrincipalFromContext(ctx)
	if p == nil || p.TenantID == "" {
		return "", CodeNoCredentials.Errorf("Authentication is required.")
	}
	return p.TenantID, nil
}

// LoginRequest is a password login through an app (CONTRACT §4).
type LoginRequest struct {
	ClientID          string
	TenantID          string // X-tenant-id, optional
	Email             string // one of Email or UserName
	UserName          string
	Password          string
	DeviceFingerprint string
	IP                string
}

// Login statuses (CONTRACT §4).
const (
	LoginSuccess         = "SUCCESS"
	LoginPasswordWarn    = "PASSWORD_WARN"
	LoginPasswordExpired = "PASSWORD_EXPIRED"
	LoginMFA             = "MFA_AUTH"
	LoginAccessDenied    = "ACCESS_DENIED"
)

// LoginResult is the answer to a login (CONTRACT §4 field names).
type LoginResult struct {
	Status       string         `json:"status"`
	SessionToken string         `json:"session_token,omitempty"`
	IDToken      string         `json:"id_token,omitempty"`
	Expire       int64          `json:"expire,omitempty"` // session token lifetime in seconds
	StateToken   string         `json:"state_token,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// IssuedToken is a bearer token handed to a client.
type IssuedToken struct {
	Token     string    `json:"token"`
	ExpiresIn int64     `json:"expires_in"` // seconds
	ExpiresAt time.Time `json:"expires_at"`
	TenantID  string    `json:"tenant_id"`
	UserID    string    `json:"user_id"`
}

// NewAPIKey is the answer to creating an API key: the only time the secret is
// shown.
type NewAPIKey struct {
	APIKey
	SecretKey string `json:"secret_key"`
}

// AuthService logs users in and authenticates requests. Implementations are
// safe for concurrent use.
type AuthService interface {
	// Login checks a password login. Wrong credentials give CodeBadCredentials
	// with the remaining attempts in the message; an unknown client id gives
	// CodeUnknownClient.
	Login(ctx context.Context, req LoginRequest) (*LoginResult, error)
	// Authenticate resolves a bearer token to its principal, or returns
	// CodeInvalidToken.
	Authenticate(ctx context.Context, token string) (*Principal, error)
	// Logout revokes a token; revoking an unknown token is not an error.
	Logout(ctx context.Context, token string) error
	// ExchangeKey trades an access/secret key pair for a bearer token, or
	// returns CodeBadKey.
	ExchangeKey(ctx context.Context, accessKey, secretKey string) (*IssuedToken, error)
}

// APIKeyService manages the caller's API keys; the tenant and user come from
// the context.
type APIKeyService interface {
	CreateAPIKey(ctx context.Context, description string) (*NewAPIKey, error)
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteAPIKey returns CodeAPIKeyNotFound for a key the caller does not own.
	DeleteAPIKey(ctx context.Context, accessKey string) error
}

// Identity error codes.
var (
	CodeNoCredentials   = NewCode("ATL.AUTH.0001", Unauthenticated, "The request carries no credentials; send Authorization: Bearer <token>.")
	CodeInvalidToken    = NewCode("ATL.AUTH.0002", Unauthenticated, "The bearer token is unknown, revoked or expired; log in again.")
	CodeBadKey          = NewCode("ATL.AUTH.0003", Unauthenticated, "The access key or secret key is wrong.")
	CodeForbidden       = NewCode("ATL.AUTH.0004", PermissionDenied, "The caller may not perform this operation.")
	CodeBadCredentials  = NewCode("ATL.AUTH.0005", Invalid, "Wrong email, user name or password; the message says how many attempts remain.")
	CodeMissingHeader   = NewCode("ATL.AUTH.0006", Invalid, "A required /api/v2 header (X-client-id, X-operating-sys-version, X-device-fingerprint, X-agent) is missing.")
	CodeUnknownClient   = NewCode("ATL.AUTH.0007", Invalid, "The X-client-id header names no registered app.")
	CodeAccountLocked   = NewCode("ATL.AUTH.0008", PermissionDenied, "Too many failed logins; the account is locked for a while.")
	CodeAmbiguousTenant = NewCode("ATL.AUTH.0009", Invalid, "The email exists in several tenants; send X-tenant-id.")
	CodeAPIKeyNotFound  = NewCode("ATL.KEY.0001", NotFound, "The API key does not exist or belongs to someone else.")
	CodeTenantNotFound  = NewCode("ATL.IAM.0001", NotFound, "The tenant does not exist.")
	CodeUserNotFound    = NewCode("ATL.IAM.0002", NotFound, "The user does not exist.")
	CodeUserExists      = NewCode("ATL.IAM.0003", Conflict, "A user with this email or user name already exists in the tenant.")
	CodeTenantExists    = NewCode("ATL.IAM.0004", Conflict, "A tenant with this name already exists.")
	CodeAppExists       = NewCode("ATL.IAM.0005", Conflict, "An app with this client id already exists.")
)
