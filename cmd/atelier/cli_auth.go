package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newLoginCommand() *cobra.Command {
	var email, tenant, ak, sk string
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and save the credentials for later commands",
		Long: "Log in with an email and password (prompted for on a terminal, or read from standard input\n" +
			"with --password-stdin), or with an API key pair, and save the token in the credentials file.",
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if (ak == "") != (sk == "") {
				return usagef("--access-key and --secret-key go together")
			}
			opts, err := clientOptions(cmd)
			if err != nil {
				return err
			}
			c, err := sdk.New(sdk.Options{Endpoint: opts.Endpoint, UserAgent: opts.UserAgent})
			if err != nil {
				return usageError{cliError(err)}
			}
			ctx := ctxOf(cmd)
			cr := &sdk.Credentials{Endpoint: c.Endpoint()}
			if ak != "" {
				if email != "" || pwStdin {
					return usagef("use either --access-key/--secret-key or --email/--password-stdin")
				}
				it, err := c.ExchangeKey(ctx, ak, sk)
				if err != nil {
					return err
				}
				cr.Token, cr.ExpiresAt, cr.TenantID, cr.UserID = it.Token, it.ExpiresAt, it.TenantID, it.UserID
			} else {
				email, password, err := readLogin(cmd, email, pwStdin)
				if err != nil {
					return err
				}
				res, err := c.LoginEmail(ctx, email, password, tenant)
				if err != nil {
					return err
				}
				if res.Status == core.LoginPasswordWarn {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: your password expires soon; change it")
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
			if err := sdk.SaveCredentials(cr); err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, map[string]any{"endpoint": cr.Endpoint, "email": cr.Email, "tenant_id": cr.TenantID,
					"user_id": cr.UserID, "role": who.Role, "expires_at": cr.ExpiresAt})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (tenant %s, role %s)\n", cr.Endpoint, firstOf(cr.Email, cr.UserID), cr.TenantID, who.Role)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "email to log in with (prompted for on a terminal)")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	f.StringVar(&tenant, "tenant", "", "tenant ID, when the email exists in several tenants")
	f.StringVar(&ak, "access-key", "", "log in with this API access key")
	f.StringVar(&sk, "secret-key", "", "the API key's secret")
	return cmd
}

// readLogin returns the email and password, prompting on a terminal.
func readLogin(cmd *cobra.Command, email string, pwStdin bool) (string, string, error) {
	in := cmd.InOrStdin()
	tty := isTerminal(in)
	var br *bufio.Reader
	if email == "" {
		if !tty || pwStdin {
			return "", "", usagef("--email is required when standard input is not a terminal or carries the password")
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Email: ")
		br = bufio.NewReader(in)
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			return "", "", usagef("no email given")
		}
		email = strings.TrimSpace(line)
	}
	if email == "" {
		return "", "", usagef("no email given")
	}
	if pwStdin {
		b, err := io.ReadAll(io.LimitReader(in, 1<<16))
		if err != nil {
			return "", "", fmt.Errorf("read the password: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", "", usagef("--password-stdin: standard input is empty")
		}
		return email, pw, nil
	}
	if !tty {
		return "", "", usagef("standard input is not a terminal; pass the password with --password-stdin")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	b, err := term.ReadPassword(int(in.(*os.File).Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", "", fmt.Errorf("read the password: %w", err)
	}
	return email, string(b), nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved token and remove the credentials file",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd)
			if err != nil {
				return err
			}
			var revokeErr error
			if c.Token() != "" {
				revokeErr = c.Logout(ctxOf(cmd))
				if core.IsKind(revokeErr, core.Unauthenticated) {
					revokeErr = nil // expired or revoked already
				}
			}
			if err := sdk.RemoveCredentials(); err != nil {
				return err
			}
			if revokeErr != nil {
				return fmt.Errorf("removed the local credentials, but revoking the token failed: %w", revokeErr)
			}
			return report(cmd, map[string]bool{"logged_out": true}, "Logged out")
		}),
	}
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
		Use:   "list",
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
		Use:   "delete ACCESS_KEY",
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
