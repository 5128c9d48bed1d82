package identity

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/jwt"
	"github.com/atelier-dev/atelier/store"
)

// signingKeyBits is the size of new id_token signing keys.
const signingKeyBits = 2048

// idTokenLeeway absorbs clock skew between servers in VerifyIDToken.
const idTokenLeeway = time.Minute

// keyring holds the id_token signing keys, cached from the store. The
// newest key signs; older ones keep verifying until every id_token they
// signed has expired, and are then deleted. Several servers may share one
// store: each reloads from it when it meets a kid it does not know, and a
// rotation race only leaves one extra key in the set. A keyring is safe for
// concurrent use.
type keyring struct {
	mu     sync.Mutex
	keys   []*jwt.Key // newest first
	loaded bool
	// prunedAt is when pruning last scanned the apps for the longest
	// id_token lifetime; the scan runs at most once a minute.
	prunedAt time.Time
}

// pruneInterval spaces the app scans of pruneKeysLocked.
const pruneInterval = time.Minute

// signingKeyContext binds a sealed private key to its kid, so that a sealed
// key copied to another row does not open.
func signingKeyContext(kid string) []byte { return []byte("signing-key:" + kid) }

// reloadKeysLocked reads the key list from the store, reusing the parsed
// keys it already has. The caller holds s.keys.mu.
func (s *Service) reloadKeysLocked(ctx context.Context) error {
	stored, err := s.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("identity: list signing keys: %w", err)
	}
	known := make(map[string]*jwt.Key, len(s.keys.keys))
	for _, k := range s.keys.keys {
		known[k.ID] = k
	}
	keys := make([]*jwt.Key, 0, len(stored))
	for _, sk := range stored {
		if k, ok := known[sk.ID]; ok {
			keys = append(keys, k)
			continue
		}
		der, err := s.sealer.Open(sk.Sealed, signingKeyContext(sk.ID))
		if err != nil {
			// A key sealed under another master key: skip it rather than
			// stop signing; a fresh key is made when none is usable.
			s.log.ErrorContext(ctx, "cannot open signing key; skipping it", "kid", sk.ID, "err", err)
			continue
		}
		k, err := jwt.ParsePrivate(sk.ID, der)
		if err != nil {
			s.log.ErrorContext(ctx, "cannot parse signing key; skipping it", "kid", sk.ID, "err", err)
			continue
		}
		k.CreatedAt = sk.CreatedAt.UTC()
		keys = append(keys, k)
	}
	slices.SortStableFunc(keys, func(a, b *jwt.Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	s.keys.keys, s.keys.loaded = keys, true
	return nil
}

// currentKeysLocked makes sure a fresh signing key exists (creating the
// first one, or rotating when the newest is older than KeyRotation), drops
// keys that nothing valid can carry any more, and returns the keys, newest
// first. The caller holds s.keys.mu.
func (s *Service) currentKeysLocked(ctx context.Context) ([]*jwt.Key, error) {
	if !s.keys.loaded {
		if err := s.reloadKeysLocked(ctx); err != nil {
			return nil, err
		}
	}
	now := s.now()
	if len(s.keys.keys) == 0 || now.Sub(s.keys.keys[0].CreatedAt) >= s.opts.KeyRotation {
		// Another server may have rotated already.
		if err := s.reloadKeysLocked(ctx); err != nil {
			return nil, err
		}
		if len(s.keys.keys) == 0 || now.Sub(s.keys.keys[0].CreatedAt) >= s.opts.KeyRotation {
			if err := s.createSigningKeyLocked(ctx, now); err != nil {
				return nil, err
			}
		}
	}
	if err := s.pruneKeysLocked(ctx, now); err != nil {
		return nil, err
	}
	return s.keys.keys, nil
}

// createSigningKeyLocked generates, seals and stores a new key, then
// reloads. The caller holds s.keys.mu.
func (s *Service) createSigningKeyLocked(ctx context.Context, now time.Time) error {
	k, err := jwt.GenerateKey(atelier.NewID(), signingKeyBits)
	if err != nil {
		return fmt.Errorf("identity: new signing key: %w", err)
	}
	k.CreatedAt = now
	der, err := k.MarshalPrivate()
	if err != nil {
		return fmt.Errorf("identity: new signing key: %w", err)
	}
	sealed, err := s.sealer.Seal(der, signingKeyContext(k.ID))
	if err != nil {
		return fmt.Errorf("identity: seal signing key: %w", err)
	}
	err = s.st.CreateSigningKey(ctx, &store.SigningKey{ID: k.ID, Sealed: sealed, CreatedAt: now})
	if err != nil && !errors.Is(err, store.ErrConflict) { // a conflict: someone else's key, reload
		return fmt.Errorf("identity: store signing key: %w", err)
	}
	s.log.InfoContext(ctx, "created id_token signing key", "kid", k.ID)
	s.audit(ctx, atelier.AuditEvent{Action: "signing_key.create", Target: k.ID})
	return s.reloadKeysLocked(ctx)
}

// pruneKeysLocked deletes the keys, other than the newest, that are older
// than KeyRotation plus the longest id_token lifetime: a key stops signing
// once it is KeyRotation old, so no valid token can name it any more.
func (s *Service) pruneKeysLocked(ctx context.Context, now time.Time) error {
	if len(s.keys.keys) < 2 {
		return nil
	}
	oldest := s.keys.keys[len(s.keys.keys)-1]
	if now.Sub(oldest.CreatedAt) < s.opts.KeyRotation+atelier.DefaultIDTokenTTL {
		return nil // the common case: no candidate, no app scan
	}
	if !s.keys.prunedAt.IsZero() && now.Sub(s.keys.prunedAt) < pruneInterval && now.After(s.keys.prunedAt) {
		return nil
	}
	s.keys.prunedAt = now
	maxTTL, err := s.maxIDTokenTTL(ctx)
	if err != nil {
		return err
	}
	keep := s.keys.keys[:1]
	var drop []string
	for _, k := range s.keys.keys[1:] {
		if now.Sub(k.CreatedAt) >= s.opts.KeyRotation+maxTTL {
			drop = append(drop, k.ID)
		} else {
			keep = append(keep, k)
		}
	}
	for _, kid := range drop {
		if err := s.st.DeleteSigningKey(ctx, kid); err != nil {
			return fmt.Errorf("identity: delete signing key: %w", err)
		}
		s.log.InfoContext(ctx, "deleted retired id_token signing key", "kid", kid)
		s.audit(ctx, atelier.AuditEvent{Action: "signing_key.delete", Target: kid})
	}
	s.keys.keys = keep
	return nil
}

// maxIDTokenTTL is the longest id_token lifetime of any app.
func (s *Service) maxIDTokenTTL(ctx context.Context) (time.Duration, error) {
	longest := atelier.DefaultIDTokenTTL
	tenants, err := s.st.ListTenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("identity: list tenants: %w", err)
	}
	for _, t := range tenants {
		apps, err := s.st.ListApps(ctx, t.ID)
		if err != nil {
			return 0, fmt.Errorf("identity: list apps: %w", err)
		}
		for _, a := range apps {
			longest = max(longest, idTokenTTL(a))
		}
	}
	return longest, nil
}

