package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	cbkit "github.com/atelier-dev/atelier/sdk/go/atelier/callback"
)

func TestCallbackUsageErrors(t *testing.T) {
	mustIsolate(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("0123456789abcdef\n"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, args := range [][]string{
		{"app", "callback"},
		{"app", "callback", "set"},
		{"app", "callback", "set", "app-1"}, // nothing to set
		{"app", "callback", "set", "app-1", "--signing-key", "0123456789abcdef", "--signing-key-file", keyFile},
		{"app", "callback", "set", "app-1", "--encryption-key-file", keyFile, "--no-encryption"},
		{"app", "callback", "set", "app-1", "--signing-key-file", filepath.Join(t.TempDir(), "missing")},
		{"app", "callback", "set", "app-1", "--signing-key-file", empty},
		{"app", "callback", "rotate", "app-1"}, // nothing to rotate
		{"app", "callback", "rotate", "app-1", "--new-security-token", "--security-token", "tok-0123456789abcdef"},
		{"app", "callback", "rotate", "app-1", "--new-security-token", "--overlap", "-1h"},
		{"app", "callback", "rotate", "app-1", "--new-security-token", "--overlap", "1500ms"},
		{"app", "callback", "deliveries", "app-1", "--since", "yesterday"},
		{"app", "callback", "deliveries", "app-1", "--limit", "5000"},
		{"app", "callback", "delivery", "app-1"},
		{"app", "callback", "redeliver", "app-1", "dlv-1", "--since", "2025-01-02T00:00:00Z"},
		{"app", "callback", "redeliver", "app-1", "--until", "tomorrow"},
		{"app", "callback", "event-types", "extra"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}

// callbackReceiver is an app's callback URL built with the Go kit; it
// passes each event it gets on events.
type callbackReceiver struct {
	*httptest.Server
	events chan receivedEvent
}

type receivedEvent struct {
	Type string
	JSON json.RawMessage
}

func mustStartReceiver(t *testing.T, signingKey, encryptionKey string) *callbackReceiver {
	t.Helper()
	r := &callbackReceiver{events: make(chan receivedEvent, 64)}
	r.Server = httptest.NewServer(cbkit.Handler(signingKey, encryptionKey,
		func(ctx context.Context, eventType string, event json.RawMessage) (any, error) {
			select {
			case r.events <- receivedEvent{eventType, event}:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return nil, nil
		}))
	t.Cleanup(r.Close)
	return r
}

// mustEventually polls cond until it holds, failing the test after 15 s.
func mustEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestCallbackCLIE2E drives `atelier app callback …` against a real server
// and a receiver built with the Go kit: set, get, an event delivered and
// listed, its attempts, redelivery, rotation, deletion, and a refused key.
func TestCallbackCLIE2E(t *testing.T) {
	mustIsolate(t)
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.Callback.AllowPrivate = true })
	cli := e2eCLI{t: t}
	cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", ts.URL, "--email", testAdminEmail, "--password-stdin")

	var app core.NewApp
	cli.json(&app, "app", "create", "hooks", "-o", "json")
	id := app.ClientID

	const signingKey = "sign-0123456789abcdef"
	const encryptionKey = "0123456789abcdef0123456789ABCDEF" // 32 characters
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	if err := os.WriteFile(keyFile, []byte(signingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := mustStartReceiver(t, signingKey, encryptionKey)

	var types struct {
		EventTypes []string `json:"event_types"`
	}
	cli.json(&types, "app", "callback", "event-types", "-o", "json")
	if !slices.Equal(types.EventTypes, core.EventTypes) {
		t.Errorf("event-types = %v", types.EventTypes)
	}
	if out, _ := cli.run(exitOK, "", "app", "callback", "event-types"); !strings.Contains(out, "EVENT TYPE") || !strings.Contains(out, core.EventCreateUser) {
		t.Errorf("event-types table = %q", out)
	}

	// A refused key: the server names the field, nothing is saved.
	_, stderr := cli.run(exitRefused, "", "app", "callback", "set", id, "--url", recv.URL,
		"--signing-key-file", keyFile, "--encryption-key", "enc-0123456789abc") // 17
	if !strings.Contains(stderr, core.CodeCallbackKey.ID) || !strings.Contains(stderr, "encryption key") {
		t.Errorf("17-character encryption key: stderr %q", stderr)
	}
	cli.refused(core.CodeCallbackNotFound.ID, "app", "callback", "get", id)

	// Set: proved with CHECK_URL, the generated token printed once.
	out, stderr := cli.run(exitOK, "", "app", "callback", "set", id, "--url", recv.URL, "--event-types", "CREATE_USER,DELETE_USER",
		"--signing-key-file", keyFile, "--encryption-key", encryptionKey)
	if !strings.Contains(out, recv.URL) || !strings.Contains(out, "Security token:") || !strings.Contains(stderr, "shown only now") {
		t.Errorf("set: stdout %q, stderr %q", out, stderr)
	}
	if strings.Contains(out+stderr, signingKey) || strings.Contains(out+stderr, encryptionKey) {
		t.Errorf("set printed a key: %s %s", out, stderr)
	}
	var sub core.SubscriptionResult
	cli.json(&sub, "app", "callback", "get", id, "-o", "json")
	if sub.Subscription == nil || sub.URL != recv.URL || !sub.Encrypted || !sub.Enabled || sub.Ordered || sub.SecurityToken != "" ||
		!slices.Equal(sub.EventTypes, []string{core.EventCreateUser, core.EventDeleteUser}) {
		t.Fatalf("get = %+v", sub.Subscription)
	}
	cli.json(&sub, "app", "callback", "set", id, "--ordered", "-o", "json") // no new URL or keys: no token
	if !sub.Ordered || sub.SecurityToken != "" || !sub.Encrypted {
		t.Errorf("set --ordered = %+v, token %q", sub.Subscription, sub.SecurityToken)
	}
	if out, _ := cli.run(exitOK, "", "app", "callback", "get", id); !strings.Contains(out, "CREATE_USER,DELETE_USER") || strings.Contains(out, "Security token") {
		t.Errorf("get table = %q", out)
	}

	// An event: a user created through the SDK reaches the receiver.
	c, err := sdk.New(sdk.Options{Endpoint: ts.URL, Token: MustLogin(t, ts)})
	if err != nil {
		t.Fatal(err)
	}
	email, password := "hooked@example.com", "hooked-password-1"
	u, err := c.CreateUser(context.Background(), "", core.UserSpec{Email: &email, Password: &password})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-recv.events:
		var data core.UserEventData
		if ev.Type != core.EventCreateUser || json.Unmarshal(ev.JSON, &data) != nil || data.ID != u.ID || data.Email != email {
			t.Errorf("receiver got %s %s", ev.Type, ev.JSON)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the receiver got no CREATE_USER")
	}

	// The delivery is listed DELIVERED, with one successful attempt.
	var page struct {
		Deliveries []core.Delivery `json:"deliveries"`
		NextCursor string          `json:"next_cursor"`
	}
	mustEventually(t, "the delivery to be DELIVERED", func() bool {
		cli.json(&page, "app", "callback", "deliveries", id, "--state", "DELIVERED", "-o", "json")
		return len(page.Deliveries) == 1
	})
	d := page.Deliveries[0]
	if d.EventType != core.EventCreateUser || d.Subject != u.ID || d.Attempts != 1 || d.LastStatus != 200 || page.NextCursor != "" {
		t.Errorf("deliveries = %+v", page)
	}
	out, _ = cli.run(exitOK, "", "app", "callback", "deliveries", id, "--all")
	for _, want := range []string{"LAST STATUS", d.ID, "CREATE_USER", "DELIVERED", "200"} {
		if !strings.Contains(out, want) {
			t.Errorf("deliveries table lacks %q: %q", want, out)
		}
	}
	cli.json(&page, "app", "callback", "deliveries", id, "--state", "DEAD", "-o", "json")
	if len(page.Deliveries) != 0 {
		t.Errorf("dead deliveries = %+v", page.Deliveries)
	}
	var one struct {
		Delivery core.Delivery          `json:"delivery"`
		Attempts []core.DeliveryAttempt `json:"attempts"`
	}
	cli.json(&one, "app", "callback", "delivery", id, d.ID, "-o", "json")
	if one.Delivery.ID != d.ID || len(one.Attempts) != 1 || !one.Attempts[0].OK || one.Attempts[0].N != 1 || one.Attempts[0].Status != 200 {
		t.Errorf("delivery = %+v", one)
	}
	if out, _ := cli.run(exitOK, "", "app", "callback", "delivery", id, d.ID); !strings.Contains(out, "#") || !strings.Contains(out, "true") {
		t.Errorf("delivery table = %q", out)
	}
	cli.refused(core.CodeCallbackNotFound.ID, "app", "callback", "delivery", id, "dlv-nope")

	// Redelivery only moves dead deliveries: none here.
	var n struct{ Redelivered int }
	cli.json(&n, "app", "callback", "redeliver", id, d.ID, "-o", "json")
	if n.Redelivered != 0 {
		t.Errorf("redeliver a delivered one = %d", n.Redelivered)
	}
	if out, _ := cli.run(exitOK, "", "app", "callback", "redeliver", id, "--since", "2020-01-01T00:00:00Z"); !strings.Contains(out, "Queued 0") {
		t.Errorf("redeliver range = %q", out)
	}

	// Rotation: staged for the overlap, the new token printed once.
	before := time.Now()
	cli.json(&sub, "app", "callback", "rotate", id, "--signing-key", "sign-fedcba9876543210", "--new-security-token", "--overlap", "1h", "-o", "json")
	if sub.SecurityToken == "" || sub.NextAt.Before(before.Add(59*time.Minute)) || sub.NextAt.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("rotate = %+v, token %q", sub.Subscription, sub.SecurityToken)
	}
	out, stderr = cli.run(exitOK, "", "app", "callback", "rotate", id, "--encryption-key", "fedcba9876543210")
	if !strings.Contains(out, "staged") || strings.Contains(out, "Security token") || strings.Contains(out+stderr, "fedcba9876543210") {
		t.Errorf("rotate table: %q %q", out, stderr)
	}

	// Delete.
	if out, _ := cli.run(exitOK, "", "app", "callback", "delete", id); !strings.Contains(out, "Deleted the callback of app "+id) {
		t.Errorf("delete = %q", out)
	}
	cli.refused(core.CodeCallbackNotFound.ID, "app", "callback", "get", id)
	cli.refused(core.CodeCallbackNotFound.ID, "app", "callback", "delete", id)

	// Each change above is in the audit log, oldest last, refusals with
	// their code, no key anywhere.
	var audit core.AuditPage
	cli.json(&audit, "audit", "ls", "--action", "app.callback.", "-o", "json")
	var got []string
	for _, e := range audit.Events {
		if e.Target != id || e.Actor != testAdminEmail {
			t.Errorf("audit event %+v, want the app as target and the admin as actor", e)
		}
		got = append(got, strings.TrimSpace(e.Action+" "+e.Outcome+" "+e.Reason))
	}
	want := []string{
		"app.callback.delete failure " + core.CodeCallbackNotFound.ID, "app.callback.delete success",
		"app.callback.rotate success", "app.callback.rotate success",
		"app.callback.redeliver success", "app.callback.redeliver success",
		"app.callback.set success", "app.callback.set success", "app.callback.set failure " + core.CodeCallbackKey.ID,
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit log\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
