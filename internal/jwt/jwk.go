package jwt

import (
	"crypto/rsa"
	"fmt"
	"math/big"
)

// JWK is the public half of an RSA key as a JSON Web Key (RFC 7517, RFC 7518
// §6.3.1). N and E are base64url, big-endian, unsigned, without leading
// zero bytes. It has no member for private parameters, so it cannot leak
// them. A JWK is a plain value, safe for concurrent reads.
type JWK struct {
	Kty string `json:"kty"` // always "RSA"
	Use string `json:"use"` // always "sig"
	Alg string `json:"alg"` // always "RS256"
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is a JSON Web Key Set, the body of the jwks_uri endpoint. It is a
// plain value, safe for concurrent reads.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWKS returns the public JWK of each key, in order. Nil keys are
// skipped. Keys is never nil, so an empty set marshals as {"keys":[]}.
func PublicJWKS(keys ...*Key) JWKS {
	set := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		if k == nil || k.Private == nil {
			continue
		}
		set.Keys = append(set.Keys, NewJWK(k.ID, &k.Private.PublicKey))
	}
	return set
}

// NewJWK returns the JWK of an RSA public key.
func NewJWK(kid string, pub *rsa.PublicKey) JWK {
	return JWK{
		Kty: "RSA",
		Use: "sig",
		Alg: "RS256",
		Kid: kid,
		N:   b64.EncodeToString(pub.N.Bytes()),
		E:   b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// PublicKey parses j back into an RSA public key. It accepts only an RS256
// signing key of at least MinKeyBits with canonical (minimal) n and e.
func (j JWK) PublicKey() (*rsa.PublicKey, error) {
	if j.Kty != "RSA" || (j.Alg != "" && j.Alg != "RS256") || (j.Use != "" && j.Use != "sig") {
		return nil, fmt.Errorf("jwt: jwk %q: kty %q, alg %q, use %q: %w", j.Kid, j.Kty, j.Alg, j.Use, ErrAlgorithm)
	}
	n, err := decodeUint(j.N)
	if err != nil {
		return nil, fmt.Errorf("jwt: jwk %q: n: %w", j.Kid, err)
	}
	e, err := decodeUint(j.E)
	if err != nil {
		return nil, fmt.Errorf("jwt: jwk %q: e: %w", j.Kid, err)
	}
	if n.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("jwt: jwk %q: %d-bit modulus is below the minimum of %d: %w", j.Kid, n.BitLen(), MinKeyBits, ErrMalformed)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("jwt: jwk %q: unsupported exponent: %w", j.Kid, ErrMalformed)
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func decodeUint(s string) (*big.Int, error) {
	b, err := decodeSegment(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] == 0 {
		return nil, fmt.Errorf("%w: empty or non-minimal big-endian integer", ErrMalformed)
	}
	return new(big.Int).SetBytes(b), nil
}

// Lookup returns a key finder over keys for Verify, keyed by Key.ID.
func Lookup(keys ...*Key) func(kid string) (*rsa.PublicKey, bool) {
	m := make(map[string]*rsa.PublicKey, len(keys))
	for _, k := range keys {
		if k != nil && k.Private != nil {
			m[k.ID] = &k.Private.PublicKey
		}
	}
	return func(kid string) (*rsa.PublicKey, bool) {
		pub, ok := m[kid]
		return pub, ok
	}
}
