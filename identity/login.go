package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// tokenBytes is the entropy of session and key tokens: 256 bits, 64 hex
// characters.
const tokenBytes = 32

// Login checks a password login through a registered app (CONTRACT §4).
//
// The account is found by email (in every tenant unless req.TenantID is set)
// or by user name (in req.TenantID, else the default tenant). An unknown
// account and a wrong password give the same CodeBadCredentials error after
// the same amount of work. Right credentials of a disabled user give status
// ACCESS_DENIED without tokens.
func (s *Service) Login(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
	app, err := s.st.GetAppByClientID(ctx, req.ClientID)
	if err != nil {
		return nil, storeError("login: get app", err, atelier.CodeUnknownClient, atelier.Code{})
	}
	u, err := s.findLoginUser(ctx, req)
	if err != nil {
		return nil, err
	}
	log := s.log.With("client_id", app.ClientID, "ip", req.IP)
	if u == nil {
		// Same work as a wrong password, so that timing does not tell
		// whether the account exists.
		_, _ = verifyPassword(s.dummyHash, req.Password)
		log.InfoContext(ctx, "login failed: unknown account", "email", normalizeEmail(req.Email), "user_name", req.UserName, "tenant_id", req.TenantID)
		return nil, s.loginFailed(ctx, nil)
	}
	log = log.With("user_id", u.ID, "tenant_id", u.TenantID)
	// Lockout check goes here (identity issue): a locked account answers
	// CodeAccountLocked before the password is even verified.
	ok, err := verifyPassword(u.PasswordHash, req.Password)
	if err != nil {
		return nil, fmt.Errorf("identity: login: user %s has an unusable password hash: %w", u.ID, err)
	}
	if !ok {
		log.InfoContext(ctx, "login failed: wrong password")
		return nil, s.loginFailed(ctx, u)
	}
	if u.Status != atelier.UserActive || (!app.BuiltIn && app.TenantID != u.TenantID) {
		log.InfoContext(ctx, "login denied", "status", u.Status)
		return &atelier.LoginResult{Status: atelier.LoginAccessDenied}, nil
	}
	// Password expiry (PASSWORD_WARN / PASSWORD_EXPIRED) and MFA (MFA_AUTH
	// with a state token) are decided here by the identity issue.
	tok, t, err := s.issueToken(ctx, atelier.TokenSession, u, app.ClientID, "")
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "login")
	return &atelier.LoginResult{
		Status:       atelier.LoginSuccess,
		SessionToken: tok,
		IDToken:      "", // RS256 id_token comes with the identity issue
		Expire:       int64(s.ttl.Seconds()),
		Data:         map[string]any{"tenant_id": t.TenantID, "user_id": t.UserID},
	}, nil
}

// findLoginUser returns the user a login names, nil when there is none, or
// CodeAmbiguousTenant when an email without tenant matches several users.
func (s *Service) findLoginUser(ctx context.Context, req atelier.LoginRequest) (*atelier.User, error) {
	email := normalizeEmail(req.Email)
	name := strings.TrimSpace(req.UserName)
	tenantID := strings.TrimSpace(req.TenantID)
	var (
		u   *atelier.User
		err error
	)
	switch {
	case email != "" && tenantID != "":
		u, err = s.st.GetUserByEmail(ctx, tenantID, email)
	case email != "":
		users, ferr := s.st.FindUsersByEmail(ctx, email)
		switch {
		case ferr != nil:
			err = ferr
		case len(users) == 1:
			u = users[0]
		case len(users) > 1:
			return nil, atelier.CodeAmbiguousTenant.Errorf("The email %s exists in several tenants; send X-tenant-id.", email)
		}
	case name != "":
		if tenantID == "" {
			t, terr := s.st.GetTenantByName(ctx, atelier.DefaultTenant)
			if errors.Is(terr, store.ErrNotFound) {
				return nil, nil
			} else if terr != nil {
				return nil, fmt.Errorf("identity: login: get default tenant: %w", terr)
			}
			tenantID = t.ID
		}
		u, err = s.st.GetUserByName(ctx, tenantID, name)
	default:
		return nil, atelier.CodeInvalidParam.Errorf("Send an email or a user name.").WithField("email")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("identity: login: find user: %w", err)
	}
	return u, nil
}

// loginFailed records a failed login of u (nil when the account is unknown)
// and returns the error to answer. It is the lockout extension point: the
// identity issue counts failures here, locks the account after N and puts
// the remaining attempts in the message. Its answer must not depend on
// whether u is nil.
func (s *Service) loginFailed(_ context.Context, _ *atelier.User) error {
	return atelier.CodeBadCredentials.Errorf("Wrong email or password.")
}

