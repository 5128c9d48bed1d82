package obs_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/obs"
)

// presignT0 is the fake clock's start: the fuzz seeds in testdata were
// minted at it with presignKey, so they stay valid.
var presignT0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

var presignKey = bytes.Repeat([]byte{7}, 32)

// MustPresigner returns a Presigner over presignKey on a fake clock at
// presignT0.
func MustPresigner(tb testing.TB) (*obs.Presigner, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(presignT0)
	p, err := obs.NewPresigner(presignKey, clk)
	if err != nil {
		tb.Fatal(err)
	}
	return p, clk
}

func MustPresign(tb testing.TB, p *obs.Presigner, g atelier.ObjectGrant) atelier.PresignedQuery {
	tb.Helper()
	q, err := p.Presign(g)
	if err != nil {
		tb.Fatalf("Presign(%+v): %v", g, err)
	}
	return q
}

func grant(access atelier.ObjectAccess, key string) atelier.ObjectGrant {
	return atelier.ObjectGrant{Tenant: "tenant-a", Access: access, Bucket: "data", Key: key, Expires: presignT0.Add(time.Hour)}
}

// presignScopeTests are the scope rules: which request each grant allows.
var presignScopeTests = []struct {
	name   string
	g      atelier.ObjectGrant
	op     atelier.ObjectOp
	bucket string
	key    string
	ok     bool
}{
	{"get: the object", grant(atelier.AccessGet, "in/a.txt"), atelier.OpGetObject, "data", "in/a.txt", true},
	{"get: another object", grant(atelier.AccessGet, "in/a.txt"), atelier.OpGetObject, "data", "in/b.txt", false},
	{"get: a longer key", grant(atelier.AccessGet, "in/a.txt"), atelier.OpGetObject, "data", "in/a.txt2", false},
	{"get: another bucket", grant(atelier.AccessGet, "in/a.txt"), atelier.OpGetObject, "other", "in/a.txt", false},
	{"get: no listing", grant(atelier.AccessGet, "in/a.txt"), atelier.OpListObjects, "data", "in/a.txt", false},
	{"get: no upload", grant(atelier.AccessGet, "in/a.txt"), atelier.OpPutObject, "data", "in/a.txt", false},
	{"read: an object under the prefix", grant(atelier.AccessRead, "in/"), atelier.OpGetObject, "data", "in/x/y.bin", true},
	{"read: the listing of the prefix", grant(atelier.AccessRead, "in/"), atelier.OpListObjects, "data", "in/", true},
	{"read: a listing below the prefix", grant(atelier.AccessRead, "in/"), atelier.OpListObjects, "data", "in/x/", true},
	{"read: a listing above the prefix", grant(atelier.AccessRead, "in/"), atelier.OpListObjects, "data", "", false},
	{"read: a sibling prefix", grant(atelier.AccessRead, "in/"), atelier.OpGetObject, "data", "inside/a", false},
	{"read: outside the prefix", grant(atelier.AccessRead, "in/"), atelier.OpGetObject, "data", "out/a", false},
	{"read: another bucket", grant(atelier.AccessRead, "in/"), atelier.OpGetObject, "datb", "in/a", false},
	{"read: no upload", grant(atelier.AccessRead, "in/"), atelier.OpPutObject, "data", "in/a", false},
	{"read: the whole bucket", grant(atelier.AccessRead, ""), atelier.OpListObjects, "data", "", true},
	{"write: a key under the prefix", grant(atelier.AccessWrite, "out/"), atelier.OpPutObject, "data", "out/m/model.bin", true},
	{"write: outside the prefix", grant(atelier.AccessWrite, "out/"), atelier.OpPutObject, "data", "in/a", false},
	{"write: a sibling prefix", grant(atelier.AccessWrite, "out/"), atelier.OpPutObject, "data", "outer/a", false},
	{"write: no download", grant(atelier.AccessWrite, "out/"), atelier.OpGetObject, "data", "out/a", false},
	{"write: no listing", grant(atelier.AccessWrite, "out/"), atelier.OpListObjects, "data", "out/", false},
	{"write: another bucket", grant(atelier.AccessWrite, "out/"), atelier.OpPutObject, "datb", "out/a", false},
}

