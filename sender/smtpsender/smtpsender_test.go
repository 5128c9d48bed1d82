package smtpsender_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/smtptest"
	"github.com/atelier-dev/atelier/sender"
	"github.com/atelier-dev/atelier/sender/sendertest"
	"github.com/atelier-dev/atelier/sender/smtpsender"
)

const (
	user = "mailer"
	pass = "s3cret-pass"
	from = "Atelier <no-reply@atelier.test>"
)

type harness struct {
	srv *smtptest.Server
	s   *smtpsender.Sender
}

func (h *harness) Sender() sender.Sender   { return h.s }
func (h *harness) Channel() string         { return sender.Email }
func (h *harness) Recipient(i int) string  { return fmt.Sprintf("user%d@example.com", i) }
func (h *harness) Stall() (release func()) { return h.srv.Stall() }
func (h *harness) Fail(temporary bool) bool {
	h.srv.FailRcpt(map[bool]int{true: 451, false: 550}[temporary])
	return true
}

func (h *harness) Received(_ context.Context, to string) ([]*sender.Message, error) {
	var out []*sender.Message
	for _, m := range h.srv.MessagesTo(to) {
		if len(m.To) != 1 {
			return nil, fmt.Errorf("message has %d envelope recipients, want 1", len(m.To))
		}
		out = append(out, &sender.Message{Channel: sender.Email, To: m.To[0], Subject: m.Subject, Body: m.Body})
	}
	return out, nil
}

func mustNew(t *testing.T, o smtpsender.Options) *smtpsender.Sender {
	t.Helper()
	s, err := smtpsender.New(o)
	if err != nil {
		t.Fatalf("smtpsender.New: %v", err)
	}
	return s
}

func TestConformanceSTARTTLS(t *testing.T) {
	t.Parallel()
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		srv := smtptest.MustStart(t, smtptest.Options{Username: user, Password: pass})
		return &harness{srv: srv, s: mustNew(t, smtpsender.Options{
			Addr: srv.Addr(), From: from, Username: user, Password: pass, StartTLS: smtpsender.StartTLSAlways,
			TLSConfig: &tls.Config{RootCAs: srv.CertPool()}, HelloName: "atelier.test",
		})}
	})
}

func TestConformanceImplicitTLS(t *testing.T) {
	t.Parallel()
	sendertest.Run(t, func(t *testing.T) sendertest.Harness {
		srv := smtptest.MustStart(t, smtptest.Options{Username: user, Password: pass, ImplicitTLS: true})
		return &harness{srv: srv, s: mustNew(t, smtpsender.Options{
			Addr: srv.Addr(), From: from, Username: user, Password: pass, ImplicitTLS: true,
			TLSConfig: &tls.Config{RootCAs: srv.CertPool()},
		})}
	})
}

func send(t *testing.T, s *smtpsender.Sender, m *sender.Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

func TestMessageFormat(t *testing.T) {
	t.Parallel()
	srv := smtptest.MustStart(t, smtptest.Options{Username: user, Password: pass})
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	s := mustNew(t, smtpsender.Options{Addr: srv.Addr(), From: from, Username: user, Password: pass,
		TLSConfig: &tls.Config{RootCAs: srv.CertPool()}, Clock: clock.NewFake(at)})
	m := &sender.Message{Channel: sender.Email, To: "张伟 <zhang@example.com>", Subject: "登录验证码 123456", Body: "验证码：123456"}
	if err := send(t, s, m); err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitFor(t.Context(), "zhang@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	g := got[0]
	if !g.TLS || g.AuthUser != user || g.From != "no-reply@atelier.test" {
		t.Errorf("session: TLS %v, AUTH user %q, MAIL FROM %q", g.TLS, g.AuthUser, g.From)
	}
	h := g.Header
	checks := map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=UTF-8",
		"Content-Transfer-Encoding": "base64",
	}
	for k, want := range checks {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(at) {
		t.Errorf("Date = %v (%v), want %v", d, err, at)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@atelier.test>") {
		t.Errorf("Message-ID = %q", id)
	}
	for _, k := range []string{"To", "From"} {
		if _, err := h.AddressList(k); err != nil {
			t.Errorf("header %s %q does not parse: %v", k, h.Get(k), err)
		}
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Name != "张伟" || to[0].Address != "zhang@example.com" {
		t.Errorf("To = %v", to)
	}
	if g.Subject != m.Subject || strings.TrimRight(g.Body, "\n") != m.Body {
		t.Errorf("Subject %q, Body %q", g.Subject, g.Body)
	}
	for line := range strings.SplitSeq(string(g.Raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("raw message is not 7-bit: %q", line)
			}
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	msg := &sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "Code", Body: "123456"}
	cases := []struct {
		name      string
		srv       smtptest.Options
		opts      func(srv *smtptest.Server) smtpsender.Options
		setup     func(srv *smtptest.Server)
		temporary bool
	}{
		{"wrong password", smtptest.Options{Username: user, Password: pass},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, Username: user, Password: "wrong", TLSConfig: &tls.Config{RootCAs: srv.CertPool()}}
			}, nil, false},
		{"STARTTLS always but not offered", smtptest.Options{NoSTARTTLS: true},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, StartTLS: smtpsender.StartTLSAlways}
			}, nil, false},
		{"untrusted certificate", smtptest.Options{},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, TLSConfig: &tls.Config{}}
			}, nil, false},
		{"wrong server name", smtptest.Options{},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, TLSConfig: &tls.Config{RootCAs: srv.CertPool(), ServerName: "mail.example.com"}}
			}, nil, false},
		{"auth required but not configured", smtptest.Options{Username: user, Password: pass},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, TLSConfig: &tls.Config{RootCAs: srv.CertPool()}}
			}, nil, false},
		{"DATA 451", smtptest.Options{},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, StartTLS: smtpsender.StartTLSNever}
			}, func(srv *smtptest.Server) { srv.FailData(451) }, true},
		{"DATA 554", smtptest.Options{},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from, StartTLS: smtpsender.StartTLSNever}
			}, func(srv *smtptest.Server) { srv.FailData(554) }, false},
		{"server gone", smtptest.Options{},
			func(srv *smtptest.Server) smtpsender.Options {
				return smtpsender.Options{Addr: srv.Addr(), From: from}
			}, func(srv *smtptest.Server) { srv.Close() }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.MustStart(t, tc.srv)
			s := mustNew(t, tc.opts(srv))
			if tc.setup != nil {
				tc.setup(srv)
			}
			err := send(t, s, msg)
			var se *sender.SendError
			if !errors.As(err, &se) || se.Temporary != tc.temporary {
				t.Fatalf("Send = %v, want a SendError with Temporary %v", err, tc.temporary)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Fatalf("server stored %d messages", n)
			}
		})
	}
}

