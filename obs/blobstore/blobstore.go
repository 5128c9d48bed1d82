// Package blobstore implements obs.Backend: the local disk (file://, the
// default), S3 (s3://, on the AWS SDK's S3 client) and memory (mem://, for
// tests). It is the only package that imports the AWS SDK, so the obs
// domain package stays free of network and SDK dependencies.
//
// It once sat on gocloud.dev/blob; gocloud's portable layer brought
// OpenTelemetry, gRPC and Google API packages into the binary that no
// setting could use, and a sixth of a cold build's work with them (README,
// "Building").
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/atelier-dev/atelier/obs"
)

// opener opens the backend of a URL.
type opener func(ctx context.Context, u *url.URL) (obs.Backend, error)

// backends maps URL schemes to their drivers. It is the only registry.
var backends = map[string]opener{
	"file": openFile,
	"s3":   openS3,
	"mem":  openMem,
}

// OpenBackend opens the object backend named by rawURL:
//
//   - file:///abs/dir stores blobs as files under dir (created if missing).
//     Temporary files sit beside their target as <key>.<random>.tmp, so
//     that List(key) finds what an interrupted write left; files and their
//     directories are fsynced before Put returns.
//   - s3://bucket?region=…&endpoint=…&use_path_style=true stores blobs in
//     an S3 bucket; the parameters are those of gocloud.dev's s3blob that
//     an S3-compatible store needs (region, endpoint, use_path_style,
//     disable_https, profile, anonymous), credentials come from the usual
//     AWS variables and files.
//   - mem:// keeps blobs in memory, for tests.
func OpenBackend(ctx context.Context, rawURL string) (obs.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("obs: parse object store URL: %w", err)
	}
	open, ok := backends[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("obs: unknown object store scheme %q (want file, s3 or mem)", u.Scheme)
	}
	b, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("obs: open %s object store: %w", u.Scheme, err)
	}
	return b, nil
}

// copyBufSize is the size of the pooled buffers that bodies are copied
// through.
const copyBufSize = 128 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// errAborted is the cause of a write aborted because its context ended.
var errAborted = errors.New("write aborted")
