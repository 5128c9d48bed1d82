package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/identity"
)

// Defaults of the server settings (CONTRACT §1).
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultDataDir        = "./atelier-data"
	DefaultMaxBodyBytes   = httpapi.DefaultMaxBodyBytes
	DefaultMaxObjectBytes = httpapi.DefaultMaxObjectBytes
	DefaultSessionTTL     = identity.DefaultSessionTTL
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	// DefaultMinFreeBytes is the free space below which /readyz says a
	// disk the server writes to is full.
	DefaultMinFreeBytes = 64 << 20
)

// ServerConfig holds the settings of `atelier server`. Precedence: default,
// ATELIER_* environment, flag; environment values become flag defaults.
type ServerConfig struct {
	Addr           string // --addr, ATELIER_ADDR
	DataDir        string // --data-dir, ATELIER_DATA_DIR
	DatabaseURL    string // --database-url, ATELIER_DATABASE_URL: sqlite://path or postgres://…
	ObjectStore    string // --object-store, ATELIER_OBJECT_STORE: file://dir, s3://bucket?…
	PublicURL      string // --public-url, ATELIER_PUBLIC_URL
	AdminEmail     string // ATELIER_ADMIN_EMAIL
	AdminPassword  string // ATELIER_ADMIN_PASSWORD; never a flag, so it stays out of ps
	MaxBodyBytes   int64  // ATELIER_MAX_BODY_BYTES
	MaxObjectBytes int64  // ATELIER_MAX_OBJECT_BYTES
	// The gateway to model services (docs/models.md).
	PredictTimeout       time.Duration // ATELIER_PREDICT_TIMEOUT
	MaxPredictBytes      int64         // ATELIER_MAX_PREDICT_BYTES
	MaxPredictReplyBytes int64         // ATELIER_MAX_PREDICT_REPLY_BYTES
	MinBodyRate          int64         // ATELIER_MIN_BODY_RATE bytes a second (a size), "off": no body deadline
	SessionTTL           time.Duration // ATELIER_SESSION_TTL
	MinFreeBytes         int64         // ATELIER_MIN_FREE_SPACE; 0 means the default, -1 (env "0") no check
	LogLevel             string        // --log-level, ATELIER_LOG_LEVEL: debug, info, warn, error
	LogFormat            string        // --log-format, ATELIER_LOG_FORMAT: text or json

	// Identity settings, all from the environment (docs/operations.md).
	Identity IdentityConfig
	// Training settings, all from the environment (docs/operations.md).
	Training TrainingConfig
	// Callback settings, all from the environment (docs/operations.md).
	Callback CallbackConfig
	// Queue, leader and garbage collector settings, all from the
	// environment (docs/operations.md).
	Background BackgroundConfig

	// envErrs are the environment values that did not parse, reported by
	// validate together with every other problem.
	envErrs []error
}

