package atelier

import (
	"context"
	"time"
)

// UserSpec creates or changes a user. On update, nil fields stay as they are.
type UserSpec struct {
	Email       *string `json:"email,omitempty"`
	UserName    *string `json:"user_name,omitempty"`
	DisplayName *string `json:"display_name,omitempty"`
	Mobile      *string `json:"mobile,omitempty"`
	Role        *string `json:"role,omitempty"`
	Status      *string `json:"status,omitempty"` // UserActive or UserDisabled
	OrgID       *string `json:"org_id,omitempty"`
	MFA         *bool   `json:"mfa,omitempty"`
	Password    *string `json:"password,omitempty"` // create only; use ResetPassword later
}

// AppSpec creates or changes an app. On update, nil fields stay as they are.
type AppSpec struct {
	Name         *string   `json:"name,omitempty"`
	ISV          *bool     `json:"isv,omitempty"`
	Access       *string   `json:"access,omitempty"`
	RedirectURIs *[]string `json:"redirect_uris,omitempty"`
	IDTokenTTL   *int64    `json:"id_token_ttl,omitempty"`
	// Public apps have no client secret and must use PKCE.
	Public *bool `json:"public,omitempty"`
}

// NewApp is the answer to creating an app or rotating its secret: the only
// time the client secret is shown.
type NewApp struct {
	App
	ClientSecret string `json:"client_secret,omitempty"`
}

// TOTPEnrolment is the answer to starting TOTP enrolment.
type TOTPEnrolment struct {
	Secret string `json:"secret"` // base32, for manual entry
	URL    string `json:"otpauth_url"`
}

// DirectoryService manages tenants, users, organizations, apps and the audit
// log. The caller comes from the context: tenant admins manage their tenant,
// platform admins (admins of the default tenant) every tenant; members may
// read their own record only. Every change is written to the audit log.
// Implementations are safe for concurrent use.
type DirectoryService interface {
	CreateTenant(ctx context.Context, name string, settings *TenantSettings) (*Tenant, error)
	ListTenants(ctx context.Context) ([]*Tenant, error)
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// UpdateTenantSettings replaces the tenant's settings after checking
	// them (CodeInvalidParam naming the field).
	UpdateTenantSettings(ctx context.Context, id string, settings TenantSettings) (*Tenant, error)

	// CreateUser creates a user in tenantID ("" = the caller's tenant).
	CreateUser(ctx context.Context, tenantID string, spec UserSpec) (*User, error)
	ListUsers(ctx context.Context, tenantID string) ([]*User, error)
	// GetUser takes a user id, or "me".
	GetUser(ctx context.Context, id string) (*User, error)
	UpdateUser(ctx context.Context, id string, spec UserSpec) (*User, error)
	DeleteUser(ctx context.Context, id string) error
	// ResetPassword sets a password chosen by an admin and forces the user
	// to change it at the next login; every token of the user is revoked.
	ResetPassword(ctx context.Context, id, password string) error
	// ChangePassword changes the caller's own password; the caller's other
	// tokens are revoked.
	ChangePassword(ctx context.Context, oldPassword, newPassword string) error
	// UnlockUser clears a lockout.
	UnlockUser(ctx context.Context, id string) error

	// EnrollTOTP starts TOTP enrolment of the caller; ConfirmTOTP turns it
	// on with a first valid code; DisableTOTP turns it off.
	EnrollTOTP(ctx context.Context) (*TOTPEnrolment, error)
	ConfirmTOTP(ctx context.Context, code string) error
	DisableTOTP(ctx context.Context, userID string) error

	CreateOrg(ctx context.Context, tenantID, name, parentID string) (*Organization, error)
	ListOrgs(ctx context.Context, tenantID string) ([]*Organization, error)
	GetOrg(ctx context.Context, id string) (*Organization, error)
	// UpdateOrg renames or moves an org; a move under its own subtree gives
	// CodeOrgCycle.
	UpdateOrg(ctx context.Context, id string, name, parentID *string) (*Organization, error)
	// DeleteOrg deletes an org without children or users, else CodeOrgNotEmpty.
	DeleteOrg(ctx context.Context, id string) error

	CreateApp(ctx context.Context, tenantID string, spec AppSpec) (*NewApp, error)
	ListApps(ctx context.Context, tenantID string) ([]*App, error)
	GetApp(ctx context.Context, clientID string) (*App, error)
	UpdateApp(ctx context.Context, clientID string, spec AppSpec) (*App, error)
	DeleteApp(ctx context.Context, clientID string) error
	// RotateAppSecret is a sensitive operation: the caller passes the
	// step-up verification token it obtained for "app.rotate_secret".
	RotateAppSecret(ctx context.Context, clientID, verificationToken string) (*NewApp, error)
	GrantApp(ctx context.Context, clientID, userID string) error
	RevokeApp(ctx context.Context, clientID, userID string) error
	// ListAppUsers lists the ids of the users granted the app.
	ListAppUsers(ctx context.Context, clientID string) ([]string, error)

	ListAudit(ctx context.Context, q AuditQuery) (*AuditPage, error)
}

