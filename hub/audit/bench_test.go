package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// Run the benchmarks with, e.g.:
//
//	go test ./hub/audit -run '^$' -bench . -benchtime 2000x
//
// The first benchmark needing the 1,000,000-leaf tree builds it once (in one
// transaction, in batches) in a temporary SQLite file shared by all
// sub-benchmarks and removed when the test binary exits.

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB != nil {
		benchDB.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

const bigTree = 1_000_000

var (
	benchDir   string
	benchOnce  sync.Once
	benchDB    *sql.DB
	benchLog   *Log
	benchErr   error
	benchSizes = []uint64{1_000, 10_000, 100_000, 1_000_000}
)

// bigTreeDB returns a SQLite log of at least bigTree leaves.
func bigTreeDB(b *testing.B) (*sql.DB, *Log) {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "relais-audit-bench-")
		if benchErr != nil {
			return
		}
		benchDB, benchErr = sql.Open("sqlite", sqliteDSN(filepath.Join(benchDir, "big.db")))
		if benchErr != nil {
			return
		}
		ctx := context.Background()
		if benchErr = Migrate(ctx, benchDB, DialectSQLite); benchErr != nil {
			return
		}
		benchLog, benchErr = New(Config{Origin: testOrigin, Signer: hubKey, Dialect: DialectSQLite})
		if benchErr != nil {
			return
		}
		start := time.Now()
		tx, err := benchDB.BeginTx(ctx, nil)
		if err != nil {
			benchErr = err
			return
		}
		defer tx.Rollback()
		const batch = 20_000
		events := make([]Event, batch)
		for done := 0; done < bigTree; done += batch {
			for i := range events {
				events[i] = testEvent(done + i)
			}
			if _, err := benchLog.AppendBatch(ctx, tx, events); err != nil {
				benchErr = err
				return
			}
		}
		benchErr = tx.Commit()
		fmt.Fprintf(os.Stderr, "built a %d-leaf audit log in %v\n", bigTree, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatalf("build the big tree: %v", benchErr)
	}
	return benchDB, benchLog
}

// BenchmarkAppend measures what audit logging adds to accepting a message
// on the embedded default: one Append inside an open SQLite transaction.
// ns/op covers begin + append + commit; append-median-ns and append-p99-ns
// cover the Append call alone, the cost added to the message transaction.
func BenchmarkAppend(b *testing.B) {
	b.Run("tree=1e4", func(b *testing.B) {
		db, _ := openSQLite(b)
		l := newLog(b, DialectSQLite, hubKey)
		events := make([]Event, 10_000)
		for i := range events {
			events[i] = testEvent(i)
		}
		inTx(b, db, func(tx *sql.Tx) {
			if _, err := l.AppendBatch(context.Background(), tx, events); err != nil {
				b.Fatal(err)
			}
		})
		benchmarkAppend(b, db, l, 10_000)
	})
	b.Run("tree=1e6", func(b *testing.B) {
		db, l := bigTreeDB(b)
		size, _, err := l.Head(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		benchmarkAppend(b, db, l, int(size))
	})
}

func benchmarkAppend(b *testing.B, db *sql.DB, l *Log, from int) {
	ctx := context.Background()
	durations := make([]time.Duration, 0, 1024)
	i := from
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := l.Append(ctx, tx, testEvent(i)); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds()), "append-median-ns")
	b.ReportMetric(float64(durations[len(durations)*99/100].Nanoseconds()), "append-p99-ns")
}

// BenchmarkInclusionProof measures serving an inclusion proof from the
// stored tree; hashes/proof shows the logarithmic growth.
func BenchmarkInclusionProof(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			db, l := bigTreeDB(b)
			ctx := context.Background()
			var hashes, n int
			i := uint64(0)
			for b.Loop() {
				index := (i * 7919) % size
				p, err := l.InclusionProof(ctx, db, index, size)
				if err != nil {
					b.Fatal(err)
				}
				hashes += len(p)
				n++
				i++
			}
			b.ReportMetric(float64(hashes)/float64(n), "hashes/proof")
		})
	}
}

// BenchmarkVerifyInclusion measures the auditor's offline check of one
// inclusion proof against a checkpoint.
func BenchmarkVerifyInclusion(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			db, l := bigTreeDB(b)
			ctx := context.Background()
			rng, err := l.rangeAt(ctx, db, size)
			if err != nil {
				b.Fatal(err)
			}
			root, _ := rng.GetRootHash(nil)
			cp := Checkpoint{Origin: testOrigin, Size: size, Root: root}
			type sample struct {
				index uint64
				leaf  []byte
				proof [][]byte
			}
			samples := make([]sample, 256)
			hashes := 0
			for i := range samples {
				index := (uint64(i) * 104729) % size
				_, leaf, err := l.Leaf(ctx, db, index)
				if err != nil {
					b.Fatal(err)
				}
				p, err := l.InclusionProof(ctx, db, index, size)
				if err != nil {
					b.Fatal(err)
				}
				samples[i] = sample{index, leaf, p}
				hashes += len(p)
			}
			i := 0
			for b.Loop() {
				s := samples[i%len(samples)]
				if err := VerifyInclusion(s.leaf, s.index, s.proof, cp); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(hashes)/float64(len(samples)), "hashes/proof")
		})
	}
}

// sizeName names a power-of-ten size as "size=1e6".
func sizeName(size uint64) string {
	return fmt.Sprintf("size=1e%d", len(fmt.Sprint(size))-1)
}
