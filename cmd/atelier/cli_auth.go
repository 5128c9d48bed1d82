package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/atomicfile"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newLoginCommand() *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and save the credentials for later commands",
		Long: "Log in with an email and password (prompted for on a terminal, or read from standard input\n" +
			"with --password-stdin), or with an API key pair, and save the token in the credentials file.\n\n" +
			"Each login is saved as a profile, bound to the server that issued its token: the profile named\n" +
			"by --profile or $ATELIER_PROFILE, else the one for the server, else a new one (\"default\" first,\n" +
			"then named after the server). The profile becomes the current one. The server is --endpoint,\n" +
			"else $ATELIER_ENDPOINT, else the profile's. A token is only ever sent to its own server.\n\n" +
			"A login that needs a second factor asks for the code on a terminal. Without one, an SMS or\n" +
			"email code is sent and the command stops with exit status 2; finish with\n" +
			"`atelier login --mfa-code CODE`. A TOTP code can be given at once with --mfa-code.\n" +
			"An expired password is changed on the way: the new one is prompted for twice on a terminal,\n" +
			"or read from the line after the password with --password-stdin --new-password-stdin.",
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if (f.ak == "") != (f.sk == "") {
				return usagef("--access-key and --secret-key go together")
			}
			if f.newPwStdin && !f.pwStdin {
				return usagef("--new-password-stdin needs --password-stdin: the new password is the line after the password")
			}
			if f.mfaChannel != "" && !slices.Contains(mfaChannels, f.mfaChannel) {
				return usagef("--mfa-channel must be one of %s, not %q", strings.Join(mfaChannels, ", "), f.mfaChannel)
			}
			profile, endpoint, err := loginTarget(cmd, f.mfaCode != "")
			if err != nil {
				return err
			}
			c, err := sdk.New(sdk.Options{Endpoint: endpoint, UserAgent: "atelier-cli/" + version})
			if err != nil {
				return usageError{cliError(err)}
			}
			ctx := ctxOf(cmd)
			cr := &sdk.Credentials{Endpoint: c.Endpoint()}
			var res *sdk.LoginResult
			if f.ak != "" {
				if f.email != "" || f.pwStdin || f.mfaCode != "" || f.mfaChannel != "" {
					return usagef("use either --access-key/--secret-key or --email/--password-stdin")
				}
				it, err := c.ExchangeKey(ctx, f.ak, f.sk)
				if err != nil {
					return err
				}
				cr.Token, cr.ExpiresAt, cr.TenantID, cr.UserID = it.Token, it.ExpiresAt, it.TenantID, it.UserID
			} else {
				l := &loginRun{loginFlags: f, cmd: cmd, c: c, profile: profile, tty: isTerminal(cmd.InOrStdin())}
				if res, err = l.run(ctx); err != nil {
					return err
				}
				if res.Status == core.LoginPasswordWarn {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: your password expires in %d day(s); change it soon\n", res.DaysLeft)
				}
				cr.Token = res.SessionToken
				if res.Expire > 0 {
					cr.ExpiresAt = time.Now().Add(time.Duration(res.Expire) * time.Second).UTC().Truncate(time.Second)
				}
			}
			who, err := c.WhoAmI(ctx)
			if err != nil {
				return err
			}
			cr.Email, cr.TenantID, cr.UserID = who.Email, who.TenantID, who.UserID
			if profile, err = saveLogin(cmd, profile, cr); err != nil {
				return err
			}
			if isJSON(cmd) {
				out := map[string]any{"profile": profile, "endpoint": cr.Endpoint, "email": cr.Email, "tenant_id": cr.TenantID,
					"user_id": cr.UserID, "role": who.Role, "expires_at": cr.ExpiresAt}
				if res != nil {
					out["status"] = res.Status
					if res.Status == core.LoginPasswordWarn {
						out["days_left"] = res.DaysLeft
					}
				}
				return printJSON(cmd, out)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (tenant %s, role %s; profile %s)\n", cr.Endpoint, firstOf(cr.Email, cr.UserID), cr.TenantID, who.Role, profile)
			return err
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.email, "email", "", "email to log in with (prompted for on a terminal)")
	fl.BoolVar(&f.pwStdin, "password-stdin", false, "read the password from standard input")
	fl.StringVar(&f.tenant, "tenant", "", "tenant ID, when the email exists in several tenants")
	fl.StringVar(&f.ak, "access-key", "", "log in with this API access key")
	fl.StringVar(&f.sk, "secret-key", "", "the API key's secret")
	fl.StringVar(&f.mfaChannel, "mfa-channel", "", "second factor to use: sms, email or totp (asked on a terminal when several are possible)")
	fl.StringVar(&f.mfaCode, "mfa-code", "", "the one-time `CODE`: a TOTP code, or the SMS/email code sent by the previous 'atelier login'")
	fl.BoolVar(&f.newPwStdin, "new-password-stdin", false, "with --password-stdin: read a new password from the next line, used if the password expired")
	return cmd
}

