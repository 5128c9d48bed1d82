package identity

import (
	"context"

	"github.com/atelier-dev/atelier"
)

// Hooks for the external tests of the unexported password hashing.

// ParsePHC parses an argon2id PHC string and formats it back.
func ParsePHC(s string) (Argon2Params, string, error) {
	h, err := parsePHC(s)
	if err != nil {
		return Argon2Params{}, "", err
	}
	return h.params, h.String(), nil
}

// HashPassword is hashPassword.
var HashPassword = hashPassword

// VerifyPassword is verifyPassword.
var VerifyPassword = verifyPassword

// GeneratePassword is generatePassword.
var GeneratePassword = generatePassword

// WithDefaults is withDefaults.
func (p Argon2Params) WithDefaults() Argon2Params { return p.withDefaults() }

// CreateTenantRaw is createTenant, without a caller or audit.
func (s *Service) CreateTenantRaw(ctx context.Context, name string) (*atelier.Tenant, error) {
	return s.createTenant(ctx, name)
}

// CreateUserRaw is createUser, without a caller or audit.
func (s *Service) CreateUserRaw(ctx context.Context, tenantID, email, name, password, role string) (*atelier.User, error) {
	return s.createUser(ctx, tenantID, email, name, password, role)
}

// SetHashHooks makes the hash gate call onHash in each slot before hashing,
// and freeMem instead of debug.FreeOSMemory when it returns memory. Call it
// before the service is used.
func (s *Service) SetHashHooks(onHash, freeMem func()) {
	s.hashes.mu.Lock()
	defer s.hashes.mu.Unlock()
	s.hashes.onHash, s.hashes.freeMem = onHash, freeMem
}

// HashPeak is the most hashes that ran at once so far.
func (s *Service) HashPeak() int {
	s.hashes.mu.Lock()
	defer s.hashes.mu.Unlock()
	return int(s.hashes.peak)
}

// HashWaiting is how many hashes wait for a slot now.
func (s *Service) HashWaiting() int { return int(s.hashes.waiting.Load()) }
