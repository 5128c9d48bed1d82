package callback

import (
	"container/list"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the size of a callback body Handler reads.
const maxBody = 1 << 20

// defaultNonceCap bounds how many nonces Handler remembers.
const defaultNonceCap = 10000

// Reply writes the success answer of CONTRACT §5: HTTP 200 with
// {"code":"200","message":"success","data":data}.
func Reply(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, "success", data)
}

func writeJSON(w http.ResponseWriter, status int, message string, data any) {
	body, err := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{strconv.Itoa(status), message, data})
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"code":"500","message":"cannot encode reply","data":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// Config configures NewHandler. Lists hold several keys or tokens so that a
// receiver can accept both the old and the new ones while Atelier rotates
// them; empty strings in them are ignored.
type Config struct {
	// SigningKeys are the keys any one of which may have signed an envelope.
	// At least one is required.
	SigningKeys []string
	// EncryptionKeys are the app's encryption keys (16, 24 or 32 bytes each).
	// When empty, data is plain; otherwise it is decrypted with the first key
	// that authenticates it, and CHECK_URL is answered under that same key.
	EncryptionKeys []string
	// SecurityTokens, when not empty, are the accepted security tokens: a
	// request must carry "Authorization: Bearer <token>" with one of them
	// (compared in constant time), or it is answered 401.
	SecurityTokens []string
	// MaxSkew is the timestamp skew accepted between the sender's clock and
	// the receiver's: 0 means DefaultMaxSkew, a negative value turns the
	// check off.
	MaxSkew time.Duration
	// NonceCapacity bounds how many nonces are remembered to drop duplicate
	// deliveries: 0 means 10,000.
	NonceCapacity int
	// Next handles each new authentic event other than CHECK_URL; its result
	// becomes the reply's data, and an error makes the reply a 500 so that
	// the platform retries. It is required.
	Next func(ctx context.Context, eventType string, event json.RawMessage) (any, error)
}

// NewHandler returns an http.Handler for an app's callback URL configured by
// c. It answers anything but POST with 405, checks the security token (when
// c.SecurityTokens is set), reads the envelope, verifies its signature and
// timestamp, decrypts the data when c.EncryptionKeys is set, and answers
// CHECK_URL by itself. Other events go to c.Next with their JSON. A nonce seen
// before (up to c.NonceCapacity are remembered for twice the skew window) is
// answered with success without calling c.Next again; if c.Next fails, its
// nonce is forgotten so that the platform's retry is handled. A bad token,
// signature or timestamp is answered 401, a malformed envelope or data that
// does not decrypt 400.
//
// NewHandler returns an error wrapping ErrSigningKey when c has no signing
// key and one wrapping ErrKeyLength for an encryption key of a bad length.
// The returned handler is safe for concurrent use.
func NewHandler(c Config) (http.Handler, error) {
	signing := nonEmpty(c.SigningKeys)
	if len(signing) == 0 {
		return nil, fmt.Errorf("callback: NewHandler: %w", ErrSigningKey)
	}
	for i, k := range c.EncryptionKeys {
		if k == "" {
			continue
		}
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("callback: NewHandler: encryption key %d: %w", i, err)
		}
	}
	if c.NonceCapacity < 0 {
		return nil, fmt.Errorf("callback: NewHandler: NonceCapacity %d is negative", c.NonceCapacity)
	}
	if c.Next == nil {
		return nil, errors.New("callback: NewHandler: Next is nil")
	}
	c.SigningKeys = signing
	return newHandler(c), nil
}

// Handler returns an http.Handler for an app's callback URL with one signing
// key and one encryption key (empty: data is plain); it does not check the
// security token. It is NewHandler without the checks of c: an empty signing
// key refuses every delivery (401) and a bad encryption key every encrypted
// one (400). The returned handler is safe for concurrent use.
func Handler(signingKey, encryptionKey string, next func(ctx context.Context, eventType string, event json.RawMessage) (any, error)) http.Handler {
	return newHandler(Config{
		SigningKeys:    []string{signingKey},
		EncryptionKeys: []string{encryptionKey},
		Next:           next,
	})
}

// newHandler builds the handler of c without validating it.
func newHandler(c Config) *handler {
	maxSkew := c.MaxSkew
	if maxSkew == 0 {
		maxSkew = DefaultMaxSkew
	}
	ttl := 2 * maxSkew
	if maxSkew < 0 {
		ttl = 2 * DefaultMaxSkew
	}
	capacity := c.NonceCapacity
	if capacity <= 0 {
		capacity = defaultNonceCap
	}
	h := &handler{
		signingKeys:    c.SigningKeys,
		encryptionKeys: nonEmpty(c.EncryptionKeys),
		next:           c.Next,
		now:            time.Now,
		maxSkew:        maxSkew,
		nonces:         newNonceCache(capacity, ttl),
	}
	for _, t := range nonEmpty(c.SecurityTokens) {
		h.tokens = append(h.tokens, []byte(t))
	}
	return h
}

