package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
)

// rawExchange sends raw bytes to srv over one TCP connection, leaves it
// open (a client that stalls), and returns the answer it reads within 10 s.
func rawExchange(t *testing.T, srv *httptest.Server, raw string) (*http.Response, apiError) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	var e apiError
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp, e
}

// TestSlowBodyIsCut checks that a client that sends its headers and then
// stalls in the body is answered 408 once the grace and the minimum rate
// run out, instead of holding the request forever.
func TestSlowBodyIsCut(t *testing.T) {
	h := newHarness(t)
	h.opts.MinBodyRate = 1024
	h.opts.BodyReadGrace = 200 * time.Millisecond
	srv := httptest.NewServer(h.server())
	t.Cleanup(srv.Close)
	start := time.Now()
	resp, e := rawExchange(t, srv, "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"access_key\":")
	if resp.StatusCode != http.StatusRequestTimeout || e.Code != atelier.CodeBodyTimeout.ID {
		t.Fatalf("answer %d %+v, want 408 %s", resp.StatusCode, e, atelier.CodeBodyTimeout.ID)
	}
	if !strings.Contains(e.Message, "1024 bytes") {
		t.Errorf("message %q does not state the minimum rate", e.Message)
	}
	// 200 ms of grace and 14 bytes at 1 KiB/s: well under the 10 s bound.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cut after %s", took)
	}
}

// TestMalformedChunkedUploadIs400 checks that a chunked upload whose
// framing is broken is the client's error, not the server's.
func TestMalformedChunkedUploadIs400(t *testing.T) {
	h := newHarness(t)
	h.objects.PutObjectFn = func(ctx context.Context, bucket, key string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error) {
		_, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("obs: put object: %w", err) // as a backend wraps it
		}
		return testObject(bucket, key, 0), nil
	}
	srv := httptest.NewServer(h.server())
	t.Cleanup(srv.Close)
	resp, e := rawExchange(t, srv, "PUT /v1/obs/b/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || e.Code != atelier.CodeBadBody.ID {
		t.Fatalf("answer %d %+v, want 400 %s", resp.StatusCode, e, atelier.CodeBadBody.ID)
	}
}
