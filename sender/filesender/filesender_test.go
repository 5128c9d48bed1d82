package filesender_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/atelier-dev/atelier/sender"
	"github.com/atelier-dev/atelier/sender/filesender"
	"github.com/atelier-dev/atelier/sender/sendertest"
)

type harness struct {
	t       *testing.T
	s       *filesender.Sender
	channel string
	dir     string // where messages are read from
}

func (h *harness) Sender() sender.Sender { return h.s }
func (h *harness) Channel() string       { return h.channel }

func (h *harness) Recipient(i int) string {
	if h.channel == sender.SMS {
		return fmt.Sprintf("+1555%07d", i)
	}
	return fmt.Sprintf("user%d@example.com", i)
}

func (h *harness) Received(ctx context.Context, to string) ([]*sender.Message, error) {
	es, err := filesender.Read(ctx, h.dir)
	if err != nil {
		return nil, err
	}
	var out []*sender.Message
	for _, e := range es {
		if to == "" || e.To == to {
			out = append(out, e.Message())
		}
	}
	return out, nil
}

// Fail moves the directory aside and puts a plain file in its place, so that
// writing fails; a full disk, the one temporary failure, cannot be made.
func (h *harness) Fail(temporary bool) bool {
	if temporary {
		return false
	}
	moved := h.dir + ".moved"
	if err := os.Rename(h.dir, moved); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.dir, []byte("not a directory"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.dir = moved
	return true
}

// Stall is not possible: writing a file does not wait for anyone.
func (h *harness) Stall() func() { return nil }

func newHarness(channel string) func(t *testing.T) sendertest.Harness {
	return func(t *testing.T) sendertest.Harness {
		dir := filepath.Join(t.TempDir(), "outbox")
		s, err := filesender.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return &harness{t: t, s: s, channel: channel, dir: dir}
	}
}

func TestConformanceEmail(t *testing.T) {
	t.Parallel()
	sendertest.Run(t, newHarness(sender.Email))
}

func TestConformanceSMS(t *testing.T) {
	t.Parallel()
	sendertest.Run(t, newHarness(sender.SMS))
}

func TestFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := filesender.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	ctx := t.Context()
	for _, m := range []*sender.Message{
		{Channel: sender.Email, To: "ann@example.com", Subject: "Code", Body: "111111"},
		{Channel: sender.SMS, To: "+15550001", Subject: "ignored", Body: "222222"},
	} {
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 2 {
		t.Fatalf("directory holds %d entries, want 2 (no temporary files left)", len(des))
	}
	nameRE := regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-(email|sms)-[0-9a-f]{16}\.json$`)
	for _, de := range des {
		if !nameRE.MatchString(de.Name()) {
			t.Errorf("file name %q does not match %s", de.Name(), nameRE)
		}
		fi, err := de.Info()
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", de.Name(), fi.Mode().Perm(), err)
		}
	}
	es, err := filesender.Read(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("Read returned %d entries, want 2", len(es))
	}
	byChannel := map[string]*filesender.Entry{es[0].Channel: es[0], es[1].Channel: es[1]}
	email, sms := byChannel[sender.Email], byChannel[sender.SMS]
	if email == nil || sms == nil || email.Body != "111111" || email.Subject != "Code" || sms.Body != "222222" || sms.Subject != "" || email.Time.IsZero() {
		t.Fatalf("Read = %+v %+v", es[0], es[1])
	}
	if es[0].Name > es[1].Name {
		t.Fatalf("Read is not sorted by name: %s, %s", es[0].Name, es[1].Name)
	}
}

func TestNewRefusesAFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := filesender.New(f); err == nil {
		t.Fatal("New on a file succeeded")
	}
	if _, err := filesender.New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}
