package mock

import (
	"context"

	"github.com/atelier-dev/atelier"
)

// Interface guards.
var (
	_ atelier.DirectoryService    = (*DirectoryService)(nil)
	_ atelier.VerificationService = (*VerificationService)(nil)
	_ atelier.OIDCProvider        = (*OIDCProvider)(nil)
)

// DirectoryService mocks atelier.DirectoryService.
type DirectoryService struct {
	CreateTenantFn         func(ctx context.Context, name string, settings *atelier.TenantSettings) (*atelier.Tenant, error)
	ListTenantsFn          func(ctx context.Context) ([]*atelier.Tenant, error)
	GetTenantFn            func(ctx context.Context, id string) (*atelier.Tenant, error)
	UpdateTenantSettingsFn func(ctx context.Context, id string, settings atelier.TenantSettings) (*atelier.Tenant, error)
	CreateUserFn           func(ctx context.Context, tenantID string, spec atelier.UserSpec) (*atelier.User, error)
	ListUsersFn            func(ctx context.Context, tenantID string) ([]*atelier.User, error)
	GetUserFn              func(ctx context.Context, id string) (*atelier.User, error)
	UpdateUserFn           func(ctx context.Context, id string, spec atelier.UserSpec) (*atelier.User, error)
	DeleteUserFn           func(ctx context.Context, id string) error
	ResetPasswordFn        func(ctx context.Context, id, password string) error
	ChangePasswordFn       func(ctx context.Context, oldPassword, newPassword string) error
	UnlockUserFn           func(ctx context.Context, id string) error
	EnrollTOTPFn           func(ctx context.Context) (*atelier.TOTPEnrolment, error)
	ConfirmTOTPFn          func(ctx context.Context, code string) error
	DisableTOTPFn          func(ctx context.Context, userID string) error
	CreateOrgFn            func(ctx context.Context, tenantID, name, parentID string) (*atelier.Organization, error)
	ListOrgsFn             func(ctx context.Context, tenantID string) ([]*atelier.Organization, error)
	GetOrgFn               func(ctx context.Context, id string) (*atelier.Organization, error)
	UpdateOrgFn            func(ctx context.Context, id string, name, parentID *string) (*atelier.Organization, error)
	DeleteOrgFn            func(ctx context.Context, id string) error
	CreateAppFn            func(ctx context.Context, tenantID string, spec atelier.AppSpec) (*atelier.NewApp, error)
	ListAppsFn             func(ctx context.Context, tenantID string) ([]*atelier.App, error)
	GetAppFn               func(ctx context.Context, clientID string) (*atelier.App, error)
	UpdateAppFn            func(ctx context.Context, clientID string, spec atelier.AppSpec) (*atelier.App, error)
	DeleteAppFn            func(ctx context.Context, clientID string) error
	RotateAppSecretFn      func(ctx context.Context, clientID, verificationToken string) (*atelier.NewApp, error)
	GrantAppFn             func(ctx context.Context, clientID, userID string) error
	RevokeAppFn            func(ctx context.Context, clientID, userID string) error
	ListAppUsersFn         func(ctx context.Context, clientID string) ([]string, error)
	ListAuditFn            func(ctx context.Context, q atelier.AuditQuery) (*atelier.AuditPage, error)
}

// CreateTenant calls CreateTenantFn.
func (s *DirectoryService) CreateTenant(ctx context.Context, name string, settings *atelier.TenantSettings) (*atelier.Tenant, error) {
	if s.CreateTenantFn == nil {
		panic("mock: DirectoryService.CreateTenant called but CreateTenantFn is not set")
	}
	return s.CreateTenantFn(ctx, name, settings)
}

// ListTenants calls ListTenantsFn.
func (s *DirectoryService) ListTenants(ctx context.Context) ([]*atelier.Tenant, error) {
	if s.ListTenantsFn == nil {
		panic("mock: DirectoryService.ListTenants called but ListTenantsFn is not set")
	}
	return s.ListTenantsFn(ctx)
}

// GetTenant calls GetTenantFn.
func (s *DirectoryService) GetTenant(ctx context.Context, id string) (*atelier.Tenant, error) {
	if s.GetTenantFn == nil {
		panic("mock: DirectoryService.GetTenant called but GetTenantFn is not set")
	}
	return s.GetTenantFn(ctx, id)
}

// UpdateTenantSettings calls UpdateTenantSettingsFn.
func (s *DirectoryService) UpdateTenantSettings(ctx context.Context, id string, settings atelier.TenantSettings) (*atelier.Tenant, error) {
	if s.UpdateTenantSettingsFn == nil {
		panic("mock: DirectoryService.UpdateTenantSettings called but UpdateTenantSettingsFn is not set")
	}
	return s.UpdateTenantSettingsFn(ctx, id, settings)
}

