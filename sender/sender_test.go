package sender_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/sender"
)

var validateCases = []struct {
	name  string
	m     sender.Message
	field string // "" when valid
}{
	{"email", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "Code", Body: "123456"}, ""},
	{"email with name", sender.Message{Channel: sender.Email, To: "Ann Smith <ann@example.com>", Subject: "Code", Body: "123456"}, ""},
	{"email unicode", sender.Message{Channel: sender.Email, To: "张伟 <zhang@example.com>", Subject: "您的验证码", Body: "验证码 123456\n第二行"}, ""},
	{"subject with tab", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "a\tb", Body: "x"}, ""},
	{"sms", sender.Message{Channel: sender.SMS, To: "+4915112345678", Body: "123456"}, ""},
	{"sms no plus", sender.Message{Channel: sender.SMS, To: "15112345678", Body: "123456"}, ""},
	{"other channel", sender.Message{Channel: "fax", To: "x", Body: "123456"}, ""},
	{"no channel", sender.Message{To: "ann@example.com", Body: "x"}, "channel"},
	{"empty to", sender.Message{Channel: sender.Email, Body: "x"}, "to"},
	{"to CRLF", sender.Message{Channel: sender.Email, To: "ann@example.com\r\nBcc: eve@example.com", Body: "x"}, "to"},
	{"to LF", sender.Message{Channel: sender.Email, To: "ann@example.com\nBcc: eve@example.com", Body: "x"}, "to"},
	{"to CR", sender.Message{Channel: sender.Email, To: "ann@example.com\rBcc: eve@example.com", Body: "x"}, "to"},
	{"to NUL", sender.Message{Channel: sender.Email, To: "ann@example.com\x00", Body: "x"}, "to"},
	{"to line separator", sender.Message{Channel: sender.Email, To: "ann@example.com\u2028", Body: "x"}, "to"},
	{"to list", sender.Message{Channel: sender.Email, To: "ann@example.com, eve@example.com", Body: "x"}, "to"},
	{"to not address", sender.Message{Channel: sender.Email, To: "ann", Body: "x"}, "to"},
	{"to too long", sender.Message{Channel: sender.Email, To: strings.Repeat("a", 250) + "@example.com", Body: "x"}, "to"},
	{"to bad utf8", sender.Message{Channel: sender.Email, To: "\xffann@example.com", Body: "x"}, "to"},
	{"sms letters", sender.Message{Channel: sender.SMS, To: "+49abc", Body: "x"}, "to"},
	{"sms short", sender.Message{Channel: sender.SMS, To: "+12", Body: "x"}, "to"},
	{"sms CRLF", sender.Message{Channel: sender.SMS, To: "+4915112345678\r\n", Body: "x"}, "to"},
	{"subject CRLF", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "Hi\r\nBcc: eve@example.com", Body: "x"}, "subject"},
	{"subject LF", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "Hi\nBcc: eve@example.com", Body: "x"}, "subject"},
	{"subject CR", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "Hi\rBcc: eve@example.com", Body: "x"}, "subject"},
	{"subject too long", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: strings.Repeat("码", 201), Body: "x"}, "subject"},
	{"subject bad utf8", sender.Message{Channel: sender.Email, To: "ann@example.com", Subject: "\xc3", Body: "x"}, "subject"},
	{"sms subject CRLF", sender.Message{Channel: sender.SMS, To: "+4915112345678", Subject: "a\r\nb", Body: "x"}, "subject"},
	{"empty body", sender.Message{Channel: sender.Email, To: "ann@example.com"}, "body"},
	{"body NUL", sender.Message{Channel: sender.Email, To: "ann@example.com", Body: "a\x00b"}, "body"},
	{"body bad utf8", sender.Message{Channel: sender.Email, To: "ann@example.com", Body: "a\xffb"}, "body"},
	{"body too large", sender.Message{Channel: sender.Email, To: "ann@example.com", Body: strings.Repeat("a", sender.MaxBodyBytes+1)}, "body"},
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tc.m
			err := sender.Validate(&m)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ae *atelier.Error
			if !errors.As(err, &ae) || ae.Code != atelier.CodeInvalidParam.ID || ae.Field != tc.field {
				t.Fatalf("Validate = %#v, want %s on field %q", err, atelier.CodeInvalidParam.ID, tc.field)
			}
			if sender.IsTemporary(err) {
				t.Errorf("IsTemporary(validation error) = true")
			}
		})
	}
	if err := sender.Validate(nil); err == nil {
		t.Error("Validate(nil) = nil")
	}
}

