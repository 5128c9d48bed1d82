package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
)

// memorySealer is the Sealer of a Service given none: AES-256-GCM under a
// random key that lives only as long as the process. Tests use it; the
// server always passes a secretbox.Box with a key file.
type memorySealer struct{ aead cipher.AEAD }

func newMemorySealer() *memorySealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &memorySealer{aead: aead}
}

func (m *memorySealer) Seal(plaintext, context []byte) (string, error) {
	nonce := make([]byte, m.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(m.aead.Seal(nonce, nonce, plaintext, context)), nil
}

func (m *memorySealer) Open(sealed string, context []byte) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < m.aead.NonceSize() {
		return nil, errors.New("identity: sealed value is malformed")
	}
	n := m.aead.NonceSize()
	return m.aead.Open(nil, b[:n], b[n:], context)
}
