package main

import (
	"cmp"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/sender"
	"github.com/atelier-dev/atelier/sender/filesender"
	"github.com/atelier-dev/atelier/sender/smssender"
	"github.com/atelier-dev/atelier/sender/smtpsender"
)

// IdentityConfig holds the identity settings: login security, where secrets
// are sealed, and how one-time codes reach users. All come from ATELIER_*
// variables; secrets (SMTP password, SMS gateway auth) never are flags.
type IdentityConfig struct {
	SecretKeyFile    string        // ATELIER_SECRET_KEY_FILE, default <data-dir>/secret.key
	LockoutThreshold int           // ATELIER_LOCKOUT_THRESHOLD, default 5
	LockoutDuration  time.Duration // ATELIER_LOCKOUT_DURATION, default 15m
	LoginRatePerIP   int           // ATELIER_LOGIN_RATE_PER_IP per minute, default 30; "off" disables
	LoginRatePerUser int           // ATELIER_LOGIN_RATE_PER_ACCOUNT per minute, default 10; "off" disables
	HashMemory       int64         // ATELIER_HASH_MEMORY: memory of the argon2id hashes run at once, default 64 MiB
	HashQueue        int           // ATELIER_HASH_QUEUE: hashes that may wait for a slot, default 8 per slot

	// OutboxDir receives the codes of channels with no real sender, as
	// JSON files (ATELIER_OUTBOX_DIR, default <data-dir>/outbox; "off"
	// means such channels are unavailable).
	OutboxDir string

	SMTPAddr     string // ATELIER_SMTP_ADDR host:port; set to send email through SMTP
	SMTPFrom     string // ATELIER_SMTP_FROM
	SMTPUsername string // ATELIER_SMTP_USERNAME
	SMTPPassword string // ATELIER_SMTP_PASSWORD
	SMTPStartTLS string // ATELIER_SMTP_STARTTLS: always, opportunistic (default) or never
	SMTPTLS      bool   // ATELIER_SMTP_TLS=1: implicit TLS (port 465)

	SMSURL         string // ATELIER_SMS_URL: gateway URL template with {to} and {text}
	SMSMethod      string // ATELIER_SMS_METHOD: POST (default) or GET
	SMSBody        string // ATELIER_SMS_BODY: body template, e.g. {"to":"{to}","text":"{text}"}
	SMSContentType string // ATELIER_SMS_CONTENT_TYPE, default application/json with a body
	SMSAuthHeader  string // ATELIER_SMS_AUTH_HEADER: value of Authorization, e.g. "Bearer …"
	SMSUsername    string // ATELIER_SMS_USERNAME: basic auth
	SMSPassword    string // ATELIER_SMS_PASSWORD
}

// rateOff marks a disabled rate limit.
const rateOff = -1

// identityFromEnv reads the identity variables and the ones that did not
// parse.
func identityFromEnv(getenv func(string) string) (IdentityConfig, []error) {
	c := IdentityConfig{
		SecretKeyFile:  getenv("ATELIER_SECRET_KEY_FILE"),
		OutboxDir:      getenv("ATELIER_OUTBOX_DIR"),
		SMTPAddr:       getenv("ATELIER_SMTP_ADDR"),
		SMTPFrom:       getenv("ATELIER_SMTP_FROM"),
		SMTPUsername:   getenv("ATELIER_SMTP_USERNAME"),
		SMTPPassword:   getenv("ATELIER_SMTP_PASSWORD"),
		SMTPStartTLS:   getenv("ATELIER_SMTP_STARTTLS"),
		SMSURL:         getenv("ATELIER_SMS_URL"),
		SMSMethod:      getenv("ATELIER_SMS_METHOD"),
		SMSBody:        getenv("ATELIER_SMS_BODY"),
		SMSContentType: getenv("ATELIER_SMS_CONTENT_TYPE"),
		SMSAuthHeader:  getenv("ATELIER_SMS_AUTH_HEADER"),
		SMSUsername:    getenv("ATELIER_SMS_USERNAME"),
		SMSPassword:    getenv("ATELIER_SMS_PASSWORD"),
	}
	var errs []error
	atoi := func(name string, dst *int, allowOff bool) {
		v := strings.TrimSpace(getenv(name))
		switch {
		case v == "":
		case allowOff && strings.EqualFold(v, "off"):
			*dst = rateOff
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", name, v))
				return
			}
			*dst = n
		}
	}
	atoi("ATELIER_LOCKOUT_THRESHOLD", &c.LockoutThreshold, false)
	atoi("ATELIER_LOGIN_RATE_PER_IP", &c.LoginRatePerIP, true)
	atoi("ATELIER_LOGIN_RATE_PER_ACCOUNT", &c.LoginRatePerUser, true)
	atoi("ATELIER_HASH_QUEUE", &c.HashQueue, false)
	if v := getenv("ATELIER_HASH_MEMORY"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("ATELIER_HASH_MEMORY: %q is not a positive size such as 64MiB", v))
		}
		c.HashMemory = n
	}
	if v := getenv("ATELIER_LOCKOUT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ATELIER_LOCKOUT_DURATION: %q is not a Go duration such as 15m", v))
		}
		c.LockoutDuration = d
	}
	switch v := strings.ToLower(getenv("ATELIER_SMTP_TLS")); v {
	case "", "0", "false":
	case "1", "true":
		c.SMTPTLS = true
	default:
		errs = append(errs, fmt.Errorf("ATELIER_SMTP_TLS: %q is not 1 or 0", v))
	}
	return c, errs
}

