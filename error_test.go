package atelier_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

var update = flag.Bool("update", false, "rewrite docs/errors.md from the registered codes")

func TestErrorHelpers(t *testing.T) {
	wrapped := fmt.Errorf("loading: %w", atelier.CodeBucketNotFound.Errorf("bucket %q does not exist.", "b"))
	tests := []struct {
		name string
		err  error
		code string
		kind atelier.Kind
		msg  string
	}{
		{"domain error through %w", wrapped, "ATL.OBS.0003", atelier.NotFound, `bucket "b" does not exist.`},
		{"context canceled", fmt.Errorf("x: %w", context.Canceled), atelier.CodeCanceled.ID, atelier.Canceled, "The request was canceled."},
		{"deadline", context.DeadlineExceeded, atelier.CodeDeadline.ID, atelier.DeadlineExceeded, "The request took too long."},
		{"unknown error never leaks", errors.New("open /secret/path: permission denied"), atelier.CodeInternal.ID, atelier.Internal, "Internal error."},
		{"nil", nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := atelier.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := atelier.ErrorKind(tt.err); got != tt.kind {
				t.Errorf("ErrorKind = %q, want %q", got, tt.kind)
			}
			if got := atelier.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
		})
	}
	cause := errors.New("disk on fire")
	e := atelier.CodeInternal.Wrap(cause, "Internal error.")
	if !errors.Is(e, cause) || !strings.Contains(e.Error(), "disk on fire") {
		t.Errorf("Wrap lost its cause: %v", e)
	}
}

func TestCodeFormat(t *testing.T) {
	re := regexp.MustCompile(`^ATL\.[A-Z]+\.\d{4}$`)
	for _, c := range atelier.Codes() {
		if !re.MatchString(c.ID) {
			t.Errorf("code %q does not match ATL.<AREA>.<NNNN>", c.ID)
		}
		if c.Kind == "" || c.Summary == "" {
			t.Errorf("code %s lacks a kind or summary", c.ID)
		}
	}
}

// TestErrorsDocumented keeps docs/errors.md equal to the registered codes.
// Run `go test -run TestErrorsDocumented -update .` after adding a code.
func TestErrorsDocumented(t *testing.T) {
	var b strings.Builder
	b.WriteString(errorsDocHeader)
	for _, c := range atelier.Codes() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.ID, c.Kind, c.Summary)
	}
	want := b.String()
	const path = "docs/errors.md"
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with the registered codes; run: go test -run TestErrorsDocumented -update .", path)
	}
}

const errorsDocHeader = `# Error codes

Every ` + "`/v1`" + ` error answer is
` + "`" + `{"error_code": "ATL.<AREA>.<NNNN>", "error_msg": "…", "request_id": "…"}` + "`" + `
(CONTRACT §3); ` + "`/api/v2`" + ` answers keep OneAccess's ` + "`" + `{"error_code", "error_msg"}` + "`" + `.
A code never changes meaning once shipped; new situations get new codes.
The message names the offending field and never contains paths, SQL or stack traces;
quote the ` + "`request_id`" + ` to find the full error in the server log.

This page is generated from the registered codes: ` + "`go test -run TestErrorsDocumented -update .`" + `

## HTTP status by kind

| Kind | Status |
|---|---|
| invalid | 400 |
| unauthenticated | 401 |
| permission_denied | 403 |
| not_found | 404 |
| conflict, failed_precondition | 409 |
| too_large | 413 |
| range_not_satisfiable | 416 |
| resource_exhausted | 429 |
| canceled | 499 |
| internal | 500 |
| not_implemented | 501 |
| unavailable | 503 |
| deadline_exceeded | 504 |
| insufficient_space | 507 |

Two codes have a more precise status than their kind: ` + "`ATL.GEN.0011`" + ` (wrong method) answers 405
with an ` + "`Allow`" + ` header, and ` + "`ATL.GEN.0012`" + ` (request body too slow) answers 408.

## Codes

| Code | Kind | Meaning |
|---|---|---|
`
