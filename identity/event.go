package identity

import (
	"bytes"
	"context"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// This file is the one place where identity changes users and
// organizations in the store. changeUser and changeOrg run each change in
// one store transaction together with the outbox event it calls for,
// decided and built here with the service's clock, so that no code path
// can change a user or an organization without its event (docs/events.md,
// "Delivery: outbox, dispatcher, guarantees"). TestStoreWritesOfEvents in
// layout_test.go fails when any other file of the module calls the store's
// CreateUser, UpdateUser, DeleteUser, CreateOrg, UpdateOrg or DeleteOrg.

// changeUser runs change in one store transaction and appends there the
// user event it calls for, at now: before nil is a creation (CREATE_USER
// about after), after nil a deletion (DELETE_USER about before, the user as
// it was deleted), both set an update (UPDATE_USER about after when the
// event's data, updatedAt aside, differ: secrets, login counters and lock
// times make no event). The users are as the store returned them, so that
// the event's data equals what a read gives. change may run more than once
// and must have no side effects but through tx; its error, or the store's,
// comes back as is.
func (s *Service) changeUser(ctx context.Context, now time.Time, change func(tx store.Store) (before, after *atelier.User, err error)) error {
	return changeWithEvent(ctx, s.st, now, userEvents, change)
}

// eventKinds are one aggregate's event types and projection.
type eventKinds[T any] struct {
	create, update, remove string
	event                  func(typ string, v *T, at time.Time) *atelier.Event
	// unstamp clears what changes without being a change (updatedAt).
	unstamp func(v T) T
}

var (
	userEvents = eventKinds[atelier.User]{atelier.EventCreateUser, atelier.EventUpdateUser, atelier.EventDeleteUser,
		atelier.NewUserEvent, func(u atelier.User) atelier.User { u.UpdatedAt = time.Time{}; return u }}
	orgEvents = eventKinds[atelier.Organization]{atelier.EventCreateOrganization, atelier.EventUpdateOrganization, atelier.EventDeleteOrganization,
		atelier.NewOrgEvent, func(o atelier.Organization) atelier.Organization { o.UpdatedAt = time.Time{}; return o }}
)

// changeWithEvent is changeUser and changeOrg: change, then the event it
// calls for, in one transaction.
func changeWithEvent[T any](ctx context.Context, st store.Store, now time.Time, k eventKinds[T], change func(tx store.Store) (before, after *T, err error)) error {
	return st.InTx(ctx, func(tx store.Store) error {
		before, after, err := change(tx)
		if err != nil {
			return err
		}
		var e *atelier.Event
		switch {
		case before == nil:
			e = k.event(k.create, after, now)
		case after == nil:
			e = k.event(k.remove, before, now)
		case k.changed(before, after):
			e = k.event(k.update, after, now)
		default:
			return nil
		}
		return tx.AppendEvent(ctx, e)
	})
}

// changed reports whether the event data of a and b differ other than in
// what unstamp clears.
func (k eventKinds[T]) changed(a, b *T) bool {
	x, y := k.unstamp(*a), k.unstamp(*b)
	return !bytes.Equal(k.event("", &x, time.Time{}).Data, k.event("", &y, time.Time{}).Data)
}

// insertUser stores the new user u (its times become their stored forms)
// with its CREATE_USER event at u.CreatedAt.
func (s *Service) insertUser(ctx context.Context, u *atelier.User) error {
	return s.changeUser(ctx, u.CreatedAt, func(tx store.Store) (*atelier.User, *atelier.User, error) {
		return nil, u, tx.CreateUser(ctx, u)
	})
}

// updateUser runs fn on the stored user (store.UserStore.UpdateUser: fn may
// run more than once and must have no side effects) and appends the
// UPDATE_USER event at now when the change shows in the event's data. It
// returns the user as stored.
func (s *Service) updateUser(ctx context.Context, id string, now time.Time, fn func(u *atelier.User) error) (*atelier.User, error) {
	var out *atelier.User
	err := s.changeUser(ctx, now, func(tx store.Store) (*atelier.User, *atelier.User, error) {
		var before atelier.User
		after, err := tx.UpdateUser(ctx, id, func(u *atelier.User) error {
			before = *u
			return fn(u)
		})
		out = after
		return &before, after, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deleteUser deletes the user with its tokens, keys and grants and appends
// its DELETE_USER event at now.
func (s *Service) deleteUser(ctx context.Context, id string, now time.Time) error {
	return s.changeUser(ctx, now, func(tx store.Store) (*atelier.User, *atelier.User, error) {
		u, err := tx.DeleteUser(ctx, id)
		return u, nil, err
	})
}

// changeOrg is changeUser for organizations: CREATE_, UPDATE_ (when the
// name or parent changed) and DELETE_ORGANIZATION.
func (s *Service) changeOrg(ctx context.Context, now time.Time, change func(tx store.Store) (before, after *atelier.Organization, err error)) error {
	return changeWithEvent(ctx, s.st, now, orgEvents, change)
}

// insertOrg stores the new organization o (its times become their stored
// forms) with its CREATE_ORGANIZATION event at o.CreatedAt.
func (s *Service) insertOrg(ctx context.Context, o *atelier.Organization) error {
	return s.changeOrg(ctx, o.CreatedAt, func(tx store.Store) (*atelier.Organization, *atelier.Organization, error) {
		return nil, o, tx.CreateOrg(ctx, o)
	})
}

// updateOrg runs fn on the stored organization and appends the
// UPDATE_ORGANIZATION event at now when its name or parent changed. It
// returns the organization as stored.
func (s *Service) updateOrg(ctx context.Context, id string, now time.Time, fn func(o *atelier.Organization) error) (*atelier.Organization, error) {
	var out *atelier.Organization
	err := s.changeOrg(ctx, now, func(tx store.Store) (*atelier.Organization, *atelier.Organization, error) {
		var before atelier.Organization
		after, err := tx.UpdateOrg(ctx, id, func(o *atelier.Organization) error {
			before = *o
			return fn(o)
		})
		out = after
		return &before, after, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deleteOrg deletes an empty organization and appends its
// DELETE_ORGANIZATION event at now.
func (s *Service) deleteOrg(ctx context.Context, id string, now time.Time) error {
	return s.changeOrg(ctx, now, func(tx store.Store) (*atelier.Organization, *atelier.Organization, error) {
		o, err := tx.DeleteOrg(ctx, id)
		return o, nil, err
	})
}
