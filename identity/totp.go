package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atelier-dev/atelier"
)

// TOTP parameters (RFC 6238 as authenticator apps implement it): SHA-1,
// six digits, 30-second steps, one step of clock skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
	totpIssuer = "Atelier"
)

// totpContext binds a sealed TOTP seed to its user.
func totpContext(userID string) []byte { return []byte("totp:" + userID) }

// newTOTPSecret generates a TOTP seed for u and returns the enrolment (the
// base32 secret and otpauth URL to show once) and the sealed seed to store.
func (s *Service) newTOTPSecret(u *atelier.User) (*atelier.TOTPEnrolment, string, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      totpIssuer,
		AccountName: u.Email,
		Period:      totpPeriod,
		SecretSize:  20,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("identity: generate totp secret: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), totpContext(u.ID))
	if err != nil {
		return nil, "", fmt.Errorf("identity: seal totp secret: %w", err)
	}
	return &atelier.TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, sealed, nil
}

// checkTOTP reports whether code is u's current TOTP code (one step of skew
// either way) by the service clock. A user without a seed never matches.
func (s *Service) checkTOTP(_ context.Context, u *atelier.User, code string) (bool, error) {
	if u.TOTPSecret == "" {
		return false, nil
	}
	secret, err := s.sealer.Open(u.TOTPSecret, totpContext(u.ID))
	if err != nil {
		return false, fmt.Errorf("identity: open totp secret of user %s: %w", u.ID, err)
	}
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return false, nil
	}
	ok, err := totp.ValidateCustom(code, string(secret), s.now(), totp.ValidateOpts{
		Period:    totpPeriod,
		Skew:      totpSkew,
		Digits:    otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return false, nil // a malformed code is a wrong code
	}
	return ok, nil
}

// TOTPCode returns the TOTP code of a base32 secret at t, for tests and the
// CLI's documentation examples.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
