package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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
// the same amount of work, with the same count of remaining attempts, and
// lock the same way. Right credentials lead to the next step: ACCESS_DENIED
// for a disabled user or one who may not use the app, MFA_AUTH when a second
// factor is due, PASSWORD_EXPIRED when the password must change, otherwise
// SUCCESS or PASSWORD_WARN with tokens.
func (s *Service) Login(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
	c := atelier.ClientFromContext(ctx)
	account := loginAccount(req)
	if utf8.RuneCountInString(account) > maxNameLen {
		// No account has a longer name; refused before the rate limits
		// key on it or the audit log keeps it.
		field := "email"
		if req.Email == "" {
			field = "user_name"
		}
		return nil, atelier.CodeInvalidParam.Errorf("The field %s must be at most %d characters.", field, maxNameLen).WithField(field)
	}
	ev := atelier.AuditEvent{Action: "login", Actor: account, ClientID: req.ClientID, TenantID: strings.TrimSpace(req.TenantID)}
	if ok, after := s.ipLimit.Allow(c.IP); !ok {
		s.audit(ctx, failed(ev, "rate_limited_ip"))
		return nil, rateLimited(after)
	}
	if s.hashes.saturated() {
		s.audit(ctx, failed(ev, "server_busy"))
		return nil, errHashBusy()
	}
	app, err := s.st.GetAppByClientID(ctx, req.ClientID)
	if err != nil {
		s.audit(ctx, failed(ev, "unknown_client"))
		return nil, storeError("login: get app", err, atelier.CodeUnknownClient, atelier.Code{})
	}
	if app.ISV && ev.TenantID == "" {
		return nil, atelier.CodeMissingHeader.Errorf("missing header X-tenant-id (required by ISV apps)").WithField("X-tenant-id")
	}
	if !app.ISV && !app.BuiltIn && ev.TenantID == "" {
		req.TenantID = app.TenantID // a tenant's own app logs in its own users
	}
	if ok, after := s.userLimit.Allow(strings.ToLower(req.TenantID) + "\x00" + account); !ok {
		s.audit(ctx, failed(ev, "rate_limited_account"))
		return nil, rateLimited(after)
	}
	u, err := s.findLoginUser(ctx, req)
	if err != nil {
		return nil, err
	}
	log := s.log.With("client_id", app.ClientID, "ip", c.IP)
	if u == nil {
		// Same work and the same answers as a wrong password, so that
		// neither timing nor the attempt count tells whether the account
		// exists.
		if err := s.verifyDummy(ctx, req.Password); err != nil {
			s.audit(ctx, failed(ev, "server_busy"))
			return nil, err
		}
		log.InfoContext(ctx, "login failed: unknown account", "tenant_id", req.TenantID)
		s.audit(ctx, failed(ev, "unknown_account"))
		return nil, s.phantomFailed(req.TenantID + "\x00" + account)
	}
	ev.ActorID, ev.TenantID = u.ID, u.TenantID
	log = log.With("user_id", u.ID, "tenant_id", u.TenantID)
	if now := s.now(); now.Before(u.LockedUntil) {
		if err := s.verifyDummy(ctx, req.Password); err != nil {
			s.audit(ctx, failed(ev, "server_busy"))
			return nil, err
		}
		s.audit(ctx, failed(ev, "locked"))
		return nil, lockedError(u.LockedUntil.Sub(now))
	}
	ok, err := s.verify(ctx, u.PasswordHash, req.Password)
	if isHashBusy(err) {
		s.audit(ctx, failed(ev, "server_busy"))
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("identity: login: user %s has an unusable password hash: %w", u.ID, err)
	}
	if !ok {
		log.InfoContext(ctx, "login failed: wrong password")
		return nil, s.loginFailed(ctx, u, ev)
	}
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if u, err = s.updateUser(ctx, u.ID, s.now(), func(u *atelier.User) error {
			u.FailedLogins, u.LockedUntil = 0, time.Time{}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("identity: login: reset failures: %w", err)
		}
	}
	if denied, err := s.accessDenied(ctx, app, u); err != nil {
		return nil, err
	} else if denied != "" {
		log.InfoContext(ctx, "login denied", "reason", denied)
		s.audit(ctx, failed(ev, denied))
		return &atelier.LoginResult{Status: atelier.LoginAccessDenied, Data: map[string]any{}}, nil
	}
	log.InfoContext(ctx, "login: first factor passed")
	res, err := s.nextStep(ctx, u, app, false)
	if err == nil && res.Status != atelier.LoginSuccess && res.Status != atelier.LoginPasswordWarn {
		// The password passed but the login is not complete: "login"
		// is written once it is (nextStep after the next step).
		pw := ev
		pw.Action, pw.Reason = "login.password", strings.ToLower(string(res.Status))
		if res.Status == atelier.LoginMFA {
			pw.Reason = "mfa_required"
		}
		s.audit(ctx, pw)
	}
	return res, err
}

