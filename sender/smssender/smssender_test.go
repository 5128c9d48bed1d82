package smssender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/sender"
	"github.com/atelier-dev/atelier/sender/sendertest"
	"github.com/atelier-dev/atelier/sender/smssender"
)

const token = "Bearer gw-token-123"

// gateway is a real HTTP SMS gateway on 127.0.0.1 that records what it is
// sent. Its wire format is chosen by mode: "json", "form" or "query".
type gateway struct {
	srv    *httptest.Server
	mode   string
	closed chan struct{}

	mu    sync.Mutex
	got   []*sender.Message
	fail  int
	stall chan struct{}
}

func startGateway(t *testing.T, mode string) *gateway {
	t.Helper()
	g := &gateway{mode: mode, closed: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	t.Cleanup(func() { close(g.closed) }) // runs first, unblocking stalled handlers
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	stall, fail := g.stall, g.fail
	g.mu.Unlock()
	if stall != nil {
		// A stalled request is never delivered, even after release.
		select {
		case <-stall:
		case <-r.Context().Done():
		case <-g.closed:
		}
		http.Error(w, "stalled", http.StatusServiceUnavailable)
		return
	}
	if fail != 0 {
		http.Error(w, "failing on purpose", fail)
		return
	}
	var to, text string
	switch g.mode {
	case "json":
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != token || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad method, auth or content type", http.StatusUnauthorized)
			return
		}
		var body struct{ To, Text, From string }
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.From != "Atelier" {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		to, text = body.To, body.Text
	case "form":
		if u, p, ok := r.BasicAuth(); r.Method != http.MethodPost || !ok || u != "acct" || p != "pw" {
			http.Error(w, "bad method or auth", http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		to, text = r.PostForm.Get("to"), r.PostForm.Get("text")
	case "query":
		if u, p, ok := r.BasicAuth(); r.Method != http.MethodGet || !ok || u != "acct" || p != "pw" {
			http.Error(w, "bad method or auth", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/gw/"+r.URL.Query().Get("to") {
			http.Error(w, "path and query disagree", http.StatusBadRequest)
			return
		}
		to, text = r.URL.Query().Get("to"), r.URL.Query().Get("text")
	}
	if to == "" || text == "" {
		http.Error(w, "to and text are required", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.got = append(g.got, &sender.Message{Channel: sender.SMS, To: to, Body: text})
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprint(w, `{"status":"queued"}`)
}

func (g *gateway) options() smssender.Options {
	switch g.mode {
	case "json":
		return smssender.Options{URL: g.srv.URL + "/v1/messages", BodyTemplate: `{"to":"{to}","text":"{text}","from":"Atelier"}`,
			Header: map[string]string{"Authorization": token}}
	case "form":
		return smssender.Options{URL: g.srv.URL + "/send", BodyTemplate: "to={to}&text={text}",
			ContentType: "application/x-www-form-urlencoded", Username: "acct", Password: "pw"}
	default:
		return smssender.Options{URL: g.srv.URL + "/gw/{to}?to={to}&text={text}", Method: "GET", Username: "acct", Password: "pw"}
	}
}

type harness struct {
	g *gateway
	s *smssender.Sender
}

func (h *harness) Sender() sender.Sender  { return h.s }
func (h *harness) Channel() string        { return sender.SMS }
func (h *harness) Recipient(i int) string { return fmt.Sprintf("+1555%07d", i) }

func (h *harness) Received(_ context.Context, to string) ([]*sender.Message, error) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	var out []*sender.Message
	for _, m := range h.g.got {
		if to == "" || m.To == to {
			out = append(out, m)
		}
	}
	return out, nil
}

func (h *harness) Fail(temporary bool) bool {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	h.g.fail = http.StatusBadRequest
	if temporary {
		h.g.fail = http.StatusServiceUnavailable
	}
	return true
}

func (h *harness) Stall() (release func()) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	ch := make(chan struct{})
	h.g.stall = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			h.g.mu.Lock()
			h.g.stall = nil
			h.g.mu.Unlock()
			close(ch)
		})
	}
}

func mustNew(t *testing.T, o smssender.Options) *smssender.Sender {
	t.Helper()
	s, err := smssender.New(o)
	if err != nil {
		t.Fatalf("smssender.New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"json", "form", "query"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			sendertest.Run(t, func(t *testing.T) sendertest.Harness {
				g := startGateway(t, mode)
				return &harness{g: g, s: mustNew(t, g.options())}
			})
		})
	}
}

