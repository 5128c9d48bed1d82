package obs_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/obs"
)

// listKeys returns n distinct valid keys built from pieces that sort around
// the delimiters used below: bytes below and above "/", multi-byte UTF-8 and
// a 4-byte rune.
func listKeys(n int) []string {
	pieces := []string{"a", "b/", "c-", "é", "日", "/", "a/b", "\U0001F600", "~", "0", "x.y", "a/"}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var keys []string
	for len(keys) < n {
		var sb strings.Builder
		for range 1 + rng.IntN(5) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		k := sb.String()
		if seen[k] || obs.ValidateKey(k) != nil {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

// refList is the reference listing: every key after startAfter with the
// prefix, keys with the delimiter after the prefix rolled into their common
// prefix, each item once, in byte order. Prefixes are marked "P:", keys "K:".
func refList(keys []string, prefix, delim, startAfter string) []string {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	var items []string
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		item := "K:" + k
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				item = "P:" + k[:len(prefix)+i+len(delim)]
			}
		}
		if len(items) == 0 || items[len(items)-1] != item {
			items = append(items, item)
		}
	}
	return items
}

// pageItems merges a page's objects and common prefixes in byte order.
func pageItems(l *atelier.ObjectList) []string {
	var items []string
	for _, o := range l.Objects {
		items = append(items, "K:"+o.Key)
	}
	for _, p := range l.CommonPrefixes {
		items = append(items, "P:"+p)
	}
	slices.SortFunc(items, func(a, b string) int { return strings.Compare(a[2:], b[2:]) })
	return items
}

func TestListObjectsAgainstReference(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "list")
	keys := listKeys(2500)
	for _, k := range keys {
		h.mustPut(t, "list", k, "")
	}
	tests := []struct {
		prefix, delim, startAfter string
		maxKeys                   int
	}{
		{"", "/", "", 0},
		{"", "/", "", 7},
		{"", "", "", 0},
		{"", "", "", 333},
		{"a", "/", "", 3},
		{"a/", "/", "", 50},
		{"a/", "b/", "", 5},
		{"b/", "", "", 100},
		{"", "日", "", 10},
		{"", "é", "", 2},
		{"é", "/", "", 1},
		{"\U0001F600", "a", "", 4},
		{"", "/", "a/b", 100},
		{"", "", "c-", 1000},
		{"nothing", "/", "", 10},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q,delim=%q,after=%q,max=%d", tc.prefix, tc.delim, tc.startAfter, tc.maxKeys), func(t *testing.T) {
			want := refList(keys, tc.prefix, tc.delim, tc.startAfter)
			page := tc.maxKeys
			if page == 0 {
				page = atelier.MaxListKeys
			}
			q := atelier.ListQuery{Prefix: tc.prefix, Delimiter: tc.delim, MaxKeys: tc.maxKeys, StartAfter: tc.startAfter}
			var got []string
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatal("listing does not end")
				}
				l, err := h.svc.ListObjects(h.ctx, "list", q)
				if err != nil {
					t.Fatal(err)
				}
				items := pageItems(l)
				if len(items) > page || (l.IsTruncated && len(items) != page) {
					t.Fatalf("page %d has %d items (truncated %v); max_keys %d", pages, len(items), l.IsTruncated, page)
				}
				got = append(got, items...)
				if !l.IsTruncated {
					if l.NextContinuationToken != "" {
						t.Fatal("last page has a continuation token")
					}
					break
				}
				q.ContinuationToken = l.NextContinuationToken
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed %d items, reference %d\n got: %q\nwant: %q", len(got), len(want), head(got), head(want))
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 20)] }

func TestListObjectsBadParams(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "bkt")
	for _, k := range []string{"a/1", "a/2", "b"} {
		h.mustPut(t, "bkt", k, "")
	}
	l, err := h.svc.ListObjects(h.ctx, "bkt", atelier.ListQuery{Delimiter: "/", MaxKeys: 1})
	if err != nil || !l.IsTruncated {
		t.Fatalf("first page = %+v, %v", l, err)
	}
	token := l.NextContinuationToken
	for _, tc := range []struct {
		q     atelier.ListQuery
		field string
	}{
		{atelier.ListQuery{MaxKeys: 1001}, "max_keys"},
		{atelier.ListQuery{MaxKeys: -1}, "max_keys"},
		{atelier.ListQuery{ContinuationToken: "!!!"}, "continuation_token"},
		{atelier.ListQuery{ContinuationToken: "AAAA"}, "continuation_token"},
		{atelier.ListQuery{ContinuationToken: token[:len(token)-3]}, "continuation_token"},
		{atelier.ListQuery{ContinuationToken: token}, "continuation_token"},                              // other delimiter
		{atelier.ListQuery{ContinuationToken: token, Delimiter: "/", Prefix: "a"}, "continuation_token"}, // other prefix
		{atelier.ListQuery{Prefix: "bad\xff"}, "prefix"},
		{atelier.ListQuery{Delimiter: "\x00"}, "delimiter"},
	} {
		_, err := h.svc.ListObjects(h.ctx, "bkt", tc.q)
		wantCode(t, err, atelier.CodeInvalidListParam, tc.field)
	}
	_, err = h.svc.ListObjects(h.ctx, "nobkt", atelier.ListQuery{})
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	// The token resumes with the same parameters.
	l, err = h.svc.ListObjects(h.ctx, "bkt", atelier.ListQuery{Delimiter: "/", MaxKeys: 1, ContinuationToken: token})
	if err != nil || len(l.Objects) != 1 || l.Objects[0].Key != "b" || l.IsTruncated {
		t.Fatalf("second page = %+v, %v; want object b, last page", l, err)
	}
}