// CreateUser calls CreateUserFn.
func (s *DirectoryService) CreateUser(ctx context.Context, tenantID string, spec atelier.UserSpec) (*atelier.User, error) {
	if s.CreateUserFn == nil {
		panic("mock: DirectoryService.CreateUser called but CreateUserFn is not set")
	}
	return s.CreateUserFn(ctx, tenantID, spec)
}

// ListUsers calls ListUsersFn.
func (s *DirectoryService) ListUsers(ctx context.Context, tenantID string) ([]*atelier.User, error) {
	if s.ListUsersFn == nil {
		panic("mock: DirectoryService.ListUsers called but ListUsersFn is not set")
	}
	return s.ListUsersFn(ctx, tenantID)
}

// GetUser calls GetUserFn.
func (s *DirectoryService) GetUser(ctx context.Context, id string) (*atelier.User, error) {
	if s.GetUserFn == nil {
		panic("mock: DirectoryService.GetUser called but GetUserFn is not set")
	}
	return s.GetUserFn(ctx, id)
}

// UpdateUser calls UpdateUserFn.
func (s *DirectoryService) UpdateUser(ctx context.Context, id string, spec atelier.UserSpec) (*atelier.User, error) {
	if s.UpdateUserFn == nil {
		panic("mock: DirectoryService.UpdateUser called but UpdateUserFn is not set")
	}
	return s.UpdateUserFn(ctx, id, spec)
}

// DeleteUser calls DeleteUserFn.
func (s *DirectoryService) DeleteUser(ctx context.Context, id string) error {
	if s.DeleteUserFn == nil {
		panic("mock: DirectoryService.DeleteUser called but DeleteUserFn is not set")
	}
	return s.DeleteUserFn(ctx, id)
}

// ResetPassword calls ResetPasswordFn.
func (s *DirectoryService) ResetPassword(ctx context.Context, id, password string) error {
	if s.ResetPasswordFn == nil {
		panic("mock: DirectoryService.ResetPassword called but ResetPasswordFn is not set")
	}
	return s.ResetPasswordFn(ctx, id, password)
}

// ChangePassword calls ChangePasswordFn.
func (s *DirectoryService) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	if s.ChangePasswordFn == nil {
		panic("mock: DirectoryService.ChangePassword called but ChangePasswordFn is not set")
	}
	return s.ChangePasswordFn(ctx, oldPassword, newPassword)
}

// UnlockUser calls UnlockUserFn.
func (s *DirectoryService) UnlockUser(ctx context.Context, id string) error {
	if s.UnlockUserFn == nil {
		panic("mock: DirectoryService.UnlockUser called but UnlockUserFn is not set")
	}
	return s.UnlockUserFn(ctx, id)
}

// EnrollTOTP calls EnrollTOTPFn.
func (s *DirectoryService) EnrollTOTP(ctx context.Context) (*atelier.TOTPEnrolment, error) {
	if s.EnrollTOTPFn == nil {
		panic("mock: DirectoryService.EnrollTOTP called but EnrollTOTPFn is not set")
	}
	return s.EnrollTOTPFn(ctx)
}

// ConfirmTOTP calls ConfirmTOTPFn.
func (s *DirectoryService) ConfirmTOTP(ctx context.Context, code string) error {
	if s.ConfirmTOTPFn == nil {
		panic("mock: DirectoryService.ConfirmTOTP called but ConfirmTOTPFn is not set")
	}
	return s.ConfirmTOTPFn(ctx, code)
}

// DisableTOTP calls DisableTOTPFn.
func (s *DirectoryService) DisableTOTP(ctx context.Context, userID string) error {
	if s.DisableTOTPFn == nil {
		panic("mock: DirectoryService.DisableTOTP called but DisableTOTPFn is not set")
	}
	return s.DisableTOTPFn(ctx, userID)
}

// CreateOrg calls CreateOrgFn.
func (s *DirectoryService) CreateOrg(ctx context.Context, tenantID, name, parentID string) (*atelier.Organization, error) {
	if s.CreateOrgFn == nil {
		panic("mock: DirectoryService.CreateOrg called but CreateOrgFn is not set")
	}
	return s.CreateOrgFn(ctx, tenantID, name, parentID)
}

