package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atelier-dev/atelier"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes   int64 = 1 << 20 // 1 MiB
	DefaultMaxObjectBytes int64 = 5 << 30 // 5 GiB
)

// Options configure a Server. Zero fields take the defaults.
type Options struct {
	Auth          atelier.AuthService
	APIKeys       atelier.APIKeyService
	Objects       atelier.ObjectService
	Directory     atelier.DirectoryService
	Verifications atelier.VerificationService
	OIDC          atelier.OIDCProvider
	Training      atelier.TrainingService   // nil: the training routes answer 501
	Datasets      atelier.DatasetService    // nil: the dataset routes answer 501
	Callbacks     atelier.CallbackService   // nil: the callback routes answer 501
	Models        atelier.ModelService      // nil: the model routes answer 501
	Services      atelier.InferenceServices // nil: the service routes answer 501
	// Presigner verifies presigned object URLs; nil: such URLs are
	// refused.
	Presigner atelier.ObjectPresigner

	// Ready reports whether the store and the object store answer, for
	// /readyz. Nil means always ready.
	Ready func(ctx context.Context) error

	// Logger is wrapped with NewLogHandler, so every line logged with a
	// request's context carries its request_id. Default slog.Default().
	Logger *slog.Logger

	// Registerer and Gatherer are where the HTTP metrics go and what
	// /metrics serves. Default: one fresh registry for both.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	MaxBodyBytes   int64 // JSON bodies, default DefaultMaxBodyBytes
	MaxObjectBytes int64 // object uploads, default DefaultMaxObjectBytes
	// A request body must arrive within BodyReadGrace (default
	// DefaultBodyReadGrace) plus its size at MinBodyRate bytes a second
	// (default DefaultMinBodyRate; negative: no deadline), else 408.
	MinBodyRate   int64
	BodyReadGrace time.Duration

	// The gateway to services' instances: how long one request may take
	// (default DefaultPredictTimeout) and the most bytes of a request and
	// of an answer (default DefaultMaxPredictBytes, DefaultMaxPredictReplyBytes).
	PredictTimeout       time.Duration
	MaxPredictBytes      int64
	MaxPredictReplyBytes int64

	Version string // shown in the OpenAPI document
}

// Server is the HTTP API as an http.Handler. It is safe for concurrent use.
type Server struct {
	auth      atelier.AuthService
	apiKeys   atelier.APIKeyService
	objects   atelier.ObjectService
	dir       atelier.DirectoryService
	verify    atelier.VerificationService
	oidc      atelier.OIDCProvider
	training  atelier.TrainingService
	datasets  atelier.DatasetService
	callbacks atelier.CallbackService
	models    atelier.ModelService
	services  atelier.InferenceServices
	presigner atelier.ObjectPresigner
	ready     func(ctx context.Context) error
	log       *slog.Logger

	metricsHandler http.Handler
	metrics        *metrics
	maxBodyBytes   int64
	maxObjectBytes int64
	minBodyRate    int64
	bodyGrace      time.Duration
	version        string

	proxy                *http.Client
	predictTimeout       time.Duration
	maxPredictBytes      int64
	maxPredictReplyBytes int64

	table   []route
	mux     *http.ServeMux
	obs     map[string]map[string]*route // OBS pattern → method → route
	openapi []byte
}

// New returns a Server over the given services.
func New(opts Options) *Server {
	logger := cmp.Or(opts.Logger, slog.Default())
	s := &Server{
		auth:           opts.Auth,
		apiKeys:        opts.APIKeys,
		objects:        opts.Objects,
		dir:            opts.Directory,
		verify:         opts.Verifications,
		oidc:           opts.OIDC,
		training:       opts.Training,
		datasets:       opts.Datasets,
		callbacks:      opts.Callbacks,
		models:         opts.Models,
		services:       opts.Services,
		presigner:      opts.Presigner,
		ready:          opts.Ready,
		log:            slog.New(NewLogHandler(logger.Handler())),
		maxBodyBytes:   cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		maxObjectBytes: cmp.Or(opts.MaxObjectBytes, DefaultMaxObjectBytes),
		minBodyRate:    cmp.Or(opts.MinBodyRate, DefaultMinBodyRate),
		bodyGrace:      cmp.Or(opts.BodyReadGrace, DefaultBodyReadGrace),
		version:        cmp.Or(opts.Version, "dev"),

		proxy: &http.Client{Transport: newProxyTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		predictTimeout:       cmp.Or(opts.PredictTimeout, DefaultPredictTimeout),
		maxPredictBytes:      cmp.Or(opts.MaxPredictBytes, DefaultMaxPredictBytes),
		maxPredictReplyBytes: cmp.Or(opts.MaxPredictReplyBytes, DefaultMaxPredictReplyBytes),
	}
	reg, gat := opts.Registerer, opts.Gatherer
	if reg == nil && gat == nil {
		r := prometheus.NewRegistry()
		reg, gat = r, r
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics then go nowhere visible
	}
	if gat == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gat = g
		} else {
			gat = prometheus.DefaultGatherer
		}
	}
	s.metricsHandler = promhttp.HandlerFor(gat, promhttp.HandlerOpts{})
	s.metrics = newMetrics(reg)

	s.table = s.routes()
	s.mux = http.NewServeMux()
	s.obs = map[string]map[string]*route{}
	byPattern := map[string]map[string]*route{}
	var patterns []string
	for i := range s.table {
		rt := &s.table[i]
		if rt.isOBS() {
			if s.obs[rt.Pattern] == nil {
				s.obs[rt.Pattern] = map[string]*route{}
			}
			s.obs[rt.Pattern][rt.Method] = rt
			continue
		}
		if byPattern[rt.Pattern] == nil {
			byPattern[rt.Pattern] = map[string]*route{}
			patterns = append(patterns, rt.Pattern)
		}
		byPattern[rt.Pattern][rt.Method] = rt
	}
	for _, p := range patterns {
		methods := byPattern[p]
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { s.dispatch(w, r, methods) })
	}
	s.mux.HandleFunc("/", s.notFound)
	s.openapi = s.buildOpenAPI()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serveWithMiddleware(w, r)
}

