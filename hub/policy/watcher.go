package policy

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often a Watcher looks at the files.
const DefaultPollInterval = 2 * time.Second

// WatcherOptions configure a Watcher; every field is optional.
type WatcherOptions struct {
	// Interval between two looks at the files (DefaultPollInterval).
	Interval time.Duration
	Logger   *slog.Logger
	Metrics  *Metrics
	// OnReload is called after a changed, valid set replaced the previous
	// one.
	OnReload func(*Set)
	// OnError is called when changed files do not load; the previous set
	// stays in use.
	OnError func(error)
}

// Watcher keeps the agreements in use up to date with the files. It reads
// the files every Interval and, when their names or contents changed,
// loads them; a valid result replaces the set in use atomically (in-flight
// decisions finish with the set they started with), an invalid one is
// reported and ignored until the files change again. Polling is used
// rather than file-system notifications: a few small files every two
// seconds cost nothing, and it behaves the same on every platform and on
// mounted volumes (ConfigMaps replace files through symlinks).
type Watcher struct {
	paths   []string
	opts    WatcherOptions
	current atomic.Pointer[Set]

	mu   sync.Mutex // serialises Poll
	seen string     // digest (or read error) of the files last looked at

	errMu   sync.RWMutex
	lastErr error
}

// NewWatcher loads the agreements under paths; it fails if they do not
// load, since the hub must not start without a valid policy.
func NewWatcher(opts WatcherOptions, paths ...string) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultPollInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	files, err := readSources(paths)
	if err != nil {
		return nil, err
	}
	set, err := build(files)
	if err != nil {
		return nil, err
	}
	w := &Watcher{paths: append([]string(nil), paths...), opts: opts, seen: set.Digest()}
	w.current.Store(set)
	opts.Metrics.loaded(set, time.Now())
	return w, nil
}

// Current returns the set in use. It never returns nil.
func (w *Watcher) Current() *Set { return w.current.Load() }

// Decide decides with the set in use.
func (w *Watcher) Decide(ctx context.Context, in Input) Decision {
	d := w.Current().Decide(ctx, in)
	w.opts.Metrics.ObserveDecision(d)
	return d
}

// Err returns why the files on disk are not in use, or nil when the set
// in use reflects them.
func (w *Watcher) Err() error {
	w.errMu.RLock()
	defer w.errMu.RUnlock()
	return w.lastErr
}

func (w *Watcher) setErr(err error) {
	w.errMu.Lock()
	w.lastErr = err
	w.errMu.Unlock()
}

// Poll looks at the files now (Run calls it every Interval; an operator's
// reload signal may call it too). It reports whether a new set was swapped
// in, and the load error while the files on disk are broken. Files that are
// unchanged since the last look, good or broken, are not parsed again, so
// a broken state is logged and reported once.
func (w *Watcher) Poll() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	files, err := readSources(w.paths)
	state := "unreadable:" // a missing directory is a state of its own
	if err == nil {
		state = digest(files)
	} else {
		state += err.Error()
	}
	if state == w.seen {
		return false, w.Err()
	}
	w.seen = state
	var set *Set
	if err == nil {
		set, err = build(files)
	}
	if err != nil {
		w.setErr(err)
		w.opts.Metrics.reloadFailed()
		w.opts.Logger.Error("policy files rejected; the previous agreements stay in use", "err", err, "digest_in_use", w.Current().Digest())
		if w.opts.OnError != nil {
			w.opts.OnError(err)
		}
		return false, err
	}
	w.current.Store(set)
	w.setErr(nil)
	w.opts.Metrics.loaded(set, time.Now())
	w.opts.Logger.Info("policy reloaded", "corridors", set.Len(), "digest", set.Digest())
	if w.opts.OnReload != nil {
		w.opts.OnReload(set)
	}
	return true, nil
}

// Run polls until ctx is done. Failures are reported through the logger,
// the metrics and OnError by Poll.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = w.Poll()
		}
	}
}
