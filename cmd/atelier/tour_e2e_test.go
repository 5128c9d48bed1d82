package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/jsonschema"
)

// The tour of README.md is the region between these markers; every fenced
// block in it whose language is sh or python is a step.
const (
	tourBegin = "<!-- tour:begin -->"
	tourEnd   = "<!-- tour:end -->"
)

// tourBlock is one fenced block of the tour.
type tourBlock struct {
	Lang string
	Line int // of the opening fence, 1-based
	Code string
}

// readTour returns the sh and python blocks between the tour markers of a
// Markdown document, in order. Blocks of other languages are left out.
func readTour(doc string) ([]tourBlock, error) {
	var (
		blocks []tourBlock
		in     bool // between the markers
		cur    *tourBlock
		code   strings.Builder
		seen   bool
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil:
			if strings.TrimSpace(line) == "```" {
				cur.Code = code.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			code.WriteString(line + "\n")
		case strings.TrimSpace(line) == tourBegin:
			in, seen = true, true
		case strings.TrimSpace(line) == tourEnd:
			if !in {
				return nil, fmt.Errorf("line %d: %s before %s", n, tourEnd, tourBegin)
			}
			in = false
		case in && strings.HasPrefix(line, "```"):
			lang, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "```")), " ")
			cur = &tourBlock{Lang: lang, Line: n}
			code.Reset()
		}
	}
	switch {
	case !seen:
		return nil, fmt.Errorf("no %s marker", tourBegin)
	case in || cur != nil:
		return nil, fmt.Errorf("the tour does not end (%s or a closing fence is missing)", tourEnd)
	}
	var steps []tourBlock
	for _, b := range blocks {
		if b.Lang == "sh" || b.Lang == "python" {
			steps = append(steps, b)
		}
	}
	return steps, nil
}

// tourScript turns the tour's blocks into one bash script that stops at
// the first failing command; python blocks run with python3.
func tourScript(blocks []tourBlock) string {
	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	for i, blk := range blocks {
		fmt.Fprintf(&b, "echo '### tour step %d: README.md line %d (%s)' >&2\n", i+1, blk.Line, blk.Lang)
		if blk.Lang == "python" {
			b.WriteString("python3 - <<'ATELIER_TOUR_PYTHON'\n" + blk.Code + "ATELIER_TOUR_PYTHON\n")
			continue
		}
		b.WriteString(blk.Code)
	}
	return b.String()
}

func TestReadTour(t *testing.T) {
	doc := "# x\n```sh\nnot in the tour\n```\n" + tourBegin + "\ntext\n```sh\na\nb\n```\n```text\nignored\n```\n```python\nprint(1)\n```\n" + tourEnd + "\n```sh\nafter\n```\n"
	got, err := readTour(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Code != "a\nb\n" || got[0].Line != 7 || got[1].Lang != "python" || got[1].Code != "print(1)\n" {
		t.Fatalf("readTour = %+v", got)
	}
	for _, bad := range []string{"no markers", tourBegin + "\n```sh\nx\n", tourEnd + "\n" + tourBegin} {
		if _, err := readTour(bad); err == nil {
			t.Errorf("readTour(%q) took it", bad)
		}
	}
	script := tourScript(got)
	if !strings.HasPrefix(script, "set -euo pipefail\n") || !strings.Contains(script, "python3 - <<'ATELIER_TOUR_PYTHON'\nprint(1)\nATELIER_TOUR_PYTHON\n") {
		t.Fatalf("script:\n%s", script)
	}
}

// TestREADMETour runs the README's tour as written: the binary built once
// with go build, a real server started as the README starts it (its admin
// password from examples/tour/admin-pw.txt, ATELIER_CALLBACK_ALLOW_PRIVATE=1,
// data in ./atelier-data), and every sh and python block between the tour
// markers run in order in one bash, from a directory laid out like the
// repository's root. The CLI reaches the server through a proxy that holds
// every JSON answer against the server's OpenAPI schemas.
func TestREADMETour(t *testing.T) {
	requireSandbox(t, "the tour trains a job")
	for _, tool := range []string{"bash", "python3", "jq", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the tour needs %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readTour(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}

	work := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(work, "atelier"), "./cmd/atelier")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, d := range []string{"examples", "sdk"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(work, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"home", "tmp"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pw, err := os.ReadFile(filepath.Join(root, "examples", "tour", "admin-pw.txt"))
	if err != nil {
		t.Fatal(err)
	}
	srv := MustStartProcess(t, filepath.Join(work, "atelier-data"),
		"ATELIER_ADMIN_EMAIL=admin@atelier.local",
		"ATELIER_ADMIN_PASSWORD="+strings.TrimSuffix(string(pw), "\n"),
		"ATELIER_CALLBACK_ALLOW_PRIVATE=1")
	proxy := mustSchemaProxy(t, srv.URL)

	// The receiver the tour starts is stopped by its last step; after a
	// failure, here.
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(work, "receiver.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", tourScript(blocks))
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(work, "home"),
		"TMPDIR=" + filepath.Join(work, "tmp"),
		"LANG=C.UTF-8",
		"ATELIER_ENDPOINT=" + proxy.URL,
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		t.Fatalf("the tour failed (%v); its output:\n%s", err, out.String())
	}
	t.Logf("the tour's output:\n%s", out.String())
	if !strings.Contains(out.String(), "identical") {
		t.Errorf("the upload round trip did not print identical")
	}
	if errs := proxy.errors(); len(errs) > 0 {
		t.Errorf("answers that do not fit the OpenAPI schemas:\n%s", strings.Join(errs, "\n"))
	}
	if n := proxy.checked(); n < 20 {
		t.Errorf("only %d answers were checked against a schema", n)
	}
}

// schemaProxy is a reverse proxy to a server that checks each successful
// JSON answer against the server's OpenAPI document.
type schemaProxy struct {
	URL  string
	api  *jsonschema.API
	mu   sync.Mutex
	errs []string
	n    int
}

func mustSchemaProxy(t *testing.T, target string) *schemaProxy {
	t.Helper()
	resp, err := http.Get(target + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	api, err := jsonschema.NewAPI(doc)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &schemaProxy{api: api}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // logs stream
	rp.ModifyResponse = func(resp *http.Response) error {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode >= 300 || mt != "application/json" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		req := resp.Request
		checked, err := api.CheckResponse(req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header.Get("Content-Type"), body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if checked {
			p.n++
		}
		if err != nil {
			p.errs = append(p.errs, err.Error())
		}
		return nil
	}
	ts := httptest.NewServer(rp)
	t.Cleanup(ts.Close)
	p.URL = ts.URL
	return p
}

func (p *schemaProxy) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

func (p *schemaProxy) checked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
