package identity_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/internal/smtptest"
	"github.com/atelier-dev/atelier/sender"
	"github.com/atelier-dev/atelier/sender/smssender"
	"github.com/atelier-dev/atelier/sender/smtpsender"
	"github.com/atelier-dev/atelier/store"
)

// inbox is where one-time codes arrive in these tests: a real in-process
// SMTP server and an HTTP SMS gateway on 127.0.0.1.
type inbox struct {
	smtp *smtptest.Server
	mu   sync.Mutex
	sms  map[string][]string // to → texts
	got  chan struct{}
}

// MustInbox starts the mail server and the SMS gateway and returns the
// sender that reaches them.
func MustInbox(t testing.TB) (*inbox, sender.Multi) {
	t.Helper()
	in := &inbox{smtp: smtptest.MustStart(t, smtptest.Options{}), sms: map[string][]string{}, got: make(chan struct{}, 100)}
	mail, err := smtpsender.New(smtpsender.Options{
		Addr: in.smtp.Addr(), From: "Atelier <no-reply@atelier.test>",
		TLSConfig: &tls.Config{RootCAs: in.smtp.CertPool(), ServerName: "127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ To, Text string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", 400)
			return
		}
		in.mu.Lock()
		in.sms[body.To] = append(in.sms[body.To], body.Text)
		in.mu.Unlock()
		in.got <- struct{}{}
	}))
	t.Cleanup(gw.Close)
	sms, err := smssender.New(smssender.Options{URL: gw.URL + "/send", BodyTemplate: `{"to":"{to}","text":"{text}"}`})
	if err != nil {
		t.Fatal(err)
	}
	return in, sender.Multi{sender.Email: mail, sender.SMS: sms}
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// MustEmailCode returns the code of the n-th (1-based) mail to addr.
func (in *inbox) MustEmailCode(t testing.TB, addr string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msgs, err := in.smtp.WaitFor(ctx, addr, n)
	if err != nil {
		t.Fatalf("wait for mail %d to %s: %v", n, addr, err)
	}
	m := codeRE.FindStringSubmatch(msgs[n-1].Body)
	if m == nil {
		t.Fatalf("no code in mail %q", msgs[n-1].Body)
	}
	return m[1]
}

// MustSMSCode returns the code of the latest SMS to number.
func (in *inbox) MustSMSCode(t testing.TB, number string) string {
	t.Helper()
	in.mu.Lock()
	texts := in.sms[number]
	in.mu.Unlock()
	if len(texts) == 0 {
		t.Fatalf("no SMS to %s", number)
	}
	m := codeRE.FindStringSubmatch(texts[len(texts)-1])
	if m == nil {
		t.Fatalf("no code in SMS %q", texts[len(texts)-1])
	}
	return m[1]
}

// mfaEnv is an env whose default tenant requires MFA, with user bob who has
// a mobile, and the inbox that receives his codes.
func mfaEnv(t *testing.T) (*env, *inbox, *atelier.User) {
	in, snd := MustInbox(t)
	e := MustEnv(t, func(o *identity.Options) { o.Sender = snd; o.StateTTL = time.Hour })
	ctx := t.Context()
	tid := e.MustTenant(t, atelier.DefaultTenant)
	if _, err := e.st.UpdateTenant(ctx, tid, func(tn *atelier.Tenant) error { tn.Settings.MFA = atelier.MFARequired; return nil }); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.CreateUserRaw(ctx, tid, "bob@example.com", "bob", "bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err = e.st.UpdateUser(ctx, u.ID, func(u *atelier.User) error { u.Mobile = "+8613800000000"; return nil }); err != nil {
		t.Fatal(err)
	}
	return e, in, u
}

func (e *env) login(t testing.TB, email, password string) (*atelier.LoginResult, error) {
	return e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: email, Password: password})
}