func TestPresignScope(t *testing.T) {
	t.Parallel()
	for _, tc := range presignScopeTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := MustPresigner(t)
			q := MustPresign(t, p, tc.g)
			g, err := p.Verify(q, tc.op, tc.bucket, tc.key)
			if !tc.ok {
				wantDenied(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := tc.g
			want.Expires = want.Expires.Truncate(time.Second)
			if g.Tenant != want.Tenant || g.Access != want.Access || g.Bucket != want.Bucket || g.Key != want.Key || !g.Expires.Equal(want.Expires) {
				t.Errorf("grant = %+v, want %+v", g, want)
			}
			// Allows, the pure rule, agrees.
			if err := tc.g.Allows(tc.op, tc.bucket, tc.key); err != nil {
				t.Errorf("Allows: %v", err)
			}
		})
	}
}

// wantDenied checks that err is CodePresignDenied naming a parameter.
func wantDenied(t *testing.T, err error) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Code != atelier.CodePresignDenied.ID || ae.Kind != atelier.PermissionDenied {
		t.Fatalf("error = %v; want %s", err, atelier.CodePresignDenied.ID)
	}
	switch ae.Field {
	case atelier.PresignExpiresParam, atelier.PresignScopeParam, atelier.PresignSignatureParam:
	default:
		t.Errorf("error names field %q, not a presign parameter", ae.Field)
	}
}

func TestPresignExpiry(t *testing.T) {
	t.Parallel()
	p, clk := MustPresigner(t)
	g := grant(atelier.AccessGet, "a")
	q := MustPresign(t, p, g)
	clk.Advance(time.Hour - time.Second) // the last second still works
	if _, err := p.Verify(q, atelier.OpGetObject, "data", "a"); err != nil {
		t.Fatalf("a second before the expiry: %v", err)
	}
	clk.Advance(time.Second)
	_, err := p.Verify(q, atelier.OpGetObject, "data", "a")
	wantDenied(t, err)
	if ae, _ := errors.AsType[*atelier.Error](err); ae.Field != atelier.PresignExpiresParam {
		t.Errorf("an expired URL names %q, want %s", ae.Field, atelier.PresignExpiresParam)
	}
	// Pushing the expiry forward breaks the signature.
	q.Expires = "9999999999"
	_, err = p.Verify(q, atelier.OpGetObject, "data", "a")
	wantDenied(t, err)
}

func TestPresignRefusesBadGrants(t *testing.T) {
	t.Parallel()
	p, _ := MustPresigner(t)
	for name, g := range map[string]atelier.ObjectGrant{
		"no tenant":         {Access: atelier.AccessGet, Bucket: "data", Key: "a", Expires: presignT0.Add(time.Hour)},
		"tenant with colon": {Tenant: "a:b", Access: atelier.AccessGet, Bucket: "data", Key: "a", Expires: presignT0.Add(time.Hour)},
		"unknown access":    {Tenant: "t", Access: "delete", Bucket: "data", Key: "a", Expires: presignT0.Add(time.Hour)},
		"past expiry":       {Tenant: "t", Access: atelier.AccessGet, Bucket: "data", Key: "a", Expires: presignT0},
		"bad bucket":        {Tenant: "t", Access: atelier.AccessGet, Bucket: "Data", Key: "a", Expires: presignT0.Add(time.Hour)},
		"get without key":   {Tenant: "t", Access: atelier.AccessGet, Bucket: "data", Expires: presignT0.Add(time.Hour)},
		"bad prefix":        {Tenant: "t", Access: atelier.AccessRead, Bucket: "data", Key: "../x/", Expires: presignT0.Add(time.Hour)},
	} {
		if _, err := p.Presign(g); atelier.ErrorKind(err) != atelier.Invalid {
			t.Errorf("%s: Presign = %v, want an invalid-parameter error", name, err)
		}
	}
	if _, err := obs.NewPresigner(make([]byte, 16), nil); err == nil {
		t.Error("NewPresigner with a 16-byte key: no error")
	}
}

func TestPresignOtherKey(t *testing.T) {
	t.Parallel()
	p, _ := MustPresigner(t)
	other, err := obs.NewPresigner(bytes.Repeat([]byte{8}, 32), clock.NewFake(presignT0))
	if err != nil {
		t.Fatal(err)
	}
	q := MustPresign(t, other, grant(atelier.AccessRead, "in/"))
	_, err = p.Verify(q, atelier.OpGetObject, "data", "in/a")
	wantDenied(t, err)
}

