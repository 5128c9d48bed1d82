// Package sendertest is the conformance suite for sender.Sender
// implementations. A backend's test file builds a Harness around a real
// receiving end on 127.0.0.1 (an SMTP server, an HTTP SMS gateway, a
// directory) and calls Run.
package sendertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/sender"
)

// Harness wraps one Sender and the receiving end it delivers to. A harness
// is used by one subtest only and need not be safe for concurrent use, except
// that Sender().Send is called concurrently.
type Harness interface {
	// Sender returns the sender under test.
	Sender() sender.Sender
	// Channel returns the channel the sender handles (sender.Email or
	// sender.SMS); the suite sends only on it.
	Channel() string
	// Recipient returns the i-th of many distinct valid recipients for
	// Channel, such as "user3@example.com" or "+15550003".
	Recipient(i int) string
	// Received returns every message the receiving end has accepted for to
	// (every message, if to is ""), in any order. It reads back from the
	// real receiving end: what a mail server stored, what a gateway was
	// sent, what files were written. Body is decoded to UTF-8; its line
	// breaks may be "\r\n" and a transport may have added a final one.
	// Subject is decoded too (email only).
	Received(ctx context.Context, to string) ([]*sender.Message, error)
	// Fail makes the receiving end refuse every later message, with a
	// failure that the sender must report as temporary or permanent as
	// asked. It returns false if the receiving end cannot fail that way.
	Fail(temporary bool) bool
	// Stall makes the receiving end accept connections but not answer until
	// release is called (or the harness is cleaned up). It returns nil if
	// the receiving end cannot stall.
	Stall() (release func())
}

