package policy

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// watched is a watcher over a temporary directory holding validAgreement.
type watched struct {
	w       *Watcher
	path    string
	errors  atomic.Int32
	reloads atomic.Int32
	logs    *syncBuffer
	metrics *Metrics
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newWatched(t *testing.T, interval time.Duration) *watched {
	t.Helper()
	dir := writeFiles(t, map[string]string{"aa-bb.yaml": validAgreement})
	ww := &watched{path: filepath.Join(dir, "aa-bb.yaml"), logs: &syncBuffer{}, metrics: NewMetrics(prometheus.NewRegistry())}
	w, err := NewWatcher(WatcherOptions{
		Interval: interval,
		Logger:   slog.New(slog.NewTextHandler(ww.logs, nil)),
		Metrics:  ww.metrics,
		OnReload: func(*Set) { ww.reloads.Add(1) },
		OnError:  func(error) { ww.errors.Add(1) },
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ww.w = w
	return ww
}

func (ww *watched) write(t *testing.T, content string) {
	t.Helper()
	// Write then rename, as editors and ConfigMap updates do, so that a
	// poll never reads half a file.
	tmp := ww.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, ww.path); err != nil {
		t.Fatal(err)
	}
}

func answerDeadline(s *Set) time.Duration {
	c, _ := s.Find("bf.dpe-bobo", "ci.dpe-abidjan", "receipt", testNow)
	return c.SLA.TimeToAnswer
}

func TestAWatcherPicksUpAGoodChange(t *testing.T) {
	ww := newWatched(t, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ww.w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ww.write(t, replaced("time_to_answer: 5d", "time_to_answer: 3d"))
	eventually(t, 5*time.Second, func() bool { return answerDeadline(ww.w.Current()) == 3*24*time.Hour }, "the new deadline is in use")
	if ww.reloads.Load() != 1 || ww.errors.Load() != 0 || ww.w.Err() != nil {
		t.Fatalf("reloads %d, errors %d, err %v", ww.reloads.Load(), ww.errors.Load(), ww.w.Err())
	}
	if got := value(t, ww.metrics.reloads.WithLabelValues("ok")); got != 2 {
		t.Fatalf("ok reloads metric = %v, want 2 (start and change)", got)
	}
}

func TestABrokenFileNeverReplacesTheGoodSet(t *testing.T) {
	ww := newWatched(t, time.Hour)
	good := ww.w.Current()

	ww.write(t, replaced("time_to_answer: 5d", "time_to_answer: bientôt"))
	changed, err := ww.w.Poll()
	if changed || err == nil || !strings.Contains(err.Error(), "sla.time_to_answer") {
		t.Fatalf("Poll = %v, %v", changed, err)
	}
	if ww.w.Current() != good || ww.w.Err() == nil {
		t.Fatal("the broken file replaced the good set, or its error was dropped")
	}
	if got := value(t, ww.metrics.failing); got != 1 {
		t.Fatalf("failing gauge = %v", got)
	}
	if !strings.Contains(ww.logs.String(), "policy files rejected") {
		t.Fatalf("nothing logged: %q", ww.logs.String())
	}

	// Looking again at the same broken file reports it, but only once.
	if _, err := ww.w.Poll(); err == nil {
		t.Fatal("the broken state is forgotten")
	}
	if ww.errors.Load() != 1 {
		t.Fatalf("OnError called %d times for one broken state", ww.errors.Load())
	}

	ww.write(t, replaced("time_to_answer: 5d", "time_to_answer: 4d"))
	if changed, err := ww.w.Poll(); !changed || err != nil {
		t.Fatalf("the repaired file was not loaded: %v, %v", changed, err)
	}
	if answerDeadline(ww.w.Current()) != 4*24*time.Hour || ww.w.Err() != nil {
		t.Fatal("the repaired file is not in use")
	}
	if got := value(t, ww.metrics.failing); got != 0 {
		t.Fatalf("failing gauge = %v after repair", got)
	}
}

func TestAnAgreementRemovedFromDiskLeavesTheSetInUse(t *testing.T) {
	ww := newWatched(t, time.Hour)
	good := ww.w.Current()
	if err := os.Remove(ww.path); err != nil {
		t.Fatal(err)
	}
	if _, err := ww.w.Poll(); err == nil {
		t.Fatal("an empty directory was accepted")
	}
	if ww.w.Current() != good {
		t.Fatal("the set in use was dropped")
	}
}

func TestUnchangedFilesAreNotReloaded(t *testing.T) {
	ww := newWatched(t, time.Hour)
	before := ww.w.Current()
	if changed, err := ww.w.Poll(); changed || err != nil {
		t.Fatalf("Poll = %v, %v", changed, err)
	}
	if ww.w.Current() != before || ww.reloads.Load() != 0 {
		t.Fatal("unchanged files were reloaded")
	}
}

func TestAWatcherDoesNotStartOnBrokenFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": replaced("parties: [bf, ci]", "parties: [bf, zz]")})
	if _, err := NewWatcher(WatcherOptions{}, dir); err == nil {
		t.Fatal("started on a broken agreement")
	}
}

// Reloading swaps the set under running decisions: none may fail or see a
// half-built set. Run with -race.
func TestReloadingWhileDecidingDropsNoDecision(t *testing.T) {
	dir := writeFiles(t, map[string]string{"bf-ci-ml.yaml": mustRead(t, "testdata/corridors/bf-ci-ml-v2.yaml")})
	w, err := NewWatcher(WatcherOptions{Logger: slog.New(slog.NewTextHandler(&syncBuffer{}, nil))}, dir)
	if err != nil {
		t.Fatal(err)
	}
	in := baseInput(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var decided, denied atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := w.Decide(context.Background(), in); !d.Allowed {
					denied.Add(1)
				}
				decided.Add(1)
			}
		}()
	}
	eventually(t, 5*time.Second, func() bool { return decided.Load() > 10 }, "decisions are running")
	path := filepath.Join(dir, "bf-ci-ml.yaml")
	original := mustRead(t, path)
	for i := range 20 {
		content := strings.Replace(original, "time_to_answer: 5d", "time_to_answer: "+[]string{"4d", "6d"}[i%2], 1)
		if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		if changed, err := w.Poll(); !changed || err != nil {
			t.Fatalf("reload %d: %v, %v", i, changed, err)
		}
	}
	during := decided.Load()
	eventually(t, 5*time.Second, func() bool { return decided.Load() > during+10 }, "decisions go on after the reloads")
	close(stop)
	wg.Wait()
	if denied.Load() != 0 {
		t.Fatalf("%d of %d decisions were denied during reloads", denied.Load(), decided.Load())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("%v is neither a counter nor a gauge", m.Desc())
	return 0
}
