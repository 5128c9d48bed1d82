package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
)

// DefaultSessionTTL is how long a session or key token stays valid.
const DefaultSessionTTL = 12 * time.Hour

// DefaultAdminEmail is the bootstrap admin's email when none is configured.
const DefaultAdminEmail = "admin@atelier.local"

// generatedPasswordLen is the length of the bootstrap admin's generated
// password: 20 characters of 62 give about 119 bits.
const generatedPasswordLen = 20

// maxNameLen bounds tenant names, user names and emails.
const maxNameLen = 256

// Defaults of Options.
const (
	DefaultLockoutThreshold  = 5
	DefaultLockoutDuration   = 15 * time.Minute
	DefaultStateTTL          = 10 * time.Minute
	DefaultOTPTTL            = 5 * time.Minute
	DefaultOTPAttempts       = 5
	DefaultOTPResendInterval = 60 * time.Second
	DefaultOTPMaxSends       = 5
	DefaultRefreshTTL        = 30 * 24 * time.Hour
	DefaultCodeTTL           = 60 * time.Second
	DefaultTicketTTL         = 2 * time.Minute
	DefaultVerificationTTL   = 5 * time.Minute
	DefaultKeyRotation       = 30 * 24 * time.Hour
	DefaultLoginRatePerIP    = 30 // login attempts per minute from one address
	DefaultLoginRatePerUser  = 10 // login attempts per minute for one account
)

// Sealer encrypts small secrets at rest (TOTP seeds, signing keys);
// *secretbox.Box satisfies it. The context binds a sealed value to its row.
type Sealer interface {
	Seal(plaintext, context []byte) (string, error)
	Open(sealed string, context []byte) ([]byte, error)
}

// CodeSender delivers one-time codes. cmd/atelier adapts the configured
// message senders (SMTP, SMS gateway, file) to it.
type CodeSender interface {
	// SendCode sends a message to the address on channel ("sms" or "email").
	SendCode(ctx context.Context, channel, to, subject, body string) error
	// Has reports whether a sender is configured for channel.
	Has(channel string) bool
}

// Options configure a Service. The zero value gives the defaults.
type Options struct {
	Clock      clock.Clock   // default clock.Real{}
	Logger     *slog.Logger  // default slog.Default()
	SessionTTL time.Duration // default DefaultSessionTTL
	// Argon2 is the cost of new password and secret key hashes; unset fields
	// take DefaultArgon2's. Tests pass cheaper ones.
	Argon2 Argon2Params

	// Sealer seals TOTP seeds and signing keys. Nil: a random key held in
	// memory, so sealed values do not survive a restart (tests only).
	Sealer Sealer
	// Sender sends one-time codes; nil means no sms or email channel.
	Sender CodeSender
	// Issuer is the OIDC issuer, the server's public URL without a
	// trailing slash; default "http://127.0.0.1:8080".
	Issuer string

	LockoutThreshold  int           // failed logins before a lockout, default DefaultLockoutThreshold
	LockoutDuration   time.Duration // default DefaultLockoutDuration
	StateTTL          time.Duration // state tokens, default DefaultStateTTL
	OTPTTL            time.Duration // one-time codes, default DefaultOTPTTL
	OTPAttempts       int           // wrong codes per code, default DefaultOTPAttempts
	OTPResendInterval time.Duration // between two sends, default DefaultOTPResendInterval
	OTPMaxSends       int           // sends per challenge, default DefaultOTPMaxSends
	RefreshTTL        time.Duration // OIDC refresh tokens, default DefaultRefreshTTL
	CodeTTL           time.Duration // OIDC authorization codes, default DefaultCodeTTL
	TicketTTL         time.Duration // SSO tickets, default DefaultTicketTTL
	VerificationTTL   time.Duration // step-up tokens and their codes, default DefaultVerificationTTL
	KeyRotation       time.Duration // age of the signing key that triggers a new one, default DefaultKeyRotation
	LoginRatePerIP    int           // per minute, default DefaultLoginRatePerIP; negative disables
	LoginRatePerUser  int           // per minute, default DefaultLoginRatePerUser; negative disables

	// HashMemory bounds the memory of the argon2id hashes that run at once
	// (bytes, default DefaultHashMemory): as many run as it holds, at most
	// one per core but one, at least one. HashQueue more may wait for a slot
	// (default DefaultHashQueuePerSlot per slot), each for at most HashWait
	// (default DefaultHashWait); the rest are refused with CodeRateLimited.
	HashMemory int64
	HashQueue  int
	HashWait   time.Duration
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.SessionTTL = cmp.Or(o.SessionTTL, DefaultSessionTTL)
	o.Argon2 = o.Argon2.withDefaults()
	o.Issuer = strings.TrimSuffix(cmp.Or(o.Issuer, "http://127.0.0.1:8080"), "/")
	o.LockoutThreshold = cmp.Or(o.LockoutThreshold, DefaultLockoutThreshold)
	o.LockoutDuration = cmp.Or(o.LockoutDuration, DefaultLockoutDuration)
	o.StateTTL = cmp.Or(o.StateTTL, DefaultStateTTL)
	o.OTPTTL = cmp.Or(o.OTPTTL, DefaultOTPTTL)
	o.OTPAttempts = cmp.Or(o.OTPAttempts, DefaultOTPAttempts)
	o.OTPResendInterval = cmp.Or(o.OTPResendInterval, DefaultOTPResendInterval)
	o.OTPMaxSends = cmp.Or(o.OTPMaxSends, DefaultOTPMaxSends)
	o.RefreshTTL = cmp.Or(o.RefreshTTL, DefaultRefreshTTL)
	o.CodeTTL = cmp.Or(o.CodeTTL, DefaultCodeTTL)
	o.TicketTTL = cmp.Or(o.TicketTTL, DefaultTicketTTL)
	o.VerificationTTL = cmp.Or(o.VerificationTTL, DefaultVerificationTTL)
	o.KeyRotation = cmp.Or(o.KeyRotation, DefaultKeyRotation)
	o.LoginRatePerIP = cmp.Or(o.LoginRatePerIP, DefaultLoginRatePerIP)
	o.LoginRatePerUser = cmp.Or(o.LoginRatePerUser, DefaultLoginRatePerUser)
	return o
}

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	st     store.Store
	clock  clock.Clock
	log    *slog.Logger
	ttl    time.Duration
	argon  Argon2Params
	opts   Options // with defaults; read-only
	sealer Sealer
	sender CodeSender
	keys   keyring // id_token signing keys (keys.go)

	ipLimit, userLimit limiter   // login attempts per address and per account
	hashes             *hashGate // bounds the argon2id hashes (hashgate.go)

	phantomMu sync.Mutex
	phantoms  map[string]*phantom // failed logins of unknown accounts

	defaultTenant atomic.Value // string: id of the default tenant, once known
	// dummyHash is verified against when the account or key is unknown, so
	// that an unknown account costs the same time as a wrong password.
	dummyHash string
}