// ListOrgs calls ListOrgsFn.
func (s *DirectoryService) ListOrgs(ctx context.Context, tenantID string) ([]*atelier.Organization, error) {
	if s.ListOrgsFn == nil {
		panic("mock: DirectoryService.ListOrgs called but ListOrgsFn is not set")
	}
	return s.ListOrgsFn(ctx, tenantID)
}

// GetOrg calls GetOrgFn.
func (s *DirectoryService) GetOrg(ctx context.Context, id string) (*atelier.Organization, error) {
	if s.GetOrgFn == nil {
		panic("mock: DirectoryService.GetOrg called but GetOrgFn is not set")
	}
	return s.GetOrgFn(ctx, id)
}

// UpdateOrg calls UpdateOrgFn.
func (s *DirectoryService) UpdateOrg(ctx context.Context, id string, name, parentID *string) (*atelier.Organization, error) {
	if s.UpdateOrgFn == nil {
		panic("mock: DirectoryService.UpdateOrg called but UpdateOrgFn is not set")
	}
	return s.UpdateOrgFn(ctx, id, name, parentID)
}

// DeleteOrg calls DeleteOrgFn.
func (s *DirectoryService) DeleteOrg(ctx context.Context, id string) error {
	if s.DeleteOrgFn == nil {
		panic("mock: DirectoryService.DeleteOrg called but DeleteOrgFn is not set")
	}
	return s.DeleteOrgFn(ctx, id)
}

// CreateApp calls CreateAppFn.
func (s *DirectoryService) CreateApp(ctx context.Context, tenantID string, spec atelier.AppSpec) (*atelier.NewApp, error) {
	if s.CreateAppFn == nil {
		panic("mock: DirectoryService.CreateApp called but CreateAppFn is not set")
	}
	return s.CreateAppFn(ctx, tenantID, spec)
}

// ListApps calls ListAppsFn.
func (s *DirectoryService) ListApps(ctx context.Context, tenantID string) ([]*atelier.App, error) {
	if s.ListAppsFn == nil {
		panic("mock: DirectoryService.ListApps called but ListAppsFn is not set")
	}
	return s.ListAppsFn(ctx, tenantID)
}

// GetApp calls GetAppFn.
func (s *DirectoryService) GetApp(ctx context.Context, clientID string) (*atelier.App, error) {
	if s.GetAppFn == nil {
		panic("mock: DirectoryService.GetApp called but GetAppFn is not set")
	}
	return s.GetAppFn(ctx, clientID)
}

// UpdateApp calls UpdateAppFn.
func (s *DirectoryService) UpdateApp(ctx context.Context, clientID string, spec atelier.AppSpec) (*atelier.App, error) {
	if s.UpdateAppFn == nil {
		panic("mock: DirectoryService.UpdateApp called but UpdateAppFn is not set")
	}
	return s.UpdateAppFn(ctx, clientID, spec)
}

// DeleteApp calls DeleteAppFn.
func (s *DirectoryService) DeleteApp(ctx context.Context, clientID string) error {
	if s.DeleteAppFn == nil {
		panic("mock: DirectoryService.DeleteApp called but DeleteAppFn is not set")
	}
	return s.DeleteAppFn(ctx, clientID)
}

// RotateAppSecret calls RotateAppSecretFn.
func (s *DirectoryService) RotateAppSecret(ctx context.Context, clientID, verificationToken string) (*atelier.NewApp, error) {
	if s.RotateAppSecretFn == nil {
		panic("mock: DirectoryService.RotateAppSecret called but RotateAppSecretFn is not set")
	}
	return s.RotateAppSecretFn(ctx, clientID, verificationToken)
}

// GrantApp calls GrantAppFn.
func (s *DirectoryService) GrantApp(ctx context.Context, clientID, userID string) error {
	if s.GrantAppFn == nil {
		panic("mock: DirectoryService.GrantApp called but GrantAppFn is not set")
	}
	return s.GrantAppFn(ctx, clientID, userID)
}

// RevokeApp calls RevokeAppFn.
func (s *DirectoryService) RevokeApp(ctx context.Context, clientID, userID string) error {
	if s.RevokeAppFn == nil {
		panic("mock: DirectoryService.RevokeApp called but RevokeAppFn is not set")
	}
	return s.RevokeAppFn(ctx, clientID, userID)
}

// ListAppUsers calls ListAppUsersFn.
func (s *DirectoryService) ListAppUsers(ctx context.Context, clientID string) ([]string, error) {
	if s.ListAppUsersFn == nil {
		panic("mock: DirectoryService.ListAppUsers called but ListAppUsersFn is not set")
	}
	return s.ListAppUsersFn(ctx, clientID)
}

