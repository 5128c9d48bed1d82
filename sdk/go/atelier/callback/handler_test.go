package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

type replyBody struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func post(t *testing.T, h http.Handler, body []byte) (int, replyBody) {
	t.Helper()
	return postAuth(t, h, body, "")
}

// postAuth posts body with the Authorization header auth (none when empty).
func postAuth(t *testing.T, h http.Handler, body []byte, auth string) (int, replyBody) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/cb", bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	h.ServeHTTP(rec, req)
	var r replyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("reply %q is not JSON: %v", rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return rec.Code, r
}

func sealBody(t *testing.T, encKey, eventType string, event any) []byte {
	t.Helper()
	e, err := Seal(testSignKey, encKey, eventType, event, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	return b
}

func TestReply(t *testing.T) {
	rec := httptest.NewRecorder()
	Reply(rec, map[string]int{"n": 1})
	if rec.Code != 200 || rec.Body.String() != `{"code":"200","message":"success","data":{"n":1}}` {
		t.Fatalf("Reply = %d %s", rec.Code, rec.Body)
	}
}

func TestHandlerCheckURL(t *testing.T) {
	next := func(context.Context, string, json.RawMessage) (any, error) {
		t.Error("next called for CHECK_URL")
		return nil, nil
	}
	t.Run("plain", func(t *testing.T) {
		h := Handler(testSignKey, "", next)
		code, r := post(t, h, sealBody(t, "", EventCheckURL, "rAnDoMcHeCk123"))
		if code != 200 || r.Code != "200" || r.Message != "success" || string(r.Data) != `"rAnDoMcHeCk123"` {
			t.Fatalf("reply = %d %+v", code, r)
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		h := Handler(testSignKey, testEncKey, next)
		code, r := post(t, h, sealBody(t, testEncKey, EventCheckURL, "rAnDoMcHeCk123"))
		var echo string
		if err := json.Unmarshal(r.Data, &echo); code != 200 || err != nil {
			t.Fatalf("reply = %d %+v", code, r)
		}
		if echo == "rAnDoMcHeCk123" {
			t.Fatal("echo is not encrypted")
		}
		if got, err := Decrypt(testEncKey, echo); err != nil || got != "rAnDoMcHeCk123" {
			t.Fatalf("Decrypt(echo) = %q, %v", got, err)
		}
	})
}

func TestHandlerEvents(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	h := Handler(testSignKey, testEncKey, func(ctx context.Context, typ string, ev json.RawMessage) (any, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("database down")
		}
		if typ != "CREATE_USER" || string(ev) != `{"id":"u1"}` {
			t.Errorf("next(%q, %s)", typ, ev)
		}
		return map[string]string{"ok": "yes"}, nil
	})
	body := sealBody(t, testEncKey, "CREATE_USER", map[string]string{"id": "u1"})
	code, r := post(t, h, body)
	if code != 200 || string(r.Data) != `{"ok":"yes"}` || calls.Load() != 1 {
		t.Fatalf("first delivery: %d %+v, calls %d", code, r, calls.Load())
	}
	// The same delivery again (same nonce) is acknowledged without calling next.
	code, r = post(t, h, body)
	if code != 200 || r.Code != "200" || calls.Load() != 1 {
		t.Fatalf("duplicate: %d %+v, calls %d", code, r, calls.Load())
	}

	// A failed handler answers 500 and forgets the nonce, so the retry runs next again.
	fail.Store(true)
	body2 := sealBody(t, testEncKey, "CREATE_USER", map[string]string{"id": "u1"})
	if code, _ := post(t, h, body2); code != 500 || calls.Load() != 2 {
		t.Fatalf("failing next: %d, calls %d", code, calls.Load())
	}
	fail.Store(false)
	if code, _ := post(t, h, body2); code != 200 || calls.Load() != 3 {
		t.Fatalf("retry: %d, calls %d", code, calls.Load())
	}

	// Forged, stale, undecryptable and non-POST requests never reach next.
	var e Envelope
	json.Unmarshal(body, &e)
	e.Nonce = "fresh"
	forged, _ := json.Marshal(e)
	old, _ := Seal(testSignKey, testEncKey, "CREATE_USER", "{}", time.Now().Add(-time.Hour))
	oldBody, _ := json.Marshal(old)
	plain := sealBody(t, "", "CREATE_USER", map[string]string{"id": "u1"})
	for name, tc := range map[string]struct {
		body []byte
		want int
	}{
		"forged":      {forged, 401},
		"stale":       {oldBody, 401},
		"unencrypted": {plain, 400},
		"garbage":     {[]byte("{"), 400},
	} {
		if code, _ := post(t, h, tc.body); code != tc.want {
			t.Errorf("%s: status %d, want %d", name, code, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cb", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", rec.Code)
	}
	if calls.Load() != 3 {
		t.Fatalf("next called %d times, want 3", calls.Load())
	}
}

func TestNonceCache(t *testing.T) {
	c := newNonceCache(2, time.Minute)
	if !c.add("a", t0) || c.add("a", t0.Add(time.Second)) {
		t.Fatal("duplicate within ttl accepted")
	}
	if !c.add("a", t0.Add(time.Minute)) {
		t.Fatal("nonce not forgotten after ttl")
	}
	c.add("b", t0.Add(time.Minute))
	c.add("c", t0.Add(time.Minute)) // evicts "a", the oldest
	if !c.add("a", t0.Add(time.Minute)) {
		t.Fatal("capacity not enforced")
	}
	if c.order.Len() != 2 || len(c.byKey) != 2 {
		t.Fatalf("size %d/%d, want 2", c.order.Len(), len(c.byKey))
	}
}

// Keys of a rotation: Atelier signs and encrypts with the old ones during the
// overlap window, then with the new ones.
const (
	oldSignKey = "sign-key-old"
	newSignKey = "sign-key-new"
	oldEncKey  = "old-enc-key-16by"
	newEncKey  = "new-encryption-key-of-32-bytes!!"
	oldToken   = "token-old"
	newToken   = "token-new"
)

func sealWith(t *testing.T, signKey, encKey, eventType string, event any, now time.Time) []byte {
	t.Helper()
	e, err := Seal(signKey, encKey, eventType, event, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	return b
}

// rotationHandler returns a handler configured with the old and new keys and
// tokens, and a pointer to the events it passed to Next.
func rotationHandler(t *testing.T) (http.Handler, *[]string) {
	t.Helper()
	var got []string
	h, err := NewHandler(Config{
		SigningKeys:    []string{oldSignKey, newSignKey},
		EncryptionKeys: []string{oldEncKey, newEncKey},
		SecurityTokens: []string{oldToken, newToken},
		Next: func(ctx context.Context, typ string, ev json.RawMessage) (any, error) {
			got = append(got, typ+" "+string(ev))
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, &got
}

func TestNewHandlerRotation(t *testing.T) {
	h, got := rotationHandler(t)
	now := time.Now()
	for i, tc := range []struct{ sign, enc, token string }{
		{oldSignKey, oldEncKey, oldToken}, // before the switch
		{newSignKey, newEncKey, newToken}, // after it
		{oldSignKey, newEncKey, newToken}, // keys and token rotated independently
		{newSignKey, oldEncKey, oldToken},
	} {
		body := sealWith(t, tc.sign, tc.enc, "CREATE_USER", map[string]int{"n": i}, now)
		if code, r := postAuth(t, h, body, "Bearer "+tc.token); code != 200 || r.Code != "200" {
			t.Fatalf("delivery %d (%s, %s, %s): %d %+v", i, tc.sign, tc.enc, tc.token, code, r)
		}
	}
	want := []string{`CREATE_USER {"n":0}`, `CREATE_USER {"n":1}`, `CREATE_USER {"n":2}`, `CREATE_USER {"n":3}`}
	if !slices.Equal(*got, want) {
		t.Fatalf("Next got %q, want %q", *got, want)
	}

	for name, tc := range map[string]struct {
		body []byte
		auth string
		want int
	}{
		"unknown signing key":    {sealWith(t, "sign-key-other", newEncKey, "CREATE_USER", "{}", now), "Bearer " + newToken, 401},
		"unknown encryption key": {sealWith(t, newSignKey, "other-enc-key-16", "CREATE_USER", "{}", now), "Bearer " + newToken, 400},
		"plain data":             {sealWith(t, newSignKey, "", "CREATE_USER", "{}", now), "Bearer " + newToken, 400},
		"no token":               {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now), "", 401},
		"wrong token":            {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now), "Bearer token-other", 401},
		"token without scheme":   {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now), newToken, 401},
		"token prefix":           {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now), "Bearer token-", 401},
		"other scheme":           {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now), "Basic " + newToken, 401},
		"stale":                  {sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now.Add(-time.Hour)), "Bearer " + newToken, 401},
	} {
		if code, _ := postAuth(t, h, tc.body, tc.auth); code != tc.want {
			t.Errorf("%s: status %d, want %d", name, code, tc.want)
		}
	}
	if len(*got) != 4 {
		t.Fatalf("refused deliveries reached Next: %q", *got)
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	body := sealWith(t, newSignKey, newEncKey, "CREATE_USER", "{}", now)
	if code, _ := postAuth(t, h, body, "bearer "+newToken); code != 200 {
		t.Fatalf("lower-case scheme: status %d", code)
	}
}

func TestNewHandlerCheckURLUnderEachKey(t *testing.T) {
	h, got := rotationHandler(t)
	for i, key := range []string{oldEncKey, newEncKey} {
		body := sealWith(t, oldSignKey, key, EventCheckURL, "cHaLlEnGe", time.Now())
		code, r := postAuth(t, h, body, "Bearer "+oldToken)
		var echo string
		if err := json.Unmarshal(r.Data, &echo); code != 200 || err != nil {
			t.Fatalf("key %d: reply %d %+v", i, code, r)
		}
		if msg, err := Decrypt(key, echo); err != nil || msg != "cHaLlEnGe" {
			t.Fatalf("key %d: echo under the challenge's key = %q, %v", i, msg, err)
		}
		other := []string{oldEncKey, newEncKey}[1-i]
		if _, err := Decrypt(other, echo); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("key %d: echo also decrypts under the other key (%v)", i, err)
		}
	}
	if len(*got) != 0 {
		t.Fatalf("CHECK_URL reached Next: %q", *got)
	}
}

