package identity

import (
	"cmp"
	"context"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// maxPasswordLen bounds passwords, in bytes, so that hashing stays cheap to
// refuse.
const maxPasswordLen = 1024

// policyFor returns the tenant's password policy with defaults filled in.
func (s *Service) policyFor(ctx context.Context, tenantID string) (atelier.PasswordPolicy, error) {
	t, err := s.st.GetTenant(ctx, tenantID)
	if err != nil {
		return atelier.PasswordPolicy{}, storeError("get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	return effectivePolicy(t.Settings.PasswordPolicy), nil
}

// effectivePolicy fills the zero fields of p from DefaultPasswordPolicy.
// ExpiryDays stays 0 (never) unless set.
func effectivePolicy(p atelier.PasswordPolicy) atelier.PasswordPolicy {
	d := atelier.DefaultPasswordPolicy
	p.MinLength = cmp.Or(p.MinLength, d.MinLength)
	p.MinClasses = cmp.Or(p.MinClasses, d.MinClasses)
	p.History = cmp.Or(p.History, d.History)
	p.WarnDays = cmp.Or(p.WarnDays, d.WarnDays)
	return p
}

// validatePolicy checks an admin's policy settings.
func validatePolicy(p atelier.PasswordPolicy) error {
	bad := func(field, rule string) error {
		return atelier.CodeInvalidParam.Errorf("The password policy's %s %s.", field, rule).WithField("password_policy." + field)
	}
	switch {
	case p.MinLength < 0 || p.MinLength > 128:
		return bad("min_length", "must be 0 (default) to 128")
	case p.MinClasses < 0 || p.MinClasses > 4:
		return bad("min_classes", "must be 0 (default) to 4")
	case p.History < 0 || p.History > 24:
		return bad("history", "must be 0 (default) to 24")
	case p.ExpiryDays < 0 || p.ExpiryDays > 3650:
		return bad("expiry_days", "must be 0 (never) to 3650")
	case p.WarnDays < 0 || (p.ExpiryDays > 0 && p.WarnDays >= p.ExpiryDays):
		return bad("warn_days", "must be at least 0 and less than expiry_days")
	}
	return nil
}

// checkPasswordRules checks a password against the length and class rules.
func checkPasswordRules(p atelier.PasswordPolicy, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return atelier.CodePasswordPolicy.Errorf("The password must not be empty.").WithField("password")
	case !utf8.ValidString(password):
		return atelier.CodePasswordPolicy.Errorf("The password must be valid UTF-8.").WithField("password")
	case len(password) > maxPasswordLen:
		return atelier.CodePasswordPolicy.Errorf("The password must be at most %d bytes.", maxPasswordLen).WithField("password")
	case n < p.MinLength:
		return atelier.CodePasswordPolicy.Errorf("The password must be at least %d characters.", p.MinLength).WithField("password")
	}
	var lower, upper, digit, other int
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	if classes := lower + upper + digit + other; classes < p.MinClasses {
		return atelier.CodePasswordPolicy.Errorf("The password must mix at least %d of: lower case, upper case, digits, symbols.", p.MinClasses).WithField("password")
	}
	return nil
}

// newPasswordHash checks password against the policy of u's tenant and
// against u's current and previous passwords, then returns its hash. u is
// the user as read before the change (a new user has no history). The
// argon2id work happens here, outside any transaction; applyPassword then
// records the hash inside the store's updater.
func (s *Service) newPasswordHash(ctx context.Context, u *atelier.User, password string) (string, atelier.PasswordPolicy, error) {
	p, err := s.policyFor(ctx, u.TenantID)
	if err != nil {
		return "", p, err
	}
	if err := checkPasswordRules(p, password); err != nil {
		return "", p, err
	}
	previous := append([]string{u.PasswordHash}, u.PasswordHistory...)
	for i, h := range previous {
		if h == "" || i >= p.History {
			continue
		}
		same, err := s.verify(ctx, h, password)
		if isHashBusy(err) {
			return "", p, err
		} else if err != nil {
			continue // an unusable old hash cannot match
		}
		if same {
			return "", p, atelier.CodePasswordPolicy.Errorf("The password must differ from the last %d passwords.", p.History).WithField("password")
		}
	}
	hash, err := s.hash(ctx, password)
	if isHashBusy(err) {
		return "", p, err
	} else if err != nil {
		return "", p, fmt.Errorf("identity: hash password: %w", err)
	}
	return hash, p, nil
}

// applyPassword records a new password hash on u: the old hash moves into
// the history (trimmed to the policy's length), the change time is now and
// a forced change is cleared. It runs inside store updaters, so it has no
// side effects.
func applyPassword(u *atelier.User, hash string, p atelier.PasswordPolicy, now time.Time) {
	if u.PasswordHash != "" && p.History > 0 {
		u.PasswordHistory = append([]string{u.PasswordHash}, u.PasswordHistory...)
	}
	if len(u.PasswordHistory) > p.History {
		u.PasswordHistory = u.PasswordHistory[:p.History]
	}
	u.PasswordHash = hash
	u.PasswordChangedAt = now
	u.MustChangePassword = false
	u.UpdatedAt = now
}

// passwordExpiry returns when u's password expires under p (zero: never).
func passwordExpiry(u *atelier.User, p atelier.PasswordPolicy) time.Time {
	if p.ExpiryDays <= 0 {
		return time.Time{}
	}
	return u.PasswordChangedAt.Add(time.Duration(p.ExpiryDays) * 24 * time.Hour)
}
