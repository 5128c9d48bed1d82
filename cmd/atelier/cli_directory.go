package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// addDirectoryCommands adds the admin commands of the directory: tenant,
// user, org, app and audit.
func addDirectoryCommands(root *cobra.Command) {
	root.AddCommand(newTenantCommand(), newUserCommand(), newOrgCommand(), newAppCommand(), newAuditCommand())
}

// clientRun is the body of a command that talks to the server.
func clientRun(fn func(cmd *cobra.Command, c *sdk.Client, args []string) error) func(*cobra.Command, []string) error {
	return runE(func(cmd *cobra.Command, args []string) error {
		c, err := newClient(cmd)
		if err != nil {
			return err
		}
		return fn(cmd, c, args)
	})
}

// timeCell formats a time for a table, "-" when zero.
func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDash returns s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printFields prints name/value pairs as a two-column table.
func printFields(cmd *cobra.Command, pairs ...any) error {
	tw := table(cmd)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%v:\t%v\n", pairs[i], pairs[i+1])
	}
	return tw.Flush()
}

// readSecret reads a password: from standard input with fromStdin, else
// from a no-echo prompt on a terminal (asked twice when confirm is set).
// Passwords never come from flag values, which other users can see.
func readSecret(cmd *cobra.Command, fromStdin bool, prompt string, confirm bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(in, 1<<16))
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", usagef("--password-stdin: standard input is empty")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !isTerminal(in) {
		return "", usagef("standard input is not a terminal; pass the password with --password-stdin")
	}
	read := func(p string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	pw, err := read(prompt + ": ")
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := read("Repeat " + strings.ToLower(prompt) + ": ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", usagef("the passwords do not match")
		}
	}
	if pw == "" {
		return "", usagef("no password given")
	}
	return pw, nil
}

// --- tenant ---

func newTenantCommand() *cobra.Command {
	cmd := groupCommand("tenant", "Manage tenants (platform admins) and tenant security settings")
	cmd.AddCommand(newTenantCreateCommand(), newTenantLsCommand(), newTenantShowCommand(), newTenantSetCommand())
	return cmd
}

// settingsFlags are the flags of the tenant settings.
type settingsFlags struct {
	mfa                                              string
	captcha                                          bool
	minLength, minClasses, history, expiry, warnDays int
}

func (s *settingsFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.mfa, "mfa", "", "second factor: off, optional or required")
	f.BoolVar(&s.captcha, "captcha", false, "captcha verification on (sensitive operations then need no step-up code)")
	f.IntVar(&s.minLength, "min-length", 0, "minimum password length (0: default 8)")
	f.IntVar(&s.minClasses, "min-classes", 0, "character classes a password must mix, 1-4 (0: default 2)")
	f.IntVar(&s.history, "history", 0, "a new password may not be one of the last N (0: default 5)")
	f.IntVar(&s.expiry, "expiry-days", 0, "passwords expire after N days (0: never)")
	f.IntVar(&s.warnDays, "warn-days", 0, "warn N days before expiry (0: default 7)")
}

// apply sets the settings whose flags were given on set and reports
// whether any was.
func (s *settingsFlags) apply(cmd *cobra.Command, set *core.TenantSettings) bool {
	f := cmd.Flags()
	changed := false
	for name, fn := range map[string]func(){
		"mfa":         func() { set.MFA = s.mfa },
		"captcha":     func() { set.CaptchaVerification = s.captcha },
		"min-length":  func() { set.PasswordPolicy.MinLength = s.minLength },
		"min-classes": func() { set.PasswordPolicy.MinClasses = s.minClasses },
		"history":     func() { set.PasswordPolicy.History = s.history },
		"expiry-days": func() { set.PasswordPolicy.ExpiryDays = s.expiry },
		"warn-days":   func() { set.PasswordPolicy.WarnDays = s.warnDays },
	} {
		if f.Changed(name) {
			fn()
			changed = true
		}
	}
	return changed
}

