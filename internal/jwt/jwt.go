// Package jwt is a minimal, strict implementation of the parts of JOSE that
// an OpenID Connect provider needs to issue and check id_tokens: RS256
// compact JWS (RFC 7515), JSON Web Keys (RFC 7517) and JWT claims
// (RFC 7519). It uses the standard library's crypto only.
//
// Sign always produces the header {"alg":"RS256","kid":…,"typ":"JWT"}.
// Verify accepts nothing else: any other algorithm, a header with "crit",
// non-canonical base64url, invalid UTF-8, duplicate JSON members, trailing
// data or a token longer than MaxTokenSize is rejected before or instead of
// being trusted. Errors wrap one of the sentinels ErrMalformed, ErrAlgorithm,
// ErrSignature, ErrExpired and ErrClaim, so callers can use errors.Is.
package jwt

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MinKeyBits is the smallest RSA modulus, in bits, that GenerateKey,
// ParsePrivate, Sign and Verify accept.
const MinKeyBits = 2048

// Key is one RSA signing key. Its ID is the JWS "kid". A Key is immutable
// once built and safe for concurrent use.
type Key struct {
	ID        string
	Private   *rsa.PrivateKey
	CreatedAt time.Time
}

// GenerateKey returns a new RSA key of the given size with CreatedAt set to
// the current UTC time (callers holding an injected clock may overwrite it).
// It refuses an empty id and sizes below MinKeyBits.
func GenerateKey(id string, bits int) (*Key, error) {
	if id == "" {
		return nil, errors.New("jwt: generate key: empty key ID")
	}
	if bits < MinKeyBits {
		return nil, fmt.Errorf("jwt: generate key: %d bits is below the minimum of %d", bits, MinKeyBits)
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("jwt: generate key: %w", err)
	}
	return &Key{ID: id, Private: priv, CreatedAt: time.Now().UTC()}, nil
}

// MarshalPrivate returns the private key as PKCS#8 DER, for storage (seal it
// before it reaches the database).
func (k *Key) MarshalPrivate() ([]byte, error) {
	if k == nil || k.Private == nil {
		return nil, errors.New("jwt: marshal key: no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("jwt: marshal key %q: %w", k.ID, err)
	}
	return der, nil
}

// ParsePrivate parses a PKCS#8 DER RSA private key written by MarshalPrivate.
// The returned Key has a zero CreatedAt; the caller restores it from storage.
func ParsePrivate(id string, der []byte) (*Key, error) {
	if id == "" {
		return nil, errors.New("jwt: parse key: empty key ID")
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jwt: parse key %q: %w", id, err)
	}
	priv, ok := raw.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jwt: parse key %q: not an RSA key (%T)", id, raw)
	}
	if n := priv.N.BitLen(); n < MinKeyBits {
		return nil, fmt.Errorf("jwt: parse key %q: %d bits is below the minimum of %d", id, n, MinKeyBits)
	}
	return &Key{ID: id, Private: priv}, nil
}

// b64 is the JOSE base64url encoding: URL alphabet, no padding, and (when
// decoding) no non-zero trailing bits.
var b64 = base64.RawURLEncoding.Strict()

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Sign returns claims as a compact JWS signed with k using RS256. The header
// is exactly {"alg":"RS256","kid":k.ID,"typ":"JWT"}. Claims must marshal to
// a JSON object; the caller sets iss, aud, exp, iat and the rest.
func Sign(k *Key, claims any) (string, error) {
	if k == nil || k.Private == nil || k.ID == "" {
		return "", errors.New("jwt: sign: key without ID or private key")
	}
	if n := k.Private.N.BitLen(); n < MinKeyBits {
		return "", fmt.Errorf("jwt: sign: %d-bit key is below the minimum of %d", n, MinKeyBits)
	}
	h, err := json.Marshal(header{Alg: "RS256", Kid: k.ID, Typ: "JWT"})
	if err != nil {
		return "", fmt.Errorf("jwt: sign: header: %w", err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt: sign: claims: %w", err)
	}
	if len(p) == 0 || p[0] != '{' {
		return "", errors.New("jwt: sign: claims must marshal to a JSON object")
	}
	buf := make([]byte, 0, b64.EncodedLen(len(h))+b64.EncodedLen(len(p))+b64.EncodedLen(k.Private.Size())+2)
	buf = b64.AppendEncode(buf, h)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, p)
	sum := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, k.Private, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	if len(buf) > MaxTokenSize {
		return "", fmt.Errorf("jwt: sign: token of %d bytes exceeds MaxTokenSize", len(buf))
	}
	return string(buf), nil
}
