package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/secretbox"
	"github.com/atelier-dev/atelier/sdk/go/atelier/callback"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/webhook"
)

const (
	tenant     = "t-1"
	clientID   = "app-1"
	signingKey = "signing-key-0123456789"
	encKey     = "0123456789abcdef0123456789abcdef"
)

// apps lets the caller manage the apps it lists.
type apps map[string]*atelier.App

func (a apps) GetApp(_ context.Context, id string) (*atelier.App, error) {
	if app, ok := a[id]; ok {
		return app, nil
	}
	return nil, atelier.CodeAppNotFound.Errorf("The app %q does not exist.", id)
}

var testApps = apps{
	clientID: {ClientID: clientID, TenantID: tenant, Name: "one"},
	"app-2":  {ClientID: "app-2", TenantID: tenant, Name: "two"},
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "atelier.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newBox(t testing.TB) *secretbox.Box {
	b, err := secretbox.New([]byte(strings.Repeat("k", secretbox.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fast are options that retry at once, for tests on 127.0.0.1.
func fast(st store.Store, t testing.TB) webhook.Options {
	return webhook.Options{
		Store: st, Apps: testApps, Box: newBox(t), AllowPrivate: true,
		Timeout: 2 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 4 * time.Millisecond,
		Poll: 5 * time.Millisecond, MaxAttempts: 5,
	}
}

// start runs the dispatcher until the test ends.
func start(t testing.TB, o webhook.Options) *webhook.Service {
	t.Helper()
	s, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// receiver is a callback receiver on 127.0.0.1 built on the Go kit, with a
// fault injected before the kit sees each request.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []string // "nonce type json", in arrival order
	posts  atomic.Int64
	fault  func(n int64, w http.ResponseWriter, r *http.Request) bool // true: request handled (failed)
}

func newReceiver(t testing.TB, encryptionKey string) *receiver {
	rc := &receiver{}
	kit := callback.Handler(signingKey, encryptionKey, func(_ context.Context, typ string, ev json.RawMessage) (any, error) {
		rc.mu.Lock()
		rc.events = append(rc.events, typ+" "+string(ev))
		rc.mu.Unlock()
		return nil, nil
	})
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.posts.Add(1)
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if rc.fault != nil && rc.fault(n, w, r) {
			return
		}
		kit.ServeHTTP(w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

func ptr[T any](v T) *T { return &v }

func subscribe(t testing.TB, s *webhook.Service, url, enc string, ordered bool) *atelier.SubscriptionResult {
	t.Helper()
	res, err := s.SetCallback(context.Background(), clientID, atelier.SubscriptionSpec{
		URL: &url, SigningKey: ptr(signingKey), EncryptionKey: &enc, Ordered: &ordered,
	})
	if err != nil {
		t.Fatalf("SetCallback: %v", err)
	}
	return res
}

func appendEvents(t testing.TB, st store.Store, n int, subject func(i int) string) {
	t.Helper()
	for i := range n {
		e := &atelier.Event{TenantID: tenant, Type: atelier.EventUpdateUser, Subject: subject(i),
			Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), CreatedAt: time.Now()}
		if err := st.AppendEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline, not a wait for time to pass
	}
}

func deliveries(t testing.TB, s *webhook.Service, state string) []*atelier.Delivery {
	t.Helper()
	out, _, err := s.ListDeliveries(context.Background(), clientID, atelier.DeliveryFilter{State: state, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func errCode(err error) string { return atelier.ErrorCode(err) }

func TestSetCallbackCheckURL(t *testing.T) {
	for _, enc := range []string{"", encKey} {
		t.Run(fmt.Sprintf("encrypted=%v", enc != ""), func(t *testing.T) {
			st := openStore(t)
			s := start(t, fast(st, t))
			rc := newReceiver(t, enc)
			res := subscribe(t, s, rc.srv.URL, enc, false)
			if res.SecurityToken == "" || !res.Enabled || res.Encrypted != (enc != "") {
				t.Fatalf("result = %+v, want a generated token, enabled, encrypted=%v", res, enc != "")
			}
			if !slices.Equal(res.EventTypes, atelier.EventTypes) {
				t.Fatalf("event types = %v, want every type by default", res.EventTypes)
			}
			if rc.posts.Load() != 1 {
				t.Fatalf("receiver got %d posts, want the one CHECK_URL", rc.posts.Load())
			}
			got, err := s.GetCallback(context.Background(), clientID)
			if err != nil || got.URL != rc.srv.URL {
				t.Fatalf("GetCallback = %+v, %v", got, err)
			}
		})
	}
}

func TestSetCallbackRefusals(t *testing.T) {
	st := openStore(t)
	o := fast(st, t)
	s := start(t, o)
	good := newReceiver(t, "")
	// A receiver that answers 200 {"code":"200"} without echoing.
	lazy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"code":"200","message":"success","data":"nope"}`)
	}))
	defer lazy.Close()
	// A receiver that redirects to the good one: redirects are not followed.
	redirect := httptest.NewServer(http.RedirectHandler(good.srv.URL, http.StatusFound))
	defer redirect.Close()

	strict := o
	strict.AllowPrivate = false
	sPublic, err := webhook.New(strict)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		svc   *webhook.Service
		spec  atelier.SubscriptionSpec
		code  string
		field string
	}{
		{"no URL", s, atelier.SubscriptionSpec{SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"ftp", s, atelier.SubscriptionSpec{URL: ptr("ftp://example.com/x"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"user info", s, atelier.SubscriptionSpec{URL: ptr("https://u:p@example.com/x"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"relative", s, atelier.SubscriptionSpec{URL: ptr("/cb"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"loopback without the setting", sPublic, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"private without the setting", sPublic, atelier.SubscriptionSpec{URL: ptr("http://10.1.2.3/cb"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"metadata address", sPublic, atelier.SubscriptionSpec{URL: ptr("http://169.254.169.254/latest"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"mapped loopback", sPublic, atelier.SubscriptionSpec{URL: ptr("http://[::ffff:127.0.0.1]/"), SigningKey: ptr(signingKey)}, atelier.CodeCallbackURL.ID, "url"},
		{"no signing key", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL)}, atelier.CodeCallbackKey.ID, "signing_key"},
		{"short signing key", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr("short")}, atelier.CodeCallbackKey.ID, "signing_key"},
		{"encryption key of 17", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr(signingKey), EncryptionKey: ptr("0123456789abcdefg")}, atelier.CodeCallbackKey.ID, "encryption_key"},
		{"non-ASCII encryption key", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr(signingKey), EncryptionKey: ptr("0123456789abcdé")}, atelier.CodeCallbackKey.ID, "encryption_key"},
		{"short token", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr(signingKey), SecurityToken: ptr("tiny")}, atelier.CodeCallbackKey.ID, "security_token"},
		{"unknown event type", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr(signingKey), EventTypes: &[]string{"CHECK_URL"}}, atelier.CodeCallbackEventType.ID, "event_types"},
		{"no echo", s, atelier.SubscriptionSpec{URL: ptr(lazy.URL), SigningKey: ptr(signingKey)}, atelier.CodeCallbackCheckFailed.ID, "url"},
		{"wrong signing key at the receiver", s, atelier.SubscriptionSpec{URL: ptr(good.srv.URL), SigningKey: ptr("another-signing-key-xyz")}, atelier.CodeCallbackCheckFailed.ID, "url"},
		{"redirect", s, atelier.SubscriptionSpec{URL: ptr(redirect.URL), SigningKey: ptr(signingKey)}, atelier.CodeCallbackCheckFailed.ID, "url"},
		{"unknown app", s, atelier.SubscriptionSpec{}, atelier.CodeAppNotFound.ID, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := clientID
			if tc.name == "unknown app" {
				id = "app-none"
			}
			_, err := tc.svc.SetCallback(context.Background(), id, tc.spec)
			var e *atelier.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("err = %v, want %s on field %q", err, tc.code, tc.field)
			}
			// A refused local receiver names the setting that allows it,
			// and that it takes a restart.
			if strings.HasSuffix(tc.name, "without the setting") &&
				(!strings.Contains(e.Message, "ATELIER_CALLBACK_ALLOW_PRIVATE=1") || !strings.Contains(e.Message, "restart")) {
				t.Fatalf("message %q does not name ATELIER_CALLBACK_ALLOW_PRIVATE=1 and the restart", e.Message)
			}
			if _, err := st.GetSubscription(context.Background(), clientID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused callback was saved (err %v)", err)
			}
		})
	}
}

func TestDeliveryPlainAndEncrypted(t *testing.T) {
	for _, enc := range []string{"", encKey} {
		t.Run(fmt.Sprintf("encrypted=%v", enc != ""), func(t *testing.T) {
			st := openStore(t)
			s := start(t, fast(st, t))
			rc := newReceiver(t, enc)
			subscribe(t, s, rc.srv.URL, enc, false)
			appendEvents(t, st, 20, func(i int) string { return fmt.Sprint("u", i) })
			waitFor(t, "20 deliveries", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 20 })
			got := rc.got()
			if len(got) != 20 {
				t.Fatalf("receiver got %d events, want 20", len(got))
			}
			for _, g := range got {
				if !strings.HasPrefix(g, atelier.EventUpdateUser+` {"i":`) {
					t.Fatalf("event %q is not the committed data", g)
				}
			}
			d := deliveries(t, s, "")[0]
			if d.Attempts != 1 || d.LastStatus != 200 || d.DeliveredAt.IsZero() || len(d.Nonce) != 32 {
				t.Fatalf("delivery = %+v", d)
			}
		})
	}
}

// TestFaultyReceivers runs one receiver fault per subtest and checks what
// the owner sees and that the event arrives once the receiver recovers.
func TestFaultyReceivers(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	cases := []struct {
		name    string
		fails   int64 // the fault applies to posts 2..fails+1 (post 1 is CHECK_URL)
		fault   func(w http.ResponseWriter, r *http.Request)
		wantErr string
	}{
		{"500 three times", 3, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"code":"500"}`, http.StatusInternalServerError)
		}, "HTTP 500"},
		{"200 with code 500", 2, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"code":"500","message":"busy"}`)
		}, `code is "500"`},
		{"not JSON", 1, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `OK`)
		}, "not JSON"},
		{"timeout", 1, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // the server notices the client leaving only once the body is read
			select {
			case <-r.Context().Done():
			case <-hang:
			}
		}, "timeout"},
		{"closed mid-body", 2, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"code":"2`)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, "closed before the reply was complete"},
		{"redirect", 1, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "HTTP 302"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			o := fast(st, t)
			o.Timeout = 300 * time.Millisecond
			s := start(t, o)
			rc := newReceiver(t, encKey)
			rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
				if n >= 2 && n <= tc.fails+1 {
					tc.fault(w, r)
					return true
				}
				return false
			}
			subscribe(t, s, rc.srv.URL, encKey, false)
			appendEvents(t, st, 1, func(int) string { return "u1" })
			waitFor(t, "the delivery", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 1 })
			d := deliveries(t, s, "")[0]
			if int64(d.Attempts) != tc.fails+1 {
				t.Fatalf("attempts = %d, want %d", d.Attempts, tc.fails+1)
			}
			_, attempts, err := s.GetDelivery(context.Background(), clientID, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(attempts)) != tc.fails+1 || !attempts[len(attempts)-1].OK {
				t.Fatalf("attempts = %+v", attempts)
			}
			for _, a := range attempts[:len(attempts)-1] {
				if a.OK || !strings.Contains(a.Error, tc.wantErr) {
					t.Fatalf("failed attempt %+v, want error containing %q", a, tc.wantErr)
				}
			}
			if got := rc.got(); len(got) != 1 {
				t.Fatalf("receiver handled %d events, want 1", len(got))
			}
		})
	}
}

