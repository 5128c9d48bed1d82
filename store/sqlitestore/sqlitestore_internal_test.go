package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/atelier-dev/atelier"
)

func TestPragmas(t *testing.T) {
	w, r, err := openPools(filepath.Join(t.TempDir(), "new", "dir", "atelier.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	want := map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1", "synchronous": "1"}
	for pool, db := range map[string]*sql.DB{"writer": w, "reader": r} {
		for pragma, v := range want {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", pool, pragma, err)
			}
			if got != v {
				t.Errorf("%s: PRAGMA %s = %q, want %q", pool, pragma, got, v)
			}
		}
	}
	if _, err := r.ExecContext(t.Context(), "CREATE TABLE x (y)"); err == nil {
		t.Error("the reader pool accepted a write")
	}
}

// TestReopen checks that migrations are idempotent and that a second store
// on the same file sees the first one's writes.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "atelier.db")
	s1, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tn := &atelier.Tenant{ID: atelier.NewID(), Name: "first"}
	if err := s1.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open of the same file: %v", err)
	}
	if _, err := s2.GetTenant(ctx, tn.ID); err != nil {
		t.Errorf("second store does not see the first one's tenant: %v", err)
	}
	if err := s2.CreateTenant(ctx, &atelier.Tenant{ID: atelier.NewID(), Name: "second"}); err != nil {
		t.Errorf("second store cannot write: %v", err)
	}
	for _, s := range []interface{ Close() error }{s1, s2, s1} {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	s3, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after close: %v", err)
	}
	defer s3.Close()
	list, err := s3.ListTenants(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("ListTenants after reopening = %v, %v; want 2 tenants", list, err)
	}
	w, r, err := openPools(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	var applied int
	if err := r.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if n, _ := migrations.ReadDir("migrations"); applied != len(n) {
		t.Errorf("goose recorded %d applied migrations, want %d", applied, len(n))
	}
}
