package callback

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
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

// Handler returns an http.Handler for an app's callback URL. It reads the
// POSTed envelope, verifies its signature and timestamp (DefaultMaxSkew),
// decrypts the data when encryptionKey is not empty, and answers CHECK_URL by
// itself. Other events go to next with their JSON; next's result becomes the
// reply's data. A nonce seen before (up to 10,000 are remembered for twice
// the skew window) is answered with success without calling next again; if
// next fails, its nonce is forgotten so that the platform's retry is handled.
// The returned handler is safe for concurrent use.
func Handler(signingKey, encryptionKey string, next func(ctx context.Context, eventType string, event json.RawMessage) (any, error)) http.Handler {
	return &handler{
		signingKey:    signingKey,
		encryptionKey: encryptionKey,
		next:          next,
		now:           time.Now,
		maxSkew:       DefaultMaxSkew,
		nonces:        newNonceCache(defaultNonceCap, 2*DefaultMaxSkew),
	}
}

type handler struct {
	signingKey, encryptionKey string
	next                      func(ctx context.Context, eventType string, event json.RawMessage) (any, error)
	now                       func() time.Time
	maxSkew                   time.Duration
	nonces                    *nonceCache
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, "method must be POST", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, "body is too large", nil)
		return
	}
	now := h.now()
	e, err := openEnvelope(h.signingKey, body, now, h.maxSkew)
	switch {
	case errors.Is(err, ErrSignature), errors.Is(err, ErrTimestamp), errors.Is(err, ErrSigningKey):
		writeJSON(w, http.StatusUnauthorized, "signature or timestamp rejected", nil)
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, "malformed envelope", nil)
		return
	}
	data, err := openData(h.encryptionKey, e.Data)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, "cannot decrypt data", nil)
		return
	}
	if e.EventType == EventCheckURL {
		echo := any(data)
		if h.encryptionKey != "" {
			s, err := Encrypt(h.encryptionKey, data)
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
