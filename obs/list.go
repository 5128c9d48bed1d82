package obs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// tokenVersion starts every continuation token, so that the format can change.
const tokenVersion = 1

// tokenCheckLen is how many bytes of a hash of prefix and delimiter a token
// carries, to refuse it with other listing parameters.
const tokenCheckLen = 8

// encodeToken makes the opaque continuation token that resumes a listing
// after item, the last key or common prefix returned.
func encodeToken(prefix, delimiter, item string) string {
	b := make([]byte, 0, 1+tokenCheckLen+len(item))
	b = append(b, tokenVersion)
	b = append(b, tokenCheck(prefix, delimiter)...)
	b = append(b, item...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the item a token resumes after, or
// CodeInvalidListParam when it is malformed or was made for another prefix or
// delimiter.
func decodeToken(token, prefix, delimiter string) (string, error) {
	bad := atelier.CodeInvalidListParam.Errorf("The continuation token is not valid for this listing.").WithField("continuation_token")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 2+tokenCheckLen || b[0] != tokenVersion {
		return "", bad
	}
	if string(b[1:1+tokenCheckLen]) != string(tokenCheck(prefix, delimiter)) {
		return "", bad
	}
	item := string(b[1+tokenCheckLen:])
	if !strings.HasPrefix(item, prefix) || !utf8.ValidString(item) || len(item) > MaxKeyBytes {
		return "", bad
	}
	return item, nil
}

func tokenCheck(prefix, delimiter string) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s\x00%s", len(prefix), prefix, delimiter)
	return h.Sum(nil)[:tokenCheckLen]
}

// maxRune is U+10FFFF, the largest code point; its UTF-8 encoding sorts after
// every other one.
const maxRune = "\U0010FFFF"

// pastPrefix returns a bound that sorts after every valid key starting with
// cp and before every other key greater than cp. Keys are valid UTF-8 of at
// most MaxKeyBytes, so cp followed by enough U+10FFFF to be longer than any
// key will do, and it is valid UTF-8 itself, which PostgreSQL requires.
func pastPrefix(cp string) string {
	n := (MaxKeyBytes+1-len(cp))/len(maxRune) + 1
	return cp + strings.Repeat(maxRune, max(n, 1))
}

// ListObjects returns one page of a bucket's objects in byte order of their
// keys; see atelier.ListQuery. Each page costs queries in proportion to its
// size only: it seeks past the last item with a keyset condition, never
// skips with an offset, and jumps over all keys of a common prefix at once.
func (s *Service) ListObjects(ctx context.Context, bucket string, q atelier.ListQuery) (*atelier.ObjectList, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	maxKeys := q.MaxKeys
	if maxKeys == 0 {
		maxKeys = atelier.MaxListKeys
	}
	if maxKeys < 1 || maxKeys > atelier.MaxListKeys {
		return nil, atelier.CodeInvalidListParam.Errorf("max_keys must be between 1 and %d.", atelier.MaxListKeys).WithField("max_keys")
	}
	for _, p := range []struct{ name, v string }{{"prefix", q.Prefix}, {"delimiter", q.Delimiter}, {"start_after", q.StartAfter}} {
		if !utf8.ValidString(p.v) || strings.IndexByte(p.v, 0) >= 0 || len(p.v) > MaxKeyBytes {
			return nil, atelier.CodeInvalidListParam.Errorf("%s must be valid UTF-8 of at most %d bytes with no NUL.", p.name, MaxKeyBytes).WithField(p.name)
		}
	}
	after := q.StartAfter
	if q.ContinuationToken != "" {
		item, err := decodeToken(q.ContinuationToken, q.Prefix, q.Delimiter)
		if err != nil {
			return nil, err
		}
		after = item
		if cp, ok := commonPrefix(item, q.Prefix, q.Delimiter); ok && cp == item {
			after = pastPrefix(item)
		}
	}
	b, err := s.bucket(ctx, tenant, bucket, "bucket")
	if err != nil {
		return nil, err
	}

	out := &atelier.ObjectList{
		Bucket: b.Name, Prefix: q.Prefix, Delimiter: q.Delimiter,
		Objects: []*atelier.Object{}, CommonPrefixes: []string{},
	}
	count := 0
	last, prevAfter := "", ""
	for pass := 0; ; pass++ {
		// Every pass must seek strictly further, or a bug in the skip over
		// a common prefix would spin forever instead of failing.
		if pass > 0 && after <= prevAfter {
			return nil, fmt.Errorf("obs: list objects: listing made no progress past %q", after)
		}
		prevAfter = after
		// One more than fits, to know whether the page is truncated.
		limit := maxKeys - count + 1
		objs, err := s.st.ListObjects(ctx, b.ID, q.Prefix, after, limit)
		if err != nil {
			return nil, fmt.Errorf("obs: list objects: %w", err)
		}
		jumped := false
		for _, o := range objs {
			if count == maxKeys {
				out.IsTruncated = true
				out.NextContinuationToken = encodeToken(q.Prefix, q.Delimiter, last)
				return out, nil
			}
			if cp, ok := commonPrefix(o.Key, q.Prefix, q.Delimiter); ok {
				out.CommonPrefixes = append(out.CommonPrefixes, cp)
				count++
				last = cp
				after = pastPrefix(cp)
				jumped = true
				break
			}
			o.Bucket = b.Name
			out.Objects = append(out.Objects, o)
			count++
			last = o.Key
			after = o.Key
		}
		if !jumped && len(objs) < limit {
			return out, nil
		}
	}
}

// commonPrefix returns the common prefix that key rolls up into: the prefix
// plus everything up to and including the first delimiter after it.
func commonPrefix(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}
