package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Datasets.
//
// A sample's id is its dataset's sequence number (datasets.next_sample),
// zero-padded to sampleIDDigits digits, so ids sort in insertion order and
// every listing pages by keyset on (dataset_id, id). AddSamples skips the
// samples whose source the dataset already has through the unique index on
// (dataset_id, source_key), where source_key is the source itself, or for a
// long one (a text sample) its start and hash: see sourceKey. The
// label filter reads sample_labels, one row per (dataset, label, sample),
// whose primary key serves "WHERE dataset_id = ? AND label = ? AND
// sample_id > ? ORDER BY sample_id". The dataset's counters and sequence
// change only in transactions that first lock the dataset row, which
// orders every writer of a dataset's samples and versions the same way.

// Page sizes of ListSamples and ListVersionSamples.
const (
	defaultSampleLimit = 100
	maxSampleLimit     = 1000
)

// sampleIDDigits is the width of a sample id.
const sampleIDDigits = 12

// Rows per multi-row statement: samplesPerInsert × 10 = 10,000 parameters
// stay below SQLite's (32,766) and PostgreSQL's (65,535) limits, and one
// statement inserts a whole import batch of 1000.
const (
	samplesPerInsert = 1000
	labelsPerInsert  = 500
	idsPerStatement  = 500
)

// sampleID is the id of the dataset's n-th sample.
func sampleID(n int64) string { return fmt.Sprintf("%0*d", sampleIDDigits, n) }

// Source keys: a source of up to maxSourceKey bytes is its own key; a
// longer one (a text sample) is keyed by its first sourceKeyPrefix bytes
// (cut at a UTF-8 boundary) and the hex SHA-256 of the whole, a key longer
// than maxSourceKey, so that it cannot equal a short source's key.
const (
	maxSourceKey    = 255
	sourceKeyPrefix = 200
)

// sourceKey is the stored key that makes a source unique in a dataset. Keys
// keep the order of the sources they start with, so that an import of
// sorted object keys writes the unique index in order, and their size is
// bounded, as index entries must be.
func sourceKey(source string) string {
	if len(source) <= maxSourceKey {
		return source
	}
	cut := sourceKeyPrefix
	for cut > 0 && !utf8.RuneStart(source[cut]) {
		cut--
	}
	h := sha256.Sum256([]byte(source))
	return source[:cut] + "#sha256:" + hex.EncodeToString(h[:])
}

// datasetVersionName is the display name of dataset version n: "V001".
func datasetVersionName(n int64) string { return fmt.Sprintf("V%03d", n) }

// sampleLimit turns a caller's page size into a LIMIT.
func sampleLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultSampleLimit
	case limit > maxSampleLimit:
		return maxSampleLimit
	}
	return limit
}

// roundTrip encodes v as JSON and decodes it back into v, so that what a
// write returns equals what a later read gives (empty maps vanish, numbers
// become float64). It returns the JSON.
func roundTrip[T any](v *T) (string, error) {
	b, err := json.Marshal(*v)
	if err != nil {
		return "", err
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		return "", err
	}
	*v = back
	return string(b), nil
}

// encodeList is roundTrip for a list whose empty form reads back as nil.
func encodeList[T any](v *[]T) (string, error) {
	if len(*v) == 0 {
		*v = nil
		return "[]", nil
	}
	return roundTrip(v)
}

// decodeList decodes a stored JSON list; an empty list is nil.
func decodeList[T any](s string, what string) ([]T, error) {
	var out []T
	if s == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// placeholders returns n groups "(?, …)" of width k, comma-separated.
func placeholders(n, k int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", k), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")
}

// qv rebinds a query built for a variable number of rows. Such queries do
// not go through the cache of q, which would keep one entry per row count.
func (db *DB) qv(query string) string {
	if !db.flavor.DollarPlaceholders {
		return query
	}
	return rebind(query)
}

const datasetCols = `id, tenant_id, name, description, data_type, dataset_type, data_path, work_path, labels,
	schema_columns, with_column_header, sample_count, annotated_count, created_at, updated_at`

func scanDataset(s scanner) (*atelier.Dataset, error) {
	var d atelier.Dataset
	var labels, schema string
	var created, updated int64
	if err := s.Scan(&d.ID, &d.TenantID, &d.Name, &d.Description, &d.DataType, &d.DatasetType, &d.DataPath,
		&d.WorkPath, &labels, &schema, &d.WithColumnHeader, &d.SampleCount, &d.AnnotatedCount,
		&created, &updated); err != nil {
		return nil, err
	}
	var err error
	if d.Labels, err = decodeList[atelier.Label](labels, "dataset labels"); err != nil {
		return nil, err
	}
	if d.Schema, err = decodeList[atelier.SchemaColumn](schema, "dataset schema"); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = fromUS(created), fromUS(updated)
	return &d, nil
}

