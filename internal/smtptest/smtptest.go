// Package smtptest runs a small but real SMTP server on 127.0.0.1 for tests:
// EHLO/HELO, STARTTLS with a self-signed certificate made at start, AUTH
// PLAIN, MAIL/RCPT/DATA with dot-unstuffing, RSET, NOOP and QUIT. It stores
// every accepted message parsed with net/mail, its body decoded per
// Content-Transfer-Encoding and its Subject per RFC 2047, and can be told to
// refuse RCPT or DATA, or to stall, for failure tests.
package smtptest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxMessageBytes is the largest message DATA accepts.
const MaxMessageBytes = 1 << 20

// Options configure a Server.
type Options struct {
	// Username and Password, when Username is set, are the only AUTH PLAIN
	// credentials accepted, and MAIL is refused before a successful AUTH.
	Username, Password string
	// ImplicitTLS makes the server speak TLS from the first byte (the port
	// 465 style) instead of offering STARTTLS.
	ImplicitTLS bool
	// NoSTARTTLS hides STARTTLS from the EHLO answer and refuses it.
	NoSTARTTLS bool
}

// Message is one message the server accepted.
type Message struct {
	From     string   // envelope sender (MAIL FROM)
	To       []string // envelope recipients (RCPT TO)
	Raw      []byte   // the message as received, dot-unstuffed, CRLF line ends
	Header   mail.Header
	Subject  string // decoded from RFC 2047 encoded-words
	Body     string // decoded per Content-Transfer-Encoding, line ends "\n"
	TLS      bool   // whether the session was encrypted
	AuthUser string // the AUTH PLAIN user, "" without AUTH
}

// Server is an SMTP server on 127.0.0.1. It is safe for concurrent use.
type Server struct {
	opts    Options
	ln      net.Listener
	tlsConf *tls.Config
	pool    *x509.CertPool

	mu       sync.Mutex
	msgs     []*Message
	changed  chan struct{} // closed and replaced whenever msgs grows
	rcptCode int
	dataCode int
	stall    chan struct{} // non-nil while stalled; closed on release
	conns    map[net.Conn]struct{}
	closed   chan struct{}

	wg sync.WaitGroup
}

// MustStart starts a server and closes it when the test ends.
func MustStart(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a server listening on 127.0.0.1 at a free port.
func Start(opts Options) (*Server, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		pool:    pool,
		changed: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
		closed:  make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertPool returns a pool that trusts the server's certificate, for a client's
// tls.Config RootCAs. The certificate is valid for 127.0.0.1, ::1 and
// localhost.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// FailRcpt makes every later RCPT answer with code (e.g. 450 or 550); 0
// restores normal service.
func (s *Server) FailRcpt(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptCode = code
}

// FailData makes every later DATA command answer with code (e.g. 451 or
// 554) instead of 354; 0 restores normal service.
func (s *Server) FailData(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataCode = code
}

// Stall makes the server accept connections but hold back its greeting until
// release is called or the server is closed. Release may be called more than
// once.
func (s *Server) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.stall = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				s.stall = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Messages returns every accepted message, oldest first.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// MessagesTo returns the accepted messages with to among their envelope
// recipients (compared case-insensitively), oldest first. An empty to
// matches every message.
func (s *Server) MessagesTo(to string) []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesToLocked(to)
}

func (s *Server) messagesToLocked(to string) []*Message {
	var out []*Message
	for _, m := range s.msgs {
		if to == "" || containsFold(m.To, to) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits until at least n messages for to have arrived and returns
// them, or returns ctx's error.
func (s *Server) WaitFor(ctx context.Context, to string, n int) ([]*Message, error) {
	for {
		s.mu.Lock()
		got := s.messagesToLocked(to)
		changed := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("smtptest: %d of %d messages for %s arrived: %w", len(got), n, to, ctx.Err())
		}
	}
}

// Close stops the server, closes open sessions and waits for them to end.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return
	default:
	}
	close(s.closed)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.closed:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

// session is the state of one SMTP conversation.
type session struct {
	s        *Server
	conn     net.Conn
	tp       *textproto.Conn
	tls      bool
	helo     bool
	authUser string
	from     string
	hasFrom  bool
	rcpts    []string
}

func (ss *session) reset() {
	ss.from, ss.hasFrom, ss.rcpts = "", false, nil
}

func (ss *session) reply(code int, format string, args ...any) error {
	return ss.tp.PrintfLine("%d %s", code, fmt.Sprintf(format, args...))
}

func (s *Server) serve(c net.Conn) {
	s.mu.Lock()
	stall := s.stall
	s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-s.closed:
			return
		}
	}
	ss := &session{s: s, conn: c, tp: textproto.NewConn(c), tls: s.opts.ImplicitTLS}
	if err := ss.reply(220, "smtptest ESMTP ready"); err != nil {
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		line, err := ss.tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		quit, err := ss.command(strings.ToUpper(verb), arg)
		if err != nil || quit {
			return
		}
		c = ss.conn
	}
}

