package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Step-up verification (the partner center's "sensitive operations"): while
// a tenant has captcha verification off, a sensitive operation needs a
// token that the caller gets by confirming a code sent to their mobile or
// email. The token is bound to the user, the operation and a hash of the
// operation's parameters, lives VerificationTTL and is used once.

// purposeVerifyPrefix starts the purpose of a pending verification's state
// token; the operation follows.
const purposeVerifyPrefix = "verify:"

// validOperation is the shape of an operation name, e.g. "app.rotate_secret".
var validOperation = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// verifyData is the JSON a pending verification and a verification token
// carry.
type verifyData struct {
	ParamsHash string `json:"params_hash"`
	Channel    string `json:"channel,omitempty"`
}

// paramsHash hashes parameters independent of map order.
func paramsHash(params map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(params)) {
		b, _ := json.Marshal([2]string{k, params[k]})
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// StartVerification sends the caller a code by channel for operation.
func (s *Service) StartVerification(ctx context.Context, operation, channel string, params map[string]string) (*atelier.Verification, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(operation) > 64 || !validOperation.MatchString(operation) {
		return nil, atelier.CodeInvalidParam.Errorf("The operation must be a dotted lower-case name such as app.rotate_secret.").WithField("operation")
	}
	if len(params) > 32 {
		return nil, atelier.CodeInvalidParam.Errorf("At most 32 params are allowed.").WithField("params")
	}
	u, err := s.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, storeError("verification: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	id := atelier.NewID()
	data, _ := json.Marshal(verifyData{ParamsHash: paramsHash(params), Channel: channel})
	now := s.now()
	pending := &atelier.Token{
		Hash:      hashToken(id),
		Kind:      atelier.TokenState,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  p.ClientID,
		Purpose:   purposeVerifyPrefix + operation,
		Data:      string(data),
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.VerificationTTL),
	}
	ev := atelier.AuditEvent{Action: "verification.start", Target: operation}
	if _, err := s.address(u, channel); err != nil {
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return nil, err
	}
	if err := s.st.CreateToken(ctx, pending); err != nil {
		return nil, fmt.Errorf("identity: start verification: %w", err)
	}
	sent, err := s.sendCode(ctx, pending.Hash, u, channel, "Confirm a sensitive operation",
		"Your Atelier verification code is %s (valid %d minutes). It confirms the operation "+operation+"; do not share it.")
	if err != nil {
		_ = s.st.DeleteToken(context.WithoutCancel(ctx), pending.Hash)
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return nil, err
	}
	s.audit(ctx, ev)
	return &atelier.Verification{ID: id, Operation: operation, Channel: channel, To: sent.To, ExpiresAt: pending.ExpiresAt}, nil
}

// ConfirmVerification checks the code of a verification the caller started
// and returns the single-use token for its operation.
func (s *Service) ConfirmVerification(ctx context.Context, id, code string) (string, int64, error) {
	p, err := caller(ctx)
	if err != nil {
		return "", 0, err
	}
	unknown := atelier.CodeVerifyUnknown.Errorf("The verification does not exist or has expired; start a new one.")
	pending, err := s.st.GetToken(ctx, hashToken(id))
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, unknown
	} else if err != nil {
		return "", 0, fmt.Errorf("identity: confirm verification: %w", err)
	}
	if pending.Kind != atelier.TokenState || len(pending.Purpose) <= len(purposeVerifyPrefix) ||
		pending.Purpose[:len(purposeVerifyPrefix)] != purposeVerifyPrefix ||
		pending.UserID != p.UserID || !s.now().Before(pending.ExpiresAt) {
		return "", 0, unknown
	}
	operation := pending.Purpose[len(purposeVerifyPrefix):]
	var data verifyData
	_ = json.Unmarshal([]byte(pending.Data), &data)
	ev := atelier.AuditEvent{Action: "verification.confirm", Target: operation}
	if err := s.checkCode(ctx, pending.Hash+":"+data.Channel, p.UserID, code); err != nil {
		s.audit(ctx, failed(ev, atelier.ErrorCode(err)))
		return "", 0, err
	}
	if _, err := s.st.ConsumeToken(ctx, pending.Hash); errors.Is(err, store.ErrNotFound) {
		return "", 0, unknown
	} else if err != nil {
		return "", 0, fmt.Errorf("identity: confirm verification: %w", err)
	}
	_ = s.st.DeleteChallenge(ctx, pending.Hash+":"+data.Channel)
	tok := atelier.NewSecret(tokenBytes)
	now := s.now()
	vd, _ := json.Marshal(verifyData{ParamsHash: data.ParamsHash})
	t := &atelier.Token{
		Hash:      hashToken(tok),
		Kind:      atelier.TokenVerification,
		UserID:    p.UserID,
		TenantID:  p.TenantID,
		ClientID:  p.ClientID,
		Purpose:   operation,
		Data:      string(vd),
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.VerificationTTL),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return "", 0, fmt.Errorf("identity: issue verification token: %w", err)
	}
	s.audit(ctx, ev)
	return tok, int64(s.opts.VerificationTTL.Seconds()), nil
}

// RequireVerification enforces step-up verification for operation: with
// captcha verification on in the caller's tenant it passes; otherwise token
// must be a live verification token of the caller for exactly this
// operation and params, and is used up.
func (s *Service) RequireVerification(ctx context.Context, token, operation string, params map[string]string) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	t, err := s.st.GetTenant(ctx, p.TenantID)
	if err != nil {
		return storeError("verification: get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	if t.Settings.CaptchaVerification {
		return nil
	}
	ev := atelier.AuditEvent{Action: "verification.use", Target: operation}
	if token == "" {
		s.audit(ctx, failed(ev, "missing_token"))
		return atelier.CodeVerifyNeeded.Errorf("The operation %s needs a step-up verification token in X-verification-token; get one from POST /v1/verifications.", operation).WithField("X-verification-token")
	}
	bad := atelier.CodeVerifyInvalid.Errorf("The verification token is unknown, used, expired, or for another user, operation or parameters.").WithField("X-verification-token")
	vt, err := s.consumeKind(ctx, hashToken(token), atelier.TokenVerification)
	if errors.Is(err, store.ErrNotFound) {
		s.audit(ctx, failed(ev, "unknown_token"))
		return bad
	} else if err != nil {
		return fmt.Errorf("identity: use verification token: %w", err)
	}
	var data verifyData
	_ = json.Unmarshal([]byte(vt.Data), &data)
	if vt.Kind != atelier.TokenVerification || vt.UserID != p.UserID || vt.Purpose != operation ||
		!s.now().Before(vt.ExpiresAt) ||
		subtle.ConstantTimeCompare([]byte(data.ParamsHash), []byte(paramsHash(params))) != 1 {
		s.audit(ctx, failed(ev, "token_mismatch"))
		return bad
	}
	s.audit(ctx, ev)
	return nil
}