// withDefaults fills unset identity settings.
func (c IdentityConfig) withDefaults(dataDir string) IdentityConfig {
	c.SecretKeyFile = cmp.Or(c.SecretKeyFile, filepath.Join(dataDir, "secret.key"))
	c.OutboxDir = cmp.Or(c.OutboxDir, filepath.Join(dataDir, "outbox"))
	c.LockoutThreshold = cmp.Or(c.LockoutThreshold, identity.DefaultLockoutThreshold)
	c.LockoutDuration = cmp.Or(c.LockoutDuration, identity.DefaultLockoutDuration)
	c.LoginRatePerIP = cmp.Or(c.LoginRatePerIP, identity.DefaultLoginRatePerIP)
	c.LoginRatePerUser = cmp.Or(c.LoginRatePerUser, identity.DefaultLoginRatePerUser)
	c.HashMemory = cmp.Or(c.HashMemory, identity.DefaultHashMemory)
	return c
}

// validate reports every problem of defaulted identity settings.
func (c IdentityConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.LockoutDuration < time.Second {
		bad("ATELIER_LOCKOUT_DURATION: must be at least 1s, not %s", c.LockoutDuration)
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			bad("ATELIER_SMTP_ADDR: %q is not host:port", c.SMTPAddr)
		}
		if c.SMTPFrom == "" {
			bad("ATELIER_SMTP_FROM: required with ATELIER_SMTP_ADDR")
		}
	}
	return errs
}

// codeSender builds the senders of one-time codes: SMTP and the SMS gateway
// when configured, the outbox directory for the other channels unless it
// is off. It says which channel goes where, for the start-up log.
func (c IdentityConfig) codeSender() (sender.Multi, map[string]string, error) {
	m := sender.Multi{}
	where := map[string]string{}
	if c.SMTPAddr != "" {
		s, err := smtpsender.New(smtpsender.Options{
			Addr:        c.SMTPAddr,
			From:        c.SMTPFrom,
			Username:    c.SMTPUsername,
			Password:    c.SMTPPassword,
			StartTLS:    c.SMTPStartTLS,
			ImplicitTLS: c.SMTPTLS,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("smtp sender: %w", err)
		}
		m[sender.Email], where[sender.Email] = s, "smtp "+c.SMTPAddr
	}
	if c.SMSURL != "" {
		header := map[string]string{}
		if c.SMSAuthHeader != "" {
			header["Authorization"] = c.SMSAuthHeader
		}
		s, err := smssender.New(smssender.Options{
			URL:          c.SMSURL,
			Method:       c.SMSMethod,
			BodyTemplate: c.SMSBody,
			ContentType:  c.SMSContentType,
			Header:       header,
			Username:     c.SMSUsername,
			Password:     c.SMSPassword,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("sms sender: %w", err)
		}
		m[sender.SMS], where[sender.SMS] = s, "sms gateway"
	}
	if !strings.EqualFold(c.OutboxDir, "off") && (m[sender.Email] == nil || m[sender.SMS] == nil) {
		f, err := filesender.New(c.OutboxDir)
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: %w", err)
		}
		for _, ch := range []string{sender.Email, sender.SMS} {
			if m[ch] == nil {
				m[ch], where[ch] = f, "outbox "+c.OutboxDir
			}
		}
	}
	return m, where, nil
}