func TestLoginMFAByEmailAndSMS(t *testing.T) {
	e, in, u := mfaEnv(t)
	ctx := t.Context()
	res, err := e.login(t, "bob@example.com", "bob-password")
	if err != nil || res.Status != atelier.LoginMFA || res.StateToken == "" || res.SessionToken != "" || res.IDToken != "" {
		t.Fatalf("login = %+v, %v; want MFA_AUTH with only a state token", res, err)
	}
	if got := res.Data["methods"]; !equalStrings(got, []string{"sms", "email"}) {
		t.Fatalf("methods = %v", got)
	}
	// The state token is not a bearer token.
	if _, err := e.svc.Authenticate(ctx, res.StateToken); err == nil {
		t.Fatal("a state token authenticated")
	}
	sent, err := e.svc.SendMFACode(ctx, res.StateToken, "email")
	if err != nil || sent.To != "b***@example.com" || sent.ExpiresIn != 300 {
		t.Fatalf("send = %+v, %v", sent, err)
	}
	code := in.MustEmailCode(t, "bob@example.com", 1)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", wrong)
	wantCode(t, err, atelier.CodeBadOTP)
	if !strings.Contains(atelier.ErrorMessage(err), "4 attempts remain") {
		t.Errorf("message %q lacks the remaining attempts", atelier.ErrorMessage(err))
	}
	// The SMS channel has no code yet.
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "sms", code)
	wantCode(t, err, atelier.CodeOTPExpired)

	done, err := e.svc.VerifyMFA(ctx, res.StateToken, "email", code)
	if err != nil || done.Status != atelier.LoginSuccess || done.SessionToken == "" {
		t.Fatalf("verify = %+v, %v", done, err)
	}
	if p, err := e.svc.Authenticate(ctx, done.SessionToken); err != nil || p.UserID != u.ID {
		t.Fatalf("session of MFA login: %+v, %v", p, err)
	}
	// Replays: the state token and the code are used up.
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", code)
	wantCode(t, err, atelier.CodeStateToken)
	_, err = e.svc.SendMFACode(ctx, res.StateToken, "sms")
	wantCode(t, err, atelier.CodeStateToken)

	// SMS works the same way through the gateway.
	res, err = e.login(t, "bob@example.com", "bob-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendMFACode(ctx, res.StateToken, "sms"); err != nil {
		t.Fatal(err)
	}
	if done, err := e.svc.VerifyMFA(ctx, res.StateToken, "sms", in.MustSMSCode(t, u.Mobile)); err != nil || done.Status != atelier.LoginSuccess {
		t.Fatalf("sms verify = %+v, %v", done, err)
	}
	for _, secret := range []string{"bob-password", code} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("a secret (%q) was logged", secret)
		}
	}
}

