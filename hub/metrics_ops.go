package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// OpsCollector exposes, at scrape time, what operators alert on and the
// hub's event counters cannot tell: whether the hub is ready, how much waits
// in the outbox and in agencies' inboxes, which transfers are overdue, how
// far behind the audit checkpoints are, and when each agency was last
// heard from. Everything is read from the store, so every hub process
// sharing one database reports the same values.
//
// Labels are agency ids and country codes, never personal data. Agency
// labels are limited to registered agencies, so a forged id can never
// create a series.
type OpsCollector struct {
	h    *Hub
	opts OpsOptions

	mu sync.Mutex // one scrape at a time; guards the fields up to seenMu
	// last and lastAt cache the previous scrape's values for MinInterval.
	last   []prometheus.Metric
	lastAt time.Time
	// cursor is the next audit event index to look at, and caughtUp
	// whether the first scan reached the head.
	cursor   uint64
	caughtUp bool
	// queryErrors counts failed scrape-time queries, by query.
	queryErrors map[string]float64

	// seenMu guards seen on its own, so that AgencySeen never waits for a
	// scrape's queries.
	seenMu sync.Mutex
	// seen is when each agency was last heard from.
	seen map[string]time.Time
}

// OpsOptions configure an OpsCollector; every field is optional.
type OpsOptions struct {
	// Ready is the hub's readiness as /readyz reports it (store reachable,
	// broker connected). Nil: the store answers a ping.
	Ready func() error
	// Timeout bounds the queries of one scrape (default 5 s).
	Timeout time.Duration
	// MinInterval is how long a scrape's values are reused, so that
	// several Prometheus servers scraping at once cost one set of queries
	// (default 5 s).
	MinInterval time.Duration
	// ActivityLookback is how far back the first look at the audit log
	// goes for agencies' last activity (default 30 days).
	ActivityLookback time.Duration
}

// Bounds of the scrape-time queries.
const (
	// opsOutboxCap bounds the outbox count: past it the backlog is
	// reported as this many, which is already an emergency.
	opsOutboxCap = 10_000
	// opsAuditPage and opsAuditPages bound how many audit events one
	// scrape reads while catching up on agencies' activity.
	opsAuditPage  = 1000
	opsAuditPages = 20
	// opsMaxAgencies bounds the per-agency series.
	opsMaxAgencies = 1000
)

var (
	opsReadyDesc = prometheus.NewDesc("relais_ready",
		"1 when the hub can accept work as /readyz reports it (store reachable, broker connected), 0 otherwise.", nil, nil)
	opsOutboxDesc = prometheus.NewDesc("relais_outbox_pending",
		fmt.Sprintf("Deliveries committed and not yet handed to the transport (counted up to %d).", opsOutboxCap), nil, nil)
	opsInboxAgeDesc = prometheus.NewDesc("relais_inbox_oldest_pending_age_seconds",
		"Age of the oldest message delivered to the agency's inbox and not yet receipted; 0 when nothing waits.", []string{"agency"}, nil)
	opsOverdueDesc = prometheus.NewDesc("relais_transfers_overdue",
		"Transfers with a passed lifecycle deadline still unmet (a reminder or an escalation fired), by the countries of the sending and receiving agencies.",
		[]string{"sender_country", "recipient_country"}, nil)
	opsTreeSizeDesc = prometheus.NewDesc("relais_audit_tree_size",
		"Events in the audit log (leaves of the Merkle tree).", nil, nil)
	opsCheckpointSizeDesc = prometheus.NewDesc("relais_audit_checkpoint_size",
		"Size of the latest signed audit checkpoint; below relais_audit_tree_size, events wait for the next checkpoint.", nil, nil)
	opsCheckpointAgeDesc = prometheus.NewDesc("relais_audit_checkpoint_age_seconds",
		"Seconds since the latest signed audit checkpoint was stored.", nil, nil)
	opsLastSeenDesc = prometheus.NewDesc("relais_agency_last_seen_timestamp_seconds",
		"When the hub last heard from the agency (Unix time): the last event it caused in the audit log (a message, a receipt, an answer), or an authenticated request the HTTP layer reported.",
		[]string{"agency"}, nil)
	opsQueryErrorsDesc = prometheus.NewDesc("relais_ops_query_errors_total",
		"Scrape-time queries of the operations collector that failed, by query.", []string{"query"}, nil)
)

