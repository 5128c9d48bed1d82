package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Channels of one-time codes.
const (
	channelSMS   = "sms"
	channelEmail = "email"
	channelTOTP  = "totp"
)

// otpDigits is the length of SMS and email codes.
const otpDigits = 6

// stateToken returns the live state token of purpose, or CodeStateToken.
func (s *Service) stateToken(ctx context.Context, token, purpose string) (*atelier.Token, *atelier.User, error) {
	bad := atelier.CodeStateToken.Errorf("The state token is unknown, used or expired; log in again.").WithField("X-state-token")
	if token == "" {
		return nil, nil, atelier.CodeMissingHeader.Errorf("missing header X-state-token").WithField("X-state-token")
	}
	t, err := s.st.GetToken(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, bad
	} else if err != nil {
		return nil, nil, fmt.Errorf("identity: get state token: %w", err)
	}
	if t.Kind != atelier.TokenState || t.Purpose != purpose || !s.now().Before(t.ExpiresAt) {
		return nil, nil, bad
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, nil, storeError("state token: get user", err, atelier.CodeStateToken, atelier.Code{})
	}
	if u.Status != atelier.UserActive {
		return nil, nil, bad
	}
	return t, u, nil
}

// consumeState uses up a state token after its step succeeded; a token that
// another request used first gives CodeStateToken, so a step completes once.
func (s *Service) consumeState(ctx context.Context, t *atelier.Token) error {
	if _, err := s.st.ConsumeToken(ctx, t.Hash); errors.Is(err, store.ErrNotFound) {
		return atelier.CodeStateToken.Errorf("The state token was already used; log in again.").WithField("X-state-token")
	} else if err != nil {
		return fmt.Errorf("identity: consume state token: %w", err)
	}
	return nil
}

// SendMFACode sends a one-time code by sms or email for the login that the
// MFA state token continues. Sends are limited per challenge: one per
// OTPResendInterval, at most OTPMaxSends.
func (s *Service) SendMFACode(ctx context.Context, stateToken, channel string) (*atelier.MFASent, error) {
	t, u, err := s.stateToken(ctx, stateToken, purposeMFA)
	if err != nil {
		return nil, err
	}
	ev := atelier.AuditEvent{Action: "mfa.send", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: t.ClientID, Target: channel}
	sent, err := s.sendCode(ctx, t.Hash, u, channel, "Your Atelier login code", "Your Atelier login code is %s. It expires in %d minutes. If you did not try to log in, change your password.")
	if err != nil {
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return nil, err
	}
	s.audit(ctx, ev)
	return sent, nil
}

// sendCode creates or renews the challenge subject:channel for u and sends
// its code. subject is a state token hash or a verification id.
func (s *Service) sendCode(ctx context.Context, subject string, u *atelier.User, channel, subjectLine, body string) (*atelier.MFASent, error) {
	to, err := s.address(u, channel)
	if err != nil {
		return nil, err
	}
	id := subject + ":" + channel
	now := s.now()
	prev, err := s.st.GetChallenge(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		prev = nil
	case err != nil:
		return nil, fmt.Errorf("identity: get challenge: %w", err)
	}
	sends := 0
	if prev != nil {
		if wait := prev.SentAt.Add(s.opts.OTPResendInterval).Sub(now); wait > 0 {
			return nil, atelier.CodeResendTooSoon.Errorf("A code was sent moments ago; ask again in %d seconds.", int((wait+time.Second-1)/time.Second))
		}
		if prev.Sends >= s.opts.OTPMaxSends {
			return nil, atelier.CodeResendTooSoon.Errorf("Too many codes were sent; start again.")
		}
		sends = prev.Sends
	}
	code, err := randomDigits(otpDigits)
	if err != nil {
		return nil, fmt.Errorf("identity: make code: %w", err)
	}
	c := &store.Challenge{
		ID:        id,
		UserID:    u.ID,
		Channel:   channel,
		CodeHash:  hashCode(id, code),
		Sends:     sends + 1,
		SentAt:    now,
		ExpiresAt: now.Add(s.opts.OTPTTL),
		CreatedAt: now,
	}
	if err := s.st.PutChallenge(ctx, c); err != nil {
		return nil, fmt.Errorf("identity: put challenge: %w", err)
	}
	minutes := int(s.opts.OTPTTL / time.Minute)
	if err := s.sender.SendCode(ctx, channel, to, subjectLine, fmt.Sprintf(body, code, max(1, minutes))); err != nil {
		_ = s.st.DeleteChallenge(context.WithoutCancel(ctx), id)
		return nil, atelier.CodeUnavailable.Wrap(err, "The %s could not be sent; try again later or use another channel.", channel)
	}
	return &atelier.MFASent{
		Channel:     channel,
		To:          mask(channel, to),
		ExpiresIn:   int64(s.opts.OTPTTL.Seconds()),
		ResendAfter: int64(s.opts.OTPResendInterval.Seconds()),
	}, nil
}