// FuzzValidate checks that an accepted message can never carry a line break
// into a header.
func FuzzValidate(f *testing.F) {
	for _, tc := range validateCases {
		f.Add(tc.m.Channel, tc.m.To, tc.m.Subject, tc.m.Body)
	}
	f.Fuzz(func(t *testing.T, channel, to, subject, body string) {
		m := &sender.Message{Channel: channel, To: to, Subject: subject, Body: body}
		if sender.Validate(m) != nil {
			return
		}
		if strings.ContainsAny(to, "\r\n\x00") || strings.ContainsAny(subject, "\r\n\x00") {
			t.Fatalf("accepted a line break in To %q or Subject %q", to, subject)
		}
		if !utf8.ValidString(to) || !utf8.ValidString(subject) || !utf8.ValidString(body) {
			t.Fatal("accepted invalid UTF-8")
		}
		if channel == sender.Email {
			a, err := sender.ParseEmail(to)
			if err != nil || strings.ContainsAny(a.String(), "\r\n") {
				t.Fatalf("accepted email %q that does not round-trip: %v", to, err)
			}
		}
	})
}

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{cause, false},
		{sender.Temporary(sender.Email, cause), true},
		{fmt.Errorf("wrapped: %w", sender.Temporary(sender.SMS, cause)), true},
		{sender.Permanent(sender.Email, cause), false},
		{fmt.Errorf("%w: x", sender.ErrUnsupported), false},
	}
	for _, tc := range cases {
		if got := sender.IsTemporary(tc.err); got != tc.want {
			t.Errorf("IsTemporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if err := sender.Temporary(sender.Email, cause); !errors.Is(err, cause) {
		t.Errorf("SendError does not unwrap to its cause")
	}
}

func TestContextError(t *testing.T) {
	t.Parallel()
	if err := sender.ContextError(context.Background(), sender.Email, errors.New("x")); err != nil {
		t.Fatalf("ContextError(live ctx) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := sender.ContextError(ctx, sender.Email, errors.New("use of closed network connection"))
	if !errors.Is(err, context.Canceled) || !sender.IsTemporary(err) {
		t.Fatalf("ContextError = %v, want temporary context.Canceled", err)
	}
}

// recorder is a Sender that keeps what it is given; Multi's routing is pure
// logic, so a real backend is not needed here.
type recorder struct {
	mu   sync.Mutex
	sent []*sender.Message
}

func (r *recorder) Send(_ context.Context, m *sender.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

func TestMulti(t *testing.T) {
	t.Parallel()
	email, sms := &recorder{}, &recorder{}
	mu := sender.Multi{sender.Email: email, sender.SMS: sms}
	ctx := context.Background()
	if !mu.Has(sender.Email) || !mu.Has(sender.SMS) || mu.Has("fax") {
		t.Fatal("Has reports the wrong channels")
	}
	if err := mu.Send(ctx, &sender.Message{Channel: sender.Email, To: "ann@example.com", Body: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := mu.Send(ctx, &sender.Message{Channel: sender.SMS, To: "+15551234", Body: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := mu.SendCode(ctx, sender.SMS, "+15551234", "", "5"); err != nil {
		t.Fatal(err)
	}
	if len(email.sent) != 1 || email.sent[0].Body != "1" || len(sms.sent) != 2 || sms.sent[0].Body != "2" || sms.sent[1].Body != "5" {
		t.Fatalf("routed wrongly: email %v, sms %v", email.sent, sms.sent)
	}
	err := sender.Multi{sender.Email: email}.Send(ctx, &sender.Message{Channel: sender.SMS, To: "+15551234", Body: "3"})
	if !errors.Is(err, sender.ErrUnsupported) {
		t.Fatalf("Send to an unconfigured channel = %v, want ErrUnsupported", err)
	}
	if err := mu.Send(ctx, &sender.Message{Channel: sender.Email, To: "a@b.c\r\nBcc: x@y.z", Body: "4"}); err == nil {
		t.Fatal("Multi sent a message with CRLF in To")
	}
	if len(email.sent) != 1 {
		t.Fatal("an invalid message reached the backend")
	}
}
