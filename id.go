package atelier

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random 128-bit identifier as 26 lower-case base32
// characters, safe in URLs, file names and object keys.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return idEncoding.EncodeToString(b[:])
}

// NewSecret returns n random bytes as lower-case hex, for tokens and secret
// keys. Use at least 32 bytes for anything that authenticates.
func NewSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewAccessKey returns a random access key id: 20 upper-case characters, like
// the keys of S3-style services.
func NewAccessKey() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return "AK" + strings.ToUpper(idEncoding.EncodeToString(b[:]))[:18]
}