// address returns where u receives codes on channel, or CodeMFAChannel.
func (s *Service) address(u *atelier.User, channel string) (string, error) {
	var to string
	switch channel {
	case channelSMS:
		to = u.Mobile
	case channelEmail:
		to = u.Email
	default:
		return "", atelier.CodeInvalidParam.Errorf("The channel must be sms or email.").WithField("channel")
	}
	if to == "" || s.sender == nil || !s.sender.Has(channel) {
		return "", atelier.CodeMFAChannel.Errorf("No %s can be sent to this user: no address on record or no sender configured.", channel).WithField("channel")
	}
	return to, nil
}

// VerifyMFA checks a one-time code (sms, email) or a TOTP code and, when it
// is right, finishes the login that the state token continues. Each
// challenge allows OTPAttempts wrong codes; then a new code must be sent.
func (s *Service) VerifyMFA(ctx context.Context, stateToken, channel, code string) (*atelier.LoginResult, error) {
	t, u, err := s.stateToken(ctx, stateToken, purposeMFA)
	if err != nil {
		return nil, err
	}
	ev := atelier.AuditEvent{Action: "mfa.verify", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: t.ClientID, Target: channel}
	switch channel {
	case channelSMS, channelEmail:
		err = s.checkCode(ctx, t.Hash+":"+channel, u.ID, code)
	case channelTOTP:
		err = s.checkTOTPAttempt(ctx, t, u, code)
	default:
		err = atelier.CodeInvalidParam.Errorf("The channel must be sms, email or totp.").WithField("channel")
	}
	if err != nil {
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return nil, err
	}
	if err := s.consumeState(ctx, t); err != nil {
		return nil, err
	}
	_ = s.st.DeleteChallenge(ctx, t.Hash+":"+channel)
	s.audit(ctx, ev)
	app, err := s.st.GetAppByClientID(ctx, t.ClientID)
	if err != nil {
		return nil, storeError("mfa: get app", err, atelier.CodeStateToken, atelier.Code{})
	}
	return s.nextStep(ctx, u, app, true)
}