// encodeDataset returns the stored JSON of d's labels and schema and
// replaces them (and d's times) by their stored forms.
func encodeDataset(d *atelier.Dataset) (labels, schema string, err error) {
	if labels, err = encodeList(&d.Labels); err != nil {
		return "", "", fmt.Errorf("encode dataset labels: %w", err)
	}
	if schema, err = encodeList(&d.Schema); err != nil {
		return "", "", fmt.Errorf("encode dataset schema: %w", err)
	}
	d.CreatedAt, d.UpdatedAt = fromUS(us(d.CreatedAt)), fromUS(us(d.UpdatedAt))
	return labels, schema, nil
}

// CreateDataset inserts d with no samples; ErrConflict when the tenant has a
// dataset of that name or the id is taken. d's counters are set to zero and
// its labels, schema and times replaced by their stored forms.
func (db *DB) CreateDataset(ctx context.Context, d *atelier.Dataset) error {
	const op = "create dataset"
	labels, schema, err := encodeDataset(d)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, err)
	}
	d.SampleCount, d.AnnotatedCount = 0, 0
	_, err = db.exec(ctx, op, `INSERT INTO datasets (id, tenant_id, name, description, data_type,
		dataset_type, data_path, work_path, labels, schema_columns, with_column_header, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.TenantID, d.Name, d.Description, d.DataType, d.DatasetType, d.DataPath, d.WorkPath, labels, schema,
		d.WithColumnHeader, us(d.CreatedAt), us(d.UpdatedAt))
	return err
}

// GetDataset returns the tenant's dataset, or ErrNotFound (also for another
// tenant's).
func (db *DB) GetDataset(ctx context.Context, tenantID, id string) (*atelier.Dataset, error) {
	return queryOne(ctx, db, "get dataset", scanDataset,
		`SELECT `+datasetCols+` FROM datasets WHERE id = ? AND tenant_id = ?`, id, tenantID)
}

// ListDatasets returns the tenant's datasets ordered by name; a non-empty
// name lists only the dataset of that name.
func (db *DB) ListDatasets(ctx context.Context, tenantID, name string) ([]*atelier.Dataset, error) {
	if name != "" {
		return queryAll(ctx, db, "list datasets", scanDataset,
			`SELECT `+datasetCols+` FROM datasets WHERE tenant_id = ? AND name = ?`, tenantID, name)
	}
	return queryAll(ctx, db, "list datasets", scanDataset,
		`SELECT `+datasetCols+` FROM datasets WHERE tenant_id = ? ORDER BY name, id`, tenantID)
}

// UpdateDataset reads the tenant's dataset, calls fn on it and writes back
// its name, description, labels, schema and UpdatedAt, in one transaction
// that locks the row; other fields cannot change. An error from fn is
// returned as is; ErrNotFound when missing (fn is not called), ErrConflict
// on a taken name.
func (db *DB) UpdateDataset(ctx context.Context, tenantID, id string, fn func(d *atelier.Dataset) error) (*atelier.Dataset, error) {
	var out *atelier.Dataset
	err := db.update(ctx, "update dataset", func(tx *sql.Tx) error {
		d, err := scanDataset(tx.QueryRowContext(ctx, db.q(`SELECT `+datasetCols+` FROM datasets
			WHERE id = ? AND tenant_id = ?`+db.flavor.ForUpdate), id, tenantID))
		if err != nil {
			return err
		}
		old := *d
		if err := fn(d); err != nil {
			return fnError{err}
		}
		name, desc, labelList, schemaList, updated := d.Name, d.Description, d.Labels, d.Schema, d.UpdatedAt
		*d = old
		d.Name, d.Description, d.Labels, d.Schema, d.UpdatedAt = name, desc, labelList, schemaList, updated
		labels, schema, err := encodeDataset(d)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE datasets SET name = ?, description = ?, labels = ?,
			schema_columns = ?, updated_at = ? WHERE id = ?`), d.Name, d.Description, labels, schema, us(d.UpdatedAt), id)
		if err != nil {
			return err
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteDataset deletes the tenant's dataset with its samples, their label
// index, its versions and their snapshots and its import and export tasks,
// with one set-based statement per table in one transaction; ErrNotFound
// when missing. The dataset row goes first, so that a concurrent writer of
// its samples (which locks that row) waits and then finds it gone.
func (db *DB) DeleteDataset(ctx context.Context, tenantID, id string) error {
	return db.wrap("delete dataset", db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.txExecOne(ctx, tx, `DELETE FROM datasets WHERE id = ? AND tenant_id = ?`, id, tenantID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM sample_labels WHERE dataset_id = ?`,
			`DELETE FROM samples WHERE dataset_id = ?`,
			`DELETE FROM version_samples WHERE version_id IN (SELECT id FROM dataset_versions WHERE dataset_id = ?)`,
			`DELETE FROM dataset_versions WHERE dataset_id = ?`,
			`DELETE FROM import_tasks WHERE dataset_id = ?`,
			`DELETE FROM export_tasks WHERE dataset_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		return nil
	}))
}

