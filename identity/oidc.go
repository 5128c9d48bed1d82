package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// This file is the OpenID Connect provider: the authorization-code flow
// with PKCE (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1), refresh tokens with
// rotation and client credentials. Codes and refresh tokens are stored
// hashed like every token and redeemed with store.ConsumeToken, so each
// works once even across servers.
//
// Reuse detection: redeeming a code or refresh token leaves a marker token
// (kind of the redeemed token, Purpose purposeRedeemed, hash derived from the
// redeemed token's hash) that names the access and refresh tokens issued in
// exchange. Presenting the code or refresh token again finds the marker and
// revokes what it names, following the chain of rotated refresh tokens
// (RFC 6749 §4.1.2, RFC 9700 §4.14.2). A replay that races the first
// redemption, before the marker is written, is refused but revokes nothing.

// purposeRedeemed marks the record left behind by a redeemed code or
// refresh token.
const purposeRedeemed = "redeemed"

// maxRevokeChain bounds how many rotated refresh tokens a detected replay
// follows.
const maxRevokeChain = 1000

// PKCE verifier bounds (RFC 7636 §4.1).
const (
	minVerifierLen = 43
	maxVerifierLen = 128
)

// codeData is what an authorization code is bound to.
type codeData struct {
	RedirectURI   string `json:"redirect_uri"`
	CodeChallenge string `json:"code_challenge,omitempty"`
	Nonce         string `json:"nonce,omitempty"`
	Scope         string `json:"scope"`
	AuthTime      int64  `json:"auth_time"`
}

// refreshData is what a refresh token carries from the original login.
type refreshData struct {
	Scope    string `json:"scope"`
	AuthTime int64  `json:"auth_time"`
}

// redeemedData names the tokens issued in exchange for a redeemed code or
// refresh token, by hash.
type redeemedData struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh"`
}

// redeemedHash is the hash of the marker left by redeeming the token with
// hash h.
func redeemedHash(h string) string { return hashToken("redeemed:" + h) }

// Issuer returns the issuer URL, without a trailing slash.
func (s *Service) Issuer() string { return s.opts.Issuer }

// CheckAuthorize validates an authorization request before anyone logs in.
// Errors about the client or the redirect URI (CodeInvalidClient,
// CodeOAuthRedirect) are for the user's eyes only; the others
// (CodeOAuthResponseType, CodeOAuthScope, CodeOAuthInvalidRequest) may be
// sent back to the client's redirect URI. The redirect URI must equal one
// of the app's registered URIs byte for byte; a public app (no secret) must
// send a PKCE code_challenge with method S256.
func (s *Service) CheckAuthorize(ctx context.Context, req atelier.AuthorizeRequest) (*atelier.App, error) {
	ev := atelier.AuditEvent{Action: "oauth.authorize", Actor: req.ClientID, ClientID: req.ClientID}
	if req.ClientID == "" {
		return nil, atelier.CodeInvalidClient.Errorf("The client_id parameter is required.").WithField("client_id")
	}
	app, err := s.st.GetAppByClientID(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		s.audit(ctx, failed(ev, "unknown_client"))
		return nil, atelier.CodeInvalidClient.Errorf("The client_id names no registered app.").WithField("client_id")
	} else if err != nil {
		return nil, fmt.Errorf("identity: authorize: get app: %w", err)
	}
	ev.TenantID = app.TenantID
	if req.RedirectURI == "" || !slices.Contains(app.RedirectURIs, req.RedirectURI) || strings.Contains(req.RedirectURI, "#") {
		s.audit(ctx, failed(ev, "bad_redirect_uri"))
		return nil, atelier.CodeOAuthRedirect.Errorf("The redirect_uri is not registered for this client; it must match a registered URI exactly.").WithField("redirect_uri")
	}
	if err := checkAuthorizeParams(app, req); err != nil {
		s.audit(ctx, failed(ev, "bad_request"))
		return nil, err
	}
	return app, nil
}

