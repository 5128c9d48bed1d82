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
	LoginFn        func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error)
	AuthenticateFn func(ctx context.Context, token string) (*atelier.Principal, error)
	LogoutFn       func(ctx context.Context, token string) error
	ExchangeKeyFn  func(ctx context.Context, accessKey, secretKey string) (*atelier.IssuedToken, error)
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
