package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/store"
)

// newAdminCommand returns `atelier admin`: maintenance that works on a
// server's data directly, on the machine it runs on, with no server and no
// login.
func newAdminCommand() *cobra.Command {
	admin := &cobra.Command{
		Use:   "admin",
		Short: "Offline maintenance of a server's data (no server, no login)",
		Args:  exactArgs(0),
	}
	admin.AddCommand(newResetPasswordCommand())
	return admin
}

// newResetPasswordCommand returns `atelier admin reset-password`.
func newResetPasswordCommand() *cobra.Command {
	cfg := configFromEnv(os.Getenv)
	var email, tenant string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password --data-dir DIR --email EMAIL",
		Short: "Set a user's password directly in the database, e.g. a lost admin password",
		Long: `Set a user's password directly in the server's database, for an operator at
the server's machine who has lost every admin password.

The new password is read from a no-echo prompt (twice), or from standard input with
--password-stdin. The tenant's password rules apply. The account is unlocked, every
session and key token of the user is revoked, and the reset is written to the audit log
(user.password_reset, reason offline).

With SQLite it takes the data directory's lock, so it refuses while a server runs on the
directory: stop the server first. Settings come from the same flags and ATELIER_*
variables as the server's (--data-dir, --database-url).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if email == "" {
				return usagef("--email is required")
			}
			// The store first: a running server or a wrong directory is
			// said before the password is asked for.
			st, done, err := openOffline(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer done()
			pw, err := readSecret(cmd, fromStdin, "New password", true)
			if err != nil {
				return err
			}
			svc := identity.New(st, identity.Options{Logger: slog.New(slog.DiscardHandler)})
			u, err := svc.ResetPasswordOffline(cmd.Context(), tenant, email, pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "atelier: the password of %s (user %s, tenant %s) is reset; its sessions and key tokens are revoked\n", u.Email, u.ID, u.TenantID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "the server's data directory (env ATELIER_DATA_DIR, default "+DefaultDataDir+")")
	f.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "the server's metadata store (env ATELIER_DATABASE_URL, default sqlite://<data-dir>/atelier.db)")
	f.StringVar(&email, "email", "", "email of the user")
	f.StringVar(&tenant, "tenant", "", "tenant id, when the email exists in several tenants")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the new password from standard input")
	return cmd
}

// openOffline opens the server's metadata store for offline maintenance,
// holding the data directory's lock (SQLite) until done is called.
func openOffline(ctx context.Context, cfg ServerConfig) (_ store.Store, done func(), err error) {
	cfg = cfg.withDefaults()
	scheme := urlScheme(cfg.DatabaseURL)
	open, ok := storeOpeners[scheme]
	if !ok {
		return nil, nil, usagef("--database-url: %q is neither sqlite:// nor postgres://", cfg.DatabaseURL)
	}
	var lock *os.File
	if scheme == "sqlite" {
		// Never create a database that is not there: a wrong --data-dir
		// must say so.
		if _, err := os.Stat(sqlitePath(cfg.DatabaseURL)); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("no database at %s: is --data-dir the server's?", sqlitePath(cfg.DatabaseURL))
		}
		if lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, nil, fmt.Errorf("%w; stop the server first", err)
		}
	}
	st, err := open(ctx, cfg.DatabaseURL)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, nil, fmt.Errorf("open metadata store (%s): %w", scheme, err)
	}
	return st, func() {
		_ = st.Close()
		if lock != nil {
			_ = lock.Close()
		}
	}, nil
}
