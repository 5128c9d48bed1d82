package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of argon2id. Hashes record their own
// parameters, so changing them affects only hashes made afterwards.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2 is OWASP's argon2id recommendation: 19 MiB, two passes, one
// thread, with a 16-byte salt and a 32-byte hash.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on the parameters of a stored hash. They keep a corrupt or hostile
// hash string from making verification allocate or compute without bound.
const (
	maxMemory  = 1 << 21 // KiB, 2 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
)

// withDefaults fills unset fields from DefaultArgon2.
func (p Argon2Params) withDefaults() Argon2Params {
	if p.Memory == 0 {
		p.Memory = DefaultArgon2.Memory
	}
	if p.Time == 0 {
		p.Time = DefaultArgon2.Time
	}
	if p.Threads == 0 {
		p.Threads = DefaultArgon2.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = DefaultArgon2.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = DefaultArgon2.KeyLen
	}
	return p
}

// validate reports whether p is within the limits that verification accepts.
func (p Argon2Params) validate() error {
	switch {
	case p.Memory < 1 || p.Memory > maxMemory:
		return fmt.Errorf("argon2 memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d out of range", p.Time)
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 salt length %d out of range", p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 key length %d out of range", p.KeyLen)
	}
	return nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

const phcPrefix = "$argon2id$v=19$"

var b64 = base64.RawStdEncoding.Strict()

// String formats h as `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`, base64
// without padding as the PHC format wants.
func (h *phc) String() string {
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", phcPrefix,
		h.params.Memory, h.params.Time, h.params.Threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// parsePHC parses an argon2id PHC string as hashPassword writes it. Only the
// canonical form is accepted, so that parsing and formatting round-trip, and
// parameters outside the limits above are refused.
func parsePHC(s string) (*phc, error) {
	errBad := errors.New("malformed argon2id hash")
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return nil, errBad
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return nil, errBad
	}
	var h phc
	kvs := strings.Split(parts[0], ",")
	if len(kvs) != 3 {
		return nil, errBad
	}
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kvs[i], "=")
		if !ok || k != want {
			return nil, errBad
		}
		bits := 32
		if k == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return nil, errBad
		}
		switch k {
		case "m":
			h.params.Memory = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			h.params.Threads = uint8(n)
		}
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[1]); err != nil {
		return nil, errBad
	}
	if h.key, err = b64.DecodeString(parts[2]); err != nil {
		return nil, errBad
	}
	h.params.SaltLen = uint32(len(h.salt))
	h.params.KeyLen = uint32(len(h.key))
	if err := h.params.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBad, err)
	}
	if h.String() != s {
		return nil, fmt.Errorf("%w: not in canonical form", errBad)
	}
	return &h, nil
}

// hashPassword returns the argon2id PHC string of password with a fresh
// random salt.
func hashPassword(password string, p Argon2Params) (string, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return "", err
	}
	h := phc{params: p, salt: make([]byte, p.SaltLen)}
	if _, err := rand.Read(h.salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	h.key = argon2.IDKey([]byte(password), h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return h.String(), nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// using the parameters recorded in it and a constant-time comparison. An
// error means encoded is not a valid hash.
func verifyPassword(encoded, password string) (bool, error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// generatedPasswordAlphabet is what generated passwords are made of: letters
// and digits, so that they survive copy and paste from a terminal.
const generatedPasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// generatePassword returns n characters drawn uniformly from
// generatedPasswordAlphabet with crypto/rand (about 5.95 bits each).
func generatePassword(n int) (string, error) {
	const limit = 256 - 256%len(generatedPasswordAlphabet) // reject to stay uniform
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, generatedPasswordAlphabet[int(b)%len(generatedPasswordAlphabet)])
			}
		}
	}
	return string(out), nil
}
