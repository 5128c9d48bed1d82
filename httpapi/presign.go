package httpapi

import (
	"net/http"
	"net/url"

	"github.com/atelier-dev/atelier"
)

// presignParams document the query parameters of a presigned URL on the
// routes that take one.
var presignParams = []param{
	{Name: atelier.PresignExpiresParam, Desc: "Presigned URL: its expiry, in seconds since the epoch."},
	{Name: atelier.PresignScopeParam, Desc: "Presigned URL: <access>:<tenant>[:<key prefix>], access get, read or write."},
	{Name: atelier.PresignSignatureParam, Desc: "Presigned URL: its signature. With the two others it stands in for Authorization."},
}

// hasPresignParams reports whether r carries any parameter of a presigned
// URL.
func hasPresignParams(r *http.Request) bool {
	q := r.URL.Query()
	for _, p := range presignParams {
		if q.Has(p.Name) {
			return true
		}
	}
	return false
}

// presigned authenticates a request made with a presigned URL: the
// principal is the grant's tenant, for exactly what the grant allows on
// this route. Anything else is CodePresignDenied (403).
func (s *Server) presigned(r *http.Request, rt *route) (*atelier.Principal, error) {
	deny := atelier.CodePresignDenied.Errorf
	if s.presigner == nil {
		return nil, deny("This server does not accept presigned URLs.").WithField(atelier.PresignSignatureParam)
	}
	if rt.Presign == "" {
		return nil, deny("A presigned URL does not allow %s on this route.", r.Method).WithField(atelier.PresignScopeParam)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, deny("The query string is not validly percent-encoded.").WithField(atelier.PresignSignatureParam)
	}
	for _, p := range presignParams {
		if len(q[p.Name]) > 1 {
			return nil, deny("%s appears more than once.", p.Name).WithField(p.Name)
		}
	}
	key := r.PathValue("key")
	switch rt.Presign {
	case atelier.OpListObjects:
		key = q.Get("prefix")
	case atelier.OpPutObject:
		// A copy would read an object the grant says nothing about.
		if r.Header.Get(headerCopySource) != "" {
			return nil, deny("A presigned URL cannot copy objects (%s).", headerCopySource).WithField(atelier.PresignScopeParam)
		}
	}
	g, err := s.presigner.Verify(atelier.PresignedQueryFrom(q), rt.Presign, r.PathValue("bucket"), key)
	if err != nil {
		return nil, err
	}
	return &atelier.Principal{TenantID: g.Tenant, Role: atelier.RoleMember, ClientID: "presigned"}, nil
}
