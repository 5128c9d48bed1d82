package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/workload"
)

// The task stager: `atelier task-stage [--manifest FILE] -- COMMAND…`
// runs inside a task whose executor shares no filesystem with the server
// (docs/workloads.md, "Staging without a shared filesystem"). It reads the
// manifest from ATELIER_STAGE (or FILE), downloads the inputs into the
// working directory through their presigned URLs, runs the command with
// the same arguments and environment (less ATELIER_STAGE), uploads the
// outputs whatever the command's exit, and exits with the command's code;
// workload.StagerExitInputs and StagerExitOutputs are its own. It talks
// to nothing but the manifest's URLs.

// Stager tuning.
const (
	// stageParallel bounds the downloads (and uploads) in flight.
	stageParallel = 4
	// stageAttempts is how often a request that failed on the way (no
	// answer, 429, 5xx) is tried.
	stageAttempts = 3
	// stageNoUnzipBound stands for a manifest without max_unzip_bytes.
	stageNoUnzipBound = 1 << 62
)

// exitStatus is an error that makes `atelier` exit with that status and
// print nothing more (the command printed its reason).
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func newTaskStageCommand() *cobra.Command {
	return &cobra.Command{
		Use:    workload.StageCommand + " [--manifest FILE] -- COMMAND [ARG...]",
		Short:  "Stage a task's inputs, run its command, upload its outputs (run by executors without a shared filesystem)",
		Hidden: true,
		// Everything after "--" is the task's command, flags included.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitStatus(runTaskStage(args, os.Getenv, os.Environ(), ".", cmd.ErrOrStderr()))
		},
	}
}

// runTaskStage is `atelier task-stage` in the working directory dir; it
// returns the exit status.
func runTaskStage(args []string, getenv func(string) string, environ []string, dir string, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		// One line: it is what the task's log shows of the failure.
		msg := strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
		fmt.Fprintf(stderr, "atelier %s: %s\n", workload.StageCommand, msg)
		return code
	}
	manifestFile := ""
	if len(args) >= 2 && args[0] == "--manifest" {
		manifestFile, args = args[1], args[2:]
	}
	if len(args) < 2 || args[0] != "--" {
		return fail(workload.StagerExitInputs, "usage: atelier %s [--manifest FILE] -- COMMAND [ARG...]", workload.StageCommand)
	}
	command := args[1:]
	var src io.Reader
	switch {
	case manifestFile != "":
		f, err := os.Open(manifestFile)
		if err != nil {
			return fail(workload.StagerExitInputs, "the stage manifest: %v", err)
		}
		defer f.Close()
		src = f
	case getenv(workload.StageEnv) != "":
		src = strings.NewReader(getenv(workload.StageEnv))
	default:
		return fail(workload.StagerExitInputs, "no stage manifest: %s is not set", workload.StageEnv)
	}
	m, err := workload.ParseStageManifest(src)
	if err != nil {
		return fail(workload.StagerExitInputs, "%v", err)
	}

	// A stop (SIGTERM from the executor) during staging ends it; during
	// the command it is passed on, and the outputs are still uploaded.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	staged := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-staged:
		}
	}()
	st := newStager(m, dir)
	if err := st.stageInputs(ctx); err != nil {
		close(staged)
		return fail(workload.StagerExitInputs, "%v", err)
	}
	close(staged)

	code, runErr := runCommand(command, environ, dir, sigs)
	if runErr != nil {
		fail(code, "%v", runErr)
	}
	if err := st.uploadOutputs(context.Background()); err != nil {
		if code == 0 {
			code = workload.StagerExitOutputs
		}
		return fail(code, "%v", err)
	}
	return code
}

// runCommand runs the task's command with environ less the manifest,
// passing on the signals that arrive, and returns its exit status (128+n
// when signal n killed it; 127 when it does not exist, 126 when it cannot
// be started, like a shell).
func runCommand(command, environ []string, dir string, sigs <-chan os.Signal) (int, error) {
	env := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, workload.StageEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return 127, fmt.Errorf("the command %q was not found", command[0])
		}
		return 126, fmt.Errorf("the command %q could not be started: %v", command[0], errors.Unwrap(err))
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 126, fmt.Errorf("the command %q: %v", command[0], err)
}

