// Package smtpsender sends email messages through an SMTP server with
// net/smtp: STARTTLS or implicit TLS, AUTH PLAIN, and an RFC 5322 message
// with a UTF-8 text/plain body and RFC 2047 encoded headers.
package smtpsender

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/sender"
)

// The StartTLS policies.
const (
	// StartTLSAlways refuses to send unless the server offers STARTTLS.
	StartTLSAlways = "always"
	// StartTLSOpportunistic upgrades when the server offers STARTTLS.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSNever never upgrades.
	StartTLSNever = "never"
)

// DefaultTimeout bounds one Send when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configure a Sender.
type Options struct {
	// Addr is the server's "host:port".
	Addr string
	// From is the sender address, e.g. "Atelier <no-reply@example.com>".
	From string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN. net/smtp sends them only over TLS or to localhost.
	Username, Password string
	// StartTLS is StartTLSAlways, StartTLSOpportunistic (the default) or
	// StartTLSNever. It is ignored with ImplicitTLS.
	StartTLS string
	// ImplicitTLS speaks TLS from the first byte (port 465 style).
	ImplicitTLS bool
	// TLSConfig is used for STARTTLS and implicit TLS. Its ServerName
	// defaults to the host of Addr.
	TLSConfig *tls.Config
	// HelloName is the name sent with EHLO; net/smtp's default is
	// "localhost".
	HelloName string
	// Timeout bounds one Send, dial included (DefaultTimeout if zero). A
	// shorter deadline on the Send context wins.
	Timeout time.Duration
	// Clock gives the Date header; the real clock if nil.
	Clock clock.Clock
}

// Sender sends email over SMTP, one connection per message. It is safe for
// concurrent use.
type Sender struct {
	opts    Options
	host    string
	from    *mail.Address
	msgHost string // the domain of Message-IDs
}

// Interface guard.
var _ sender.Sender = (*Sender)(nil)