// lockDataset locks the dataset row for the rest of tx (on backends with
// row locks) and returns its next sample number; sql.ErrNoRows when the
// dataset is missing.
func (db *DB) lockDataset(ctx context.Context, tx *sql.Tx, id string) (next int64, err error) {
	err = tx.QueryRowContext(ctx, db.q(`SELECT next_sample FROM datasets WHERE id = ?`+db.flavor.ForUpdate), id).Scan(&next)
	return next, err
}

// bumpCounters adds to the dataset's sample counters inside tx.
func (db *DB) bumpCounters(ctx context.Context, tx *sql.Tx, id string, samples, annotated int64) error {
	if samples == 0 && annotated == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, db.q(`UPDATE datasets SET sample_count = sample_count + ?,
		annotated_count = annotated_count + ? WHERE id = ?`), samples, annotated, id)
	return err
}

// storedSample is a sample's encoded columns.
type storedSample struct {
	annotations, labels string
	labelled            bool
}

// encodeSample replaces s's annotations, labels and times by their stored
// forms: annotations as they read back from JSON, labels without repeats
// (nil when none), and returns the encoded columns. A sample is labelled
// when it has annotations.
func encodeSample(s *atelier.Sample) (storedSample, error) {
	ann, err := encodeList(&s.Annotations)
	if err != nil {
		return storedSample{}, fmt.Errorf("encode sample annotations: %w", err)
	}
	var labels []string
	for _, l := range s.Labels {
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	s.Labels = labels
	s.CreatedAt, s.UpdatedAt = fromUS(us(s.CreatedAt)), fromUS(us(s.UpdatedAt))
	return storedSample{annotations: ann, labels: jsonStrings(labels), labelled: len(s.Annotations) > 0}, nil
}

const sampleCols = `s.dataset_id, s.id, s.source, s.usage, s.annotations, s.labels, s.created_at, s.updated_at`

func scanSample(sc scanner) (*atelier.Sample, error) {
	var s atelier.Sample
	var ann, labels string
	var created, updated int64
	if err := sc.Scan(&s.DatasetID, &s.ID, &s.Source, &s.Usage, &ann, &labels, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if s.Annotations, err = decodeList[atelier.Annotation](ann, "sample annotations"); err != nil {
		return nil, err
	}
	if s.Labels, err = decodeList[string](labels, "sample labels"); err != nil {
		return nil, err
	}
	s.CreatedAt, s.UpdatedAt = fromUS(created), fromUS(updated)
	return &s, nil
}

// AddSamples inserts the samples whose source the dataset does not have
// yet, in one transaction that locks the dataset row: it gives every sample
// of the batch the dataset's next id (sources already present, or repeated
// within the batch, leave a gap in the sequence), inserts them with INSERT
// … ON CONFLICT DO NOTHING, indexes the labels of those inserted, adds them
// to the dataset's counters and, when task is not nil, writes the task's
// state, progress, errors and Cursor as given (ErrNotFound, and nothing
// written, when the task is not one of the dataset's). It returns how many
// samples were new. Each sample's ID and DatasetID are set (also for a
// skipped one, whose ID then names no sample) and its annotations, labels
// and times replaced by their stored forms. ErrNotFound when the dataset is
// missing.
func (db *DB) AddSamples(ctx context.Context, datasetID string, samples []*atelier.Sample, task *atelier.ImportTask) (int, error) {
	const op = "add samples"
	enc := make([]storedSample, len(samples))
	keys := make([]string, len(samples))
	for i, s := range samples {
		var err error
		if enc[i], err = encodeSample(s); err != nil {
			return 0, fmt.Errorf("%s: %s: %w", db.flavor.Name, op, err)
		}
		s.DatasetID = datasetID
		keys[i] = sourceKey(s.Source)
	}
	var taskErrors string
	if task != nil {
		var err error
		if taskErrors, err = encodeList(&task.Errors); err != nil {
			return 0, fmt.Errorf("%s: %s: encode task errors: %w", db.flavor.Name, op, err)
		}
		task.UpdatedAt = fromUS(us(task.UpdatedAt))
	}
	var added int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		added = 0
		next, err := db.lockDataset(ctx, tx, datasetID)
		if err != nil {
			return err
		}
		for i, s := range samples {
			s.ID = sampleID(next + int64(i) + 1)
		}
		inserted := make(map[string]bool, len(samples))
		for start := 0; start < len(samples); start += samplesPerInsert {
			end := min(start+samplesPerInsert, len(samples))
			args := make([]any, 0, (end-start)*10)
			for i := start; i < end; i++ {
				s := samples[i]
				args = append(args, datasetID, s.ID, s.Source, keys[i], s.Usage, enc[i].annotations, enc[i].labels,
					enc[i].labelled, us(s.CreatedAt), us(s.UpdatedAt))
			}
			rows, err := tx.QueryContext(ctx, db.qv(`INSERT INTO samples (dataset_id, id, source, source_key, usage,
				annotations, labels, labelled, created_at, updated_at) VALUES `+placeholders(end-start, 10)+`
				ON CONFLICT (dataset_id, source_key) DO NOTHING RETURNING id`), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				inserted[id] = true
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		var pairs []any // dataset_id, label, sample_id triples
		var annotated int64
		for i, s := range samples {
			if !inserted[s.ID] {
				continue
			}
			added++
			if enc[i].labelled {
				annotated++
			}
			for _, l := range s.Labels {
				pairs = append(pairs, datasetID, l, s.ID)
			}
		}
		if err := db.insertLabels(ctx, tx, pairs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE datasets SET next_sample = ?, sample_count = sample_count + ?,
			annotated_count = annotated_count + ? WHERE id = ?`), next+int64(len(samples)), int64(added), annotated,
			datasetID); err != nil {
			return err
		}
		if task != nil {
			return db.txExecOne(ctx, tx, `UPDATE import_tasks SET state = ?, imported = ?, rejected = ?, errors = ?,
				cursor = ?, updated_at = ? WHERE id = ? AND dataset_id = ?`, task.State, task.Imported, task.Rejected,
				taskErrors, task.Cursor, us(task.UpdatedAt), task.ID, datasetID)
		}
		return nil
	})
	if err != nil {
		return 0, db.wrap(op, err)
	}
	return added, nil
}

// insertLabels inserts sample_labels rows from flat (dataset_id, label,
// sample_id) triples inside tx.
func (db *DB) insertLabels(ctx context.Context, tx *sql.Tx, triples []any) error {
	for start := 0; start < len(triples); start += labelsPerInsert * 3 {
		end := min(start+labelsPerInsert*3, len(triples))
		if _, err := tx.ExecContext(ctx, db.qv(`INSERT INTO sample_labels (dataset_id, label, sample_id) VALUES `+
			placeholders((end-start)/3, 3)), triples[start:end]...); err != nil {
			return err
		}
	}
	return nil
}

// GetSample returns the dataset's sample, or ErrNotFound.
func (db *DB) GetSample(ctx context.Context, datasetID, sampleID string) (*atelier.Sample, error) {
	return queryOne(ctx, db, "get sample", scanSample,
		`SELECT `+sampleCols+` FROM samples s WHERE s.dataset_id = ? AND s.id = ?`, datasetID, sampleID)
}

// ListSamples returns up to f.Limit (100 when unset, at most 1000) of the
// dataset's samples that f selects, in id order after f.After, with one
// query that walks an index from f.After on: sample_labels' primary key
// for a label (CROSS JOIN keeps SQLite's planner driving from it), else
// (dataset_id, labelled, id) or (dataset_id, usage, id), else the primary
// key. An unknown dataset has no samples.
func (db *DB) ListSamples(ctx context.Context, datasetID string, f atelier.SampleFilter) ([]*atelier.Sample, error) {
	var b strings.Builder
	var args []any
	if f.Label != "" {
		b.WriteString(`SELECT ` + sampleCols + ` FROM sample_labels l CROSS JOIN samples s
			WHERE l.dataset_id = ? AND l.label = ? AND l.sample_id > ?
			AND s.dataset_id = l.dataset_id AND s.id = l.sample_id`)
		args = append(args, datasetID, f.Label, f.After)
	} else {
		b.WriteString(`SELECT ` + sampleCols + ` FROM samples s WHERE s.dataset_id = ?`)
		args = append(args, datasetID)
	}
	if f.Labelled != nil {
		b.WriteString(` AND s.labelled = ?`)
		args = append(args, *f.Labelled)
	}
	if f.Usage != "" {
		b.WriteString(` AND s.usage = ?`)
		args = append(args, f.Usage)
	}
	if f.Label != "" {
		b.WriteString(` ORDER BY l.sample_id LIMIT ?`)
	} else {
		b.WriteString(` AND s.id > ? ORDER BY s.id LIMIT ?`)
		args = append(args, f.After)
	}
	args = append(args, sampleLimit(f.Limit))
	return queryAll(ctx, db, "list samples", scanSample, b.String(), args...)
}

// UpdateSample reads the dataset's sample, calls fn on it and writes back
// its usage, annotations, labels and UpdatedAt, in one transaction that
// locks the dataset row and keeps the label index and the annotated counter
// in step. The ids, source and creation time cannot change. An error from
// fn is returned as is; ErrNotFound when the dataset or sample is missing
// (fn is not called).
func (db *DB) UpdateSample(ctx context.Context, datasetID, sampleID string, fn func(s *atelier.Sample) error) (*atelier.Sample, error) {
	var out *atelier.Sample
	err := db.update(ctx, "update sample", func(tx *sql.Tx) error {
		if _, err := db.lockDataset(ctx, tx, datasetID); err != nil {
			return err
		}
		s, err := scanSample(tx.QueryRowContext(ctx, db.q(`SELECT `+sampleCols+` FROM samples s
			WHERE s.dataset_id = ? AND s.id = ?`), datasetID, sampleID))
		if err != nil {
			return err
		}
		old := *s
		oldLabels := slices.Clone(s.Labels) // fn may change s.Labels in place
		wasLabelled := len(s.Annotations) > 0
		if err := fn(s); err != nil {
			return fnError{err}
		}
		s.ID, s.DatasetID, s.Source, s.CreatedAt = old.ID, old.DatasetID, old.Source, old.CreatedAt
		enc, err := encodeSample(s)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE samples SET usage = ?, annotations = ?, labels = ?, labelled = ?,
			updated_at = ? WHERE dataset_id = ? AND id = ?`), s.Usage, enc.annotations, enc.labels, enc.labelled,
			us(s.UpdatedAt), datasetID, sampleID); err != nil {
			return err
		}
		if err := db.deleteLabels(ctx, tx, datasetID, sampleID, oldLabels, s.Labels); err != nil {
			return err
		}
		var added []any
		for _, l := range s.Labels {
			if !slices.Contains(oldLabels, l) {
				added = append(added, datasetID, l, sampleID)
			}
		}
		if err := db.insertLabels(ctx, tx, added); err != nil {
			return err
		}
		var delta int64
		switch {
		case enc.labelled && !wasLabelled:
			delta = 1
		case !enc.labelled && wasLabelled:
			delta = -1
		}
		if err := db.bumpCounters(ctx, tx, datasetID, 0, delta); err != nil {
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

// deleteLabels removes the sample's label index rows for the labels in
// from that are not in keep.
func (db *DB) deleteLabels(ctx context.Context, tx *sql.Tx, datasetID, sampleID string, from, keep []string) error {
	for _, l := range from {
		if slices.Contains(keep, l) {
			continue
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sample_labels WHERE dataset_id = ? AND label = ?
			AND sample_id = ?`), datasetID, l, sampleID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSamples deletes the dataset's samples with the given ids (unknown
// ids are skipped) with their label index rows, and takes them off the
// dataset's counters, in one transaction that locks the dataset row. It
// returns how many samples existed; ErrNotFound when the dataset is
// missing.
func (db *DB) DeleteSamples(ctx context.Context, datasetID string, ids []string) (int, error) {
	var uniq []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	var deleted int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		deleted = 0
		if _, err := db.lockDataset(ctx, tx, datasetID); err != nil {
			return err
		}
		var annotated int64
		for start := 0; start < len(uniq); start += idsPerStatement {
			chunk := uniq[start:min(start+idsPerStatement, len(uniq))]
			in := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
			args := make([]any, 0, len(chunk)+1)
			args = append(args, datasetID)
			for _, id := range chunk {
				args = append(args, id)
			}
			rows, err := tx.QueryContext(ctx, db.qv(`SELECT id, labels, labelled FROM samples
				WHERE dataset_id = ? AND id IN (`+in+`)`), args...)
			if err != nil {
				return err
			}
			type found struct {
				id     string
				labels []string
			}
			var hits []found
			for rows.Next() {
				var f found
				var labels string
				var labelled bool
				if err := rows.Scan(&f.id, &labels, &labelled); err != nil {
					rows.Close()
					return err
				}
				if f.labels, err = decodeList[string](labels, "sample labels"); err != nil {
					rows.Close()
					return err
				}
				if labelled {
					annotated++
				}
				hits = append(hits, f)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, f := range hits {
				if err := db.deleteLabels(ctx, tx, datasetID, f.id, f.labels, nil); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, db.qv(`DELETE FROM samples WHERE dataset_id = ? AND id IN (`+in+`)`),
				args...); err != nil {
				return err
			}
			deleted += len(hits)
		}
		return db.bumpCounters(ctx, tx, datasetID, -int64(deleted), -annotated)
	})
	if err != nil {
		return 0, db.wrap("delete samples", err)
	}
	return deleted, nil
}

// SampleStats returns the dataset's counters and its samples counted by
// label (from the label index) and by usage (samples without a usage are
// not counted there); ErrNotFound when the dataset is missing. The maps are
// never nil.
func (db *DB) SampleStats(ctx context.Context, datasetID string) (*store.SampleStats, error) {
	const op = "sample stats"
	st := &store.SampleStats{ByLabel: map[string]int64{}, ByUsage: map[string]int64{}}
	err := db.r.QueryRowContext(ctx, db.q(`SELECT sample_count, annotated_count FROM datasets WHERE id = ?`),
		datasetID).Scan(&st.Total, &st.Annotated)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	for _, c := range []struct {
		query string
		into  map[string]int64
	}{
		{`SELECT label, COUNT(*) FROM sample_labels WHERE dataset_id = ? GROUP BY label`, st.ByLabel},
		{`SELECT usage, COUNT(*) FROM samples WHERE dataset_id = ? AND usage <> '' GROUP BY usage`, st.ByUsage},
	} {
		if err := db.countInto(ctx, c.query, datasetID, c.into); err != nil {
			return nil, db.wrap(op, err)
		}
	}
	return st, nil
}

// countInto runs a (key, count) query and stores its rows in into.
func (db *DB) countInto(ctx context.Context, query, arg string, into map[string]int64) error {
	rows, err := db.r.QueryContext(ctx, db.q(query), arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		into[k] = n
	}
	return rows.Err()
}

// checkDataset checks, inside tx, that the dataset exists, locking it
// against a concurrent delete; sql.ErrNoRows when missing.
func (db *DB) checkDataset(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	return tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM datasets WHERE id = ?`+db.flavor.ForShare), id).Scan(&one)
}

const importCols = `id, dataset_id, path, format, state, imported, rejected, errors, cursor, created_at, updated_at`

func scanImport(s scanner) (*atelier.ImportTask, error) {
	var t atelier.ImportTask
	var errs string
	var created, updated int64
	if err := s.Scan(&t.ID, &t.DatasetID, &t.Path, &t.Format, &t.State, &t.Imported, &t.Rejected, &errs, &t.Cursor,
		&created, &updated); err != nil {
		return nil, err
	}
	var err error
	if t.Errors, err = decodeList[string](errs, "import task errors"); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromUS(created), fromUS(updated)
	return &t, nil
}

// encodeImport replaces t's errors (nil when none) and times by their
// stored forms and returns the errors' JSON.
func encodeImport(t *atelier.ImportTask) (string, error) {
	errs, err := encodeList(&t.Errors)
	if err != nil {
		return "", fmt.Errorf("encode import task errors: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = fromUS(us(t.CreatedAt)), fromUS(us(t.UpdatedAt))
	return errs, nil
}

// CreateImportTask inserts t, giving it a new ID when it has none;
// ErrNotFound when its dataset is missing, ErrConflict when the id is
// taken. t's errors and times are replaced by their stored forms.
func (db *DB) CreateImportTask(ctx context.Context, t *atelier.ImportTask) error {
	const op = "create import task"
	errs, err := encodeImport(t)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, err)
	}
	if t.ID == "" {
		t.ID = atelier.NewID()
	}
	return db.wrap(op, db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkDataset(ctx, tx, t.DatasetID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO import_tasks (`+importCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), t.ID, t.DatasetID, t.Path, t.Format, t.State, t.Imported,
			t.Rejected, errs, t.Cursor, us(t.CreatedAt), us(t.UpdatedAt))
		return err
	}))
}

// GetImportTask returns the dataset's import task, or ErrNotFound.
func (db *DB) GetImportTask(ctx context.Context, datasetID, taskID string) (*atelier.ImportTask, error) {
	return queryOne(ctx, db, "get import task", scanImport,
		`SELECT `+importCols+` FROM import_tasks WHERE id = ? AND dataset_id = ?`, taskID, datasetID)
}

// ListImportTasks returns the dataset's import tasks, newest first by
// (created_at, id).
func (db *DB) ListImportTasks(ctx context.Context, datasetID string) ([]*atelier.ImportTask, error) {
	return queryAll(ctx, db, "list import tasks", scanImport, `SELECT `+importCols+` FROM import_tasks
		WHERE dataset_id = ? ORDER BY created_at DESC, id DESC`, datasetID)
}

// UpdateImportTask reads the dataset's import task, calls fn on it and
// writes back every field but the ids and CreatedAt, in one transaction
// that locks the row. An error from fn is returned as is; ErrNotFound when
// missing (fn is not called).
func (db *DB) UpdateImportTask(ctx context.Context, datasetID, taskID string, fn func(t *atelier.ImportTask) error) (*atelier.ImportTask, error) {
	var out *atelier.ImportTask
	err := db.update(ctx, "update import task", func(tx *sql.Tx) error {
		t, err := scanImport(tx.QueryRowContext(ctx, db.q(`SELECT `+importCols+` FROM import_tasks
			WHERE id = ? AND dataset_id = ?`+db.flavor.ForUpdate), taskID, datasetID))
		if err != nil {
			return err
		}
		old := *t
		if err := fn(t); err != nil {
			return fnError{err}
		}
		t.ID, t.DatasetID, t.CreatedAt = old.ID, old.DatasetID, old.CreatedAt
		errs, err := encodeImport(t)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE import_tasks SET path = ?, format = ?, state = ?, imported = ?,
			rejected = ?, errors = ?, cursor = ?, updated_at = ? WHERE id = ?`), t.Path, t.Format, t.State,
			t.Imported, t.Rejected, errs, t.Cursor, us(t.UpdatedAt), t.ID)
		if err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ActiveImportTasks returns the QUEUED and RUNNING import tasks of every
// tenant, oldest first by (created_at, id). The predicate is the one of
// the partial index import_tasks_active, word for word.
func (db *DB) ActiveImportTasks(ctx context.Context) ([]*atelier.ImportTask, error) {
	return queryAll(ctx, db, "active import tasks", scanImport, `SELECT `+importCols+` FROM import_tasks
		WHERE state IN ('QUEUED', 'RUNNING') ORDER BY created_at, id`)
}

const dsVersionCols = `id, dataset_id, name, description, ratio, sample_count, manifest_path, state, created_at`

func scanDatasetVersion(s scanner) (*atelier.DatasetVersion, error) {
	var v atelier.DatasetVersion
	var created int64
	if err := s.Scan(&v.ID, &v.DatasetID, &v.Name, &v.Description, &v.TrainEvalRatio, &v.SampleCount,
		&v.ManifestPath, &v.State, &created); err != nil {
		return nil, err
	}
	v.CreatedAt = fromUS(created)
	return &v, nil
}

// CreateDatasetVersion inserts v as the next version of dataset
// v.DatasetID and copies the dataset's samples (with their annotations,
// usage and labels as they are now) into its snapshot with one INSERT …
// SELECT, in one transaction that locks the dataset row, so concurrent
// calls get consecutive names and no sample write interleaves. It gives v
// a new ID when it has none and sets its Name (V001, V002, …) and
// SampleCount; ErrNotFound when the dataset is missing.
func (db *DB) CreateDatasetVersion(ctx context.Context, v *atelier.DatasetVersion) error {
	if v.ID == "" {
		v.ID = atelier.NewID()
	}
	v.CreatedAt = fromUS(us(v.CreatedAt))
	return db.wrap("create dataset version", db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.lockDataset(ctx, tx, v.DatasetID); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COALESCE(MAX(seq), 0) FROM dataset_versions WHERE dataset_id = ?`),
			v.DatasetID).Scan(&n); err != nil {
			return err
		}
		v.Name = datasetVersionName(n + 1)
		count, err := db.txExec(ctx, tx, `INSERT INTO version_samples (version_id, sample_id, dataset_id, source, usage,
			annotations, labels, created_at, updated_at)
			SELECT ?, id, dataset_id, source, usage, annotations, labels, created_at, updated_at
			FROM samples WHERE dataset_id = ?`, v.ID, v.DatasetID)
		if err != nil {
			return err
		}
		v.SampleCount = count
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO dataset_versions (id, dataset_id, seq, name, description, ratio,
			sample_count, manifest_path, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			v.ID, v.DatasetID, n+1, v.Name, v.Description, v.TrainEvalRatio, v.SampleCount, v.ManifestPath, v.State,
			us(v.CreatedAt))
		return err
	}))
}

// GetDatasetVersion returns the dataset's version, or ErrNotFound.
func (db *DB) GetDatasetVersion(ctx context.Context, datasetID, versionID string) (*atelier.DatasetVersion, error) {
	return queryOne(ctx, db, "get dataset version", scanDatasetVersion,
		`SELECT `+dsVersionCols+` FROM dataset_versions WHERE id = ? AND dataset_id = ?`, versionID, datasetID)
}

// ListDatasetVersions returns the dataset's versions, newest first.
func (db *DB) ListDatasetVersions(ctx context.Context, datasetID string) ([]*atelier.DatasetVersion, error) {
	return queryAll(ctx, db, "list dataset versions", scanDatasetVersion,
		`SELECT `+dsVersionCols+` FROM dataset_versions WHERE dataset_id = ? ORDER BY seq DESC`, datasetID)
}

// UpdateDatasetVersion reads the dataset's version, calls fn on it and
// writes back its description, ratio, manifest path and state in one
// transaction that locks the row; the ids, name, sample count and creation
// time cannot change. An error from fn is returned as is; ErrNotFound when
// missing (fn is not called).
func (db *DB) UpdateDatasetVersion(ctx context.Context, datasetID, versionID string, fn func(v *atelier.DatasetVersion) error) (*atelier.DatasetVersion, error) {
	var out *atelier.DatasetVersion
	err := db.update(ctx, "update dataset version", func(tx *sql.Tx) error {
		v, err := scanDatasetVersion(tx.QueryRowContext(ctx, db.q(`SELECT `+dsVersionCols+` FROM dataset_versions
			WHERE id = ? AND dataset_id = ?`+db.flavor.ForUpdate), versionID, datasetID))
		if err != nil {
			return err
		}
		old := *v
		if err := fn(v); err != nil {
			return fnError{err}
		}
		v.ID, v.DatasetID, v.Name, v.SampleCount, v.CreatedAt = old.ID, old.DatasetID, old.Name, old.SampleCount, old.CreatedAt
		_, err = tx.ExecContext(ctx, db.q(`UPDATE dataset_versions SET description = ?, ratio = ?, manifest_path = ?,
			state = ? WHERE id = ?`), v.Description, v.TrainEvalRatio, v.ManifestPath, v.State, v.ID)
		if err != nil {
			return err
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListVersionSamples returns up to limit (100 when unset, at most 1000) of
// the version's snapshot samples in id order after after, by keyset on the
// primary key. An unknown version has no samples.
func (db *DB) ListVersionSamples(ctx context.Context, versionID, after string, limit int) ([]*atelier.Sample, error) {
	return queryAll(ctx, db, "list version samples", scanSample, `SELECT s.dataset_id, s.sample_id, s.source, s.usage,
		s.annotations, s.labels, s.created_at, s.updated_at FROM version_samples s
		WHERE s.version_id = ? AND s.sample_id > ? ORDER BY s.sample_id LIMIT ?`, versionID, after, sampleLimit(limit))
}

const exportCols = `id, dataset_id, version_id, path, state, exported, error, created_at, updated_at`

func scanExport(s scanner) (*atelier.ExportTask, error) {
	var t atelier.ExportTask
	var created, updated int64
	if err := s.Scan(&t.ID, &t.DatasetID, &t.VersionID, &t.Path, &t.State, &t.Exported, &t.Error,
		&created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromUS(created), fromUS(updated)
	return &t, nil
}

// CreateExportTask inserts t, giving it a new ID when it has none;
// ErrNotFound when its dataset or its version (of that dataset) is
// missing, ErrConflict when the id is taken. t's times are replaced by
// their stored forms.
func (db *DB) CreateExportTask(ctx context.Context, t *atelier.ExportTask) error {
	if t.ID == "" {
		t.ID = atelier.NewID()
	}
	t.CreatedAt, t.UpdatedAt = fromUS(us(t.CreatedAt)), fromUS(us(t.UpdatedAt))
	return db.wrap("create export task", db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkDataset(ctx, tx, t.DatasetID); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM dataset_versions WHERE id = ? AND dataset_id = ?`),
			t.VersionID, t.DatasetID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO export_tasks (`+exportCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			t.ID, t.DatasetID, t.VersionID, t.Path, t.State, t.Exported, t.Error, us(t.CreatedAt), us(t.UpdatedAt))
		return err
	}))
}

// ListExportTasks returns the dataset's export tasks, newest first by
// (created_at, id).
func (db *DB) ListExportTasks(ctx context.Context, datasetID string) ([]*atelier.ExportTask, error) {
	return queryAll(ctx, db, "list export tasks", scanExport, `SELECT `+exportCols+` FROM export_tasks
		WHERE dataset_id = ? ORDER BY created_at DESC, id DESC`, datasetID)
}

// UpdateExportTask reads the dataset's export task, calls fn on it and
// writes back its path, state, count, error and UpdatedAt in one
// transaction that locks the row; the ids and creation time cannot change.
// An error from fn is returned as is; ErrNotFound when missing (fn is not
// called).
func (db *DB) UpdateExportTask(ctx context.Context, datasetID, taskID string, fn func(t *atelier.ExportTask) error) (*atelier.ExportTask, error) {
	var out *atelier.ExportTask
	err := db.update(ctx, "update export task", func(tx *sql.Tx) error {
		t, err := scanExport(tx.QueryRowContext(ctx, db.q(`SELECT `+exportCols+` FROM export_tasks
			WHERE id = ? AND dataset_id = ?`+db.flavor.ForUpdate), taskID, datasetID))
		if err != nil {
			return err
		}
		old := *t
		if err := fn(t); err != nil {
			return fnError{err}
		}
		t.ID, t.DatasetID, t.VersionID, t.CreatedAt = old.ID, old.DatasetID, old.VersionID, old.CreatedAt
		t.UpdatedAt = fromUS(us(t.UpdatedAt))
		_, err = tx.ExecContext(ctx, db.q(`UPDATE export_tasks SET path = ?, state = ?, exported = ?, error = ?,
			updated_at = ? WHERE id = ?`), t.Path, t.State, t.Exported, t.Error, us(t.UpdatedAt), t.ID)
		if err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