// command runs one command; it reports whether the session ends.
func (ss *session) command(verb, arg string) (quit bool, err error) {
	switch verb {
	case "EHLO":
		ss.reset()
		ss.helo = true
		lines := []string{"smtptest greets " + arg, "8BITMIME", "PIPELINING", fmt.Sprintf("SIZE %d", MaxMessageBytes)}
		if !ss.tls && !ss.s.opts.NoSTARTTLS {
			lines = append(lines, "STARTTLS")
		}
		if ss.s.opts.Username != "" {
			lines = append(lines, "AUTH PLAIN")
		}
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			if err := ss.tp.PrintfLine("250%s%s", sep, l); err != nil {
				return false, err
			}
		}
		return false, nil
	case "HELO":
		ss.reset()
		ss.helo = true
		return false, ss.reply(250, "smtptest")
	case "STARTTLS":
		if ss.tls || ss.s.opts.NoSTARTTLS {
			return false, ss.reply(502, "5.5.1 STARTTLS not available")
		}
		if err := ss.reply(220, "2.0.0 Ready to start TLS"); err != nil {
			return false, err
		}
		tc := tls.Server(ss.conn, ss.s.tlsConf)
		_ = tc.SetDeadline(time.Now().Add(time.Minute))
		if err := tc.Handshake(); err != nil {
			return true, err
		}
		ss.s.mu.Lock()
		delete(ss.s.conns, ss.conn)
		ss.s.conns[tc] = struct{}{}
		ss.s.mu.Unlock()
		ss.conn, ss.tp, ss.tls = tc, textproto.NewConn(tc), true
		ss.helo, ss.authUser = false, ""
		ss.reset()
		return false, nil
	case "AUTH":
		return false, ss.auth(arg)
	case "MAIL":
		if !ss.helo {
			return false, ss.reply(503, "5.5.1 EHLO first")
		}
		if ss.s.opts.Username != "" && ss.authUser == "" {
			return false, ss.reply(530, "5.7.0 Authentication required")
		}
		addr, ok := pathArg(arg, "FROM:")
		if !ok {
			return false, ss.reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
		}
		ss.reset()
		ss.from, ss.hasFrom = addr, true
		return false, ss.reply(250, "2.1.0 OK")
	case "RCPT":
		if !ss.hasFrom {
			return false, ss.reply(503, "5.5.1 MAIL first")
		}
		addr, ok := pathArg(arg, "TO:")
		if !ok || addr == "" {
			return false, ss.reply(501, "5.5.4 Syntax: RCPT TO:<address>")
		}
		ss.s.mu.Lock()
		code := ss.s.rcptCode
		ss.s.mu.Unlock()
		if code != 0 {
			return false, ss.reply(code, "recipient refused by test switch")
		}
		ss.rcpts = append(ss.rcpts, addr)
		return false, ss.reply(250, "2.1.5 OK")
	case "DATA":
		if len(ss.rcpts) == 0 {
			return false, ss.reply(503, "5.5.1 RCPT first")
		}
		ss.s.mu.Lock()
		code := ss.s.dataCode
		ss.s.mu.Unlock()
		if code != 0 {
			return false, ss.reply(code, "data refused by test switch")
		}
		return false, ss.data()
	case "RSET":
		ss.reset()
		return false, ss.reply(250, "2.0.0 OK")
	case "NOOP":
		return false, ss.reply(250, "2.0.0 OK")
	case "QUIT":
		_ = ss.reply(221, "2.0.0 Bye")
		return true, nil
	}
	return false, ss.reply(500, "5.5.2 Command not recognised")
}