// checkAuthorizeParams checks what may be reported to the client once the
// client and redirect URI are known to be right.
func checkAuthorizeParams(app *atelier.App, req atelier.AuthorizeRequest) error {
	switch {
	case req.ResponseType != "code":
		return atelier.CodeOAuthResponseType.Errorf("The response_type must be code.").WithField("response_type")
	case !slices.Contains(strings.Fields(req.Scope), "openid"):
		return atelier.CodeOAuthScope.Errorf("The scope must include openid.").WithField("scope")
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return atelier.CodeOAuthInvalidRequest.Errorf("The code_challenge_method is set but code_challenge is missing.").WithField("code_challenge")
	case req.CodeChallenge == "" && app.SecretHash == "":
		return atelier.CodeOAuthInvalidRequest.Errorf("A public client must use PKCE: send code_challenge with code_challenge_method S256.").WithField("code_challenge")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return atelier.CodeOAuthInvalidRequest.Errorf("The code_challenge_method must be S256.").WithField("code_challenge_method")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return atelier.CodeOAuthInvalidRequest.Errorf("The code_challenge must be the 43-character base64url SHA-256 of the verifier.").WithField("code_challenge")
	case len(req.Nonce) > 512 || len(req.State) > 2048:
		return atelier.CodeOAuthInvalidRequest.Errorf("The nonce or state is too long.").WithField("nonce")
	}
	return nil
}

