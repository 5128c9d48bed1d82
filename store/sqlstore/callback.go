package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Page sizes of ListDeliveries.
const (
	defaultDeliveryLimit = 100
	maxDeliveryLimit     = 1000
)

var (
	subCols = []string{"client_id", "tenant_id", "url", "event_types", "ordered", "enabled", "encrypted",
		"sealed", "sealed_next", "next_at", "created_at", "updated_at"}
	deliveryCols = []string{"id", "client_id", "tenant_id", "event_id", "event_type", "subject", "nonce", "state",
		"attempts", "next_attempt_at", "last_status", "last_reply", "last_error", "created_at", "updated_at",
		"delivered_at"}
	eventCols   = []string{"id", "tenant_id", "event_type", "subject", "data", "created_at"}
	attemptCols = []string{"delivery_id", "n", "at", "duration_us", "status", "reply", "error", "ok"}
)

// cols returns the comma-separated columns, each prefixed with alias and a
// dot when alias is not "".
func cols(alias string, names []string) string {
	if alias == "" {
		return strings.Join(names, ", ")
	}
	return alias + "." + strings.Join(names, ", "+alias+".")
}

// subRow scans a subscription row (subCols).
type subRow struct {
	s                      atelier.Subscription
	types                  string
	nextAt, created, upd   int64
	ordered, enabled, encr bool
}

func (r *subRow) dest() []any {
	return []any{&r.s.ClientID, &r.s.TenantID, &r.s.URL, &r.types, &r.ordered, &r.enabled, &r.encr,
		&r.s.Sealed, &r.s.SealedNext, &r.nextAt, &r.created, &r.upd}
}

func (r *subRow) done() (*atelier.Subscription, error) {
	types, err := parseStrings(r.types)
	if err != nil {
		return nil, err
	}
	s := r.s
	s.EventTypes, s.Ordered, s.Enabled, s.Encrypted = types, r.ordered, r.enabled, r.encr
	s.NextAt, s.CreatedAt, s.UpdatedAt = fromUSZ(r.nextAt), fromUS(r.created), fromUSZ(r.upd)
	return &s, nil
}

func scanSub(s scanner) (*atelier.Subscription, error) {
	var r subRow
	if err := s.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.done()
}

// deliveryRow scans a delivery row (deliveryCols).
type deliveryRow struct {
	d                                   atelier.Delivery
	attempts, status                    int64
	next, created, updated, deliveredAt int64
}

func (r *deliveryRow) dest() []any {
	return []any{&r.d.ID, &r.d.ClientID, &r.d.TenantID, &r.d.EventID, &r.d.EventType, &r.d.Subject, &r.d.Nonce,
		&r.d.State, &r.attempts, &r.next, &r.status, &r.d.LastReply, &r.d.LastError, &r.created, &r.updated,
		&r.deliveredAt}
}

func (r *deliveryRow) done() *atelier.Delivery {
	d := r.d
	d.Attempts, d.LastStatus = int(r.attempts), int(r.status)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromUSZ(r.next), fromUS(r.created), fromUSZ(r.updated)
	d.DeliveredAt = fromUSZ(r.deliveredAt)
	return &d
}

func scanDelivery(s scanner) (*atelier.Delivery, error) {
	var r deliveryRow
	if err := s.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.done(), nil
}

// eventRow scans an outbox row (eventCols).
type eventRow struct {
	e       atelier.Event
	data    string
	created int64
}

func (r *eventRow) dest() []any {
	return []any{&r.e.ID, &r.e.TenantID, &r.e.Type, &r.e.Subject, &r.data, &r.created}
}

func (r *eventRow) done() *atelier.Event {
	e := r.e
	e.Data, e.CreatedAt = json.RawMessage(r.data), fromUS(r.created)
	return &e
}

func scanOutboxEvent(s scanner) (*atelier.Event, error) {
	var r eventRow
	if err := s.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.done(), nil
}

