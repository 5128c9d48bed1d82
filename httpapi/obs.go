package httpapi

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/atelier-dev/atelier"
)

// Object headers beyond the standard ones.
const (
	headerSHA256     = "x-atelier-sha256"
	headerCopySource = "x-atelier-copy-source"
)

// copyBufSize is the buffer of object downloads: large enough that a
// multi-gigabyte download is a few thousand syscalls, not a million.
const copyBufSize = 1 << 20

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

func bucketJSON(b *atelier.Bucket) *atelier.Bucket {
	c := *b
	c.CreatedAt = utc(c.CreatedAt)
	return &c
}

func objectJSON(o *atelier.Object) *atelier.Object {
	c := *o
	c.LastModified = utc(c.LastModified)
	return &c
}

func (s *Server) handleListBuckets(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.objects.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	out := make([]*atelier.Bucket, 0, len(bs))
	for _, b := range bs {
		out = append(out, bucketJSON(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": out})
	return nil
}

func (s *Server) handleCreateBucket(w http.ResponseWriter, r *http.Request) error {
	b, err := s.objects.CreateBucket(r.Context(), r.PathValue("bucket"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, bucketJSON(b))
	return nil
}

func (s *Server) handleHeadBucket(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.objects.GetBucket(r.Context(), r.PathValue("bucket")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleDeleteBucket(w http.ResponseWriter, r *http.Request) error {
	if err := s.objects.DeleteBucket(r.Context(), r.PathValue("bucket")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseListQuery reads the listing parameters of q.
func parseListQuery(q url.Values) (atelier.ListQuery, error) {
	lq := atelier.ListQuery{
		Prefix:            q.Get("prefix"),
		Delimiter:         q.Get("delimiter"),
		ContinuationToken: q.Get("continuation_token"),
		StartAfter:        q.Get("start_after"),
	}
	if v, ok := q["max_keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > atelier.MaxListKeys {
			return lq, atelier.CodeInvalidListParam.Errorf("max_keys must be an integer from 1 to %d, not %q.", atelier.MaxListKeys, v[0]).WithField("max_keys")
		}
		lq.MaxKeys = n
	}
	return lq, nil
}

func (s *Server) handleListObjects(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return atelier.CodeInvalidListParam.Errorf("The query string is not validly percent-encoded.")
	}
	lq, err := parseListQuery(q)
	if err != nil {
		return err
	}
	l, err := s.objects.ListObjects(r.Context(), r.PathValue("bucket"), lq)
	if err != nil {
		return err
	}
	out := *l
	out.Objects = make([]*atelier.Object, 0, len(l.Objects))
	for _, o := range l.Objects {
		out.Objects = append(out.Objects, objectJSON(o))
	}
	if out.CommonPrefixes == nil {
		out.CommonPrefixes = []string{}
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// parseDigests reads Content-MD5 and x-atelier-sha256.
func parseDigests(h http.Header) (md5, sha []byte, err error) {
	if v := h.Get("Content-MD5"); v != "" {
		md5, err = base64.StdEncoding.DecodeString(v)
		if err != nil || len(md5) != 16 {
			return nil, nil, atelier.CodeInvalidDigest.Errorf("Content-MD5 must be the base64 of a 16-byte MD5 digest.").WithField("Content-MD5")
		}
	}
	if v := h.Get(headerSHA256); v != "" {
		sha, err = hex.DecodeString(v)
		if err != nil || len(sha) != 32 {
			return nil, nil, atelier.CodeInvalidDigest.Errorf("x-atelier-sha256 must be 64 hex characters.").WithField(headerSHA256)
		}
	}
	return md5, sha, nil
}

// parseCopySource splits "/<bucket>/<percent-encoded key>".
func parseCopySource(v string) (bucket, key string, err error) {
	bad := atelier.CodeInvalidCopySource.Errorf("x-atelier-copy-source must be /<bucket>/<percent-encoded key>.").WithField(headerCopySource)
	rest, ok := strings.CutPrefix(v, "/")
	if !ok {
		return "", "", bad
	}
	rawBucket, rawKey, ok := strings.Cut(rest, "/")
	if !ok || rawBucket == "" || rawKey == "" {
		return "", "", bad
	}
	if bucket, err = url.PathUnescape(rawBucket); err != nil {
		return "", "", bad
	}
	if key, err = url.PathUnescape(rawKey); err != nil {
		return "", "", bad
	}
	return bucket, key, nil
}

// limitedBody is http.MaxBytesReader that remembers hitting its limit, so
// that whatever the service makes of the read error, the answer is 413.
type limitedBody struct {
	io.ReadCloser
	hit bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var maxErr *http.MaxBytesError
	if err != nil && errors.As(err, &maxErr) {
		b.hit = true
	}
	return n, err
}

func (s *Server) errTooLarge() error {
	return atelier.CodeObjectTooLarge.Errorf("The object is larger than the server's maximum of %d bytes.", s.maxObjectBytes)
}

func (s *Server) handlePutObject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if src := r.Header.Get(headerCopySource); src != "" {
		if r.ContentLength > 0 {
			return atelier.CodeInvalidCopySource.Errorf("A copy request must have an empty body.").WithField(headerCopySource)
		}
		srcBucket, srcKey, err := parseCopySource(src)
		if err != nil {
			return err
		}
		o, err := s.objects.CopyObject(ctx, bucket, key, srcBucket, srcKey)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", `"`+o.ETag+`"`)
		writeJSON(w, http.StatusOK, objectJSON(o))
		return nil
	}
	md5, sha, err := parseDigests(r.Header)
	if err != nil {
		return err
	}
	if r.ContentLength > s.maxObjectBytes {
		return s.errTooLarge()
	}
	body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.maxObjectBytes)}
	o, err := s.objects.PutObject(ctx, bucket, key, body, atelier.PutOptions{
		Size:        r.ContentLength,
		ContentType: cmp.Or(r.Header.Get("Content-Type"), "application/octet-stream"),
		MD5:         md5,
		SHA256:      sha,
	})
	if body.hit {
		return s.errTooLarge()
	}
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+o.ETag+`"`)
	writeJSON(w, http.StatusOK, objectJSON(o))
	return nil
}

// setObjectHeaders sets the metadata headers of a download or HEAD.
func setObjectHeaders(h http.Header, o *atelier.Object) {
	h.Set("Content-Type", cmp.Or(o.ContentType, "application/octet-stream"))
	h.Set("ETag", `"`+o.ETag+`"`)
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	h.Set(headerSHA256, o.SHA256)
	h.Set("Accept-Ranges", "bytes")
	if !passiveType(o.ContentType) {
		// Objects carry the uploader's type: one a browser would render
		// or run (HTML, SVG, XML, scripts, …) must not do so on the
		// server's origin.
		h.Set("Content-Disposition", "attachment")
	}
}

// passiveType reports whether a browser may show an object of this content
// type inline without running anything from it: images other than SVG,
// audio, video, plain text, CSV, JSON and archives. Everything else,
// unparsable types included, is served as an attachment.
func passiveType(contentType string) bool {
	if contentType == "" {
		return true // served as application/octet-stream
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	top, sub, _ := strings.Cut(mt, "/")
	switch top {
	case "image":
		return !strings.Contains(sub, "svg") && !strings.Contains(sub, "xml")
	case "audio", "video":
		return true
	}
	switch mt {
	case "text/plain", "text/csv", "application/json", "application/octet-stream",
		"application/zip", "application/gzip", "application/x-tar", "application/x-gzip":
		return true
	}
	return false
}

func (s *Server) handleGetObject(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return s.handleHeadObject(w, r)
	}
	ctx := r.Context()
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	rng := ParseRange(r.Header.Get("Range"))
	o, rc, served, err := s.objects.GetObject(ctx, bucket, key, rng)
	if err != nil {
		if atelier.IsKind(err, atelier.RangeNotSatisfied) {
			size := int64(-1)
			if o != nil {
				size = o.Size
			} else if st, serr := s.objects.StatObject(ctx, bucket, key); serr == nil {
				size = st.Size
			}
			if size >= 0 {
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			}
		}
		return err
	}
	defer rc.Close()
	h := w.Header()
	setObjectHeaders(h, o)
	status := http.StatusOK
	length := o.Size
	if served != nil {
		status = http.StatusPartialContent
		length = served.Length
		h.Set("Content-Range", "bytes "+strconv.FormatInt(served.Offset, 10)+"-"+
			strconv.FormatInt(served.Offset+served.Length-1, 10)+"/"+strconv.FormatInt(o.Size, 10))
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)
	// writerOnly/readerOnly hide ReadFrom/WriteTo so the 1 MiB buffer is used.
	n, err := io.CopyBuffer(writerOnly{w}, readerOnly{rc}, *bufp)
	if err != nil {
		// The status is sent; all that is left is to cut the connection so
		// the client sees a short body rather than a complete-looking one.
		s.log.WarnContext(ctx, "download interrupted", "bucket", bucket, "written", n, "want", length, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

func (s *Server) handleHeadObject(w http.ResponseWriter, r *http.Request) error {
	o, err := s.objects.StatObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"))
	if err != nil {
		return err
	}
	setObjectHeaders(w.Header(), o)
	w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleDeleteObject(w http.ResponseWriter, r *http.Request) error {
	if err := s.objects.DeleteObject(r.Context(), r.PathValue("bucket"), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ParseRange parses a Range header of one byte range: "bytes=a-b",
// "bytes=a-" or "bytes=-n". It returns nil, meaning the whole object, for
// an absent header, one that does not parse, and several ranges, as RFC
// 9110 allows. A range's start past the end is for the service to refuse.
func ParseRange(h string) *atelier.Range {
	unit, spec, ok := strings.Cut(strings.TrimSpace(h), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, ok := parseDigits(last)
		if !ok || n == 0 {
			return nil
		}
		return &atelier.Range{Offset: -n, Length: -1}
	}
	a, ok := parseDigits(first)
	if !ok {
		return nil
	}
	if last == "" {
		return &atelier.Range{Offset: a, Length: -1}
	}
	b, ok := parseDigits(last)
	if !ok || b < a {
		return nil
	}
	return &atelier.Range{Offset: a, Length: b - a + 1}
}

// parseDigits parses a non-negative decimal of 1–18 digits (so sums
// cannot overflow int64).
func parseDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