func TestDeadLetterAndRedeliver(t *testing.T) {
	st := openStore(t)
	o := fast(st, t)
	o.MaxAttempts = 3
	s := start(t, o)
	rc := newReceiver(t, "")
	var down atomic.Bool
	rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	subscribe(t, s, rc.srv.URL, "", false)
	down.Store(true)
	appendEvents(t, st, 4, func(i int) string { return fmt.Sprint("u", i) })
	waitFor(t, "4 dead letters", func() bool { return len(deliveries(t, s, atelier.DeliveryDead)) == 4 })
	dead := deliveries(t, s, atelier.DeliveryDead)
	for _, d := range dead {
		if d.Attempts != 3 || d.LastStatus != 503 || !strings.Contains(d.LastReply, "down") {
			t.Fatalf("dead letter = %+v", d)
		}
	}
	down.Store(false)
	n, err := s.Redeliver(context.Background(), clientID, dead[0].ID, time.Time{}, time.Time{})
	if err != nil || n != 1 {
		t.Fatalf("Redeliver one = %d, %v", n, err)
	}
	waitFor(t, "the redelivered one", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 1 })
	n, err = s.Redeliver(context.Background(), clientID, "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Redeliver range = %d, %v", n, err)
	}
	waitFor(t, "all delivered", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 4 })
	if _, err := s.Redeliver(context.Background(), clientID, "dlv-none", time.Time{}, time.Time{}); errCode(err) != atelier.CodeCallbackNotFound.ID {
		t.Fatalf("Redeliver unknown = %v", err)
	}
}