func scanAttempt(s scanner) (*atelier.DeliveryAttempt, error) {
	var a atelier.DeliveryAttempt
	var n, at, dur, status int64
	if err := s.Scan(&a.DeliveryID, &n, &at, &dur, &status, &a.Reply, &a.Error, &a.OK); err != nil {
		return nil, err
	}
	a.N, a.At, a.Status = int(n), fromUS(at), int(status)
	a.Duration = time.Duration(dur) * time.Microsecond
	a.DurationMS = a.Duration.Milliseconds()
	return &a, nil
}

// roundSubTimes truncates s's times to what the store keeps.
func roundSubTimes(s *atelier.Subscription) {
	s.NextAt = fromUSZ(usz(s.NextAt))
	s.CreatedAt = fromUS(us(s.CreatedAt))
	s.UpdatedAt = fromUSZ(usz(s.UpdatedAt))
	if s.EventTypes == nil {
		s.EventTypes = []string{}
	}
}

// PutSubscription inserts or replaces the app's subscription. s's times are
// replaced by their stored forms.
func (db *DB) PutSubscription(ctx context.Context, s *atelier.Subscription) error {
	roundSubTimes(s)
	_, err := db.exec(ctx, "put subscription", `INSERT INTO callback_subscriptions (`+cols("", subCols)+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (client_id) DO UPDATE SET tenant_id = excluded.tenant_id, url = excluded.url,
			event_types = excluded.event_types, ordered = excluded.ordered, enabled = excluded.enabled,
			encrypted = excluded.encrypted, sealed = excluded.sealed, sealed_next = excluded.sealed_next,
			next_at = excluded.next_at, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		s.ClientID, s.TenantID, s.URL, jsonStrings(s.EventTypes), s.Ordered, s.Enabled, s.Encrypted,
		s.Sealed, s.SealedNext, usz(s.NextAt), us(s.CreatedAt), usz(s.UpdatedAt))
	return err
}

// GetSubscription returns the app's subscription; ErrNotFound when the app
// has none.
func (db *DB) GetSubscription(ctx context.Context, clientID string) (*atelier.Subscription, error) {
	return queryOne(ctx, db, "get subscription", scanSub,
		`SELECT `+cols("", subCols)+` FROM callback_subscriptions WHERE client_id = ?`, clientID)
}