func TestOneTimeCodeLimits(t *testing.T) {
	e, in, _ := mfaEnv(t)
	ctx := t.Context()
	res, err := e.login(t, "bob@example.com", "bob-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendMFACode(ctx, res.StateToken, "email"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SendMFACode(ctx, res.StateToken, "email")
	wantCode(t, err, atelier.CodeResendTooSoon)

	// Five wrong codes use the code up; even the right one then fails.
	code := in.MustEmailCode(t, "bob@example.com", 1)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 4; i >= 1; i-- {
		_, err := e.svc.VerifyMFA(ctx, res.StateToken, "email", wrong)
		wantCode(t, err, atelier.CodeBadOTP)
	}
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", wrong)
	wantCode(t, err, atelier.CodeOTPExpired)
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", code)
	wantCode(t, err, atelier.CodeOTPExpired)

	// A new code after the resend interval works; an expired one does not.
	e.clock.Advance(identity.DefaultOTPResendInterval)
	if _, err := e.svc.SendMFACode(ctx, res.StateToken, "email"); err != nil {
		t.Fatal(err)
	}
	code = in.MustEmailCode(t, "bob@example.com", 2)
	e.clock.Advance(identity.DefaultOTPTTL)
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", code)
	wantCode(t, err, atelier.CodeOTPExpired)

	// At most five sends per login.
	for range 3 {
		e.clock.Advance(identity.DefaultOTPResendInterval)
		if _, err := e.svc.SendMFACode(ctx, res.StateToken, "email"); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(identity.DefaultOTPResendInterval)
	_, err = e.svc.SendMFACode(ctx, res.StateToken, "email")
	wantCode(t, err, atelier.CodeResendTooSoon)

	// The state token itself expires.
	e.clock.Advance(time.Hour)
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "email", code)
	wantCode(t, err, atelier.CodeStateToken)
}

func TestLoginMFAByTOTP(t *testing.T) {
	e := MustEnv(t)
	ctx := t.Context()
	tid := e.MustTenant(t, atelier.DefaultTenant)
	if _, err := e.st.UpdateTenant(ctx, tid, func(tn *atelier.Tenant) error { tn.Settings.MFA = atelier.MFAOptional; return nil }); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.CreateUserRaw(ctx, tid, "tina@example.com", "tina", "tina-password", "")
	if err != nil {
		t.Fatal(err)
	}
	// Optional MFA and nothing enrolled: no second factor.
	if res, err := e.login(t, "tina@example.com", "tina-password"); err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("login = %+v, %v", res, err)
	}
	secret := e.MustEnrollTOTP(t, u)
	res, err := e.login(t, "tina@example.com", "tina-password")
	if err != nil || res.Status != atelier.LoginMFA || !equalStrings(res.Data["methods"], []string{"totp"}) {
		t.Fatalf("login = %+v, %v; want MFA_AUTH with totp", res, err)
	}
	_, err = e.svc.SendMFACode(ctx, res.StateToken, "sms")
	wantCode(t, err, atelier.CodeMFAChannel)
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "totp", "12345x")
	wantCode(t, err, atelier.CodeBadOTP)
	// The code that confirmed the enrolment is used: it is not accepted
	// again within its window.
	code, err := identity.TOTPCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "totp", code)
	wantCode(t, err, atelier.CodeBadOTP)
	e.clock.Advance(30 * time.Second)
	code, err = identity.TOTPCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if done, err := e.svc.VerifyMFA(ctx, res.StateToken, "totp", code); err != nil || done.Status != atelier.LoginSuccess {
		t.Fatalf("verify = %+v, %v", done, err)
	}
	// Nor is the next step's code accepted twice, by a second login.
	res, err = e.login(t, "tina@example.com", "tina-password")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.VerifyMFA(ctx, res.StateToken, "totp", code)
	wantCode(t, err, atelier.CodeBadOTP)
}

// MustEnrollTOTP enrols u in TOTP and returns the base32 secret.
func (e *env) MustEnrollTOTP(t testing.TB, u *atelier.User) string {
	t.Helper()
	ctx := atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: u.ID, TenantID: u.TenantID, Email: u.Email, Role: u.Role})
	enr, err := e.svc.EnrollTOTP(ctx)
	if err != nil {
		t.Fatalf("enroll totp: %v", err)
	}
	code, err := identity.TOTPCode(enr.Secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ConfirmTOTP(ctx, code); err != nil {
		t.Fatalf("confirm totp: %v", err)
	}
	return enr.Secret
}

