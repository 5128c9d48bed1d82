// Package callback implements the event callback wire format of the Atelier
// platform (CONTRACT §5): the HMAC-SHA256 signature, the AES-GCM envelope of
// the event data, and an http.Handler that a subscribed app mounts at its
// callback URL.
//
// The same code serves both ends. The platform's sender builds a body with
// Seal; an app's receiver checks and opens it with Open, or lets Handler do
// that, drop duplicate deliveries and answer CHECK_URL by itself:
//
//	h, err := callback.NewHandler(callback.Config{
//		SigningKeys:    []string{signingKey},
//		EncryptionKeys: []string{encryptionKey}, // or none: data is plain
//		SecurityTokens: []string{securityToken},
//		Next: func(ctx context.Context, eventType string, event json.RawMessage) (any, error) {
//			...
//			return nil, nil
//		},
//	})
//	if err != nil {
//		...
//	}
//	http.Handle("/atelier/events", h)
//
// When Atelier rotates an app's keys or security token, it keeps using the
// old ones for an overlap window before switching; list both the old and the
// new in Config during that window (VerifyAny and DecryptAny do the same for
// a receiver of its own), and drop the old ones after it.
//
// The package imports only the standard library.
package callback

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// EventCheckURL is the event type the platform sends when a callback URL is
// set; the receiver echoes the decrypted random string in its reply.
const EventCheckURL = "CHECK_URL"

// DefaultMaxSkew is the timestamp skew Handler accepts between the sender's
// clock and the receiver's.
const DefaultMaxSkew = 5 * time.Minute

const (
	ivSize     = 12
	tagSize    = 16
	prefixSize = 16
)

// Errors returned by this package; test for them with errors.Is.
var (
	// ErrKeyLength means the encryption key is not 16, 24 or 32 bytes long.
	ErrKeyLength = errors.New("callback: encryption key must be 16, 24 or 32 bytes")
	// ErrSigningKey means the signing key is empty.
	ErrSigningKey = errors.New("callback: signing key is empty")
	// ErrSignature means the signature does not match the envelope.
	ErrSignature = errors.New("callback: signature mismatch")
	// ErrTimestamp means the timestamp is malformed or outside the allowed skew.
	ErrTimestamp = errors.New("callback: timestamp outside the allowed window")
	// ErrDecrypt means the data could not be decoded, authenticated or split.
	ErrDecrypt = errors.New("callback: cannot decrypt data")
	// ErrEnvelope means the body is not a well-formed envelope.
	ErrEnvelope = errors.New("callback: malformed envelope")
)

// Envelope is the JSON body of one callback POST. Its zero value is not a
// valid envelope. An Envelope is a plain value: not safe for concurrent
// mutation.
type Envelope struct {
	Nonce     string `json:"nonce"`
	Timestamp string `json:"timestamp"`
	EventType string `json:"eventType"`
	Data      string `json:"data"`
	Signature string `json:"signature"`
}

// Sign returns Base64(HMAC-SHA256(signingKey, nonce&timestamp&eventType&data)),
// the signature of CONTRACT §5, with data exactly as sent.
func Sign(signingKey, nonce, timestamp, eventType, data string) string {
	m := hmac.New(sha256.New, []byte(signingKey))
	io.WriteString(m, nonce+"&"+timestamp+"&"+eventType+"&"+data)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether e carries a valid signature under signingKey. The
// comparison takes constant time. It returns ErrSigningKey or ErrSignature.
func Verify(signingKey string, e *Envelope) error {
	return VerifyAny([]string{signingKey}, e)
}

// VerifyAny reports whether e carries a valid signature under any one of
// keys, as a receiver needs while a signing key is being rotated. Empty keys
// are skipped. Every key is tried and each comparison takes constant time, so
// the time taken does not tell which key matched. It returns ErrSigningKey
// when no key is left, ErrEnvelope for a nil e, and ErrSignature when no key
// matches.
func VerifyAny(keys []string, e *Envelope) error {
	n, ok := 0, 0
	for _, k := range keys {
		if k == "" {
			continue
		}
		n++
		if e == nil {
			continue
		}
		want := Sign(k, e.Nonce, e.Timestamp, e.EventType, e.Data)
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(e.Signature))
	}
	switch {
	case n == 0:
		return ErrSigningKey
	case e == nil:
		return ErrEnvelope
	case ok != 1:
		return ErrSignature
	}
	return nil
}

