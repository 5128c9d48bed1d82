package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Page sizes of ListJobs.
const (
	defaultJobLimit = 100
	maxJobLimit     = 1000
)

// jobSelect reads jobs with the fields derived from their versions: the
// latest version's number and state (a join on the highest version_id), how
// many versions there are and when a version last changed. Each correlated
// subquery reads one job's versions through the primary key, so a page of
// jobs costs one query however many versions they have.
const jobSelect = `SELECT j.id, j.tenant_id, j.name, j.description, j.created_at, j.updated_at,
	COALESCE(v.version_id, 0), COALESCE(v.state, ''),
	(SELECT COUNT(*) FROM job_versions c WHERE c.job_id = j.id),
	(SELECT COALESCE(MAX(c.updated_at), 0) FROM job_versions c WHERE c.job_id = j.id)
	FROM training_jobs j
	LEFT JOIN job_versions v ON v.job_id = j.id
		AND v.version_id = (SELECT MAX(m.version_id) FROM job_versions m WHERE m.job_id = j.id)`

func scanJob(s scanner) (*atelier.TrainingJob, error) {
	var j atelier.TrainingJob
	var created, updated, versionsUpdated, count int64
	if err := s.Scan(&j.ID, &j.TenantID, &j.Name, &j.Description, &created, &updated,
		&j.LatestVersion, &j.State, &count, &versionsUpdated); err != nil {
		return nil, err
	}
	j.VersionCount = int(count)
	j.CreatedAt = fromUS(created)
	j.UpdatedAt = fromUSZ(max(updated, versionsUpdated))
	return &j, nil
}

const versionCols = `job_id, tenant_id, version_id, name, description, spec, state, reason, exit_code, handle,
	created_at, started_at, finished_at`

func scanVersion(s scanner) (*atelier.JobVersion, error) {
	var v atelier.JobVersion
	var spec string
	var exit sql.NullInt64
	var created, started, finished int64
	if err := s.Scan(&v.JobID, &v.TenantID, &v.VersionID, &v.Name, &v.Desc, &spec, &v.State, &v.Reason, &exit,
		&v.Handle, &created, &started, &finished); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &v.Spec); err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	if exit.Valid {
		c := int(exit.Int64)
		v.ExitCode = &c
	}
	v.CreatedAt = fromUS(created)
	v.StartedAt = fromUSZ(started)
	v.FinishedAt = fromUSZ(finished)
	return &v, nil
}

func scanEvent(s scanner) (*atelier.JobEvent, error) {
	var e atelier.JobEvent
	var at int64
	if err := s.Scan(&e.JobID, &e.VersionID, &e.Seq, &e.State, &e.Reason, &at); err != nil {
		return nil, err
	}
	e.Time = fromUS(at)
	return &e, nil
}

// versionName is the display name of version n: "V0001".
func versionName(n int64) string { return fmt.Sprintf("V%04d", n) }

// encodeSpec returns the stored JSON of spec and the spec as it reads back
// from it (empty lists and maps become nil), so that what a write returns
// equals what a later read gives.
func encodeSpec(spec atelier.JobSpec) (string, atelier.JobSpec, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", atelier.JobSpec{}, fmt.Errorf("encode job spec: %w", err)
	}
	var back atelier.JobSpec
	if err := json.Unmarshal(b, &back); err != nil {
		return "", atelier.JobSpec{}, fmt.Errorf("decode job spec: %w", err)
	}
	return string(b), back, nil
}

// exitArg is the stored form of an exit code: NULL when there is none.
func exitArg(c *int) any {
	if c == nil {
		return nil
	}
	return int64(*c)
}

// roundVersionTimes truncates v's times to what the store keeps.
func roundVersionTimes(v *atelier.JobVersion) {
	v.CreatedAt = fromUS(us(v.CreatedAt))
	v.StartedAt = fromUSZ(usz(v.StartedAt))
	v.FinishedAt = fromUSZ(usz(v.FinishedAt))
}

// insertVersion inserts v, whose ids and name are set, and its first event
// (its State and Reason at CreatedAt) inside tx.
func (db *DB) insertVersion(ctx context.Context, tx *sql.Tx, v *atelier.JobVersion, spec string) error {
	created := us(v.CreatedAt)
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO job_versions (`+versionCols+`, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		v.JobID, v.TenantID, v.VersionID, v.Name, v.Desc, spec, v.State, v.Reason, exitArg(v.ExitCode), v.Handle,
		created, usz(v.StartedAt), usz(v.FinishedAt), created)
	if err != nil {
		return err
	}
	return db.insertEvent(ctx, tx, v.JobID, v.VersionID, 1, v.State, v.Reason, created)
}

