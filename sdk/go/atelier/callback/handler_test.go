package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb", bytes.NewReader(body)))
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