// TestOrderedPerSubject makes the first delivery of every subject fail once
// and checks that ordered subscriptions still see each subject's events in
// commit order.
func TestOrderedPerSubject(t *testing.T) {
	st := openStore(t)
	s := start(t, fast(st, t))
	rc := newReceiver(t, "")
	var failed sync.Map
	rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
		var env callback.Envelope
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if json.Unmarshal(body, &env) != nil || env.EventType == callback.EventCheckURL {
			return false
		}
		if _, seen := failed.LoadOrStore(env.Nonce, true); !seen && n%3 == 0 {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return true
		}
		return false
	}
	subscribe(t, s, rc.srv.URL, "", true)
	const subjects, per = 4, 15
	appendEvents(t, st, subjects*per, func(i int) string { return fmt.Sprint("u", i%subjects) })
	waitFor(t, "every delivery", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == subjects*per })
	last := map[int]int{}
	for _, g := range rc.got() {
		var v struct{ I int }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(g, atelier.EventUpdateUser+" ")), &v); err != nil {
			t.Fatal(err)
		}
		subj := v.I % subjects
		if prev, ok := last[subj]; ok && v.I < prev {
			t.Fatalf("subject %d: event %d arrived after %d", subj, v.I, prev)
		}
		last[subj] = v.I
	}
}

