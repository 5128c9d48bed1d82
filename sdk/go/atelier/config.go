package atelier

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/atomicfile"
)

// Environment variables read by LoadConfig.
const (
	EnvEndpoint  = "ATELIER_ENDPOINT"
	EnvProfile   = "ATELIER_PROFILE"
	EnvToken     = "ATELIER_TOKEN"
	EnvAccessKey = "ATELIER_ACCESS_KEY"
	EnvSecretKey = "ATELIER_SECRET_KEY"
)

// DefaultProfile is the name of the first profile `atelier login` saves.
const DefaultProfile = "default"

// credentialsFileVersion is the version of the credentials file's format
// that SaveCredentialsFile writes. Version 1 (no "version" field) held one
// Credentials object at the top level.
const credentialsFileVersion = 2

// Credentials are one login's: the token and the server that issued it. A
// token is only ever sent to that server (docs/api.md, "Client settings and
// credentials").
type Credentials struct {
	Endpoint  string    `json:"endpoint"`
	Token     string    `json:"token,omitempty"` // "" after a logout
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Email     string    `json:"email,omitempty"`
	TenantID  string    `json:"tenant_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
}

// CredentialsFile is the content of the credentials file that `atelier
// login` writes: named profiles, each the credentials of one login, and the
// current profile.
type CredentialsFile struct {
	Version  int                     `json:"version"`
	Current  string                  `json:"current,omitempty"`
	Profiles map[string]*Credentials `json:"profiles"`
}

// ErrCredentialsFileNewer is the error (under errors.Is) of reading a
// credentials file that a newer client wrote, which this one must not
// overwrite.
var ErrCredentialsFileNewer = errors.New("the credentials file was written by a newer atelier")

// profileName is what a profile may be called.
var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$`)

// CheckProfileName returns an error naming the rule when name cannot be a
// profile's name.
func CheckProfileName(name string) error {
	if !profileName.MatchString(name) {
		return core.CodeInvalidParam.Errorf("The profile name %q is not valid: use 1 to 64 letters, digits and . _ : @ -, starting with a letter or digit.", name).WithField("profile")
	}
	return nil
}

// CredentialsPath returns the credentials file's path:
// $XDG_CONFIG_HOME/atelier/credentials, or ~/.config/atelier/credentials when
// XDG_CONFIG_HOME is unset or not absolute.
func CredentialsPath() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "atelier", "credentials"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the credentials file: %w", err)
	}
	return filepath.Join(home, ".config", "atelier", "credentials"), nil
}

// LoadCredentialsFile reads the credentials file. A missing file gives an
// empty one and no error. A file of the old format (one login at the top
// level) reads as the profile "default", current; SaveCredentialsFile then
// writes it in the new format.
func LoadCredentialsFile() (*CredentialsFile, error) {
	p, err := CredentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &CredentialsFile{Version: credentialsFileVersion, Profiles: map[string]*Credentials{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	f, err := parseCredentialsFile(b)
	if errors.Is(err, ErrCredentialsFileNewer) {
		return nil, fmt.Errorf("read credentials %s: %w", p, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials %s: %w; run atelier login again", p, err)
	}
	return f, nil
}

// parseCredentialsFile decodes either format of the credentials file.
func parseCredentialsFile(b []byte) (*CredentialsFile, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if _, ok := probe["profiles"]; !ok {
		var cr Credentials // version 1
		if err := json.Unmarshal(b, &cr); err != nil {
			return nil, err
		}
		f := &CredentialsFile{Version: credentialsFileVersion, Profiles: map[string]*Credentials{}}
		if cr.Endpoint != "" || cr.Token != "" {
			if cr.Endpoint == "" {
				cr.Endpoint = DefaultEndpoint // version 1 took the default for a missing endpoint
			}
			f.Profiles[DefaultProfile], f.Current = &cr, DefaultProfile
		}
		return f, nil
	}
	var f CredentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.Version > credentialsFileVersion {
		return nil, fmt.Errorf("%w: the file is of version %d, newer than this client's %d", ErrCredentialsFileNewer, f.Version, credentialsFileVersion)
	}
	f.Version = credentialsFileVersion
	if f.Profiles == nil {
		f.Profiles = map[string]*Credentials{}
	}
	for name, cr := range f.Profiles {
		if cr == nil || cr.Endpoint == "" {
			delete(f.Profiles, name) // nothing a token could be sent to
		}
	}
	return &f, nil
}

// SaveCredentialsFile writes f to the credentials file atomically (a
// temporary file in the same directory, synced, then renamed) with mode 0600,
// creating the directory with mode 0700.
func SaveCredentialsFile(f *CredentialsFile) error {
	p, err := CredentialsPath()
	if err != nil {
		return err
	}
	f.Version = credentialsFileVersion
	if f.Profiles == nil {
		f.Profiles = map[string]*Credentials{}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	if err := atomicfile.WriteFile(p, append(b, '\n'), 0o600, true); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	return nil
}

// Names returns the profiles' names in order.
func (f *CredentialsFile) Names() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ForEndpoint returns the profile for endpoint: the current one when it is
// for that server, else the first by name that holds a token for it, else the
// first by name for it. It returns "", nil when no profile is for endpoint.
func (f *CredentialsFile) ForEndpoint(endpoint string) (string, *Credentials) {
	if cr := f.Profiles[f.Current]; cr != nil && SameEndpoint(cr.Endpoint, endpoint) {
		return f.Current, cr
	}
	var first string
	for _, n := range f.Names() {
		cr := f.Profiles[n]
		if !SameEndpoint(cr.Endpoint, endpoint) {
			continue
		}
		if cr.Token != "" {
			return n, cr
		}
		if first == "" {
			first = n
		}
	}
	if first == "" {
		return "", nil
	}
	return first, f.Profiles[first]
}

// NewProfileName returns a free name for a new profile for endpoint:
// "default" while no profile has that name, else the endpoint's host and
// port, with a number added when taken.
func (f *CredentialsFile) NewProfileName(endpoint string) string {
	if _, taken := f.Profiles[DefaultProfile]; !taken {
		return DefaultProfile
	}
	base := "server"
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		base = strings.Map(func(r rune) rune {
			if r < 128 && (r == '.' || r == '_' || r == ':' || r == '@' || r == '-' ||
				r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return r
			}
			return '-'
		}, strings.ToLower(u.Host))
		base = strings.Trim(base, "-.:_@")
		if len(base) > 56 {
			base = base[:56]
		}
		if base == "" {
			base = "server"
		}
	}
	name := base
	for i := 2; f.Profiles[name] != nil; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// NormalizeEndpoint returns the form of an endpoint that SameEndpoint
// compares: the scheme and host in lower case, no default port, no trailing
// slash. A string that is not a URL is returned trimmed of trailing slashes.
func NormalizeEndpoint(endpoint string) string {
	ep := strings.TrimRight(strings.TrimSpace(endpoint), "/")
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return ep
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	} else {
		u.Host = host
	}
	return u.String()
}

// SameEndpoint reports whether a and b name the same server.
func SameEndpoint(a, b string) bool { return NormalizeEndpoint(a) == NormalizeEndpoint(b) }

// Selection is what a caller chose over the environment: a profile (else
// ATELIER_PROFILE, else the current one) and an endpoint (else
// ATELIER_ENDPOINT, else the profile's, else DefaultEndpoint).
type Selection struct {
	Profile  string
	Endpoint string
}

// Config is the client settings ResolveConfig found.
type Config struct {
	Options
	// Profile is the profile whose token Options carries, "" when the
	// credentials are from the environment or there are none.
	Profile string
	// LoginTarget is the server a plain `atelier login` would log in to.
	LoginTarget string
	// ProfileFlag is the profile the caller named in the Selection.
	ProfileFlag string
}

// HasCredentials reports whether the settings carry a token or a key pair.
func (c *Config) HasCredentials() bool { return c.Token != "" || c.AccessKey != "" }

// NotLoggedIn returns the error for settings without credentials: "not
// logged in to <server>; run atelier login", naming the endpoint (and the
// profile) to log in with when a plain `atelier login` would log in
// elsewhere.
func (c *Config) NotLoggedIn() error {
	hint := "atelier login"
	if c.ProfileFlag != "" {
		hint += " --profile " + c.ProfileFlag
	}
	if !SameEndpoint(c.Endpoint, c.LoginTarget) {
		hint += " --endpoint " + c.Endpoint
	}
	return core.CodeSDKNoCredentials.Errorf("not logged in to %s; run %s", c.Endpoint, hint)
}

// Select returns the profile that sel and the environment choose and the
// endpoint to talk to. The profile is sel.Profile, else ATELIER_PROFILE,
// else the current one; the endpoint is sel.Endpoint, else ATELIER_ENDPOINT,
// else the profile's, else DefaultEndpoint. When the endpoint is not the
// chosen profile's server, the profile is the first one for that server
// (ForEndpoint), or none; a profile named explicitly that does not exist or
// is for another server is an error. A profile's token is only for its
// server: the profile returned is always for the endpoint returned.
func (f *CredentialsFile) Select(sel Selection) (name string, cr *Credentials, endpoint string, err error) {
	name = firstNonEmpty(sel.Profile, os.Getenv(EnvProfile))
	named := name != ""
	if !named {
		name = f.Current
	}
	cr = f.Profiles[name]
	if named && cr == nil {
		return "", nil, "", core.CodeInvalidParam.Errorf("There is no profile %q; see atelier profile ls.", name).WithField("profile")
	}
	var profEndpoint string
	if cr != nil {
		profEndpoint = cr.Endpoint
	}
	endpoint = firstNonEmpty(sel.Endpoint, os.Getenv(EnvEndpoint), profEndpoint, DefaultEndpoint)
	switch {
	case cr != nil && SameEndpoint(cr.Endpoint, endpoint):
		return name, cr, endpoint, nil
	case named:
		return "", nil, "", core.CodeInvalidParam.Errorf("The profile %q is for %s, not %s; its token is sent only to the server that issued it.", name, cr.Endpoint, endpoint).WithField("endpoint")
	}
	name, cr = f.ForEndpoint(endpoint)
	return name, cr, endpoint, nil
}

// ResolveConfig returns the client settings from sel, the environment and
// the credentials file (docs/api.md, "Client settings and credentials").
// The endpoint and the profile are chosen by CredentialsFile.Select. The
// credentials are ATELIER_TOKEN, else ATELIER_ACCESS_KEY with
// ATELIER_SECRET_KEY, else the token of that profile, which is always for
// the endpoint: a token is never sent to a server other than the one that
// issued it. No credentials is not an error: see Config.NotLoggedIn. An
// unreadable credentials file is one, and so is a profile named explicitly
// that does not exist or is for another server.
func ResolveConfig(sel Selection) (*Config, error) {
	f, err := LoadCredentialsFile()
	if err != nil {
		return nil, err
	}
	name, cr, endpoint, err := f.Select(sel)
	if err != nil {
		return nil, err
	}
	cfg := &Config{ProfileFlag: sel.Profile}
	cfg.Endpoint = endpoint
	loginProfile := f.Profiles[firstNonEmpty(sel.Profile, os.Getenv(EnvProfile), f.Current)]
	cfg.LoginTarget = os.Getenv(EnvEndpoint)
	if cfg.LoginTarget == "" && loginProfile != nil {
		cfg.LoginTarget = loginProfile.Endpoint
	}
	cfg.LoginTarget = firstNonEmpty(cfg.LoginTarget, DefaultEndpoint)
	ak, sk := os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)
	switch {
	case os.Getenv(EnvToken) != "":
		cfg.Token = os.Getenv(EnvToken)
	case ak != "" || sk != "":
		cfg.AccessKey, cfg.SecretKey = ak, sk
	case cr != nil && cr.Token != "":
		cfg.Token, cfg.Profile = cr.Token, name
	default:
		cfg.Options.NotLoggedIn = cfg.NotLoggedIn()
	}
	return cfg, nil
}

// LoadConfig returns the client settings from the environment and the
// credentials file: ResolveConfig with nothing chosen over the environment.
// A missing file is not an error; an unreadable one is.
func LoadConfig() (Options, error) {
	cfg, err := ResolveConfig(Selection{})
	if err != nil {
		return Options{}, err
	}
	return cfg.Options, nil
}

// LoadCredentials returns the current profile's credentials. When there are
// none, the error satisfies errors.Is(err, fs.ErrNotExist).
func LoadCredentials() (*Credentials, error) {
	f, err := LoadCredentialsFile()
	if err != nil {
		return nil, err
	}
	cr := f.Profiles[f.Current]
	if cr == nil {
		return nil, fmt.Errorf("read credentials: no current profile: %w", fs.ErrNotExist)
	}
	return cr, nil
}

// SaveCredentials saves cr as the profile for its endpoint (a new one when
// none is) and makes it the current profile.
func SaveCredentials(cr *Credentials) error {
	f, err := LoadCredentialsFile()
	if err != nil {
		return err
	}
	cr.Endpoint = firstNonEmpty(cr.Endpoint, DefaultEndpoint)
	name, _ := f.ForEndpoint(cr.Endpoint)
	if name == "" {
		name = f.NewProfileName(cr.Endpoint)
	}
	f.Profiles[name], f.Current = cr, name
	return SaveCredentialsFile(f)
}

// RemoveCredentials deletes the credentials file with every profile; a
// missing file is not an error.
func RemoveCredentials() error {
	p, err := CredentialsPath()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove credentials: %w", err)
	}
	return nil
}

// FromEnv returns a client configured by LoadConfig.
func FromEnv() (*Client, error) {
	opts, err := LoadConfig()
	if err != nil {
		return nil, err
	}
	return New(opts)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
