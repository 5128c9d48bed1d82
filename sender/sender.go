// Package sender delivers short messages, such as one-time codes for MFA and
// step-up verification, to one recipient by email or SMS.
//
// Sender is the interface every delivery backend implements: smtpsender talks
// to a mail server, smssender to an HTTP SMS gateway, and filesender writes
// each message to a local directory for development. Multi routes a message
// to the backend configured for its channel. The package also holds the
// portable pieces every backend shares: Validate, which refuses messages that
// could inject headers, and SendError, which tells a caller whether a failed
// send is worth retrying.
//
// The sendertest package is the conformance suite all backends pass.
package sender

import (
	"context"
	"errors"
	"fmt"
)

// The channels a Message can travel on.
const (
	Email = "email"
	SMS   = "sms"
)

// Message is one message to one recipient.
type Message struct {
	// Channel is Email or SMS.
	Channel string
	// To is the recipient: an RFC 5322 address such as "Ann <ann@example.com>"
	// for email, or a phone number of digits with an optional leading '+'
	// for SMS.
	To string
	// Subject is the subject line of an email; SMS backends ignore it.
	Subject string
	// Body is the plain-text content, UTF-8. Line breaks are "\n".
	Body string
}

// Sender delivers messages.
//
// Send validates m with Validate and then hands it to the receiving end (mail
// server, SMS gateway, directory). It returns nil only when the receiving end
// accepted the message. The error contract is:
//
//   - an invalid message is refused before anything is sent with an
//     *atelier.Error of code atelier.CodeInvalidParam whose Field names the
//     offending field ("channel", "to", "subject" or "body");
//   - a channel the sender does not handle gives an error wrapping
//     ErrUnsupported;
//   - every other failure is a *SendError; IsTemporary reports whether the
//     same message may succeed if sent again later (a 4xx SMTP reply, an
//     HTTP 5xx, 408 or 429, a timeout, a refused connection, a cancelled
//     context) or will fail again (a 5xx SMTP reply, an HTTP 4xx, a rejected
//     certificate, a bad configuration);
//   - when ctx is cancelled or its deadline passes, Send gives up promptly and
//     the error also wraps ctx.Err(), so errors.Is(err, context.Canceled)
//     holds.
//
// Errors never contain the message body, which usually holds a secret code.
//
// Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// ErrUnsupported is wrapped by the error Send returns for a channel the sender
// does not handle.
var ErrUnsupported = errors.New("sender: unsupported channel")

// SendError is a failure to deliver a message that passed validation.
type SendError struct {
	// Channel is the channel of the message.
	Channel string
	// Temporary says whether sending the same message again later may
	// succeed.
	Temporary bool
	// Err is the cause. It never contains the message body.
	Err error
}

// Error implements error.
func (e *SendError) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	return fmt.Sprintf("send %s (%s failure): %v", e.Channel, kind, e.Err)
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// Temporary returns a *SendError marked temporary.
func Temporary(channel string, err error) error {
	return &SendError{Channel: channel, Temporary: true, Err: err}
}

// Permanent returns a *SendError marked permanent.
func Permanent(channel string, err error) error {
	return &SendError{Channel: channel, Temporary: false, Err: err}
}

// IsTemporary reports whether err, as returned by Send, says that sending the
// same message again later may succeed. It is false for nil, for validation
// errors, for ErrUnsupported and for permanent failures.
func IsTemporary(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Temporary
}

// ContextError returns a temporary *SendError for a send that stopped because
// ctx ended, or nil when ctx has not ended. Backends call it after a failed
// I/O call so that a cancellation is not reported as a network error.
func ContextError(ctx context.Context, channel string, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		return nil
	}
	if err == nil || errors.Is(err, cerr) {
		return Temporary(channel, cerr)
	}
	return Temporary(channel, fmt.Errorf("%w (%v)", cerr, err))
}

// Multi sends each message with the Sender registered for its channel. It is
// safe for concurrent use as long as it is not modified after construction.
type Multi map[string]Sender

// Has reports whether a sender is registered for channel.
func (mu Multi) Has(channel string) bool { return mu[channel] != nil }

// Send validates m and passes it to the sender for m.Channel. A channel with
// no sender gives an error wrapping ErrUnsupported.
func (mu Multi) Send(ctx context.Context, m *Message) error {
	if err := Validate(m); err != nil {
		return err
	}
	s := mu[m.Channel]
	if s == nil {
		return fmt.Errorf("%w: no sender is configured for %q", ErrUnsupported, m.Channel)
	}
	return s.Send(ctx, m)
}

// SendCode is Send with the message spelled out as arguments. It lets a
// Multi serve where the caller declares its own small interface, such as
// identity.CodeSender.
func (mu Multi) SendCode(ctx context.Context, channel, to, subject, body string) error {
	return mu.Send(ctx, &Message{Channel: channel, To: to, Subject: subject, Body: body})
}

// Interface guard.
var _ Sender = Multi(nil)
