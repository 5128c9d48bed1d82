package identity

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// MaxAPIKeyDescription is the longest API key description, in characters.
const MaxAPIKeyDescription = 256

// secretKeyBytes is the entropy of a secret key: 160 bits, 40 hex characters.
const secretKeyBytes = 20

// CreateAPIKey creates an access/secret key pair for the caller. The secret
// is in the answer only; the store keeps its argon2id hash.
func (s *Service) CreateAPIKey(ctx context.Context, description string) (*atelier.NewAPIKey, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(description) > MaxAPIKeyDescription {
		return nil, atelier.CodeInvalidParam.Errorf("The description must be at most %d characters.", MaxAPIKeyDescription).WithField("description")
	}
	secret := atelier.NewSecret(secretKeyBytes)
	hash, err := s.hash(ctx, secret)
	if isHashBusy(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("identity: create api key: %w", err)
	}
	k := &atelier.APIKey{
		AccessKey:   atelier.NewAccessKey(),
		TenantID:    p.TenantID,
		UserID:      p.UserID,
		Description: description,
		SecretHash:  hash,
		CreatedAt:   s.now(),
	}
	if err := s.st.CreateAPIKey(ctx, k); err != nil {
		return nil, fmt.Errorf("identity: create api key: %w", err)
	}
	s.log.InfoContext(ctx, "api key created", "access_key", k.AccessKey, "user_id", k.UserID, "tenant_id", k.TenantID)
	s.audit(ctx, atelier.AuditEvent{Action: "apikey.create", Target: k.AccessKey})
	out := &atelier.NewAPIKey{APIKey: *k, SecretKey: secret}
	out.SecretHash = ""
	return out, nil
}

// ListAPIKeys returns the caller's own keys, oldest first, without secrets.
func (s *Service) ListAPIKeys(ctx context.Context) ([]*atelier.APIKey, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := s.st.ListAPIKeys(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("identity: list api keys: %w", err)
	}
	out := make([]*atelier.APIKey, 0, len(keys))
	for _, k := range keys {
		k.SecretHash = ""
		out = append(out, k)
	}
	return out, nil
}

// DeleteAPIKey deletes one of the caller's keys and revokes the tokens issued
// for it. Another user's key or an unknown one gives CodeAPIKeyNotFound.
func (s *Service) DeleteAPIKey(ctx context.Context, accessKey string) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	// The key goes first so that no new token can be exchanged for it; see
	// ExchangeKey for the token that races with this.
	if err := s.st.DeleteAPIKey(ctx, p.TenantID, p.UserID, accessKey); err != nil {
		return storeError("delete api key", err, atelier.CodeAPIKeyNotFound, atelier.Code{})
	}
	if err := s.st.DeleteTokensByAccessKey(ctx, accessKey); err != nil {
		return fmt.Errorf("identity: delete api key: revoke tokens: %w", err)
	}
	s.log.InfoContext(ctx, "api key deleted", "access_key", accessKey, "user_id", p.UserID, "tenant_id", p.TenantID)
	s.audit(ctx, atelier.AuditEvent{Action: "apikey.delete", Target: accessKey})
	return nil
}

// caller returns the authenticated principal of ctx, or CodeNoCredentials.
func caller(ctx context.Context) (*atelier.Principal, error) {
	p := atelier.PrincipalFromContext(ctx)
	if p == nil || p.UserID == "" || p.TenantID == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authentication is required.")
	}
	return p, nil
}
