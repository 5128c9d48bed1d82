package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// env is one test's identity service over a fresh SQLite store, bootstrapped
// with a known admin.
type env struct {
	st    store.Store
	svc   *identity.Service
	clock *clock.Fake
	logs  *syncBuffer
}

const (
	adminEmail = "admin@example.com"
	adminPass  = "admin-password"
)

// MustOpenStore opens a fresh SQLite store in a temporary directory.
func MustOpenStore(t testing.TB) store.Store {
	t.Helper()
	db, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// MustEnv returns a bootstrapped service over a fresh SQLite store with
// cheap argon2 parameters, a fake clock and captured logs.
func MustEnv(t testing.TB, with ...func(*identity.Options)) *env {
	t.Helper()
	return mustEnvOn(t, MustOpenStore(t), with...)
}

// mustEnvOn is MustEnv over st.
func mustEnvOn(t testing.TB, st store.Store, with ...func(*identity.Options)) *env {
	t.Helper()
	e := &env{
		st:    st,
		clock: clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		logs:  &syncBuffer{},
	}
	opts := identity.Options{
		Clock:  e.clock,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Argon2: cheap,
		// Tests log in far faster than people; TestLoginRateLimits turns
		// the limits on.
		LoginRatePerIP:   -1,
		LoginRatePerUser: -1,
	}
	for _, f := range with {
		f(&opts)
	}
	e.svc = identity.New(e.st, opts)
	if gen, err := e.svc.Bootstrap(t.Context(), adminEmail, adminPass); err != nil || gen != "" {
		t.Fatalf("Bootstrap = %q, %v", gen, err)
	}
	return e
}

// MustTenant returns the id of the tenant with this name.
func (e *env) MustTenant(t testing.TB, name string) string {
	t.Helper()
	tn, err := e.st.GetTenantByName(t.Context(), name)
	if err != nil {
		t.Fatalf("get tenant %s: %v", name, err)
	}
	return tn.ID
}

// MustAdmin returns the bootstrapped admin as the store keeps it.
func (e *env) MustAdmin(t testing.TB) *atelier.User {
	t.Helper()
	u, err := e.st.GetUserByEmail(t.Context(), e.MustTenant(t, atelier.DefaultTenant), adminEmail)
	if err != nil {
		t.Fatalf("get the admin: %v", err)
	}
	return u
}

// MustLogin logs in by email through the CLI app and returns the token.
func (e *env) MustLogin(t testing.TB, email, password string) (string, *atelier.LoginResult) {
	t.Helper()
	res, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: email, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	if res.Status != atelier.LoginSuccess {
		t.Fatalf("login %s: status %s", email, res.Status)
	}
	return res.SessionToken, res
}

// MustPrincipalCtx authenticates token and returns a context carrying the
// principal, as the HTTP layer does.
func (e *env) MustPrincipalCtx(t testing.TB, token string) context.Context {
	t.Helper()
	p, err := e.svc.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return atelier.NewContextWithPrincipal(t.Context(), p)
}

func wantCode(t testing.TB, err error, c atelier.Code) {
	t.Helper()
	if got := atelier.ErrorCode(err); got != c.ID {
		t.Fatalf("error = %v (code %q), want code %s", err, got, c.ID)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestBootstrapGeneratesPasswordOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := MustOpenStore(t)
	svc := identity.New(st, identity.Options{Argon2: cheap})

	gen, err := svc.Bootstrap(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gen) != 20 {
		t.Fatalf("generated password %q is not 20 characters", gen)
	}
	res, err := svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: identity.DefaultAdminEmail, Password: gen})
	if err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("login with generated password = %+v, %v", res, err)
	}
	p, err := svc.Authenticate(ctx, res.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != atelier.RoleAdmin || p.Email != identity.DefaultAdminEmail {
		t.Errorf("admin principal = %+v", p)
	}

	for range 2 { // every later start: nothing new, nothing generated
		gen2, err := svc.Bootstrap(ctx, "", "")
		if err != nil || gen2 != "" {
			t.Fatalf("second Bootstrap = %q, %v; want \"\", nil", gen2, err)
		}
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("users after three bootstraps = %d, %v; want 1", n, err)
	}
	tenants, err := st.ListTenants(ctx)
	if err != nil || len(tenants) != 1 || tenants[0].Name != atelier.DefaultTenant {
		t.Errorf("tenants = %v, %v; want just %q", tenants, err, atelier.DefaultTenant)
	}
	app, err := st.GetAppByClientID(ctx, atelier.CLIClientID)
	if err != nil || !app.BuiltIn || app.TenantID != tenants[0].ID {
		t.Errorf("CLI app = %+v, %v", app, err)
	}
	// The old password still works: bootstrap did not reset it.
	if _, err := svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: identity.DefaultAdminEmail, Password: gen}); err != nil {
		t.Errorf("login after re-bootstrap: %v", err)
	}
}