func printTenant(cmd *cobra.Command, t *core.Tenant) error {
	if isJSON(cmd) {
		return printJSON(cmd, t)
	}
	p := t.Settings.PasswordPolicy
	return printFields(cmd, "ID", t.ID, "Name", t.Name, "MFA", orDash(t.Settings.MFA), "Captcha verification", t.Settings.CaptchaVerification,
		"Password min length", p.MinLength, "Password min classes", p.MinClasses, "Password history", p.History,
		"Password expiry days", p.ExpiryDays, "Password warn days", p.WarnDays, "Created", timeCell(t.CreatedAt), "Updated", timeCell(t.UpdatedAt))
}

func newTenantCreateCommand() *cobra.Command {
	var sf settingsFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant (platform admins)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			var set core.TenantSettings
			var settings *core.TenantSettings
			if sf.apply(cmd, &set) {
				settings = &set
			}
			t, err := c.CreateTenant(ctxOf(cmd), args[0], settings)
			if err != nil {
				return err
			}
			return printTenant(cmd, t)
		}),
	}
	sf.add(cmd)
	return cmd
}

func newTenantLsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List every tenant (platform admins)",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			ts, err := c.ListTenants(ctxOf(cmd))
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if ts == nil {
					ts = []*core.Tenant{}
				}
				return printJSON(cmd, map[string]any{"tenants": ts})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tNAME\tMFA\tCAPTCHA\tCREATED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", t.ID, t.Name, orDash(t.Settings.MFA), t.Settings.CaptchaVerification, timeCell(t.CreatedAt))
			}
			return tw.Flush()
		}),
	}
}

// tenantArg returns the tenant id of an optional argument, the caller's
// own when absent.
func tenantArg(cmd *cobra.Command, c *sdk.Client, args []string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	who, err := c.WhoAmI(ctxOf(cmd))
	if err != nil {
		return "", err
	}
	return who.TenantID, nil
}

func newTenantShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show [ID]",
		Short: "Describe a tenant (default: your own)",
		Args:  rangeArgs(0, 1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			id, err := tenantArg(cmd, c, args)
			if err != nil {
				return err
			}
			t, err := c.GetTenant(ctxOf(cmd), id)
			if err != nil {
				return err
			}
			return printTenant(cmd, t)
		}),
	}
}

func newTenantSetCommand() *cobra.Command {
	var sf settingsFlags
	cmd := &cobra.Command{
		Use:   "set [ID]",
		Short: "Change a tenant's security settings (default: your own tenant); unset flags keep their value",
		Args:  rangeArgs(0, 1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			var probe core.TenantSettings
			if !sf.apply(cmd, &probe) {
				return usagef("give at least one setting; see '%s --help'", cmd.CommandPath())
			}
			id, err := tenantArg(cmd, c, args)
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			t, err := c.GetTenant(ctx, id)
			if err != nil {
				return err
			}
			set := t.Settings
			sf.apply(cmd, &set)
			if t, err = c.UpdateTenantSettings(ctx, id, set); err != nil {
				return err
			}
			return printTenant(cmd, t)
		}),
	}
	sf.add(cmd)
	return cmd
}

// --- user ---

func newUserCommand() *cobra.Command {
	cmd := groupCommand("user", "Manage users")
	cmd.AddCommand(newUserCreateCommand(), newUserLsCommand(), newUserShowCommand(), newUserUpdateCommand(),
		newUserRmCommand(), newUserResetPasswordCommand(), newUserUnlockCommand())
	return cmd
}

// userFlags are the flags of the user fields.
type userFlags struct {
	email, name, display, mobile, role, status, org string
	mfa                                             bool
}

func (u *userFlags) add(cmd *cobra.Command, withStatus bool) {
	f := cmd.Flags()
	f.StringVar(&u.email, "email", "", "email address")
	f.StringVar(&u.name, "name", "", "user name (default: the email)")
	f.StringVar(&u.display, "display-name", "", "display name")
	f.StringVar(&u.mobile, "mobile", "", "mobile number, digits with an optional leading +")
	f.StringVar(&u.role, "role", "", "admin or member (default member)")
	f.StringVar(&u.org, "org", "", "organization id")
	f.BoolVar(&u.mfa, "mfa", false, "require a second factor even when the tenant's MFA is optional")
	if withStatus {
		f.StringVar(&u.status, "status", "", "active or disabled (disabling revokes the user's tokens)")
	}
}

