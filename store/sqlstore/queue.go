package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/store"
)

// Page sizes of ListQueueItems.
const (
	defaultQueueLimit = 100
	maxQueueLimit     = 1000
)

// The state predicates that the queue's partial indexes are declared
// with; queries repeat them word for word so that both planners use the
// indexes.
const (
	queueDue        = `state IN ('available', 'scheduled', 'retryable')`
	queueUnfinished = `unique_key <> '' AND state IN ('available', 'scheduled', 'running', 'retryable')`
	queueFinished   = `state IN ('completed', 'cancelled', 'discarded')`
)

var queueCols = []string{"id", "kind", "args", "queue", "priority", "state", "attempt", "max_attempts", "errors",
	"unique_key", "created_at", "scheduled_at", "attempted_at", "lease_owner", "lease_until", "finalized_at"}

func scanQueueItem(s scanner) (*store.QueueItem, error) {
	var it store.QueueItem
	var args, errs string
	var prio, attempt, maxAttempts, created, scheduled, attempted, leaseUntil, finalized int64
	if err := s.Scan(&it.ID, &it.Kind, &args, &it.Queue, &prio, &it.State, &attempt, &maxAttempts, &errs,
		&it.UniqueKey, &created, &scheduled, &attempted, &it.LeaseOwner, &leaseUntil, &finalized); err != nil {
		return nil, err
	}
	it.Args = json.RawMessage(args)
	it.Priority, it.Attempt, it.MaxAttempts = int(prio), int(attempt), int(maxAttempts)
	it.Errors = []store.QueueError{}
	if err := json.Unmarshal([]byte(errs), &it.Errors); err != nil {
		return nil, fmt.Errorf("decode queue errors: %w", err)
	}
	if it.Errors == nil {
		it.Errors = []store.QueueError{}
	}
	it.CreatedAt, it.ScheduledAt = fromUS(created), fromUS(scheduled)
	it.AttemptedAt, it.LeaseUntil, it.FinalizedAt = fromUSZ(attempted), fromUSZ(leaseUntil), fromUSZ(finalized)
	return &it, nil
}

// InsertQueueItem inserts it, or with a unique key that an unfinished item
// holds, sets *it to that item and reports false.
func (db *DB) InsertQueueItem(ctx context.Context, it *store.QueueItem) (bool, error) {
	const op = "insert queue item"
	if len(it.Args) == 0 {
		it.Args = json.RawMessage("null")
	}
	if !json.Valid(it.Args) {
		return false, fmt.Errorf("%s: %s: args are not JSON", db.flavor.Name, op)
	}
	created := fromUS(us(it.CreatedAt))
	scheduled := created
	if !it.ScheduledAt.IsZero() {
		scheduled = fromUS(us(it.ScheduledAt))
	}
	state := store.QueueAvailable
	if scheduled.After(created) {
		state = store.QueueScheduled
	}
	var out *store.QueueItem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// ON CONFLICT … DO NOTHING, not a unique violation, so that a
		// duplicate never aborts a caller's PostgreSQL transaction.
		row := tx.QueryRowContext(ctx, db.q(`INSERT INTO queue_items (kind, args, queue, priority, state, max_attempts,
			errors, unique_key, created_at, scheduled_at) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, ?)
			ON CONFLICT (unique_key) WHERE `+queueUnfinished+` DO NOTHING
			RETURNING `+cols("", queueCols)),
			it.Kind, string(it.Args), it.Queue, it.Priority, state, it.MaxAttempts, it.UniqueKey, us(created), us(scheduled))
		v, err := scanQueueItem(row)
		if err == nil {
			out = v
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The key is taken by an unfinished item; the insert's conflict
		// check locked it (PostgreSQL) or no other writer runs (SQLite),
		// so it is still there.
		v, err = scanQueueItem(tx.QueryRowContext(ctx, db.q(`SELECT `+cols("", queueCols)+
			` FROM queue_items WHERE `+queueUnfinished+` AND unique_key = ?`), it.UniqueKey))
		if err != nil {
			return err
		}
		out = v
		return errExisting
	})
	switch {
	case errors.Is(err, errExisting):
		*it = *out
		return false, nil
	case err != nil:
		return false, db.wrap(op, err)
	}
	*it = *out
	db.signalQueue()
	return true, nil
}

// signalQueue wakes a waiter on QueueSignal without ever blocking; inside
// InTx, once the outermost transaction committed.
func (db *DB) signalQueue() {
	if db.tx != nil {
		db.tx.queue = true
		return
	}
	select {
	case db.queue <- struct{}{}:
	default:
	}
}

// QueueSignal returns a channel that receives after a transaction of this
// process that inserted or released queue items committed.
func (db *DB) QueueSignal() <-chan struct{} { return db.queue }

// errExisting ends InsertQueueItem's transaction when the unique key was
// taken: nothing was written.
var errExisting = errors.New("existing queue item")

