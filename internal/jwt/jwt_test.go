package jwt_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/jwt"
)

var (
	t0     = time.Unix(1_700_000_000, 0)
	expect = jwt.Expect{Issuer: "https://idp.example", Audience: "client-1", Leeway: time.Minute}
	enc    = base64.RawURLEncoding
)

// Generating RSA keys is slow, so the tests share two.
var testKeys = sync.OnceValues(func() (*jwt.Key, *jwt.Key) {
	a, err := jwt.GenerateKey("k1", 2048)
	if err != nil {
		panic(err)
	}
	b, err := jwt.GenerateKey("k2", 2048)
	if err != nil {
		panic(err)
	}
	return a, b
})

// MustKeys returns the shared keys k1 and k2; only k1 is known to keysK1.
func MustKeys(tb testing.TB) (*jwt.Key, *jwt.Key) {
	tb.Helper()
	return testKeys()
}

func keysK1(tb testing.TB) func(string) (*rsa.PublicKey, bool) {
	k1, _ := MustKeys(tb)
	return jwt.Lookup(k1)
}

// claims returns valid claims at t0 with overrides applied; a nil override
// deletes the claim.
func claims(over map[string]any) map[string]any {
	c := map[string]any{
		"iss": expect.Issuer,
		"aud": expect.Audience,
		"sub": "user-1",
		"iat": t0.Unix(),
		"exp": t0.Add(time.Hour).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// MustRaw builds a token from literal header and payload JSON, signed with
// RS256 by k (the header says whatever the test wants).
func MustRaw(tb testing.TB, k *jwt.Key, header, payload string) string {
	tb.Helper()
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, k.Private, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// MustSign signs c with k through the package under test.
func MustSign(tb testing.TB, k *jwt.Key, c any) string {
	tb.Helper()
	tok, err := jwt.Sign(k, c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func hmacToken(header, payload string, secret []byte) string {
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

const hdr = `{"alg":"RS256","kid":"k1","typ":"JWT"}`

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k1, _ := MustKeys(t)
	in := claims(map[string]any{"nested": map[string]any{"a": []any{1, "x", true, nil}}, "nonce": "n<>&"})
	tok := MustSign(t, k1, in)

	segs := strings.Split(tok, ".")
	h, err := enc.DecodeString(segs[0])
	if err != nil || string(h) != hdr {
		t.Fatalf("header = %s, %v; want %s", h, err, hdr)
	}
	got, err := jwt.Verify(tok, keysK1(t), t0, expect)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got["sub"] != "user-1" || got["nonce"] != "n<>&" || got["iss"] != expect.Issuer {
		t.Errorf("claims = %v", got)
	}
	if exp, ok := got["exp"].(json.Number); !ok || exp.String() != "1700003600" {
		t.Errorf("exp = %#v, want json.Number 1700003600", got["exp"])
	}
	nested := got["nested"].(map[string]any)["a"].([]any)
	if nested[0] != json.Number("1") || nested[1] != "x" || nested[2] != true || nested[3] != nil {
		t.Errorf("nested = %#v", nested)
	}

	// A struct also works as claims.
	type idToken struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
	}
	if _, err := jwt.Verify(MustSign(t, k1, idToken{expect.Issuer, expect.Audience, t0.Unix() + 10}), keysK1(t), t0, expect); err != nil {
		t.Errorf("struct claims: %v", err)
	}
}

func TestPrivateKeyStorage(t *testing.T) {
	t.Parallel()
	k1, _ := MustKeys(t)
	der, err := k1.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := jwt.ParsePrivate("k1", der)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Private.Equal(k1.Private) || back.ID != "k1" {
		t.Fatal("parsed key differs")
	}
	if _, err := jwt.Verify(MustSign(t, back, claims(nil)), keysK1(t), t0, expect); err != nil {
		t.Errorf("token from parsed key: %v", err)
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, der := range map[string][]byte{"garbage": []byte("nope"), "small": smallDER, "ecdsa": ecDER, "pkcs1": x509.MarshalPKCS1PrivateKey(k1.Private)} {
		if _, err := jwt.ParsePrivate("x", der); err == nil {
			t.Errorf("ParsePrivate(%s) succeeded", name)
		}
	}
	if _, err := jwt.ParsePrivate("", der); err == nil {
		t.Error("ParsePrivate with empty id succeeded")
	}
	if _, err := jwt.GenerateKey("x", 1024); err == nil {
		t.Error("GenerateKey(1024) succeeded")
	}
	if _, err := jwt.GenerateKey("", 2048); err == nil {
		t.Error("GenerateKey with empty id succeeded")
	}
	if _, err := jwt.Sign(&jwt.Key{ID: "s", Private: small}, claims(nil)); err == nil {
		t.Error("Sign with 1024-bit key succeeded")
	}
}

func TestSignRejects(t *testing.T) {
	t.Parallel()
	k1, _ := MustKeys(t)
	for name, c := range map[string]any{"array": []int{1}, "string": "x", "null": nil, "unmarshalable": map[string]any{"f": func() {}}} {
		if _, err := jwt.Sign(k1, c); err == nil {
			t.Errorf("Sign(%s) succeeded", name)
		}
	}
	if _, err := jwt.Sign(nil, claims(nil)); err == nil {
		t.Error("Sign(nil key) succeeded")
	}
	if _, err := jwt.Sign(&jwt.Key{Private: k1.Private}, claims(nil)); err == nil {
		t.Error("Sign with empty kid succeeded")
	}
	if _, err := jwt.Sign(k1, map[string]string{"big": strings.Repeat("x", jwt.MaxTokenSize)}); err == nil {
		t.Error("Sign of oversize claims succeeded")
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k1, k2 := MustKeys(t)
	set := jwt.PublicJWKS(k1, nil, k2)
	raw := mustJSON(t, set)

	var generic struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		t.Fatal(err)
	}
	if len(generic.Keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(generic.Keys))
	}
	for i, m := range generic.Keys {
		names := slices.Sorted(maps.Keys(m))
		if want := []string{"alg", "e", "kid", "kty", "n", "use"}; !slices.Equal(names, want) {
			t.Errorf("key %d members = %v, want %v", i, names, want)
		}
		if m["kty"] != "RSA" || m["use"] != "sig" || m["alg"] != "RS256" || m["e"] != "AQAB" {
			t.Errorf("key %d = %v", i, m)
		}
	}
	// No private member may appear anywhere, even as a substring.
	for _, priv := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, `"oth"`, `"k"`} {
		if strings.Contains(raw, priv) {
			t.Errorf("JWKS JSON contains private member %s: %s", priv, raw)
		}
	}
	for _, k := range []*jwt.Key{k1, k2} {
		for _, secret := range []*big.Int{k.Private.D, k.Private.Primes[0], k.Private.Primes[1]} {
			if strings.Contains(raw, enc.EncodeToString(secret.Bytes())) {
				t.Errorf("JWKS JSON contains private key material of %s", k.ID)
			}
		}
	}

	n, _ := enc.DecodeString(set.Keys[0].N)
	if n[0] == 0 || new(big.Int).SetBytes(n).Cmp(k1.Private.N) != 0 {
		t.Error("n is not the minimal big-endian modulus")
	}
	pub, err := set.Keys[1].PublicKey()
	if err != nil || !pub.Equal(&k2.Private.PublicKey) {
		t.Fatalf("PublicKey() = %v, %v", pub, err)
	}
	lookup := func(kid string) (*rsa.PublicKey, bool) {
		for _, j := range set.Keys {
			if j.Kid == kid {
				p, err := j.PublicKey()
				return p, err == nil
			}
		}
		return nil, false
	}
	if _, err := jwt.Verify(MustSign(t, k2, claims(nil)), lookup, t0, expect); err != nil {
		t.Errorf("verify through JWKS: %v", err)
	}

	if got := mustJSON(t, jwt.PublicJWKS()); got != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s", got)
	}
	bad := set.Keys[0]
	for name, mut := range map[string]func(*jwt.JWK){
		"kty":       func(j *jwt.JWK) { j.Kty = "EC" },
		"alg":       func(j *jwt.JWK) { j.Alg = "HS256" },
		"leading 0": func(j *jwt.JWK) { j.N = enc.EncodeToString(append([]byte{0}, n...)) },
		"padded e":  func(j *jwt.JWK) { j.E = "AQAB=" },
		"even e":    func(j *jwt.JWK) { j.E = "AQAA" },
		"short n":   func(j *jwt.JWK) { j.N = enc.EncodeToString(n[:64]) },
	} {
		j := bad
		mut(&j)
		if _, err := j.PublicKey(); err == nil {
			t.Errorf("PublicKey(%s) succeeded", name)
		}
	}
}

type rejectCase struct {
	name  string
	token func(tb testing.TB) string
	want  error
}

// rejectCases are well-formed-looking tokens that Verify must refuse.
func rejectCases() []rejectCase {
	k := func(tb testing.TB) *jwt.Key { k1, _ := MustKeys(tb); return k1 }
	signed := func(over map[string]any) func(testing.TB) string {
		return func(tb testing.TB) string { return MustSign(tb, k(tb), claims(over)) }
	}
	raw := func(header, payload string) func(testing.TB) string {
		return func(tb testing.TB) string { return MustRaw(tb, k(tb), header, payload) }
	}
	body := func(tb testing.TB) string { return mustJSON(tb, claims(nil)) }
	pubForms := func(tb testing.TB) map[string][]byte {
		pub := &k(tb).Private.PublicKey
		pkix, _ := x509.MarshalPKIXPublicKey(pub)
		pkcs1 := x509.MarshalPKCS1PublicKey(pub)
		return map[string][]byte{
			"pkix-pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
			"pkix-der":  pkix,
			"pkcs1-pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
			"pkcs1-der": pkcs1,
			"n":         pub.N.Bytes(),
			"jwk":       []byte(mustJSON(tb, jwt.NewJWK("k1", pub))),
		}
	}
	cases := []rejectCase{
		{"alg none", func(tb testing.TB) string {
			return enc.EncodeToString([]byte(`{"alg":"none","kid":"k1","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(body(tb))) + "."
		}, jwt.ErrAlgorithm},
		{"alg None with RS256 signature", raw(`{"alg":"None","kid":"k1"}`, `{}`), jwt.ErrAlgorithm},
		{"alg RS512", func(tb testing.TB) string {
			signing := enc.EncodeToString([]byte(`{"alg":"RS512","kid":"k1","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(body(tb)))
			sum := sha512.Sum512([]byte(signing))
			sig, _ := rsa.SignPKCS1v15(nil, k(tb).Private, crypto.SHA512, sum[:])
			return signing + "." + enc.EncodeToString(sig)
		}, jwt.ErrAlgorithm},
		{"alg PS256", raw(`{"alg":"PS256","kid":"k1"}`, `{}`), jwt.ErrAlgorithm},
		{"alg lower case", raw(`{"alg":"rs256","kid":"k1"}`, `{}`), jwt.ErrAlgorithm},
		{"alg array", raw(`{"alg":["RS256"],"kid":"k1"}`, `{}`), jwt.ErrAlgorithm},
		{"alg missing", func(tb testing.TB) string { return MustRaw(tb, k(tb), `{"kid":"k1","typ":"JWT"}`, body(tb)) }, jwt.ErrAlgorithm},
		{"alg null", raw(`{"alg":null,"kid":"k1"}`, `{}`), jwt.ErrAlgorithm},
		{"kid missing", func(tb testing.TB) string { return MustRaw(tb, k(tb), `{"alg":"RS256","typ":"JWT"}`, body(tb)) }, jwt.ErrMalformed},
		{"kid empty", raw(`{"alg":"RS256","kid":""}`, `{}`), jwt.ErrMalformed},
		{"kid number", raw(`{"alg":"RS256","kid":1}`, `{}`), jwt.ErrMalformed},
		{"kid unknown", func(tb testing.TB) string { _, k2 := MustKeys(tb); return MustSign(tb, k2, claims(nil)) }, jwt.ErrSignature},
		{"signed by other key", func(tb testing.TB) string {
			_, k2 := MustKeys(tb)
			return MustRaw(tb, k2, hdr, body(tb))
		}, jwt.ErrSignature},
		{"signature bit flip", func(tb testing.TB) string {
			tok := MustSign(tb, k(tb), claims(nil))
			i := strings.LastIndexByte(tok, '.')
			sig, _ := enc.DecodeString(tok[i+1:])
			sig[10] ^= 1
			return tok[:i+1] + enc.EncodeToString(sig)
		}, jwt.ErrSignature},
		{"signature truncated", func(tb testing.TB) string {
			tok := MustSign(tb, k(tb), claims(nil))
			i := strings.LastIndexByte(tok, '.')
			sig, _ := enc.DecodeString(tok[i+1:])
			return tok[:i+1] + enc.EncodeToString(sig[:len(sig)-1])
		}, jwt.ErrSignature},
		{"payload swapped", func(tb testing.TB) string {
			a := strings.Split(MustSign(tb, k(tb), claims(nil)), ".")
			b := strings.Split(MustSign(tb, k(tb), claims(map[string]any{"sub": "admin"})), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, jwt.ErrSignature},
		{"crit header", raw(`{"alg":"RS256","kid":"k1","crit":["exp"],"exp":1}`, `{}`), jwt.ErrMalformed},
		{"typ other", raw(`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, `{}`), jwt.ErrMalformed},
		{"duplicate alg", raw(`{"alg":"RS256","kid":"k1","alg":"none"}`, `{}`), jwt.ErrMalformed},
		{"duplicate alg escaped", raw(`{"alg":"RS256","kid":"k1","\u0061lg":"RS256"}`, `{}`), jwt.ErrMalformed},
		{"duplicate claim", func(tb testing.TB) string {
			b := body(tb)
			return MustRaw(tb, k(tb), hdr, b[:len(b)-1]+`,"iss":"https://evil.example"}`)
		}, jwt.ErrMalformed},
		{"duplicate nested claim", raw(hdr, `{"x":{"a":1,"a":2}}`), jwt.ErrMalformed},
		{"claims array", raw(hdr, `[]`), jwt.ErrMalformed},
		{"claims null", raw(hdr, `null`), jwt.ErrMalformed},
		{"claims trailing data", func(tb testing.TB) string { return MustRaw(tb, k(tb), hdr, body(tb)+"x") }, jwt.ErrMalformed},
		{"claims second object", func(tb testing.TB) string { return MustRaw(tb, k(tb), hdr, body(tb)+" {}") }, jwt.ErrMalformed},
		{"claims trailing comma", raw(hdr, `{"exp":1,}`), jwt.ErrMalformed},
		{"claims bad UTF-8", raw(hdr, "{\"sub\":\"\xff\"}"), jwt.ErrMalformed},
		{"claims too deep", raw(hdr, `{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`), jwt.ErrMalformed},
		{"exp missing", signed(map[string]any{"exp": nil}), jwt.ErrClaim},
		{"exp string", signed(map[string]any{"exp": "1700003600"}), jwt.ErrClaim},
		{"exp huge", signed(map[string]any{"exp": 1e300}), jwt.ErrClaim},
		{"exp past", signed(map[string]any{"exp": t0.Add(-2 * time.Minute).Unix()}), jwt.ErrExpired},
		{"exp at now+leeway", signed(map[string]any{"exp": t0.Add(-time.Minute).Unix()}), jwt.ErrExpired},
		{"iat future", signed(map[string]any{"iat": t0.Add(2 * time.Minute).Unix()}), jwt.ErrClaim},
		{"iat string", signed(map[string]any{"iat": "now"}), jwt.ErrClaim},
		{"nbf future", signed(map[string]any{"nbf": t0.Add(2 * time.Minute).Unix()}), jwt.ErrClaim},
		{"iss mismatch", signed(map[string]any{"iss": "https://evil.example"}), jwt.ErrClaim},
		{"iss missing", signed(map[string]any{"iss": nil}), jwt.ErrClaim},
		{"iss array", signed(map[string]any{"iss": []string{expect.Issuer}}), jwt.ErrClaim},
		{"aud mismatch", signed(map[string]any{"aud": "client-2"}), jwt.ErrClaim},
		{"aud missing", signed(map[string]any{"aud": nil}), jwt.ErrClaim},
		{"aud array without", signed(map[string]any{"aud": []string{"client-2", "client-3"}}), jwt.ErrClaim},
		{"aud empty array", signed(map[string]any{"aud": []string{}}), jwt.ErrClaim},
		{"aud array non-string", signed(map[string]any{"aud": []any{"client-1", 7}}), jwt.ErrClaim},
	}
	for _, name := range []string{"pkix-pem", "pkix-der", "pkcs1-pem", "pkcs1-der", "n", "jwk"} {
		// Key confusion: HS256 keyed with the public key in every usual form.
		cases = append(cases, rejectCase{"HS256 with public " + name, func(tb testing.TB) string {
			return hmacToken(hdr[:8]+"HS256"+hdr[13:], body(tb), pubForms(tb)[name])
		}, jwt.ErrAlgorithm})
	}
	return cases
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range rejectCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := tc.token(t)
			c, err := jwt.Verify(tok, keysK1(t), t0, expect)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tc.want)
			}
			if c != nil {
				t.Errorf("claims returned with error: %v", c)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	k1, _ := MustKeys(t)
	for name, over := range map[string]map[string]any{
		"exp within leeway":   {"exp": t0.Add(-59 * time.Second).Unix()},
		"exp fractional":      {"exp": float64(t0.Unix()) + 0.5 - 60},
		"iat within leeway":   {"iat": t0.Add(time.Minute).Unix()},
		"iat missing":         {"iat": nil},
		"nbf within leeway":   {"nbf": t0.Add(time.Minute).Unix()},
		"nbf past":            {"nbf": t0.Add(-time.Hour).Unix()},
		"aud array":           {"aud": []string{"client-2", "client-1"}},
		"unknown claims kept": {"email": "a@example.com", "roles": []string{"x"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := jwt.Verify(MustSign(t, k1, claims(over)), keysK1(t), t0, expect); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("typ absent or lower case", func(t *testing.T) {
		t.Parallel()
		body := mustJSON(t, claims(nil))
		for _, h := range []string{`{"alg":"RS256","kid":"k1"}`, `{"kid":"k1","typ":"jwt","alg":"RS256"}`} {
			if _, err := jwt.Verify(MustRaw(t, k1, h, body), keysK1(t), t0, expect); err != nil {
				t.Errorf("header %s: %v", h, err)
			}
		}
	})
	t.Run("zero leeway", func(t *testing.T) {
		t.Parallel()
		strict := expect
		strict.Leeway = -time.Hour // counts as zero
		tok := MustSign(t, k1, claims(map[string]any{"exp": t0.Add(time.Second).Unix()}))
		if _, err := jwt.Verify(tok, keysK1(t), t0, strict); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if _, err := jwt.Verify(tok, keysK1(t), t0.Add(time.Second), strict); !errors.Is(err, jwt.ErrExpired) {
			t.Errorf("Verify at exp = %v, want ErrExpired", err)
		}
	})
	t.Run("empty expectations", func(t *testing.T) {
		t.Parallel()
		tok := MustSign(t, k1, claims(nil))
		for _, e := range []jwt.Expect{{Audience: "client-1"}, {Issuer: expect.Issuer}} {
			if _, err := jwt.Verify(tok, keysK1(t), t0, e); !errors.Is(err, jwt.ErrClaim) {
				t.Errorf("Verify with %+v = %v, want ErrClaim", e, err)
			}
		}
	})
	t.Run("nil key set", func(t *testing.T) {
		t.Parallel()
		if _, err := jwt.Verify(MustSign(t, k1, claims(nil)), nil, t0, expect); !errors.Is(err, jwt.ErrSignature) {
			t.Errorf("Verify = %v, want ErrSignature", err)
		}
	})
}

type malformedCase struct {
	name  string
	token func(valid string) string
	want  error
}

func flipLastBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[v|1])
}

// malformedCases derive broken tokens from a valid one.
var malformedCases = []malformedCase{
	{"empty", func(string) string { return "" }, jwt.ErrMalformed},
	{"one dot", func(string) string { return "." }, jwt.ErrMalformed},
	{"two dots", func(string) string { return ".." }, jwt.ErrMalformed},
	{"two segments", func(v string) string { return v[:strings.LastIndexByte(v, '.')] }, jwt.ErrMalformed},
	{"four segments", func(v string) string { return v + ".e30" }, jwt.ErrMalformed},
	{"trailing dot", func(v string) string { return v + "." }, jwt.ErrMalformed},
	{"trailing data", func(v string) string { return v + "AAAA" }, jwt.ErrSignature},
	{"trailing garbage", func(v string) string { return v + "!" }, jwt.ErrMalformed},
	{"padded signature", func(v string) string { return v + "==" }, jwt.ErrMalformed},
	{"padded header", func(v string) string { return strings.Replace(v, ".", "=.", 1) }, jwt.ErrMalformed},
	{"std alphabet", func(v string) string {
		h, rest, _ := strings.Cut(v, ".")
		return h + "." + strings.NewReplacer("-", "+", "_", "/").Replace(rest) + "+/"
	}, jwt.ErrMalformed},
	{"newline in header", func(v string) string { return v[:4] + "\n" + v[4:] }, jwt.ErrMalformed},
	{"CRLF in signature", func(v string) string { return v[:len(v)-4] + "\r\n" + v[len(v)-4:] }, jwt.ErrMalformed},
	{"space", func(v string) string { return " " + v }, jwt.ErrMalformed},
	{"non-zero trailing bits", flipLastBits, jwt.ErrMalformed},
	{"oversize", func(v string) string { return v + strings.Repeat("A", jwt.MaxTokenSize) }, jwt.ErrMalformed},
	{"empty header", func(v string) string { return v[strings.IndexByte(v, '.'):] }, jwt.ErrMalformed},
	{"header not JSON", func(v string) string { return enc.EncodeToString([]byte("RS256")) + v[strings.IndexByte(v, '.'):] }, jwt.ErrMalformed},
	{"header array", func(v string) string {
		return enc.EncodeToString([]byte(`["alg","RS256"]`)) + v[strings.IndexByte(v, '.'):]
	}, jwt.ErrMalformed},
	{"header null", func(v string) string { return enc.EncodeToString([]byte(`null`)) + v[strings.IndexByte(v, '.'):] }, jwt.ErrMalformed},
	{"header trailing data", func(v string) string { return enc.EncodeToString([]byte(hdr+"{}")) + v[strings.IndexByte(v, '.'):] }, jwt.ErrMalformed},
	{"header bad UTF-8", func(v string) string {
		return enc.EncodeToString([]byte("{\"alg\":\"RS256\",\"kid\":\"k1\xc0\"}")) + v[strings.IndexByte(v, '.'):]
	}, jwt.ErrMalformed},
	{"header deep", func(v string) string {
		return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`)) + v[strings.IndexByte(v, '.'):]
	}, jwt.ErrMalformed},
	{"payload not base64", func(v string) string {
		p := strings.Split(v, ".")
		return p[0] + ".!!!!." + p[2]
	}, jwt.ErrMalformed},
	{"signature not base64", func(v string) string { return v[:strings.LastIndexByte(v, '.')] + ".%%%" }, jwt.ErrMalformed},
	{"empty signature", func(v string) string { return v[:strings.LastIndexByte(v, '.')+1] }, jwt.ErrSignature},
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	k1, _ := MustKeys(t)
	valid := MustSign(t, k1, claims(nil))
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := tc.token(valid)
			if tok == valid {
				t.Fatal("case does not change the token")
			}
			if _, err := jwt.Verify(tok, keysK1(t), t0, expect); !errors.Is(err, tc.want) {
				t.Fatalf("Verify(%.60q…) = %v, want %v", tok, err, tc.want)
			}
		})
	}
}

var sentinels = []error{jwt.ErrMalformed, jwt.ErrAlgorithm, jwt.ErrSignature, jwt.ErrExpired, jwt.ErrClaim}

func classified(err error) bool {
	return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
}

// FuzzVerify checks that Verify never panics, classifies every error, and
// accepts only tokens this process signed.
func FuzzVerify(f *testing.F) {
	k1, _ := MustKeys(f)
	signed := map[string]bool{}
	for _, over := range []map[string]any{nil, {"aud": []string{"x", "client-1"}}, {"nbf": t0.Unix()}} {
		tok := MustSign(f, k1, claims(over))
		signed[tok] = true
		f.Add(tok)
	}
	valid := MustSign(f, k1, claims(nil))
	for _, tc := range malformedCases {
		f.Add(tc.token(valid))
	}
	for _, tc := range rejectCases() {
		f.Add(tc.token(f))
	}
	keys := keysK1(f)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := jwt.Verify(tok, keys, t0, expect)
		if err == nil && !signed[tok] {
			t.Fatalf("Verify accepted a token it was never given: %q → %v", tok, c)
		}
		if err != nil && !classified(err) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// FuzzClaims signs arbitrary header and payload bytes, reaching the claim
// parser that FuzzVerify cannot pass the signature check to reach.
func FuzzClaims(f *testing.F) {
	k1, _ := MustKeys(f)
	f.Add(hdr, mustJSON(f, claims(nil)))
	f.Add(`{"alg":"RS256","kid":"k1","kid":"k1"}`, `{"exp":1e999,"aud":[1,"client-1"]}`)
	f.Add(hdr, `{"iss":"https://idp.example","aud":"client-1","exp":1700000000.5,"nbf":-1,"x":[[{"y":null}]]}`)
	keys := keysK1(f)
	f.Fuzz(func(t *testing.T, header, payload string) {
		tok := MustRaw(t, k1, header, payload)
		c, err := jwt.Verify(tok, keys, t0, expect)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if !json.Valid([]byte(payload)) || c["iss"] != expect.Issuer {
			t.Fatalf("accepted bad claims %q", payload)
		}
		if _, ok := c["exp"].(json.Number); !ok {
			t.Fatalf("accepted claims without numeric exp: %q", payload)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	k1, _ := MustKeys(b)
	tok := MustSign(b, k1, claims(nil))
	keys := keysK1(b)
	for b.Loop() {
		if _, err := jwt.Verify(tok, keys, t0, expect); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

func BenchmarkSign(b *testing.B) {
	k1, _ := MustKeys(b)
	c := claims(nil)
	for b.Loop() {
		if _, err := jwt.Sign(k1, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}