// spec returns the fields whose flags were given.
func (u *userFlags) spec(cmd *cobra.Command) (core.UserSpec, bool) {
	f := cmd.Flags()
	var s core.UserSpec
	changed := false
	str := func(flag string, v string, dst **string) {
		if f.Changed(flag) {
			*dst = &v
			changed = true
		}
	}
	str("email", u.email, &s.Email)
	str("name", u.name, &s.UserName)
	str("display-name", u.display, &s.DisplayName)
	str("mobile", u.mobile, &s.Mobile)
	str("role", u.role, &s.Role)
	str("status", u.status, &s.Status)
	str("org", u.org, &s.OrgID)
	if f.Changed("mfa") {
		m := u.mfa
		s.MFA, changed = &m, true
	}
	return s, changed
}

func printUser(cmd *cobra.Command, u *core.User) error {
	if isJSON(cmd) {
		return printJSON(cmd, u)
	}
	return printFields(cmd, "ID", u.ID, "Tenant", u.TenantID, "Email", u.Email, "User name", u.Name,
		"Display name", orDash(u.DisplayName), "Mobile", orDash(u.Mobile), "Role", u.Role, "Status", u.Status,
		"Organization", orDash(u.OrgID), "MFA", u.MFA, "TOTP", u.TOTPEnabled, "Must change password", u.MustChangePassword,
		"Password changed", timeCell(u.PasswordChangedAt), "Failed logins", u.FailedLogins, "Locked until", timeCell(u.LockedUntil),
		"Created", timeCell(u.CreatedAt))
}

func newUserCreateCommand() *cobra.Command {
	var uf userFlags
	var tenant string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "create --email EMAIL",
		Short: "Create a user; the password is prompted for, or read from standard input with --password-stdin",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			spec, _ := uf.spec(cmd)
			if spec.Email == nil {
				return usagef("--email is required")
			}
			pw, err := readSecret(cmd, pwStdin, "Password", true)
			if err != nil {
				return err
			}
			spec.Password = &pw
			u, err := c.CreateUser(ctxOf(cmd), tenant, spec)
			if err != nil {
				return err
			}
			return printUser(cmd, u)
		}),
	}
	uf.add(cmd, false)
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newUserLsCommand() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the users of a tenant",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			users, err := c.ListUsers(ctxOf(cmd), tenant)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if users == nil {
					users = []*core.User{}
				}
				return printJSON(cmd, map[string]any{"users": users})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tEMAIL\tUSER NAME\tROLE\tSTATUS\tORG\tTOTP")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", u.ID, u.Email, u.Name, u.Role, u.Status, orDash(u.OrgID), u.TOTPEnabled)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	return cmd
}

func newUserShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show [ID|EMAIL]",
		Short: "Describe a user (default: yourself)",
		Args:  rangeArgs(0, 1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			id := "me"
			if len(args) > 0 {
				id = args[0]
			}
			u, err := c.GetUser(ctxOf(cmd), mustUserRef(cmd, c, id))
			if err != nil {
				return err
			}
			return printUser(cmd, u)
		}),
	}
}

func newUserUpdateCommand() *cobra.Command {
	var uf userFlags
	cmd := &cobra.Command{
		Use:   "update ID|EMAIL",
		Short: "Change a user's fields; unset flags keep their value",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			spec, changed := uf.spec(cmd)
			if !changed {
				return usagef("give at least one field to change; see '%s --help'", cmd.CommandPath())
			}
			u, err := c.UpdateUser(ctxOf(cmd), mustUserRef(cmd, c, args[0]), spec)
			if err != nil {
				return err
			}
			return printUser(cmd, u)
		}),
	}
	uf.add(cmd, true)
	return cmd
}

func newUserRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID|EMAIL",
		Short: "Delete a user with their tokens, API keys and app grants",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.DeleteUser(ctxOf(cmd), mustUserRef(cmd, c, args[0])); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": args[0]}, "Deleted user %s", args[0])
		}),
	}
}