// ClaimQueueItems leases up to c.Limit due items: expired leases first,
// then due items in claim order.
func (db *DB) ClaimQueueItems(ctx context.Context, c store.QueueClaim) ([]*store.QueueItem, error) {
	const op = "claim queue items"
	if len(c.Kinds) == 0 || len(c.Queues) == 0 || c.Limit <= 0 {
		return nil, nil
	}
	filter, fargs := queueFilter(c)
	skip := ""
	if db.flavor.SkipLocked {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	now := us(c.Now)
	set := `SET state = 'running', attempt = attempt + 1, attempted_at = ?, lease_owner = ?, lease_until = ?`
	setArgs := []any{now, c.Owner, us(c.LeaseUntil)}
	var out []*store.QueueItem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		// Expired leases with no attempt left are dead: their last attempt
		// never finished.
		if err := db.discardExpired(ctx, tx, filter, fargs, c, skip); err != nil {
			return err
		}
		expired, err := txQueryAll(ctx, db, tx, scanQueueItem, `UPDATE queue_items `+set+`
			WHERE id IN (SELECT id FROM queue_items WHERE state = 'running' AND lease_until <= ?
				AND attempt < max_attempts`+filter+` ORDER BY lease_until, id LIMIT ?`+skip+`)
			RETURNING `+cols("", queueCols),
			slices.Concat(setArgs, []any{now}, fargs, []any{c.Limit})...)
		if err != nil {
			return err
		}
		out = append(out, sortClaimed(expired)...)
		if len(out) >= c.Limit {
			return nil
		}
		kinds, kargs := inList("kind", c.Kinds)
		for _, q := range c.Queues {
			due, err := txQueryAll(ctx, db, tx, scanQueueItem, `UPDATE queue_items `+set+`
				WHERE id IN (SELECT id FROM queue_items WHERE queue = ? AND `+queueDue+` AND scheduled_at <= ?`+kinds+`
					ORDER BY priority, scheduled_at, id LIMIT ?`+skip+`)
				RETURNING `+cols("", queueCols),
				slices.Concat(setArgs, []any{q, now}, kargs, []any{c.Limit - len(out)})...)
			if err != nil {
				return err
			}
			out = append(out, sortClaimed(due)...)
			if len(out) >= c.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// discardExpired discards the running items of the claim's kinds whose
// lease ended and that had no attempt left.
func (db *DB) discardExpired(ctx context.Context, tx *sql.Tx, filter string, fargs []any, c store.QueueClaim, skip string) error {
	dead, err := txQueryAll(ctx, db, tx, scanQueueItem, `SELECT `+cols("", queueCols)+` FROM queue_items
		WHERE state = 'running' AND lease_until <= ? AND attempt >= max_attempts`+filter+`
		ORDER BY lease_until, id LIMIT ?`+skip, slices.Concat([]any{us(c.Now)}, fargs, []any{c.Limit})...)
	if err != nil {
		return err
	}
	for _, it := range dead {
		errs := appendQueueError(it.Errors, store.QueueError{Attempt: it.Attempt, At: fromUS(us(c.Now)),
			Error: "its lease expired: the worker stopped or its server died"})
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE queue_items SET state = 'discarded', errors = ?,
			lease_owner = '', lease_until = 0, finalized_at = ? WHERE id = ?`),
			errs, us(c.Now), it.ID); err != nil {
			return err
		}
	}
	return nil
}

// queueFilter returns the claim's kind and queue conditions, starting with
// " AND ", and their arguments.
func queueFilter(c store.QueueClaim) (string, []any) {
	kinds, kargs := inList("kind", c.Kinds)
	queues, qargs := inList("queue", c.Queues)
	return kinds + queues, append(kargs, qargs...)
}

// inList returns " AND col IN (?, …)" for vals, and vals as arguments.
func inList(col string, vals []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(vals))
	b.WriteString(" AND " + col + " IN (")
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args[i] = v
	}
	b.WriteString(")")
	return b.String(), args
}

// sortClaimed puts claimed items in claim order: RETURNING keeps none.
func sortClaimed(items []*store.QueueItem) []*store.QueueItem {
	slices.SortFunc(items, func(a, b *store.QueueItem) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.ScheduledAt.Compare(b.ScheduledAt), cmp.Compare(a.ID, b.ID))
	})
	return items
}

// appendQueueError appends e to errs, keeps the last store.MaxQueueErrors
// and encodes them.
func appendQueueError(errs []store.QueueError, e store.QueueError) string {
	errs = append(slices.Clone(errs), e)
	if n := len(errs) - store.MaxQueueErrors; n > 0 {
		errs = errs[n:]
	}
	b, _ := json.Marshal(errs) // plain values always marshal
	return string(b)
}

// EndQueueLeases implements store.QueueStore.
func (db *DB) EndQueueLeases(ctx context.Context, now time.Time) (int, error) {
	n, err := db.exec(ctx, "end queue leases", `UPDATE queue_items SET lease_until = ?
		WHERE state = 'running' AND lease_until > ?`, us(now), us(now))
	return int(n), err
}

// ExtendQueueLease moves the lease end of the item that l holds.
func (db *DB) ExtendQueueLease(ctx context.Context, l store.QueueLease, until time.Time) error {
	return db.execOne(ctx, "extend queue lease", `UPDATE queue_items SET lease_until = ?
		WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempt = ?`,
		us(until), l.ID, l.Owner, l.Attempt)
}

// FinishQueueItem moves the item that l holds to o's state.
func (db *DB) FinishQueueItem(ctx context.Context, l store.QueueLease, o store.QueueOutcome) (*store.QueueItem, error) {
	const op = "finish queue item"
	var set string
	var args []any
	now := us(o.Now)
	switch o.State {
	case store.QueueCompleted, store.QueueCancelled, store.QueueDiscarded:
		set, args = `state = ?, finalized_at = ?`, []any{o.State, now}
	case store.QueueRetryable:
		set, args = `state = ?, scheduled_at = ?`, []any{o.State, us(o.At)}
	case store.QueueScheduled:
		set, args = `state = ?, scheduled_at = ?, attempt = attempt - 1`, []any{o.State, us(o.At)}
	case store.QueueAvailable:
		set, args = `state = ?, scheduled_at = ?, attempt = attempt - 1`, []any{o.State, now}
	default:
		return nil, fmt.Errorf("%s: %s: unknown outcome state %q", db.flavor.Name, op, o.State)
	}
	var out *store.QueueItem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		it, err := scanQueueItem(tx.QueryRowContext(ctx, db.q(`SELECT `+cols("", queueCols)+` FROM queue_items
			WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempt = ?`+db.flavor.ForUpdate),
			l.ID, l.Owner, l.Attempt))
		if err != nil {
			return err
		}
		set, args := set, args
		if o.Error != "" {
			set += `, errors = ?`
			args = append(slices.Clip(args), appendQueueError(it.Errors,
				store.QueueError{Attempt: it.Attempt, At: fromUS(now), Error: o.Error}))
		}
		out, err = scanQueueItem(tx.QueryRowContext(ctx, db.q(`UPDATE queue_items SET `+set+`,
			lease_owner = '', lease_until = 0 WHERE id = ? RETURNING `+cols("", queueCols)),
			append(args, l.ID)...))
		return err
	})
	if err != nil {
		return nil, db.wrap(op, err)
	}
	if o.State == store.QueueAvailable {
		db.signalQueue()
	}
	return out, nil
}

// GetQueueItem returns an item by id.
func (db *DB) GetQueueItem(ctx context.Context, id int64) (*store.QueueItem, error) {
	return queryOne(ctx, db, "get queue item", scanQueueItem,
		`SELECT `+cols("", queueCols)+` FROM queue_items WHERE id = ?`, id)
}

// GetQueueItemByKey returns the unfinished item that holds the unique key.
func (db *DB) GetQueueItemByKey(ctx context.Context, uniqueKey string) (*store.QueueItem, error) {
	return queryOne(ctx, db, "get queue item by key", scanQueueItem,
		`SELECT `+cols("", queueCols)+` FROM queue_items WHERE `+queueUnfinished+` AND unique_key = ?`, uniqueKey)
}

// ListQueueItems lists items by id after f.AfterID.
func (db *DB) ListQueueItems(ctx context.Context, f store.QueueFilter) ([]*store.QueueItem, error) {
	q := `SELECT ` + cols("", queueCols) + ` FROM queue_items WHERE id > ?`
	args := []any{f.AfterID}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultQueueLimit
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, min(limit, maxQueueLimit))
	return queryAll(ctx, db, "list queue items", scanQueueItem, q, args...)
}

// QueueCounts counts the unfinished items by kind and state.
func (db *DB) QueueCounts(ctx context.Context) (map[string]map[string]int64, error) {
	const op = "count queue items"
	rows, err := db.r.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM queue_items
		WHERE state IN ('available', 'scheduled', 'running', 'retryable') GROUP BY kind, state`)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, db.wrap(op, err)
		}
		if out[kind] == nil {
			out[kind] = map[string]int64{}
		}
		out[kind][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// PruneQueueItems deletes up to limit items finalized in state before
// before.
func (db *DB) PruneQueueItems(ctx context.Context, state string, before time.Time, limit int) (int, error) {
	if state != store.QueueCompleted && state != store.QueueCancelled && state != store.QueueDiscarded {
		return 0, fmt.Errorf("%s: prune queue items: %q is not a final state", db.flavor.Name, state)
	}
	n, err := db.exec(ctx, "prune queue items", `DELETE FROM queue_items WHERE id IN (SELECT id FROM queue_items
		WHERE `+queueFinished+` AND state = ? AND finalized_at < ? ORDER BY state, finalized_at LIMIT ?)`,
		state, us(before), sqlLimit(limit))
	return int(n), err
}