func TestBootstrapGivenCredentials(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	u := e.MustAdmin(t)
	if u.Role != atelier.RoleAdmin || u.Status != atelier.UserActive || u.Name != "admin" {
		t.Errorf("admin = %+v", u)
	}
	if _, err := e.svc.Bootstrap(t.Context(), "other@example.com", "other-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetUserByEmail(t.Context(), u.TenantID, "other@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bootstrap with users present created another admin: %v", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	def := e.MustTenant(t, atelier.DefaultTenant)
	for _, tc := range []struct {
		name string
		req  atelier.LoginRequest
	}{
		{"email", atelier.LoginRequest{Email: adminEmail}},
		{"email mixed case and spaces", atelier.LoginRequest{Email: "  Admin@Example.COM "}},
		{"email with tenant", atelier.LoginRequest{Email: adminEmail, TenantID: def}},
		{"user name in default tenant", atelier.LoginRequest{UserName: "admin"}},
		{"user name with tenant", atelier.LoginRequest{UserName: "admin", TenantID: def}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.ClientID = atelier.CLIClientID
			req.Password = adminPass
			res, err := e.svc.Login(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != atelier.LoginSuccess || !hex64.MatchString(res.SessionToken) || res.Expire != 43200 || strings.Count(res.IDToken, ".") != 2 || res.StateToken != "" {
				t.Fatalf("result = %+v", res)
			}
			p, err := e.svc.Authenticate(t.Context(), res.SessionToken)
			if err != nil {
				t.Fatal(err)
			}
			if res.Data["tenant_id"] != def || res.Data["user_id"] != p.UserID || p.TenantID != def || p.ClientID != atelier.CLIClientID || p.Email != adminEmail {
				t.Errorf("data = %v, principal = %+v", res.Data, p)
			}
		})
	}
	if strings.Contains(e.logs.String(), adminPass) {
		t.Error("a password was logged")
	}
}

func TestLoginWrongCredentialsLookAlike(t *testing.T) {
	t.Parallel()
	// Each case is the first failure of its account, in a fresh service:
	// known and unknown accounts must answer alike.
	var msgs []string
	var logs []string
	for _, req := range []atelier.LoginRequest{
		{Email: adminEmail, Password: "wrong-password"},
		{Email: "nobody@example.com", Password: "wrong-password"},
		{Email: "nobody@example.com", Password: adminPass},
		{UserName: "admin", Password: "wrong-password"},
		{UserName: "nobody", Password: adminPass},
		{Email: adminEmail, Password: ""},
		{Email: adminEmail, Password: adminPass, TenantID: "no-such-tenant"},
	} {
		e := MustEnv(t)
		req.ClientID = atelier.CLIClientID
		res, err := e.svc.Login(t.Context(), req)
		if res != nil {
			t.Errorf("login %+v returned a result %+v", req, res)
		}
		wantCode(t, err, atelier.CodeBadCredentials)
		msgs = append(msgs, atelier.ErrorMessage(err))
		logs = append(logs, e.logs.String())
	}
	for _, m := range msgs {
		if m != msgs[0] {
			t.Errorf("messages differ: %q vs %q", m, msgs[0])
		}
	}
	if msgs[0] != "Wrong email, user name or password; 4 attempts remain." {
		t.Errorf("message = %q", msgs[0])
	}
	for _, l := range logs {
		if strings.Contains(l, "wrong-password") || strings.Contains(l, adminPass) {
			t.Error("a password was logged")
		}
	}
}

func TestLoginUnknownClient(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	for _, client := range []string{"", "no-such-app"} {
		_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: client, Email: adminEmail, Password: adminPass})
		wantCode(t, err, atelier.CodeUnknownClient)
	}
}

