package storetest

import (
	"errors"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// txTests is the tier of Store.InTx.
func txTests() []test {
	return []test{
		{"CommitVisible", testTxCommit},
		{"RollbackOnError", testTxRollback},
		{"NestedJoins", testTxNested},
		{"FailedMethodLeavesTxUsable", testTxFailedMethod},
		{"UpdaterInside", testTxUpdater},
	}
}

var errTxBoom = errors.New("storetest: boom")

// testTxCommit checks that a change, its events and what the transaction
// read back all commit together, and that the event signal fires only
// after the commit.
func testTxCommit(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	evs := NewOutbox(t, s)
	drainSignal(s)
	var tn *atelier.Tenant
	var u *atelier.User
	err := s.InTx(ctx, func(tx store.Store) error {
		tn = MustTenant(t, tx, "tx")
		u = MustUser(t, tx, tn.ID, "alice")
		if err := tx.AppendEvent(ctx, newEvent(tn.ID, u.ID, epoch)); err != nil {
			return err
		}
		// Reads go through the transaction and see its writes.
		got, err := tx.GetUserByEmail(ctx, tn.ID, u.Email)
		if err != nil {
			return err
		}
		if got.ID != u.ID {
			t.Errorf("GetUserByEmail inside the transaction = %s, want %s", got.ID, u.ID)
		}
		select {
		case <-s.EventSignal():
			t.Error("event signal before the commit")
		default:
		}
		return nil
	})
	must(t, err, "InTx")
	wantSignal(t, s, "the commit of InTx")
	if _, err := s.GetTenant(ctx, tn.ID); err != nil {
		t.Fatalf("tenant after commit: %v", err)
	}
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Fatalf("user after commit: %v", err)
	}
	evs.Want("CreateUser and AppendEvent in InTx", Subject, u.ID)
}

// testTxRollback checks that fn's error rolls back every change with its
// events and comes back as is.
func testTxRollback(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	evs := NewOutbox(t, s)
	var tn *atelier.Tenant
	var u *atelier.User
	err := s.InTx(ctx, func(tx store.Store) error {
		tn = MustTenant(t, tx, "tx")
		u = MustUser(t, tx, tn.ID, "alice")
		must(t, tx.AppendEvent(ctx, newEvent(tn.ID, u.ID, epoch)), "AppendEvent")
		return errTxBoom
	})
	if err != errTxBoom {
		t.Fatalf("InTx = %v, want fn's error as is", err)
	}
	wantErr(t, getTenantErr(t, s, tn.ID), store.ErrNotFound, "GetTenant after rollback")
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after rollback")
	evs.Want("a rolled back CreateUser and AppendEvent", Subject)
	// The name is free again.
	MustTenant(t, s, "tx")
}

func getTenantErr(t *testing.T, s store.Store, id string) error {
	_, err := s.GetTenant(ctxFor(t), id)
	return err
}

// testTxNested checks that a nested InTx joins the outer transaction: its
// changes commit only with it, and its failure undoes only its own.
func testTxNested(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	var a, b, c, d *atelier.Tenant
	err := s.InTx(ctx, func(tx store.Store) error {
		a = MustTenant(t, tx, "a")
		if err := tx.InTx(ctx, func(tx store.Store) error {
			b = MustTenant(t, tx, "b")
			return nil
		}); err != nil {
			return err
		}
		err := tx.InTx(ctx, func(tx store.Store) error {
			c = MustTenant(t, tx, "c")
			return errTxBoom
		})
		if !errors.Is(err, errTxBoom) {
			t.Errorf("nested InTx = %v, want its fn's error", err)
		}
		if _, err := tx.GetTenant(ctx, b.ID); err != nil {
			t.Errorf("nested commit not visible in the outer transaction: %v", err)
		}
		return nil
	})
	must(t, err, "InTx")
	for _, tn := range []*atelier.Tenant{a, b} {
		if _, err := s.GetTenant(ctx, tn.ID); err != nil {
			t.Errorf("tenant %s after commit: %v", tn.Name, err)
		}
	}
	wantErr(t, getTenantErr(t, s, c.ID), store.ErrNotFound, "tenant of a failed nested InTx")

	// An outer failure undoes what the nested transaction did.
	err = s.InTx(ctx, func(tx store.Store) error {
		if err := tx.InTx(ctx, func(tx store.Store) error {
			d = MustTenant(t, tx, "d")
			return nil
		}); err != nil {
			return err
		}
		return errTxBoom
	})
	wantErr(t, err, errTxBoom, "InTx")
	wantErr(t, getTenantErr(t, s, d.ID), store.ErrNotFound, "nested change of a rolled back InTx")
}

// testTxFailedMethod checks that a method failing inside InTx (a conflict
// the caller expects) leaves nothing of itself and the transaction usable:
// PostgreSQL aborts a transaction on a failed statement unless the store
// guards it.
func testTxFailedMethod(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	existing := MustTenant(t, s, "taken")
	var tn *atelier.Tenant
	err := s.InTx(ctx, func(tx store.Store) error {
		err := tx.CreateTenant(ctx, &atelier.Tenant{ID: atelier.NewID(), Name: "taken", CreatedAt: epoch})
		wantErr(t, err, store.ErrConflict, "CreateTenant of a taken name inside InTx")
		tn = MustTenant(t, tx, "free")
		// A multi-statement method that fails half-way (the user's email
		// is free, its org is not there) leaves no half.
		u := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: "bob@example.com", Name: "bob",
			Role: atelier.RoleMember, Status: atelier.UserActive, PasswordHash: "x", OrgID: atelier.NewID(),
			PasswordChangedAt: epoch, PasswordHistory: []string{}, CreatedAt: epoch, UpdatedAt: epoch}
		wantErr(t, tx.CreateUser(ctx, u), store.ErrNotFound, "CreateUser in a missing org inside InTx")
		_, err = tx.GetUser(ctx, u.ID)
		wantErr(t, err, store.ErrNotFound, "GetUser of the failed CreateUser")
		return nil
	})
	must(t, err, "InTx after a failed method")
	if _, err := s.GetTenant(ctx, tn.ID); err != nil {
		t.Fatalf("tenant created after a failed method: %v", err)
	}
	got, err := s.GetTenant(ctx, existing.ID)
	must(t, err, "GetTenant")
	if got.Name != "taken" {
		t.Errorf("existing tenant renamed to %q", got.Name)
	}
}

// testTxUpdater checks that an updater method inside InTx reads and writes
// in the transaction, and that its change rolls back with it.
func testTxUpdater(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	u := MustUser(t, s, tn.ID, "alice")
	for _, fail := range []bool{false, true} {
		name := "renamed"
		if fail {
			name = "rolled-back"
		}
		err := s.InTx(ctx, func(tx store.Store) error {
			if _, err := tx.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
				u.Name = name
				return nil
			}); err != nil {
				return err
			}
			got, err := tx.GetUser(ctx, u.ID)
			if err != nil {
				return err
			}
			if got.Name != name {
				t.Errorf("inside InTx the user is named %q, want %q", got.Name, name)
			}
			if fail {
				return errTxBoom
			}
			return nil
		})
		if fail {
			wantErr(t, err, errTxBoom, "InTx")
		} else {
			must(t, err, "InTx")
		}
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if got.Name != "renamed" {
		t.Errorf("user named %q after a committed and a rolled back rename, want %q", got.Name, "renamed")
	}
}
