package sender

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// Limits Validate enforces.
const (
	MaxToBytes      = 254      // the longest usable email address (RFC 5321 path limit)
	MaxSubjectRunes = 200      // a subject line, before RFC 2047 encoding
	MaxBodyBytes    = 64 << 10 // far more than a one-time code needs
	minPhoneDigits  = 3        // short codes exist
	maxPhoneDigits  = 20       // E.164 allows 15; leave room for gateway prefixes
)

// Validate reports whether m may be sent. It refuses, with an *atelier.Error
// of code atelier.CodeInvalidParam naming the field:
//
//   - a nil message or an empty channel;
//   - an empty To, or one with any control character (CR and LF included),
//     or invalid UTF-8, or longer than MaxToBytes; for Email a To that is not
//     exactly one RFC 5322 address, for SMS one that is not a phone number
//     (digits with an optional leading '+');
//   - a Subject with a control character other than tab (so CR and LF can
//     never start a new header), invalid UTF-8, or more than MaxSubjectRunes;
//   - an empty Body, or one with NUL or invalid UTF-8, or larger than
//     MaxBodyBytes.
//
// Channels other than Email and SMS pass the generic checks; the sender then
// refuses them with ErrUnsupported if it does not handle them.
func Validate(m *Message) error {
	if m == nil {
		return atelier.CodeInvalidParam.Errorf("The message is missing.").WithField("message")
	}
	if m.Channel == "" {
		return atelier.CodeInvalidParam.Errorf("The message has no channel; use %q or %q.", Email, SMS).WithField("channel")
	}
	if err := validateTo(m.Channel, m.To); err != nil {
		return err
	}
	if !utf8.ValidString(m.Subject) || hasControl(m.Subject, "\t") {
		return atelier.CodeInvalidParam.Errorf("The subject must be UTF-8 text on one line, without control characters.").WithField("subject")
	}
	if utf8.RuneCountInString(m.Subject) > MaxSubjectRunes {
		return atelier.CodeInvalidParam.Errorf("The subject is longer than %d characters.", MaxSubjectRunes).WithField("subject")
	}
	switch {
	case m.Body == "":
		return atelier.CodeInvalidParam.Errorf("The message body is empty.").WithField("body")
	case len(m.Body) > MaxBodyBytes:
		return atelier.CodeInvalidParam.Errorf("The message body is larger than %d bytes.", MaxBodyBytes).WithField("body")
	case !utf8.ValidString(m.Body) || strings.ContainsRune(m.Body, 0):
		return atelier.CodeInvalidParam.Errorf("The message body must be UTF-8 text without NUL characters.").WithField("body")
	}
	return nil
}

func validateTo(channel, to string) error {
	switch {
	case to == "":
		return atelier.CodeInvalidParam.Errorf("The message has no recipient.").WithField("to")
	case len(to) > MaxToBytes:
		return atelier.CodeInvalidParam.Errorf("The recipient is longer than %d bytes.", MaxToBytes).WithField("to")
	case !utf8.ValidString(to) || hasControl(to, ""):
		return atelier.CodeInvalidParam.Errorf("The recipient must be UTF-8 text on one line, without control characters.").WithField("to")
	}
	switch channel {
	case Email:
		if _, err := ParseEmail(to); err != nil {
			return atelier.CodeInvalidParam.Errorf("The recipient is not a single email address.").WithField("to")
		}
	case SMS:
		if !IsPhoneNumber(to) {
			return atelier.CodeInvalidParam.Errorf("The recipient is not a phone number (digits with an optional leading '+').").WithField("to")
		}
	}
	return nil
}

// ParseEmail parses one RFC 5322 address such as "ann@example.com" or
// "Ann <ann@example.com>". It refuses lists, groups and any control
// character.
func ParseEmail(s string) (*mail.Address, error) {
	if hasControl(s, "") {
		return nil, atelier.CodeInvalidParam.Errorf("The address contains a control character.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if hasControl(a.Address, "") || hasControl(a.Name, "") || !strings.Contains(a.Address, "@") {
		return nil, atelier.CodeInvalidParam.Errorf("The address is not usable.")
	}
	return a, nil
}

// IsPhoneNumber reports whether s is a phone number as SMS senders accept it:
// an optional leading '+' and 3 to 20 ASCII digits.
func IsPhoneNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < minPhoneDigits || len(s) > maxPhoneDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a C0 or C1 control character, DEL, or a
// Unicode line or paragraph separator, other than those in allow.
func hasControl(s, allow string) bool {
	for _, r := range s {
		if (r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029') && !strings.ContainsRune(allow, r) {
			return true
		}
	}
	return false
}