func TestLoginNeedsEmailOrUserName(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Password: adminPass})
	wantCode(t, err, atelier.CodeInvalidParam)
}

func TestLoginAmbiguousTenant(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	def := e.MustTenant(t, atelier.DefaultTenant)
	other, err := e.svc.CreateTenantRaw(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	uDef, err := e.svc.CreateUserRaw(ctx, def, "Same@Example.com", "same", "pw-in-default", "")
	if err != nil {
		t.Fatal(err)
	}
	uOther, err := e.svc.CreateUserRaw(ctx, other.ID, "same@example.com", "same", "pw-in-other", "")
	if err != nil {
		t.Fatal(err)
	}

	_, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "same@example.com", Password: "pw-in-default"})
	wantCode(t, err, atelier.CodeAmbiguousTenant)

	for _, tc := range []struct {
		tenant, password string
		want             *atelier.User
	}{
		{def, "pw-in-default", uDef},
		{other.ID, "pw-in-other", uOther},
	} {
		res, err := e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, TenantID: tc.tenant, Email: "same@example.com", Password: tc.password})
		if err != nil {
			t.Fatal(err)
		}
		if res.Data["tenant_id"] != tc.want.TenantID || res.Data["user_id"] != tc.want.ID {
			t.Errorf("X-tenant-id %s logged in %v, want user %s", tc.tenant, res.Data, tc.want.ID)
		}
	}
	// The other tenant's password does not open this tenant's account.
	_, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, TenantID: def, Email: "same@example.com", Password: "pw-in-other"})
	wantCode(t, err, atelier.CodeBadCredentials)
	// User names outside the default tenant need X-tenant-id.
	if _, err := e.svc.CreateUserRaw(ctx, other.ID, "only@example.com", "only-other", "pw-only-1", ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, UserName: "only-other", Password: "pw-only-1"})
	wantCode(t, err, atelier.CodeBadCredentials)
	if _, err := e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, TenantID: other.ID, UserName: "only-other", Password: "pw-only-1"}); err != nil {
		t.Errorf("login by user name with X-tenant-id: %v", err)
	}
}

func TestLoginDisabledUser(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	u, err := e.svc.CreateUserRaw(ctx, e.MustTenant(t, atelier.DefaultTenant), "bob@example.com", "bob", "bob-password", atelier.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := e.MustLogin(t, "bob@example.com", "bob-password")
	if _, err := e.st.UpdateUser(ctx, u.ID, func(u *atelier.User) error { u.Status = atelier.UserDisabled; return nil }); err != nil {
		t.Fatal(err)
	}

	res, err := e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "bob@example.com", Password: "bob-password"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != atelier.LoginAccessDenied || res.SessionToken != "" || res.IDToken != "" || res.Expire != 0 {
		t.Errorf("disabled user's login = %+v, want ACCESS_DENIED without tokens", res)
	}
	// A wrong password does not reveal that the account is disabled.
	_, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "bob@example.com", Password: "nope"})
	wantCode(t, err, atelier.CodeBadCredentials)
	// Tokens issued before stop working.
	_, err = e.svc.Authenticate(ctx, tok)
	wantCode(t, err, atelier.CodeInvalidToken)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	tok, _ := e.MustLogin(t, adminEmail, adminPass)

	e.clock.Advance(identity.DefaultSessionTTL - time.Second)
	if _, err := e.svc.Authenticate(ctx, tok); err != nil {
		t.Fatalf("token one second before expiry: %v", err)
	}
	tok2, _ := e.MustLogin(t, adminEmail, adminPass)
	e.clock.Advance(time.Second)
	_, err := e.svc.Authenticate(ctx, tok)
	wantCode(t, err, atelier.CodeInvalidToken)
	if _, err := e.st.GetToken(ctx, sha256Hex(tok)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token still stored after Authenticate: %v", err)
	}

	// The cleanup removes tok2 once it has expired too.
	if n, err := e.svc.DeleteExpiredTokens(ctx); err != nil || n != 0 {
		t.Errorf("DeleteExpiredTokens before tok2 expires = %d, %v; want 0", n, err)
	}
	e.clock.Advance(identity.DefaultSessionTTL)
	if n, err := e.svc.DeleteExpiredTokens(ctx); err != nil || n != 1 {
		t.Errorf("DeleteExpiredTokens = %d, %v; want 1", n, err)
	}
	if _, err := e.st.GetToken(ctx, sha256Hex(tok2)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token still stored after cleanup: %v", err)
	}
}