// Authenticate resolves a bearer token to its principal. An unknown, expired
// or revoked token, or one whose user is gone or disabled, gives
// CodeInvalidToken; an expired token is deleted on the way.
func (s *Service) Authenticate(ctx context.Context, token string) (*atelier.Principal, error) {
	if token == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authentication is required.")
	}
	hash := hashToken(token)
	t, err := s.st.GetToken(ctx, hash)
	if err != nil {
		return nil, storeError("authenticate: get token", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	if !s.clock.Now().Before(t.ExpiresAt) {
		if err := s.st.DeleteToken(ctx, hash); err != nil {
			s.log.WarnContext(ctx, "delete expired token", "user_id", t.UserID, "err", err)
		}
		return nil, atelier.CodeInvalidToken.Errorf("The token has expired; log in again.")
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, storeError("authenticate: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	if u.Status != atelier.UserActive || u.TenantID != t.TenantID {
		return nil, atelier.CodeInvalidToken.Errorf("The token's user is disabled or gone; log in again.")
	}
	return &atelier.Principal{
		UserID:   u.ID,
		TenantID: u.TenantID,
		Email:    u.Email,
		Role:     u.Role,
		ClientID: t.ClientID,
	}, nil
}

// Logout revokes a token. Revoking an unknown or empty token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	if err := s.st.DeleteToken(ctx, hashToken(token)); err != nil {
		return fmt.Errorf("identity: logout: %w", err)
	}
	return nil
}

// ExchangeKey trades an access/secret key pair for a bearer token of kind
// key. A wrong pair gives CodeBadKey after the same work whether or not the
// access key exists.
func (s *Service) ExchangeKey(ctx context.Context, accessKey, secretKey string) (*atelier.IssuedToken, error) {
	badKey := atelier.CodeBadKey.Errorf("The access key or secret key is wrong.")
	k, err := s.st.GetAPIKey(ctx, accessKey)
	if errors.Is(err, store.ErrNotFound) {
		_, _ = verifyPassword(s.dummyHash, secretKey)
		s.log.InfoContext(ctx, "key exchange failed: unknown access key")
		return nil, badKey
	} else if err != nil {
		return nil, fmt.Errorf("identity: exchange key: %w", err)
	}
	ok, err := verifyPassword(k.SecretHash, secretKey)
	if err != nil {
		return nil, fmt.Errorf("identity: exchange key: key %s has an unusable hash: %w", k.AccessKey, err)
	}
	if !ok {
		s.log.InfoContext(ctx, "key exchange failed: wrong secret", "access_key", k.AccessKey, "user_id", k.UserID)
		return nil, badKey
	}
	u, err := s.st.GetUser(ctx, k.UserID)
	if err != nil {
		return nil, storeError("exchange key: get user", err, atelier.CodeBadKey, atelier.Code{})
	}
	if u.Status != atelier.UserActive {
		return nil, atelier.CodeForbidden.Errorf("The user of this key is disabled.")
	}
	tok, t, err := s.issueToken(ctx, atelier.TokenKey, u, "", k.AccessKey) // no app: the key is the client
	if err != nil {
		return nil, err
	}
	// DeleteAPIKey removes the key, then its tokens. A token created while
	// that runs could escape the second step, so check that the key is still
	// there now that the token exists.
	if _, err := s.st.GetAPIKey(ctx, k.AccessKey); err != nil {
		if derr := s.st.DeleteToken(ctx, t.Hash); derr != nil {
			return nil, fmt.Errorf("identity: exchange key: revoke token of deleted key: %w", derr)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, badKey
		}
		return nil, fmt.Errorf("identity: exchange key: recheck key: %w", err)
	}
	s.log.InfoContext(ctx, "key exchanged", "access_key", k.AccessKey, "user_id", u.ID, "tenant_id", u.TenantID)
	return &atelier.IssuedToken{
		Token:     tok,
		ExpiresIn: int64(s.ttl.Seconds()),
		ExpiresAt: t.ExpiresAt,
		TenantID:  t.TenantID,
		UserID:    t.UserID,
	}, nil
}

// DeleteExpiredTokens removes the tokens that have expired and returns how
// many it removed. The caller runs it periodically.
func (s *Service) DeleteExpiredTokens(ctx context.Context) (int, error) {
	n, err := s.st.DeleteExpiredTokens(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("identity: delete expired tokens: %w", err)
	}
	if n > 0 {
		s.log.DebugContext(ctx, "deleted expired tokens", "count", n)
	}
	return n, nil
}

// issueToken creates and stores a new token of kind for u and returns the
// plaintext token, shown only to the caller, with its record.
func (s *Service) issueToken(ctx context.Context, kind string, u *atelier.User, clientID, accessKey string) (string, *atelier.Token, error) {
	tok := atelier.NewSecret(tokenBytes)
	now := s.now()
	t := &atelier.Token{
		Hash:      hashToken(tok),
		Kind:      kind,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  clientID,
		AccessKey: accessKey,
		CreatedAt: now,
		ExpiresAt: now.Add(s.ttl),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("identity: issue %s token: %w", kind, err)
	}
	return tok, t, nil
}

// hashToken returns the SHA-256 of a token in hex, the form the store keeps.
// Tokens are 256-bit random, so a fast unsalted hash is enough.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