// presignMutationSeeds are valid presigned requests whose every mutation
// must fail.
var presignMutationSeeds = []struct {
	g   atelier.ObjectGrant
	op  atelier.ObjectOp
	key string
}{
	{grant(atelier.AccessGet, "in/a.txt"), atelier.OpGetObject, "in/a.txt"},
	{grant(atelier.AccessRead, "in/"), atelier.OpListObjects, "in/"},
	{grant(atelier.AccessRead, "in/"), atelier.OpGetObject, "in/x"},
	{grant(atelier.AccessWrite, "out/"), atelier.OpPutObject, "out/model.bin"},
	{grant(atelier.AccessWrite, ""), atelier.OpPutObject, "x"},
}

// TestPresignMutations changes, deletes or inserts every byte of every
// parameter of valid URLs: none verifies.
func TestPresignMutations(t *testing.T) {
	t.Parallel()
	p, _ := MustPresigner(t)
	for _, s := range presignMutationSeeds {
		q := MustPresign(t, p, s.g)
		if _, err := p.Verify(q, s.op, s.g.Bucket, s.key); err != nil {
			t.Fatalf("the unchanged %+v: %v", s.g, err)
		}
		for which := range 3 {
			for pos := range len(*param(&q, which)) + 1 {
				for _, mode := range []byte{0, 1, 2} {
					m := mutate(q, which, pos, mode, 'A')
					if m == q {
						continue
					}
					if _, err := p.Verify(m, s.op, s.g.Bucket, s.key); err == nil {
						t.Errorf("mutated %+v verifies", m)
					}
				}
			}
		}
	}
}

func param(q *atelier.PresignedQuery, which int) *string {
	switch which % 3 {
	case 0:
		return &q.Expires
	case 1:
		return &q.Scope
	}
	return &q.Signature
}

// mutate changes parameter which of q at pos: mode 0 replaces the byte
// with b (or with another byte when it is b), 1 deletes it, 2 inserts b.
func mutate(q atelier.PresignedQuery, which, pos int, mode, b byte) atelier.PresignedQuery {
	s := param(&q, which)
	v := []byte(*s)
	if len(v) > 0 {
		pos %= len(v) + 1
	} else {
		pos = 0
	}
	switch mode % 3 {
	case 0:
		if pos < len(v) {
			if v[pos] == b {
				b++
			}
			v[pos] = b
		}
	case 1:
		if pos < len(v) {
			v = append(v[:pos], v[pos+1:]...)
		}
	case 2:
		v = append(v[:pos], append([]byte{b}, v[pos:]...)...)
	}
	*s = string(v)
	return q
}

// FuzzPresignMutation mutates one byte of a valid presigned URL's
// parameters: the result never verifies.
func FuzzPresignMutation(f *testing.F) {
	for i := range presignMutationSeeds {
		f.Add(uint8(i), uint8(2), uint16(10), uint8(0), byte('x'))
	}
	f.Fuzz(func(t *testing.T, seed, which uint8, pos uint16, mode, b byte) {
		p, _ := MustPresigner(t)
		s := presignMutationSeeds[int(seed)%len(presignMutationSeeds)]
		q := MustPresign(t, p, s.g)
		m := mutate(q, int(which), int(pos), mode, b)
		if m == q {
			return
		}
		if _, err := p.Verify(m, s.op, s.g.Bucket, s.key); err == nil {
			t.Fatalf("mutated %+v verifies", m)
		}
	})
}

// FuzzPresignVerify feeds arbitrary parameters and requests to Verify
// (seeds in testdata/fuzz/FuzzPresignVerify, minted at presignT0 with
// presignKey): it never panics, and what it accepts is exactly what
// Presign makes of the grant it returns, for a request the grant allows.
func FuzzPresignVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, expires, scope, sig, op, bucket, key string) {
		p, _ := MustPresigner(t)
		q := atelier.PresignedQuery{Expires: expires, Scope: scope, Signature: sig}
		g, err := p.Verify(q, atelier.ObjectOp(op), bucket, key)
		if err != nil {
			if atelier.ErrorCode(err) != atelier.CodePresignDenied.ID {
				t.Fatalf("Verify error %v is not %s", err, atelier.CodePresignDenied.ID)
			}
			return
		}
		if again := MustPresign(t, p, *g); again != q {
			t.Fatalf("Verify accepted %+v, but the grant %+v presigns to %+v", q, g, again)
		}
		if err := g.Allows(atelier.ObjectOp(op), bucket, key); err != nil {
			t.Fatalf("Verify accepted a request its grant does not allow: %v", err)
		}
	})
}
