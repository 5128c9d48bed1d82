// Package backends runs a domain package's store-touching tests on a
// fresh store of each backend, SQLite and PostgreSQL, as the store's own
// suite runs on both. The caller's TestMain runs pgtest.Main, which
// removes the PostgreSQL cluster afterwards.
package backends

import (
	"path/filepath"
	"testing"

	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/pgstore"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var backends = []struct {
	name string
	open func(t *testing.T) (store.Store, error)
}{
	{"sqlite", func(t *testing.T) (store.Store, error) {
		return sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	}},
	{"postgres", func(t *testing.T) (store.Store, error) {
		return pgstore.Open(t.Context(), pgtest.NewDatabase(t))
	}},
}

// Each runs fn as a parallel subtest, named after the backend, on a fresh
// store of each backend, closed when the subtest ends.
func Each(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, err := b.open(t)
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			fn(t, st)
		})
	}
}