// stager fetches and uploads what a manifest names.
type stager struct {
	m      *workload.StageManifest
	dir    string // the working directory the manifest's directories are in
	client *http.Client
}

func newStager(m *workload.StageManifest, dir string) *stager {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Only the manifest's URLs: never a proxy from the task's environment.
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 2 * time.Minute
	tr.MaxIdleConnsPerHost = stageParallel
	return &stager{m: m, dir: dir, client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // no redirects: no other host
	}}}
}

// stageInputs downloads every input into its directory.
func (s *stager) stageInputs(ctx context.Context) error {
	for _, in := range s.m.Inputs {
		in.Dir = filepath.Join(s.dir, filepath.FromSlash(in.Dir))
		if err := os.MkdirAll(in.Dir, 0o750); err != nil {
			return fmt.Errorf("%s: %v", in.Field, err)
		}
		var err error
		switch in.Kind {
		case workload.SourceDir:
			err = s.mirror(ctx, in)
		case workload.SourceZip:
			err = s.unzip(ctx, in)
		case workload.SourceObject:
			var key string
			if _, _, key, err = objectURL(in.URL); err == nil {
				err = s.download(ctx, in.URL, key, filepath.Join(in.Dir, path.Base(key)))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: interrupted by a stop", in.Field)
			}
			return fmt.Errorf("%s: %v", in.Field, err)
		}
	}
	for _, o := range s.m.Outputs {
		if err := os.MkdirAll(filepath.Join(s.dir, filepath.FromSlash(o.Dir)), 0o750); err != nil {
			return fmt.Errorf("%s: %v", o.Field, err)
		}
	}
	return nil
}

// objectURL parses a manifest URL and splits its path into the bucket
// and the key: an object's, or an output directory's prefix.
func objectURL(raw string) (u *url.URL, bucket, key string, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		return nil, "", "", errors.New("the manifest's URL does not parse")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(u.Path, "/v1/obs/"), "/")
	return u, bucket, key, nil
}

// mirror downloads every object under a directory input's prefix, at its
// key relative to the prefix.
func (s *stager) mirror(ctx context.Context, in workload.StageInput) error {
	u, bucket, _, err := objectURL(in.URL)
	if err != nil {
		return err
	}
	q := atelier.PresignedQueryFrom(u.Query())
	prefix := u.Query().Get("prefix")
	origin := u.Scheme + "://" + u.Host
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stageParallel)
	token := ""
	for {
		page := *u
		v := u.Query()
		if token != "" {
			v.Set("continuation_token", token)
		}
		page.RawQuery = v.Encode()
		var l atelier.ObjectList
		if err := s.getJSON(gctx, page.String(), "the listing of "+prefix, &l); err != nil {
			return errors.Join(err, g.Wait())
		}
		for _, o := range l.Objects {
			rel := strings.TrimPrefix(o.Key, prefix)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a directory marker
			}
			lp := filepath.FromSlash(rel)
			if !filepath.IsLocal(lp) {
				continue
			}
			key := o.Key
			g.Go(func() error {
				return s.download(gctx, atelier.ObjectURL(origin, bucket, key, q), key, filepath.Join(in.Dir, lp))
			})
		}
		if !l.IsTruncated || l.NextContinuationToken == "" {
			break
		}
		token = l.NextContinuationToken
	}
	return g.Wait()
}

// unzip downloads a .zip input next to the inputs and unpacks it with the
// runtime's checks (no entry outside the directory, no links, a bound on
// the unpacked size).
func (s *stager) unzip(ctx context.Context, in workload.StageInput) error {
	_, _, key, err := objectURL(in.URL)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.dir, ".atelier-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	zipFile := filepath.Join(tmp, "download.zip")
	if err := s.download(ctx, in.URL, key, zipFile); err != nil {
		return err
	}
	limit := s.m.MaxUnzipBytes
	if limit == 0 {
		limit = stageNoUnzipBound
	}
	if err := workload.Unzip(zipFile, in.Dir, limit); err != nil {
		return fmt.Errorf("%s: %s", key, workload.SafeMessage(err))
	}
	return nil
}