// validChallenge reports whether c is an S256 challenge: 32 bytes in
// unpadded base64url.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier reports whether v is a PKCE code verifier: 43 to 128
// unreserved characters (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < minVerifierLen || len(v) > maxVerifierLen {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// s256 is the S256 challenge of a verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// IssueCode issues an authorization code for the user of a live session
// token, after CheckAuthorize passed. The user must be allowed to use the
// app, by the same rule as a login; otherwise CodeForbidden (the caller
// answers the client with access_denied). An unknown or expired session
// gives CodeInvalidToken.
func (s *Service) IssueCode(ctx context.Context, req atelier.AuthorizeRequest, sessionToken string) (string, error) {
	app, err := s.CheckAuthorize(ctx, req)
	if err != nil {
		return "", err
	}
	ev := atelier.AuditEvent{Action: "oauth.code", ClientID: app.ClientID, TenantID: app.TenantID}
	p, err := s.Authenticate(ctx, sessionToken)
	if err != nil || p.UserID == "" {
		return "", atelier.CodeInvalidToken.Errorf("The session is unknown, revoked or expired; log in again.")
	}
	session, err := s.st.GetToken(ctx, hashToken(sessionToken))
	if err != nil {
		return "", storeError("issue code: get session", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	u, err := s.st.GetUser(ctx, p.UserID)
	if err != nil {
		return "", storeError("issue code: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	ev.ActorID, ev.Actor, ev.TenantID = u.ID, u.Email, u.TenantID
	if denied, err := s.accessDenied(ctx, app, u); err != nil {
		return "", err
	} else if denied != "" {
		s.audit(ctx, failed(ev, denied))
		return "", atelier.CodeForbidden.Errorf("The user may not use this app.")
	}
	data, err := json.Marshal(codeData{
		RedirectURI:   req.RedirectURI,
		CodeChallenge: req.CodeChallenge,
		Nonce:         req.Nonce,
		Scope:         req.Scope,
		AuthTime:      session.CreatedAt.Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("identity: issue code: %w", err)
	}
	code := atelier.NewSecret(tokenBytes)
	now := s.now()
	t := &atelier.Token{
		Hash:      hashToken(code),
		Kind:      atelier.TokenCode,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  app.ClientID,
		Data:      string(data),
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.CodeTTL),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("identity: issue code: %w", err)
	}
	s.audit(ctx, ev)
	return code, nil
}

// Token serves the token endpoint: grant types authorization_code,
// refresh_token and client_credentials. Confidential apps authenticate with
// their secret; public apps send only client_id and rely on PKCE. A wrong
// or missing client authentication gives CodeInvalidClient; a wrong, used
// or expired code, refresh token or verifier CodeOAuthInvalidGrant.
func (s *Service) Token(ctx context.Context, req atelier.TokenRequest) (*atelier.TokenResponse, error) {
	ev := atelier.AuditEvent{Action: "oauth.token", Actor: req.ClientID, ClientID: req.ClientID, Target: req.GrantType}
	var (
		res *atelier.TokenResponse
		err error
	)
	switch req.GrantType {
	case "authorization_code":
		res, err = s.codeGrant(ctx, req, &ev)
	case "refresh_token":
		res, err = s.refreshGrant(ctx, req, &ev)
	case "client_credentials":
		res, err = s.clientGrant(ctx, req, &ev)
	case "":
		err = atelier.CodeOAuthInvalidRequest.Errorf("The grant_type parameter is required.").WithField("grant_type")
	default:
		ev.Target = "unsupported"
		err = atelier.CodeOAuthGrantType.Errorf("The grant_type must be authorization_code, refresh_token or client_credentials.").WithField("grant_type")
	}
	var ae *atelier.Error
	switch {
	case err == nil:
		s.audit(ctx, ev)
	case errors.As(err, &ae):
		s.audit(ctx, failed(ev, atelier.OAuthError(ae.Code)))
	}
	return res, err
}

// tokenClient authenticates the client of a token request: by secret for
// a confidential app, by client_id alone for a public one (which then
// needs PKCE).
func (s *Service) tokenClient(ctx context.Context, req atelier.TokenRequest) (*atelier.App, error) {
	if req.ClientID == "" {
		return nil, atelier.CodeInvalidClient.Errorf("Client authentication is required: send client_id (and client_secret for a confidential client).").WithField("client_id")
	}
	if req.ClientSecret != "" {
		return s.authenticateClient(ctx, req.ClientID, req.ClientSecret)
	}
	app, err := s.st.GetAppByClientID(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, atelier.CodeInvalidClient.Errorf("The client id or client secret is wrong.")
	} else if err != nil {
		return nil, fmt.Errorf("identity: token: get app: %w", err)
	}
	if app.SecretHash != "" {
		return nil, atelier.CodeInvalidClient.Errorf("This client is confidential: authenticate with its client secret.")
	}
	return app, nil
}

// codeGrant redeems an authorization code.
func (s *Service) codeGrant(ctx context.Context, req atelier.TokenRequest, ev *atelier.AuditEvent) (*atelier.TokenResponse, error) {
	app, err := s.tokenClient(ctx, req)
	if err != nil {
		return nil, err
	}
	ev.TenantID = app.TenantID
	if req.Code == "" {
		return nil, atelier.CodeOAuthInvalidRequest.Errorf("The code parameter is required.").WithField("code")
	}
	bad := atelier.CodeOAuthInvalidGrant.Errorf("The authorization code is invalid, used or expired, or was issued for another client or redirect_uri.").WithField("code")
	hash := hashToken(req.Code)
	t, err := s.redeem(ctx, hash, atelier.TokenCode)
	if errors.Is(err, store.ErrNotFound) {
		if n := s.revokeRedeemed(ctx, hash); n > 0 {
			s.log.WarnContext(ctx, "authorization code replayed; revoked the tokens issued for it", "client_id", app.ClientID, "revoked", n)
			s.audit(ctx, atelier.AuditEvent{Action: "oauth.replay", Actor: app.ClientID, TenantID: app.TenantID, ClientID: app.ClientID, Target: "authorization_code", Outcome: atelier.AuditFailure, Reason: "code_reused"})
		}
		return nil, bad
	} else if err != nil {
		return nil, fmt.Errorf("identity: redeem code: %w", err)
	}
	// The code is used up now, right or wrong: a wrong verifier cannot be
	// retried against it.
	var data codeData
	if t.Kind != atelier.TokenCode || t.Purpose != "" || json.Unmarshal([]byte(t.Data), &data) != nil {
		return nil, bad
	}
	ev.ActorID, ev.TenantID = t.UserID, t.TenantID
	switch {
	case !s.now().Before(t.ExpiresAt):
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The authorization code has expired.").WithField("code")
	case t.ClientID != app.ClientID, req.RedirectURI != data.RedirectURI:
		return nil, bad
	case data.CodeChallenge == "" && req.CodeVerifier != "":
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("A code_verifier was sent but the authorization request had no code_challenge.").WithField("code_verifier")
	case data.CodeChallenge != "" && req.CodeVerifier == "":
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The code_verifier is required (PKCE).").WithField("code_verifier")
	case data.CodeChallenge != "" && (!validVerifier(req.CodeVerifier) ||
		subtle.ConstantTimeCompare([]byte(s256(req.CodeVerifier)), []byte(data.CodeChallenge)) != 1):
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The code_verifier does not match the code_challenge.").WithField("code_verifier")
	}
	u, err := s.grantUser(ctx, app, t.UserID)
	if err != nil {
		return nil, err
	}
	ev.Actor = u.Email
	return s.issueGrant(ctx, app, u, hash, t.Kind, data.Scope, data.Nonce, data.AuthTime)
}

// refreshGrant trades a refresh token for new tokens; the refresh token is
// replaced by a new one (rotation).
func (s *Service) refreshGrant(ctx context.Context, req atelier.TokenRequest, ev *atelier.AuditEvent) (*atelier.TokenResponse, error) {
	app, err := s.tokenClient(ctx, req)
	if err != nil {
		return nil, err
	}
	ev.TenantID = app.TenantID
	if req.RefreshToken == "" {
		return nil, atelier.CodeOAuthInvalidRequest.Errorf("The refresh_token parameter is required.").WithField("refresh_token")
	}
	bad := atelier.CodeOAuthInvalidGrant.Errorf("The refresh token is invalid, used, expired or was issued to another client.").WithField("refresh_token")
	hash := hashToken(req.RefreshToken)
	t, err := s.redeem(ctx, hash, atelier.TokenRefresh)
	if errors.Is(err, store.ErrNotFound) {
		if n := s.revokeRedeemed(ctx, hash); n > 0 {
			s.log.WarnContext(ctx, "refresh token replayed; revoked the tokens issued after it", "client_id", app.ClientID, "revoked", n)
			s.audit(ctx, atelier.AuditEvent{Action: "oauth.replay", Actor: app.ClientID, TenantID: app.TenantID, ClientID: app.ClientID, Target: "refresh_token", Outcome: atelier.AuditFailure, Reason: "refresh_token_reused"})
		}
		return nil, bad
	} else if err != nil {
		return nil, fmt.Errorf("identity: redeem refresh token: %w", err)
	}
	var data refreshData
	if t.Kind != atelier.TokenRefresh || t.Purpose != "" || json.Unmarshal([]byte(t.Data), &data) != nil {
		return nil, bad
	}
	ev.ActorID, ev.TenantID = t.UserID, t.TenantID
	if !s.now().Before(t.ExpiresAt) || t.ClientID != app.ClientID {
		return nil, bad
	}
	u, err := s.grantUser(ctx, app, t.UserID)
	if err != nil {
		return nil, err
	}
	ev.Actor = u.Email
	return s.issueGrant(ctx, app, u, hash, t.Kind, data.Scope, "", data.AuthTime)
}

// redeem uses up the token with hash if it is a live-or-expired token of
// kind (not a marker); any other token, say a session token sent as a
// code, is left alone and reported as store.ErrNotFound.
func (s *Service) redeem(ctx context.Context, hash, kind string) (*atelier.Token, error) {
	return s.consumeIf(ctx, hash, func(t *atelier.Token) bool { return t.Kind == kind && t.Purpose == "" })
}

// grantUser returns the user a code or refresh token was issued for, if
// they may still use the app.
func (s *Service) grantUser(ctx context.Context, app *atelier.App, userID string) (*atelier.User, error) {
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The user of this grant no longer exists.")
	} else if err != nil {
		return nil, fmt.Errorf("identity: token: get user: %w", err)
	}
	if denied, err := s.accessDenied(ctx, app, u); err != nil {
		return nil, err
	} else if denied != "" {
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The user may no longer use this app.")
	}
	return u, nil
}

// issueGrant issues the access token (a session token, so it is also a
// /v1 bearer), a refresh token and an id_token, and leaves the marker that
// lets a replay of the redeemed token (hash, of kind) revoke them.
func (s *Service) issueGrant(ctx context.Context, app *atelier.App, u *atelier.User, redeemed, kind, scope, nonce string, authTime int64) (*atelier.TokenResponse, error) {
	access, at, err := s.issueToken(ctx, atelier.TokenSession, u, app.ClientID, "")
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(refreshData{Scope: scope, AuthTime: authTime})
	refresh := atelier.NewSecret(tokenBytes)
	now := s.now()
	rt := &atelier.Token{
		Hash:      hashToken(refresh),
		Kind:      atelier.TokenRefresh,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  app.ClientID,
		Data:      string(data),
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.RefreshTTL),
	}
	if err := s.st.CreateToken(ctx, rt); err != nil {
		return nil, fmt.Errorf("identity: issue refresh token: %w", err)
	}
	mark, _ := json.Marshal(redeemedData{Access: at.Hash, Refresh: rt.Hash})
	if err := s.st.CreateToken(ctx, &atelier.Token{
		Hash:      redeemedHash(redeemed),
		Kind:      kind,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  app.ClientID,
		Purpose:   purposeRedeemed,
		Data:      string(mark),
		CreatedAt: now,
		ExpiresAt: rt.ExpiresAt, // nothing it names outlives this
	}); err != nil {
		return nil, fmt.Errorf("identity: record redeemed token: %w", err)
	}
	var auth time.Time
	if authTime > 0 {
		auth = time.Unix(authTime, 0)
	}
	idToken, err := s.signIDToken(ctx, u, app, nonce, auth)
	if err != nil {
		return nil, err
	}
	return &atelier.TokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.ttl.Seconds()),
		RefreshToken: refresh,
		IDToken:      idToken,
		Scope:        scope,
	}, nil
}

