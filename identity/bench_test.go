package identity_test

import (
	"log/slog"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
)

// mustBenchEnv is MustEnv with the shipped argon2id parameters, no login
// rate limits and a logger that discards, so that a long benchmark neither
// hits 429s nor piles up log lines.
func mustBenchEnv(b *testing.B) *env {
	b.Helper()
	return MustEnv(b, func(o *identity.Options) {
		o.Argon2 = identity.DefaultArgon2
		o.LoginRatePerIP, o.LoginRatePerUser = -1, -1
		o.Logger = slog.New(slog.DiscardHandler)
	})
}

// BenchmarkLogin measures one email login through the CLI app, one after
// the other, over a real SQLite store: the argon2id check of the password
// with identity.DefaultArgon2 (19 MiB, 2 passes, 1 lane, the shipped cost),
// the new session token, the signed id_token and the audit event.
func BenchmarkLogin(b *testing.B) {
	e := mustBenchEnv(b)
	ctx := b.Context()
	admin := e.MustAdmin(b)
	params, _, err := identity.ParsePHC(admin.PasswordHash)
	if err != nil {
		b.Fatal(err)
	}
	if want := identity.DefaultArgon2; params != want {
		b.Fatalf("admin hash has argon2id parameters %+v, want the shipped %+v", params, want)
	}
	e.MustLogin(b, adminEmail, adminPass) // creates the signing key outside the loop
	req := atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: adminEmail, Password: adminPass}
	for b.Loop() {
		res, err := e.svc.Login(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if res.Status != atelier.LoginSuccess {
			b.Fatalf("login status %s, want %s", res.Status, atelier.LoginSuccess)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkAuthenticate measures checking a session token, the work
// every authenticated request does, over a real SQLite store.
func BenchmarkAuthenticate(b *testing.B) {
	e := mustBenchEnv(b)
	tok, _ := e.MustLogin(b, adminEmail, adminPass)
	ctx := b.Context()
	for b.Loop() {
		p, err := e.svc.Authenticate(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if p.Role != atelier.RoleAdmin {
			b.Fatalf("principal role %q, want %q", p.Role, atelier.RoleAdmin)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