// configFromEnv reads the ATELIER_* variables through getenv.
func configFromEnv(getenv func(string) string) ServerConfig {
	c := ServerConfig{
		Addr:          getenv("ATELIER_ADDR"),
		DataDir:       getenv("ATELIER_DATA_DIR"),
		DatabaseURL:   getenv("ATELIER_DATABASE_URL"),
		ObjectStore:   getenv("ATELIER_OBJECT_STORE"),
		PublicURL:     getenv("ATELIER_PUBLIC_URL"),
		AdminEmail:    getenv("ATELIER_ADMIN_EMAIL"),
		AdminPassword: getenv("ATELIER_ADMIN_PASSWORD"),
		LogLevel:      getenv("ATELIER_LOG_LEVEL"),
		LogFormat:     getenv("ATELIER_LOG_FORMAT"),
	}
	c.Identity, c.envErrs = identityFromEnv(getenv)
	var trainingErrs []error
	c.Training, trainingErrs = trainingFromEnv(getenv)
	c.envErrs = append(c.envErrs, trainingErrs...)
	var callbackErrs []error
	c.Callback, callbackErrs = callbackFromEnv(getenv)
	c.envErrs = append(c.envErrs, callbackErrs...)
	var backgroundErrs []error
	c.Background, backgroundErrs = backgroundFromEnv(getenv)
	c.envErrs = append(c.envErrs, backgroundErrs...)
	var err error
	if v := getenv("ATELIER_MAX_BODY_BYTES"); v != "" {
		if c.MaxBodyBytes, err = parseSize(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_MAX_BODY_BYTES: %w", err))
		}
	}
	if v := getenv("ATELIER_MAX_OBJECT_BYTES"); v != "" {
		if c.MaxObjectBytes, err = parseSize(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_MAX_OBJECT_BYTES: %w", err))
		}
	}
	for _, sv := range []struct {
		name string
		dst  *int64
	}{{"ATELIER_MAX_PREDICT_BYTES", &c.MaxPredictBytes}, {"ATELIER_MAX_PREDICT_REPLY_BYTES", &c.MaxPredictReplyBytes}} {
		if v := getenv(sv.name); v != "" {
			n, err := parseSize(v)
			if err != nil || n < 1 {
				c.envErrs = append(c.envErrs, fmt.Errorf("%s: %q is not a positive size such as 64MiB", sv.name, v))
				continue
			}
			*sv.dst = n
		}
	}
	if v := getenv("ATELIER_PREDICT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_PREDICT_TIMEOUT: %q is not a positive Go duration such as 60s", v))
		} else {
			c.PredictTimeout = d
		}
	}
	if v := getenv("ATELIER_MIN_FREE_SPACE"); v != "" {
		if c.MinFreeBytes, err = parseSize(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_MIN_FREE_SPACE: %w", err))
		} else if c.MinFreeBytes == 0 {
			c.MinFreeBytes = -1 // no check
		}
	}
	if v := getenv("ATELIER_MIN_BODY_RATE"); strings.EqualFold(v, "off") {
		c.MinBodyRate = -1
	} else if v != "" {
		if c.MinBodyRate, err = parseSize(v); err != nil || c.MinBodyRate < 1 {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_MIN_BODY_RATE: %q is not a positive size such as 8KiB, or off", v))
		}
	}
	if v := getenv("ATELIER_SESSION_TTL"); v != "" {
		if c.SessionTTL, err = time.ParseDuration(v); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("ATELIER_SESSION_TTL: %q is not a Go duration such as 12h", v))
		}
	}
	return c
}

// bindFlags adds the server flags to fs, with c's current values (from the
// environment) as their defaults.
func (c *ServerConfig) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address, host:port; port 0 picks a free one (env ATELIER_ADDR, default "+DefaultAddr+")")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the SQLite database and the objects (env ATELIER_DATA_DIR, default "+DefaultDataDir+")")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "metadata store: sqlite://path or postgres://… (env ATELIER_DATABASE_URL, default sqlite://<data-dir>/atelier.db)")
	fs.StringVar(&c.ObjectStore, "object-store", c.ObjectStore, "object store: file:///dir or s3://bucket?endpoint=…&region=… (env ATELIER_OBJECT_STORE, default file://<data-dir>/objects)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL clients reach the server at (env ATELIER_PUBLIC_URL, default http://<addr>)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env ATELIER_LOG_LEVEL, default "+DefaultLogLevel+")")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env ATELIER_LOG_FORMAT, default "+DefaultLogFormat+")")
}

