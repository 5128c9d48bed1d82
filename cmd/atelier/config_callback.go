package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/webhook"
)

// CallbackConfig holds the event callback settings, all from ATELIER_CALLBACK_*
// variables (docs/operations.md, "Callback settings"). Zero values take the
// webhook package's defaults.
type CallbackConfig struct {
	AllowPrivate bool          // ATELIER_CALLBACK_ALLOW_PRIVATE=1: URLs may target loopback, private and link-local addresses
	Timeout      time.Duration // ATELIER_CALLBACK_TIMEOUT, default 5s
	Workers      int           // ATELIER_CALLBACK_WORKERS: POSTs in flight per server, default 32
	PerApp       int           // ATELIER_CALLBACK_PER_APP: an app's POSTs in flight, default 8
	MaxAttempts  int           // ATELIER_CALLBACK_MAX_ATTEMPTS, default 12
	MaxAge       time.Duration // ATELIER_CALLBACK_MAX_AGE: an event older than this is dead-lettered on failure, default 24h
	BackoffBase  time.Duration // ATELIER_CALLBACK_BACKOFF_BASE, default 1s
	BackoffMax   time.Duration // ATELIER_CALLBACK_BACKOFF_MAX, default 10m
	Retention    time.Duration // ATELIER_CALLBACK_RETENTION: delivered deliveries kept (the garbage collector deletes them), default 168h
	Poll         time.Duration // ATELIER_CALLBACK_POLL: how often to look for other servers' events and due retries, default 1s
}

// callbackFromEnv reads the callback variables and the ones that did not
// parse.
func callbackFromEnv(getenv func(string) string) (CallbackConfig, []error) {
	var c CallbackConfig
	var errs []error
	switch v := strings.TrimSpace(getenv("ATELIER_CALLBACK_ALLOW_PRIVATE")); strings.ToLower(v) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		c.AllowPrivate = true
	default:
		errs = append(errs, fmt.Errorf("ATELIER_CALLBACK_ALLOW_PRIVATE: %q is not 1 or 0", v))
	}
	for _, iv := range []struct {
		name string
		dst  *int
	}{
		{"ATELIER_CALLBACK_WORKERS", &c.Workers},
		{"ATELIER_CALLBACK_PER_APP", &c.PerApp},
		{"ATELIER_CALLBACK_MAX_ATTEMPTS", &c.MaxAttempts},
	} {
		if v := getenv(iv.name); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s: %q is not a whole number of 1 or more", iv.name, v))
				continue
			}
			*iv.dst = n
		}
	}
	for _, dv := range []struct {
		name string
		dst  *time.Duration
	}{
		{"ATELIER_CALLBACK_TIMEOUT", &c.Timeout},
		{"ATELIER_CALLBACK_MAX_AGE", &c.MaxAge},
		{"ATELIER_CALLBACK_BACKOFF_BASE", &c.BackoffBase},
		{"ATELIER_CALLBACK_BACKOFF_MAX", &c.BackoffMax},
		{"ATELIER_CALLBACK_RETENTION", &c.Retention},
		{"ATELIER_CALLBACK_POLL", &c.Poll},
	} {
		if v := getenv(dv.name); v != "" {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive Go duration such as 5s", dv.name, v))
				continue
			}
			*dv.dst = d
		}
	}
	return c, errs
}

// validate reports settings that parse but make no sense together.
func (c CallbackConfig) validate() []error {
	var errs []error
	if c.Timeout > 0 && c.Timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("ATELIER_CALLBACK_TIMEOUT: at most 5m, not %s", c.Timeout))
	}
	if c.BackoffBase > 0 && c.BackoffMax > 0 && c.BackoffBase > c.BackoffMax {
		errs = append(errs, fmt.Errorf("ATELIER_CALLBACK_BACKOFF_BASE (%s) is above ATELIER_CALLBACK_BACKOFF_MAX (%s)", c.BackoffBase, c.BackoffMax))
	}
	return errs
}

// options returns the webhook options of the settings.
func (c CallbackConfig) options() webhook.Options {
	return webhook.Options{
		AllowPrivate: c.AllowPrivate, Timeout: c.Timeout, Workers: c.Workers, PerApp: c.PerApp,
		MaxAttempts: c.MaxAttempts, MaxAge: c.MaxAge, BackoffBase: c.BackoffBase, BackoffMax: c.BackoffMax,
		Poll: c.Poll,
	}
}