// idTokenTTL is the lifetime of app's id_tokens.
func idTokenTTL(app *atelier.App) time.Duration {
	if app.IDTokenTTL > 0 {
		return time.Duration(app.IDTokenTTL) * time.Second
	}
	return atelier.DefaultIDTokenTTL
}

// idTokenClaims are the claims of an id_token (CONTRACT §4, OIDC Core §2).
type idTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	IssuedAt          int64  `json:"iat"`
	Expiry            int64  `json:"exp"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	Email             string `json:"email"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	TenantID          string `json:"tenant_id"`
}

// signIDToken returns an RS256 id_token for u, issued to app, signed with
// the newest key. nonce is left out when empty; authTime is when the user
// entered their credentials.
func (s *Service) signIDToken(ctx context.Context, u *atelier.User, app *atelier.App, nonce string, authTime time.Time) (string, error) {
	s.keys.mu.Lock()
	keys, err := s.currentKeysLocked(ctx)
	var k *jwt.Key
	if len(keys) > 0 {
		k = keys[0]
	}
	s.keys.mu.Unlock()
	if err != nil {
		return "", err
	}
	if k == nil {
		return "", errors.New("identity: no usable signing key")
	}
	now := s.now()
	c := idTokenClaims{
		Issuer:            s.opts.Issuer,
		Subject:           u.ID,
		Audience:          app.ClientID,
		IssuedAt:          now.Unix(),
		Expiry:            now.Add(idTokenTTL(app)).Unix(),
		Nonce:             nonce,
		Email:             u.Email,
		Name:              displayName(u),
		PreferredUsername: u.Name,
		TenantID:          u.TenantID,
	}
	if !authTime.IsZero() {
		c.AuthTime = authTime.Unix()
	}
	tok, err := jwt.Sign(k, c)
	if err != nil {
		return "", fmt.Errorf("identity: sign id_token: %w", err)
	}
	return tok, nil
}

// JWKS returns the JSON Web Key Set of the current and previous signing
// keys, creating the first key or rotating when due. It reads the store
// every time, so that keys made by another server show up at once.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if err := s.reloadKeysLocked(ctx); err != nil {
		return nil, err
	}
	keys, err := s.currentKeysLocked(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(jwt.PublicJWKS(keys...))
	if err != nil {
		return nil, fmt.Errorf("identity: marshal jwks: %w", err)
	}
	return b, nil
}

// lookupKey returns the public key of kid, reloading from the store once
// when the kid is unknown (another server may have made it).
func (s *Service) lookupKey(ctx context.Context, kid string) (*jwt.Key, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	find := func() *jwt.Key {
		for _, k := range s.keys.keys {
			if k.ID == kid {
				return k
			}
		}
		return nil
	}
	if k := find(); k != nil && s.keys.loaded {
		return k, nil
	}
	if err := s.reloadKeysLocked(ctx); err != nil {
		return nil, err
	}
	return find(), nil
}

// VerifyIDToken checks an id_token issued by this service for audience (a
// client id) and returns its claims. It accepts only RS256 with one of the
// published keys, a matching iss and aud and an unexpired exp (with a
// minute of leeway for clock skew); anything else (alg none, an HMAC signed
// with the public key, an unknown kid, a forged signature) gives
// CodeInvalidToken.
func (s *Service) VerifyIDToken(ctx context.Context, token, audience string) (map[string]any, error) {
	if audience == "" {
		return nil, atelier.CodeInvalidParam.Errorf("The audience (client id) is required.").WithField("audience")
	}
	var lookupErr error
	keys := func(kid string) (*rsa.PublicKey, bool) {
		k, err := s.lookupKey(ctx, kid)
		if err != nil {
			lookupErr = err
			return nil, false
		}
		if k == nil {
			return nil, false
		}
		return &k.Private.PublicKey, true
	}
	claims, err := jwt.Verify(token, keys, s.now(), jwt.Expect{Issuer: s.opts.Issuer, Audience: audience, Leeway: idTokenLeeway})
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err != nil {
		return nil, atelier.CodeInvalidToken.Wrap(err, "The id_token is invalid or expired.")
	}
	return claims, nil
}