// nonEmpty returns the non-empty strings of s, in order.
func nonEmpty(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

type handler struct {
	signingKeys    []string
	encryptionKeys []string
	tokens         [][]byte
	next           func(ctx context.Context, eventType string, event json.RawMessage) (any, error)
	now            func() time.Time
	maxSkew        time.Duration
	nonces         *nonceCache
}

// authorized reports whether r carries one of h's security tokens, or h has
// none. Every token is compared, each in constant time.
func (h *handler) authorized(r *http.Request) bool {
	if len(h.tokens) == 0 {
		return true
	}
	const scheme = "Bearer "
	auth := r.Header.Get("Authorization")
	if len(auth) < len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return false
	}
	got := []byte(auth[len(scheme):])
	ok := 0
	for _, t := range h.tokens {
		ok |= subtle.ConstantTimeCompare(got, t)
	}
	return ok == 1
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, "method must be POST", nil)
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, "security token rejected", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, "body is too large", nil)
		return
	}
	now := h.now()
	e, err := openEnvelope(h.signingKeys, body, now, h.maxSkew)
	switch {
	case errors.Is(err, ErrSignature), errors.Is(err, ErrTimestamp), errors.Is(err, ErrSigningKey):
		writeJSON(w, http.StatusUnauthorized, "signature or timestamp rejected", nil)
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, "malformed envelope", nil)
		return
	}
	data, keyIndex := e.Data, -1
	if len(h.encryptionKeys) > 0 {
		if data, keyIndex, err = DecryptAny(h.encryptionKeys, e.Data); err != nil {
			writeJSON(w, http.StatusBadRequest, "cannot decrypt data", nil)
			return
		}
	}
	if e.EventType == EventCheckURL {
		echo := any(data)
		if keyIndex >= 0 {
			// Echo under the key that decrypted the challenge: the sender
			// checks the echo with the key it encrypted with.
			s, err := Encrypt(h.encryptionKeys[keyIndex], data)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, "cannot encrypt reply", nil)
				return
			}
			echo = s
		}
		Reply(w, echo)
		return
	}
	if !json.Valid([]byte(data)) {
		writeJSON(w, http.StatusBadRequest, "data is not JSON", nil)
		return
	}
	if !h.nonces.add(e.Nonce, now) {
		Reply(w, nil) // duplicate delivery: already handled or in progress
		return
	}
	result, err := h.next(r.Context(), e.EventType, json.RawMessage(data))
	if err != nil {
		h.nonces.remove(e.Nonce)
		log.Printf("callback: %s event %s: %v", e.EventType, e.Nonce, err)
		writeJSON(w, http.StatusInternalServerError, "event handler failed", nil)
		return
	}
	Reply(w, result)
}

// nonceCache is a bounded set of recently seen nonces, oldest first. It is
// safe for concurrent use.
type nonceCache struct {
	mu    sync.Mutex
	cap   int
	ttl   time.Duration
	order *list.List // of nonceEntry, oldest at the front
	byKey map[string]*list.Element
}

type nonceEntry struct {
	nonce   string
	expires time.Time
}

func newNonceCache(capacity int, ttl time.Duration) *nonceCache {
	return &nonceCache{cap: capacity, ttl: ttl, order: list.New(), byKey: make(map[string]*list.Element)}
}

// add records nonce at now and reports whether it was new.
func (c *nonceCache) add(nonce string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for f := c.order.Front(); f != nil && !now.Before(f.Value.(nonceEntry).expires); f = c.order.Front() {
		c.order.Remove(f)
		delete(c.byKey, f.Value.(nonceEntry).nonce)
	}
	if el, ok := c.byKey[nonce]; ok && now.Before(el.Value.(nonceEntry).expires) {
		return false
	}
	c.byKey[nonce] = c.order.PushBack(nonceEntry{nonce, now.Add(c.ttl)})
	for c.order.Len() > c.cap {
		f := c.order.Front()
		c.order.Remove(f)
		delete(c.byKey, f.Value.(nonceEntry).nonce)
	}
	return true
}

func (c *nonceCache) remove(nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[nonce]; ok {
		c.order.Remove(el)
		delete(c.byKey, nonce)
	}
}
