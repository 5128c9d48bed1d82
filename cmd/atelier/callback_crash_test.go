package main

import (
	"context"
	"encoding/json"
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

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/pgtest"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	cb "github.com/atelier-dev/atelier/sdk/go/atelier/callback"
)

const crashSigningKey = "crash-test-signing-key"

// countingReceiver verifies every callback and counts each nonce and each
// organization it announces, duplicates included (a real receiver would
// drop them with the kit's nonce cache).
type countingReceiver struct {
	srv     *httptest.Server
	token   atomic.Pointer[string]
	mu      sync.Mutex
	nonces  map[string]int
	orgs    map[string]int
	refused atomic.Int64
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	rc := &countingReceiver{nonces: map[string]int{}, orgs: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var env cb.Envelope
		if json.Unmarshal(body, &env) != nil || cb.Verify(crashSigningKey, &env) != nil {
			rc.refused.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if env.EventType == cb.EventCheckURL {
			cb.Reply(w, env.Data)
			return
		}
		if tok := rc.token.Load(); tok != nil && r.Header.Get("Authorization") != "Bearer "+*tok {
			rc.refused.Add(1)
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		var org struct {
			ID string `json:"id"`
		}
		if env.EventType != "CREATE_ORGANIZATION" || json.Unmarshal([]byte(env.Data), &org) != nil || org.ID == "" {
			rc.refused.Add(1)
			http.Error(w, "unexpected event", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.nonces[env.Nonce]++
		rc.orgs[org.ID]++
		rc.mu.Unlock()
		cb.Reply(w, nil)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// counts returns how many distinct organizations arrived, how many POSTs
// were duplicates, and the most times one nonce arrived.
func (rc *countingReceiver) counts() (orgs, dups, maxPerNonce int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.nonces {
		dups += n - 1
		maxPerNonce = max(maxPerNonce, n)
	}
	return len(rc.orgs), dups, maxPerNonce
}

func (rc *countingReceiver) has(ids []string) (missing int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.orgs[id] == 0 {
			missing++
		}
	}
	return missing
}

// subscribeOrgs registers an app of the admin's tenant and points its
// callback at rc for CREATE_ORGANIZATION.
func subscribeOrgs(t *testing.T, base, token string, rc *countingReceiver) {
	t.Helper()
	var app struct {
		ClientID string `json:"client_id"`
	}
	mustStatus(t, call(t, http.DefaultClient, "POST", base+"/v1/apps", token,
		strings.NewReader(`{"name":"crash-receiver"}`), nil, &app), 201)
	var sub struct {
		SecurityToken string `json:"security_token"`
	}
	body := fmt.Sprintf(`{"url":%q,"signing_key":%q,"event_types":["CREATE_ORGANIZATION"]}`, rc.srv.URL, crashSigningKey)
	mustStatus(t, call(t, http.DefaultClient, "PUT", base+"/v1/apps/"+app.ClientID+"/callback", token,
		strings.NewReader(body), nil, &sub), 200)
	rc.token.Store(&sub.SecurityToken)
}

// createOrgs creates orgs named prefix-<i> for i in [from, to) with
// several clients at once and returns the ids of the acknowledged ones. It
// stops at the first failure (the server was killed).
func createOrgs(base, token, prefix string, from, to int) []string {
	var mu sync.Mutex
	var ids []string
	var next atomic.Int64
	next.Store(int64(from))
	var stop atomic.Bool
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				req, _ := http.NewRequest("POST", base+"/v1/orgs", strings.NewReader(fmt.Sprintf(`{"name":"%s-%d"}`, prefix, i)))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					stop.Store(true)
					return
				}
				var o struct {
					ID string `json:"id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&o)
				resp.Body.Close()
				if resp.StatusCode != 201 || err != nil {
					stop.Store(true)
					return
				}
				mu.Lock()
				ids = append(ids, o.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ids
}

// TestCallbackBurstSurvivesSIGKILL commits 10,000 events (organization
// creations), SIGKILLs the server in the middle of the burst while
// deliveries are in flight, restarts it and checks that every acknowledged
// event arrives, and that duplicates stay within the documented bound: a
// delivery is re-sent only if it was in flight when the server died, so at
// most ATELIER_CALLBACK_WORKERS duplicates per kill and at most one extra
// arrival per nonce.
func TestCallbackBurstSurvivesSIGKILL(t *testing.T) {
	const total, workers = 10000, 16
	dir := t.TempDir()
	env := []string{"ATELIER_CALLBACK_ALLOW_PRIVATE=1", "ATELIER_CALLBACK_TIMEOUT=1s",
		"ATELIER_CALLBACK_POLL=50ms", fmt.Sprintf("ATELIER_CALLBACK_WORKERS=%d", workers)}
	srv := MustStartProcess(t, dir, env...)
	token := MustLogin(t, &testServer{URL: srv.URL})
	rc := newCountingReceiver(t)
	subscribeOrgs(t, srv.URL, token, rc)

	// First half, then kill once deliveries are flowing but far from done.
	acked := createOrgs(srv.URL, token, "org", 0, total/2)
	waitFor(t, "deliveries to be under way", func() bool { n, _, _ := rc.counts(); return n >= 500 })
	delivered, _, _ := rc.counts()
	srv.kill()
	killedAt := delivered
	if delivered >= len(acked) {
		t.Fatalf("every delivery was done before the kill (%d); the test did not interrupt the dispatcher", delivered)
	}

	srv = MustStartProcess(t, dir, env...)
	token = MustLogin(t, &testServer{URL: srv.URL})
	acked = append(acked, createOrgs(srv.URL, token, "org", total/2, total)...)
	if len(acked) != total {
		t.Fatalf("%d of %d organizations were acknowledged", len(acked), total)
	}
	waitFor(t, "every acknowledged event to arrive", func() bool { return rc.has(acked) == 0 })
	orgs, dups, maxPer := rc.counts()
	t.Logf("events acknowledged %d, arrived %d distinct, delivered before the kill %d, duplicates %d, most arrivals of one nonce %d, refused %d",
		len(acked), orgs, killedAt, dups, maxPer, rc.refused.Load())
	fmt.Printf("callback SIGKILL burst: acknowledged=%d arrived=%d duplicates=%d max_per_nonce=%d (bound: %d duplicates, 2 per nonce)\n",
		len(acked), orgs, dups, maxPer, workers)
	if dups > workers || maxPer > 2 {
		t.Fatalf("%d duplicates, %d arrivals of one nonce: above the bound of %d per kill and 2 per nonce", dups, maxPer, workers)
	}
	if rc.refused.Load() != 0 {
		t.Fatalf("the receiver refused %d callbacks", rc.refused.Load())
	}
}

// TestCallbackTwoDispatchersPostgres runs two server processes on one
// PostgreSQL database: both dispatch the outbox, and no delivery is sent
// twice.
func TestCallbackTwoDispatchersPostgres(t *testing.T) {
	const total = 2000
	dbURL := pgtest.NewDatabase(t)
	// Servers of one database share its secret key file (docs/operations.md).
	env := []string{"ATELIER_CALLBACK_ALLOW_PRIVATE=1", "ATELIER_CALLBACK_POLL=20ms", "ATELIER_DATABASE_URL=" + dbURL,
		"ATELIER_SECRET_KEY_FILE=" + filepath.Join(t.TempDir(), "secret.key")}
	a := MustStartProcess(t, t.TempDir(), env...)
	b := MustStartProcess(t, t.TempDir(), env...)
	token := MustLogin(t, &testServer{URL: a.URL})
	rc := newCountingReceiver(t)
	subscribeOrgs(t, a.URL, token, rc)
	tokenB := MustLogin(t, &testServer{URL: b.URL})
	var acked []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range []struct{ url, token string }{{a.URL, token}, {b.URL, tokenB}} {
		wg.Go(func() {
			ids := createOrgs(s.url, s.token, fmt.Sprint("p", i), 0, total/2)
			mu.Lock()
			acked = append(acked, ids...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(acked) != total {
		t.Fatalf("%d of %d organizations were acknowledged", len(acked), total)
	}
	waitFor(t, "every event to arrive", func() bool { return rc.has(acked) == 0 })
	orgs, dups, _ := rc.counts()
	t.Logf("two dispatchers: %d events, %d arrived, %d duplicates", total, orgs, dups)
	if dups != 0 || orgs != total {
		t.Fatalf("%d distinct arrivals and %d duplicates, want %d and 0", orgs, dups, total)
	}
}

// TestCallbackTrainingStates subscribes an app to TRAINING_JOB_STATE_CHANGED,
// runs a job to completion and checks, through the Go receiver kit with an
// encryption key, that every state arrived once in order, each naming the
// one before.
func TestCallbackTrainingStates(t *testing.T) {
	srv := MustStartProcess(t, t.TempDir(), append(trainingEnv(t), "ATELIER_CALLBACK_ALLOW_PRIVATE=1")...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	const encKey = "0123456789abcdef"
	var mu sync.Mutex
	var states []core.JobStateEventData
	recv := httptest.NewServer(cb.Handler(crashSigningKey, encKey, func(_ context.Context, typ string, ev json.RawMessage) (any, error) {
		var d core.JobStateEventData
		if typ != core.EventTrainingJobState || json.Unmarshal(ev, &d) != nil {
			return nil, fmt.Errorf("unexpected %s event %s", typ, ev)
		}
		mu.Lock()
		states = append(states, d)
		mu.Unlock()
		return nil, nil
	}))
	defer recv.Close()
	app, err := c.CreateApp(ctx, "", core.AppSpec{Name: strp("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetCallback(ctx, app.ClientID, core.SubscriptionSpec{URL: strp(recv.URL), SigningKey: strp(crashSigningKey),
		EncryptionKey: strp(encKey), EventTypes: &[]string{core.EventTrainingJobState}, Ordered: ptrTo(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, "cbk"); err != nil {
		t.Fatal(err)
	}
	script := "print('hello')\n"
	if _, err := c.PutObject(ctx, "cbk", "code/hello.py", strings.NewReader(script), int64(len(script)), sdk.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	job, _, err := c.SubmitJob(ctx, "hello", "", core.JobSpec{CodeDir: "obs://cbk/code/", BootFile: "hello.py", Flavor: e2eFlavor, InstanceCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustFinal(t, c, job.ID); v.State != core.JobCompleted {
		t.Fatalf("the job ended %s: %s", v.State, v.Reason)
	}
	waitFor(t, "the COMPLETED event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1].State == core.JobCompleted
	})
	mu.Lock()
	defer mu.Unlock()
	var got []string
	prev := ""
	for _, s := range states {
		got = append(got, s.State)
		if s.JobID != job.ID || s.JobName != "hello" || s.VersionID != 1 || s.Previous != prev {
			t.Errorf("event %+v: want job %s hello v1 after %q", s, job.ID, prev)
		}
		prev = s.State
	}
	want := []string{core.JobCreating, core.JobQueued, core.JobRunning, core.JobCompleted}
	if !slices.Equal(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	// The metrics count the four deliveries once their attempts are recorded.
	waitFor(t, "the delivery metrics", func() bool {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := string(body)
		return strings.Contains(m, `atelier_callback_deliveries{state="delivered"} 4`) &&
			strings.Contains(m, `atelier_callback_deliveries{state="queued"} 0`) &&
			strings.Contains(m, `atelier_callback_attempts_total{result="delivered"} 4`) &&
			strings.Contains(m, "atelier_callback_delivery_latency_seconds_count 4") &&
			strings.Contains(m, "atelier_callback_outbox_backlog 0")
	})
}

func ptrTo[T any](v T) *T { return &v }
