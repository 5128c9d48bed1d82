package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

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