// Encrypt returns Base64(IV ‖ ciphertext ‖ tag) of AES-GCM under the UTF-8
// bytes of key over "<16 random ASCII letters>&" + plaintext, with a random
// 12-byte IV. It returns ErrKeyLength for a key that is not 16, 24 or 32
// bytes long.
func Encrypt(key, plaintext string) (string, error) {
	return encryptRand(rand.Reader, key, plaintext)
}

func encryptRand(rnd io.Reader, key, plaintext string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	iv := make([]byte, ivSize)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", fmt.Errorf("callback: read IV: %w", err)
	}
	prefix, err := randomLetters(rnd, prefixSize)
	if err != nil {
		return "", err
	}
	return encryptWith(key, iv, prefix, plaintext)
}

// encryptWith is the deterministic core of Encrypt, the seam for test vectors.
func encryptWith(key string, iv []byte, prefix, plaintext string) (string, error) {
	aead, err := newGCM(key)
	if err != nil {
		return "", err
	}
	if len(iv) != ivSize {
		return "", fmt.Errorf("callback: IV must be %d bytes", ivSize)
	}
	out := make([]byte, 0, ivSize+len(prefix)+1+len(plaintext)+tagSize)
	out = append(out, iv...)
	out = aead.Seal(out, iv, []byte(prefix+"&"+plaintext), nil)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt reverses Encrypt: it decodes data, authenticates and decrypts it
// under key, splits the plaintext at the first '&' and returns what follows.
// It returns ErrKeyLength for a bad key and an error wrapping ErrDecrypt for
// bad Base64, short input, a failed authentication, or a plaintext whose
// prefix is not 16 ASCII letters followed by '&'.
func Decrypt(key, data string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	msg, _, err := DecryptAny([]string{key}, data)
	return msg, err
}

// DecryptAny is Decrypt with several candidate keys, as a receiver needs
// while an encryption key is being rotated: it returns the message of data
// under the first of keys that authenticates it, and that key's index in keys
// (answer CHECK_URL with the same key). Empty keys are skipped. It returns an
// error wrapping ErrKeyLength when no key is left or one has a bad length,
// and one wrapping ErrDecrypt when data is malformed or no key opens it.
func DecryptAny(keys []string, data string) (plaintext string, keyIndex int, err error) {
	aeads := make([]cipher.AEAD, len(keys))
	n := 0
	for i, k := range keys {
		if k == "" {
			continue
		}
		if aeads[i], err = newGCM(k); err != nil {
			return "", -1, fmt.Errorf("encryption key %d: %w", i, err)
		}
		n++
	}
	if n == 0 {
		return "", -1, fmt.Errorf("%w: no encryption key", ErrKeyLength)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", -1, fmt.Errorf("%w: data is not Base64", ErrDecrypt)
	}
	if len(raw) < ivSize+tagSize {
		return "", -1, fmt.Errorf("%w: data is too short", ErrDecrypt)
	}
	for i, aead := range aeads {
		if aead == nil {
			continue
		}
		plain, err := aead.Open(nil, raw[:ivSize], raw[ivSize:], nil)
		if err != nil {
			continue // not this key
		}
		msg, err := splitPlaintext(plain)
		if err != nil {
			return "", -1, err
		}
		return msg, i, nil
	}
	return "", -1, fmt.Errorf("%w: authentication failed", ErrDecrypt)
}

// splitPlaintext checks the random prefix of an authenticated plaintext and
// returns the message after the first '&'.
func splitPlaintext(plain []byte) (string, error) {
	prefix, msg, ok := strings.Cut(string(plain), "&")
	if !ok {
		return "", fmt.Errorf("%w: plaintext has no '&'", ErrDecrypt)
	}
	if !isLetters(prefix, prefixSize) {
		return "", fmt.Errorf("%w: plaintext prefix is not %d ASCII letters", ErrDecrypt, prefixSize)
	}
	return msg, nil
}

// Seal builds a signed envelope for one event, as the platform's sender does:
// the nonce is random, the timestamp is now in milliseconds since the epoch,
// and data is the JSON of event (encrypted when encryptionKey is not empty).
// An event of type json.RawMessage, []byte or string is used as is.
func Seal(signingKey, encryptionKey, eventType string, event any, now time.Time) (*Envelope, error) {
	return sealRand(rand.Reader, signingKey, encryptionKey, eventType, event, now)
}

func sealRand(rnd io.Reader, signingKey, encryptionKey, eventType string, event any, now time.Time) (*Envelope, error) {
	if signingKey == "" {
		return nil, ErrSigningKey
	}
	if eventType == "" {
		return nil, fmt.Errorf("%w: eventType is empty", ErrEnvelope)
	}
	var data string
	switch v := event.(type) {
	case json.RawMessage:
		data = string(v)
	case []byte:
		data = string(v)
	case string:
		data = v
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep '&', '<', '>' literal for every receiver
		if err := enc.Encode(event); err != nil {
			return nil, fmt.Errorf("callback: encode event: %w", err)
		}
		data = strings.TrimSuffix(buf.String(), "\n")
	}
	nb := make([]byte, 16)
	if _, err := io.ReadFull(rnd, nb); err != nil {
		return nil, fmt.Errorf("callback: read nonce: %w", err)
	}
	if encryptionKey != "" {
		var err error
		if data, err = encryptRand(rnd, encryptionKey, data); err != nil {
			return nil, err
		}
	}
	e := &Envelope{
		Nonce:     hex.EncodeToString(nb),
		Timestamp: strconv.FormatInt(now.UnixMilli(), 10),
		EventType: eventType,
		Data:      data,
	}
	e.Signature = Sign(signingKey, e.Nonce, e.Timestamp, e.EventType, e.Data)
	return e, nil
}

// Open parses a callback body, verifies its signature and that its timestamp
// is within maxSkew of now (maxSkew <= 0 turns the check off), and returns
// the event type and the event's data, decrypted when encryptionKey is not
// empty. Open keeps no state: dropping replayed nonces is the caller's job
// (Handler does it).
func Open(signingKey, encryptionKey string, body []byte, now time.Time, maxSkew time.Duration) (eventType string, eventJSON []byte, err error) {
	e, err := openEnvelope([]string{signingKey}, body, now, maxSkew)
	if err != nil {
		return "", nil, err
	}
	if encryptionKey == "" {
		return e.EventType, []byte(e.Data), nil
	}
	data, err := Decrypt(encryptionKey, e.Data)
	if err != nil {
		return "", nil, err
	}
	return e.EventType, []byte(data), nil
}

// openEnvelope parses body and checks its fields, its signature under any of
// signingKeys and its timestamp.
func openEnvelope(signingKeys []string, body []byte, now time.Time, maxSkew time.Duration) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrEnvelope)
	}
	if e.Nonce == "" || e.Timestamp == "" || e.EventType == "" || e.Signature == "" {
		return nil, fmt.Errorf("%w: nonce, timestamp, eventType and signature are required", ErrEnvelope)
	}
	if err := VerifyAny(signingKeys, &e); err != nil {
		return nil, err
	}
	ms, err := strconv.ParseInt(e.Timestamp, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp is not an integer", ErrTimestamp)
	}
	if maxSkew > 0 {
		d := now.Sub(time.UnixMilli(ms))
		if d > maxSkew || d < -maxSkew {
			return nil, ErrTimestamp
		}
	}
	return &e, nil
}

func checkKey(key string) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return ErrKeyLength
}

func newGCM(key string) (cipher.AEAD, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("callback: %w", err)
	}
	return cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// randomLetters returns n ASCII letters drawn uniformly from rnd.
func randomLetters(rnd io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("callback: read random letters: %w", err)
		}
		for _, b := range buf {
			if b < 4*52 && len(out) < n { // reject 208..255 to avoid bias
				out = append(out, letters[b%52])
			}
		}
	}
	return string(out), nil
}

func isLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