// ListAudit calls ListAuditFn.
func (s *DirectoryService) ListAudit(ctx context.Context, q atelier.AuditQuery) (*atelier.AuditPage, error) {
	if s.ListAuditFn == nil {
		panic("mock: DirectoryService.ListAudit called but ListAuditFn is not set")
	}
	return s.ListAuditFn(ctx, q)
}

// VerificationService mocks atelier.VerificationService.
type VerificationService struct {
	StartVerificationFn   func(ctx context.Context, operation, channel string, params map[string]string) (*atelier.Verification, error)
	ConfirmVerificationFn func(ctx context.Context, id, code string) (token string, expiresIn int64, err error)
	RequireVerificationFn func(ctx context.Context, token, operation string, params map[string]string) error
}

// StartVerification calls StartVerificationFn.
func (s *VerificationService) StartVerification(ctx context.Context, operation, channel string, params map[string]string) (*atelier.Verification, error) {
	if s.StartVerificationFn == nil {
		panic("mock: VerificationService.StartVerification called but StartVerificationFn is not set")
	}
	return s.StartVerificationFn(ctx, operation, channel, params)
}

// ConfirmVerification calls ConfirmVerificationFn.
func (s *VerificationService) ConfirmVerification(ctx context.Context, id, code string) (token string, expiresIn int64, err error) {
	if s.ConfirmVerificationFn == nil {
		panic("mock: VerificationService.ConfirmVerification called but ConfirmVerificationFn is not set")
	}
	return s.ConfirmVerificationFn(ctx, id, code)
}

// RequireVerification calls RequireVerificationFn.
func (s *VerificationService) RequireVerification(ctx context.Context, token, operation string, params map[string]string) error {
	if s.RequireVerificationFn == nil {
		panic("mock: VerificationService.RequireVerification called but RequireVerificationFn is not set")
	}
	return s.RequireVerificationFn(ctx, token, operation, params)
}

// OIDCProvider mocks atelier.OIDCProvider.
type OIDCProvider struct {
	IssuerFn         func() string
	JWKSFn           func(ctx context.Context) ([]byte, error)
	CheckAuthorizeFn func(ctx context.Context, req atelier.AuthorizeRequest) (*atelier.App, error)
	IssueCodeFn      func(ctx context.Context, req atelier.AuthorizeRequest, sessionToken string) (code string, err error)
	TokenFn          func(ctx context.Context, req atelier.TokenRequest) (*atelier.TokenResponse, error)
	UserInfoFn       func(ctx context.Context, accessToken string) (*atelier.UserInfo, error)
}

// Issuer calls IssuerFn.
func (s *OIDCProvider) Issuer() string {
	if s.IssuerFn == nil {
		panic("mock: OIDCProvider.Issuer called but IssuerFn is not set")
	}
	return s.IssuerFn()
}

// JWKS calls JWKSFn.
func (s *OIDCProvider) JWKS(ctx context.Context) ([]byte, error) {
	if s.JWKSFn == nil {
		panic("mock: OIDCProvider.JWKS called but JWKSFn is not set")
	}
	return s.JWKSFn(ctx)
}

// CheckAuthorize calls CheckAuthorizeFn.
func (s *OIDCProvider) CheckAuthorize(ctx context.Context, req atelier.AuthorizeRequest) (*atelier.App, error) {
	if s.CheckAuthorizeFn == nil {
		panic("mock: OIDCProvider.CheckAuthorize called but CheckAuthorizeFn is not set")
	}
	return s.CheckAuthorizeFn(ctx, req)
}

// IssueCode calls IssueCodeFn.
func (s *OIDCProvider) IssueCode(ctx context.Context, req atelier.AuthorizeRequest, sessionToken string) (code string, err error) {
	if s.IssueCodeFn == nil {
		panic("mock: OIDCProvider.IssueCode called but IssueCodeFn is not set")
	}
	return s.IssueCodeFn(ctx, req, sessionToken)
}

// Token calls TokenFn.
func (s *OIDCProvider) Token(ctx context.Context, req atelier.TokenRequest) (*atelier.TokenResponse, error) {
	if s.TokenFn == nil {
		panic("mock: OIDCProvider.Token called but TokenFn is not set")
	}
	return s.TokenFn(ctx, req)
}

// UserInfo calls UserInfoFn.
func (s *OIDCProvider) UserInfo(ctx context.Context, accessToken string) (*atelier.UserInfo, error) {
	if s.UserInfoFn == nil {
		panic("mock: OIDCProvider.UserInfo called but UserInfoFn is not set")
	}
	return s.UserInfoFn(ctx, accessToken)
}
