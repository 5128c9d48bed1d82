// Package secretbox encrypts small secrets at rest (TOTP seeds, signing
// keys, webhook keys) under one server master key with AES-256-GCM.
//
// A sealed value is the string "v1:" followed by the unpadded base64url
// encoding of nonce‖ciphertext‖tag, where the nonce is 12 random bytes and
// the tag 16 bytes. Every Seal and Open takes a context, bound to the value
// as GCM additional data: callers pass something naming where the value
// lives (for example "totp:"+userID) so that a sealed value copied to
// another row or column no longer opens. The version prefix leaves room for
// key rotation later.
//
// The master key file holds exactly 32 raw bytes (not hex), readable by its
// owner only; `head -c 32 /dev/urandom > key && chmod 600 key` makes one,
// and LoadOrCreateKey makes one if it is missing.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeySize is the size of the master key in bytes.
const KeySize = 32

// MaxPlaintext bounds the plaintext Seal accepts and, through it, the sealed
// strings Open will decode.
const MaxPlaintext = 64 << 10

const (
	prefix   = "v1:"
	overhead = 12 + 16 // nonce + tag
)

var b64 = base64.RawURLEncoding.Strict()

// The errors Open wraps. Test for them with errors.Is.
var (
	// ErrVersion: the value does not start with a version this package
	// knows ("v1:").
	ErrVersion = errors.New("secretbox: unsupported sealed value version")
	// ErrMalformed: the value is not canonical base64url or is too short or
	// too long to be a sealed value.
	ErrMalformed = errors.New("secretbox: malformed sealed value")
	// ErrAuth: authentication failed. The value was tampered with, or was
	// sealed under another key or another context; GCM cannot tell which.
	ErrAuth = errors.New("secretbox: message authentication failed (tampered, wrong key or wrong context)")
)

// Box seals and opens values under one master key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD // prepends a random 12-byte nonce; stateless after creation
	// prk is HKDF-Extract of the master key, from which DeriveKey expands
	// keys for other purposes; the master key itself is not kept.
	prk []byte
}

// deriveSalt is the HKDF salt of DeriveKey.
const deriveSalt = "atelier secretbox derive v1"

// New returns a Box for a 32-byte key. New does not keep the slice, so the
// caller may zero it afterwards.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, key, []byte(deriveSalt))
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead, prk: prk}, nil
}

// DeriveKey returns a 32-byte key for the purpose that label names (e.g.
// "atelier/obs/presign/v1"), derived from the master key with HKDF-SHA256:
// the same label gives the same key under the same master key, different
// labels give independent keys, and none of them reveals the master key.
func (b *Box) DeriveKey(label string) []byte {
	k, err := hkdf.Expand(sha256.New, b.prk, label, KeySize)
	if err != nil {
		// Only a length beyond 255 hash blocks fails; KeySize is one.
		panic("secretbox: derive key: " + err.Error())
	}
	return k
}

// Seal encrypts plaintext bound to context and returns the sealed string.
// Context must not be empty; plaintext may be, up to MaxPlaintext bytes.
func (b *Box) Seal(plaintext, context []byte) (string, error) {
	if len(context) == 0 {
		return "", errors.New("secretbox: seal: empty context")
	}
	if len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("secretbox: seal: plaintext of %d bytes exceeds %d", len(plaintext), MaxPlaintext)
	}
	ct := b.aead.Seal(nil, nil, plaintext, context)
	return prefix + b64.EncodeToString(ct), nil
}

// Open decrypts a value produced by Seal with the same key and context. It
// returns an error wrapping ErrVersion, ErrMalformed or ErrAuth, and never a
// partial plaintext.
func (b *Box) Open(sealed string, context []byte) ([]byte, error) {
	if len(context) == 0 {
		return nil, errors.New("secretbox: open: empty context")
	}
	body, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, ErrVersion
	}
	if len(body) > b64.EncodedLen(MaxPlaintext+overhead) {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	ct, err := b64.DecodeString(body)
	// The decoder skips \r and \n; the length check rules those out.
	if err != nil || b64.EncodedLen(len(ct)) != len(body) {
		return nil, fmt.Errorf("%w: bad base64url", ErrMalformed)
	}
	if len(ct) < overhead {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	pt, err := b.aead.Open(nil, nil, ct, context)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// LoadOrCreateKey returns a Box for the master key in the file at path. If
// the file does not exist it creates one with a fresh random key: it writes
// a 0600 temporary file in the same directory, syncs it, links it into
// place (a hard link never replaces a file another process created
// meanwhile, which a rename would) and syncs the directory. Concurrent
// callers, in this process or others, therefore all end up with the same
// key. It refuses a file that is not a regular file, is not exactly
// KeySize bytes, or grants any permission to group or others.
func LoadOrCreateKey(path string) (*Box, error) {
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
		if errors.Is(err, fs.ErrExist) {
			key, err = readKey(path) // lost the race: use the winner's key
		}
	}
	if err != nil {
		return nil, err
	}
	return New(key)
}

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: master key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the opened file, so nothing can swap it after the check
	if err != nil {
		return nil, fmt.Errorf("secretbox: master key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secretbox: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secretbox: master key %s has mode %04o; it must not be accessible to group or others (chmod 600)", path, perm)
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("secretbox: master key %s is %d bytes, want exactly %d raw bytes", path, fi.Size(), KeySize)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("secretbox: master key %s: %w", path, err)
	}
	if n, _ := f.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("secretbox: master key %s grew while being read", path)
	}
	return key, nil
}

func createKey(path string) (_ []byte, err error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secretbox: generate master key: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	if _, err := tmp.Write(key); err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		// fs.ErrExist tells LoadOrCreateKey that another caller won.
		return nil, fmt.Errorf("secretbox: create master key %s: %w", path, err)
	}
	os.Remove(tmp.Name()) // the key now lives at path; the deferred Remove is a no-op
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("secretbox: create master key %s: sync directory: %w", path, err)
	}
	return key, nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