// withDefaults returns c with every unset setting at its default. The data
// directory becomes absolute, so that the default URLs derived from it are.
func (c ServerConfig) withDefaults() ServerConfig {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	c.DatabaseURL = cmp.Or(c.DatabaseURL, "sqlite://"+filepath.ToSlash(filepath.Join(c.DataDir, "atelier.db")))
	c.ObjectStore = cmp.Or(c.ObjectStore, "file://"+filepath.ToSlash(filepath.Join(c.DataDir, "objects")))
	c.PublicURL = cmp.Or(c.PublicURL, "http://"+c.Addr)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxObjectBytes = cmp.Or(c.MaxObjectBytes, DefaultMaxObjectBytes)
	c.MinBodyRate = cmp.Or(c.MinBodyRate, httpapi.DefaultMinBodyRate)
	c.SessionTTL = cmp.Or(c.SessionTTL, DefaultSessionTTL)
	c.MinFreeBytes = cmp.Or(c.MinFreeBytes, DefaultMinFreeBytes)
	c.LogLevel = cmp.Or(c.LogLevel, DefaultLogLevel)
	c.LogFormat = cmp.Or(c.LogFormat, DefaultLogFormat)
	c.Identity = c.Identity.withDefaults(c.DataDir)
	c.Training = c.Training.withDefaults()
	return c
}

// validate reports every problem of a defaulted config at once.
func (c ServerConfig) validate() error {
	errs := append([]error(nil), c.envErrs...)
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("--addr/ATELIER_ADDR: %q is not host:port", c.Addr)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		bad("--addr/ATELIER_ADDR: port %q of %q is not 0–65535", port, c.Addr)
	} else {
		_ = host // an empty host listens on every interface
	}
	if scheme := urlScheme(c.DatabaseURL); storeOpeners[scheme] == nil {
		bad("--database-url/ATELIER_DATABASE_URL: scheme %q is not one of %s", scheme, schemeList(storeOpeners))
	} else if scheme == "sqlite" && sqlitePath(c.DatabaseURL) == "" {
		bad("--database-url/ATELIER_DATABASE_URL: %q names no file", c.DatabaseURL)
	}
	if scheme := urlScheme(c.ObjectStore); objectStores[scheme] == nil {
		bad("--object-store/ATELIER_OBJECT_STORE: scheme %q is not one of %s", scheme, schemeList(objectStores))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("--public-url/ATELIER_PUBLIC_URL: %q is not an http:// or https:// URL", c.PublicURL)
	}
	if c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@") {
		bad("ATELIER_ADMIN_EMAIL: %q is not an email address", c.AdminEmail)
	}
	if c.MaxBodyBytes < 1 {
		bad("ATELIER_MAX_BODY_BYTES: must be positive, not %d", c.MaxBodyBytes)
	}
	if c.MaxObjectBytes < 1 {
		bad("ATELIER_MAX_OBJECT_BYTES: must be positive, not %d", c.MaxObjectBytes)
	}
	if c.SessionTTL < time.Minute {
		bad("ATELIER_SESSION_TTL: must be at least 1m, not %s", c.SessionTTL)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("--log-level/ATELIER_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("--log-format/ATELIER_LOG_FORMAT: %q is not text or json", c.LogFormat)
	}
	errs = append(errs, c.Identity.validate()...)
	errs = append(errs, c.Training.validate()...)
	errs = append(errs, c.Callback.validate()...)
	errs = append(errs, c.Background.validate()...)
	return errors.Join(errs...)
}

// urlScheme returns the lower-case scheme of a backend URL, or "".
func urlScheme(raw string) string {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	return strings.ToLower(scheme)
}

// sqlitePath returns the file of a sqlite:// URL: sqlite:///abs/path or
// sqlite://relative/path.
func sqlitePath(raw string) string {
	_, path, _ := strings.Cut(raw, "://")
	path, _, _ = strings.Cut(path, "?")
	return filepath.FromSlash(path)
}

// parseSize parses a byte count: a plain integer or one with a suffix K, M,
// G or T (powers of 1024; "KiB", "KB" and "K" mean the same).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a byte count such as 1048576 or 5GiB", s)
	}
	return n * mult, nil
}

// newFlagSet returns an empty flag set for ParseFlags.
func newFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
