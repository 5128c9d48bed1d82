// Package filesender is the development sender, used when no mail server or
// SMS gateway is configured: it writes each message as a JSON file in a
// directory, so that an operator running the server locally can read the
// one-time codes there.
//
// Files are named "<time>-<channel>-<random>.json" (time in UTC, so that
// names sort by time), written atomically (temporary file, fsync, rename)
// with mode 0600, since they hold secrets. Read lists them back.
package filesender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/atelier-dev/atelier/sender"
)

// timeLayout names files so that they sort by time.
const timeLayout = "20060102T150405.000000000Z"

// maxFileBytes bounds what Read loads from one file; messages are far
// smaller (sender.MaxBodyBytes, JSON-escaped).
const maxFileBytes = 1 << 20

// Entry is one message file.
type Entry struct {
	// Name is the file name within the directory.
	Name string `json:"-"`
	// Time is when the message was written, UTC.
	Time    time.Time `json:"time"`
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Subject string    `json:"subject,omitempty"`
	Body    string    `json:"body"`
}

// Message returns the message the entry holds.
func (e *Entry) Message() *sender.Message {
	return &sender.Message{Channel: e.Channel, To: e.To, Subject: e.Subject, Body: e.Body}
}

// Sender writes messages to a directory. It is safe for concurrent use, also
// by several processes sharing the directory.
type Sender struct {
	dir string
}

// Interface guard.
var _ sender.Sender = (*Sender)(nil)

// New returns a Sender writing to dir, which it creates (mode 0700) if
// missing.
func New(dir string) (*Sender, error) {
	if dir == "" {
		return nil, errors.New("filesender: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("filesender: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("filesender: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("filesender: %s is not a directory", dir)
	}
	return &Sender{dir: dir}, nil
}

// Dir returns the directory messages are written to.
func (s *Sender) Dir() string { return s.dir }

// Send writes m, on sender.Email or sender.SMS, to a new file, following the
// error contract of sender.Sender: a full disk is a temporary failure, any
// other file system error a permanent one.
func (s *Sender) Send(ctx context.Context, m *sender.Message) error {
	if err := sender.Validate(m); err != nil {
		return err
	}
	if m.Channel != sender.Email && m.Channel != sender.SMS {
		return fmt.Errorf("filesender: %w %q", sender.ErrUnsupported, m.Channel)
	}
	if err := ctx.Err(); err != nil {
		return sender.ContextError(ctx, m.Channel, err)
	}
	now := time.Now().UTC()
	e := &Entry{Time: now, Channel: m.Channel, To: m.To, Subject: m.Subject, Body: m.Body}
	if m.Channel != sender.Email {
		e.Subject = ""
	}
	rnd := make([]byte, 8)
	if _, err := rand.Read(rnd); err != nil {
		return sender.Temporary(m.Channel, fmt.Errorf("filesender: random name: %w", err))
	}
	name := now.Format(timeLayout) + "-" + m.Channel + "-" + hex.EncodeToString(rnd) + ".json"
	if err := s.write(ctx, name, e); err != nil {
		if cerr := sender.ContextError(ctx, m.Channel, err); cerr != nil {
			return cerr
		}
		if errors.Is(err, syscall.ENOSPC) {
			return sender.Temporary(m.Channel, err)
		}
		return sender.Permanent(m.Channel, err)
	}
	return nil
}

// write stores e atomically as dir/name.
func (s *Sender) write(ctx context.Context, name string, e *Entry) (err error) {
	f, err := os.CreateTemp(s.dir, ".tmp-*.json")
	if err != nil {
		return fmt.Errorf("filesender: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("filesender: %w", err)
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("filesender: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("filesender: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("filesender: close: %w", err)
	}
	// The last point where giving up leaves nothing behind.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("filesender: %w", err)
	}
	// Make the rename durable; some systems cannot sync a directory, and the
	// message is already in place, so this is best effort.
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Read returns the messages in dir, oldest first. It ignores temporary files
// and other files that do not look like messages.
func Read(ctx context.Context, dir string) ([]*Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("filesender: %w", err)
	}
	var out []*Entry
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := readEntry(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("filesender: %s: %w", name, err)
		}
		e.Name = name
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readEntry(path string) (*Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var e Entry
	dec := json.NewDecoder(io.LimitReader(f, maxFileBytes))
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	return &e, nil
}
