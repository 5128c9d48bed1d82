package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/leader"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/pgstore"
)

// mustExpiredChallenge stores a challenge that expired an hour ago.
func mustExpiredChallenge(t *testing.T, st store.Store) string {
	t.Helper()
	now := time.Now().UTC()
	c := &store.Challenge{ID: atelier.NewID() + ":email", UserID: "u", Channel: "email", CodeHash: "h",
		SentAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour), CreatedAt: now.Add(-2 * time.Hour)}
	if err := st.PutChallenge(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func gone(st store.Store, challengeID string) bool {
	_, err := st.GetChallenge(context.Background(), challengeID)
	return errors.Is(err, store.ErrNotFound)
}

// TestLeaderRunsGC checks that a lone server leads, reports it in
// /metrics and runs the garbage collector, which deletes expired
// challenges (nothing else ever did).
func TestLeaderRunsGC(t *testing.T) {
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.Background.GCInterval = time.Second })
	id := mustExpiredChallenge(t, ts.store)
	waitFor(t, "the leader's gc to delete an expired challenge", func() bool { return gone(ts.store, id) })
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `atelier_leader{lease="atelier"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// TestLeaderSIGKILLPostgres runs two server processes on one PostgreSQL
// database: one leads; killed with SIGKILL, the other takes the lease
// within its TTL (plus one renewal) and runs the garbage collector.
func TestLeaderSIGKILLPostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	st, err := pgstore.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = 3 * time.Second
	env := []string{"ATELIER_DATABASE_URL=" + dbURL, "ATELIER_SECRET_KEY_FILE=" + filepath.Join(t.TempDir(), "secret.key"),
		"ATELIER_LEADER_TTL=" + ttl.String(), "ATELIER_GC_INTERVAL=1s"}
	procs := []*procServer{MustStartProcess(t, t.TempDir(), env...), MustStartProcess(t, t.TempDir(), env...)}
	holder := func() string {
		l, err := st.GetLease(t.Context(), leader.DefaultName)
		if err != nil || time.Now().After(l.ExpiresAt) {
			return ""
		}
		return l.Holder
	}
	// Lease holders are host-pid-random.
	byPID := func(h string) int {
		for i, p := range procs {
			if strings.Contains(h, fmt.Sprintf("-%d-", p.cmd.Process.Pid)) {
				return i
			}
		}
		return -1
	}
	waitFor(t, "a leader", func() bool { return byPID(holder()) >= 0 })
	first := byPID(holder())

	procs[first].kill()
	killed := time.Now()
	waitFor(t, "the other server to lead", func() bool { return byPID(holder()) == 1-first })
	took := time.Since(killed)
	t.Logf("leader killed; the other server led %v later (TTL %v)", took.Round(time.Millisecond), ttl)
	if took > ttl+ttl/3+2*time.Second {
		t.Errorf("takeover took %v, want within TTL + a renewal (%v) and some slack", took, ttl+ttl/3)
	}
	id := mustExpiredChallenge(t, st)
	waitFor(t, "the new leader's gc to delete an expired challenge", func() bool { return gone(st, id) })
}