// mfaChannels are the second factors a login may ask for.
var mfaChannels = []string{"sms", "email", "totp"}

// maxLoginSteps bounds the steps of one login (MFA, then a password change).
const maxLoginSteps = 4

// loginFlags are the flags of `atelier login`.
type loginFlags struct {
	email, tenant, ak, sk string
	pwStdin, newPwStdin   bool
	mfaChannel, mfaCode   string
}

// loginRun is one password login, carried through its steps.
type loginRun struct {
	loginFlags
	cmd     *cobra.Command
	c       *sdk.Client
	profile string // the profile named by --profile or $ATELIER_PROFILE, "" for none
	tty     bool

	password, newPassword string // "" until read
	pending               *pendingLogin
}

// run logs in, or resumes the login that the previous run left waiting for
// an SMS or email code, and carries it through MFA and a password change.
func (l *loginRun) run(ctx context.Context) (*sdk.LoginResult, error) {
	var res *sdk.LoginResult
	if l.mfaCode != "" {
		if p := loadPendingLogin(); p != nil && p.matches(l.c.Endpoint(), l.email, l.tenant) {
			l.pending, l.email = p, p.Email
			res = &sdk.LoginResult{LoginResult: core.LoginResult{Status: core.LoginMFA, StateToken: p.StateToken}, Methods: p.Methods}
			if l.pwStdin {
				if _, err := l.readSecrets(p.Email); err != nil {
					return nil, err
				}
			}
		}
	}
	if res == nil {
		email, err := l.readSecrets(l.email)
		if err != nil {
			return nil, err
		}
		l.email = email
		if res, err = l.c.Login(ctx, sdk.LoginRequest{Email: email, Password: l.password, TenantID: l.tenant}); err != nil {
			return nil, err
		}
	}
	for range maxLoginSteps {
		var err error
		switch res.Status {
		case core.LoginSuccess, core.LoginPasswordWarn:
			removePendingLogin()
			return res, nil
		case core.LoginMFA:
			res, err = l.mfa(ctx, res)
		case core.LoginPasswordExpired:
			res, err = l.changePassword(ctx, res)
		case core.LoginAccessDenied:
			removePendingLogin()
			return nil, core.CodeSDKLoginIncomplete.Errorf("The login was refused (ACCESS_DENIED): the account is disabled or may not use the app %s; ask an administrator.", core.CLIClientID)
		default:
			return nil, core.CodeSDKBadResponse.Errorf("The login answered the unknown status %q.", res.Status)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, core.CodeSDKBadResponse.Errorf("The login did not finish after %d steps.", maxLoginSteps)
}

// readSecrets reads the email (when not given) and the password, and the new
// password with --new-password-stdin, and returns the email.
func (l *loginRun) readSecrets(email string) (string, error) {
	email, pw, newPw, err := readLogin(l.cmd, email, l.pwStdin, l.newPwStdin)
	if err != nil {
		return "", err
	}
	l.password, l.newPassword = pw, newPw
	return email, nil
}

// mfa answers an MFA_AUTH step: it picks the channel, sends an SMS or email
// code, reads the code and checks it.
func (l *loginRun) mfa(ctx context.Context, res *sdk.LoginResult) (*sdk.LoginResult, error) {
	if len(res.Methods) == 0 {
		return nil, core.CodeSDKLoginIncomplete.Errorf("The login needs a second factor, but the account has none that can be used (no mobile, email or authenticator app); ask an administrator.")
	}
	channel, err := l.mfaChannelFor(res.Methods)
	if err != nil {
		return nil, err
	}
	code := l.mfaCode
	sent := l.pending != nil && l.pending.Channel == channel
	if (channel == "sms" || channel == "email") && !sent {
		if code != "" {
			return nil, usagef("--mfa-code: no %s code has been sent for this login yet; run `atelier login` without --mfa-code first, it sends one", channel)
		}
		s, err := l.c.SendMFACode(ctx, res.StateToken, channel)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(l.cmd.ErrOrStderr(), "Code sent to %s\n", s.To)
		if !l.tty {
			p := &pendingLogin{Endpoint: l.c.Endpoint(), Profile: l.profile, Email: l.email, TenantID: l.tenant, StateToken: res.StateToken,
				Channel: channel, Methods: res.Methods, SentAt: time.Now().UTC()}
			if err := savePendingLogin(p); err != nil {
				return nil, err
			}
			return nil, usagef("standard input is not a terminal: finish the login within %d minutes with `atelier login --mfa-code CODE`", max(1, s.ExpiresIn/60))
		}
	}
	for attempt := 0; ; attempt++ {
		if code == "" {
			if !l.tty {
				return nil, usagef("the login needs a %s code: pass it with --mfa-code", channel)
			}
			if code, err = promptLine(l.cmd, "Code: "); err != nil {
				return nil, err
			}
		}
		next, err := l.c.VerifyMFA(ctx, res.StateToken, channel, code)
		switch {
		case err == nil:
			removePendingLogin()
			l.pending = nil
			return next, nil
		case core.ErrorCode(err) == core.CodeStateToken.ID || core.ErrorCode(err) == core.CodeOTPExpired.ID:
			removePendingLogin()
			return nil, fmt.Errorf("%w; run `atelier login` again for a new code", err)
		case l.tty && core.ErrorCode(err) == core.CodeBadOTP.ID && attempt < 2:
			fmt.Fprintln(l.cmd.ErrOrStderr(), cliError(err))
			code = ""
		default:
			return nil, err
		}
	}
}

// mfaChannelFor picks the second factor: --mfa-channel, the one the pending
// login sent a code by, the only one, a choice on the terminal, or TOTP for a
// code given up front.
func (l *loginRun) mfaChannelFor(methods []string) (string, error) {
	list := strings.Join(methods, ", ")
	switch {
	case l.mfaChannel != "":
		if !slices.Contains(methods, l.mfaChannel) {
			return "", usagef("--mfa-channel %s is not available for this account; choose one of: %s", l.mfaChannel, list)
		}
		return l.mfaChannel, nil
	case l.pending != nil && slices.Contains(methods, l.pending.Channel):
		return l.pending.Channel, nil
	case len(methods) == 1:
		return methods[0], nil
	case l.tty:
		for {
			ch, err := promptLine(l.cmd, fmt.Sprintf("Second factor (%s): ", list))
			if err != nil {
				return "", err
			}
			if slices.Contains(methods, ch) {
				return ch, nil
			}
			fmt.Fprintf(l.cmd.ErrOrStderr(), "Choose one of: %s\n", list)
		}
	case l.mfaCode != "" && slices.Contains(methods, "totp"):
		return "totp", nil
	}
	return "", usagef("the login needs a second factor: choose one of %s with --mfa-channel", list)
}

// changePassword answers a PASSWORD_EXPIRED step.
func (l *loginRun) changePassword(ctx context.Context, res *sdk.LoginResult) (*sdk.LoginResult, error) {
	fmt.Fprintln(l.cmd.ErrOrStderr(), "Your password has expired and must be changed.")
	if l.password == "" {
		if !l.tty {
			return nil, usagef("the password expired: run `atelier login --email EMAIL --password-stdin --new-password-stdin` with the password and a new one on two lines")
		}
		pw, err := promptSecret(l.cmd, "Current password: ")
		if err != nil {
			return nil, err
		}
		l.password = pw
	}
	if l.newPassword == "" {
		if !l.tty || l.pwStdin {
			return nil, usagef("the password expired: pass a new one with --new-password-stdin, on the line after the password")
		}
		pw, err := promptSecret(l.cmd, "New password: ")
		if err != nil {
			return nil, err
		}
		again, err := promptSecret(l.cmd, "Repeat the new password: ")
		if err != nil {
			return nil, err
		}
		if pw != again {
			return nil, usagef("the two new passwords differ; nothing was changed")
		}
		l.newPassword = pw
	}
	next, err := l.c.UpdateExpiredPassword(ctx, res.StateToken, l.password, l.newPassword)
	if err != nil {
		return nil, err
	}
	l.password, l.newPassword = l.newPassword, ""
	fmt.Fprintln(l.cmd.ErrOrStderr(), "Password changed.")
	return next, nil
}

// promptLine asks on standard error and reads one line from the terminal,
// byte by byte so that nothing after it is consumed.
func promptLine(cmd *cobra.Command, prompt string) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 1024 {
		n, err := cmd.InOrStdin().Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
			continue
		}
		if err != nil {
			if b.Len() == 0 {
				return "", usagef("no answer given")
			}
			break
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// promptSecret asks on standard error and reads a line without echo.
func promptSecret(cmd *cobra.Command, prompt string) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok {
		return "", usagef("standard input is not a terminal")
	}
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}

// pendingLogin is a login waiting for the SMS or email code that a previous
// `atelier login` sent. It lives next to the credentials file, mode 0600:
// the state token is short-lived and good for this one step only.
type pendingLogin struct {
	Endpoint   string    `json:"endpoint"`
	Profile    string    `json:"profile,omitempty"`
	Email      string    `json:"email"`
	TenantID   string    `json:"tenant_id,omitempty"`
	StateToken string    `json:"state_token"`
	Channel    string    `json:"channel"`
	Methods    []string  `json:"methods"`
	SentAt     time.Time `json:"sent_at"`
}

// pendingLoginTTL bounds how long a pending login is tried; the server's
// state tokens live shorter (10 minutes by default).
const pendingLoginTTL = time.Hour

func (p *pendingLogin) matches(endpoint, email, tenant string) bool {
	return p.Endpoint == endpoint && (email == "" || strings.EqualFold(email, p.Email)) &&
		(tenant == "" || tenant == p.TenantID) && time.Since(p.SentAt) < pendingLoginTTL
}

// pendingLoginPath returns the pending login's file, beside the credentials.
func pendingLoginPath() (string, error) {
	p, err := sdk.CredentialsPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "login-pending"), nil
}

// loadPendingLogin returns the pending login, or nil when there is none or
// it cannot be read.
func loadPendingLogin() *pendingLogin {
	path, err := pendingLoginPath()
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var p pendingLogin
	if json.Unmarshal(b, &p) != nil || p.StateToken == "" {
		return nil
	}
	return &p
}

// savePendingLogin writes p atomically with mode 0600.
func savePendingLogin(p *pendingLogin) error {
	path, err := pendingLoginPath()
	if err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode the pending login: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save the pending login: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600, false); err != nil {
		return fmt.Errorf("save the pending login: %w", err)
	}
	return nil
}