func TestNewHandlerNonces(t *testing.T) {
	h, got := rotationHandler(t)
	now := time.Now()
	body := sealWith(t, oldSignKey, oldEncKey, "DELETE_USER", map[string]string{"id": "u1"}, now)
	for i := range 3 {
		// A redelivery carries the same nonce, whatever the token.
		if code, _ := postAuth(t, h, body, "Bearer "+[]string{oldToken, newToken}[i%2]); code != 200 {
			t.Fatalf("delivery %d: status %d", i, code)
		}
	}
	if len(*got) != 1 {
		t.Fatalf("Next called %d times for one nonce, want 1", len(*got))
	}

	// NonceCapacity bounds the cache: with room for one, an older nonce is
	// forgotten and its redelivery handled again.
	calls := 0
	small, err := NewHandler(Config{
		SigningKeys:   []string{testSignKey},
		NonceCapacity: 1,
		Next:          func(context.Context, string, json.RawMessage) (any, error) { calls++; return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	a := sealWith(t, testSignKey, "", "CREATE_USER", "{}", now)
	b := sealWith(t, testSignKey, "", "CREATE_USER", "{}", now)
	for _, body := range [][]byte{a, a, b, a} {
		if code, _ := post(t, small, body); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if calls != 3 {
		t.Fatalf("Next called %d times, want 3 (a, b, a again)", calls)
	}
}

func TestNewHandlerMaxSkew(t *testing.T) {
	next := func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }
	body := sealWith(t, testSignKey, "", "CREATE_USER", "{}", time.Now().Add(-2*time.Minute))
	for _, tc := range []struct {
		skew time.Duration
		want int
	}{{0, 200}, {time.Minute, 401}, {-1, 200}} {
		h, err := NewHandler(Config{SigningKeys: []string{testSignKey}, MaxSkew: tc.skew, Next: next})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := post(t, h, body); code != tc.want {
			t.Errorf("MaxSkew %v: status %d, want %d", tc.skew, code, tc.want)
		}
	}
}

func TestNewHandlerConfigErrors(t *testing.T) {
	next := func(context.Context, string, json.RawMessage) (any, error) { return nil, nil }
	for name, tc := range map[string]struct {
		c    Config
		want error
	}{
		"no signing key":     {Config{Next: next}, ErrSigningKey},
		"empty signing keys": {Config{SigningKeys: []string{"", ""}, Next: next}, ErrSigningKey},
		"bad encryption key": {Config{SigningKeys: []string{"k"}, EncryptionKeys: []string{oldEncKey, "short"}, Next: next}, ErrKeyLength},
		"17-byte key":        {Config{SigningKeys: []string{"k"}, EncryptionKeys: []string{"0123456789abcdef0"}, Next: next}, ErrKeyLength},
		"no Next":            {Config{SigningKeys: []string{"k"}}, nil},
		"negative capacity":  {Config{SigningKeys: []string{"k"}, NonceCapacity: -1, Next: next}, nil},
	} {
		h, err := NewHandler(tc.c)
		if err == nil || h != nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: NewHandler = %v, %v; want an error wrapping %v", name, h, err, tc.want)
		}
	}
	// Empty strings are ignored: an empty token list means no token check,
	// an empty encryption key list plain data.
	h, err := NewHandler(Config{SigningKeys: []string{"", testSignKey}, EncryptionKeys: []string{""}, SecurityTokens: []string{""}, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := post(t, h, sealWith(t, testSignKey, "", "CREATE_USER", "{}", time.Now())); code != 200 {
		t.Fatalf("status %d", code)
	}
}

func TestHandlerIgnoresToken(t *testing.T) {
	h := Handler(testSignKey, "", func(context.Context, string, json.RawMessage) (any, error) { return nil, nil })
	for _, auth := range []string{"", "Bearer anything"} {
		if code, _ := postAuth(t, h, sealBody(t, "", "CREATE_USER", "{}"), auth); code != 200 {
			t.Fatalf("Authorization %q: status %d", auth, code)
		}
	}
	if code, _ := post(t, Handler("", "", nil), sealBody(t, "", "CREATE_USER", "{}")); code != 401 {
		t.Fatalf("empty signing key: status %d, want 401", code)
	}
}

func TestVerifyAny(t *testing.T) {
	e := &Envelope{Nonce: "n", Timestamp: "1", EventType: "E", Data: "d"}
	e.Signature = Sign(newSignKey, e.Nonce, e.Timestamp, e.EventType, e.Data)
	for _, tc := range []struct {
		keys []string
		want error
	}{
		{[]string{oldSignKey, newSignKey}, nil},
		{[]string{newSignKey, oldSignKey}, nil},
		{[]string{"", newSignKey}, nil},
		{[]string{oldSignKey}, ErrSignature},
		{[]string{""}, ErrSigningKey},
		{nil, ErrSigningKey},
	} {
		if err := VerifyAny(tc.keys, e); !errors.Is(err, tc.want) {
			t.Errorf("VerifyAny(%q) = %v, want %v", tc.keys, err, tc.want)
		}
	}
	if err := VerifyAny([]string{newSignKey}, nil); !errors.Is(err, ErrEnvelope) {
		t.Errorf("VerifyAny(nil envelope) = %v", err)
	}
}

func TestDecryptAny(t *testing.T) {
	data, err := Encrypt(newEncKey, `{"id":"u1"}`)
	if err != nil {
		t.Fatal(err)
	}
	msg, i, err := DecryptAny([]string{oldEncKey, "", newEncKey}, data)
	if err != nil || msg != `{"id":"u1"}` || i != 2 {
		t.Fatalf("DecryptAny = %q, %d, %v; want the message and index 2", msg, i, err)
	}
	for _, tc := range []struct {
		keys []string
		data string
		want error
	}{
		{[]string{oldEncKey}, data, ErrDecrypt},
		{[]string{oldEncKey, newEncKey}, "!!", ErrDecrypt},
		{[]string{oldEncKey, newEncKey}, "AAAA", ErrDecrypt},
		{[]string{oldEncKey, "short"}, data, ErrKeyLength},
		{[]string{""}, data, ErrKeyLength},
		{nil, data, ErrKeyLength},
	} {
		if msg, i, err := DecryptAny(tc.keys, tc.data); !errors.Is(err, tc.want) || i != -1 || msg != "" {
			t.Errorf("DecryptAny(%q, %q) = %q, %d, %v; want %v", tc.keys, tc.data, msg, i, err, tc.want)
		}
	}
}
