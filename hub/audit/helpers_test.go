package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/relais-hub/relais/contracts"
	_ "modernc.org/sqlite"
)

// postgresEnv names the variable holding a PostgreSQL DSN; the PostgreSQL
// variants of the store tests run only when it is set.
const postgresEnv = "RELAIS_TEST_POSTGRES"

const testOrigin = "relais.hub.test/log"

// testKey is the hub key of the tests, derived from a fixed seed.
func testKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

var hubKey = testKey("relais test hub key")

// sqliteDSN is the embedded-store DSN: WAL, a busy timeout so concurrent
// writers queue, and BEGIN IMMEDIATE so a write transaction holds the write
// lock from its first statement.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

func openSQLite(t testing.TB) (*sql.DB, string) {
	t.Helper()
	dsn := sqliteDSN(filepath.Join(t.TempDir(), "audit.db"))
	return openMigrated(t, "sqlite", dsn, DialectSQLite), dsn
}

func openMigrated(t testing.TB, driver, dsn, dialect string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db, dialect); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// openPostgres gives the test a fresh schema in the database named by
// RELAIS_TEST_POSTGRES, dropped afterwards, and returns the DSN of it.
func openPostgres(t testing.TB) (*sql.DB, string) {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL variant skipped: set %s to a PostgreSQL DSN (e.g. postgres://user:pass@127.0.0.1:5432/db?sslmode=disable)", postgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "audit_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	dsn := base + sep + "search_path=" + schema
	return openMigrated(t, "pgx", dsn, DialectPostgres), dsn
}

// store is one database backend under test.
type store struct {
	name    string
	driver  string
	dialect string
	open    func(t testing.TB) (*sql.DB, string)
}

var stores = []store{
	{"sqlite", "sqlite", DialectSQLite, openSQLite},
	{"postgres", "pgx", DialectPostgres, openPostgres},
}

// forEachStore runs fn against SQLite and, when configured, PostgreSQL.
func forEachStore(t *testing.T, fn func(t *testing.T, s store, db *sql.DB)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			db, _ := s.open(t)
			fn(t, s, db)
		})
	}
}

func newLog(t testing.TB, dialect string, key ed25519.PrivateKey) *Log {
	t.Helper()
	l, err := New(Config{Origin: testOrigin, Signer: key, Dialect: dialect})
	if err != nil {
		t.Fatalf("new log: %v", err)
	}
	return l
}

var baseTime = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// testEvent is a realistic commitments-only event, distinct per i.
func testEvent(i int) Event {
	return Event{
		Type:       TypeAccepted,
		At:         baseTime.Add(time.Duration(i) * time.Millisecond),
		MessageID:  fmt.Sprintf("0195%012d", i),
		Transfer:   fmt.Sprintf("0195%012d", i-i%4),
		Kind:       "referral.request",
		From:       "bf.dpe-bobo",
		To:         "ci.dpe-abidjan",
		Actor:      "bf.dpe-bobo",
		CaseDigest: CaseDigest([]byte("test audit key"), "bf.dpe-bobo", fmt.Sprintf("BF-2025-%04d", i/4)),
		BodyDigest: BodyDigest([]byte(fmt.Sprintf("jws-%d", i))),
	}
}

// appendEvents appends n test events, one transaction each, starting at
// event number from.
func appendEvents(t testing.TB, db *sql.DB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		inTx(t, db, func(tx *sql.Tx) {
			if _, err := l.Append(context.Background(), tx, testEvent(i)); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		})
	}
}

func inTx(t testing.TB, db *sql.DB, fn func(tx *sql.Tx)) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	fn(tx)
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func mustCheckpoint(t testing.TB, db *sql.DB, l *Log) SignedCheckpoint {
	t.Helper()
	cp, err := l.Checkpoint(context.Background(), db)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

// wantFailure asserts err is the verification failure named by sentinel and
// code.
func wantFailure(t testing.TB, err error, sentinel error, code contracts.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("verification passed, want %v (%s)", sentinel, code)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
	if got := contracts.CodeOf(err); got != code {
		t.Fatalf("code %q, want %q (error %q)", got, code, err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
