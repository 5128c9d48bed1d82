package training

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

// obsPath is a parsed object path (atelier.ParseObjectPath).
type obsPath = atelier.ObjectPath

// Kinds of source.
const (
	srcDir    = "dir"
	srcZip    = "zip"
	srcObject = "object"
)

// source is an existing OBS directory, .zip object or plain object.
type source struct {
	obsPath
	kind string
	size int64 // of a zip or object
}

func isZip(key string) bool { return strings.HasSuffix(strings.ToLower(key), ".zip") }

// resolveSource finds what p names: a directory with at least one object,
// a .zip or another object. A path without a trailing "/" that names no
// object but a non-empty directory is taken as that directory. Anything
// missing is CodeJobInputMissing for field.
func (s *Service) resolveSource(ctx context.Context, p, field string) (*source, error) {
	op, err := atelier.ParseObjectPath(p)
	if err != nil {
		return nil, invalid(field, "%s %q is not an OBS path. %s", field, p, atelier.ErrorMessage(err))
	}
	if !op.IsDir() {
		o, err := s.objects.StatObject(ctx, op.Bucket, op.Key)
		switch {
		case err == nil:
			src := &source{obsPath: op, kind: srcObject, size: o.Size}
			if isZip(op.Key) {
				src.kind = srcZip
				if err := s.checkZip(ctx, src, field); err != nil {
					return nil, err
				}
			}
			return src, nil
		case !notFound(err):
			return nil, fmt.Errorf("training: stat %s: %w", field, err)
		}
		op.Key += "/"
	}
	l, err := s.objects.ListObjects(ctx, op.Bucket, atelier.ListQuery{Prefix: op.Key, MaxKeys: 1})
	if err != nil {
		if notFound(err) {
			return nil, missing(field, "%s %q does not exist (no bucket %q).", field, p, op.Bucket)
		}
		return nil, fmt.Errorf("training: list %s: %w", field, err)
	}
	if len(l.Objects) == 0 {
		return nil, missing(field, "%s %q does not exist.", field, p)
	}
	return &source{obsPath: op, kind: srcDir}, nil
}

// sourceHas reports whether the directory or zip src holds the file rel.
func (s *Service) sourceHas(ctx context.Context, src *source, rel string) (bool, error) {
	switch src.kind {
	case srcDir:
		_, err := s.objects.StatObject(ctx, src.Bucket, src.Key+rel)
		if err != nil {
			if notFound(err) {
				return false, nil
			}
			return false, fmt.Errorf("training: stat boot file: %w", err)
		}
		return true, nil
	case srcZip:
		zr, err := zip.NewReader(&objectReaderAt{ctx: ctx, s: s.objects, p: src.obsPath, size: src.size}, src.size)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return false, fmt.Errorf("training: read code zip: %w", err)
		}
		for _, f := range zr.File {
			if path.Clean(strings.TrimPrefix(f.Name, "./")) == rel && !f.FileInfo().IsDir() {
				return true, nil
			}
		}
	}
	return false, nil
}

// checkZip reads the central directory of a zip (a few range reads) and
// refuses one that is not a zip or has an entry that would land outside
// its target directory.
func (s *Service) checkZip(ctx context.Context, src *source, field string) error {
	zr, err := zip.NewReader(&objectReaderAt{ctx: ctx, s: s.objects, p: src.obsPath, size: src.size}, src.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return invalid(field, "%s %q is not a valid .zip file.", field, src.String())
	}
	for _, f := range zr.File {
		if _, err := zipEntryPath(f); err != nil {
			return invalid(field, "%s %q has an unsafe entry %q.", field, src.String(), f.Name)
		}
	}
	return nil
}

