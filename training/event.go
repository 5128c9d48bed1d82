package training

import (
	"context"
	"errors"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// This file is the one place where training creates jobs and versions and
// changes a version in the store. changeVersion runs each of these changes
// in one store transaction together with the TRAINING_JOB_STATE_CHANGED
// event it calls for, so that no code path can move a version to a state
// without its event, and the events of a version are appended in the order
// of its transitions, under the version's row lock (docs/events.md).
// TestStoreWritesOfEvents in layout_test.go fails when any other file of
// the module calls the store's CreateJob, CreateVersion or UpdateVersion.
//
// The version's own history (the JobEvent rows that ListEvents returns)
// stays with the store, which appends it in UpdateVersion's transaction.

// changeVersion runs change in one store transaction and, when the
// version's state changed (previous is the state it had, "" for a new
// version), appends there the TRAINING_JOB_STATE_CHANGED event from
// previous to v.State at at, with v as the store returned it. change may
// run more than once and must have no side effects but through tx; its
// error, or the store's, comes back as is.
func (s *Service) changeVersion(ctx context.Context, at time.Time, change func(tx store.Store) (previous string, v *atelier.JobVersion, err error)) error {
	return s.st.InTx(ctx, func(tx store.Store) error {
		previous, v, err := change(tx)
		if err != nil || v.State == previous {
			return err
		}
		// Jobs are never renamed, so reading the name here gives the one
		// it had at the change. A version whose job is gone cannot be read
		// under the version's lock (DeleteJob deletes both at once), but an
		// event without a name is better than a failed transition.
		var name string
		if j, err := tx.GetJob(ctx, v.TenantID, v.JobID); err == nil {
			name = j.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.AppendEvent(ctx, atelier.NewJobStateEvent(name, v, previous, at))
	})
}

// createJob stores the new job j with its first version v (store.JobStore.
// CreateJob sets v's ids and name) and the version's first event, at
// v.CreatedAt.
func (s *Service) createJob(ctx context.Context, j *atelier.TrainingJob, v *atelier.JobVersion) error {
	return s.changeVersion(ctx, v.CreatedAt, func(tx store.Store) (string, *atelier.JobVersion, error) {
		return "", v, tx.CreateJob(ctx, j, v)
	})
}

// createVersion stores v as its job's next version (store.JobStore.
// CreateVersion sets its number and name) with its first event, at
// v.CreatedAt.
func (s *Service) createVersion(ctx context.Context, v *atelier.JobVersion) error {
	return s.changeVersion(ctx, v.CreatedAt, func(tx store.Store) (string, *atelier.JobVersion, error) {
		return "", v, tx.CreateVersion(ctx, v)
	})
}

// updateVersion runs fn on version n of the job (store.JobStore.
// UpdateVersion: fn may run more than once and must have no side effects)
// and, when fn changed the state, records the transition at now: the
// version's JobEvent and the outbox event from the state it had. It
// returns the version as stored and whether its state changed.
func (s *Service) updateVersion(ctx context.Context, jobID string, n int64, now time.Time, fn func(v *atelier.JobVersion) error) (*atelier.JobVersion, bool, error) {
	var out *atelier.JobVersion
	var previous string
	err := s.changeVersion(ctx, now, func(tx store.Store) (string, *atelier.JobVersion, error) {
		v, err := tx.UpdateVersion(ctx, jobID, n, now, func(v *atelier.JobVersion) error {
			previous = v.State
			return fn(v)
		})
		out = v
		return previous, v, err
	})
	if err != nil {
		return nil, false, err
	}
	return out, out.State != previous, nil
}