func equalStrings(got any, want []string) bool {
	g, ok := got.([]string)
	if !ok || len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

func TestLockoutAfterFailures(t *testing.T) {
	e := MustEnv(t)
	ctx := t.Context()
	tid := e.MustTenant(t, atelier.DefaultTenant)
	if _, err := e.svc.CreateUserRaw(ctx, tid, "bob@example.com", "bob", "bob-password", ""); err != nil {
		t.Fatal(err)
	}
	// A known and an unknown account get the same answers, step by step.
	for _, email := range []string{"bob@example.com", "nobody@example.com"} {
		for remaining := 4; remaining >= 1; remaining-- {
			_, err := e.login(t, email, "wrong-password")
			wantCode(t, err, atelier.CodeBadCredentials)
			if e, ok := err.(*atelier.Error); !ok || len(e.Args) != 1 || e.Args[0] != remaining {
				t.Fatalf("%s: %v, want %d attempts remaining", email, err, remaining)
			}
		}
		_, err := e.login(t, email, "wrong-password")
		wantCode(t, err, atelier.CodeAccountLocked)
		// Even the right password is refused while locked.
		_, err = e.login(t, email, "bob-password")
		wantCode(t, err, atelier.CodeAccountLocked)
	}
	e.clock.Advance(identity.DefaultLockoutDuration)
	if res, err := e.login(t, "bob@example.com", "bob-password"); err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("after the lockout: %+v, %v", res, err)
	}
	page, err := e.st.ListAudit(ctx, storeAuditFilter("lockout"))
	if err != nil || len(page) != 1 {
		t.Fatalf("lockout audit events = %d, %v; want 1", len(page), err)
	}
}

func TestPasswordExpiryAndWarning(t *testing.T) {
	e := MustEnv(t)
	ctx := t.Context()
	tid := e.MustTenant(t, atelier.DefaultTenant)
	if _, err := e.st.UpdateTenant(ctx, tid, func(tn *atelier.Tenant) error {
		tn.Settings.PasswordPolicy = atelier.PasswordPolicy{ExpiryDays: 30, WarnDays: 7, History: 2}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUserRaw(ctx, tid, "bob@example.com", "bob", "bob-password-1", ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(25 * 24 * time.Hour)
	res, err := e.login(t, "bob@example.com", "bob-password-1")
	if err != nil || res.Status != atelier.LoginPasswordWarn || res.SessionToken == "" || res.Data["days_left"] != 5 {
		t.Fatalf("login = %+v, %v; want PASSWORD_WARN with tokens and days_left 5", res, err)
	}
	e.clock.Advance(5 * 24 * time.Hour)
	res, err = e.login(t, "bob@example.com", "bob-password-1")
	if err != nil || res.Status != atelier.LoginPasswordExpired || res.StateToken == "" || res.SessionToken != "" {
		t.Fatalf("login = %+v, %v; want PASSWORD_EXPIRED with only a state token", res, err)
	}
	_, err = e.svc.UpdateExpiredPassword(ctx, res.StateToken, "wrong", "bob-password-2")
	wantCode(t, err, atelier.CodeBadCredentials)
	_, err = e.svc.UpdateExpiredPassword(ctx, res.StateToken, "bob-password-1", "bob-password-1")
	wantCode(t, err, atelier.CodePasswordPolicy)
	_, err = e.svc.UpdateExpiredPassword(ctx, res.StateToken, "bob-password-1", "short")
	wantCode(t, err, atelier.CodePasswordPolicy)
	_, err = e.svc.UpdateExpiredPassword(ctx, res.StateToken, "bob-password-1", "onlylowercaseletters")
	wantCode(t, err, atelier.CodePasswordPolicy)
	done, err := e.svc.UpdateExpiredPassword(ctx, res.StateToken, "bob-password-1", "bob-password-2")
	if err != nil || done.Status != atelier.LoginSuccess || done.SessionToken == "" {
		t.Fatalf("update = %+v, %v", done, err)
	}
	_, err = e.svc.UpdateExpiredPassword(ctx, res.StateToken, "bob-password-2", "bob-password-3")
	wantCode(t, err, atelier.CodeStateToken)
	if res, err := e.login(t, "bob@example.com", "bob-password-2"); err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("login with the new password = %+v, %v", res, err)
	}
	_, err = e.login(t, "bob@example.com", "bob-password-1")
	wantCode(t, err, atelier.CodeBadCredentials)
}

func TestLoginAccessDenied(t *testing.T) {
	e := MustEnv(t)
	ctx := t.Context()
	tid := e.MustTenant(t, atelier.DefaultTenant)
	u, err := e.svc.CreateUserRaw(ctx, tid, "bob@example.com", "bob", "bob-password", "")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	app := &atelier.App{ID: atelier.NewID(), TenantID: tid, ClientID: "granted-app", Name: "granted", Access: atelier.AppAccessGranted, CreatedAt: now, UpdatedAt: now}
	if err := e.st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	req := atelier.LoginRequest{ClientID: "granted-app", Email: "bob@example.com", Password: "bob-password"}
	res, err := e.svc.Login(ctx, req)
	if err != nil || res.Status != atelier.LoginAccessDenied || res.SessionToken != "" {
		t.Fatalf("login = %+v, %v; want ACCESS_DENIED", res, err)
	}
	if err := e.st.GrantApp(ctx, app.ID, u.ID, now); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.Login(ctx, req); err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("login after the grant = %+v, %v", res, err)
	}
	// An ISV app needs X-tenant-id.
	isv := &atelier.App{ID: atelier.NewID(), TenantID: tid, ClientID: "isv-app", Name: "isv", ISV: true, Access: atelier.AppAccessAll, CreatedAt: now, UpdatedAt: now}
	if err := e.st.CreateApp(ctx, isv); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: "isv-app", Email: "bob@example.com", Password: "bob-password"})
	wantCode(t, err, atelier.CodeMissingHeader)
	res, err = e.svc.Login(ctx, atelier.LoginRequest{ClientID: "isv-app", TenantID: tid, Email: "bob@example.com", Password: "bob-password"})
	if err != nil || res.Status != atelier.LoginSuccess {
		t.Fatalf("ISV login = %+v, %v", res, err)
	}
}

