package jwt

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTokenSize bounds the length of a token Verify will look at, in bytes.
const MaxTokenSize = 16 << 10

// maxDepth bounds JSON nesting in the header and claims.
const maxDepth = 32

// maxNumericDate is 9999-12-31T23:59:59Z; later (or negative) dates are
// rejected rather than overflowing time.Time.
const maxNumericDate = 253402300799

// The errors Verify wraps. Test for them with errors.Is.
var (
	// ErrMalformed: the token is not a well-formed compact JWS/JWT (size,
	// segment count, base64url, UTF-8, JSON, missing or bad kid, crit).
	ErrMalformed = errors.New("jwt: malformed token")
	// ErrAlgorithm: the header's alg is missing or is not RS256.
	ErrAlgorithm = errors.New("jwt: unsupported algorithm")
	// ErrSignature: the kid is unknown or the signature does not verify.
	ErrSignature = errors.New("jwt: invalid signature")
	// ErrExpired: exp is not after now minus the leeway.
	ErrExpired = errors.New("jwt: token expired")
	// ErrClaim: a registered claim is missing, mistyped or does not match
	// Expect (exp missing, nbf or iat in the future, iss, aud).
	ErrClaim = errors.New("jwt: invalid claim")
)

// Claims are the decoded claims of a verified token. JSON numbers are
// json.Number (never float64), strings are string, objects are
// map[string]any and arrays []any. Each Verify returns a fresh map that the
// caller owns; it is not safe for concurrent mutation.
type Claims map[string]any

// Expect is what Verify checks the registered claims against. Issuer and
// Audience must not be empty. Leeway widens exp, nbf and iat by that much
// to absorb clock skew; a negative Leeway counts as zero. It is a plain
// value, safe for concurrent use.
type Expect struct {
	Issuer   string
	Audience string
	Leeway   time.Duration
}

// Verify checks an RS256 compact JWS and its claims at time now and returns
// the claims. keys maps a kid to its public key; it must be safe to call
// concurrently if Verify is.
//
// Verify is strict. It rejects: tokens over MaxTokenSize; anything but three
// segments; base64url that is padded, uses another alphabet, contains
// whitespace or has non-zero trailing bits; header or claims that are not a
// single JSON object of valid UTF-8, nest deeper than 32 levels or repeat a
// member name at any level (duplicates are rejected, never last-wins); a
// header whose alg is not exactly "RS256" (ErrAlgorithm), that lacks a
// string kid, has "crit", or a typ other than "JWT"; an unknown kid or a bad
// signature (ErrSignature). Claims are parsed only after the signature
// verifies. Then exp is required and now must be before exp+Leeway
// (ErrExpired); nbf and iat are optional but must not be after now+Leeway;
// iss must equal Expect.Issuer; aud must be Expect.Audience or an array of
// strings that contains it (all ErrClaim). NumericDates may be fractional
// and must lie between 1970 and 9999.
func Verify(token string, keys func(kid string) (*rsa.PublicKey, bool), now time.Time, v Expect) (Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	if strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: want 3 dot-separated segments", ErrMalformed)
	}
	i := strings.IndexByte(token, '.')
	j := i + 1 + strings.IndexByte(token[i+1:], '.')
	rawHeader, err := decodeSegment(token[:i])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	kid, err := parseHeader(rawHeader)
	if err != nil {
		return nil, err
	}
	payload, err := decodeSegment(token[i+1 : j])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	sig, err := decodeSegment(token[j+1:])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}

	if keys == nil {
		return nil, fmt.Errorf("%w: no key set", ErrSignature)
	}
	pub, ok := keys(kid)
	if !ok || pub == nil || pub.N == nil {
		return nil, fmt.Errorf("%w: unknown kid %s", ErrSignature, show(kid))
	}
	if pub.N.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("%w: key %q is shorter than %d bits", ErrSignature, kid, MinKeyBits)
	}
	if len(sig) != pub.Size() {
		return nil, fmt.Errorf("%w: signature length %d, want %d", ErrSignature, len(sig), pub.Size())
	}
	sum := sha256.Sum256([]byte(token[:j]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("%w: key %q", ErrSignature, kid)
	}

	claims, err := parseObject(payload)
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if err := checkClaims(claims, now, v); err != nil {
		return nil, err
	}
	return Claims(claims), nil
}