func TestStartTLSPolicies(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{smtpsender.StartTLSOpportunistic, smtpsender.StartTLSNever} {
		for _, offered := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/offered=%v", policy, offered), func(t *testing.T) {
				t.Parallel()
				srv := smtptest.MustStart(t, smtptest.Options{NoSTARTTLS: !offered})
				s := mustNew(t, smtpsender.Options{Addr: srv.Addr(), From: from, StartTLS: policy, TLSConfig: &tls.Config{RootCAs: srv.CertPool()}})
				if err := send(t, s, &sender.Message{Channel: sender.Email, To: "ann@example.com", Body: "x"}); err != nil {
					t.Fatal(err)
				}
				got := srv.Messages()
				wantTLS := offered && policy == smtpsender.StartTLSOpportunistic
				if len(got) != 1 || got[0].TLS != wantTLS {
					t.Fatalf("got %d messages, TLS %v; want 1, TLS %v", len(got), len(got) > 0 && got[0].TLS, wantTLS)
				}
			})
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cases := []smtpsender.Options{
		{Addr: "no-port", From: from},
		{Addr: "127.0.0.1:25", From: "not an address"},
		{Addr: "127.0.0.1:25", From: "a@b.c\r\nBcc: x@y.z"},
		{Addr: "127.0.0.1:25", From: from, StartTLS: "sometimes"},
		{Addr: "127.0.0.1:25", From: from, HelloName: "a\r\nMAIL FROM:<x>"},
	}
	for _, o := range cases {
		if _, err := smtpsender.New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
}

func TestRefusesPlainAuthWithoutTLSToRemoteHost(t *testing.T) {
	t.Parallel()
	// net/smtp sends AUTH PLAIN in clear text only to a server named
	// localhost, 127.0.0.1 or ::1. "::ffff:127.0.0.1" reaches the same
	// loopback listener under another name, standing in for a remote host.
	srv := smtptest.MustStart(t, smtptest.Options{Username: user, Password: pass, NoSTARTTLS: true})
	_, port, _ := net.SplitHostPort(srv.Addr())
	s := mustNew(t, smtpsender.Options{Addr: net.JoinHostPort("::ffff:127.0.0.1", port), From: from, Username: user, Password: pass})
	err := send(t, s, &sender.Message{Channel: sender.Email, To: "ann@example.com", Body: "x"})
	if err == nil || sender.IsTemporary(err) {
		t.Fatalf("Send = %v, want a permanent refusal to send the password unencrypted", err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("message delivered")
	}
}

// FuzzBuild checks that whatever passes validation renders to a message that
// net/mail parses back to the same recipient, subject and body, with no
// injected header.
func FuzzBuild(f *testing.F) {
	f.Add("ann@example.com", "Code", "123456")
	f.Add("张伟 <zhang@example.com>", "登录验证码", "验证码 123456\n.\n..")
	f.Add("ann@example.com", "=?utf-8?q?x?=", "=?utf-8?q?x?=")
	f.Add("\"a\\\"b\" <ann@example.com>", "a\tb  c", "\r\n\r\n")
	f.Fuzz(func(t *testing.T, to, subject, body string) {
		m := &sender.Message{Channel: sender.Email, To: to, Subject: subject, Body: body}
		if sender.Validate(m) != nil {
			return
		}
		raw, err := smtpsender.Build(from, m, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		got, err := smtptest.Parse(raw)
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, raw)
		}
		if len(got.Header) != 8-boolInt(subject == "") {
			t.Fatalf("message has headers %v", got.Header)
		}
		want, _ := sender.ParseEmail(to)
		gotTo, err := got.Header.AddressList("To")
		if err != nil || len(gotTo) != 1 || gotTo[0].Address != want.Address || gotTo[0].Name != want.Name {
			t.Fatalf("To %q parsed as %v (%v), want %v", got.Header.Get("To"), gotTo, err, want)
		}
		if got.Subject != subject {
			t.Fatalf("Subject %q came back as %q", subject, got.Subject)
		}
		wantBody := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
		if strings.TrimRight(got.Body, "\n") != strings.TrimRight(wantBody, "\n") {
			t.Fatalf("Body %q came back as %q", wantBody, got.Body)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