func (ss *session) auth(arg string) error {
	if !ss.helo {
		return ss.reply(503, "5.5.1 EHLO first")
	}
	if ss.s.opts.Username == "" {
		return ss.reply(502, "5.5.1 AUTH not available")
	}
	if ss.authUser != "" {
		return ss.reply(503, "5.5.1 Already authenticated")
	}
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.reply(504, "5.5.4 Unrecognised authentication type")
	}
	if resp == "" {
		if err := ss.tp.PrintfLine("334 "); err != nil {
			return err
		}
		line, err := ss.tp.ReadLine()
		if err != nil {
			return err
		}
		resp = line
	}
	if resp == "*" {
		return ss.reply(501, "5.0.0 Authentication cancelled")
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return ss.reply(501, "5.5.2 Cannot decode response")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return ss.reply(501, "5.5.2 Malformed PLAIN response")
	}
	userOK := subtle.ConstantTimeCompare(parts[1], []byte(ss.s.opts.Username)) == 1
	passOK := subtle.ConstantTimeCompare(parts[2], []byte(ss.s.opts.Password)) == 1
	if (len(parts[0]) != 0 && !bytes.Equal(parts[0], parts[1])) || !userOK || !passOK {
		return ss.reply(535, "5.7.8 Authentication credentials invalid")
	}
	ss.authUser = string(parts[1])
	return ss.reply(235, "2.7.0 Authentication successful")
}

// data reads the message after DATA up to the lone dot, undoing dot-stuffing,
// and stores it.
func (ss *session) data() error {
	if err := ss.reply(354, "End data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var raw bytes.Buffer
	tooBig := false
	for {
		line, err := ss.tp.ReadLineBytes()
		if err != nil {
			return err
		}
		if len(line) == 1 && line[0] == '.' {
			break
		}
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		if raw.Len()+len(line)+2 > MaxMessageBytes {
			tooBig = true
			continue
		}
		raw.Write(line)
		raw.WriteString("\r\n")
	}
	if tooBig {
		ss.reset()
		return ss.reply(552, "5.3.4 Message too big")
	}
	m, err := Parse(raw.Bytes())
	if err != nil {
		ss.reset()
		return ss.reply(554, "5.6.0 Malformed message: %s", oneLine(err.Error()))
	}
	m.From, m.To, m.TLS, m.AuthUser = ss.from, ss.rcpts, ss.tls, ss.authUser
	ss.reset()
	s := ss.s
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	n := len(s.msgs)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return ss.reply(250, "2.0.0 OK queued as %d", n)
}

// Parse reads a message with net/mail and decodes its Subject and body, as
// the server does for every message it accepts. The envelope fields of the
// result are empty.
func Parse(raw []byte) (*Message, error) {
	mm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(mm.Header.Get("Subject"))
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if ct := mm.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("content-type: %w", err)
		}
		if cs := strings.ToLower(params["charset"]); !strings.HasPrefix(mt, "text/") || (cs != "" && cs != "utf-8" && cs != "us-ascii") {
			return nil, fmt.Errorf("unsupported content type %q", ct)
		}
	}
	var body io.Reader = mm.Body
	switch cte := strings.ToLower(strings.TrimSpace(mm.Header.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit":
	default:
		return nil, fmt.Errorf("unsupported Content-Transfer-Encoding %q", cte)
	}
	decoded, err := io.ReadAll(bufio.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return &Message{
		Raw:     raw,
		Header:  mm.Header,
		Subject: subject,
		Body:    strings.ReplaceAll(string(decoded), "\r\n", "\n"),
	}, nil
}

// pathArg parses "FROM:<addr> PARAMS" (or TO:) and returns addr.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost and a pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, errors.Join(errors.New("smtptest: certificate"), err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}