func TestSessionTTLOption(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	svc := identity.New(st, identity.Options{Clock: clk, Argon2: cheap, SessionTTL: time.Hour})
	if _, err := svc.Bootstrap(t.Context(), adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: adminEmail, Password: adminPass})
	if err != nil || res.Expire != 3600 {
		t.Fatalf("login = %+v, %v; want expire 3600", res, err)
	}
	clk.Advance(time.Hour)
	_, err = svc.Authenticate(t.Context(), res.SessionToken)
	wantCode(t, err, atelier.CodeInvalidToken)
}

func TestAuthenticateRejects(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	_, err := e.svc.Authenticate(t.Context(), "")
	wantCode(t, err, atelier.CodeNoCredentials)
	_, err = e.svc.Authenticate(t.Context(), strings.Repeat("0", 64))
	wantCode(t, err, atelier.CodeInvalidToken)
	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	// The stored hash is not itself a token.
	_, err = e.svc.Authenticate(t.Context(), sha256Hex(tok))
	wantCode(t, err, atelier.CodeInvalidToken)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	other, _ := e.MustLogin(t, adminEmail, adminPass)
	if err := e.svc.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, tok)
	wantCode(t, err, atelier.CodeInvalidToken)
	if _, err := e.svc.Authenticate(ctx, other); err != nil {
		t.Errorf("logout revoked another session: %v", err)
	}
	for _, again := range []string{tok, "", "unknown"} {
		if err := e.svc.Logout(ctx, again); err != nil {
			t.Errorf("Logout(%q) = %v, want nil", again, err)
		}
	}
}

