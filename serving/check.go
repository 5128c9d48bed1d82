package serving

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/store"
)

// Handler kinds of a package.
const (
	HandlerPython  = "python"  // customize_service.py, run by the shipped runtime
	HandlerCommand = "command" // config.json's command serves HTTP on $PORT
)

// checkArgs is a package check's queue item.
type checkArgs struct {
	Tenant string `json:"tenant"`
	Model  string `json:"model"`
}

// packageConfig is what Atelier reads of a package's config.json
// (ModelArts' fields, plus command and health for handlers of any
// language).
type packageConfig struct {
	ModelAlgorithm string          `json:"model_algorithm"`
	ModelType      string          `json:"model_type"`
	Runtime        string          `json:"runtime"`
	APIs           json.RawMessage `json:"apis"`
	Dependencies   json.RawMessage `json:"dependencies"`
	// Command is how a handler of any language starts: an argv list, or
	// one string run by sh -c, in the package directory, serving HTTP on
	// $PORT.
	Command json.RawMessage `json:"command"`
	// Health is ModelArts' health check: url is the readiness path
	// (default: a TCP connect for commands, /health for Python).
	Health *struct {
		URL string `json:"url"`
	} `json:"health"`
}

// argv returns the command as an argv, or nil when there is none.
func (c *packageConfig) argv() ([]string, error) {
	if len(c.Command) == 0 || string(c.Command) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(c.Command, &one); err == nil {
		if strings.TrimSpace(one) == "" {
			return nil, errors.New("config.json: command is empty")
		}
		return []string{"/bin/sh", "-c", one}, nil
	}
	var list []string
	if err := json.Unmarshal(c.Command, &list); err != nil || len(list) == 0 || list[0] == "" {
		return nil, errors.New("config.json: command must be a string or a non-empty list of strings")
	}
	return list, nil
}

// packageError is a problem of the package itself: the model fails with
// it (no retry).
type packageError struct{ msg string }

func (e *packageError) Error() string { return e.msg }

func badPackage(format string, args ...any) error {
	return &packageError{msg: fmt.Sprintf(format, args...)}
}

// workCheck checks a registered model's package: it lists the directory
// (size and digest), reads config.json and finds the handler, then
// publishes or fails the model. Transient failures (the object store)
// retry.
func (s *Service) workCheck(ctx context.Context, it *store.QueueItem) error {
	var a checkArgs
	if err := json.Unmarshal(it.Args, &a); err != nil {
		return queue.Cancel(fmt.Errorf("model check: bad args: %w", err))
	}
	m, err := s.st.GetModel(ctx, a.Tenant, a.Model)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted while publishing
	}
	if err != nil {
		return err
	}
	if m.Status != atelier.ModelPublishing {
		return nil
	}
	octx := tenantCtx(ctx, m.TenantID, m.Owner)
	pkg, err := s.inspect(octx, m.SourceLocation)
	var perr *packageError
	switch {
	case errors.As(err, &perr):
		s.log.InfoContext(ctx, "serving: model failed its check", "model", m.ID, "reason", perr.msg)
		return s.setModelStatus(ctx, m.TenantID, m.ID, func(m *atelier.Model) {
			m.Status, m.Reason = atelier.ModelFailed, perr.msg
		})
	case err != nil:
		return err
	}
	return s.setModelStatus(ctx, m.TenantID, m.ID, func(m *atelier.Model) {
		m.Status, m.Reason = atelier.ModelPublished, ""
		m.Size, m.Digest, m.Handler = pkg.size, pkg.digest, pkg.handler
	})
}

// pkgInfo is what a check learns of a package.
type pkgInfo struct {
	size    int64
	digest  string
	handler string
	config  *packageConfig
	objects int
}

// inspect lists and reads the package at loc. Problems of the package
// are *packageError; others (the store answering) are returned as they
// are.
func (s *Service) inspect(ctx context.Context, loc string) (*pkgInfo, error) {
	p, err := atelier.ParseObjectPath(loc)
	if err != nil {
		return nil, badPackage("source_location: %s", atelier.ErrorMessage(err))
	}
	info := &pkgInfo{}
	h := sha256.New()
	var hasConfig, hasPython bool
	q := atelier.ListQuery{Prefix: p.Key}
	for {
		l, err := s.objects.ListObjects(ctx, p.Bucket, q)
		if err != nil {
			if atelier.IsKind(err, atelier.NotFound) {
				return nil, badPackage("source_location: the bucket %s does not exist", p.Bucket)
			}
			return nil, err
		}
		for _, o := range l.Objects {
			rel := strings.TrimPrefix(o.Key, p.Key)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a directory marker
			}
			info.objects++
			if info.objects > DefaultMaxPackageObjects {
				return nil, badPackage("the package has more than %d files", DefaultMaxPackageObjects)
			}
			info.size += o.Size
			fmt.Fprintf(h, "%s\t%d\t%s\n", rel, o.Size, o.SHA256)
			switch rel {
			case "config.json":
				hasConfig = true
			case "customize_service.py":
				hasPython = true
			}
		}
		if !l.IsTruncated {
			break
		}
		q.ContinuationToken = l.NextContinuationToken
	}
	if info.objects == 0 {
		return nil, badPackage("source_location %s holds no files", p)
	}
	info.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if !hasConfig {
		return nil, badPackage("missing config.json: a model package has config.json beside its code (CONTRACT §7)")
	}
	cfg, err := s.readConfig(ctx, p.Bucket, p.Key+"config.json")
	if err != nil {
		return nil, err
	}
	info.config = cfg
	argv, err := cfg.argv()
	if err != nil {
		return nil, badPackage("bad config: %v", err)
	}
	switch {
	case argv != nil:
		info.handler = HandlerCommand
	case hasPython:
		info.handler = HandlerPython
	default:
		return nil, badPackage("missing handler: the package has neither customize_service.py nor a command in config.json")
	}
	return info, nil
}

// readConfig reads and parses a package's config.json.
func (s *Service) readConfig(ctx context.Context, bucket, key string) (*packageConfig, error) {
	_, rc, _, err := s.objects.GetObject(ctx, bucket, key, nil)
	if err != nil {
		if atelier.IsKind(err, atelier.NotFound) {
			return nil, badPackage("missing config.json")
		}
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, DefaultConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > DefaultConfigBytes {
		return nil, badPackage("bad config: config.json is larger than %d bytes", DefaultConfigBytes)
	}
	var cfg packageConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, badPackage("bad config: config.json is not valid JSON: %v", err)
	}
	if cfg.ModelType == "" {
		return nil, badPackage("bad config: config.json has no model_type")
	}
	if cfg.Health != nil && cfg.Health.URL != "" && !strings.HasPrefix(cfg.Health.URL, "/") {
		return nil, badPackage("bad config: health.url must be a path starting with '/'")
	}
	return &cfg, nil
}
