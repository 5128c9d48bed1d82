package mock

import (
	"context"

	"github.com/atelier-dev/atelier"
)

// Interface guards.
var (
	_ atelier.AuthService   = (*AuthService)(nil)
	_ atelier.APIKeyService = (*APIKeyService)(nil)
)

// AuthService mocks atelier.AuthService.
type AuthService struct {
	LoginFn                 func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error)
	AuthenticateFn          func(ctx context.Context, token string) (*atelier.Principal, error)
	LogoutFn                func(ctx context.Context, token string) error
	ExchangeKeyFn           func(ctx context.Context, accessKey, secretKey string) (*atelier.IssuedToken, error)
	SendMFACodeFn           func(ctx context.Context, stateToken, channel string) (*atelier.MFASent, error)
	VerifyMFAFn             func(ctx context.Context, stateToken, channel, code string) (*atelier.LoginResult, error)
	UpdateExpiredPasswordFn func(ctx context.Context, stateToken, oldPassword, newPassword string) (*atelier.LoginResult, error)
	RefreshSessionFn        func(ctx context.Context, sessionToken string) (*atelier.LoginResult, error)
	TenantTokenFn           func(ctx context.Context, clientID, clientSecret string) (*atelier.IssuedToken, error)
	IssueSSOTicketFn        func(ctx context.Context, sessionToken, clientID string) (*atelier.SSOTicket, error)
	VerifySSOTicketFn       func(ctx context.Context, ticket string) (*atelier.UserInfo, error)
}

// Login calls LoginFn.
func (s *AuthService) Login(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
	if s.LoginFn == nil {
		panic("mock: AuthService.Login called but LoginFn is not set")
	}
	return s.LoginFn(ctx, req)
}

// Authenticate calls AuthenticateFn.
func (s *AuthService) Authenticate(ctx context.Context, token string) (*atelier.Principal, error) {
	if s.AuthenticateFn == nil {
		panic("mock: AuthService.Authenticate called but AuthenticateFn is not set")
	}
	return s.AuthenticateFn(ctx, token)
}

// Logout calls LogoutFn.
func (s *AuthService) Logout(ctx context.Context, token string) error {
	if s.LogoutFn == nil {
		panic("mock: AuthService.Logout called but LogoutFn is not set")
	}
	return s.LogoutFn(ctx, token)
}

// ExchangeKey calls ExchangeKeyFn.
func (s *AuthService) ExchangeKey(ctx context.Context, accessKey, secretKey string) (*atelier.IssuedToken, error) {
	if s.ExchangeKeyFn == nil {
		panic("mock: AuthService.ExchangeKey called but ExchangeKeyFn is not set")
	}
	return s.ExchangeKeyFn(ctx, accessKey, secretKey)
}

// SendMFACode calls SendMFACodeFn.
func (s *AuthService) SendMFACode(ctx context.Context, stateToken, channel string) (*atelier.MFASent, error) {
	if s.SendMFACodeFn == nil {
		panic("mock: AuthService.SendMFACode called but SendMFACodeFn is not set")
	}
	return s.SendMFACodeFn(ctx, stateToken, channel)
}

// VerifyMFA calls VerifyMFAFn.
func (s *AuthService) VerifyMFA(ctx context.Context, stateToken, channel, code string) (*atelier.LoginResult, error) {
	if s.VerifyMFAFn == nil {
		panic("mock: AuthService.VerifyMFA called but VerifyMFAFn is not set")
	}
	return s.VerifyMFAFn(ctx, stateToken, channel, code)
}

// UpdateExpiredPassword calls UpdateExpiredPasswordFn.
func (s *AuthService) UpdateExpiredPassword(ctx context.Context, stateToken, oldPassword, newPassword string) (*atelier.LoginResult, error) {
	if s.UpdateExpiredPasswordFn == nil {
		panic("mock: AuthService.UpdateExpiredPassword called but UpdateExpiredPasswordFn is not set")
	}
	return s.UpdateExpiredPasswordFn(ctx, stateToken, oldPassword, newPassword)
}

// RefreshSession calls RefreshSessionFn.
func (s *AuthService) RefreshSession(ctx context.Context, sessionToken string) (*atelier.LoginResult, error) {
	if s.RefreshSessionFn == nil {
		panic("mock: AuthService.RefreshSession called but RefreshSessionFn is not set")
	}
	return s.RefreshSessionFn(ctx, sessionToken)
}

// TenantToken calls TenantTokenFn.
func (s *AuthService) TenantToken(ctx context.Context, clientID, clientSecret string) (*atelier.IssuedToken, error) {
	if s.TenantTokenFn == nil {
		panic("mock: AuthService.TenantToken called but TenantTokenFn is not set")
	}
	return s.TenantTokenFn(ctx, clientID, clientSecret)
}

// IssueSSOTicket calls IssueSSOTicketFn.
func (s *AuthService) IssueSSOTicket(ctx context.Context, sessionToken, clientID string) (*atelier.SSOTicket, error) {
	if s.IssueSSOTicketFn == nil {
		panic("mock: AuthService.IssueSSOTicket called but IssueSSOTicketFn is not set")
	}
	return s.IssueSSOTicketFn(ctx, sessionToken, clientID)
}

// VerifySSOTicket calls VerifySSOTicketFn.
func (s *AuthService) VerifySSOTicket(ctx context.Context, ticket string) (*atelier.UserInfo, error) {
	if s.VerifySSOTicketFn == nil {
		panic("mock: AuthService.VerifySSOTicket called but VerifySSOTicketFn is not set")
	}
	return s.VerifySSOTicketFn(ctx, ticket)
}

// APIKeyService mocks atelier.APIKeyService.
type APIKeyService struct {
	CreateAPIKeyFn func(ctx context.Context, description string) (*atelier.NewAPIKey, error)
	ListAPIKeysFn  func(ctx context.Context) ([]*atelier.APIKey, error)
	DeleteAPIKeyFn func(ctx context.Context, accessKey string) error
}

// CreateAPIKey calls CreateAPIKeyFn.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, description string) (*atelier.NewAPIKey, error) {
	if s.CreateAPIKeyFn == nil {
		panic("mock: APIKeyService.CreateAPIKey called but CreateAPIKeyFn is not set")
	}
	return s.CreateAPIKeyFn(ctx, description)
}

// ListAPIKeys calls ListAPIKeysFn.
func (s *APIKeyService) ListAPIKeys(ctx context.Context) ([]*atelier.APIKey, error) {
	if s.ListAPIKeysFn == nil {
		panic("mock: APIKeyService.ListAPIKeys called but ListAPIKeysFn is not set")
	}
	return s.ListAPIKeysFn(ctx)
}

// DeleteAPIKey calls DeleteAPIKeyFn.
func (s *APIKeyService) DeleteAPIKey(ctx context.Context, accessKey string) error {
	if s.DeleteAPIKeyFn == nil {
		panic("mock: APIKeyService.DeleteAPIKey called but DeleteAPIKeyFn is not set")
	}
	return s.DeleteAPIKeyFn(ctx, accessKey)
}