// New checks opts and returns a Sender. It does not connect.
func New(opts Options) (*Sender, error) {
	opts.StartTLS = cmp.Or(opts.StartTLS, StartTLSOpportunistic)
	opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	var errs []error
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil || host == "" {
		errs = append(errs, fmt.Errorf("smtpsender: Addr %q is not host:port", opts.Addr))
	}
	from, err := sender.ParseEmail(opts.From)
	if err != nil {
		errs = append(errs, fmt.Errorf("smtpsender: From %q is not one email address", opts.From))
	}
	switch opts.StartTLS {
	case StartTLSAlways, StartTLSOpportunistic, StartTLSNever:
	default:
		errs = append(errs, fmt.Errorf("smtpsender: StartTLS %q is not %q, %q or %q", opts.StartTLS, StartTLSAlways, StartTLSOpportunistic, StartTLSNever))
	}
	if strings.ContainsAny(opts.HelloName, "\r\n ") {
		errs = append(errs, errors.New("smtpsender: HelloName must be one word"))
	}
	if opts.Timeout < 0 {
		errs = append(errs, errors.New("smtpsender: Timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Sender{opts: opts, host: host, from: from}
	s.msgHost = host
	if _, domain, ok := strings.Cut(from.Address, "@"); ok && domain != "" {
		s.msgHost = domain
	}
	return s, nil
}

// Send delivers m, which must be on the sender.Email channel, following the
// error contract of sender.Sender: SMTP 4xx replies and network failures are
// temporary, 5xx replies, certificate and configuration problems permanent.
func (s *Sender) Send(ctx context.Context, m *sender.Message) error {
	if err := sender.Validate(m); err != nil {
		return err
	}
	if m.Channel != sender.Email {
		return fmt.Errorf("smtpsender: %w %q", sender.ErrUnsupported, m.Channel)
	}
	if err := ctx.Err(); err != nil {
		return sender.ContextError(ctx, sender.Email, err)
	}
	to, err := sender.ParseEmail(m.To)
	if err != nil { // Validate already checked it.
		return fmt.Errorf("smtpsender: recipient: %w", err)
	}
	msg, err := s.build(to, m)
	if err != nil {
		return sender.Permanent(sender.Email, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.deliver(ctx, to.Address, msg); err != nil {
		if cerr := sender.ContextError(ctx, sender.Email, err); cerr != nil {
			return cerr
		}
		return classify(err)
	}
	return nil
}

// deliver runs one SMTP session.
func (s *Sender) deliver(ctx context.Context, rcpt string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", s.opts.Addr, err)
	}
	// Closing the connection is how a cancelled ctx, or its deadline,
	// interrupts net/smtp. (A conn deadline would race with ctx and report a
	// timeout that is not ctx.Err().)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	tlsConf := s.tlsConfig()
	if s.opts.ImplicitTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", s.opts.Addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("greeting from %s: %w", s.opts.Addr, err)
	}
	defer c.Close()
	if s.opts.HelloName != "" {
		if err := c.Hello(s.opts.HelloName); err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if !s.opts.ImplicitTLS && s.opts.StartTLS != StartTLSNever {
		ok, _ := c.Extension("STARTTLS")
		switch {
		case ok:
			if err := c.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		case s.opts.StartTLS == StartTLSAlways:
			return errNoSTARTTLS
		}
	}
	if s.opts.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errNoAuth
		}
		if err := c.Auth(smtp.PlainAuth("", s.opts.Username, s.opts.Password, s.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The message is accepted once DATA ends with 250; a failing QUIT does
	// not undo that.
	_ = c.Quit()
	return nil
}

func (s *Sender) tlsConfig() *tls.Config {
	var c *tls.Config
	if s.opts.TLSConfig != nil {
		c = s.opts.TLSConfig.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

var (
	errNoSTARTTLS = errors.New("the server does not offer STARTTLS and StartTLS is \"always\"")
	errNoAuth     = errors.New("the server does not offer AUTH but a Username is configured")
)

// classify wraps a delivery error as temporary or permanent.
func classify(err error) error {
	var tpErr *textproto.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.As(err, &tpErr):
		return &sender.SendError{Channel: sender.Email, Temporary: tpErr.Code >= 400 && tpErr.Code < 500, Err: err}
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.Is(err, errNoSTARTTLS), errors.Is(err, errNoAuth):
		return sender.Permanent(sender.Email, err)
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return sender.Temporary(sender.Email, err)
	}
	// net/smtp reports its own refusals (e.g. PLAIN without TLS) as plain
	// errors; those do not heal by retrying. Connection trouble that is not a
	// net.Error (a reset reported as a syscall error) is wrapped as OpError
	// by the net package, so it took the branch above.
	return sender.Permanent(sender.Email, err)
}

// build renders the RFC 5322 message with CRLF line ends.
func (s *Sender) build(to *mail.Address, m *sender.Message) ([]byte, error) {
	var b bytes.Buffer
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("message id: %w", err)
	}
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", s.from.String())
	header("To", to.String())
	if m.Subject != "" {
		header("Subject", encodeHeader(m.Subject))
	}
	header("Date", s.opts.Clock.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+s.msgHost+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	body := bodyLineEnds.Replace(m.Body)
	if mostlyASCII(body) {
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		if _, err := io.WriteString(qp, body); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	} else {
		header("Content-Transfer-Encoding", "base64")
		b.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString([]byte(body))
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// bodyLineEnds turns every line end (CRLF, a lone LF or a lone CR) into CRLF,
// as SMTP requires.
var bodyLineEnds = strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n")

// encodeHeader encodes a header value as RFC 2047 encoded-words when it is
// not plain printable ASCII, and folds between encoded-words so that lines
// stay short. A plain value that looks like an encoded-word is encoded too,
// so that a reader decodes it back to itself.
func encodeHeader(v string) string {
	// Readers trim the whitespace around a header value, so keep it by
	// encoding.
	plain := !strings.Contains(v, "=?") && strings.TrimSpace(v) == v
	for i := 0; plain && i < len(v); i++ {
		plain = v[i] >= 0x20 && v[i] < 0x7f
	}
	if plain {
		return v
	}
	enc := mime.QEncoding
	if !mostlyASCII(v) {
		enc = mime.BEncoding
	}
	// mime's encoder leaves ASCII-only text alone; force encoding for the
	// "=?" case by encoding word by word where needed.
	out := enc.Encode("UTF-8", v)
	if out == v {
		out = forceQ(v)
	}
	return strings.ReplaceAll(out, "?= =?", "?=\r\n =?")
}

// forceQ encodes an all-ASCII value as Q encoded-words of at most 75
// characters each.
func forceQ(v string) string {
	const prefix, suffix = "=?UTF-8?q?", "?="
	var words []string
	var w strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		var tok string
		switch {
		case c == ' ':
			tok = "_"
		case c >= '!' && c <= '~' && c != '=' && c != '?' && c != '_':
			tok = string(c)
		default:
			tok = fmt.Sprintf("=%02X", c)
		}
		if len(prefix)+w.Len()+len(tok)+len(suffix) > 75 {
			words = append(words, prefix+w.String()+suffix)
			w.Reset()
		}
		w.WriteString(tok)
	}
	words = append(words, prefix+w.String()+suffix)
	return strings.Join(words, " ")
}

// mostlyASCII reports whether quoted-printable suits s better than base64.
func mostlyASCII(s string) bool {
	non := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			non++
		}
	}
	return non*4 <= len(s)
}