func (db *DB) insertEvent(ctx context.Context, tx *sql.Tx, jobID string, version, seq int64, state, reason string, at int64) error {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO job_events (job_id, version_id, seq, state, reason, at)
		VALUES (?, ?, ?, ?, ?, ?)`), jobID, version, seq, state, reason, at)
	return err
}

// CreateJob inserts j and its first version v with v's first event, in one
// transaction; ErrConflict when the tenant has a job of that name or the id
// is taken. It sets v's JobID, TenantID, VersionID (1) and Name ("V0001")
// and fills j's derived fields as GetJob would; both records' times and
// v.Spec are replaced by their stored forms.
func (db *DB) CreateJob(ctx context.Context, j *atelier.TrainingJob, v *atelier.JobVersion) error {
	const op = "create job"
	spec, stored, err := encodeSpec(v.Spec)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, err)
	}
	j.CreatedAt = fromUS(us(j.CreatedAt))
	j.UpdatedAt = fromUSZ(usz(j.UpdatedAt))
	v.JobID, v.TenantID, v.VersionID, v.Name = j.ID, j.TenantID, 1, versionName(1)
	roundVersionTimes(v)
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO training_jobs (id, tenant_id, name, description, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`), j.ID, j.TenantID, j.Name, j.Description, us(j.CreatedAt), usz(j.UpdatedAt))
		if err != nil {
			return err
		}
		return db.insertVersion(ctx, tx, v, spec)
	})
	if err != nil {
		return db.wrap(op, err)
	}
	v.Spec = stored
	j.LatestVersion, j.VersionCount, j.State = v.VersionID, 1, v.State
	j.UpdatedAt = fromUSZ(max(usz(j.UpdatedAt), us(v.CreatedAt)))
	return nil
}

// GetJob returns the job of the tenant with the id, or ErrNotFound (also
// for another tenant's job).
func (db *DB) GetJob(ctx context.Context, tenantID, jobID string) (*atelier.TrainingJob, error) {
	return queryOne(ctx, db, "get job", scanJob, jobSelect+` WHERE j.id = ? AND j.tenant_id = ?`, jobID, tenantID)
}

// ListJobs returns the tenant's jobs that f selects, newest first by
// (created_at, id), at most f.Limit of them (100 when unset, never more
// than 1000), in one query.
func (db *DB) ListJobs(ctx context.Context, tenantID string, f store.JobListFilter) ([]*atelier.TrainingJob, error) {
	where := []string{`j.tenant_id = ?`}
	args := []any{tenantID}
	if f.Name != "" {
		where = append(where, `j.name = ?`)
		args = append(args, f.Name)
	}
	if f.State != "" {
		where = append(where, `v.state = ?`)
		args = append(args, f.State)
	}
	if f.BeforeID != "" {
		b := us(f.BeforeTime)
		where = append(where, `(j.created_at < ? OR (j.created_at = ? AND j.id < ?))`)
		args = append(args, b, b, f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultJobLimit
	case limit > maxJobLimit:
		limit = maxJobLimit
	}
	args = append(args, limit)
	return queryAll(ctx, db, "list jobs", scanJob,
		jobSelect+` WHERE `+strings.Join(where, ` AND `)+` ORDER BY j.created_at DESC, j.id DESC LIMIT ?`, args...)
}

// DeleteJob deletes the tenant's job with its versions and events in one
// transaction; ErrNotFound when missing.
func (db *DB) DeleteJob(ctx context.Context, tenantID, jobID string) error {
	return db.wrap("delete job", db.inTx(ctx, func(tx *sql.Tx) error {
		// The job row first: CreateVersion locks it, so no version can be
		// added to the job between here and the commit. Versions go before
		// events, since UpdateVersion appends events under the version's
		// lock.
		if err := db.txExecOne(ctx, tx, `DELETE FROM training_jobs WHERE id = ? AND tenant_id = ?`, jobID, tenantID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM job_versions WHERE job_id = ?`,
			`DELETE FROM job_events WHERE job_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), jobID); err != nil {
				return err
			}
		}
		return nil
	}))
}

// CreateVersion inserts v as the next version of job v.JobID, with its
// first event, in one transaction that locks the job row, so concurrent
// calls get consecutive numbers; ErrNotFound when the job is gone. It sets
// v's TenantID (the job's), VersionID and Name; v's times and Spec are
// replaced by their stored forms.
func (db *DB) CreateVersion(ctx context.Context, v *atelier.JobVersion) error {
	const op = "create job version"
	spec, stored, err := encodeSpec(v.Spec)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, err)
	}
	roundVersionTimes(v)
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var tenantID string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT tenant_id FROM training_jobs WHERE id = ?`+db.flavor.ForUpdate),
			v.JobID).Scan(&tenantID); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COALESCE(MAX(version_id), 0) FROM job_versions WHERE job_id = ?`),
			v.JobID).Scan(&n); err != nil {
			return err
		}
		v.TenantID, v.VersionID, v.Name = tenantID, n+1, versionName(n+1)
		return db.insertVersion(ctx, tx, v, spec)
	})
	if err != nil {
		return db.wrap(op, err)
	}
	v.Spec = stored
	return nil
}