// NewOpsCollector returns a collector of h's operational state; register
// it on the registry /metrics serves.
func NewOpsCollector(h *Hub, opts OpsOptions) *OpsCollector {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 5 * time.Second
	}
	if opts.ActivityLookback <= 0 {
		opts.ActivityLookback = 30 * 24 * time.Hour
	}
	if opts.Ready == nil {
		opts.Ready = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			return h.store.AuditDB().PingContext(ctx)
		}
	}
	c := &OpsCollector{h: h, opts: opts, seen: map[string]time.Time{}, queryErrors: map[string]float64{}}
	// Every query's error count is exported from the start, at zero, so
	// that rate() sees the first failure.
	for _, q := range opsQueries {
		c.queryErrors[q] = 0
	}
	return c
}

// opsQueries name the scrape-time queries in relais_ops_query_errors_total.
var opsQueries = []string{"outbox", "audit", "agencies", "inboxes", "overdue", "activity"}

// AgencySeen records that agency was heard from at at (an authenticated
// request). The HTTP layer calls it; the audit log supplies the rest.
func (c *OpsCollector) AgencySeen(agency string, at time.Time) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	c.see(agency, at)
}

// see records a sighting; called with c.seenMu held.
func (c *OpsCollector) see(agency string, at time.Time) {
	if at.After(c.seen[agency]) {
		c.seen[agency] = at
	}
}

// lastSeen returns when agency was last heard from.
func (c *OpsCollector) lastSeen(agency string) (time.Time, bool) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	at, ok := c.seen[agency]
	return at, ok
}

// Describe sends every series' description.
func (c *OpsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{opsReadyDesc, opsOutboxDesc, opsInboxAgeDesc, opsOverdueDesc, opsTreeSizeDesc,
		opsCheckpointSizeDesc, opsCheckpointAgeDesc, opsLastSeenDesc, opsQueryErrorsDesc} {
		ch <- d
	}
}

// Collect reads the operational state (or reuses the last reading if it is
// recent) and sends it. A failed query leaves its series out and counts in
// relais_ops_query_errors_total: /metrics keeps answering when the store
// does not, which is when operators need it most.
func (c *OpsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || time.Since(c.lastAt) >= c.opts.MinInterval {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		c.last = c.read(ctx)
		cancel()
		c.lastAt = time.Now()
	}
	for _, m := range c.last {
		ch <- m
	}
}

// read runs the scrape-time queries. Called with c.mu held.
func (c *OpsCollector) read(ctx context.Context) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	failed := func(query string, err error) {
		c.queryErrors[query]++
		c.h.log.WarnContext(ctx, "metrics query failed", "query", query, "err", err)
	}

	ready := 1.0
	if err := c.opts.Ready(); err != nil {
		ready = 0
	}
	gauge(opsReadyDesc, ready)

	if items, err := c.h.store.PendingOutbox(ctx, opsOutboxCap); err != nil {
		failed("outbox", err)
	} else {
		gauge(opsOutboxDesc, float64(len(items)))
	}

	if err := c.readAudit(ctx, gauge); err != nil {
		failed("audit", err)
	}

	agencies, err := c.h.store.Agencies(ctx)
	if err != nil {
		failed("agencies", err)
	} else {
		if len(agencies) > opsMaxAgencies {
			agencies = agencies[:opsMaxAgencies]
		}
		if err := c.readInboxes(ctx, agencies, gauge); err != nil {
			failed("inboxes", err)
		}
		if err := c.readOverdue(ctx, agencies, gauge); err != nil {
			failed("overdue", err)
		}
		if err := c.readActivity(ctx, agencies); err != nil {
			failed("activity", err)
		}
		for _, a := range agencies {
			if at, ok := c.lastSeen(a.ID); ok {
				gauge(opsLastSeenDesc, float64(at.UnixMilli())/1000, a.ID)
			}
		}
	}

	for query, n := range c.queryErrors {
		out = append(out, prometheus.MustNewConstMetric(opsQueryErrorsDesc, prometheus.CounterValue, n, query))
	}
	return out
}