func TestRotationOverlap(t *testing.T) {
	st := openStore(t)
	s := start(t, fast(st, t))
	const newKey = "the-new-signing-key-42"
	var mu sync.Mutex
	var usedKeys []string
	rc := newReceiver(t, "")
	rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		var env callback.Envelope
		_ = json.Unmarshal(body, &env)
		key := "?"
		for _, k := range []string{signingKey, newKey} {
			if callback.Verify(k, &env) == nil {
				key = k
			}
		}
		mu.Lock()
		usedKeys = append(usedKeys, key+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if env.EventType == callback.EventCheckURL {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			return false // the kit echoes the challenge
		}
		callback.Reply(w, nil)
		return true
	}
	first := subscribe(t, s, rc.srv.URL, "", false)
	res, err := s.RotateCallbackKeys(context.Background(), clientID, atelier.RotateSpec{
		SigningKey: newKey, SecurityToken: "generate", OverlapSeconds: ptr(int64(3600))})
	if err != nil {
		t.Fatal(err)
	}
	if res.SecurityToken == "" || res.SecurityToken == first.SecurityToken || res.NextAt.IsZero() {
		t.Fatalf("rotation result = %+v", res)
	}
	appendEvents(t, st, 1, func(int) string { return "u" })
	waitFor(t, "a delivery during the overlap", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 1 })
	// Ending the overlap at once switches to the new keys.
	if _, err := s.RotateCallbackKeys(context.Background(), clientID, atelier.RotateSpec{
		SigningKey: newKey, SecurityToken: res.SecurityToken, OverlapSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, 1, func(int) string { return "u" })
	waitFor(t, "a delivery after it", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == 2 })
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		signingKey + " Bearer " + first.SecurityToken, // CHECK_URL
		signingKey + " Bearer " + first.SecurityToken, // during the overlap: the old keys
		newKey + " Bearer " + res.SecurityToken,
	}
	if !slices.Equal(usedKeys, want) {
		t.Fatalf("keys used = %q, want %q", usedKeys, want)
	}
}

func TestDeleteCallbackDropsQueue(t *testing.T) {
	st := openStore(t)
	o := fast(st, t)
	o.BackoffBase, o.BackoffMax = time.Hour, time.Hour
	s := start(t, o)
	rc := newReceiver(t, "")
	rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n > 1 {
			http.Error(w, "no", http.StatusInternalServerError)
			return true
		}
		return false
	}
	subscribe(t, s, rc.srv.URL, "", false)
	appendEvents(t, st, 3, func(i int) string { return fmt.Sprint(i) })
	waitFor(t, "3 failed attempts", func() bool { return rc.posts.Load() == 4 })
	if err := s.DeleteCallback(context.Background(), clientID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCallback(context.Background(), clientID); errCode(err) != atelier.CodeCallbackNotFound.ID {
		t.Fatalf("GetCallback after delete = %v", err)
	}
	counts, _, err := st.CallbackCounts(context.Background())
	if err != nil || counts[atelier.DeliveryPending]+counts[atelier.DeliveryInFlight] != 0 {
		t.Fatalf("counts after delete = %v, %v", counts, err)
	}
}