// versionQuery selects version n of a job, the latest for n == 0.
func versionQuery(jobID string, n int64) (string, []any) {
	if n == 0 {
		return `SELECT ` + versionCols + ` FROM job_versions WHERE job_id = ? ORDER BY version_id DESC LIMIT 1`,
			[]any{jobID}
	}
	return `SELECT ` + versionCols + ` FROM job_versions WHERE job_id = ? AND version_id = ?`, []any{jobID, n}
}

// GetVersion returns version n of the job (0: the latest), or ErrNotFound.
func (db *DB) GetVersion(ctx context.Context, jobID string, n int64) (*atelier.JobVersion, error) {
	query, args := versionQuery(jobID, n)
	return queryOne(ctx, db, "get job version", scanVersion, query, args...)
}

// ListVersions returns the job's versions, newest first; none for an
// unknown job.
func (db *DB) ListVersions(ctx context.Context, jobID string) ([]*atelier.JobVersion, error) {
	return queryAll(ctx, db, "list job versions", scanVersion,
		`SELECT `+versionCols+` FROM job_versions WHERE job_id = ? ORDER BY version_id DESC`, jobID)
}

// UpdateVersion reads version n of the job (0: the latest), calls fn on it
// and writes back its description, spec, state, reason, exit code, handle,
// start and finish times, in one transaction that locks the row. When fn
// changed State, the transaction also appends the version's next JobEvent
// (State, Reason, now): the version's history is part of the version, kept
// under its lock, so that no transition is lost or recorded without its
// change (the outbox event is the caller's, appended in the same InTx). The
// ids, name and creation time cannot change. An error from fn aborts the
// update and is returned as is; ErrNotFound when the version is missing,
// without calling fn.
func (db *DB) UpdateVersion(ctx context.Context, jobID string, n int64, now time.Time, fn func(v *atelier.JobVersion) error) (*atelier.JobVersion, error) {
	var out *atelier.JobVersion
	query, args := versionQuery(jobID, n)
	err := db.update(ctx, "update job version", func(tx *sql.Tx) error {
		v, err := scanVersion(tx.QueryRowContext(ctx, db.q(query+db.flavor.ForUpdate), args...))
		if err != nil {
			return err
		}
		old := *v
		if err := fn(v); err != nil {
			return fnError{err}
		}
		v.JobID, v.TenantID, v.VersionID, v.Name, v.CreatedAt = old.JobID, old.TenantID, old.VersionID, old.Name, old.CreatedAt
		roundVersionTimes(v)
		spec, stored, err := encodeSpec(v.Spec)
		if err != nil {
			return err
		}
		at := us(now)
		_, err = tx.ExecContext(ctx, db.q(`UPDATE job_versions SET description = ?, spec = ?, state = ?, reason = ?,
			exit_code = ?, handle = ?, started_at = ?, finished_at = ?, updated_at = ?
			WHERE job_id = ? AND version_id = ?`),
			v.Desc, spec, v.State, v.Reason, exitArg(v.ExitCode), v.Handle, usz(v.StartedAt), usz(v.FinishedAt), at,
			v.JobID, v.VersionID)
		if err != nil {
			return err
		}
		if v.State != old.State {
			// The row lock taken above makes this read-then-insert safe:
			// every writer of this version's events holds it.
			var seq int64
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COALESCE(MAX(seq), 0) FROM job_events
				WHERE job_id = ? AND version_id = ?`), v.JobID, v.VersionID).Scan(&seq); err != nil {
				return err
			}
			if err := db.insertEvent(ctx, tx, v.JobID, v.VersionID, seq+1, v.State, v.Reason, at); err != nil {
				return err
			}
		}
		v.Spec = stored
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEvents returns the transitions of version n of the job (0: the
// latest) in order; none for an unknown version.
func (db *DB) ListEvents(ctx context.Context, jobID string, n int64) ([]*atelier.JobEvent, error) {
	const cols = `SELECT job_id, version_id, seq, state, reason, at FROM job_events`
	if n == 0 {
		return queryAll(ctx, db, "list job events", scanEvent, cols+` WHERE job_id = ?
			AND version_id = (SELECT MAX(version_id) FROM job_versions WHERE job_id = ?) ORDER BY seq`, jobID, jobID)
	}
	return queryAll(ctx, db, "list job events", scanEvent,
		cols+` WHERE job_id = ? AND version_id = ? ORDER BY seq`, jobID, n)
}

// ActiveVersions returns every version of every tenant that has not ended
// (not COMPLETED, FAILED or STOPPED), oldest first by (created_at, job,
// version). The predicate is the one of the partial index
// job_versions_active, word for word, so that the index serves the query.
func (db *DB) ActiveVersions(ctx context.Context) ([]*atelier.JobVersion, error) {
	return queryAll(ctx, db, "active job versions", scanVersion, `SELECT `+versionCols+` FROM job_versions
		WHERE state NOT IN ('COMPLETED', 'FAILED', 'STOPPED') ORDER BY created_at, job_id, version_id`)
}