// readAudit reports the log's size and its latest checkpoint's size and age.
func (c *OpsCollector) readAudit(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	db := c.h.store.AuditDB()
	size, _, err := c.h.cfg.Audit.Head(ctx, db)
	if err != nil {
		return err
	}
	gauge(opsTreeSizeDesc, float64(size))
	cp, err := c.h.cfg.Audit.LatestCheckpoint(ctx, db)
	if errors.Is(err, audit.ErrNotFound) {
		return nil // no checkpoint yet: no size, no age
	}
	if err != nil {
		return err
	}
	gauge(opsCheckpointSizeDesc, float64(cp.Size))
	stored, err := checkpointStoredAt(ctx, db, cp.Size)
	if err != nil {
		return err
	}
	// The database stamped the checkpoint with its own clock, so the age
	// is measured against the wall clock, not the hub's injected one.
	gauge(opsCheckpointAgeDesc, max(0, time.Since(stored).Seconds()))
	return nil
}

// checkpointStoredAt reads when the checkpoint of size was first stored.
// The column is hub/audit's: TEXT (ISO 8601, UTC) on SQLite, TIMESTAMPTZ
// on PostgreSQL.
func checkpointStoredAt(ctx context.Context, db *sql.DB, size uint64) (time.Time, error) {
	var raw any
	if err := db.QueryRowContext(ctx, `SELECT created_at FROM audit_checkpoints WHERE size = $1`, int64(size)).Scan(&raw); err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %d: %w", size, err)
	}
	switch v := raw.(type) {
	case time.Time:
		return v, nil
	case string:
		return parseCheckpointTime(v)
	case []byte:
		return parseCheckpointTime(string(v))
	}
	return time.Time{}, fmt.Errorf("checkpoint %d: created_at of unexpected type %T", size, raw)
}

func parseCheckpointTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("checkpoint created_at %q is not a time", s)
}

// readInboxes reports the age of the oldest message waiting in each inbox.
func (c *OpsCollector) readInboxes(ctx context.Context, agencies []Agency, gauge func(*prometheus.Desc, float64, ...string)) error {
	now := c.h.now()
	for _, a := range agencies {
		items, err := c.h.store.Inbox(ctx, a.ID, 0, 1)
		if err != nil {
			return err
		}
		age := 0.0
		if len(items) > 0 {
			age = max(0, now.Sub(items[0].ReceivedAt).Seconds())
		}
		gauge(opsInboxAgeDesc, age, a.ID)
	}
	return nil
}

// readOverdue counts the overdue transfers by corridor. Each agency lists
// those it is party to or was escalated to, so a transfer may be listed
// several times: it is counted once.
func (c *OpsCollector) readOverdue(ctx context.Context, agencies []Agency, gauge func(*prometheus.Desc, float64, ...string)) error {
	type corridor struct{ from, to string }
	counted := map[string]bool{}
	perCorridor := map[corridor]int{}
	for _, a := range agencies {
		list, err := c.h.store.Transfers(ctx, TransferQuery{Agency: a.ID, Overdue: true, Limit: maxTransferList})
		if err != nil {
			return err
		}
		for _, t := range list {
			if counted[t.ID] {
				continue
			}
			counted[t.ID] = true
			perCorridor[corridor{contracts.AgencyCountry(t.Sender), contracts.AgencyCountry(t.Recipient)}]++
		}
	}
	for k, n := range perCorridor {
		gauge(opsOverdueDesc, float64(n), k.from, k.to)
	}
	return nil
}

// readActivity reads the audit events appended since the last scrape and
// records, for each registered agency that caused one, when it did. The
// first scrapes look back ActivityLookback only, a page budget at a time.
func (c *OpsCollector) readActivity(ctx context.Context, agencies []Agency) error {
	registered := make(map[string]bool, len(agencies))
	for _, a := range agencies {
		registered[a.ID] = true
	}
	q := AuditQuery{Start: c.cursor, Limit: opsAuditPage}
	if !c.caughtUp {
		q.From = c.h.now().Add(-c.opts.ActivityLookback)
	}
	for range opsAuditPages {
		entries, err := c.h.store.AuditEvents(ctx, q)
		if err != nil {
			return err
		}
		c.seenMu.Lock()
		for _, e := range entries {
			q.Start = e.Index + 1
			ev, err := audit.DecodeEvent(e.Leaf)
			if err != nil {
				continue // a damaged leaf is the auditors' business, not a metric's
			}
			if registered[ev.Actor] {
				c.see(ev.Actor, ev.At)
			}
		}
		c.seenMu.Unlock()
		c.cursor = q.Start
		if len(entries) < q.Limit {
			c.caughtUp = true
			return nil
		}
	}
	return nil
}
