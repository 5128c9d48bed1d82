package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/sdk/go/atelier/callback"
	"github.com/atelier-dev/atelier/store"
)

// lease is how long a claimed delivery stays with this dispatcher: long
// enough for one attempt and recording it, after which another dispatcher
// (or this one, restarted) may take it again.
func (s *Service) lease() time.Duration { return 2*s.o.Timeout + 2*time.Second }

// Run dispatches until ctx ends, then waits for the attempts in flight to
// finish (each is bounded by the timeout) and returns nil. Several
// processes may run it against one PostgreSQL store.
func (s *Service) Run(ctx context.Context) error {
	tick, stop := s.o.Clock.NewTicker(s.o.Poll)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.o.Workers)
	for ctx.Err() == nil {
		if s.step(ctx, &wg, slots) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.o.Store.EventSignal():
		case <-s.wake:
		case <-tick:
		}
	}
	return nil
}

// step fans out new events and starts as many due deliveries as there are
// free workers. It reports whether more work is probably waiting.
func (s *Service) step(ctx context.Context, wg *sync.WaitGroup, slots chan struct{}) bool {
	now := s.o.Clock.Now()
	fanned, err := s.o.Store.FanOut(ctx, now, fanOutBatch, newIDs)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Logger.Error("callback fan-out failed", "err", err)
		}
		return false
	}
	free := cap(slots) - len(slots)
	if free == 0 {
		return fanned == fanOutBatch
	}
	s.claimMu.Lock()
	paused, probing := s.breaker.state(now)
	claims, err := s.o.Store.ClaimDeliveries(ctx, store.Claim{
		Now: now, LeaseUntil: now.Add(s.lease()), Limit: free, MaxPerApp: s.o.PerApp, SkipApps: paused, ProbeApps: probing})
	s.claimMu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.o.Logger.Error("callback claim failed", "err", err)
		}
		return false
	}
	for _, c := range claims {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-slots
				wg.Done()
				s.signal()
			}()
			s.deliver(context.WithoutCancel(ctx), c)
		}()
	}
	return fanned == fanOutBatch || len(claims) == free
}

// deliver sends one claimed delivery and records the attempt.
func (s *Service) deliver(ctx context.Context, c *store.ClaimedDelivery) {
	d := c.Delivery
	start := s.o.Clock.Now()
	a := &atelier.DeliveryAttempt{DeliveryID: d.ID, N: d.Attempts, At: start}
	keys, err := s.keysInUse(c.Subscription, start)
	if err != nil {
		s.o.Logger.Error("callback keys cannot be opened", "client_id", d.ClientID, "err", err)
		a.Error = "the subscription's keys cannot be opened on this server"
	} else {
		t0 := time.Now()
		ans := s.post(ctx, c.Subscription.URL, keys, d.Nonce, d.EventType, string(c.Event.Data))
		a.Duration = time.Since(t0)
		a.Status, a.Reply, a.Error, a.OK = ans.status, ans.reply, ans.err, ans.ok
	}
	now := s.o.Clock.Now()
	o := store.Outcome{Now: now, State: atelier.DeliveryDelivered}
	switch {
	case a.OK:
	case d.Attempts >= s.o.MaxAttempts || now.Sub(d.CreatedAt) >= s.o.MaxAge:
		o.State = atelier.DeliveryDead
	default:
		o.State = atelier.DeliveryPending
		o.NextAttemptAt = now.Add(s.backoff(d.Attempts))
	}
	s.claimMu.Lock()
	if s.breaker.record(d.ClientID, a.OK, now, s.backoff) {
		s.o.Logger.Warn("callback receiver keeps failing; its deliveries are paused", "client_id", d.ClientID,
			"failures_in_a_row", breakerThreshold, "last_error", a.Error)
	}
	err = s.o.Store.FinishAttempt(ctx, d.ID, c.LeaseToken, a, o)
	s.claimMu.Unlock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.o.Logger.Warn("callback lease lost; the delivery will be attempted again", "delivery_id", d.ID)
		return
	case err != nil:
		s.o.Logger.Error("callback attempt not recorded; the delivery will be attempted again", "delivery_id", d.ID, "err", err)
		return
	}
	s.metrics.attempt(o.State, a.Duration, now.Sub(d.CreatedAt))
	if o.State == atelier.DeliveryDead {
		s.o.Logger.Warn("callback dead-lettered", "delivery_id", d.ID, "client_id", d.ClientID,
			"event_type", d.EventType, "attempts", d.Attempts, "status", a.Status, "error", a.Error)
	}
}

