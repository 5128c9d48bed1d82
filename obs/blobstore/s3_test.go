package blobstore_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/obstest"
)

// startMoto starts moto_server (pip install "moto[server]"), an S3
// emulator, on a free port and returns its endpoint; it is stopped when
// the test ends. Without it the test skips, unless ATELIER_REQUIRE_S3=1.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("ATELIER_REQUIRE_S3") == "1" {
			t.Fatal("ATELIER_REQUIRE_S3=1 but moto_server is not installed")
		}
		t.Skip("moto_server is not installed (pip install \"moto[server]\"): the s3 backend is not tested")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return endpoint
}

// TestS3Backend runs the Backend conformance suite on the s3 backend
// against moto, one fresh bucket per subtest.
func TestS3Backend(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	endpoint := startMoto(t)
	var n atomic.Int64
	obstest.RunBackend(t, func(t *testing.T) obs.Backend {
		bucket := fmt.Sprintf("bkt-%d", n.Add(1))
		req, _ := http.NewRequestWithContext(context.Background(), "PUT", endpoint+"/"+bucket, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("create bucket %s: %v %v", bucket, err, resp)
		}
		resp.Body.Close()
		return MustOpenBackend(t, "s3://"+bucket+"?region=us-east-1&use_path_style=true&endpoint="+endpoint)
	})
}

// TestS3URLParameters: unknown or malformed parameters fail at open, so
// that a typo in ATELIER_OBJECT_STORE is found at start.
func TestS3URLParameters(t *testing.T) {
	for _, bad := range []string{
		"s3://b?regoin=us-east-1",
		"s3://b?use_path_style=yes please",
		"s3://b?awssdk=v1",
	} {
		be, err := openBackend(t, bad)
		if err == nil {
			be.Close()
			t.Errorf("OpenBackend(%q) succeeded; want an error", bad)
		} else if !strings.Contains(err.Error(), "parameter") {
			t.Errorf("OpenBackend(%q) = %v; want it to name the parameter", bad, err)
		}
	}
}
