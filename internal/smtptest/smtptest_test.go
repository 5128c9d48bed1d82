package smtptest_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/smtptest"
)

// dialogue runs a raw SMTP conversation: each step sends a line (unless
// empty) and expects the reply code.
func dialogue(t *testing.T, addr string, steps []struct {
	send string
	code int
}) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	for _, st := range steps {
		if err := c.PrintfLine("%s", st.send); err != nil {
			t.Fatal(err)
		}
		if st.code == 0 {
			continue // a DATA line: no reply
		}
		if code, msg, err := c.ReadResponse(st.code); err != nil {
			t.Fatalf("%q: got %d %q, want %d", st.send, code, msg, st.code)
		}
	}
}

type step = struct {
	send string
	code int
}

func TestProtocol(t *testing.T) {
	t.Parallel()
	s := smtptest.MustStart(t, smtptest.Options{Username: "u", Password: "p"})
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	dialogue(t, s.Addr(), []step{
		{"MAIL FROM:<a@b.c>", 503},
		{"EHLO client", 250},
		{"MAIL FROM:<a@b.c>", 530},
		{"AUTH PLAIN " + plain("u", "wrong"), 535},
		{"AUTH LOGIN", 504},
		{"AUTH PLAIN " + plain("u", "p"), 235},
		{"NOOP", 250},
		{"RCPT TO:<x@y.z>", 503},
		{"MAIL FROM:<a@b.c> BODY=8BITMIME", 250},
		{"RCPT TO:<dropped@y.z>", 250},
		{"RSET", 250},
		{"DATA", 503},
		{"MAIL FROM:<a@b.c>", 250},
		{"RCPT TO:<x@y.z>", 250},
		{"DATA", 354},
		{"Subject: =?utf-8?q?caf=C3=A9?=", 0},
		{"Content-Transfer-Encoding: quoted-printable", 0},
		{"", 0},
		{"..leading dot", 0},
		{"caf=C3=A9 soft=", 0},
		{"break", 0},
		{".", 250},
		{"BOGUS", 500},
		{"QUIT", 221},
	})
	got := s.Messages()
	if len(got) != 1 {
		t.Fatalf("stored %d messages, want 1", len(got))
	}
	m := got[0]
	if m.From != "a@b.c" || len(m.To) != 1 || m.To[0] != "x@y.z" || m.AuthUser != "u" || m.TLS {
		t.Errorf("envelope %q %q, auth %q, TLS %v", m.From, m.To, m.AuthUser, m.TLS)
	}
	if m.Subject != "café" || m.Body != ".leading dot\ncafé softbreak\n" {
		t.Errorf("Subject %q, Body %q", m.Subject, m.Body)
	}
	if !strings.Contains(string(m.Raw), "\r\n.leading dot\r\n") {
		t.Errorf("raw message not dot-unstuffed: %q", m.Raw)
	}
}

func TestSTARTTLSAndFailureSwitches(t *testing.T) {
	t.Parallel()
	s := smtptest.MustStart(t, smtptest.Options{})
	send := func() error {
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"}); err != nil {
			return err
		}
		if err := c.Mail("a@b.c"); err != nil {
			return err
		}
		if err := c.Rcpt("x@y.z"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitFor(ctx, "X@Y.Z", 1)
		done <- err
	}()
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	if m := s.Messages()[0]; !m.TLS || m.Body != "body\n" {
		t.Errorf("TLS %v, body %q", m.TLS, m.Body)
	}
	s.FailRcpt(450)
	if err := send(); err == nil || !strings.Contains(err.Error(), "450") {
		t.Errorf("send with RCPT failing = %v, want 450", err)
	}
	s.FailRcpt(0)
	s.FailData(552)
	if err := send(); err == nil || !strings.Contains(err.Error(), "552") {
		t.Errorf("send with DATA failing = %v, want 552", err)
	}
	s.FailData(0)
	if err := send(); err != nil {
		t.Errorf("send after the switches were reset: %v", err)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("stored %d messages, want 2", n)
	}
	short, cancelShort := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := s.WaitFor(short, "x@y.z", 3); err == nil {
		t.Error("WaitFor for a message that never comes returned nil")
	}
}