// TestBreakerHoldsBackADownReceiver checks that a receiver that keeps
// failing is left alone: after a few failed attempts the app's other
// deliveries are neither sent nor charged an attempt until the pause
// ends, and then they all go through.
func TestBreakerHoldsBackADownReceiver(t *testing.T) {
	st := openStore(t)
	clk := clock.NewFake(time.Now())
	o := fast(st, t)
	o.Clock, o.BackoffBase, o.BackoffMax, o.MaxAttempts, o.PerApp = clk, time.Hour, time.Hour, 100, 2
	s := start(t, o)
	rc := newReceiver(t, "")
	var down atomic.Bool
	rc.fault = func(n int64, w http.ResponseWriter, r *http.Request) bool {
		switch {
		case down.Load():
			http.Error(w, "down", http.StatusServiceUnavailable)
		case n == 1:
			return false // CHECK_URL, through the kit
		default:
			callback.Reply(w, nil) // the fake clock's timestamps are outside the kit's skew
		}
		return true
	}
	subscribe(t, s, rc.srv.URL, "", false)
	down.Store(true)
	const events = 20
	appendEvents(t, st, events, func(i int) string { return fmt.Sprint("u", i) })
	attempted := func() (tried, attempts, inFlight int) {
		for _, d := range deliveries(t, s, "") {
			if d.Attempts > 0 {
				tried++
			}
			attempts += d.Attempts
			if d.State == atelier.DeliveryInFlight {
				inFlight++
			}
		}
		return tried, attempts, inFlight
	}
	waitFor(t, "the breaker to open", func() bool { tried, _, inFlight := attempted(); return tried >= 5 && inFlight == 0 })
	tried, attempts, _ := attempted()
	if bound := 5 + o.PerApp - 1; tried > bound {
		t.Fatalf("%d deliveries were attempted against a down receiver, want at most %d", tried, bound)
	}
	// The pause (at most an hour) ends: one delivery probes the receiver,
	// still down, and the app is paused again.
	clk.Advance(time.Hour)
	waitFor(t, "the probe", func() bool { _, n, inFlight := attempted(); return n > attempts && inFlight == 0 })
	if _, n, _ := attempted(); n != attempts+1 {
		t.Fatalf("%d attempts after the pause, want one probe", n-attempts)
	}
	down.Store(false)
	clk.Advance(2 * time.Hour) // past the pause and every retry's backoff
	waitFor(t, "every delivery", func() bool { return len(deliveries(t, s, atelier.DeliveryDelivered)) == events })
	once := 0
	for _, d := range deliveries(t, s, "") {
		if d.Attempts == 1 {
			once++
		}
	}
	if once != events-tried {
		t.Fatalf("%d deliveries took one attempt, want the %d held back during the outage", once, events-tried)
	}
}

// TestChangesAudited checks that every change to a subscription and every
// redelivery is audited, refusals with their code, and that no key or
// token reaches the audit log.
func TestChangesAudited(t *testing.T) {
	var mu sync.Mutex
	var got []string
	o := fast(openStore(t), t)
	o.Audit = func(_ context.Context, e atelier.AuditEvent) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %s %s %s", e.Action, e.Target, e.Outcome, e.Reason))
	}
	s := start(t, o)
	rc := newReceiver(t, "")
	ctx := context.Background()
	subscribe(t, s, rc.srv.URL, "", false)
	if _, err := s.SetCallback(ctx, clientID, atelier.SubscriptionSpec{URL: ptr("ftp://example.com/")}); err == nil {
		t.Fatal("SetCallback took an ftp URL")
	}
	if _, err := s.RotateCallbackKeys(ctx, clientID, atelier.RotateSpec{SigningKey: signingKey + "-next",
		OverlapSeconds: ptr(int64(0))}); err != nil {
		t.Fatalf("RotateCallbackKeys: %v", err)
	}
	if _, err := s.Redeliver(ctx, clientID, "", time.Time{}, time.Time{}); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	if err := s.DeleteCallback(ctx, clientID); err != nil {
		t.Fatalf("DeleteCallback: %v", err)
	}
	want := []string{
		"app.callback.set " + clientID + " success ",
		"app.callback.set " + clientID + " failure " + atelier.CodeCallbackURL.ID,
		"app.callback.rotate " + clientID + " success ",
		"app.callback.redeliver " + clientID + " success ",
		"app.callback.delete " + clientID + " success ",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("audited\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if log := strings.Join(got, " "); strings.Contains(log, signingKey) {
		t.Fatalf("the audit log holds the signing key: %s", log)
	}
}