// decodeSegment decodes canonical unpadded base64url. Go's decoder skips
// '\r' and '\n', so the strict re-encoding comparison is what rules those
// (and every other non-canonical form) out.
func decodeSegment(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url", ErrMalformed)
	}
	if b64.EncodedLen(len(b)) != len(s) {
		return nil, fmt.Errorf("%w: non-canonical base64url", ErrMalformed)
	}
	return b, nil
}

func parseHeader(raw []byte) (kid string, err error) {
	h, err := parseObject(raw)
	if err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	if alg, ok := h["alg"].(string); !ok || alg != "RS256" {
		return "", fmt.Errorf("%w: alg %s, want RS256", ErrAlgorithm, show(h["alg"]))
	}
	if _, ok := h["crit"]; ok {
		return "", fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	}
	if typ, ok := h["typ"]; ok {
		if s, ok := typ.(string); !ok || !strings.EqualFold(s, "JWT") {
			return "", fmt.Errorf("%w: typ %s, want JWT", ErrMalformed, show(typ))
		}
	}
	kid, ok := h["kid"].(string)
	if !ok || kid == "" {
		return "", fmt.Errorf("%w: missing kid", ErrMalformed)
	}
	return kid, nil
}

// parseObject decodes b, which must be exactly one JSON object of valid
// UTF-8 with no duplicate member names at any depth. encoding/json alone
// would replace bad UTF-8, match keys case-insensitively into structs and
// keep the last duplicate, so this walks the tokens itself.
func parseObject(b []byte) (map[string]any, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after JSON object", ErrMalformed)
	}
	return v.(map[string]any), nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: JSON nested deeper than %d", ErrMalformed, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
			}
			k, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("%w: duplicate JSON member %s", ErrMalformed, show(k))
			}
			if m[k], err = parseValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
		}
		return m, nil
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
		}
		return a, nil
	case json.Delim('}'), json.Delim(']'):
		return nil, fmt.Errorf("%w: bad JSON", ErrMalformed)
	}
	return tok, nil // string, json.Number, bool or nil
}

func checkClaims(c map[string]any, now time.Time, v Expect) error {
	if v.Issuer == "" || v.Audience == "" {
		return fmt.Errorf("%w: Expect.Issuer and Expect.Audience must be set", ErrClaim)
	}
	leeway := max(v.Leeway, 0)

	exp, ok, err := numericDate(c, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: missing exp", ErrClaim)
	}
	if !now.Before(exp.Add(leeway)) {
		return fmt.Errorf("%w: exp %s is not after %s", ErrExpired, exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if nbf, ok, err := numericDate(c, "nbf"); err != nil {
		return err
	} else if ok && nbf.After(now.Add(leeway)) {
		return fmt.Errorf("%w: nbf %s is in the future", ErrClaim, nbf.UTC().Format(time.RFC3339))
	}
	if iat, ok, err := numericDate(c, "iat"); err != nil {
		return err
	} else if ok && iat.After(now.Add(leeway)) {
		return fmt.Errorf("%w: iat %s is in the future", ErrClaim, iat.UTC().Format(time.RFC3339))
	}

	if iss, ok := c["iss"].(string); !ok || iss != v.Issuer {
		return fmt.Errorf("%w: iss %s, want %q", ErrClaim, show(c["iss"]), v.Issuer)
	}
	if !hasAudience(c["aud"], v.Audience) {
		return fmt.Errorf("%w: aud %s does not contain %q", ErrClaim, show(c["aud"]), v.Audience)
	}
	return nil
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		found := false
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return false // a mistyped element makes the whole claim invalid
			}
			found = found || s == want
		}
		return found
	}
	return false
}

// numericDate reads claim name as an RFC 7519 NumericDate. It reports
// whether the claim was present.
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("%w: %s is not a number", ErrClaim, name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, fmt.Errorf("%w: %s %s is out of range", ErrClaim, name, show(n))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// show renders an untrusted value for an error message: JSON-quoted, so
// control characters cannot forge log lines, and cut to 64 bytes.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 64 {
		return string(b[:61]) + "..."
	}
	return string(b)
}
