package pgstore_test

import (
	"context"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/pgstore"
	"github.com/atelier-dev/atelier/store/sqlstore"
	"github.com/atelier-dev/atelier/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(tb testing.TB, url string) store.Store {
	tb.Helper()
	s, err := pgstore.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.NewDatabase(t)) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, pgtest.NewDatabase(b)) })
}

// TestReopen checks that migrations are idempotent and that several stores
// on one database work together.
func TestReopen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s1 := open(t, url)
	tn := &atelier.Tenant{ID: atelier.NewID(), Name: "t"}
	if err := s1.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, url)
	defer s2.Close()
	s3 := open(t, url)
	defer s3.Close()
	if _, err := s3.GetTenant(t.Context(), tn.ID); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

// BenchmarkListModels times ListModels at 100,000 models against the plain
// SQL statement (storetest.BenchListModels).
func BenchmarkListModels(b *testing.B) {
	s := open(b, pgtest.NewDatabase(b))
	b.Cleanup(func() { _ = s.Close() })
	storetest.BenchListModels(b, s, s.(*sqlstore.DB).ListModelsPlain)
}
