package atelier

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Environment variables read by LoadConfig.
const (
	EnvEndpoint  = "ATELIER_ENDPOINT"
	EnvToken     = "ATELIER_TOKEN"
	EnvAccessKey = "ATELIER_ACCESS_KEY"
	EnvSecretKey = "ATELIER_SECRET_KEY"
)

// Credentials is the content of the credentials file that `atelier login`
// writes (docs/api.md, "Client settings and credentials").
type Credentials struct {
	Endpoint  string    `json:"endpoint"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Email     string    `json:"email,omitempty"`
	TenantID  string    `json:"tenant_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
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

// LoadCredentials reads the credentials file. A missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist).
func LoadCredentials() (*Credentials, error) {
	p, err := CredentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var cr Credentials
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, fmt.Errorf("read credentials %s: %w", p, err)
	}
	return &cr, nil
}

// SaveCredentials writes cr to the credentials file atomically (a temporary
// file in the same directory, fsynced, then renamed) with mode 0600, creating
// the directory with mode 0700.
func SaveCredentials(cr *Credentials) error {
	p, err := CredentialsPath()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(cr, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	return writeFileAtomic(p, append(b, '\n'))
}

// writeFileAtomic replaces path with data, mode 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not all systems allow it
		d.Close()
	}
	return nil
}

// RemoveCredentials deletes the credentials file; a missing file is not an
// error.
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

// LoadConfig returns the client settings from the environment and the
// credentials file (docs/api.md, "Client settings and credentials"):
// the endpoint is ATELIER_ENDPOINT, else the file's, else DefaultEndpoint;
// the credentials are ATELIER_TOKEN, else ATELIER_ACCESS_KEY with
// ATELIER_SECRET_KEY, else the file's token. A missing file is not an error;
// an unreadable one is.
func LoadConfig() (Options, error) {
	var opts Options
	cr, err := LoadCredentials()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return opts, err
	}
	if cr == nil {
		cr = &Credentials{}
	}
	opts.Endpoint = firstNonEmpty(os.Getenv(EnvEndpoint), cr.Endpoint, DefaultEndpoint)
	ak, sk := os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)
	switch {
	case os.Getenv(EnvToken) != "":
		opts.Token = os.Getenv(EnvToken)
	case ak != "" || sk != "":
		opts.AccessKey, opts.SecretKey = ak, sk
	default:
		opts.Token = cr.Token
	}
	return opts, nil
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