// download streams the object at the presigned URL raw into the file dst
// and checks its SHA-256 against the server's.
func (s *stager) download(ctx context.Context, raw, key, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	return s.retry(ctx, func() error {
		resp, err := s.send(ctx, http.MethodGet, raw, nil, 0, "GET "+key)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o640)
		if err != nil {
			return permanent(err)
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("GET %s: %v", key, err)
		}
		if want := resp.Header.Get("X-Atelier-Sha256"); want != "" && want != hex.EncodeToString(h.Sum(nil)) {
			return fmt.Errorf("GET %s: the bytes do not match the object's SHA-256", key)
		}
		return nil
	})
}

// getJSON reads a JSON answer into v.
func (s *stager) getJSON(ctx context.Context, raw, what string, v any) error {
	return s.retry(ctx, func() error {
		resp, err := s.send(ctx, http.MethodGet, raw, nil, 0, "GET "+what)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
			return fmt.Errorf("GET %s: %v", what, err)
		}
		return nil
	})
}

// send makes one request and returns a 2xx answer; anything else is an
// error naming what (never the URL, whose query is a capability).
func (s *stager) send(ctx context.Context, method, raw string, body io.Reader, size int64, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, raw, body)
	if err != nil {
		return nil, permanent(fmt.Errorf("%s: the URL is not valid", what))
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	msg := fmt.Sprintf("%s: the server answered %d", what, resp.StatusCode)
	if e.Code != "" {
		msg += fmt.Sprintf(" %s: %s", e.Code, e.Message)
	}
	err = errors.New(msg)
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		err = permanent(err)
	}
	return nil, err
}

// permanentError is a failure that trying again cannot mend.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// retry runs fn up to stageAttempts times while it fails on the way (no
// answer, 429, 5xx), waiting 1s, then 2s.
func (s *stager) retry(ctx context.Context, fn func() error) error {
	var err error
	for i := range stageAttempts {
		if err = fn(); err == nil || errors.As(err, new(permanentError)) || ctx.Err() != nil {
			return err
		}
		if i < stageAttempts-1 {
			t := time.NewTimer(time.Duration(1<<i) * time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
	}
	return err
}

// uploadOutputs uploads every regular file under each output directory
// to its prefix; links and other files are skipped, and files are opened
// without following links. Every output is tried; the errors are joined.
func (s *stager) uploadOutputs(ctx context.Context) error {
	var errs []error
	for _, o := range s.m.Outputs {
		if err := s.uploadDir(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", o.Field, err))
		}
	}
	return errors.Join(errs...)
}

func (s *stager) uploadDir(ctx context.Context, o workload.StageOutput) error {
	u, _, prefix, err := objectURL(o.URL)
	if err != nil {
		return err
	}
	o.Dir = filepath.Join(s.dir, filepath.FromSlash(o.Dir))
	base := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/") + "/"
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stageParallel)
	walkErr := workload.WalkFiles(o.Dir, func(p, rel string) error {
		if gctx.Err() != nil {
			return nil
		}
		segs := strings.Split(rel, "/")
		for i, seg := range segs {
			segs[i] = url.PathEscape(seg)
		}
		target := base + strings.Join(segs, "/") + "?" + u.RawQuery
		key := prefix + rel
		g.Go(func() error { return s.upload(gctx, p, target, key) })
		return nil
	})
	return errors.Join(walkErr, g.Wait())
}

// upload PUTs one file (opened without following links; anything but a
// regular file is skipped).
func (s *stager) upload(ctx context.Context, file, raw, key string) error {
	return s.retry(ctx, func() error {
		f, size, err := workload.OpenRegular(file)
		if err != nil {
			return permanent(err)
		}
		if f == nil {
			return nil // became a link, or another kind of file
		}
		defer f.Close()
		resp, err := s.send(ctx, http.MethodPut, raw, f, size, "PUT "+key)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
}