// Interface guards.
var (
	_ atelier.AuthService         = (*Service)(nil)
	_ atelier.APIKeyService       = (*Service)(nil)
	_ atelier.DirectoryService    = (*Service)(nil)
	_ atelier.VerificationService = (*Service)(nil)
	_ atelier.OIDCProvider        = (*Service)(nil)
)

// New returns a Service over st. It panics when opts.Argon2 is outside the
// limits that verification accepts, which is a programming error.
func New(st store.Store, opts Options) *Service {
	opts = opts.withDefaults()
	s := &Service{
		st:     st,
		clock:  opts.Clock,
		log:    opts.Logger,
		ttl:    opts.SessionTTL,
		argon:  opts.Argon2,
		opts:   opts,
		sealer: opts.Sealer,
		sender: opts.Sender,
	}
	if s.sealer == nil {
		s.sealer = newMemorySealer()
	}
	s.ipLimit = newLimiter(opts.Clock, opts.LoginRatePerIP)
	s.userLimit = newLimiter(opts.Clock, opts.LoginRatePerUser)
	s.hashes = newHashGate(opts.Clock, s.argon, opts.HashMemory, opts.HashQueue, opts.HashWait)
	h, err := hashPassword(atelier.NewSecret(16), s.argon)
	if err != nil {
		panic("identity: " + err.Error())
	}
	s.dummyHash = h
	return s
}

// SetIssuer sets the OIDC issuer once the server knows its public URL (its
// port, when it listens on :0). Call it before serving; it is not safe to
// call concurrently with requests.
func (s *Service) SetIssuer(url string) { s.opts.Issuer = strings.TrimSuffix(url, "/") }

