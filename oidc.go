package atelier

import "context"

// AuthorizeRequest is an OAuth 2.0 authorization request (RFC 6749 §4.1.1
// with PKCE, RFC 7636, and OIDC's nonce).
type AuthorizeRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string // "code"
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string // "S256"
}

// TokenRequest is a request to the token endpoint.
type TokenRequest struct {
	GrantType    string // authorization_code, refresh_token, client_credentials
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	ClientID     string
	ClientSecret string
	Scope        string
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1, OIDC §3.1.3.3).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// OIDCProvider is the OpenID Connect provider. The issuer is the server's
// public URL. Implementations are safe for concurrent use.
type OIDCProvider interface {
	// Issuer returns the issuer URL (no trailing slash).
	Issuer() string
	// JWKS returns the JSON Web Key Set of the current and previous signing
	// keys.
	JWKS(ctx context.Context) ([]byte, error)
	// CheckAuthorize validates a request before anyone logs in. Errors about
	// the client or the redirect URI (CodeInvalidClient, CodeOAuthRedirect)
	// must be shown to the user, never redirected; others are redirected to
	// the client as OAuth errors.
	CheckAuthorize(ctx context.Context, req AuthorizeRequest) (*App, error)
	// IssueCode issues an authorization code for the user of a valid session
	// token, after CheckAuthorize passed.
	IssueCode(ctx context.Context, req AuthorizeRequest, sessionToken string) (code string, err error)
	// Token serves the token endpoint.
	Token(ctx context.Context, req TokenRequest) (*TokenResponse, error)
	// UserInfo returns the claims of an access token's user.
	UserInfo(ctx context.Context, accessToken string) (*UserInfo, error)
}

// OAuth 2.0 error codes. The token endpoint renders them as RFC 6749 §5.2
// errors; OAuthError names the "error" value of each.
var (
	CodeOAuthInvalidRequest = NewCode("ATL.OAUTH.0001", Invalid, "The OAuth request is missing a parameter or has a bad one; the message names it.")
	CodeOAuthInvalidGrant   = NewCode("ATL.OAUTH.0002", Invalid, "The authorization code, refresh token or PKCE verifier is wrong, used or expired.")
	CodeOAuthGrantType      = NewCode("ATL.OAUTH.0003", Invalid, "The grant_type is not supported.")
	CodeOAuthResponseType   = NewCode("ATL.OAUTH.0004", Invalid, "The response_type is not supported; use code.")
	CodeOAuthRedirect       = NewCode("ATL.OAUTH.0005", Invalid, "The redirect_uri is not registered for this client (URIs must match exactly).")
	CodeOAuthScope          = NewCode("ATL.OAUTH.0006", Invalid, "The scope is invalid; it must include openid.")
	CodeOAuthUnauthorized   = NewCode("ATL.OAUTH.0007", PermissionDenied, "The client may not use this grant type.")
)

// OAuthError returns the RFC 6749 "error" value for an error code.
func OAuthError(code string) string {
	switch code {
	case CodeOAuthInvalidGrant.ID:
		return "invalid_grant"
	case CodeOAuthGrantType.ID:
		return "unsupported_grant_type"
	case CodeOAuthResponseType.ID:
		return "unsupported_response_type"
	case CodeOAuthScope.ID:
		return "invalid_scope"
	case CodeOAuthUnauthorized.ID:
		return "unauthorized_client"
	case CodeInvalidClient.ID, CodeUnknownClient.ID:
		return "invalid_client"
	case CodeOAuthInvalidRequest.ID, CodeInvalidParam.ID, CodeInvalidJSON.ID, CodeOAuthRedirect.ID:
		return "invalid_request"
	case CodeInvalidToken.ID, CodeNoCredentials.ID:
		return "invalid_token"
	}
	return "server_error"
}