func send(t *testing.T, s *smssender.Sender, m *sender.Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	text := "a\"b\\c&d=e+f {to} {text} %41 </x> ?#/\n验证码 123456 \u2028"
	for _, mode := range []string{"json", "form", "query"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, mode)
			s := mustNew(t, g.options())
			if err := send(t, s, &sender.Message{Channel: sender.SMS, To: "+15550001", Body: text}); err != nil {
				t.Fatal(err)
			}
			got, _ := (&harness{g: g}).Received(t.Context(), "")
			if len(got) != 1 || got[0].Body != text || got[0].To != "+15550001" {
				t.Fatalf("gateway got %+v, want text %q", got, text)
			}
		})
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		temporary bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
		{http.StatusUnprocessableEntity, false},
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
	}
	g := startGateway(t, "json")
	s := mustNew(t, g.options())
	for _, tc := range cases {
		g.mu.Lock()
		g.fail = tc.status
		g.mu.Unlock()
		err := send(t, s, &sender.Message{Channel: sender.SMS, To: "+15550001", Body: "123456"})
		var se *sender.SendError
		if !errors.As(err, &se) || se.Temporary != tc.temporary {
			t.Errorf("status %d: Send = %v, want a SendError with Temporary %v", tc.status, err, tc.temporary)
		}
	}
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "json")
	o := g.options()
	o.Header = map[string]string{"Authorization": "Bearer wrong"}
	err := send(t, mustNew(t, o), &sender.Message{Channel: sender.SMS, To: "+15550001", Body: "123456"})
	if err == nil || sender.IsTemporary(err) {
		t.Fatalf("Send = %v, want a permanent failure", err)
	}
}

func TestErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "query")
	o := g.options()
	o.URL += "&key=url-secret"
	s := mustNew(t, o)
	g.srv.Close() // connection refused from now on
	err := send(t, s, &sender.Message{Channel: sender.SMS, To: "+15550001", Body: "code 918273"})
	if err == nil || !sender.IsTemporary(err) {
		t.Fatalf("Send to a closed gateway = %v, want a temporary failure", err)
	}
	for _, secret := range []string{"918273", "url-secret", "pw", "text="} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestTimeoutOption(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "json")
	o := g.options()
	o.Timeout = 100 * time.Millisecond
	s := mustNew(t, o)
	h := &harness{g: g, s: s}
	defer h.Stall()()
	err := s.Send(t.Context(), &sender.Message{Channel: sender.SMS, To: "+15550001", Body: "123456"})
	if !errors.Is(err, context.DeadlineExceeded) || !sender.IsTemporary(err) {
		t.Fatalf("Send = %v, want a temporary context.DeadlineExceeded", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cases := []smssender.Options{
		{URL: "", BodyTemplate: "{to}{text}"},
		{URL: "ftp://gw/{to}/{text}"},
		{URL: "/relative?to={to}&text={text}"},
		{URL: "https://gw.example/send?to={to}"},
		{URL: "https://gw.example/send", BodyTemplate: `{"to":"{to}"}`},
		{URL: "https://gw.example/send", Method: "GET", BodyTemplate: `{"to":"{to}","text":"{text}"}`},
		{URL: "https://gw.example/send?to={to}&text={text}", Method: "DELETE"},
		{URL: "https://gw.example/send?to={to}&text={text}", Header: map[string]string{"X-Key": "a\r\nX-Evil: 1"}},
		{URL: "https://gw.example/send?to={to}&text={text}", Header: map[string]string{"Bad Key": "v"}},
		{URL: "https://gw.example/send", BodyTemplate: "{to}{text}", ContentType: ";;"},
	}
	for _, o := range cases {
		if _, err := smssender.New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
	if _, err := smssender.New(smssender.Options{URL: "https://gw.example/send?to={to}&text={text}"}); err != nil {
		t.Errorf("New with a query template: %v", err)
	}
}
