package smtpsender

import (
	"time"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/sender"
)

// Build renders m as Send would, for the fuzz test.
func Build(from string, m *sender.Message, now time.Time) ([]byte, error) {
	s, err := New(Options{Addr: "127.0.0.1:25", From: from, Clock: clock.NewFake(now)})
	if err != nil {
		return nil, err
	}
	to, err := sender.ParseEmail(m.To)
	if err != nil {
		return nil, err
	}
	return s.build(to, m)
}
