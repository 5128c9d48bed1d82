package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// loginTarget returns the profile a login saves to ("" to pick one after
// the login, by its server) and the server it logs in to: --endpoint, else
// $ATELIER_ENDPOINT, else (finishing a pending login) the pending login's,
// else the named profile's, else (for a new profile too) the current one's,
// else the default.
func loginTarget(cmd *cobra.Command, resume bool) (profile, endpoint string, err error) {
	sel := selection(cmd)
	profile = firstOf(sel.Profile, os.Getenv(sdk.EnvProfile))
	if profile != "" {
		if err := sdk.CheckProfileName(profile); err != nil {
			return "", "", usageError{cliError(err)}
		}
	}
	endpoint = firstOf(sel.Endpoint, os.Getenv(sdk.EnvEndpoint))
	if endpoint == "" && resume {
		// `atelier login --mfa-code CODE` finishes the login that the last
		// run left waiting, on its server.
		if p := loadPendingLogin(); p != nil {
			endpoint, profile = p.Endpoint, firstOf(profile, p.Profile)
		}
	}
	if endpoint == "" {
		// An unreadable file is replaced by the login (saveLogin says so).
		// A new profile logs in to the current profile's server.
		if f, err := sdk.LoadCredentialsFile(); err == nil {
			if cr := f.Profiles[profile]; cr != nil {
				endpoint = cr.Endpoint
			} else if cr := f.Profiles[f.Current]; cr != nil {
				endpoint = cr.Endpoint
			}
		}
	}
	return profile, firstOf(endpoint, sdk.DefaultEndpoint), nil
}

// saveLogin saves cr as profile (when "", the profile for its server or a
// new one), makes it current and returns its name. An unreadable
// credentials file is replaced, with a warning; one of a newer client is
// left alone.
func saveLogin(cmd *cobra.Command, profile string, cr *sdk.Credentials) (string, error) {
	f, err := sdk.LoadCredentialsFile()
	if errors.Is(err, sdk.ErrCredentialsFileNewer) {
		return "", err
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v; replacing it\n", err)
		f = &sdk.CredentialsFile{Profiles: map[string]*sdk.Credentials{}}
	}
	if profile == "" {
		if profile, _ = f.ForEndpoint(cr.Endpoint); profile == "" {
			profile = f.NewProfileName(cr.Endpoint)
		}
	}
	f.Profiles[profile], f.Current = cr, profile
	return profile, sdk.SaveCredentialsFile(f)
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved token of the profile for the server and forget it",
		Long: "Revoke the token of the profile that a command would use (--profile, $ATELIER_PROFILE,\n" +
			"the current one, or the one for --endpoint / $ATELIER_ENDPOINT) and remove it from the\n" +
			"credentials file. The profile stays, with its server, so that `atelier login` logs in\n" +
			"to it again; `atelier profile rm` forgets it altogether.",
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			f, err := sdk.LoadCredentialsFile()
			if err != nil {
				return err
			}
			name, cr, endpoint, err := f.Select(selection(cmd))
			if err != nil {
				return usageError{cliError(err)}
			}
			if cr == nil || cr.Token == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "not logged in to %s\n", endpoint)
				return report(cmd, map[string]any{"logged_out": false, "endpoint": endpoint}, "Nothing to do")
			}
			c, err := sdk.New(sdk.Options{Endpoint: cr.Endpoint, Token: cr.Token, UserAgent: "atelier-cli/" + version})
			if err != nil {
				return usageError{cliError(err)}
			}
			revokeErr := c.Logout(ctxOf(cmd))
			if core.IsKind(revokeErr, core.Unauthenticated) {
				revokeErr = nil // expired or revoked already
			}
			if f, err = sdk.LoadCredentialsFile(); err != nil { // another command may have changed it
				return err
			}
			if p := f.Profiles[name]; p != nil && p.Token == cr.Token {
				p.Token, p.ExpiresAt = "", time.Time{}
				if err := sdk.SaveCredentialsFile(f); err != nil {
					return err
				}
			}
			if revokeErr != nil {
				return fmt.Errorf("removed the local token, but revoking it on the server failed: %w", revokeErr)
			}
			return report(cmd, map[string]any{"logged_out": true, "profile": name, "endpoint": cr.Endpoint},
				"Logged out of %s (profile %s)", cr.Endpoint, name)
		}),
	}
}

