package obs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
)

// PresignKeyLabel is the label under which the server derives the key of
// presigned URLs from its secret key (secretbox.Box.DeriveKey): the secret
// key itself never signs anything.
const PresignKeyLabel = "atelier/obs/presign/v1"

// presignDomain starts every signed message, so that a signature made for
// something else under the same key never verifies here.
const presignDomain = "ATELIER-PRESIGN-V1"

// Presigner mints and verifies presigned object URLs
// (atelier.ObjectPresigner): an HMAC-SHA256, under a key of its own, over
// the access, the tenant, the bucket, the key or key prefix and the expiry.
// It is safe for concurrent use.
type Presigner struct {
	key   []byte
	clock clock.Clock
}

var _ atelier.ObjectPresigner = (*Presigner)(nil)

// NewPresigner returns a Presigner with key, at least 32 bytes derived for
// this purpose alone (secretbox.Box.DeriveKey(PresignKeyLabel)). clk
// decides what has expired (nil: the real clock).
func NewPresigner(key []byte, clk clock.Clock) (*Presigner, error) {
	if len(key) < 32 {
		return nil, errors.New("obs: the presign key must be at least 32 bytes")
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Presigner{key: append([]byte(nil), key...), clock: clk}, nil
}

// mac returns the signature of g (its Expires in whole seconds).
func (p *Presigner) mac(g *atelier.ObjectGrant) []byte {
	m := hmac.New(sha256.New, p.key)
	for _, f := range []string{presignDomain, string(g.Access), g.Tenant, g.Bucket, g.Key, strconv.FormatInt(g.Expires.Unix(), 10)} {
		writeField(m, f)
	}
	return m.Sum(nil)
}

// writeField writes f length-prefixed, so that no two field lists make the
// same message.
func writeField(h hash.Hash, f string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
	h.Write([]byte(f))
}

var sigEncoding = base64.RawURLEncoding.Strict()

// Presign implements atelier.ObjectPresigner.
func (p *Presigner) Presign(g atelier.ObjectGrant) (atelier.PresignedQuery, error) {
	inv := atelier.CodeInvalidParam.Errorf
	g.Expires = time.Unix(g.Expires.Unix(), 0)
	switch {
	case g.Tenant == "" || strings.ContainsAny(g.Tenant, ":\x00"):
		return atelier.PresignedQuery{}, inv("The grant's tenant must be set and hold no ':'.").WithField("tenant")
	case g.Access != atelier.AccessGet && g.Access != atelier.AccessRead && g.Access != atelier.AccessWrite:
		return atelier.PresignedQuery{}, inv("The grant's access %q is not get, read or write.", g.Access).WithField("access")
	case !g.Expires.After(p.clock.Now()):
		return atelier.PresignedQuery{}, inv("The grant's expiry is not in the future.").WithField("expires")
	}
	if err := ValidateBucketName(g.Bucket); err != nil {
		return atelier.PresignedQuery{}, err
	}
	if g.Access == atelier.AccessGet || g.Key != "" {
		if err := validateKey(g.Key, "key"); err != nil {
			return atelier.PresignedQuery{}, err
		}
	}
	scope := string(g.Access) + ":" + g.Tenant
	if g.Access != atelier.AccessGet {
		scope += ":" + g.Key
	}
	return atelier.PresignedQuery{
		Expires:   strconv.FormatInt(g.Expires.Unix(), 10),
		Scope:     scope,
		Signature: sigEncoding.EncodeToString(p.mac(&g)),
	}, nil
}

// Verify implements atelier.ObjectPresigner: it parses the parameters
// strictly (one spelling per grant), checks that the access allows op,
// compares the signature in constant time, then checks the expiry and
// that the key lies within the grant.
func (p *Presigner) Verify(q atelier.PresignedQuery, op atelier.ObjectOp, bucket, key string) (*atelier.ObjectGrant, error) {
	deny := atelier.CodePresignDenied.Errorf
	for _, f := range []struct{ name, v string }{
		{atelier.PresignExpiresParam, q.Expires}, {atelier.PresignScopeParam, q.Scope}, {atelier.PresignSignatureParam, q.Signature},
	} {
		if f.v == "" {
			return nil, deny("The presigned URL lacks %s.", f.name).WithField(f.name)
		}
	}
	exp, err := strconv.ParseInt(q.Expires, 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != q.Expires {
		return nil, deny("%s is not a time in seconds since the epoch.", atelier.PresignExpiresParam).WithField(atelier.PresignExpiresParam)
	}
	access, rest, _ := strings.Cut(q.Scope, ":")
	g := &atelier.ObjectGrant{Access: atelier.ObjectAccess(access), Bucket: bucket, Expires: time.Unix(exp, 0)}
	badScope := deny("%s is not <access>:<tenant>[:<prefix>].", atelier.PresignScopeParam).WithField(atelier.PresignScopeParam)
	switch g.Access {
	case atelier.AccessGet:
		g.Tenant, g.Key = rest, key
		if op != atelier.OpGetObject {
			return nil, g.Allows(op, bucket, key)
		}
	case atelier.AccessRead, atelier.AccessWrite:
		var ok bool
		if g.Tenant, g.Key, ok = strings.Cut(rest, ":"); !ok {
			return nil, badScope
		}
	default:
		return nil, badScope
	}
	if g.Tenant == "" || strings.ContainsAny(g.Tenant, ":\x00") {
		return nil, badScope
	}
	if (g.Access == atelier.AccessRead && op == atelier.OpPutObject) || (g.Access == atelier.AccessWrite && op != atelier.OpPutObject) {
		return nil, g.Allows(op, bucket, key)
	}
	// The length check also refuses the line breaks the decoder skips.
	sig, err := sigEncoding.DecodeString(q.Signature)
	if err != nil || len(sig) != sha256.Size || len(q.Signature) != sigEncoding.EncodedLen(sha256.Size) {
		return nil, deny("%s is not a signature.", atelier.PresignSignatureParam).WithField(atelier.PresignSignatureParam)
	}
	if !hmac.Equal(sig, p.mac(g)) {
		return nil, deny("The presigned URL's signature does not match: it was changed, or is for another object or server.").WithField(atelier.PresignSignatureParam)
	}
	if !g.Expires.After(p.clock.Now()) {
		return nil, deny("The presigned URL expired at %s.", g.Expires.UTC().Format(time.RFC3339)).WithField(atelier.PresignExpiresParam)
	}
	if err := g.Allows(op, bucket, key); err != nil {
		return nil, err
	}
	return g, nil
}
