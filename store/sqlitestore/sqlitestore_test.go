package sqlitestore_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/store/sqlstore"
	"github.com/atelier-dev/atelier/store/storetest"
)

func open(tb testing.TB, path string) store.Store {
	tb.Helper()
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "atelier.db"))
	})
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, ":memory:") })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		return open(b, filepath.Join(b.TempDir(), "atelier.db"))
	})
}

// BenchmarkListModels times ListModels at 100,000 models against the plain
// SQL statement (storetest.BenchListModels).
func BenchmarkListModels(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "atelier.db"))
	b.Cleanup(func() { _ = s.Close() })
	storetest.BenchListModels(b, s, s.(*sqlstore.DB).ListModelsPlain)
}

// TestFilesArePrivate checks that the database and its WAL and shared
// memory files are readable by their owner only, whatever the umask, and
// that opening fixes the mode of a database made before.
func TestFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "atelier.db")
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	if err := os.WriteFile(path, nil, 0o644); err != nil { // an older server's file
		t.Fatal(err)
	}
	s := open(t, path)
	t.Cleanup(func() { _ = s.Close() })
	if err := s.AppendAudit(t.Context(), &atelier.AuditEvent{ID: "a1", Time: time.Now().UTC(), Action: "test", Outcome: atelier.AuditSuccess}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"atelier.db", "atelier.db-wal", "atelier.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", name, m)
		}
	}
}