// checkCode checks code against the challenge id of user userID, counting a
// wrong one. The challenge is used up by the caller on success.
func (s *Service) checkCode(ctx context.Context, id, userID, code string) error {
	code = strings.TrimSpace(code)
	if code == "" {
		return atelier.CodeInvalidParam.Errorf("The field code is required.").WithField("code")
	}
	now := s.now()
	var right, spent bool
	var remaining int
	_, err := s.st.UpdateChallenge(ctx, id, func(c *store.Challenge) error {
		right, spent, remaining = false, false, 0
		if c.UserID != userID || !now.Before(c.ExpiresAt) || c.Attempts >= s.opts.OTPAttempts {
			spent = true
			return nil
		}
		if subtle.ConstantTimeCompare([]byte(c.CodeHash), []byte(hashCode(id, code))) == 1 {
			right = true
			c.Attempts = s.opts.OTPAttempts // a right code is used once
			return nil
		}
		c.Attempts++
		remaining = s.opts.OTPAttempts - c.Attempts
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return atelier.CodeOTPExpired.Errorf("No code was sent for this step, or it expired; send a new one.").WithField("code")
	case err != nil:
		return fmt.Errorf("identity: check code: %w", err)
	case spent:
		return atelier.CodeOTPExpired.Errorf("The code expired or was used up; send a new one.").WithField("code")
	case !right && remaining == 0:
		return atelier.CodeOTPExpired.Errorf("Too many wrong codes; send a new one.").WithField("code")
	case !right:
		return atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", remaining).WithField("code")
	}
	return nil
}

// checkTOTPAttempt checks a TOTP code for the login of state token t,
// limiting wrong codes like a sent code.
func (s *Service) checkTOTPAttempt(ctx context.Context, t *atelier.Token, u *atelier.User, code string) error {
	if !u.TOTPEnabled {
		return atelier.CodeMFAChannel.Errorf("The user has not enrolled an authenticator app.").WithField("channel")
	}
	id := t.Hash + ":" + channelTOTP
	now := s.now()
	c, err := s.st.GetChallenge(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		c = &store.Challenge{ID: id, UserID: u.ID, Channel: channelTOTP, SentAt: now, ExpiresAt: t.ExpiresAt, CreatedAt: now}
		if err := s.st.PutChallenge(ctx, c); err != nil {
			return fmt.Errorf("identity: put totp challenge: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("identity: get totp challenge: %w", err)
	}
	if c.Attempts >= s.opts.OTPAttempts {
		return atelier.CodeOTPExpired.Errorf("Too many wrong codes; log in again.").WithField("code")
	}
	ok, err := s.checkTOTP(ctx, u, code)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	var remaining int
	if _, err := s.st.UpdateChallenge(ctx, id, func(c *store.Challenge) error {
		c.Attempts++
		remaining = max(0, s.opts.OTPAttempts-c.Attempts)
		return nil
	}); err != nil {
		return fmt.Errorf("identity: count totp attempt: %w", err)
	}
	return atelier.CodeBadOTP.Errorf("The code is wrong; %d attempts remain.", remaining).WithField("code")
}

// UpdateExpiredPassword sets a new password for the login that a
// PASSWORD_EXPIRED state token continues, after checking the old one, and
// finishes the login. Every other token of the user is revoked.
func (s *Service) UpdateExpiredPassword(ctx context.Context, stateToken, oldPassword, newPassword string) (*atelier.LoginResult, error) {
	t, u, err := s.stateToken(ctx, stateToken, purposePasswordExpired)
	if err != nil {
		return nil, err
	}
	ev := atelier.AuditEvent{Action: "user.password_change", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: t.ClientID, Target: u.ID}
	ok, err := s.verify(ctx, u.PasswordHash, oldPassword)
	if isHashBusy(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("identity: password update: user %s has an unusable hash: %w", u.ID, err)
	}
	if !ok {
		s.audit(ctx, failed(ev, "bad_password"))
		return nil, atelier.CodeBadCredentials.Errorf("The old password is wrong.").WithField("old_password")
	}
	hash, p, err := s.newPasswordHash(ctx, u, newPassword)
	if err != nil {
		if ae, ok := errors.AsType[*atelier.Error](err); ok && ae.Field == "password" {
			ae.Field = "new_password"
		}
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return nil, err
	}
	if err := s.consumeState(ctx, t); err != nil {
		return nil, err
	}
	now := s.now()
	u, err = s.updateUser(ctx, u.ID, now, func(u *atelier.User) error {
		applyPassword(u, hash, p, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity: password update: %w", err)
	}
	if _, err := s.st.DeleteUserTokens(ctx, u.ID, ""); err != nil {
		return nil, fmt.Errorf("identity: password update: revoke tokens: %w", err)
	}
	s.audit(ctx, ev)
	app, err := s.st.GetAppByClientID(ctx, t.ClientID)
	if err != nil {
		return nil, storeError("password update: get app", err, atelier.CodeStateToken, atelier.Code{})
	}
	return s.nextStep(ctx, u, app, true)
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(n int) (string, error) {
	var b strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}

// hashCode binds a one-time code to its challenge: the same code of another
// challenge hashes differently. Codes are short, so the hash alone would not
// resist an offline search; the attempt limit is what protects them.
func hashCode(challengeID, code string) string {
	sum := sha256.Sum256([]byte(challengeID + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// mask hides most of an address for display: "138****0000",
// "a***@example.com".
func mask(channel, to string) string {
	if channel == channelEmail {
		local, domain, ok := strings.Cut(to, "@")
		if !ok || local == "" {
			return "***"
		}
		return local[:1] + "***@" + domain
	}
	if len(to) <= 7 {
		return strings.Repeat("*", len(to))
	}
	return to[:3] + strings.Repeat("*", len(to)-7) + to[len(to)-4:]
}