// revokeRedeemed revokes the tokens issued for an already redeemed code or
// refresh token (by hash), following refresh rotations, and returns how
// many markers it followed.
func (s *Service) revokeRedeemed(ctx context.Context, hash string) int {
	n := 0
	for ; n < maxRevokeChain; n++ {
		mh := redeemedHash(hash)
		m, err := s.st.ConsumeToken(ctx, mh)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.log.ErrorContext(ctx, "revoke replayed grant", "err", err)
			}
			break
		}
		var data redeemedData
		if m.Purpose != purposeRedeemed || json.Unmarshal([]byte(m.Data), &data) != nil {
			break
		}
		for _, h := range []string{data.Access, data.Refresh} {
			if err := s.st.DeleteToken(ctx, h); err != nil {
				s.log.ErrorContext(ctx, "revoke replayed grant", "err", err)
			}
		}
		hash = data.Refresh
	}
	return n
}

// clientGrant is the client-credentials grant: a confidential app gets a
// token that acts for the app itself in its tenant (role app).
func (s *Service) clientGrant(ctx context.Context, req atelier.TokenRequest, ev *atelier.AuditEvent) (*atelier.TokenResponse, error) {
	if req.ClientSecret == "" {
		app, err := s.tokenClient(ctx, req)
		if err != nil {
			return nil, err
		}
		ev.TenantID = app.TenantID
		return nil, atelier.CodeOAuthUnauthorized.Errorf("A public client may not use the client_credentials grant.").WithField("grant_type")
	}
	tok, err := s.TenantToken(ctx, req.ClientID, req.ClientSecret)
	if err != nil {
		return nil, err
	}
	ev.TenantID = tok.TenantID
	return &atelier.TokenResponse{AccessToken: tok.Token, TokenType: "Bearer", ExpiresIn: tok.ExpiresIn}, nil
}

// UserInfo returns the claims of an access token's user. Tokens that are
// not a user's bearer token (client credentials, codes, refresh tokens)
// give CodeInvalidToken.
func (s *Service) UserInfo(ctx context.Context, accessToken string) (*atelier.UserInfo, error) {
	p, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	if p.UserID == "" {
		return nil, atelier.CodeInvalidToken.Errorf("This token acts for an app, not a user.")
	}
	u, err := s.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, storeError("userinfo: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	return userInfo(u), nil
}