// route sends r to its route: object paths by hand, the rest through the
// ServeMux.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if p == obsPrefix || strings.HasPrefix(p, obsPrefix+"/") {
		s.serveOBS(w, r, p)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// serveOBS dispatches /v1/obs[/{bucket}[/{key...}]] from the escaped path,
// so that "//", "." and ".." in keys reach the service unchanged (which
// refuses ".." segments). A trailing "/" after the bucket means the bucket.
func (s *Server) serveOBS(w http.ResponseWriter, r *http.Request, escaped string) {
	rest := strings.TrimPrefix(strings.TrimPrefix(escaped, obsPrefix), "/")
	pattern := obsPrefix
	var bucket, key string
	if rest != "" {
		rawBucket, rawKey, hasKey := strings.Cut(rest, "/")
		var err error
		if bucket, err = url.PathUnescape(rawBucket); err != nil {
			s.writeError(w, r, atelier.CodeInvalidBucketName.Errorf("The bucket name in the path is not validly percent-encoded.").WithField("bucket"))
			return
		}
		pattern = obsPrefix + "/{bucket}"
		if hasKey && rawKey != "" {
			if key, err = url.PathUnescape(rawKey); err != nil {
				s.writeError(w, r, atelier.CodeInvalidObjectKey.Errorf("The object key in the path is not validly percent-encoded.").WithField("key"))
				return
			}
			pattern = obsPrefix + "/{bucket}/{key...}"
		}
	}
	methods := s.obs[pattern]
	if bucket != "" {
		r.SetPathValue("bucket", bucket)
	}
	if key != "" {
		r.SetPathValue("key", key)
	}
	s.dispatch(w, r, methods)
}

// dispatch picks the route for r's method among those of one pattern; HEAD
// falls back to GET. Other methods get 405 with Allow.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, methods map[string]*route) {
	rt, ok := methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		rt, ok = methods[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(methods)+1)
		for m := range methods {
			allow = append(allow, m)
		}
		if methods[http.MethodGet] != nil && methods[http.MethodHead] == nil {
			allow = append(allow, http.MethodHead)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, atelier.CodeMethodNotAllowed.Errorf("Method %s is not allowed here; use %s.", r.Method, strings.Join(allow, ", ")))
		// The route exists: label it, unlike a path that matches nothing.
		for _, other := range methods {
			infoOf(r.Context()).route = other.Pattern
			break
		}
		return
	}
	s.serveRoute(w, r, rt)
}

// serveRoute runs one route: label, authentication, handler, error.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route) {
	if ri := infoOf(r.Context()); ri != nil {
		ri.route = rt.Pattern
	}
	if rt.Auth {
		authenticate := s.authenticate
		if r.Header.Get("Authorization") == "" && hasPresignParams(r) {
			authenticate = func(r *http.Request) (*atelier.Principal, error) { return s.presigned(r, rt) }
		}
		p, err := authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r = r.WithContext(atelier.NewContextWithPrincipal(r.Context(), p))
	}
	if err := rt.Handler(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// notFound answers a path that matches no route.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, atelier.CodeRouteNotFound.Errorf("No route matches %s %s.", r.Method, r.URL.Path))
}

// bearerToken returns the token of an Authorization: Bearer header, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate resolves the request's bearer token to its principal.
func (s *Server) authenticate(r *http.Request) (*atelier.Principal, error) {
	token := bearerToken(r)
	if token == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authentication is required: send Authorization: Bearer <token>.")
	}
	p, err := s.auth.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, atelier.CodeInvalidToken.Errorf("The bearer token is unknown, revoked or expired.")
	}
	return p, nil
}