func TestRefreshSession(t *testing.T) {
	e := MustEnv(t)
	ctx := t.Context()
	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	res, err := e.svc.RefreshSession(ctx, tok)
	if err != nil || res.SessionToken == "" || res.SessionToken == tok {
		t.Fatalf("refresh = %+v, %v", res, err)
	}
	if _, err := e.svc.Authenticate(ctx, tok); err == nil {
		t.Fatal("the old token still works after a refresh")
	}
	_, err = e.svc.RefreshSession(ctx, tok)
	wantCode(t, err, atelier.CodeInvalidToken)
	if _, err := e.svc.Authenticate(ctx, res.SessionToken); err != nil {
		t.Fatal(err)
	}
}

// MustConfidentialApp registers an app with a known client secret.
func (e *env) MustConfidentialApp(t testing.TB, tenantID, clientID, secret string) *atelier.App {
	t.Helper()
	hash, err := identity.HashPassword(secret, cheap)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	app := &atelier.App{ID: atelier.NewID(), TenantID: tenantID, ClientID: clientID, Name: clientID, Access: atelier.AppAccessAll, SecretHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := e.st.CreateApp(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	return app
}

func TestSSOTicket(t *testing.T) {
	e := MustEnv(t)
	tid := e.MustTenant(t, atelier.DefaultTenant)
	e.MustConfidentialApp(t, tid, "portal", "portal-secret")
	ctx := t.Context()
	_, err := e.svc.TenantToken(ctx, "portal", "wrong")
	wantCode(t, err, atelier.CodeInvalidClient)
	_, err = e.svc.TenantToken(ctx, "nope", "portal-secret")
	wantCode(t, err, atelier.CodeInvalidClient)
	tt, err := e.svc.TenantToken(ctx, "portal", "portal-secret")
	if err != nil {
		t.Fatal(err)
	}
	appPrincipal, err := e.svc.Authenticate(ctx, tt.Token)
	if err != nil || appPrincipal.Role != atelier.RoleApp || appPrincipal.UserID != "" || appPrincipal.ClientID != "portal" {
		t.Fatalf("tenant token principal = %+v, %v", appPrincipal, err)
	}
	session, _ := e.MustLogin(t, adminEmail, adminPass)
	device := func(fp string) context.Context {
		return atelier.NewContextWithClient(ctx, &atelier.Client{DeviceFingerprint: fp})
	}
	asApp := func(ctx context.Context) context.Context { return atelier.NewContextWithPrincipal(ctx, appPrincipal) }

	_, err = e.svc.IssueSSOTicket(ctx, session, "portal")
	wantCode(t, err, atelier.CodeMissingHeader)
	tk, err := e.svc.IssueSSOTicket(device("phone-1"), session, "portal")
	if err != nil || tk.Ticket == "" || tk.Expire != 120 {
		t.Fatalf("ticket = %+v, %v", tk, err)
	}
	// Another device burns the ticket.
	_, err = e.svc.VerifySSOTicket(asApp(device("laptop")), tk.Ticket)
	wantCode(t, err, atelier.CodeInvalidTicket)
	_, err = e.svc.VerifySSOTicket(asApp(device("phone-1")), tk.Ticket)
	wantCode(t, err, atelier.CodeInvalidTicket)

	tk, err = e.svc.IssueSSOTicket(device("phone-1"), session, "portal")
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.VerifySSOTicket(asApp(device("phone-1")), tk.Ticket)
	if err != nil || info.Email != adminEmail || info.TenantID != tid {
		t.Fatalf("verify = %+v, %v", info, err)
	}
	_, err = e.svc.VerifySSOTicket(asApp(device("phone-1")), tk.Ticket)
	wantCode(t, err, atelier.CodeInvalidTicket) // replay

	// A session token presented as a ticket is refused and left alone.
	_, err = e.svc.VerifySSOTicket(asApp(device("phone-1")), session)
	wantCode(t, err, atelier.CodeInvalidTicket)
	err = e.svc.RequireVerification(atelier.NewContextWithPrincipal(ctx, func() *atelier.Principal {
		p, _ := e.svc.Authenticate(ctx, session)
		return p
	}()), session, "app.rotate_secret", nil)
	wantCode(t, err, atelier.CodeVerifyInvalid)
	if _, err := e.svc.Authenticate(ctx, session); err != nil {
		t.Fatalf("the session presented as a ticket was revoked: %v", err)
	}

	// Expired tickets fail.
	tk, err = e.svc.IssueSSOTicket(device("phone-1"), session, "portal")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(identity.DefaultTicketTTL)
	_, err = e.svc.VerifySSOTicket(asApp(device("phone-1")), tk.Ticket)
	wantCode(t, err, atelier.CodeInvalidTicket)
}

func TestStepUpVerification(t *testing.T) {
	e, in, u := mfaEnv(t)
	ctx := t.Context()
	// bob's logins need MFA; authenticate him directly with a session.
	if _, err := e.st.UpdateTenant(ctx, u.TenantID, func(tn *atelier.Tenant) error { tn.Settings.MFA = atelier.MFAOff; return nil }); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.MustLogin(t, "bob@example.com", "bob-password")
	bob := e.MustPrincipalCtx(t, tok)
	params := map[string]string{"client_id": "portal"}

	err := e.svc.RequireVerification(bob, "", "app.rotate_secret", params)
	wantCode(t, err, atelier.CodeVerifyNeeded)

	v, err := e.svc.StartVerification(bob, "app.rotate_secret", "email", params)
	if err != nil || v.ID == "" || v.To != "b***@example.com" {
		t.Fatalf("start = %+v, %v", v, err)
	}
	_, _, err = e.svc.ConfirmVerification(bob, v.ID, "999999x")
	wantCode(t, err, atelier.CodeBadOTP)
	code := in.MustEmailCode(t, "bob@example.com", 1)
	// Someone else cannot confirm bob's verification.
	admin := e.MustPrincipalCtx(t, func() string { s, _ := e.MustLogin(t, adminEmail, adminPass); return s }())
	_, _, err = e.svc.ConfirmVerification(admin, v.ID, code)
	wantCode(t, err, atelier.CodeVerifyUnknown)

	vt, ttl, err := e.svc.ConfirmVerification(bob, v.ID, code)
	if err != nil || vt == "" || ttl != 300 {
		t.Fatalf("confirm = %q, %d, %v", vt, ttl, err)
	}
	_, _, err = e.svc.ConfirmVerification(bob, v.ID, code)
	wantCode(t, err, atelier.CodeVerifyUnknown) // the code is used once

	// The token is bound to the operation and its parameters, and used once.
	err = e.svc.RequireVerification(bob, vt, "app.rotate_secret", map[string]string{"client_id": "other"})
	wantCode(t, err, atelier.CodeVerifyInvalid)
	err = e.svc.RequireVerification(bob, vt, "app.rotate_secret", params)
	wantCode(t, err, atelier.CodeVerifyInvalid) // burnt by the mismatch

	e.clock.Advance(identity.DefaultOTPResendInterval)
	v, err = e.svc.StartVerification(bob, "app.rotate_secret", "sms", params)
	if err != nil {
		t.Fatal(err)
	}
	vt, _, err = e.svc.ConfirmVerification(bob, v.ID, in.MustSMSCode(t, u.Mobile))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequireVerification(bob, vt, "app.rotate_secret", params); err != nil {
		t.Fatalf("matching token refused: %v", err)
	}
	err = e.svc.RequireVerification(bob, vt, "app.rotate_secret", params)
	wantCode(t, err, atelier.CodeVerifyInvalid) // replay

	// With captcha verification on, no token is needed (the seed's rule).
	if _, err := e.st.UpdateTenant(ctx, u.TenantID, func(tn *atelier.Tenant) error { tn.Settings.CaptchaVerification = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RequireVerification(bob, "", "app.rotate_secret", params); err != nil {
		t.Fatalf("captcha on: %v", err)
	}
}

func storeAuditFilter(action string) store.AuditFilter {
	return store.AuditFilter{Action: action, Limit: 100}
}

func TestLoginRateLimits(t *testing.T) {
	e := MustEnv(t, func(o *identity.Options) { o.LoginRatePerIP = 6; o.LoginRatePerUser = 3 })
	fromIP := func(ip string) context.Context {
		return atelier.NewContextWithClient(t.Context(), &atelier.Client{IP: ip})
	}
	login := func(ip, email string) error {
		_, err := e.svc.Login(fromIP(ip), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: email, Password: adminPass})
		return err
	}
	// Per account: three attempts a minute, from any address.
	for i := range 3 {
		if err := login("192.0.2.1", adminEmail); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	err := login("192.0.2.2", adminEmail)
	wantCode(t, err, atelier.CodeLoginRateLimit)
	if ae := err.(*atelier.Error); ae.Args[0] != 20 {
		t.Errorf("retry after %v s, want 20", ae.Args[0])
	}
	// Unknown accounts are limited the same way, so the limit tells nothing.
	for range 3 {
		wantCode(t, login("192.0.2.3", "nobody@example.com"), atelier.CodeBadCredentials)
	}
	wantCode(t, login("192.0.2.3", "nobody@example.com"), atelier.CodeLoginRateLimit)
	// Per address: six attempts a minute whatever the accounts.
	for i := range 6 {
		wantCode(t, login("198.51.100.9", "x"+strconvItoa(i)+"@example.com"), atelier.CodeBadCredentials)
	}
	wantCode(t, login("198.51.100.9", "other@example.com"), atelier.CodeLoginRateLimit)
	e.clock.Advance(time.Minute)
	if err := login("192.0.2.1", adminEmail); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
}

func strconvItoa(i int) string { return string(rune('a' + i)) }

// TestLoginRefusesOverlongAccount checks that the account name of a login,
// which rate limits key on and the audit log keeps, is capped like the names
// it could match, and that a refused one is not stored.
func TestLoginRefusesOverlongAccount(t *testing.T) {
	e := MustEnv(t)
	long := strings.Repeat("a", 300)
	_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: long + "@example.com", Password: "x"})
	wantCode(t, err, atelier.CodeInvalidParam)
	if f := err.(*atelier.Error).Field; f != "email" {
		t.Errorf("field %q, want email", f)
	}
	_, err = e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, UserName: long, Password: "x"})
	wantCode(t, err, atelier.CodeInvalidParam)
	if f := err.(*atelier.Error).Field; f != "user_name" {
		t.Errorf("field %q, want user_name", f)
	}
	evs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Action: "login", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if len(ev.Actor) > 256 {
			t.Errorf("audit row with a %d-byte actor", len(ev.Actor))
		}
	}
}