func newUserResetPasswordCommand() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password ID|EMAIL",
		Short: "Set a user's password; they must change it at the next login and lose every session",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			pw, err := readSecret(cmd, pwStdin, "New password", true)
			if err != nil {
				return err
			}
			if err := c.ResetPassword(ctxOf(cmd), mustUserRef(cmd, c, args[0]), pw); err != nil {
				return err
			}
			return report(cmd, map[string]string{"password_reset": args[0]}, "Reset the password of user %s; it must be changed at the next login", args[0])
		}),
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newUserUnlockCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unlock ID|EMAIL",
		Short: "Clear a user's failed logins and lockout",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.UnlockUser(ctxOf(cmd), mustUserRef(cmd, c, args[0])); err != nil {
				return err
			}
			return report(cmd, map[string]string{"unlocked": args[0]}, "Unlocked user %s", args[0])
		}),
	}
}

// --- org ---

func newOrgCommand() *cobra.Command {
	cmd := groupCommand("org", "Manage the organization tree")
	cmd.AddCommand(newOrgCreateCommand(), newOrgLsCommand(), newOrgShowCommand(), newOrgMvCommand(), newOrgRenameCommand(), newOrgRmCommand())
	return cmd
}

func printOrg(cmd *cobra.Command, o *core.Organization) error {
	if isJSON(cmd) {
		return printJSON(cmd, o)
	}
	return printFields(cmd, "ID", o.ID, "Tenant", o.TenantID, "Name", o.Name, "Parent", orDash(o.ParentID), "Created", timeCell(o.CreatedAt))
}

func newOrgCreateCommand() *cobra.Command {
	var parent, tenant string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an organization (under --parent, else a root)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			o, err := c.CreateOrg(ctxOf(cmd), tenant, args[0], parent)
			if err != nil {
				return err
			}
			return printOrg(cmd, o)
		}),
	}
	cmd.Flags().StringVar(&parent, "parent", "", "parent organization id")
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	return cmd
}

// orgTree returns the organizations in depth-first order with their depth;
// children follow their parent, siblings by name. Organizations whose parent
// is missing count as roots.
func orgTree(orgs []*core.Organization) ([]*core.Organization, []int) {
	byID := map[string]bool{}
	for _, o := range orgs {
		byID[o.ID] = true
	}
	children := map[string][]*core.Organization{}
	for _, o := range orgs {
		p := o.ParentID
		if !byID[p] {
			p = ""
		}
		children[p] = append(children[p], o)
	}
	for _, cs := range children {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	}
	var out []*core.Organization
	var depth []int
	seen := map[string]bool{}
	var walk func(id string, d int)
	walk = func(id string, d int) {
		for _, o := range children[id] {
			if seen[o.ID] {
				continue
			}
			seen[o.ID] = true
			out, depth = append(out, o), append(depth, d)
			walk(o.ID, d+1)
		}
	}
	walk("", 0)
	return out, depth
}

func newOrgLsCommand() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "Print the organization tree",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			orgs, err := c.ListOrgs(ctxOf(cmd), tenant)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if orgs == nil {
					orgs = []*core.Organization{}
				}
				return printJSON(cmd, map[string]any{"orgs": orgs})
			}
			tree, depth := orgTree(orgs)
			tw := table(cmd)
			fmt.Fprintln(tw, "NAME\tID")
			for i, o := range tree {
				fmt.Fprintf(tw, "%s%s\t%s\n", strings.Repeat("  ", depth[i]), o.Name, o.ID)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	return cmd
}

func newOrgShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Describe an organization",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			o, err := c.GetOrg(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			return printOrg(cmd, o)
		}),
	}
}

func newOrgMvCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mv ID PARENT_ID",
		Short: "Move an organization under another (PARENT_ID / makes it a root)",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			parent := args[1]
			if parent == "/" {
				parent = ""
			}
			o, err := c.UpdateOrg(ctxOf(cmd), args[0], nil, &parent)
			if err != nil {
				return err
			}
			return printOrg(cmd, o)
		}),
	}
}

func newOrgRenameCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rename ID NAME",
		Short: "Rename an organization",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			o, err := c.UpdateOrg(ctxOf(cmd), args[0], &args[1], nil)
			if err != nil {
				return err
			}
			return printOrg(cmd, o)
		}),
	}
}

func newOrgRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Delete an organization without sub-organizations or users",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.DeleteOrg(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": args[0]}, "Deleted organization %s", args[0])
		}),
	}
}

// --- app ---

func newAppCommand() *cobra.Command {
	cmd := groupCommand("app", "Manage registered apps and who may use them")
	cmd.AddCommand(newAppCreateCommand(), newAppLsCommand(), newAppShowCommand(), newAppUpdateCommand(), newAppRmCommand(),
		newAppGrantCommand(), newAppRevokeCommand(), newAppUsersCommand(), newAppRotateSecretCommand(), newAppCallbackCommand())
	return cmd
}

// appFlags are the flags of the app fields.
type appFlags struct {
	name, access string
	isv, public  bool
	redirects    []string
	ttl          int64
}

func (a *appFlags) add(cmd *cobra.Command, withName bool) {
	f := cmd.Flags()
	if withName {
		f.StringVar(&a.name, "name", "", "app name")
	}
	f.StringVar(&a.access, "access", "", "who may use the app: all (every user of the tenant) or granted")
	f.BoolVar(&a.isv, "isv", false, "ISV app: users of every tenant log in through it, naming their tenant (platform admins)")
	f.BoolVar(&a.public, "public", false, "public client: no client secret, PKCE required")
	f.StringArrayVar(&a.redirects, "redirect-uri", nil, "OIDC redirect URI, matched exactly (repeatable; on update replaces the list)")
	f.Int64Var(&a.ttl, "id-token-ttl", 0, "id_token lifetime in seconds, 300-86400 (0: 2 hours)")
}

// spec returns the fields whose flags were given.
func (a *appFlags) spec(cmd *cobra.Command) (core.AppSpec, bool) {
	f := cmd.Flags()
	var s core.AppSpec
	changed := false
	if f.Changed("name") {
		s.Name, changed = &a.name, true
	}
	if f.Changed("access") {
		s.Access, changed = &a.access, true
	}
	if f.Changed("isv") {
		s.ISV, changed = &a.isv, true
	}
	if f.Changed("public") {
		s.Public, changed = &a.public, true
	}
	if f.Changed("redirect-uri") {
		s.RedirectURIs, changed = &a.redirects, true
	}
	if f.Changed("id-token-ttl") {
		s.IDTokenTTL, changed = &a.ttl, true
	}
	return s, changed
}

func printApp(cmd *cobra.Command, a *core.App, secret string) error {
	if isJSON(cmd) {
		if secret != "" {
			return printJSON(cmd, &core.NewApp{App: *a, ClientSecret: secret})
		}
		return printJSON(cmd, a)
	}
	pairs := []any{"Client ID", a.ClientID, "Name", a.Name, "Tenant", a.TenantID, "Access", a.Access, "ISV", a.ISV,
		"Built in", a.BuiltIn, "Redirect URIs", orDash(strings.Join(a.RedirectURIs, " ")), "ID token TTL", a.IDTokenTTL, "Created", timeCell(a.CreatedAt)}
	if secret != "" {
		pairs = append(pairs, "Client secret", secret)
	}
	if err := printFields(cmd, pairs...); err != nil {
		return err
	}
	if secret != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "The client secret is shown only now; store it safely.")
	}
	return nil
}

func newAppCreateCommand() *cobra.Command {
	var af appFlags
	var tenant string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Register an app; its client secret is shown only once",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			spec, _ := af.spec(cmd)
			spec.Name = &args[0]
			a, err := c.CreateApp(ctxOf(cmd), tenant, spec)
			if err != nil {
				return err
			}
			return printApp(cmd, &a.App, a.ClientSecret)
		}),
	}
	af.add(cmd, false)
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	return cmd
}

