// Package pgtest gives tests throwaway PostgreSQL databases.
//
// A test package that needs PostgreSQL calls Main from its TestMain and
// NewDatabase in each test. The first NewDatabase starts one private cluster
// for the whole package (initdb and pg_ctl in a temporary directory, on a
// free 127.0.0.1 port, with durability off for speed); Main stops and
// removes it after the tests. Each NewDatabase creates a fresh database in
// that cluster, so parallel tests do not see each other's data.
//
// Environment:
//   - ATELIER_TEST_DATABASE_URL: a postgres:// URL of an existing server to
//     create the databases in instead of starting a cluster; its user must
//     be allowed to CREATE DATABASE.
//   - ATELIER_PG_BIN: the directory holding initdb and pg_ctl. Without it
//     pgtest looks in /usr/lib/postgresql/<highest version>/bin, then PATH.
//   - ATELIER_REQUIRE_PG=1: fail instead of skip when PostgreSQL is missing.
//
// When the tests run as root, the cluster runs as the "postgres" OS user,
// since initdb refuses to run as root.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// errNoBinaries says that no PostgreSQL installation was found.
var errNoBinaries = errors.New("no PostgreSQL binaries found (initdb, pg_ctl)")

// cluster is the server that the package's databases live in.
type cluster struct {
	url   string  // maintenance URL, to the "postgres" database
	admin *sql.DB // maintenance connection
	// Set only for a cluster that pgtest started.
	bin, dir string
	cred     *syscall.Credential
	// Set only for an external server: the databases to drop at the end.
	mu      sync.Mutex
	created []string
}

var (
	startOnce sync.Once
	shared    *cluster
	startErr  error
	seq       atomic.Int64
)

// Main runs the package's tests, then stops and removes the cluster that
// NewDatabase started (or drops the databases it created on an external
// server), and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// NewDatabase returns the URL of a new, empty database. It skips the test
// when PostgreSQL is not installed, unless ATELIER_REQUIRE_PG=1.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	startOnce.Do(func() { shared, startErr = start() })
	if startErr != nil {
		if errors.Is(startErr, errNoBinaries) && os.Getenv("ATELIER_REQUIRE_PG") != "1" {
			tb.Skipf("pgtest: %v; install PostgreSQL, or set ATELIER_PG_BIN or ATELIER_TEST_DATABASE_URL (ATELIER_REQUIRE_PG=1 makes this a failure)", startErr)
		}
		tb.Fatalf("pgtest: %v", startErr)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := shared.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	if shared.dir == "" {
		shared.mu.Lock()
		shared.created = append(shared.created, name)
		shared.mu.Unlock()
	}
	u, err := url.Parse(shared.url)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// start connects to ATELIER_TEST_DATABASE_URL or starts a private cluster.
func start() (*cluster, error) {
	if u := os.Getenv("ATELIER_TEST_DATABASE_URL"); u != "" {
		c := &cluster{url: u}
		if err := c.connect(); err != nil {
			return nil, err
		}
		return c, nil
	}
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	return startPrivate(bin)
}

// startPrivate starts a cluster of its own in a temporary directory.
func startPrivate(bin string) (*cluster, error) {
	c := &cluster{bin: bin}
	if err := c.initdb(); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	// The free port may be taken between our probe and the server's bind;
	// try a few.
	var err error
	for attempt := 0; ; attempt++ {
		err = c.pgStart()
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.connect(); err != nil {
		_ = c.stop()
		return nil, err
	}
	return c, nil
}

// findBin returns the directory of initdb and pg_ctl.
func findBin() (string, error) {
	if d := os.Getenv("ATELIER_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("ATELIER_PG_BIN: %w: %w", errNoBinaries, err)
		}
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		version := func(p string) float64 {
			v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
			return v
		}
		sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errNoBinaries
}

// command returns a command that runs as the cluster's OS user.
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// initdb creates the temporary directory and the cluster in it.
func (c *cluster) initdb() error {
	dir, err := os.MkdirTemp("", "atelier-pg-")
	if err != nil {
		return err
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and initdb refuses root: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			return err
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return run(c.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync"))
}

// pgStart starts the server on a free port and waits until it accepts
// connections.
func (c *cluster) pgStart() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300",
		port, c.dir)
	if err := run(c.command("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"),
		"-w", "-t", "60", "-o", opts, "start")); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("%w\n%s", err, log)
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *cluster) connect() error {
	db, err := sql.Open("pgx", c.url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("connect: %w", err)
	}
	c.admin = db
	return nil
}

// stop drops the created databases of an external server, or stops and
// removes the private cluster.
func (c *cluster) stop() error {
	var errs []error
	if c.admin != nil && c.dir == "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, name := range c.created {
			if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.admin != nil {
		_ = c.admin.Close()
	}
	if c.dir != "" {
		errs = append(errs, run(c.command("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")),
			os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// ErrNoBinaries is what StartCluster returns (wrapped) when no PostgreSQL
// binaries are installed.
var ErrNoBinaries = errNoBinaries

// StartCluster starts a private cluster (or connects to
// ATELIER_TEST_DATABASE_URL) outside of go test, for programs such as the
// benchmark runner. It returns the maintenance URL and a function that stops
// and removes the cluster. Durability is off, as for tests.
func StartCluster() (url string, stop func() error, err error) {
	c, err := start()
	if err != nil {
		return "", nil, err
	}
	return c.url, c.stop, nil
}

// Cluster is a private PostgreSQL cluster of one test, which the test may
// stop to see what its code does when the database goes away.
type Cluster struct {
	c       *cluster
	stopped bool
}

// NewCluster starts a private cluster for tb (never the shared one, nor
// ATELIER_TEST_DATABASE_URL's server) and removes it when tb ends. It
// skips the test when PostgreSQL is not installed, unless
// ATELIER_REQUIRE_PG=1.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := findBin()
	if err == nil {
		var c *cluster
		if c, err = startPrivate(bin); err == nil {
			cl := &Cluster{c: c}
			tb.Cleanup(func() {
				if cl.stopped {
					_ = c.admin.Close()
					_ = os.RemoveAll(c.dir)
					return
				}
				if err := c.stop(); err != nil {
					tb.Errorf("pgtest: %v", err)
				}
			})
			return cl
		}
	}
	if errors.Is(err, errNoBinaries) && os.Getenv("ATELIER_REQUIRE_PG") != "1" {
		tb.Skipf("pgtest: %v; install PostgreSQL or set ATELIER_PG_BIN (ATELIER_REQUIRE_PG=1 makes this a failure)", err)
	}
	tb.Fatalf("pgtest: %v", err)
	return nil
}

// URL returns the URL of the cluster's "postgres" database.
func (cl *Cluster) URL() string { return cl.c.url }

// Stop shuts the cluster down (pg_ctl stop -m fast: sessions are ended,
// new connections refused) and waits until it is down.
func (cl *Cluster) Stop() error {
	if cl.stopped {
		return nil
	}
	cl.stopped = true
	return run(cl.c.command("pg_ctl", "-D", filepath.Join(cl.c.dir, "data"), "-m", "fast", "-w", "stop"))
}
