package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
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

// checkTOTP reports whether code is u's TOTP code for the current step or
// one step either side, by the service clock, and not one already used: a
// code is accepted once, so that one seen over a shoulder or in a log
// cannot be replayed within its window. A user without a seed never
// matches.
func (s *Service) checkTOTP(ctx context.Context, u *atelier.User, code string) (bool, error) {
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
	now := s.now()
	step := int64(-1)
	for d := -totpSkew; d <= totpSkew; d++ {
		at := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := TOTPCode(string(secret), at)
		if err != nil {
			return false, fmt.Errorf("identity: totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step = at.Unix() / totpPeriod
		}
	}
	if step < 0 {
		return false, nil
	}
	return s.useTOTPStep(ctx, u.ID, step, now)
}

// useTOTPStep records that the code of step was used by userID and reports
// false when that step or a later one was used before. The record lives in
// the challenge store and expires once no code of its window is valid.
func (s *Service) useTOTPStep(ctx context.Context, userID string, step int64, now time.Time) (bool, error) {
	id := "totp-used:" + userID
	expires := now.Add(time.Duration((2*totpSkew+2)*totpPeriod) * time.Second)
	if _, err := s.st.GetChallenge(ctx, id); errors.Is(err, store.ErrNotFound) {
		c := &store.Challenge{ID: id, UserID: userID, Channel: channelTOTP, CodeHash: "-1", SentAt: now, ExpiresAt: expires, CreatedAt: now}
		if err := s.st.PutChallenge(ctx, c); err != nil {
			return false, fmt.Errorf("identity: record totp step: %w", err)
		}
	} else if err != nil {
		return false, fmt.Errorf("identity: read totp step: %w", err)
	}
	var fresh bool
	_, err := s.st.UpdateChallenge(ctx, id, func(c *store.Challenge) error {
		last, _ := strconv.ParseInt(c.CodeHash, 10, 64)
		if !now.Before(c.ExpiresAt) {
			last = -1 // an expired record no longer blocks anything
		}
		fresh = step > last
		if fresh {
			c.CodeHash, c.ExpiresAt = strconv.FormatInt(step, 10), expires
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("identity: record totp step: %w", err)
	}
	return fresh, nil
}

// TOTPCode returns the TOTP code of a base32 secret at t, for tests and the
// CLI's documentation examples.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