func newAppLsCommand() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List a tenant's apps",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			apps, err := c.ListApps(ctxOf(cmd), tenant)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if apps == nil {
					apps = []*core.App{}
				}
				return printJSON(cmd, map[string]any{"apps": apps})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "CLIENT ID\tNAME\tACCESS\tISV\tBUILT IN")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\n", a.ClientID, a.Name, a.Access, a.ISV, a.BuiltIn)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (platform admins; default your own)")
	return cmd
}

func newAppShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Describe an app",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			a, err := c.GetApp(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			return printApp(cmd, a, "")
		}),
	}
}

func newAppUpdateCommand() *cobra.Command {
	var af appFlags
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change an app's fields; unset flags keep their value",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			spec, changed := af.spec(cmd)
			if !changed {
				return usagef("give at least one field to change; see '%s --help'", cmd.CommandPath())
			}
			a, err := c.UpdateApp(ctxOf(cmd), args[0], spec)
			if err != nil {
				return err
			}
			return printApp(cmd, a, "")
		}),
	}
	af.add(cmd, true)
	return cmd
}

func newAppRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm CLIENT_ID",
		Short: "Delete an app with its grants and the tokens issued through it",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.DeleteApp(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			return report(cmd, map[string]string{"deleted": args[0]}, "Deleted app %s", args[0])
		}),
	}
}

func newAppGrantCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "grant CLIENT_ID USER",
		Short: "Let a user use an app whose access is granted",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.GrantApp(ctxOf(cmd), args[0], mustUserRef(cmd, c, args[1])); err != nil {
				return err
			}
			return report(cmd, map[string]string{"client_id": args[0], "granted": args[1]}, "Granted app %s to user %s", args[0], args[1])
		}),
	}
}

func newAppRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke CLIENT_ID USER",
		Short: "Take back a user's grant of an app",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := c.RevokeApp(ctxOf(cmd), args[0], mustUserRef(cmd, c, args[1])); err != nil {
				return err
			}
			return report(cmd, map[string]string{"client_id": args[0], "revoked": args[1]}, "Revoked app %s from user %s", args[0], args[1])
		}),
	}
}

func newAppUsersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "users CLIENT_ID",
		Short: "List the users granted an app",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			ids, err := c.ListAppUsers(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				if ids == nil {
					ids = []string{}
				}
				return printJSON(cmd, map[string]any{"user_ids": ids})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "USER ID")
			for _, id := range ids {
				fmt.Fprintln(tw, id)
			}
			return tw.Flush()
		}),
	}
}

func newAppRotateSecretCommand() *cobra.Command {
	var channel, code, token, verificationID string
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give an app a new client secret (a sensitive operation: a code is sent to you first)",
		Long: "Give an app a new client secret; the old one stops working at once. Unless the tenant has captcha\n" +
			"verification on, the server wants a step-up verification: a code is sent to you by --channel and\n" +
			"prompted for on a terminal (or read as one line of standard input). Scripts finish in a second run:\n" +
			"atelier app rotate-secret CLIENT_ID --verification-id ID --code CODE.",
		Args: exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			ctx := ctxOf(cmd)
			clientID := args[0]
			if code != "" && verificationID == "" {
				return usagef("--code needs the --verification-id that the first run printed")
			}
			if verificationID != "" && token == "" {
				tok, _, err := c.ConfirmVerification(ctx, verificationID, code)
				if err != nil {
					return err
				}
				token = tok
			}
			a, err := c.RotateAppSecret(ctx, clientID, token)
			if core.ErrorCode(err) == core.CodeVerifyNeeded.ID && token == "" {
				var v *core.Verification
				v, err = c.StartVerification(ctx, "app.rotate_secret", channel, map[string]string{"client_id": clientID})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "A verification code was sent by %s to %s.\n", v.Channel, v.To)
				if code, err = readCode(cmd, ""); err != nil {
					return usagef("no code on standard input: finish within 5 minutes with `atelier app rotate-secret %s --verification-id %s --code CODE`", clientID, v.ID)
				}
				tok, _, err := c.ConfirmVerification(ctx, v.ID, code)
				if err != nil {
					return err
				}
				a, err = c.RotateAppSecret(ctx, clientID, tok)
			}
			if err != nil {
				return err
			}
			return printApp(cmd, &a.App, a.ClientSecret)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&channel, "channel", "email", "where the verification code goes: email or sms")
	f.StringVar(&verificationID, "verification-id", "", "the verification a first run started (with --code)")
	f.StringVar(&code, "code", "", "the code of --verification-id")
	f.StringVar(&token, "verification-token", "", "a verification token obtained already for app.rotate_secret")
	return cmd
}