// loginAccount is the account name a login gives, normalised, for rate
// limits and the audit log.
func loginAccount(req atelier.LoginRequest) string {
	if req.Email != "" {
		return normalizeEmail(req.Email)
	}
	return strings.TrimSpace(req.UserName)
}

// truncate returns at most n bytes of s, cut at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// failed returns ev marked as a failure for reason.
func failed(ev atelier.AuditEvent, reason string) atelier.AuditEvent {
	ev.Outcome, ev.Reason = atelier.AuditFailure, reason
	return ev
}

// rateLimited is the 429 answer, with the wait in whole seconds.
func rateLimited(after time.Duration) error {
	secs := max(1, int((after+time.Second-1)/time.Second))
	return atelier.CodeLoginRateLimit.Errorf("Too many login attempts; retry in %d seconds.", secs)
}

// lockedError is the answer for a locked account, in whole minutes.
func lockedError(left time.Duration) error {
	mins := max(1, int((left+time.Minute-1)/time.Minute))
	return atelier.CodeAccountLocked.Errorf("Too many failed logins; the account is locked for %d more minutes.", mins)
}

// accessDenied returns why u may not log in through app ("" when it may).
func (s *Service) accessDenied(ctx context.Context, app *atelier.App, u *atelier.User) (string, error) {
	switch {
	case u.Status != atelier.UserActive:
		return "user_disabled", nil
	case !app.BuiltIn && !app.ISV && app.TenantID != u.TenantID:
		return "app_of_other_tenant", nil
	case app.Access == atelier.AppAccessGranted:
		ok, err := s.st.HasAppGrant(ctx, app.ID, u.ID)
		if err != nil {
			return "", fmt.Errorf("identity: check app grant: %w", err)
		}
		if !ok {
			return "app_not_granted", nil
		}
	}
	return "", nil
}

// State token purposes: the step a login waits for.
const (
	purposeMFA             = "mfa"
	purposePasswordExpired = "password_expired"
)