// now returns the clock's time in UTC, the form the store keeps.
func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// Bootstrap makes sure the default tenant and the built-in CLI app exist and,
// when there is no user at all, creates the admin in the default tenant. It
// runs at every start and is idempotent. An empty email means
// DefaultAdminEmail; an empty password means a random one, which is returned
// so that the caller can show it once (otherwise generated is "").
func (s *Service) Bootstrap(ctx context.Context, email, password string) (generated string, err error) {
	tenant, err := s.st.GetTenantByName(ctx, atelier.DefaultTenant)
	if errors.Is(err, store.ErrNotFound) {
		tenant, err = s.createTenant(ctx, atelier.DefaultTenant)
		if atelier.ErrorCode(err) == atelier.CodeTenantExists.ID { // another server won the race
			tenant, err = s.st.GetTenantByName(ctx, atelier.DefaultTenant)
		}
	}
	if err != nil {
		return "", fmt.Errorf("identity: bootstrap tenant: %w", err)
	}

	if _, err := s.st.GetAppByClientID(ctx, atelier.CLIClientID); errors.Is(err, store.ErrNotFound) {
		app := &atelier.App{
			ID:        atelier.NewID(),
			TenantID:  tenant.ID,
			ClientID:  atelier.CLIClientID,
			Name:      "Atelier CLI",
			BuiltIn:   true,
			CreatedAt: s.now(),
		}
		if err := s.st.CreateApp(ctx, app); err != nil && !errors.Is(err, store.ErrConflict) {
			return "", fmt.Errorf("identity: bootstrap app: %w", err)
		}
		s.log.InfoContext(ctx, "created built-in app", "client_id", app.ClientID)
	} else if err != nil {
		return "", fmt.Errorf("identity: bootstrap app: %w", err)
	}

	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("identity: bootstrap: count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	if email == "" {
		email = DefaultAdminEmail
	}
	if password == "" {
		if generated, err = generatePassword(generatedPasswordLen); err != nil {
			return "", fmt.Errorf("identity: bootstrap: %w", err)
		}
		password = generated
	}
	u, err := s.createUser(ctx, tenant.ID, email, "admin", password, atelier.RoleAdmin)
	if atelier.ErrorCode(err) == atelier.CodeUserExists.ID {
		return "", nil // another server created the admin at the same time
	}
	if err != nil {
		return "", fmt.Errorf("identity: bootstrap admin: %w", err)
	}
	s.log.InfoContext(ctx, "created bootstrap admin", "user_id", u.ID, "tenant_id", u.TenantID, "email", u.Email)
	return generated, nil
}

// createTenant creates a tenant. It returns CodeInvalidParam for an empty or
// overlong name and CodeTenantExists when the name is taken.
func (s *Service) createTenant(ctx context.Context, name string) (*atelier.Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, atelier.CodeInvalidParam.Errorf("The tenant name must be 1 to %d characters.", maxNameLen).WithField("name")
	}
	t := &atelier.Tenant{ID: atelier.NewID(), Name: name, CreatedAt: s.now()}
	if err := s.st.CreateTenant(ctx, t); err != nil {
		return nil, storeError("create tenant", err, atelier.Code{}, atelier.CodeTenantExists)
	}
	return t, nil
}

// createUser creates an active user in a tenant. The email is stored
// lower-case; an empty user name takes the email; an empty role means
// member. It returns CodeInvalidParam naming the bad field,
// CodeTenantNotFound, or CodeUserExists when the email or user name is taken
// in the tenant.
func (s *Service) createUser(ctx context.Context, tenantID, email, name, password, role string) (*atelier.User, error) {
	email = normalizeEmail(email)
	name = strings.TrimSpace(name)
	if name == "" {
		name = email
	}
	if role == "" {
		role = atelier.RoleMember
	}
	switch {
	case email == "" || !strings.Contains(email, "@") || utf8.RuneCountInString(email) > maxNameLen:
		return nil, atelier.CodeInvalidParam.Errorf("The email must be an address of at most %d characters.", maxNameLen).WithField("email")
	case utf8.RuneCountInString(name) > maxNameLen:
		return nil, atelier.CodeInvalidParam.Errorf("The user name must be at most %d characters.", maxNameLen).WithField("user_name")
	case role != atelier.RoleAdmin && role != atelier.RoleMember:
		return nil, atelier.CodeInvalidParam.Errorf("The role must be %q or %q.", atelier.RoleAdmin, atelier.RoleMember).WithField("role")
	}
	if _, err := s.st.GetTenant(ctx, tenantID); err != nil {
		return nil, storeError("create user: get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	hash, _, err := s.newPasswordHash(ctx, &atelier.User{TenantID: tenantID}, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &atelier.User{
		ID:                atelier.NewID(),
		TenantID:          tenantID,
		Email:             email,
		Name:              name,
		Role:              role,
		Status:            atelier.UserActive,
		PasswordHash:      hash,
		PasswordChangedAt: now,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	if err := s.insertUser(ctx, u); err != nil {
		return nil, storeError("create user", err, atelier.Code{}, atelier.CodeUserExists)
	}
	return u, nil
}

// normalizeEmail returns email trimmed and lower-cased, the form the store
// keeps.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// storeError is the one place where store errors become domain errors:
// store.ErrNotFound and store.ErrConflict become notFound and conflict when
// those are set (a zero Code means "not expected here"); anything else is
// wrapped with op and surfaces as an internal error.
func storeError(op string, err error, notFound, conflict atelier.Code) error {
	switch {
	case notFound.ID != "" && errors.Is(err, store.ErrNotFound):
		return notFound.Wrap(err, "%s", notFound.Summary)
	case conflict.ID != "" && errors.Is(err, store.ErrConflict):
		return conflict.Wrap(err, "%s", conflict.Summary)
	}
	return fmt.Errorf("identity: %s: %w", op, err)
}