// TestLoginAuditedWhenComplete checks that a "login" success is written only
// when the login completes: the password step of a login that still needs
// MFA is a "login.password" row, and the "login" row follows the second
// factor.
func TestLoginAuditedWhenComplete(t *testing.T) {
	e, _, u := mfaEnv(t)
	ctx := t.Context()
	logins := func() []*atelier.AuditEvent {
		evs, err := e.st.ListAudit(ctx, store.AuditFilter{Action: "login", ActorID: u.ID, Outcome: atelier.AuditSuccess, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	secret := e.MustEnrollTOTP(t, u)
	e.clock.Advance(30 * time.Second) // past the enrolment's code
	res, err := e.login(t, "bob@example.com", "bob-password")
	if err != nil || res.Status != atelier.LoginMFA {
		t.Fatalf("login = %+v, %v", res, err)
	}
	if n := len(logins()); n != 0 {
		t.Fatalf("%d login success rows after the password step alone", n)
	}
	pw, err := e.st.ListAudit(ctx, store.AuditFilter{Action: "login.password", ActorID: u.ID, Limit: 10})
	if err != nil || len(pw) != 1 || pw[0].Outcome != atelier.AuditSuccess || pw[0].Reason != "mfa_required" {
		t.Fatalf("login.password rows = %+v, %v; want one success with reason mfa_required", pw, err)
	}
	code, err := identity.TOTPCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyMFA(ctx, res.StateToken, "totp", code); err != nil {
		t.Fatal(err)
	}
	if evs := logins(); len(evs) != 1 || evs[0].ClientID != atelier.CLIClientID {
		t.Fatalf("login success rows after MFA = %+v, want one", evs)
	}
}

// TestKeyExchangeAudited checks that a login with an API key is audited,
// success and failure alike.
func TestKeyExchangeAudited(t *testing.T) {
	e := MustEnv(t)
	tok, _ := e.MustLogin(t, adminEmail, adminPass)
	ctx := e.MustPrincipalCtx(t, tok)
	k, err := e.svc.CreateAPIKey(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ExchangeKey(t.Context(), k.AccessKey, k.SecretKey); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ExchangeKey(t.Context(), k.AccessKey, "wrong")
	wantCode(t, err, atelier.CodeBadKey)
	_, err = e.svc.ExchangeKey(t.Context(), "AKNONE", "wrong")
	wantCode(t, err, atelier.CodeBadKey)
	evs := e.auditEvents(t, "apikey.login")
	if len(evs) != 3 {
		t.Fatalf("%d apikey.login rows, want 3: %+v", len(evs), evs)
	}
	byReason := map[string]*atelier.AuditEvent{}
	for _, ev := range evs {
		byReason[ev.Outcome+"/"+ev.Reason] = ev
	}
	if ok := byReason["success/"]; ok == nil || ok.ActorID != e.MustAdmin(t).ID || ok.Target != k.AccessKey {
		t.Errorf("success row %+v", ok)
	}
	if bad := byReason["failure/bad_secret"]; bad == nil || bad.ActorID != e.MustAdmin(t).ID {
		t.Errorf("wrong secret row %+v", bad)
	}
	if byReason["failure/unknown_key"] == nil {
		t.Errorf("no row for the unknown key: %+v", evs)
	}
}
