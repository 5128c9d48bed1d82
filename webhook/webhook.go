// Package webhook delivers events to the apps that subscribed to them
// (CONTRACT §5): it manages apps' callback subscriptions, proves a callback
// URL with the CHECK_URL handshake before saving it, and runs the
// dispatcher that turns the store's transactional outbox into signed,
// optionally encrypted POSTs with retries, backoff, dead letters and
// redelivery.
//
// Delivery is at least once. The store writes an event in the same
// transaction as the change that causes it; the dispatcher fans each event
// out into one delivery per subscribed app, leases due deliveries, sends
// them and records each attempt only while its lease holds. A delivery
// acknowledged by the receiver is sent again only when the dispatcher that
// sent it died (or lost its lease) before recording the answer: at most once
// more per such failure, with the same nonce, which receivers de-duplicate.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/secretbox"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultWorkers     = 32
	DefaultPerApp      = 8
	DefaultMaxAttempts = 12
	DefaultMaxAge      = 24 * time.Hour
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 10 * time.Minute
	DefaultOverlap     = 24 * time.Hour
	DefaultPoll        = time.Second

	maxOverlap     = 30 * 24 * time.Hour
	replyKeep      = 1024     // bytes of a reply body kept for the owner
	replyRead      = 64 << 10 // bytes of a reply body read at most
	fanOutBatch    = 500
	challengeBytes = 16
	tokenBytes     = 32
)

// Apps finds an app for the caller of ctx, checking that the caller may
// manage it (identity's DirectoryService.GetApp).
type Apps interface {
	GetApp(ctx context.Context, clientID string) (*atelier.App, error)
}

// Options configures a Service. Store, Apps and Box are required.
type Options struct {
	Store store.CallbackStore
	Apps  Apps
	// Box seals the keys and security tokens at rest.
	Box   *secretbox.Box
	Clock clock.Clock // default: the real clock
	// AllowPrivate lets callback URLs target loopback, private and
	// link-local addresses (ATELIER_CALLBACK_ALLOW_PRIVATE).
	AllowPrivate bool
	// Timeout bounds one POST, from dialing to the end of the reply.
	Timeout time.Duration
	// Workers bounds the POSTs in flight in this process; PerApp bounds
	// one app's, across every dispatcher.
	Workers int
	PerApp  int
	// MaxAttempts and MaxAge: a delivery that failed this often, or whose
	// event is this old, is dead-lettered.
	MaxAttempts int
	MaxAge      time.Duration
	// BackoffBase and BackoffMax shape the retry delay: attempt n waits
	// min(BackoffMax, BackoffBase·2^(n-1)), of which a random half.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Poll is how often the dispatcher looks for work it was not told of
	// (events committed by other processes, retries falling due).
	Poll       time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer // default: none
	// Client overrides the HTTP client (tests); its transport should
	// refuse blocked addresses unless AllowPrivate.
	Client *http.Client
	// Resolver overrides the resolver URL checks use (tests).
	Resolver resolver
	// Audit records the changes to subscriptions and redeliveries
	// (identity's Service.Audit); nil records nothing.
	Audit func(ctx context.Context, e atelier.AuditEvent)
}

// Service implements atelier.CallbackService and runs the dispatcher. It
// is safe for concurrent use.
type Service struct {
	o       Options
	client  *http.Client
	metrics *metrics
	wake    chan struct{}
	breaker *breaker
	// claimMu orders the breaker's snapshot and the claim that uses it
	// against recording an attempt's outcome (the breaker, then the store),
	// so that no claim uses a snapshot older than an outcome the store
	// already shows: a receiver's failures pause its app before another of
	// its deliveries is claimed.
	claimMu sync.Mutex

	keysMu sync.Mutex
	keys   map[string]*atelier.CallbackKeys // sealed string → keys
}

var _ atelier.CallbackService = (*Service)(nil)

