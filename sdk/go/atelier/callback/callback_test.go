package callback

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const (
	testSignKey = "sign-key-0123"
	testEncKey  = "0123456789abcdef"
)

var t0 = time.UnixMilli(1700000000000)

// detReader is a deterministic stream of bytes (SHA-256 in counter mode) for
// reproducible nonces, IVs and prefixes.
type detReader struct {
	seed string
	n    int
	buf  []byte
}

func (r *detReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		s := sha256.Sum256([]byte(r.seed + string(rune('a'+r.n%26)) + strings.Repeat("x", r.n/26)))
		r.n++
		r.buf = append(r.buf, s[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func TestSignKnownAnswer(t *testing.T) {
	// Derived independently with:
	// python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"sign-key-0123",b"n0nce&1700000000000&CREATE_USER&{\"id\":\"u1\"}",hashlib.sha256).digest()).decode())'
	const want = "NtcNXD4axVSVXQ60qJ8PsfyAdXMJH07htembSpUmbDI="
	if got := Sign(testSignKey, "n0nce", "1700000000000", "CREATE_USER", `{"id":"u1"}`); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	e := &Envelope{Nonce: "n0nce", Timestamp: "1700000000000", EventType: "CREATE_USER", Data: `{"id":"u1"}`, Signature: want}
	if err := Verify(testSignKey, e); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestEncryptKnownAnswer(t *testing.T) {
	// Derived independently with Python's cryptography package:
	// python3 -c 'from cryptography.hazmat.primitives.ciphers.aead import AESGCM; import base64; k=b"0123456789abcdef"; iv=bytes(range(12)); print(base64.b64encode(iv+AESGCM(k).encrypt(iv,b"ABCDEFGHIJKLMNOP&{\"id\":\"u1\"}",None)).decode())'
	const want = "AAECAwQFBgcICQoLvH2HWVsyfH6hbExWjdX/fSasdZNjkXBpAljIjkd1xeZA7vO+bM9+rw7PsuA="
	iv := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	got, err := encryptWith(testEncKey, iv, "ABCDEFGHIJKLMNOP", `{"id":"u1"}`)
	if err != nil || got != want {
		t.Fatalf("encryptWith = %q, %v; want %q", got, err, want)
	}
	msg, err := Decrypt(testEncKey, want)
	if err != nil || msg != `{"id":"u1"}` {
		t.Fatalf("Decrypt = %q, %v", msg, err)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	for _, key := range []string{strings.Repeat("k", 16), strings.Repeat("k", 24), strings.Repeat("k", 32)} {
		for _, msg := range []string{"", `{"a":1}`, `{"a":"x&y&z"}`, "&&", "héllo ✓"} {
			data, err := Encrypt(key, msg)
			if err != nil {
				t.Fatalf("Encrypt(len %d): %v", len(key), err)
			}
			got, err := Decrypt(key, data)
			if err != nil || got != msg {
				t.Fatalf("Decrypt(len %d) = %q, %v; want %q", len(key), got, err, msg)
			}
		}
	}
	a, _ := Encrypt(testEncKey, "same")
	b, _ := Encrypt(testEncKey, "same")
	if a == b {
		t.Fatal("two encryptions of the same plaintext are equal; IV or prefix is not random")
	}
}

func TestKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 23, 25, 31, 33, 64} {
		key := strings.Repeat("k", n)
		if _, err := Encrypt(key, "{}"); !errors.Is(err, ErrKeyLength) {
			t.Errorf("Encrypt key len %d: err = %v, want ErrKeyLength", n, err)
		}
		if _, err := Decrypt(key, "AAAA"); !errors.Is(err, ErrKeyLength) {
			t.Errorf("Decrypt key len %d: err = %v, want ErrKeyLength", n, err)
		}
	}
	// The length counts UTF-8 bytes, not characters: 8 two-byte runes are 16 bytes.
	if _, err := Encrypt(strings.Repeat("é", 8), "{}"); err != nil {
		t.Errorf("16-byte multibyte key: %v", err)
	}
}

func TestDecryptRejects(t *testing.T) {
	iv := make([]byte, 12)
	mk := func(prefix, msg string) string {
		s, err := encryptWith(testEncKey, iv, prefix, msg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := mk("ABCDEFGHIJKLMNOP", "{}")
	tests := []struct {
		name, key, data string
		want            error
	}{
		{"bad base64", testEncKey, "!!!not base64", ErrDecrypt},
		{"too short", testEncKey, "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", ErrDecrypt}, // 21 bytes
		{"wrong key", "fedcba9876543210", good, ErrDecrypt},
		{"tampered", testEncKey, tamper(good), ErrDecrypt},
		{"no ampersand", testEncKey, sealRaw(t, "ABCDEFGHIJKLMNOPx"), ErrDecrypt},
		{"short prefix", testEncKey, mk("ABCDEFGHIJKLMNO", "{}"), ErrDecrypt},
		{"long prefix", testEncKey, mk("ABCDEFGHIJKLMNOPQ", "{}"), ErrDecrypt},
		{"digit in prefix", testEncKey, mk("ABCDEFGHIJKLMNO1", "{}"), ErrDecrypt},
		{"non-ascii prefix", testEncKey, mk("ABCDEFGHIJKLMNé", "{}"), ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Decrypt(tt.key, tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("Decrypt = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// sealRaw encrypts the exact plaintext under testEncKey with a zero IV.
func sealRaw(t *testing.T, plaintext string) string {
	t.Helper()
	aead, err := newGCM(testEncKey)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, 12)
	return b64(append(iv, aead.Seal(nil, iv, []byte(plaintext), nil)...))
}

func tamper(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestSealOpenRoundTrip(t *testing.T) {
	event := map[string]any{"id": "u1", "name": "a&b"}
	for _, encKey := range []string{"", testEncKey} {
		e, err := Seal(testSignKey, encKey, "CREATE_USER", event, t0)
		if err != nil {
			t.Fatal(err)
		}
		if e.Timestamp != "1700000000000" || len(e.Nonce) != 32 {
			t.Fatalf("envelope = %+v", e)
		}
		if encKey == "" && e.Data != `{"id":"u1","name":"a&b"}` {
			t.Fatalf("plain data = %q", e.Data)
		}
		body, _ := json.Marshal(e)
		for _, name := range []string{`"nonce"`, `"timestamp"`, `"eventType"`, `"data"`, `"signature"`} {
			if !bytes.Contains(body, []byte(name)) {
				t.Fatalf("body %s lacks %s", body, name)
			}
		}
		typ, got, err := Open(testSignKey, encKey, body, t0.Add(time.Minute), DefaultMaxSkew)
		if err != nil || typ != "CREATE_USER" || string(got) != `{"id":"u1","name":"a&b"}` {
			t.Fatalf("Open(enc=%q) = %q, %s, %v", encKey, typ, got, err)
		}
	}
	e1, _ := Seal(testSignKey, "", "X", "{}", t0)
	e2, _ := Seal(testSignKey, "", "X", "{}", t0)
	if e1.Nonce == e2.Nonce {
		t.Fatal("nonces repeat")
	}
}

func TestOpenRejects(t *testing.T) {
	sealed := func(encKey string, mod func(*Envelope)) []byte {
		e, err := Seal(testSignKey, encKey, "UPDATE_USER", map[string]string{"id": "u1"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(e)
		}
		b, _ := json.Marshal(e)
		return b
	}
	resign := func(e *Envelope) { e.Signature = Sign(testSignKey, e.Nonce, e.Timestamp, e.EventType, e.Data) }
	tests := []struct {
		name            string
		signKey, encKey string
		body            []byte
		now             time.Time
		want            error
	}{
		{"tampered data", testSignKey, "", sealed("", func(e *Envelope) { e.Data = `{"id":"u2"}` }), t0, ErrSignature},
		{"tampered type", testSignKey, "", sealed("", func(e *Envelope) { e.EventType = "DELETE_USER" }), t0, ErrSignature},
		{"tampered nonce", testSignKey, "", sealed("", func(e *Envelope) { e.Nonce += "0" }), t0, ErrSignature},
		{"tampered timestamp", testSignKey, "", sealed("", func(e *Envelope) { e.Timestamp = "1700000000001" }), t0, ErrSignature},
		{"tampered signature", testSignKey, "", sealed("", func(e *Envelope) { e.Signature = tamper(e.Signature) }), t0, ErrSignature},
		{"wrong signing key", "other-key", "", sealed("", nil), t0, ErrSignature},
		{"empty signing key", "", "", sealed("", nil), t0, ErrSigningKey},
		{"wrong encryption key", testSignKey, "fedcba9876543210", sealed(testEncKey, nil), t0, ErrDecrypt},
		{"tampered ciphertext re-signed", testSignKey, testEncKey, sealed(testEncKey, func(e *Envelope) { e.Data = tamper(e.Data); resign(e) }), t0, ErrDecrypt},
		{"bad encryption key length", testSignKey, "short", sealed(testEncKey, nil), t0, ErrKeyLength},
		{"too old", testSignKey, "", sealed("", nil), t0.Add(DefaultMaxSkew + time.Millisecond), ErrTimestamp},
		{"from the future", testSignKey, "", sealed("", nil), t0.Add(-DefaultMaxSkew - time.Millisecond), ErrTimestamp},
		{"timestamp not a number", testSignKey, "", sealed("", func(e *Envelope) { e.Timestamp = "soon"; resign(e) }), t0, ErrTimestamp},
		{"not json", testSignKey, "", []byte("nonce=1"), t0, ErrEnvelope},
		{"missing nonce", testSignKey, "", sealed("", func(e *Envelope) { e.Nonce = ""; resign(e) }), t0, ErrEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, data, err := Open(tt.signKey, tt.encKey, tt.body, tt.now, DefaultMaxSkew)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %s, %v; want %v", typ, data, err, tt.want)
			}
		})
	}
	// At the edge of the window the envelope still opens.
	if _, _, err := Open(testSignKey, "", sealed("", nil), t0.Add(DefaultMaxSkew), DefaultMaxSkew); err != nil {
		t.Fatalf("Open at the edge: %v", err)
	}
}

// vector is one entry of testdata/vectors.json, shared with the Python and
// Java receivers.
type vector struct {
	Key       string `json:"key"`
	IVHex     string `json:"iv_hex"`
	Prefix    string `json:"prefix"`
	Plaintext string `json:"plaintext"`
	Data      string `json:"data"`
}

type signVector struct {
	SigningKey string `json:"signing_key"`
	Nonce      string `json:"nonce"`
	Timestamp  string `json:"timestamp"`
	EventType  string `json:"eventType"`
	Data       string `json:"data"`
	Signature  string `json:"signature"`
}

type vectorFile struct {
	Comment    string       `json:"comment"`
	Encryption []vector     `json:"encryption"`
	Signature  []signVector `json:"signature"`
}

func makeVectors(t *testing.T) vectorFile {
	t.Helper()
	vf := vectorFile{Comment: "CONTRACT §5 vectors: data = Base64(iv || AES-GCM(key, prefix + \"&\" + plaintext) || tag); signature = Base64(HMAC-SHA256(signing_key, nonce&timestamp&eventType&data)). Regenerate: go test -run TestVectors -update ./sdk/go/atelier/callback"}
	r := &detReader{seed: "vectors"}
	for i, tc := range []struct{ key, plaintext string }{
		{"0123456789abcdef", `{"id":"u1"}`},
		{"0123456789abcdef01234567", `{"userId":"42","name":"Zoë & co","tags":["a","b"]}`},
		{"0123456789abcdef0123456789abcdef", ``},
		{"0123456789abcdef0123456789abcdef", `random-check-string`},
	} {
		iv := make([]byte, 12)
		r.Read(iv)
		prefix, err := randomLetters(r, 16)
		if err != nil {
			t.Fatal(err)
		}
		data, err := encryptWith(tc.key, iv, prefix, tc.plaintext)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		vf.Encryption = append(vf.Encryption, vector{tc.key, hex.EncodeToString(iv), prefix, tc.plaintext, data})
	}
	for _, sv := range []signVector{
		{SigningKey: testSignKey, Nonce: "n0nce", Timestamp: "1700000000000", EventType: "CREATE_USER", Data: `{"id":"u1"}`},
		{SigningKey: "k", Nonce: "8f1c", Timestamp: "1", EventType: "CHECK_URL", Data: vf.Encryption[3].Data},
	} {
		sv.Signature = Sign(sv.SigningKey, sv.Nonce, sv.Timestamp, sv.EventType, sv.Data)
		vf.Signature = append(vf.Signature, sv)
	}
	return vf
}

func TestVectors(t *testing.T) {
	want := makeVectors(t)
	if *update {
		writeFuzzSeeds(t)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(want); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vectors.json", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var got vectorFile
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Encryption) != len(want.Encryption) || len(got.Signature) != len(want.Signature) {
		t.Fatalf("vectors.json has %d/%d vectors, want %d/%d", len(got.Encryption), len(got.Signature), len(want.Encryption), len(want.Signature))
	}
	for i, v := range got.Encryption {
		iv, _ := hex.DecodeString(v.IVHex)
		data, err := encryptWith(v.Key, iv, v.Prefix, v.Plaintext)
		if err != nil || data != v.Data {
			t.Errorf("encryption vector %d: encrypt = %q, %v; want %q", i, data, err, v.Data)
		}
		msg, err := Decrypt(v.Key, v.Data)
		if err != nil || msg != v.Plaintext {
			t.Errorf("encryption vector %d: decrypt = %q, %v; want %q", i, msg, err, v.Plaintext)
		}
	}
	for i, v := range got.Signature {
		if s := Sign(v.SigningKey, v.Nonce, v.Timestamp, v.EventType, v.Data); s != v.Signature {
			t.Errorf("signature vector %d: %q, want %q", i, s, v.Signature)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