// UpdateSubscription reads the app's subscription, calls fn on it and
// writes back every field but the client and tenant ids, in one
// transaction that locks the row. An error from fn is returned as is;
// ErrNotFound when missing.
func (db *DB) UpdateSubscription(ctx context.Context, clientID string, fn func(s *atelier.Subscription) error) (*atelier.Subscription, error) {
	var out *atelier.Subscription
	err := db.update(ctx, "update subscription", func(tx *sql.Tx) error {
		s, err := scanSub(tx.QueryRowContext(ctx, db.q(`SELECT `+cols("", subCols)+
			` FROM callback_subscriptions WHERE client_id = ?`+db.flavor.ForUpdate), clientID))
		if err != nil {
			return err
		}
		tenantID := s.TenantID
		if err := fn(s); err != nil {
			return fnError{err}
		}
		s.ClientID, s.TenantID = clientID, tenantID
		roundSubTimes(s)
		_, err = tx.ExecContext(ctx, db.q(`UPDATE callback_subscriptions SET url = ?, event_types = ?, ordered = ?,
			enabled = ?, encrypted = ?, sealed = ?, sealed_next = ?, next_at = ?, created_at = ?, updated_at = ?
			WHERE client_id = ?`),
			s.URL, jsonStrings(s.EventTypes), s.Ordered, s.Enabled, s.Encrypted, s.Sealed, s.SealedNext,
			usz(s.NextAt), us(s.CreatedAt), usz(s.UpdatedAt), clientID)
		if err != nil {
			return err
		}
		out = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSubscription deletes the app's subscription with its PENDING and
// IN_FLIGHT deliveries and their attempts, in one transaction; delivered
// and dead deliveries stay listed. ErrNotFound when missing.
func (db *DB) DeleteSubscription(ctx context.Context, clientID string) error {
	return db.wrap("delete subscription", db.inTx(ctx, func(tx *sql.Tx) error {
		// The subscription first: FanOut reads subscriptions with a share
		// lock, so no delivery for it can be added before the commit.
		if err := db.txExecOne(ctx, tx, `DELETE FROM callback_subscriptions WHERE client_id = ?`, clientID); err != nil {
			return err
		}
		const queued = `client_id = ? AND state IN ('PENDING', 'IN_FLIGHT')`
		if _, err := db.txExec(ctx, tx, `DELETE FROM callback_attempts WHERE delivery_id IN
			(SELECT id FROM callback_deliveries WHERE `+queued+`)`, clientID); err != nil {
			return err
		}
		_, err := db.txExec(ctx, tx, `DELETE FROM callback_deliveries WHERE `+queued, clientID)
		return err
	}))
}

// FanOut takes up to limit outbox events not fanned out yet, oldest first,
// and in one transaction inserts a PENDING delivery due at now for every
// subscription of the event's tenant that lists its type, and marks the
// events fanned out. On PostgreSQL the events are taken with SKIP LOCKED,
// so concurrent callers take disjoint events. It returns how many events it
// took.
func (db *DB) FanOut(ctx context.Context, now time.Time, limit int, newID func() (id, nonce string)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	lock := ""
	if db.flavor.SkipLocked {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var taken int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		taken = 0
		events, err := txQueryAll(ctx, db, tx, scanOutboxEvent, `SELECT `+cols("", eventCols)+
			` FROM outbox WHERE fanned = 0 ORDER BY id LIMIT ?`+lock, limit)
		if err != nil {
			return err
		}
		subs := map[string][]*atelier.Subscription{} // by tenant
		for _, e := range events {
			ss, ok := subs[e.TenantID]
			if !ok {
				ss, err = txQueryAll(ctx, db, tx, scanSub, `SELECT `+cols("", subCols)+
					` FROM callback_subscriptions WHERE tenant_id = ? ORDER BY client_id`+db.flavor.ForShare, e.TenantID)
				if err != nil {
					return err
				}
				subs[e.TenantID] = ss
			}
			for _, s := range ss {
				if !slices.Contains(s.EventTypes, e.Type) {
					continue
				}
				id, nonce := newID()
				if _, err := db.txExec(ctx, tx, `INSERT INTO callback_deliveries (id, client_id, tenant_id, event_id,
					event_type, subject, nonce, state, attempts, next_attempt_at, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (client_id, event_id) DO NOTHING`,
					id, s.ClientID, e.TenantID, e.ID, e.Type, e.Subject, nonce, atelier.DeliveryPending,
					us(now), us(e.CreatedAt), us(now)); err != nil {
					return err
				}
			}
			if _, err := db.txExec(ctx, tx, `UPDATE outbox SET fanned = 1 WHERE id = ?`, e.ID); err != nil {
				return err
			}
		}
		taken = len(events)
		return nil
	})
	if err != nil {
		return 0, db.wrap("fan out events", err)
	}
	return taken, nil
}

// txQueryAll runs a read inside tx and scans every row with scan; the rows
// are closed before it returns, so tx is free for the next statement.
func txQueryAll[T any](ctx context.Context, db *DB, tx *sql.Tx, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := tx.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// newLeaseToken returns a fresh random lease token.
func newLeaseToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// ClaimDeliveries leases up to c.Limit due deliveries in one transaction
// (see store.Claim). It works app by app, so that its cost follows the apps
// with work and the deliveries it takes, not the backlog of the apps it
// leaves alone (paused by a breaker, or at their cap):
//
//  1. the enabled apps with PENDING deliveries (found by a loose scan of
//     the state index, one seek per app) or with expired leases, less
//     c.SkipApps, in client id order from a random one, so that when
//     workers are scarce every app gets its turn;
//  2. with a cap (c.MaxPerApp, or one for c.ProbeApps), each app's
//     deliveries under a live lease (few: at most the workers of every
//     dispatcher), leaving out the apps at their cap;
//     on PostgreSQL the other apps' subscription rows are then locked in
//     client id order and the leases counted again, so that one app's
//     claims serialize and the cap holds across dispatchers;
//  3. per planned app, its expired leases and then its due PENDING
//     deliveries, oldest event first, skipping the rows another
//     dispatcher holds (SKIP LOCKED) and, for an ordered subscription,
//     those with an earlier delivery of their subject still to go.
func (db *DB) ClaimDeliveries(ctx context.Context, c store.Claim) ([]*store.ClaimedDelivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	var out []*store.ClaimedDelivery
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		out = nil
		apps, err := db.appsWithWork(ctx, tx, c)
		if err != nil {
			return err
		}
		capped := c.MaxPerApp > 0 || len(c.ProbeApps) > 0
		plan, live := apps, map[string]int{}
		if capped {
			if live, err = db.liveLeases(ctx, tx, c.Now); err != nil {
				return err
			}
			plan = planClaims(apps, live, c)
		}
		if capped && db.flavor.ForUpdate != "" && len(plan) > 0 {
			if plan, err = db.lockPlan(ctx, tx, plan); err != nil {
				return err
			}
			if live, err = db.liveLeases(ctx, tx, c.Now); err != nil {
				return err
			}
		}
		for _, a := range plan {
			if len(out) == c.Limit {
				break
			}
			room := c.Limit - len(out)
			if k := appCap(c, a.clientID); k > 0 {
				room = min(room, k-live[a.clientID])
			}
			if room <= 0 {
				continue
			}
			got, err := db.claimApp(ctx, tx, a, room, c)
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		now := us(c.Now)
		for _, cd := range out {
			cd.LeaseToken = newLeaseToken()
			d := cd.Delivery
			d.State, d.Attempts, d.UpdatedAt = atelier.DeliveryInFlight, d.Attempts+1, fromUS(now)
			if err := db.txExecOne(ctx, tx, `UPDATE callback_deliveries SET state = ?, lease_until = ?,
				lease_token = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`,
				d.State, us(c.LeaseUntil), cd.LeaseToken, now, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.wrap("claim deliveries", err)
	}
	return out, nil
}

// appWork is an app with deliveries to claim.
type appWork struct {
	clientID string
	ordered  bool
	pending  bool // it has PENDING deliveries, due or not
	expired  bool // it has deliveries whose lease has ended
}

// appsWithWork returns the enabled apps with PENDING deliveries or expired
// leases, less c.SkipApps, in client id order starting at a random one.
func (db *DB) appsWithWork(ctx context.Context, tx *sql.Tx, c store.Claim) ([]appWork, error) {
	// The recursive query seeks the next client id with a PENDING delivery
	// in the state index, once per app, however long each app's backlog.
	rows, err := tx.QueryContext(ctx, db.q(`WITH RECURSIVE pending(app) AS (
			SELECT MIN(client_id) FROM callback_deliveries WHERE state = 'PENDING'
			UNION ALL
			SELECT (SELECT MIN(client_id) FROM callback_deliveries WHERE state = 'PENDING' AND client_id > pending.app)
			FROM pending WHERE pending.app IS NOT NULL)
		SELECT s.client_id, s.ordered, s.client_id IN (SELECT app FROM pending WHERE app IS NOT NULL),
			EXISTS (SELECT 1 FROM callback_deliveries e WHERE e.state = 'IN_FLIGHT' AND e.client_id = s.client_id
				AND e.lease_until <= ?)
		FROM callback_subscriptions s WHERE s.enabled = ? ORDER BY s.client_id`), us(c.Now), true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var apps []appWork
	for rows.Next() {
		var a appWork
		if err := rows.Scan(&a.clientID, &a.ordered, &a.pending, &a.expired); err != nil {
			return nil, err
		}
		if (a.pending || a.expired) && !slices.Contains(c.SkipApps, a.clientID) {
			apps = append(apps, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(apps) > 1 {
		k := mrand.IntN(len(apps))
		apps = slices.Concat(apps[k:], apps[:k])
	}
	return apps, nil
}

// liveLeases counts each app's deliveries IN_FLIGHT under a live lease at
// now.
func (db *DB) liveLeases(ctx context.Context, tx *sql.Tx, now time.Time) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT client_id, COUNT(*) FROM callback_deliveries
		WHERE state = 'IN_FLIGHT' AND lease_until > ? GROUP BY client_id`), us(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	live := map[string]int{}
	for rows.Next() {
		var app string
		var n int
		if err := rows.Scan(&app, &n); err != nil {
			return nil, err
		}
		live[app] = n
	}
	return live, rows.Err()
}

// appCap is how many of app's deliveries may be under a live lease: one
// when it is probed, else c.MaxPerApp; 0 means no cap.
func appCap(c store.Claim, app string) int {
	if slices.Contains(c.ProbeApps, app) {
		return 1
	}
	return c.MaxPerApp
}

// planClaims returns the apps, in order, under their cap of live leases.
func planClaims(apps []appWork, live map[string]int, c store.Claim) []appWork {
	return slices.DeleteFunc(apps, func(a appWork) bool {
		k := appCap(c, a.clientID)
		return k > 0 && live[a.clientID] >= k
	})
}

// lockPlan locks the subscription rows of the planned apps in client id
// order (so that concurrent claims cannot deadlock) and returns the plan,
// in its order, less the apps deleted meanwhile.
func (db *DB) lockPlan(ctx context.Context, tx *sql.Tx, plan []appWork) ([]appWork, error) {
	ids := make([]string, 0, len(plan))
	for _, a := range plan {
		ids = append(ids, a.clientID)
	}
	slices.Sort(ids)
	locked := map[string]bool{}
	for _, id := range ids {
		var got string
		err := tx.QueryRowContext(ctx, db.q(`SELECT client_id FROM callback_subscriptions WHERE client_id = ?`+
			db.flavor.ForUpdate), id).Scan(&got)
		switch {
		case errors.Is(err, sql.ErrNoRows): // deleted meanwhile, with its deliveries
		case err != nil:
			return nil, err
		default:
			locked[id] = true
		}
	}
	return slices.DeleteFunc(plan, func(a appWork) bool { return !locked[a.clientID] }), nil
}

// claimApp reads up to n of a's claimable deliveries: its expired leases,
// then its due PENDING deliveries, oldest event first.
func (db *DB) claimApp(ctx context.Context, tx *sql.Tx, a appWork, n int, c store.Claim) ([]*store.ClaimedDelivery, error) {
	base := `SELECT ` + cols("d", deliveryCols) + `, ` + cols("s", subCols) + `, ` + cols("o", eventCols) + `
		FROM callback_deliveries d
		JOIN callback_subscriptions s ON s.client_id = d.client_id
		JOIN outbox o ON o.id = d.event_id
		WHERE d.client_id = ? AND `
	order := ``
	if a.ordered {
		order = ` AND NOT EXISTS (SELECT 1 FROM callback_deliveries e
			WHERE e.client_id = d.client_id AND e.subject = d.subject AND e.state IN ('PENDING', 'IN_FLIGHT')
			AND e.event_id < d.event_id)`
	}
	lock := ``
	if db.flavor.SkipLocked {
		lock = ` FOR UPDATE OF d SKIP LOCKED`
	}
	var out []*store.ClaimedDelivery
	for _, q := range []struct {
		has   bool
		where string
	}{
		{a.expired, `d.state = 'IN_FLIGHT' AND d.lease_until <= ?`},
		{a.pending, `d.state = 'PENDING' AND d.next_attempt_at <= ?`},
	} {
		if !q.has || len(out) == n {
			continue
		}
		got, err := txQueryAll(ctx, db, tx, scanClaimed, base+q.where+order+` ORDER BY d.event_id LIMIT ?`+lock,
			a.clientID, us(c.Now), n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// scanClaimed scans a claim candidate: delivery, subscription and event
// columns.
func scanClaimed(s scanner) (*store.ClaimedDelivery, error) {
	var d deliveryRow
	var sub subRow
	var e eventRow
	if err := s.Scan(slices.Concat(d.dest(), sub.dest(), e.dest())...); err != nil {
		return nil, err
	}
	ss, err := sub.done()
	if err != nil {
		return nil, err
	}
	return &store.ClaimedDelivery{Delivery: d.done(), Subscription: ss, Event: e.done()}, nil
}

// FinishAttempt records attempt a of a claimed delivery and moves the
// delivery to o.State, in one transaction, only while the claim holds
// (IN_FLIGHT with leaseToken); ErrNotFound otherwise.
func (db *DB) FinishAttempt(ctx context.Context, deliveryID, leaseToken string, a *atelier.DeliveryAttempt, o store.Outcome) error {
	const op = "finish delivery attempt"
	next := int64(0)
	set := ""
	var extra []any
	switch o.State {
	case atelier.DeliveryPending:
		next = us(o.NextAttemptAt)
	case atelier.DeliveryDelivered:
		set = `, delivered_at = ?`
		extra = append(extra, us(o.Now))
	case atelier.DeliveryDead:
	default:
		return fmt.Errorf("%s: %s: invalid outcome state %q", db.flavor.Name, op, o.State)
	}
	args := append([]any{o.State, next, a.Status, a.Reply, a.Error, us(o.Now)}, extra...)
	args = append(args, deliveryID, leaseToken)
	return db.wrap(op, db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.txExecOne(ctx, tx, `UPDATE callback_deliveries SET state = ?, next_attempt_at = ?,
			lease_until = 0, lease_token = '', last_status = ?, last_reply = ?, last_error = ?, updated_at = ?`+set+`
			WHERE id = ? AND state = 'IN_FLIGHT' AND lease_token = ?`, args...); err != nil {
			return err
		}
		_, err := db.txExec(ctx, tx, `INSERT INTO callback_attempts (`+cols("", attemptCols)+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, n) DO NOTHING`,
			deliveryID, a.N, us(a.At), a.Duration.Microseconds(), a.Status, a.Reply, a.Error, a.OK)
		return err
	}))
}

// GetDelivery returns one of the app's deliveries; ErrNotFound.
func (db *DB) GetDelivery(ctx context.Context, clientID, id string) (*atelier.Delivery, error) {
	return queryOne(ctx, db, "get delivery", scanDelivery,
		`SELECT `+cols("", deliveryCols)+` FROM callback_deliveries WHERE id = ? AND client_id = ?`, id, clientID)
}

// GetEvent returns an outbox event; ErrNotFound once pruned.
func (db *DB) GetEvent(ctx context.Context, id int64) (*atelier.Event, error) {
	return queryOne(ctx, db, "get event", scanOutboxEvent,
		`SELECT `+cols("", eventCols)+` FROM outbox WHERE id = ?`, id)
}

// ListDeliveries returns the app's deliveries that f selects, newest event
// first, at most f.Limit of them (100 when unset, never more than 1000).
func (db *DB) ListDeliveries(ctx context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, error) {
	where := []string{`client_id = ?`}
	args := []any{clientID}
	if f.State != "" {
		where = append(where, `state = ?`)
		args = append(args, f.State)
	}
	if !f.Since.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, us(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, us(f.Until))
	}
	if f.BeforeEvent > 0 {
		where = append(where, `event_id < ?`)
		args = append(args, f.BeforeEvent)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultDeliveryLimit
	case limit > maxDeliveryLimit:
		limit = maxDeliveryLimit
	}
	args = append(args, limit)
	return queryAll(ctx, db, "list deliveries", scanDelivery, `SELECT `+cols("", deliveryCols)+
		` FROM callback_deliveries WHERE `+strings.Join(where, ` AND `)+` ORDER BY event_id DESC LIMIT ?`, args...)
}

// ListAttempts returns a delivery's attempts, oldest first.
func (db *DB) ListAttempts(ctx context.Context, deliveryID string) ([]*atelier.DeliveryAttempt, error) {
	return queryAll(ctx, db, "list delivery attempts", scanAttempt, `SELECT `+cols("", attemptCols)+
		` FROM callback_attempts WHERE delivery_id = ? ORDER BY n`, deliveryID)
}

// Redeliver moves the app's DEAD deliveries back to PENDING, due at now,
// with their attempts reset to 0: the one with deliveryID when it is not ""
// (ErrNotFound when the app has no such delivery; one that is not DEAD
// counts 0), else every one whose event was committed in [since, until),
// zero times leaving that side open. It returns how many it moved.
func (db *DB) Redeliver(ctx context.Context, clientID, deliveryID string, since, until, now time.Time) (int, error) {
	const op = "redeliver"
	const set = `UPDATE callback_deliveries SET state = 'PENDING', attempts = 0, next_attempt_at = ?,
		lease_until = 0, lease_token = '', updated_at = ? WHERE client_id = ? AND state = 'DEAD'`
	var moved int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if deliveryID != "" {
			var state string
			if err := tx.QueryRowContext(ctx, db.q(`SELECT state FROM callback_deliveries WHERE id = ? AND client_id = ?`+
				db.flavor.ForUpdate), deliveryID, clientID).Scan(&state); err != nil {
				return err
			}
			var err error
			moved, err = db.txExec(ctx, tx, set+` AND id = ?`, us(now), us(now), clientID, deliveryID)
			return err
		}
		query, args := set, []any{us(now), us(now), clientID}
		if !since.IsZero() {
			query += ` AND created_at >= ?`
			args = append(args, us(since))
		}
		if !until.IsZero() {
			query += ` AND created_at < ?`
			args = append(args, us(until))
		}
		var err error
		moved, err = db.txExec(ctx, tx, query, args...)
		return err
	})
	if err != nil {
		return 0, db.wrap(op, err)
	}
	return int(moved), nil
}

// CallbackCounts returns how many deliveries are in each state, with every
// state present, and how many outbox events await fan-out.
func (db *DB) CallbackCounts(ctx context.Context) (map[string]int64, int64, error) {
	const op = "callback counts"
	byState := map[string]int64{
		atelier.DeliveryPending: 0, atelier.DeliveryInFlight: 0, atelier.DeliveryDelivered: 0, atelier.DeliveryDead: 0,
	}
	rows, err := db.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM callback_deliveries GROUP BY state`)
	if err != nil {
		return nil, 0, db.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, 0, db.wrap(op, err)
		}
		byState[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, 0, db.wrap(op, err)
	}
	_ = rows.Close()
	var backlog int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE fanned = 0`).Scan(&backlog); err != nil {
		return nil, 0, db.wrap(op, err)
	}
	return byState, backlog, nil
}

// PruneCallbacks deletes, in one transaction, the DELIVERED deliveries
// delivered before before with their attempts, and then the outbox events
// created before before that are fanned out and have no delivery left. It
// returns how many deliveries and events it deleted.
func (db *DB) PruneCallbacks(ctx context.Context, before time.Time) (int, int, error) {
	b := us(before)
	var deliveries, events int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		const old = `state = 'DELIVERED' AND delivered_at < ?`
		if _, err := db.txExec(ctx, tx, `DELETE FROM callback_attempts WHERE delivery_id IN
			(SELECT id FROM callback_deliveries WHERE `+old+`)`, b); err != nil {
			return err
		}
		var err error
		if deliveries, err = db.txExec(ctx, tx, `DELETE FROM callback_deliveries WHERE `+old, b); err != nil {
			return err
		}
		events, err = db.txExec(ctx, tx, `DELETE FROM outbox WHERE fanned = 1 AND created_at < ?
			AND NOT EXISTS (SELECT 1 FROM callback_deliveries d WHERE d.event_id = outbox.id)`, b)
		return err
	})
	if err != nil {
		return 0, 0, db.wrap("prune callbacks", err)
	}
	return int(deliveries), int(events), nil
}