func TestExchangeKey(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	ctx := e.MustPrincipalCtx(t, tok)
	owner := atelier.PrincipalFromContext(ctx)

	k, err := e.svc.CreateAPIKey(ctx, "ci runner")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^AK[A-Z2-7]{18}$`).MatchString(k.AccessKey) || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(k.SecretKey) {
		t.Fatalf("new key = %q / %q", k.AccessKey, k.SecretKey)
	}
	if k.Description != "ci runner" || k.UserID != owner.UserID || k.TenantID != owner.TenantID || k.SecretHash != "" {
		t.Errorf("new key = %+v", k)
	}

	it, err := e.svc.ExchangeKey(t.Context(), k.AccessKey, k.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if !hex64.MatchString(it.Token) || it.ExpiresIn != 43200 || !it.ExpiresAt.Equal(e.clock.Now().Add(identity.DefaultSessionTTL)) || it.UserID != owner.UserID || it.TenantID != owner.TenantID {
		t.Errorf("issued token = %+v", it)
	}
	p, err := e.svc.Authenticate(t.Context(), it.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != owner.UserID || p.TenantID != owner.TenantID || p.Role != atelier.RoleAdmin {
		t.Errorf("key principal = %+v", p)
	}
	stored, err := e.st.GetToken(t.Context(), sha256Hex(it.Token))
	if err != nil || stored.Kind != atelier.TokenKey || stored.AccessKey != k.AccessKey {
		t.Errorf("stored key token = %+v, %v", stored, err)
	}

	for _, tc := range []struct{ name, ak, sk string }{
		{"wrong secret", k.AccessKey, strings.Repeat("0", 40)},
		{"empty secret", k.AccessKey, ""},
		{"unknown access key", "AKAAAAAAAAAAAAAAAAAA", k.SecretKey},
		{"empty pair", "", ""},
	} {
		_, err := e.svc.ExchangeKey(t.Context(), tc.ak, tc.sk)
		if atelier.ErrorCode(err) != atelier.CodeBadKey.ID {
			t.Errorf("%s: error = %v, want %s", tc.name, err, atelier.CodeBadKey.ID)
		}
	}
	if strings.Contains(e.logs.String(), k.SecretKey) || strings.Contains(e.logs.String(), it.Token) || strings.Contains(e.logs.String(), tok) {
		t.Error("a secret key or token was logged")
	}
}

func TestDeleteAPIKeyRevokesItsTokens(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	session, _ := e.MustLogin(t, adminEmail, adminPass)
	ctx := e.MustPrincipalCtx(t, session)
	k1, err := e.svc.CreateAPIKey(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := e.svc.CreateAPIKey(ctx, "two")
	if err != nil {
		t.Fatal(err)
	}
	var toks []string
	for range 2 {
		it, err := e.svc.ExchangeKey(t.Context(), k1.AccessKey, k1.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, it.Token)
	}
	it2, err := e.svc.ExchangeKey(t.Context(), k2.AccessKey, k2.SecretKey)
	if err != nil {
		t.Fatal(err)
	}

	if err := e.svc.DeleteAPIKey(ctx, k1.AccessKey); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		_, err := e.svc.Authenticate(t.Context(), tok)
		wantCode(t, err, atelier.CodeInvalidToken)
	}
	_, err = e.svc.ExchangeKey(t.Context(), k1.AccessKey, k1.SecretKey)
	wantCode(t, err, atelier.CodeBadKey)
	// The other key, its token and the session survive.
	for _, tok := range []string{it2.Token, session} {
		if _, err := e.svc.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("unrelated token revoked: %v", err)
		}
	}
	wantCode(t, e.svc.DeleteAPIKey(ctx, k1.AccessKey), atelier.CodeAPIKeyNotFound)
}

func TestAPIKeysAreOwnedByTheirUser(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	if _, err := e.svc.CreateUserRaw(t.Context(), e.MustTenant(t, atelier.DefaultTenant), "bob@example.com", "bob", "bob-password", ""); err != nil {
		t.Fatal(err)
	}
	adminTok, _ := e.MustLogin(t, adminEmail, adminPass)
	bobTok, _ := e.MustLogin(t, "bob@example.com", "bob-password")
	adminCtx, bobCtx := e.MustPrincipalCtx(t, adminTok), e.MustPrincipalCtx(t, bobTok)

	k, err := e.svc.CreateAPIKey(adminCtx, "")
	if err != nil {
		t.Fatal(err)
	}
	bobKeys, err := e.svc.ListAPIKeys(bobCtx)
	if err != nil || bobKeys == nil || len(bobKeys) != 0 {
		t.Errorf("bob's keys = %v, %v; want an empty list", bobKeys, err)
	}
	wantCode(t, e.svc.DeleteAPIKey(bobCtx, k.AccessKey), atelier.CodeAPIKeyNotFound)
	wantCode(t, e.svc.DeleteAPIKey(bobCtx, "AKNOSUCHKEYAAAAAAAAA"), atelier.CodeAPIKeyNotFound)

	keys, err := e.svc.ListAPIKeys(adminCtx)
	if err != nil || len(keys) != 1 || keys[0].AccessKey != k.AccessKey || keys[0].SecretHash != "" {
		t.Fatalf("admin's keys = %v, %v; want the one key without its hash", keys, err)
	}
	if err := e.svc.DeleteAPIKey(adminCtx, k.AccessKey); err != nil {
		t.Fatal(err)
	}
	if keys, err := e.svc.ListAPIKeys(adminCtx); err != nil || len(keys) != 0 {
		t.Errorf("keys after delete = %v, %v", keys, err)
	}
}

func TestAPIKeyValidation(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	_, err := e.svc.CreateAPIKey(t.Context(), "x")
	wantCode(t, err, atelier.CodeNoCredentials)
	_, err = e.svc.ListAPIKeys(t.Context())
	wantCode(t, err, atelier.CodeNoCredentials)
	wantCode(t, e.svc.DeleteAPIKey(t.Context(), "AK"), atelier.CodeNoCredentials)

	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	ctx := e.MustPrincipalCtx(t, tok)
	if _, err := e.svc.CreateAPIKey(ctx, strings.Repeat("é", 256)); err != nil {
		t.Errorf("256-character description refused: %v", err)
	}
	_, err = e.svc.CreateAPIKey(ctx, strings.Repeat("a", 257))
	wantCode(t, err, atelier.CodeInvalidParam)
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Field != "description" {
		t.Errorf("error field = %v, want description", err)
	}
}

func TestStoredSecretsAreHashed(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	u := e.MustAdmin(t)
	if u.PasswordHash == adminPass || strings.Contains(u.PasswordHash, adminPass) || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("stored password = %q, want an argon2id hash with the configured params", u.PasswordHash)
	}

	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	if _, err := e.st.GetToken(ctx, tok); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token stored in plaintext: %v", err)
	}
	if _, err := e.st.GetToken(ctx, sha256Hex(tok)); err != nil {
		t.Errorf("token not stored as its SHA-256: %v", err)
	}

	k, err := e.svc.CreateAPIKey(e.MustPrincipalCtx(t, tok), "")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := e.st.GetAPIKey(ctx, k.AccessKey)
	if err != nil {
		t.Fatal(err)
	}
	if sk.SecretHash == k.SecretKey || strings.Contains(sk.SecretHash, k.SecretKey) || !strings.HasPrefix(sk.SecretHash, "$argon2id$") {
		t.Errorf("stored secret = %q, want an argon2id hash", sk.SecretHash)
	}
}

func TestNewUsesDefaultArgon2(t *testing.T) {
	t.Parallel()
	st := MustOpenStore(t)
	svc := identity.New(st, identity.Options{})
	tn, err := svc.CreateTenantRaw(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUserRaw(t.Context(), tn.ID, "a@example.com", "", "some-password", "")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := identity.ParsePHC(stored.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	if p != identity.DefaultArgon2 || p.Memory != 19*1024 || p.Time != 2 || p.Threads != 1 {
		t.Errorf("params = %+v, want OWASP's m=19456,t=2,p=1 (%+v)", p, identity.DefaultArgon2)
	}
	if stored.Name != "a@example.com" || stored.Role != atelier.RoleMember {
		t.Errorf("defaults: name %q role %q", stored.Name, stored.Role)
	}
}

func TestCreateTenantAndUserErrors(t *testing.T) {
	t.Parallel()
	e := MustEnv(t)
	ctx := t.Context()
	def := e.MustTenant(t, atelier.DefaultTenant)

	_, err := e.svc.CreateTenantRaw(ctx, atelier.DefaultTenant)
	wantCode(t, err, atelier.CodeTenantExists)
	_, err = e.svc.CreateTenantRaw(ctx, "  ")
	wantCode(t, err, atelier.CodeInvalidParam)

	for _, tc := range []struct {
		name                            string
		tenant, email, user, pass, role string
		want                            atelier.Code
	}{
		{"duplicate email", def, "ADMIN@example.com", "someone", "pass-word", "", atelier.CodeUserExists},
		{"duplicate user name", def, "x@example.com", "admin", "pass-word", "", atelier.CodeUserExists},
		{"unknown tenant", "nope", "y@example.com", "y", "pass-word", "", atelier.CodeTenantNotFound},
		{"bad email", def, "not-an-email", "z", "pass-word", "", atelier.CodeInvalidParam},
		{"empty password", def, "z@example.com", "z", "", "", atelier.CodePasswordPolicy},
		{"short password", def, "z@example.com", "z", "pw-1", "", atelier.CodePasswordPolicy},
		{"one class only", def, "z@example.com", "z", "abcdefghij", "", atelier.CodePasswordPolicy},
		{"bad role", def, "z@example.com", "z", "pass-word", "owner", atelier.CodeInvalidParam},
	} {
		_, err := e.svc.CreateUserRaw(ctx, tc.tenant, tc.email, tc.user, tc.pass, tc.role)
		if atelier.ErrorCode(err) != tc.want.ID {
			t.Errorf("%s: error = %v, want %s", tc.name, err, tc.want.ID)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
