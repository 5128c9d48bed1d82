package atelier

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer implements the few routes of docs/api.md that the SDK's own
// tests need, in memory. It is safe for concurrent use.
type fakeServer struct {
	*httptest.Server
	ak, sk   string
	pageSize int

	mu        sync.Mutex
	tokens    map[string]bool
	exchanges int
	objects   map[string][]byte // "bucket/key"
	buckets   map[string]bool
	rawPaths  []string
	copySrcs  []string
	putHook   func() // called inside each object PUT, outside the lock
	badSHA    bool   // answer downloads with a wrong x-atelier-sha256
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{ak: "AKTEST", sk: "secret", pageSize: 2, tokens: map[string]bool{"good": true},
		objects: map[string][]byte{}, buckets: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "error_msg": msg, "request_id": "req-1"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// revokeAll makes every issued token invalid, as an expiry would.
func (f *fakeServer) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", "req-1")
	if r.URL.Path == "/v1/auth/token" && r.Method == http.MethodPost {
		var body struct{ AccessKey, SecretKey string }
		var raw map[string]string
		json.NewDecoder(r.Body).Decode(&raw)
		body.AccessKey, body.SecretKey = raw["access_key"], raw["secret_key"]
		if body.AccessKey != f.ak || body.SecretKey != f.sk {
			writeErr(w, 401, "ATL.AUTH.0003", "The access key or secret key is wrong.")
			return
		}
		f.mu.Lock()
		f.exchanges++
		tok := fmt.Sprintf("tok-%d", f.exchanges)
		f.tokens[tok] = true
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"token": tok, "expires_in": 3600, "expires_at": time.Now().UTC(), "tenant_id": "t", "user_id": "u"})
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[auth]
	f.mu.Unlock()
	if !ok {
		writeErr(w, 401, "ATL.AUTH.0001", "Authentication is required.")
		return
	}
	if !valid {
		io.Copy(io.Discard, r.Body)
		writeErr(w, 401, "ATL.AUTH.0002", "The token is invalid.")
		return
	}
	if r.URL.Path == "/v1/auth/whoami" {
		writeJSON(w, 200, map[string]string{"user_id": "u", "tenant_id": "t", "email": "a@b.c", "role": "admin", "client_id": "atelier-cli"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/obs/")
	if !ok {
		writeErr(w, 404, "ATL.GEN.0004", "No route.")
		return
	}
	f.mu.Lock()
	f.rawPaths = append(f.rawPaths, r.URL.EscapedPath())
	f.mu.Unlock()
	rawBucket, rawKey, hasKey := strings.Cut(rest, "/")
	bucket, _ := url.PathUnescape(rawBucket)
	var key string
	if hasKey {
		segs := strings.Split(rawKey, "/")
		for i, s := range segs {
			segs[i], _ = url.PathUnescape(s)
		}
		key = strings.Join(segs, "/")
	}
	if !hasKey || key == "" {
		f.serveBucket(w, r, bucket)
		return
	}
	f.serveObject(w, r, bucket, key)
}

func (f *fakeServer) serveBucket(w http.ResponseWriter, r *http.Request, bucket string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		f.buckets[bucket] = true
		writeJSON(w, 201, map[string]any{"id": "id-" + bucket, "name": bucket, "created_at": time.Now().UTC()})
	case http.MethodHead:
		if !f.buckets[bucket] {
			w.WriteHeader(404)
		}
	case http.MethodGet:
		if !f.buckets[bucket] {
			writeErr(w, 404, "ATL.OBS.0003", fmt.Sprintf("bucket %q does not exist.", bucket))
			return
		}
		prefix, after := r.URL.Query().Get("prefix"), r.URL.Query().Get("continuation_token")
		var keys []string
		for k := range f.objects {
			b, key, _ := strings.Cut(k, "/")
			if b == bucket && strings.HasPrefix(key, prefix) && key > after {
				keys = append(keys, key)
			}
		}
		sort.Strings(keys)
		out := map[string]any{"bucket": bucket, "prefix": prefix, "common_prefixes": []string{}}
		if len(keys) > f.pageSize {
			keys = keys[:f.pageSize]
			out["is_truncated"], out["next_continuation_token"] = true, keys[len(keys)-1]
		}
		objs := []map[string]any{}
		for _, k := range keys {
			objs = append(objs, map[string]any{"bucket": bucket, "key": k, "size": len(f.objects[bucket+"/"+k])})
		}
		out["objects"] = objs
		writeJSON(w, 200, out)
	}
}

func (f *fakeServer) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	id := bucket + "/" + key
	switch r.Method {
	case http.MethodPut:
		if f.putHook != nil {
			f.putHook()
		}
		var data []byte
		if src := r.Header.Get("X-Atelier-Copy-Source"); src != "" {
			f.mu.Lock()
			f.copySrcs = append(f.copySrcs, src)
			u, _ := url.PathUnescape(strings.TrimPrefix(src, "/"))
			data = f.objects[u]
			f.mu.Unlock()
		} else {
			var err error
			if data, err = io.ReadAll(r.Body); err != nil {
				writeErr(w, 400, "ATL.OBS.0009", "short body")
				return
			}
			if r.ContentLength >= 0 && int64(len(data)) != r.ContentLength {
				writeErr(w, 400, "ATL.OBS.0009", "short body")
				return
			}
		}
		f.mu.Lock()
		f.objects[id] = data
		f.mu.Unlock()
		m := md5.Sum(data)
		s := sha256.Sum256(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(m[:])+`"`)
		writeJSON(w, 200, map[string]any{"bucket": bucket, "key": key, "size": len(data), "etag": hex.EncodeToString(m[:]),
			"sha256": hex.EncodeToString(s[:]), "content_type": r.Header.Get("Content-Type"), "last_modified": time.Now().UTC()})
	case http.MethodGet, http.MethodHead:
		f.mu.Lock()
		data, ok := f.objects[id]
		bad := f.badSHA
		f.mu.Unlock()
		if !ok {
			if r.Method == http.MethodHead {
				w.WriteHeader(404)
				return
			}
			writeErr(w, 404, "ATL.OBS.0006", "The object does not exist.")
			return
		}
		s := sha256.Sum256(data)
		if bad {
			s[0] ^= 1
		}
		w.Header().Set("x-atelier-sha256", hex.EncodeToString(s[:]))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Last-Modified", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	case http.MethodDelete:
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.objects[id]; !ok {
			writeErr(w, 404, "ATL.OBS.0006", "The object does not exist.")
			return
		}
		delete(f.objects, id)
		w.WriteHeader(204)
	}
}