// Run runs the conformance suite. newHarness is called once per subtest,
// which may run in parallel; it registers its cleanups with t.Cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"SendOne", testSendOne},
		{"SendConcurrent", testSendConcurrent},
		{"Unicode", testUnicode},
		{"HeaderInjection", testHeaderInjection},
		{"Invalid", testInvalid},
		{"OtherChannel", testOtherChannel},
		{"CanceledBeforeSend", testCanceledBeforeSend},
		{"DeadlineWhileStalled", testDeadlineWhileStalled},
		{"ReceiverFailsTemporarily", func(t *testing.T, h Harness) { testReceiverFails(t, h, true) }},
		{"ReceiverFailsPermanently", func(t *testing.T, h Harness) { testReceiverFails(t, h, false) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

// testCtx bounds every suite step, so a hanging backend fails instead of
// blocking the test binary.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func subject(h Harness, s string) string {
	if h.Channel() == sender.Email {
		return s
	}
	return ""
}

// normBody makes bodies comparable across transports: mail canonicalises
// line breaks to CRLF and ends the data with one.
func normBody(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

func mustReceived(ctx context.Context, t *testing.T, h Harness, to string) []*sender.Message {
	t.Helper()
	got, err := h.Received(ctx, to)
	if err != nil {
		t.Fatalf("Received(%q): %v", to, err)
	}
	return got
}

func mustNothingReceived(ctx context.Context, t *testing.T, h Harness) {
	t.Helper()
	if got := mustReceived(ctx, t, h, ""); len(got) != 0 {
		t.Fatalf("the receiving end got %d message(s), want none (first to %q)", len(got), got[0].To)
	}
}

func checkSame(t *testing.T, h Harness, got, want *sender.Message) {
	t.Helper()
	if got.Channel != want.Channel {
		t.Errorf("received channel %q, want %q", got.Channel, want.Channel)
	}
	if got.To != want.To {
		t.Errorf("received To %q, want %q", got.To, want.To)
	}
	if h.Channel() == sender.Email && got.Subject != want.Subject {
		t.Errorf("received Subject %q, want %q", got.Subject, want.Subject)
	}
	if normBody(got.Body) != normBody(want.Body) {
		t.Errorf("received Body %q, want %q", got.Body, want.Body)
	}
}

func testSendOne(t *testing.T, h Harness) {
	ctx := testCtx(t)
	m := &sender.Message{Channel: h.Channel(), To: h.Recipient(0), Subject: subject(h, "Your sign-in code"),
		Body: "Your sign-in code is 493021.\nIt expires in 10 minutes. A line starting with a dot:\n.\n..end"}
	if err := h.Sender().Send(ctx, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := mustReceived(ctx, t, h, m.To)
	if len(got) != 1 {
		t.Fatalf("Received %d messages, want 1", len(got))
	}
	checkSame(t, h, got[0], m)
	if other := mustReceived(ctx, t, h, h.Recipient(1)); len(other) != 0 {
		t.Fatalf("another recipient received %d messages", len(other))
	}
}

func testSendConcurrent(t *testing.T, h Harness) {
	ctx := testCtx(t)
	const recipients, perRecipient = 4, 5
	want := map[string][]string{}
	var msgs []*sender.Message
	for r := range recipients {
		to := h.Recipient(r)
		for i := range perRecipient {
			body := fmt.Sprintf("code %d-%d", r, i)
			want[to] = append(want[to], body)
			msgs = append(msgs, &sender.Message{Channel: h.Channel(), To: to, Subject: subject(h, fmt.Sprintf("Code %d", i)), Body: body})
		}
	}
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { errs[i] = h.Sender().Send(ctx, m) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Send: %v", err)
	}
	for to, bodies := range want {
		got := mustReceived(ctx, t, h, to)
		var gotBodies []string
		for _, m := range got {
			if m.To != to {
				t.Errorf("Received(%q) returned a message to %q", to, m.To)
			}
			gotBodies = append(gotBodies, normBody(m.Body))
		}
		slices.Sort(gotBodies)
		slices.Sort(bodies)
		if !slices.Equal(gotBodies, bodies) {
			t.Errorf("%s received %q, want each of %q exactly once", to, gotBodies, bodies)
		}
	}
	if all := mustReceived(ctx, t, h, ""); len(all) != len(msgs) {
		t.Errorf("the receiving end got %d messages in all, want %d", len(all), len(msgs))
	}
}

func testUnicode(t *testing.T, h Harness) {
	ctx := testCtx(t)
	long := strings.Repeat("您的验证码是 730514，十分钟内有效。请勿将验证码告诉任何人。", 8)
	cases := []*sender.Message{
		{Channel: h.Channel(), To: h.Recipient(0), Subject: subject(h, "登录验证码"),
			Body: "您的验证码是 730514。\n第二行：ünïcödé — emoji 😀, tab\there."},
		{Channel: h.Channel(), To: h.Recipient(1), Subject: subject(h, "Ihr Bestätigungscode für die Anmeldung bei Atelier: 730514 — bitte nicht weitergeben, 验证码"),
			Body: long + "\n" + long},
		{Channel: h.Channel(), To: h.Recipient(2), Subject: subject(h, "=?utf-8?q?not_an_encoded_word?="),
			Body: "=?utf-8?q?literal?= = =3D and a very long ASCII line that goes well past seventy-six characters so that an encoder must wrap it somewhere"},
	}
	for _, m := range cases {
		if err := h.Sender().Send(ctx, m); err != nil {
			t.Fatalf("Send to %s: %v", m.To, err)
		}
		got := mustReceived(ctx, t, h, m.To)
		if len(got) != 1 {
			t.Fatalf("%s received %d messages, want 1", m.To, len(got))
		}
		checkSame(t, h, got[0], m)
	}
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Code != atelier.CodeInvalidParam.ID || ae.Field != field {
		t.Fatalf("Send = %v, want %s about %q", err, atelier.CodeInvalidParam.ID, field)
	}
	if sender.IsTemporary(err) {
		t.Fatalf("IsTemporary(%v) = true for an invalid message", err)
	}
}

func testHeaderInjection(t *testing.T, h Harness) {
	ctx := testCtx(t)
	to := h.Recipient(0)
	cases := []struct {
		to, subject, field string
	}{
		{to + "\r\nBcc: " + h.Recipient(1), "", "to"},
		{to + "\nBcc: " + h.Recipient(1), "", "to"},
		{to + "\r", "", "to"},
		{"\r\n" + to, "", "to"},
		{to, "Code\r\nBcc: " + h.Recipient(1), "subject"},
		{to, "Code\nX-Injected: yes", "subject"},
		{to, "Code\r\n\r\nInjected body", "subject"},
		{to, "Code\rBcc: " + h.Recipient(1), "subject"},
	}
	for _, tc := range cases {
		err := h.Sender().Send(ctx, &sender.Message{Channel: h.Channel(), To: tc.to, Subject: tc.subject, Body: "123456"})
		wantInvalid(t, err, tc.field)
	}
	mustNothingReceived(ctx, t, h)
}

func testInvalid(t *testing.T, h Harness) {
	ctx := testCtx(t)
	cases := []struct {
		m     sender.Message
		field string
	}{
		{sender.Message{Channel: h.Channel(), Body: "123456"}, "to"},
		{sender.Message{Channel: h.Channel(), To: "not a recipient", Body: "123456"}, "to"},
		{sender.Message{Channel: h.Channel(), To: h.Recipient(0)}, "body"},
		{sender.Message{To: h.Recipient(0), Body: "123456"}, "channel"},
	}
	for _, tc := range cases {
		m := tc.m
		wantInvalid(t, h.Sender().Send(ctx, &m), tc.field)
	}
	if err := h.Sender().Send(ctx, nil); err == nil {
		t.Fatal("Send(nil) = nil")
	}
	mustNothingReceived(ctx, t, h)
}

func testOtherChannel(t *testing.T, h Harness) {
	ctx := testCtx(t)
	err := h.Sender().Send(ctx, &sender.Message{Channel: "carrier-pigeon", To: "coop 7", Body: "123456"})
	if !errors.Is(err, sender.ErrUnsupported) {
		t.Fatalf("Send on an unknown channel = %v, want ErrUnsupported", err)
	}
	mustNothingReceived(ctx, t, h)
}

func testCanceledBeforeSend(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	err := h.Sender().Send(ctx, &sender.Message{Channel: h.Channel(), To: h.Recipient(0), Subject: subject(h, "Code"), Body: "123456"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context = %v, want context.Canceled", err)
	}
	if !sender.IsTemporary(err) {
		t.Errorf("IsTemporary(%v) = false for a cancelled send", err)
	}
	mustNothingReceived(testCtx(t), t, h)
}

func testDeadlineWhileStalled(t *testing.T, h Harness) {
	release := h.Stall()
	if release == nil {
		t.Log("the receiving end cannot stall; only CanceledBeforeSend checks cancellation")
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.Sender().Send(ctx, &sender.Message{Channel: h.Channel(), To: h.Recipient(0), Subject: subject(h, "Code"), Body: "123456"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a stalled receiver = %v, want context.DeadlineExceeded", err)
	}
	if !sender.IsTemporary(err) {
		t.Errorf("IsTemporary(%v) = false for a timed-out send", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send returned %v after its deadline", d)
	}
	release()
	mustNothingReceived(testCtx(t), t, h)
}

func testReceiverFails(t *testing.T, h Harness, temporary bool) {
	if !h.Fail(temporary) {
		t.Logf("the receiving end cannot fail with temporary=%v", temporary)
		return
	}
	ctx := testCtx(t)
	err := h.Sender().Send(ctx, &sender.Message{Channel: h.Channel(), To: h.Recipient(0), Subject: subject(h, "Code"), Body: "123456"})
	if err == nil {
		t.Fatal("Send succeeded although the receiving end failed")
	}
	var se *sender.SendError
	if !errors.As(err, &se) {
		t.Fatalf("Send = %v (%T), want a *sender.SendError", err, err)
	}
	if got := sender.IsTemporary(err); got != temporary {
		t.Fatalf("IsTemporary(%v) = %v, want %v", err, got, temporary)
	}
	if strings.Contains(err.Error(), "123456") {
		t.Fatalf("the error %q contains the message body", err)
	}
	mustNothingReceived(ctx, t, h)
}