// removePendingLogin forgets the pending login, if any.
func removePendingLogin() {
	if path, err := pendingLoginPath(); err == nil {
		_ = os.Remove(path)
	}
}

// readLogin returns the email and password, prompting on a terminal, and
// with newPwStdin the new password from the line after the password.
func readLogin(cmd *cobra.Command, email string, pwStdin, newPwStdin bool) (string, string, string, error) {
	in := cmd.InOrStdin()
	tty := isTerminal(in)
	if email == "" {
		if !tty || pwStdin {
			return "", "", "", usagef("--email is required when standard input is not a terminal or carries the password")
		}
		line, err := promptLine(cmd, "Email: ")
		if err != nil {
			return "", "", "", usagef("no email given")
		}
		email = line
	}
	if email == "" {
		return "", "", "", usagef("no email given")
	}
	if pwStdin {
		b, err := io.ReadAll(io.LimitReader(in, 1<<16))
		if err != nil {
			return "", "", "", fmt.Errorf("read the password: %w", err)
		}
		text := strings.TrimRight(string(b), "\r\n")
		var newPw string
		if newPwStdin {
			var rest string
			text, rest, _ = strings.Cut(text, "\n")
			text = strings.TrimRight(text, "\r")
			newPw, _, _ = strings.Cut(rest, "\n")
			newPw = strings.TrimRight(newPw, "\r")
			if newPw == "" {
				return "", "", "", usagef("--new-password-stdin: standard input has no second line with the new password")
			}
		}
		if text == "" {
			return "", "", "", usagef("--password-stdin: standard input is empty")
		}
		return email, text, newPw, nil
	}
	if !tty {
		return "", "", "", usagef("standard input is not a terminal; pass the password with --password-stdin")
	}
	pw, err := promptSecret(cmd, "Password: ")
	if err != nil {
		return "", "", "", err
	}
	return email, pw, "", nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func newAPIKeyCommand() *cobra.Command {
	cmd := groupCommand("apikey", "Manage your API keys (access/secret key pairs)")
	var desc string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key; its secret is shown only once",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			k, err := c.CreateAPIKey(ctxOf(cmd), desc)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, k)
			}
			tw := table(cmd)
			fmt.Fprintf(tw, "ACCESS KEY\tSECRET KEY\tDESCRIPTION\n%s\t%s\t%s\n", k.AccessKey, k.SecretKey, k.Description)
			fmt.Fprintln(cmd.ErrOrStderr(), "The secret key is shown only now; store it safely.")
			return tw.Flush()
		}),
	}
	create.Flags().StringVar(&desc, "description", "", "what the key is for (up to 256 characters)")
	list := &cobra.Command{
		Use:   "ls",
		Short: "List your API keys",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			keys, err := c.ListAPIKeys(ctxOf(cmd))
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if keys == nil {
					keys = []*core.APIKey{}
				}
				return printJSON(cmd, map[string]any{"api_keys": keys})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ACCESS KEY\tCREATED\tDESCRIPTION")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.AccessKey, k.CreatedAt.UTC().Format(time.RFC3339), k.Description)
			}
			return tw.Flush()
		}),
	}
	del := &cobra.Command{
		Use:   "rm ACCESS_KEY",
		Short: "Delete an API key and revoke the tokens issued for it",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteAPIKey(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": args[0]}, "Deleted API key %s", args[0])
		}),
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