// Verification is a step-up verification in progress.
type Verification struct {
	ID        string    `json:"verification_id"`
	Operation string    `json:"operation"`
	Channel   string    `json:"channel"`
	To        string    `json:"to"` // masked
	ExpiresAt time.Time `json:"expires_at"`
}

// VerificationService re-verifies the caller by SMS or email before a
// sensitive operation. Params are the operation's parameters; the token is
// bound to their hash, so it cannot authorise the same operation on another
// object. Implementations are safe for concurrent use.
type VerificationService interface {
	// StartVerification sends a code to the caller by channel.
	StartVerification(ctx context.Context, operation, channel string, params map[string]string) (*Verification, error)
	// ConfirmVerification checks the code and returns a single-use token,
	// valid 5 minutes.
	ConfirmVerification(ctx context.Context, id, code string) (token string, expiresIn int64, err error)
	// RequireVerification uses up token if it matches the caller, operation
	// and params. It returns nil without a token when the caller's tenant
	// has captcha verification on (the seed's rule), CodeVerificationRequired
	// when the token is missing and CodeVerificationInvalid when it does not
	// match.
	RequireVerification(ctx context.Context, token, operation string, params map[string]string) error
}

// Directory and verification error codes.
var (
	CodeOrgNotFound   = NewCode("ATL.IAM.0006", NotFound, "The organization does not exist.")
	CodeOrgExists     = NewCode("ATL.IAM.0007", Conflict, "An organization with this name already exists under the same parent.")
	CodeOrgNotEmpty   = NewCode("ATL.IAM.0008", FailedPrecondition, "The organization still has sub-organizations or users.")
	CodeOrgCycle      = NewCode("ATL.IAM.0009", Invalid, "An organization cannot move under itself or its own descendants.")
	CodeAppNotFound   = NewCode("ATL.IAM.0010", NotFound, "The app does not exist.")
	CodeLastAdmin     = NewCode("ATL.IAM.0011", FailedPrecondition, "The operation would leave the tenant without an active admin.")
	CodeBuiltInApp    = NewCode("ATL.IAM.0012", FailedPrecondition, "The built-in app cannot be changed or deleted.")
	CodeNotGranted    = NewCode("ATL.IAM.0013", NotFound, "The user has not been granted this app.")
	CodeVerifyNeeded  = NewCode("ATL.VFY.0001", PermissionDenied, "This sensitive operation needs a step-up verification token in X-verification-token; get one from POST /v1/verifications.")
	CodeVerifyInvalid = NewCode("ATL.VFY.0002", PermissionDenied, "The verification token is unknown, used, expired, or for another user, operation or parameters.")
	CodeVerifyUnknown = NewCode("ATL.VFY.0003", NotFound, "The verification does not exist or has expired.")
)