// New returns a Service; call Run to dispatch.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Apps == nil || o.Box == nil {
		return nil, errors.New("webhook: Store, Apps and Box are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	setDefault(&o.Timeout, DefaultTimeout)
	setDefault(&o.Workers, DefaultWorkers)
	setDefault(&o.PerApp, DefaultPerApp)
	setDefault(&o.MaxAttempts, DefaultMaxAttempts)
	setDefault(&o.MaxAge, DefaultMaxAge)
	setDefault(&o.BackoffBase, DefaultBackoffBase)
	setDefault(&o.BackoffMax, DefaultBackoffMax)
	setDefault(&o.Poll, DefaultPoll)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Audit == nil {
		o.Audit = func(context.Context, atelier.AuditEvent) {}
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	s := &Service{o: o, client: o.Client, wake: make(chan struct{}, 1), breaker: newBreaker(),
		keys: map[string]*atelier.CallbackKeys{}}
	if s.client == nil {
		s.client = newClient(o.AllowPrivate, max(o.PerApp, 2))
	}
	s.metrics = newMetrics(o.Registerer, o.Store, func() int { paused, _ := s.breaker.state(s.o.Clock.Now()); return len(paused) })
	return s, nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// notFound is the answer for an app without a callback.
func notFound(clientID string) error {
	return atelier.CodeCallbackNotFound.Errorf("The app %q has no callback.", clientID)
}

// app checks that the caller may manage the app and returns it.
func (s *Service) app(ctx context.Context, clientID string) (*atelier.App, error) {
	return s.o.Apps.GetApp(ctx, clientID)
}

// subscription returns the app's subscription, promoting staged keys
// whose time came.
func (s *Service) subscription(ctx context.Context, clientID string) (*atelier.Subscription, error) {
	sub, err := s.o.Store.GetSubscription(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(clientID)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: get subscription: %w", err)
	}
	if sub.SealedNext == "" || s.o.Clock.Now().Before(sub.NextAt) {
		return sub, nil
	}
	return s.update(ctx, clientID, func(sub *atelier.Subscription) error {
		if sub.SealedNext != "" && !s.o.Clock.Now().Before(sub.NextAt) {
			if err := s.promote(sub); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) update(ctx context.Context, clientID string, fn func(*atelier.Subscription) error) (*atelier.Subscription, error) {
	sub, err := s.o.Store.UpdateSubscription(ctx, clientID, fn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(clientID)
	}
	if err != nil && atelier.ErrorCode(err) == atelier.CodeInternal.ID {
		return nil, fmt.Errorf("webhook: update subscription: %w", err)
	}
	return sub, err
}

// promote makes a subscription's staged keys current.
func (s *Service) promote(sub *atelier.Subscription) error {
	next, err := s.open(sub.ClientID, sub.SealedNext)
	if err != nil {
		return err
	}
	sub.Sealed, sub.SealedNext, sub.NextAt = sub.SealedNext, "", time.Time{}
	sub.Encrypted = next.EncryptionKey != ""
	sub.UpdatedAt = s.o.Clock.Now()
	return nil
}

// GetCallback returns the app's subscription.
func (s *Service) GetCallback(ctx context.Context, clientID string) (*atelier.Subscription, error) {
	if _, err := s.app(ctx, clientID); err != nil {
		return nil, err
	}
	return s.subscription(ctx, clientID)
}

// SetCallback creates or changes the app's subscription, proving a new URL
// or new keys with CHECK_URL before anything is saved.
func (s *Service) SetCallback(ctx context.Context, clientID string, spec atelier.SubscriptionSpec) (_ *atelier.SubscriptionResult, err error) {
	defer s.record(ctx, "app.callback.set", clientID, &err)
	app, err := s.app(ctx, clientID)
	if err != nil {
		return nil, err
	}
	now := s.o.Clock.Now()
	old, err := s.subscription(ctx, app.ClientID)
	if err != nil && !noCallback(err) {
		return nil, err
	}
	sub := &atelier.Subscription{ClientID: app.ClientID, TenantID: app.TenantID, Enabled: true,
		EventTypes: slices.Clone(atelier.EventTypes), CreatedAt: now}
	var keys atelier.CallbackKeys
	if old != nil {
		c := *old
		sub = &c
		k, err := s.open(old.ClientID, old.Sealed)
		if err != nil {
			return nil, err
		}
		keys = *k
	}
	newKeys, generated, err := mergeKeys(keys, spec, old == nil)
	if err != nil {
		return nil, err
	}
	if spec.URL != nil {
		sub.URL = *spec.URL
	}
	if spec.EventTypes != nil {
		types, err := checkEventTypes(*spec.EventTypes)
		if err != nil {
			return nil, err
		}
		sub.EventTypes = types
	}
	if spec.Ordered != nil {
		sub.Ordered = *spec.Ordered
	}
	if spec.Enabled != nil {
		sub.Enabled = *spec.Enabled
	}
	u, err := checkURLSyntax(sub.URL)
	if err != nil {
		return nil, err
	}
	if old == nil || sub.URL != old.URL || newKeys != keys {
		if !s.o.AllowPrivate {
			if err := checkTarget(ctx, s.o.Resolver, u); err != nil {
				return nil, err
			}
		}
		if err := s.checkURL(ctx, sub.URL, newKeys); err != nil {
			return nil, err
		}
	}
	sealed, err := s.seal(sub.ClientID, &newKeys)
	if err != nil {
		return nil, err
	}
	if newKeys != keys {
		sub.SealedNext, sub.NextAt = "", time.Time{} // a set replaces a staged rotation
	}
	sub.Sealed, sub.Encrypted, sub.UpdatedAt = sealed, newKeys.EncryptionKey != "", now
	if err := s.o.Store.PutSubscription(ctx, sub); err != nil {
		return nil, fmt.Errorf("webhook: put subscription: %w", err)
	}
	s.signal()
	res := &atelier.SubscriptionResult{Subscription: sub}
	if generated {
		res.SecurityToken = newKeys.SecurityToken
	}
	return res, nil
}

// noCallback reports whether err is the answer for an app without a
// callback.
func noCallback(err error) bool {
	var e *atelier.Error
	return errors.As(err, &e) && e.Code == atelier.CodeCallbackNotFound.ID
}

// mergeKeys applies spec's keys to cur. first says the subscription is
// new: then a signing key is required and a missing token is generated.
// It reports whether it generated the token.
func mergeKeys(cur atelier.CallbackKeys, spec atelier.SubscriptionSpec, first bool) (atelier.CallbackKeys, bool, error) {
	k := cur
	if spec.SigningKey != nil {
		k.SigningKey = *spec.SigningKey
	}
	if spec.EncryptionKey != nil {
		k.EncryptionKey = *spec.EncryptionKey
	}
	if err := checkKeys(k); err != nil {
		return k, false, err
	}
	generated := false
	switch {
	case spec.SecurityToken != nil && *spec.SecurityToken != "":
		if err := checkToken(*spec.SecurityToken); err != nil {
			return k, false, err
		}
		k.SecurityToken = *spec.SecurityToken
	case first || spec.SecurityToken != nil:
		k.SecurityToken, generated = newToken(), true
	}
	return k, generated, nil
}

// checkKeys checks a signing key (16–64 printable ASCII characters) and an
// optional encryption key (16, 24 or 32).
func checkKeys(k atelier.CallbackKeys) error {
	switch {
	case k.SigningKey == "":
		return atelier.CodeCallbackKey.Errorf("A signing key is required.").WithField("signing_key")
	case len(k.SigningKey) < 16 || len(k.SigningKey) > 64 || !printable(k.SigningKey):
		return atelier.CodeCallbackKey.Errorf("The signing key must be 16 to 64 printable ASCII characters.").WithField("signing_key")
	}
	if k.EncryptionKey == "" {
		return nil
	}
	if n := len(k.EncryptionKey); (n != 16 && n != 24 && n != 32) || !printable(k.EncryptionKey) {
		return atelier.CodeCallbackKey.Errorf("The encryption key must be 16, 24 or 32 printable ASCII characters.").WithField("encryption_key")
	}
	return nil
}

func checkToken(t string) error {
	if len(t) < 16 || len(t) > 128 || !printable(t) {
		return atelier.CodeCallbackKey.Errorf("The security token must be 16 to 128 printable ASCII characters without spaces.").WithField("security_token")
	}
	return nil
}

// printable reports whether s is printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// checkEventTypes checks and de-duplicates a list of event types.
func checkEventTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, atelier.CodeCallbackEventType.Errorf("At least one event type is required.").WithField("event_types")
	}
	var out []string
	for _, t := range types {
		if !slices.Contains(atelier.EventTypes, t) {
			return nil, atelier.CodeCallbackEventType.Errorf("The event type %q cannot be subscribed to.", t).WithField("event_types")
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func newToken() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func newHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newIDs makes a delivery's id and nonce.
func newIDs() (string, string) { return "dlv-" + newHex(12), newHex(16) }

// sealContext binds sealed keys to their app.
func sealContext(clientID string) []byte { return []byte("callback-keys:" + clientID) }

func (s *Service) seal(clientID string, k *atelier.CallbackKeys) (string, error) {
	b, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("webhook: encode keys: %w", err)
	}
	sealed, err := s.o.Box.Seal(b, sealContext(clientID))
	if err != nil {
		return "", fmt.Errorf("webhook: seal keys: %w", err)
	}
	return sealed, nil
}

// open unseals keys, caching them by their sealed form.
func (s *Service) open(clientID, sealed string) (*atelier.CallbackKeys, error) {
	s.keysMu.Lock()
	k, ok := s.keys[sealed]
	s.keysMu.Unlock()
	if ok {
		return k, nil
	}
	b, err := s.o.Box.Open(sealed, sealContext(clientID))
	if err != nil {
		return nil, fmt.Errorf("webhook: open keys of %s: %w", clientID, err)
	}
	k = &atelier.CallbackKeys{}
	if err := json.Unmarshal(b, k); err != nil {
		return nil, fmt.Errorf("webhook: decode keys of %s: %w", clientID, err)
	}
	s.keysMu.Lock()
	if len(s.keys) > 10000 {
		clear(s.keys)
	}
	s.keys[sealed] = k
	s.keysMu.Unlock()
	return k, nil
}

// keysInUse returns the keys a delivery is sent with now: the staged ones
// once their time came.
func (s *Service) keysInUse(sub *atelier.Subscription, now time.Time) (*atelier.CallbackKeys, error) {
	if sub.SealedNext != "" && !now.Before(sub.NextAt) {
		return s.open(sub.ClientID, sub.SealedNext)
	}
	return s.open(sub.ClientID, sub.Sealed)
}

// DeleteCallback removes the app's subscription and its queued deliveries.
func (s *Service) DeleteCallback(ctx context.Context, clientID string) (err error) {
	defer s.record(ctx, "app.callback.delete", clientID, &err)
	app, err := s.app(ctx, clientID)
	if err != nil {
		return err
	}
	err = s.o.Store.DeleteSubscription(ctx, app.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(clientID)
	}
	if err != nil {
		return fmt.Errorf("webhook: delete subscription: %w", err)
	}
	return nil
}

// RotateCallbackKeys stages new keys that replace the current ones after
// the overlap (default 24 h; 0 replaces them at once).
func (s *Service) RotateCallbackKeys(ctx context.Context, clientID string, spec atelier.RotateSpec) (_ *atelier.SubscriptionResult, err error) {
	defer s.record(ctx, "app.callback.rotate", clientID, &err)
	app, err := s.app(ctx, clientID)
	if err != nil {
		return nil, err
	}
	overlap := DefaultOverlap
	if spec.OverlapSeconds != nil {
		overlap = time.Duration(*spec.OverlapSeconds) * time.Second
		if *spec.OverlapSeconds < 0 || overlap > maxOverlap {
			return nil, atelier.CodeInvalidParam.Errorf("The overlap must be between 0 and %d seconds.",
				int64(maxOverlap/time.Second)).WithField("overlap_seconds")
		}
	}
	var generated string
	sub, err := s.subscription(ctx, app.ClientID)
	if err != nil {
		return nil, err
	}
	cur, err := s.open(sub.ClientID, sub.Sealed)
	if err != nil {
		return nil, err
	}
	next := *cur
	if spec.SigningKey != "" {
		next.SigningKey = spec.SigningKey
	}
	if spec.EncryptionKey != "" {
		next.EncryptionKey = spec.EncryptionKey
	}
	switch spec.SecurityToken {
	case "":
	case "generate":
		next.SecurityToken = newToken()
		generated = next.SecurityToken
	default:
		if err := checkToken(spec.SecurityToken); err != nil {
			return nil, err
		}
		next.SecurityToken = spec.SecurityToken
	}
	if err := checkKeys(next); err != nil {
		return nil, err
	}
	if next == *cur {
		return nil, atelier.CodeInvalidParam.Errorf("A rotation needs a new signing key, encryption key or security token.").WithField("signing_key")
	}
	sealed, err := s.seal(sub.ClientID, &next)
	if err != nil {
		return nil, err
	}
	now := s.o.Clock.Now()
	sub, err = s.update(ctx, app.ClientID, func(sub *atelier.Subscription) error {
		sub.SealedNext, sub.NextAt, sub.UpdatedAt = sealed, now.Add(overlap), now
		if overlap == 0 {
			return s.promote(sub)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &atelier.SubscriptionResult{Subscription: sub, SecurityToken: generated}, nil
}

// ListDeliveries returns a page of the app's deliveries and the
// BeforeEvent of the next page.
func (s *Service) ListDeliveries(ctx context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error) {
	app, err := s.app(ctx, clientID)
	if err != nil {
		return nil, 0, err
	}
	if f.State != "" && !slices.Contains([]string{atelier.DeliveryPending, atelier.DeliveryInFlight,
		atelier.DeliveryDelivered, atelier.DeliveryDead}, f.State) {
		return nil, 0, atelier.CodeInvalidParam.Errorf("The state %q is not one of PENDING, IN_FLIGHT, DELIVERED, DEAD.", f.State).WithField("state")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	f.Limit = limit + 1
	out, err := s.o.Store.ListDeliveries(ctx, app.ClientID, f)
	if err != nil {
		return nil, 0, fmt.Errorf("webhook: list deliveries: %w", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].EventID
	}
	if out == nil {
		out = []*atelier.Delivery{}
	}
	return out, next, nil
}

// GetDelivery returns one delivery with its attempts.
func (s *Service) GetDelivery(ctx context.Context, clientID, deliveryID string) (*atelier.Delivery, []*atelier.DeliveryAttempt, error) {
	app, err := s.app(ctx, clientID)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.o.Store.GetDelivery(ctx, app.ClientID, deliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, atelier.CodeCallbackNotFound.Errorf("The app %q has no delivery %q.", clientID, deliveryID).WithField("delivery_id")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: get delivery: %w", err)
	}
	attempts, err := s.o.Store.ListAttempts(ctx, d.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: list attempts: %w", err)
	}
	if attempts == nil {
		attempts = []*atelier.DeliveryAttempt{}
	}
	return d, attempts, nil
}

// Redeliver queues one dead delivery again, or every dead delivery of the
// app whose event was committed in [since, until).
func (s *Service) Redeliver(ctx context.Context, clientID, deliveryID string, since, until time.Time) (_ int, err error) {
	defer s.record(ctx, "app.callback.redeliver", clientID, &err)
	app, err := s.app(ctx, clientID)
	if err != nil {
		return 0, err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return 0, atelier.CodeInvalidParam.Errorf("since must be before until.").WithField("since")
	}
	n, err := s.o.Store.Redeliver(ctx, app.ClientID, deliveryID, since, until, s.o.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, atelier.CodeCallbackNotFound.Errorf("The app %q has no delivery %q.", clientID, deliveryID).WithField("delivery_id")
	}
	if err != nil {
		return 0, fmt.Errorf("webhook: redeliver: %w", err)
	}
	if n > 0 {
		s.signal()
	}
	return n, nil
}

// record audits action on the app clientID when the function that deferred
// it returns: success, or failure with the error's code as the reason.
func (s *Service) record(ctx context.Context, action, clientID string, err *error) {
	s.o.Audit(ctx, atelier.AuditEvent{Action: action, Target: clientID}.Concluded(*err))
}

// signal wakes the dispatcher without blocking.
func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
