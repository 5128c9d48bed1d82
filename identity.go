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
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Settings  TenantSettings `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// TenantSettings are a tenant's security settings. The zero value means the
// defaults (DefaultPasswordPolicy, MFA off, captcha verification off).
type TenantSettings struct {
	PasswordPolicy PasswordPolicy `json:"password_policy"`
	// MFA is MFAOff, MFAOptional (users who enrolled TOTP or were marked
	// MFA by an admin get MFA_AUTH) or MFARequired (every login of the
	// tenant gets MFA_AUTH).
	MFA string `json:"mfa"`
	// CaptchaVerification mirrors the partner console's switch: while it is
	// off, sensitive operations need a step-up verification token
	// (POST /v1/verifications).
	CaptchaVerification bool `json:"captcha_verification"`
}

// MFA settings of a tenant.
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// PasswordPolicy is a tenant's password policy. Zero fields take
// DefaultPasswordPolicy's value; ExpiryDays 0 means passwords never expire.
type PasswordPolicy struct {
	MinLength  int `json:"min_length"`  // characters
	MinClasses int `json:"min_classes"` // of lower case, upper case, digits, symbols
	History    int `json:"history"`     // a new password may not be one of the last History
	ExpiryDays int `json:"expiry_days"` // 0: never expires
	WarnDays   int `json:"warn_days"`   // PASSWORD_WARN this many days before expiry
}

// DefaultPasswordPolicy is the policy of a tenant that sets none.
var DefaultPasswordPolicy = PasswordPolicy{MinLength: 8, MinClasses: 2, History: 5, ExpiryDays: 0, WarnDays: 7}

// User statuses.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// User roles within a tenant.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleApp    = "app" // an app's client-credentials token; reads its tenant's directory
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
	OrgID             string    `json:"org_id,omitempty"`
	PasswordHash      string    `json:"-"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	// PasswordHistory holds the argon2id hashes of the previous passwords,
	// newest first, as many as the tenant's policy remembers.
	PasswordHistory []string `json:"-"`
	// MustChangePassword is set by an admin-forced reset: the next login
	// answers PASSWORD_EXPIRED.
	MustChangePassword bool `json:"must_change_password"`
	// MFA marks the user for a second factor even when the tenant's MFA
	// setting is optional.
	MFA bool `json:"mfa"`
	// TOTPSecret is the sealed (internal/secretbox) TOTP seed; TOTPEnabled
	// is set once the user confirmed enrolment with a valid code.
	TOTPSecret   string    `json:"-"`
	TOTPEnabled  bool      `json:"totp_enabled"`
	FailedLogins int       `json:"failed_logins"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Organization is a node of a tenant's organization tree. ParentID is ""
// for a root.
type Organization struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	ParentID  string    `json:"parent_id,omitempty"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// App is a registered client application. Users log in through an app,
// identified on the wire by its ClientID.
type App struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	BuiltIn  bool   `json:"built_in"`
	// ISV apps are templates that users of every tenant log in through,
	// naming their tenant in X-tenant-id (which is then required).
	ISV bool `json:"isv"`
	// Access is AppAccessAll (every user of the tenant may use the app) or
	// AppAccessGranted (only users granted it; others get ACCESS_DENIED).
	Access string `json:"access"`
	// RedirectURIs are the OIDC redirect URIs, matched exactly.
	RedirectURIs []string `json:"redirect_uris"`
	// IDTokenTTL is the id_token lifetime in seconds; 0 means 2 hours.
	IDTokenTTL int64 `json:"id_token_ttl"`
	// SecretHash is the argon2id hash of the client secret; empty for a
	// public client (which must use PKCE).
	SecretHash string `json:"-"`
	// Public is set in answers for a client without a secret; it is derived
	// from SecretHash, not stored.
	Public    bool      `json:"public"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// App access policies.
const (
	AppAccessAll     = "all"
	AppAccessGranted = "granted"
)

// DefaultIDTokenTTL is the id_token lifetime of an app that sets none.
const DefaultIDTokenTTL = 2 * time.Hour

// Token kinds.
const (
	TokenSession      = "session"      // issued by a password login
	TokenKey          = "key"          // issued in exchange for an access/secret key pair
	TokenState        = "state"        // a login in progress (MFA, expired password); Purpose says which
	TokenRefresh      = "refresh"      // refreshes a session (OIDC refresh_token)
	TokenCode         = "code"         // an OIDC authorization code
	TokenClient       = "client"       // client credentials: an app acting for itself
	TokenSSOTicket    = "sso_ticket"   // single sign-on ticket bound to a device
	TokenVerification = "verification" // step-up verification for one sensitive operation
)

// Token is an issued bearer token. Only the SHA-256 of the token is stored:
// tokens are 256-bit random, so a fast hash is enough and lookups stay cheap.
type Token struct {
	Hash      string `json:"-"`
	Kind      string `json:"kind"`
	UserID    string `json:"user_id"`
	TenantID  string `json:"tenant_id"`
	ClientID  string `json:"client_id"`
	AccessKey string `json:"access_key,omitempty"` // set for TokenKey
	// Purpose narrows what a single-purpose token may do: the step of a
	// state token ("mfa", "password_expired"), the operation of a
	// verification token.
	Purpose string `json:"purpose,omitempty"`
	// Data is kind-specific JSON: an authorization code's redirect URI,
	// PKCE challenge and nonce; a ticket's device fingerprint; a
	// verification's parameter hash.
	Data      string    `json:"-"`
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
	UserID   string // "" for an app acting for itself (client credentials)
	TenantID string
	Email    string
	Name     string
	Role     string // RoleAdmin, RoleMember, or RoleApp for client credentials
	ClientID string
	// PlatformAdmin is set for admins of the default tenant: they manage
	// every tenant.
	PlatformAdmin bool
	// TokenHash is the hash of the bearer token of the request, so that
	// revoking "all other sessions" can keep it.
	TokenHash string
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
// The device and address come from ClientFromContext.
type LoginRequest struct {
	ClientID string
	TenantID string // X-tenant-id: required for ISV apps, else optional
	Email    string // one of Email or UserName
	UserName string
	Password string
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

// MFASent is the answer to sending a one-time code.
type MFASent struct {
	Channel     string `json:"channel"`
	To          string `json:"to"` // masked: "138****0000", "a***@example.com"
	ExpiresIn   int64  `json:"expires_in"`
	ResendAfter int64  `json:"resend_after"` // seconds until another send is allowed
}

// SSOTicket is a single-use ticket that an app trades, on the same device,
// for the user's identity.
type SSOTicket struct {
	Ticket string `json:"sso_ticket"`
	Expire int64  `json:"expire"` // seconds
}

// UserInfo is what an app learns about a user (OIDC userinfo claims).
type UserInfo struct {
	Sub         string `json:"sub"`
	Email       string `json:"email"`
	Name        string `json:"name"`
	UserName    string `json:"preferred_username"`
	Mobile      string `json:"phone_number,omitempty"`
	TenantID    string `json:"tenant_id"`
	OrgID       string `json:"org_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
}