// zipEntryPath returns the local, slash-separated path of a zip entry, or
// an error for an absolute path, a ".." element, a backslash or a link.
func zipEntryPath(f *zip.File) (string, error) {
	name := f.Name
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return "", errUnsafeZip
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", errUnsafeZip
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil // the root itself
	}
	if !filepath.IsLocal(filepath.FromSlash(c)) {
		return "", errUnsafeZip
	}
	if f.Mode()&(fs.ModeSymlink|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0 {
		return "", errUnsafeZip
	}
	return c, nil
}

// stageError is a staging failure whose message is safe to show in a
// version's reason.
type stageError struct{ msg string }

func (e *stageError) Error() string { return e.msg }

// stepError says which part of the spec a staging error is about.
type stepError struct {
	what string
	err  error
}

func (e *stepError) Error() string { return e.what + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// safeMessage returns a message about err that is safe to show in a
// version's reason: no paths and no internals.
func safeMessage(err error) string {
	prefix := ""
	if se, ok := errors.AsType[*stepError](err); ok {
		prefix = se.what + ": "
	}
	if se, ok := errors.AsType[*stageError](err); ok {
		return prefix + se.msg
	}
	if ae, ok := errors.AsType[*atelier.Error](err); ok {
		return prefix + ae.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return prefix + "timed out"
	}
	return prefix + "an internal error (the server log has the details)"
}

var (
	errUnsafeZip = &stageError{"the zip has an entry with an absolute path, a '..' element or a link"}
	errZipTooBig = &stageError{"the zip unpacks to more than the server allows"}
)

// objectReaderAt reads an object with range requests, one 64 KiB window at
// a time, so that archive/zip can read a zip's directory without
// downloading it.
type objectReaderAt struct {
	ctx  context.Context
	s    atelier.ObjectService
	p    obsPath
	size int64

	winOff int64
	win    []byte
}

const readWindow = 64 << 10

func (r *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= r.size {
			return n, io.EOF
		}
		if r.win == nil || o < r.winOff || o >= r.winOff+int64(len(r.win)) {
			start := o - o%readWindow
			length := min(int64(readWindow), r.size-start)
			_, rc, _, err := r.s.GetObject(r.ctx, r.p.Bucket, r.p.Key, &atelier.Range{Offset: start, Length: length})
			if err != nil {
				return n, err
			}
			buf := make([]byte, length)
			_, err = io.ReadFull(rc, buf)
			rc.Close()
			if err != nil {
				return n, err
			}
			r.winOff, r.win = start, buf
		}
		n += copy(p[n:], r.win[o-r.winOff:])
	}
	return n, nil
}

// stageSource puts the directory, zip or object src into the local
// directory dst: a directory's objects under their relative keys, a zip
// unpacked, an object as its base name.
func (s *Service) stageSource(ctx context.Context, src *source, dst, tmpDir string) error {
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return err
	}
	switch src.kind {
	case srcDir:
		return s.downloadDir(ctx, src.obsPath, dst)
	case srcZip:
		tmp := filepath.Join(tmpDir, "download.zip")
		if err := s.downloadObject(ctx, src.obsPath, tmp); err != nil {
			return err
		}
		defer os.Remove(tmp)
		return unzip(tmp, dst, s.opts.MaxUnzipBytes)
	default:
		return s.downloadObject(ctx, src.obsPath, filepath.Join(dst, path.Base(src.Key)))
	}
}

// downloadDir downloads every object under the directory src into dst.
func (s *Service) downloadDir(ctx context.Context, src obsPath, dst string) error {
	q := atelier.ListQuery{Prefix: src.Key}
	for {
		l, err := s.objects.ListObjects(ctx, src.Bucket, q)
		if err != nil {
			return err
		}
		for _, o := range l.Objects {
			rel := strings.TrimPrefix(o.Key, src.Key)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a directory marker
			}
			lp := filepath.FromSlash(rel)
			if !filepath.IsLocal(lp) {
				continue
			}
			if err := s.downloadObject(ctx, obsPath{Bucket: src.Bucket, Key: o.Key}, filepath.Join(dst, lp)); err != nil {
				return err
			}
		}
		if !l.IsTruncated {
			return nil
		}
		q.ContinuationToken = l.NextContinuationToken
	}
}