// profileRow is one profile as `atelier profile ls -o json` prints it: no
// token, whether there is one.
type profileRow struct {
	Name      string    `json:"name"`
	Current   bool      `json:"current"`
	Endpoint  string    `json:"endpoint"`
	LoggedIn  bool      `json:"logged_in"`
	Email     string    `json:"email,omitempty"`
	TenantID  string    `json:"tenant_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func newProfileCommand() *cobra.Command {
	cmd := groupCommand("profile", "List, switch and remove the saved logins (one profile per server login)")
	cmd.Long = "Each `atelier login` saves its token in a profile bound to the server that issued it; a token is\n" +
		"never sent to another server. Commands use the profile named by --profile or $ATELIER_PROFILE,\n" +
		"else the current one, else the one for --endpoint / $ATELIER_ENDPOINT."
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the profiles; * marks the current one",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			f, err := sdk.LoadCredentialsFile()
			if err != nil {
				return err
			}
			rows := []profileRow{}
			for _, n := range f.Names() {
				cr := f.Profiles[n]
				rows = append(rows, profileRow{Name: n, Current: n == f.Current, Endpoint: cr.Endpoint, LoggedIn: cr.Token != "",
					Email: cr.Email, TenantID: cr.TenantID, UserID: cr.UserID, ExpiresAt: cr.ExpiresAt})
			}
			if isJSON(cmd) {
				return printJSON(cmd, map[string]any{"current": f.Current, "profiles": rows})
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "  NAME\tENDPOINT\tUSER\tSTATUS")
			for _, r := range rows {
				mark, status := " ", "logged out"
				if r.Current {
					mark = "*"
				}
				if r.LoggedIn {
					status = "logged in"
					if !r.ExpiresAt.IsZero() {
						status += " until " + r.ExpiresAt.UTC().Format(time.RFC3339)
						if time.Now().After(r.ExpiresAt) {
							status = "expired"
						}
					}
				}
				fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, r.Name, r.Endpoint, firstOf(r.Email, r.UserID, "-"), status)
			}
			return tw.Flush()
		}),
	}
	use := &cobra.Command{
		Use:               "use PROFILE",
		Short:             "Make a profile the current one",
		Args:              exactArgs(1),
		ValidArgsFunction: completeProfiles,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			f, err := sdk.LoadCredentialsFile()
			if err != nil {
				return err
			}
			cr := f.Profiles[args[0]]
			if cr == nil {
				return usagef("there is no profile %q; see 'atelier profile ls'", args[0])
			}
			f.Current = args[0]
			if err := sdk.SaveCredentialsFile(f); err != nil {
				return err
			}
			return report(cmd, map[string]string{"current": args[0], "endpoint": cr.Endpoint}, "Now using profile %s (%s)", args[0], cr.Endpoint)
		}),
	}
	rm := &cobra.Command{
		Use:               "rm PROFILE",
		Short:             "Forget a profile (its token is not revoked: run 'atelier logout --profile PROFILE' first for that)",
		Args:              exactArgs(1),
		ValidArgsFunction: completeProfiles,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			f, err := sdk.LoadCredentialsFile()
			if err != nil {
				return err
			}
			if f.Profiles[args[0]] == nil {
				return usagef("there is no profile %q; see 'atelier profile ls'", args[0])
			}
			delete(f.Profiles, args[0])
			if f.Current == args[0] {
				f.Current = ""
			}
			if err := sdk.SaveCredentialsFile(f); err != nil {
				return err
			}
			return report(cmd, map[string]string{"removed": args[0]}, "Removed profile %s", args[0])
		}),
	}
	cmd.AddCommand(ls, use, rm)
	return cmd
}

// completeProfiles completes a profile name.
func completeProfiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	f, err := sdk.LoadCredentialsFile()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return f.Names(), cobra.ShellCompDirectiveNoFileComp
}