// AuthService logs users in and authenticates requests. The calling device
// comes from ClientFromContext. Implementations are safe for concurrent use.
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

	// SendMFACode sends a one-time code for the login that stateToken
	// continues, by channel "sms" or "email".
	SendMFACode(ctx context.Context, stateToken, channel string) (*MFASent, error)
	// VerifyMFA checks a code ("sms", "email" or "totp") and finishes the
	// login; the state token is used up on success.
	VerifyMFA(ctx context.Context, stateToken, channel, code string) (*LoginResult, error)
	// UpdateExpiredPassword sets a new password for the login that a
	// PASSWORD_EXPIRED state token continues and finishes the login.
	UpdateExpiredPassword(ctx context.Context, stateToken, oldPassword, newPassword string) (*LoginResult, error)
	// RefreshSession trades a valid session token for a new one (the old
	// one is revoked).
	RefreshSession(ctx context.Context, sessionToken string) (*LoginResult, error)
	// TenantToken is the client-credentials grant of an app.
	TenantToken(ctx context.Context, clientID, clientSecret string) (*IssuedToken, error)
	// IssueSSOTicket issues a ticket for the session's user, bound to the
	// calling device and to the app clientID.
	IssueSSOTicket(ctx context.Context, sessionToken, clientID string) (*SSOTicket, error)
	// VerifySSOTicket uses up a ticket; the caller is the app (principal of
	// a client token) and the device must be the one it was issued to.
	VerifySSOTicket(ctx context.Context, ticket string) (*UserInfo, error)
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
	CodeStateToken      = NewCode("ATL.AUTH.0010", Invalid, "The state token is unknown, used, expired or for another step; log in again.")
	CodeBadOTP          = NewCode("ATL.AUTH.0011", Invalid, "The one-time code is wrong; the message says how many attempts remain.")
	CodeOTPExpired      = NewCode("ATL.AUTH.0012", Invalid, "No valid one-time code: it expired, was used, or too many wrong ones were tried; send a new one.")
	CodeResendTooSoon   = NewCode("ATL.AUTH.0013", ResourceExhausted, "A code was sent moments ago, or too many were sent; wait before asking for another.")
	CodeMFAChannel      = NewCode("ATL.AUTH.0014", FailedPrecondition, "This channel is not available for the user: no mobile or email on record, no sender configured, or TOTP not enrolled.")
	CodePasswordPolicy  = NewCode("ATL.AUTH.0015", Invalid, "The new password does not meet the tenant's password policy; the message says which rule.")
	CodeInvalidClient   = NewCode("ATL.AUTH.0016", Unauthenticated, "The client id or client secret is wrong.")
	CodeInvalidTicket   = NewCode("ATL.AUTH.0017", Invalid, "The SSO ticket is unknown, used, expired, or bound to another device or app.")
	CodeLoginRateLimit  = NewCode("ATL.AUTH.0018", ResourceExhausted, "Too many login attempts from this address or for this account; retry after the time in Retry-After.")
	CodeAPIKeyNotFound  = NewCode("ATL.KEY.0001", NotFound, "The API key does not exist or belongs to someone else.")
	CodeTenantNotFound  = NewCode("ATL.IAM.0001", NotFound, "The tenant does not exist.")
	CodeUserNotFound    = NewCode("ATL.IAM.0002", NotFound, "The user does not exist.")
	CodeUserExists      = NewCode("ATL.IAM.0003", Conflict, "A user with this email or user name already exists in the tenant.")
	CodeTenantExists    = NewCode("ATL.IAM.0004", Conflict, "A tenant with this name already exists.")
	CodeAppExists       = NewCode("ATL.IAM.0005", Conflict, "An app with this client id already exists.")
)