// downloadObject streams one object into the file dst.
func (s *Service) downloadObject(ctx context.Context, src obsPath, dst string) error {
	_, rc, _, err := s.objects.GetObject(ctx, src.Bucket, src.Key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, ctxReader{ctx, rc}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ctxReader stops a copy when ctx ends, so that a stop during a large
// download takes effect at once.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// unzip unpacks the zip file src into dst, refusing unsafe entries and
// more than maxBytes of content in all.
func unzip(src, dst string, maxBytes int64) error {
	zr, err := zip.OpenReader(src)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return &stageError{"the file is not a valid zip"}
	}
	defer zr.Close()
	left := maxBytes
	for _, f := range zr.File {
		rel, err := zipEntryPath(f)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o750); err != nil {
				return err
			}
			continue
		}
		n, err := unzipFile(f, target, left)
		if err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func unzipFile(f *zip.File, target string, left int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return 0, err
	}
	rc, err := f.Open()
	if err != nil {
		return 0, &stageError{"the zip has a corrupt entry"}
	}
	defer rc.Close()
	// O_EXCL: an entry may not overwrite an earlier one (or what it could
	// have linked to).
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, &stageError{"the zip has a duplicate entry " + strconv.Quote(f.Name)}
		}
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, &stageError{"the zip has a corrupt entry"}
		}
		return n, err
	}
	if n > left {
		return n, errZipTooBig
	}
	return n, nil
}

// layout is where a version's files live in its working directory.
type layout struct {
	dir     string // the working directory
	code    string // dir/code
	inputs  []string
	outputs []string
	tmp     string // dir/.stage, removed after staging
}

func newLayout(dir string, spec *atelier.JobSpec) *layout {
	l := &layout{dir: dir, code: filepath.Join(dir, "code"), tmp: filepath.Join(dir, ".stage")}
	for i := range spec.Inputs {
		l.inputs = append(l.inputs, filepath.Join(dir, "inputs", strconv.Itoa(i)))
	}
	for i := range spec.Outputs {
		l.outputs = append(l.outputs, filepath.Join(dir, "outputs", strconv.Itoa(i)))
	}
	return l
}

// stage fills the working directory of a version from the object store:
// the code, every input and an empty directory per output. It starts from
// an empty directory, so that staging again after a failure is safe.
func (s *Service) stage(ctx context.Context, spec *atelier.JobSpec, l *layout) error {
	if err := os.RemoveAll(l.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(l.tmp, 0o750); err != nil {
		return err
	}
	defer os.RemoveAll(l.tmp)
	if err := os.MkdirAll(l.code, 0o750); err != nil {
		return err
	}
	if spec.CodeDir != "" {
		src, err := s.resolveSource(ctx, spec.CodeDir, "spec.code_dir")
		if err != nil {
			return err
		}
		if err := s.stageSource(ctx, src, l.code, l.tmp); err != nil {
			return &stepError{"spec.code_dir", err}
		}
	}
	for i, in := range spec.Inputs {
		if in.DatasetID != "" {
			field := fmt.Sprintf("spec.inputs[%d]", i)
			if err := s.stageDataset(ctx, in, l.inputs[i], field); err != nil {
				return &stepError{field, err}
			}
			continue
		}
		field := fmt.Sprintf("spec.inputs[%d].obs_path", i)
		src, err := s.resolveSource(ctx, in.ObsPath, field)
		if err != nil {
			return err
		}
		if err := s.stageSource(ctx, src, l.inputs[i], l.tmp); err != nil {
			return &stepError{field, err}
		}
	}
	for _, o := range l.outputs {
		if err := os.MkdirAll(o, 0o750); err != nil {
			return err
		}
	}
	return nil
}