// backoff is the delay before attempt n+1: min(max, base·2^(n-1)), of
// which a random half ("equal jitter"), so that a receiver coming back is
// not hit by every retry at once. The doubling stops at max, so no attempt
// count overflows it.
func (s *Service) backoff(n int) time.Duration {
	d := min(s.o.BackoffBase, s.o.BackoffMax)
	for i := 1; i < n && d < s.o.BackoffMax; i++ {
		if d > s.o.BackoffMax/2 {
			d = s.o.BackoffMax
			break
		}
		d *= 2
	}
	half := d / 2
	return half + rand.N(half+1)
}

// answer is the outcome of one POST.
type answer struct {
	status int
	reply  string // the body, truncated to replyKeep
	data   json.RawMessage
	err    string
	ok     bool
}

// envelope seals data for keys with the given nonce, signed at now.
func envelope(keys *atelier.CallbackKeys, nonce, eventType, data string, now time.Time) (*callback.Envelope, error) {
	if keys.EncryptionKey != "" {
		var err error
		if data, err = callback.Encrypt(keys.EncryptionKey, data); err != nil {
			return nil, err
		}
	}
	e := &callback.Envelope{Nonce: nonce, Timestamp: strconv.FormatInt(now.UnixMilli(), 10), EventType: eventType, Data: data}
	e.Signature = callback.Sign(keys.SigningKey, e.Nonce, e.Timestamp, e.EventType, e.Data)
	return e, nil
}

// post sends one envelope and judges the answer: only HTTP 200 with
// {"code":"200"} is a success.
func (s *Service) post(ctx context.Context, url string, keys *atelier.CallbackKeys, nonce, eventType, data string) answer {
	e, err := envelope(keys, nonce, eventType, data, s.o.Clock.Now())
	if err != nil {
		return answer{err: "cannot seal the event: " + err.Error()}
	}
	body, err := json.Marshal(e)
	if err != nil {
		return answer{err: "cannot encode the envelope"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{err: "invalid URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keys.SecurityToken)
	req.Header.Set("User-Agent", "Atelier-Callback/1")
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{err: describe(ctx, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, replyRead))
	ans := answer{status: resp.StatusCode, reply: truncate(raw, replyKeep)}
	if err != nil {
		ans.err = "reading the reply: " + describe(ctx, err)
		return ans
	}
	var r struct {
		Code json.RawMessage `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		ans.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	case json.Unmarshal(raw, &r) != nil:
		ans.err = "the reply is not JSON"
	case string(r.Code) != `"200"` && string(r.Code) != `200`:
		ans.err = fmt.Sprintf("the reply's code is %s, not \"200\"", truncate(r.Code, 64))
	default:
		ans.ok, ans.data = true, r.Data
	}
	return ans
}

// describe turns a transport error into a sentence safe to show the app's
// owner: no key, no token, no internal address.
func describe(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer within the timeout"
	case errors.Is(err, errBlockedAddress):
		return "the URL resolves to a private, loopback or link-local address"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the connection closed before the reply was complete"
	}
	msg := err.Error()
	for _, w := range []string{"connection refused", "no such host", "connection reset", "certificate", "tls"} {
		if strings.Contains(msg, w) {
			return w
		}
	}
	return "the request failed"
}

// truncate returns b as text of at most n bytes, cut at a rune boundary.
func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// checkURL sends CHECK_URL with keys and wants the challenge echoed
// (encrypted with the encryption key when there is one).
func (s *Service) checkURL(ctx context.Context, url string, keys atelier.CallbackKeys) error {
	challenge := newHex(challengeBytes)
	ans := s.post(ctx, url, &keys, newHex(16), atelier.EventCheckURL, challenge)
	fail := func(why string) error {
		return atelier.CodeCallbackCheckFailed.Errorf("The callback URL did not pass CHECK_URL: %s.", why).WithField("url")
	}
	if !ans.ok {
		return fail(ans.err)
	}
	var echo string
	if json.Unmarshal(ans.data, &echo) != nil {
		return fail("the reply's data is not the challenge string")
	}
	if keys.EncryptionKey != "" {
		plain, err := callback.Decrypt(keys.EncryptionKey, echo)
		if err != nil {
			return fail("the reply's data does not decrypt with the encryption key")
		}
		echo = plain
	}
	if echo != challenge {
		return fail("the reply's data is not the challenge")
	}
	return nil
}