// nextStep decides what follows a passed factor: MFA_AUTH while a second
// factor is due and not yet given, PASSWORD_EXPIRED when the password must
// change, else the tokens.
func (s *Service) nextStep(ctx context.Context, u *atelier.User, app *atelier.App, mfaDone bool) (*atelier.LoginResult, error) {
	t, err := s.st.GetTenant(ctx, u.TenantID)
	if err != nil {
		return nil, storeError("login: get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	if !mfaDone {
		if methods := s.mfaMethods(t, u); methods != nil {
			tok, err := s.issueState(ctx, u, app, purposeMFA)
			if err != nil {
				return nil, err
			}
			s.audit(ctx, atelier.AuditEvent{Action: "mfa.required", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID})
			return &atelier.LoginResult{Status: atelier.LoginMFA, StateToken: tok, Data: map[string]any{"methods": methods}}, nil
		}
	}
	p := effectivePolicy(t.Settings.PasswordPolicy)
	expiry := passwordExpiry(u, p)
	now := s.now()
	if u.MustChangePassword || (!expiry.IsZero() && !now.Before(expiry)) {
		tok, err := s.issueState(ctx, u, app, purposePasswordExpired)
		if err != nil {
			return nil, err
		}
		s.audit(ctx, atelier.AuditEvent{Action: "password.expired", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID})
		return &atelier.LoginResult{Status: atelier.LoginPasswordExpired, StateToken: tok, Data: map[string]any{}}, nil
	}
	res, err := s.finishLogin(ctx, u, app)
	if err != nil {
		return nil, err
	}
	// The login is complete: its one "login" success row.
	s.audit(ctx, atelier.AuditEvent{Action: "login", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID})
	if !expiry.IsZero() && expiry.Sub(now) <= time.Duration(p.WarnDays)*24*time.Hour {
		res.Status = atelier.LoginPasswordWarn
		res.Data["days_left"] = int((expiry.Sub(now) + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return res, nil
}

// mfaMethods returns the second factors u can use, or nil when none is due.
// A due factor with no usable channel still answers MFA_AUTH with an empty
// list: a login must not skip MFA because, say, the mobile is missing.
func (s *Service) mfaMethods(t *atelier.Tenant, u *atelier.User) []string {
	switch t.Settings.MFA {
	case atelier.MFARequired:
	case atelier.MFAOptional:
		if !u.MFA && !u.TOTPEnabled {
			return nil
		}
	default:
		return nil
	}
	methods := []string{}
	if u.Mobile != "" && s.sender != nil && s.sender.Has("sms") {
		methods = append(methods, "sms")
	}
	if u.Email != "" && s.sender != nil && s.sender.Has("email") {
		methods = append(methods, "email")
	}
	if u.TOTPEnabled {
		methods = append(methods, "totp")
	}
	return methods
}

// issueState issues a state token of purpose for u's login through app.
func (s *Service) issueState(ctx context.Context, u *atelier.User, app *atelier.App, purpose string) (string, error) {
	tok := atelier.NewSecret(tokenBytes)
	now := s.now()
	t := &atelier.Token{
		Hash:      hashToken(tok),
		Kind:      atelier.TokenState,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  app.ClientID,
		Purpose:   purpose,
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.StateTTL),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("identity: issue state token: %w", err)
	}
	return tok, nil
}

// finishLogin issues the session token and id_token of a completed login.
func (s *Service) finishLogin(ctx context.Context, u *atelier.User, app *atelier.App) (*atelier.LoginResult, error) {
	tok, t, err := s.issueToken(ctx, atelier.TokenSession, u, app.ClientID, "")
	if err != nil {
		return nil, err
	}
	idToken, err := s.signIDToken(ctx, u, app, "", t.CreatedAt)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "login", "user_id", u.ID, "tenant_id", u.TenantID, "client_id", app.ClientID)
	s.audit(ctx, atelier.AuditEvent{Action: "token.issue", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID, Target: "session"})
	return &atelier.LoginResult{
		Status:       atelier.LoginSuccess,
		SessionToken: tok,
		IDToken:      idToken,
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

// loginFailed records a wrong password for u: it counts the failure, locks
// the account at the threshold, audits both, and returns the answer with
// the remaining attempts. phantomFailed gives unknown accounts the same
// answers.
func (s *Service) loginFailed(ctx context.Context, u *atelier.User, ev atelier.AuditEvent) error {
	now := s.now()
	var failures int
	var locked bool
	_, err := s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		failures, locked = u.FailedLogins+1, false
		u.FailedLogins = failures
		if failures >= s.opts.LockoutThreshold {
			u.FailedLogins, u.LockedUntil, locked = 0, now.Add(s.opts.LockoutDuration), true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: login: count failure: %w", err)
	}
	s.audit(ctx, failed(ev, "bad_password"))
	if locked {
		s.log.WarnContext(ctx, "account locked", "user_id", u.ID, "tenant_id", u.TenantID)
		s.audit(ctx, atelier.AuditEvent{Action: "lockout", ActorID: u.ID, Actor: ev.Actor, TenantID: u.TenantID, ClientID: ev.ClientID, Outcome: atelier.AuditSuccess})
		return lockedError(s.opts.LockoutDuration)
	}
	return badCredentials(s.opts.LockoutThreshold - failures)
}

// badCredentials is the answer to a wrong account or password.
func badCredentials(remaining int) error {
	return atelier.CodeBadCredentials.Errorf("Wrong email, user name or password; %d attempts remain.", remaining)
}

// phantomFailed counts a failed login of an unknown account in memory,
// exactly as loginFailed counts a known one.
func (s *Service) phantomFailed(key string) error {
	now := s.now()
	s.phantomMu.Lock()
	defer s.phantomMu.Unlock()
	if s.phantoms == nil || len(s.phantoms) >= maxPhantoms {
		s.phantoms = map[string]*phantom{} // bounded: forget all rather than grow
	}
	p := s.phantoms[key]
	if p == nil {
		p = &phantom{}
		s.phantoms[key] = p
	}
	if now.Before(p.lockedUntil) {
		return lockedError(p.lockedUntil.Sub(now))
	}
	p.failures++
	if p.failures >= s.opts.LockoutThreshold {
		p.failures, p.lockedUntil = 0, now.Add(s.opts.LockoutDuration)
		return lockedError(s.opts.LockoutDuration)
	}
	return badCredentials(s.opts.LockoutThreshold - p.failures)
}

// maxPhantoms bounds the unknown accounts remembered by phantomFailed.
const maxPhantoms = 100_000

// phantom is the failure count of an unknown account.
type phantom struct {
	failures    int
	lockedUntil time.Time
}

// Authenticate resolves a bearer token to its principal. Only session, key
// and client tokens are bearers: state tokens, codes, tickets and
// verification tokens are refused here. An unknown, expired or revoked
// token, or one whose user is gone or disabled, gives CodeInvalidToken; an
// expired token is deleted on the way.
func (s *Service) Authenticate(ctx context.Context, token string) (*atelier.Principal, error) {
	if token == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authentication is required.")
	}
	hash := hashToken(token)
	t, err := s.st.GetToken(ctx, hash)
	if err != nil {
		return nil, storeError("authenticate: get token", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	switch t.Kind {
	case atelier.TokenSession, atelier.TokenKey, atelier.TokenClient:
	default:
		return nil, atelier.CodeInvalidToken.Errorf("This token cannot be used as a bearer token.")
	}
	if !s.clock.Now().Before(t.ExpiresAt) {
		if err := s.st.DeleteToken(ctx, hash); err != nil {
			s.log.WarnContext(ctx, "delete expired token", "user_id", t.UserID, "err", err)
		}
		return nil, atelier.CodeInvalidToken.Errorf("The token has expired; log in again.")
	}
	defaultTenant, err := s.defaultTenantID(ctx)
	if err != nil {
		return nil, err
	}
	if t.Kind == atelier.TokenClient {
		if _, err := s.st.GetAppByClientID(ctx, t.ClientID); err != nil {
			return nil, storeError("authenticate: get app", err, atelier.CodeInvalidToken, atelier.Code{})
		}
		return &atelier.Principal{TenantID: t.TenantID, Role: atelier.RoleApp, ClientID: t.ClientID, TokenHash: hash}, nil
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, storeError("authenticate: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	if u.Status != atelier.UserActive || u.TenantID != t.TenantID {
		return nil, atelier.CodeInvalidToken.Errorf("The token's user is disabled or gone; log in again.")
	}
	return &atelier.Principal{
		UserID:        u.ID,
		TenantID:      u.TenantID,
		Email:         u.Email,
		Name:          u.Name,
		Role:          u.Role,
		ClientID:      t.ClientID,
		PlatformAdmin: u.Role == atelier.RoleAdmin && u.TenantID == defaultTenant,
		TokenHash:     hash,
	}, nil
}

// defaultTenantID returns the id of the default tenant, cached after the
// first lookup ("" while it does not exist).
func (s *Service) defaultTenantID(ctx context.Context) (string, error) {
	if id, ok := s.defaultTenant.Load().(string); ok && id != "" {
		return id, nil
	}
	t, err := s.st.GetTenantByName(ctx, atelier.DefaultTenant)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("identity: get default tenant: %w", err)
	}
	s.defaultTenant.Store(t.ID)
	return t.ID, nil
}

// Logout revokes a token. Revoking an unknown or empty token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	hash := hashToken(token)
	t, err := s.st.ConsumeToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("identity: logout: %w", err)
	}
	s.audit(ctx, atelier.AuditEvent{Action: "token.revoke", ActorID: t.UserID, TenantID: t.TenantID, ClientID: t.ClientID, Target: t.Kind})
	return nil
}

// ExchangeKey trades an access/secret key pair for a bearer token of kind
// key. A wrong pair gives CodeBadKey after the same work whether or not the
// access key exists.
func (s *Service) ExchangeKey(ctx context.Context, accessKey, secretKey string) (*atelier.IssuedToken, error) {
	badKey := atelier.CodeBadKey.Errorf("The access key or secret key is wrong.")
	// The access key as given, capped: it is stored in the audit log.
	ev := atelier.AuditEvent{Action: "apikey.login", Actor: truncate(accessKey, maxNameLen), Target: truncate(accessKey, maxNameLen)}
	if s.hashes.saturated() {
		s.audit(ctx, failed(ev, "server_busy"))
		return nil, errHashBusy()
	}
	k, err := s.st.GetAPIKey(ctx, accessKey)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.verifyDummy(ctx, secretKey); err != nil {
			s.audit(ctx, failed(ev, "server_busy"))
			return nil, err
		}
		s.log.InfoContext(ctx, "key exchange failed: unknown access key")
		s.audit(ctx, failed(ev, "unknown_key"))
		return nil, badKey
	} else if err != nil {
		return nil, fmt.Errorf("identity: exchange key: %w", err)
	}
	ev.ActorID, ev.TenantID = k.UserID, k.TenantID
	ok, err := s.verify(ctx, k.SecretHash, secretKey)
	if isHashBusy(err) {
		s.audit(ctx, failed(ev, "server_busy"))
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("identity: exchange key: key %s has an unusable hash: %w", k.AccessKey, err)
	}
	if !ok {
		s.log.InfoContext(ctx, "key exchange failed: wrong secret", "access_key", k.AccessKey, "user_id", k.UserID)
		s.audit(ctx, failed(ev, "bad_secret"))
		return nil, badKey
	}
	u, err := s.st.GetUser(ctx, k.UserID)
	if err != nil {
		return nil, storeError("exchange key: get user", err, atelier.CodeBadKey, atelier.Code{})
	}
	ev.Actor = u.Email
	if u.Status != atelier.UserActive {
		s.audit(ctx, failed(ev, "user_disabled"))
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
	s.audit(ctx, ev)
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