// readCode returns code when set, else prompts for it on a terminal, else
// reads one line of standard input.
func readCode(cmd *cobra.Command, code string) (string, error) {
	if code != "" {
		return code, nil
	}
	in := cmd.InOrStdin()
	if isTerminal(in) {
		fmt.Fprint(cmd.ErrOrStderr(), "Code: ")
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", usagef("no verification code given; pass --code or type it on a terminal")
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", usagef("no verification code given")
	}
	return line, nil
}

// --- audit ---

func newAuditCommand() *cobra.Command {
	cmd := groupCommand("audit", "Query the audit log (admins)")
	cmd.AddCommand(newAuditLsCommand())
	return cmd
}

func newAuditLsCommand() *cobra.Command {
	var q core.AuditQuery
	var since, until string
	var all bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List audit events, newest first",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			for _, tp := range []struct {
				flag, v string
				dst     *time.Time
			}{{"since", since, &q.Since}, {"until", until, &q.Until}} {
				if tp.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, tp.v)
				if err != nil {
					return usagef("--%s must be an RFC 3339 time like 2025-01-02T15:04:05Z", tp.flag)
				}
				*tp.dst = t
			}
			if q.Limit < 0 || q.Limit > 1000 {
				return usagef("--limit must be 1 to 1000")
			}
			ctx := ctxOf(cmd)
			var events []*core.AuditEvent
			var next string
			tw := table(cmd)
			if !isJSON(cmd) {
				fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tACTOR\tTARGET\tIP\tREASON")
			}
			for {
				page, err := c.ListAudit(ctx, q)
				if err != nil {
					return err
				}
				if isJSON(cmd) {
					events = append(events, page.Events...)
				} else {
					for _, e := range page.Events {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339Nano), e.Action, e.Outcome,
							orDash(firstOf(e.Actor, e.ActorID)), orDash(e.Target), orDash(e.IP), orDash(e.Reason))
					}
				}
				next = page.NextCursor
				if !all || next == "" {
					break
				}
				q.Cursor = next
			}
			if isJSON(cmd) {
				if events == nil {
					events = []*core.AuditEvent{}
				}
				return printJSON(cmd, core.AuditPage{Events: events, NextCursor: next})
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "More events follow: --cursor %s, or --all.\n", next)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&q.Action, "action", "", "exact action, or a prefix ending in a dot (user.)")
	f.StringVar(&q.ActorID, "actor", "", "only events of this user id")
	f.StringVar(&q.Outcome, "outcome", "", "success or failure")
	f.StringVar(&since, "since", "", "RFC 3339 time, inclusive")
	f.StringVar(&until, "until", "", "RFC 3339 time, exclusive")
	f.StringVar(&q.TenantID, "tenant", "", "tenant id (platform admins; default all tenants)")
	f.StringVar(&q.Cursor, "cursor", "", "continue after a previous page")
	f.IntVar(&q.Limit, "limit", 0, "events per page, 1-1000 (default 100)")
	f.BoolVar(&all, "all", false, "follow the cursors to the end of the log")
	return cmd
}

// mustUserRef turns a user reference into a user id: an email (it has an
// "@") is looked up among the users the caller can list; anything else is
// taken as an id (or "me"). An email that matches no user is passed on as
// it is, so that the server's "does not exist" answers.
func mustUserRef(cmd *cobra.Command, c *sdk.Client, ref string) string {
	if !strings.Contains(ref, "@") {
		return ref
	}
	users, err := c.ListUsers(ctxOf(cmd), "")
	if err != nil {
		return ref
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, ref) {
			return u.ID
		}
	}
	return ref
}
