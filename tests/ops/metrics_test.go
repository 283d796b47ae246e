package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// scrape reads /metrics as Prometheus does. It returns the parsed
// families and the raw exposition.
func scrape(t *testing.T, hubURL string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(hubURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, raw)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families, string(raw)
}

// sample finds the value of the series name{labels}; ok is false when it
// is not exported. Histograms report their sample count.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestAnExchangeShowsInEverySeriesOperatorsAlertOn runs real traffic
// through an in-process hub — a referral answered and receipted, one left
// uncollected until its receipt deadline passes, a refused submission, a
// delivery naming no message — then scrapes /metrics and finds each series
// with the value the traffic implies, every series the alert rules and the
// dashboard query, and no personal data.
func TestAnExchangeShowsInEverySeriesOperatorsAlertOn(t *testing.T) {
	w := newOpsWorld(t)
	ctx := context.Background()
	dir := t.TempDir()
	t0 := w.clock.Now()
	ci := register(t, w.srv.URL, adminToken, dir, "ci.dpe-abidjan")
	ml := register(t, w.srv.URL, adminToken, dir, "ml.dnpef")
	bf := register(t, w.srv.URL, adminToken, dir, "bf.dpe-bobo")

	// Côte d'Ivoire refers a child to Mali, which receipts and accepts;
	// Côte d'Ivoire collects the answer and receipts it.
	first, _, err := ci.Send(ctx, referral(ml.Keys.ID, "CI-ABJ-2026-0311"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	opened := pull(t, ml, first.ID)
	answer, err := ml.Answer(ctx, opened.Envelope, true, "")
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	pull(t, ci, answer.ID)

	// Burkina Faso refers a child to Mali, which never collects it.
	second, _, err := bf.Send(ctx, referral(ml.Keys.ID, "BF-BOB-2026-0042"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	relaistest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		tr, err := bf.Trail(ctx, second.Transfer)
		if err != nil {
			return err
		}
		for _, e := range tr.Events {
			if e.Type == "delivered" {
				return nil
			}
		}
		return errors.New("the second referral is not delivered yet")
	})

	// A submission that is not a JWS is refused with a code.
	_, err = ci.Submit(ctx, []byte("not-a-jws"))
	var refusal *agency.HubError
	if !errors.As(err, &refusal) || refusal.Code == "" {
		t.Fatalf("submitting garbage: %v, want a refusal with a code", err)
	}

	// A delivery naming no message the store holds is dead-lettered.
	if err := w.transport.Publish(hub.DeliveriesTopic, message.NewMessage(watermill.NewUUID(), []byte(contracts.NewMessageID()))); err != nil {
		t.Fatal(err)
	}

	// Two days later, Mali's receipt of the second referral is overdue.
	w.clock.Advance(49 * time.Hour)
	if n, err := w.hub.FireDueTimers(ctx); err != nil || n == 0 {
		t.Fatalf("fire timers: %d fired, %v", n, err)
	}

	var families map[string]*dto.MetricFamily
	var exposition string
	relaistest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		families, exposition = scrape(t, w.srv.URL)
		if v, _ := sample(families, "relais_dead_letters_total", "reason", hub.ReasonUnknownMessage); v != 1 {
			return fmt.Errorf("relais_dead_letters_total = %v", v)
		}
		if v, ok := sample(families, "relais_outbox_pending"); !ok || v != 0 {
			return fmt.Errorf("relais_outbox_pending = %v (exported %v)", v, ok)
		}
		size, _ := sample(families, "relais_audit_tree_size")
		if cp, _ := sample(families, "relais_audit_checkpoint_size"); cp == 0 || cp != size {
			return fmt.Errorf("audit log of %v events, checkpoint %v", size, cp)
		}
		return nil
	})

	type want struct {
		name   string
		labels []string
		check  func(float64) bool
		what   string
	}
	atLeast := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
	equal := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	seen := float64(t0.UnixMilli()) / 1000
	for _, c := range []want{
		{"relais_messages_total", []string{"kind", "referral.request", "outcome", "accepted"}, equal(2), "2"},
		{"relais_messages_total", []string{"kind", "receipt", "outcome", "accepted"}, equal(2), "2"},
		{"relais_rejections_total", []string{"code", refusal.Code}, equal(1), "1"},
		{"relais_submit_duration_seconds", []string{"outcome", "accepted"}, equal(5), "5 observations"},
		{"relais_submit_duration_seconds", []string{"outcome", "rejected"}, atLeast(1), "≥ 1 observation"},
		{"relais_deliveries_total", nil, equal(5), "5"},
		{"relais_deliveries_poison_total", nil, equal(1), "1"},
		{"relais_outbox_relayed_batch", nil, atLeast(0), "exported"},
		{"relais_deadlines_missed_total", []string{"stage", "reminder", "timer", "receipt"}, equal(1), "1"},
		{"relais_policy_decisions_total", []string{"outcome", "allowed"}, atLeast(2), "≥ 2"},
		{"relais_policy_reload_failing", nil, equal(0), "0"},
		{"relais_policy_corridors", nil, equal(2), "2 shipped agreements"},
		{"relais_ready", nil, equal(1), "1"},
		{"relais_inbox_oldest_pending_age_seconds", []string{"agency", "ml.dnpef"}, atLeast(49 * 3600), "≥ 49 h"},
		{"relais_inbox_oldest_pending_age_seconds", []string{"agency", "bf.dpe-bobo"}, equal(0), "0"},
		{"relais_transfers_overdue", []string{"sender_country", "bf", "recipient_country", "ml"}, equal(1), "1"},
		{"relais_audit_checkpoint_age_seconds", nil, func(v float64) bool { return v >= 0 && v < 60 }, "a few seconds"},
		{"relais_agency_last_seen_timestamp_seconds", []string{"agency", "ci.dpe-abidjan"}, equal(seen), "the exchange's time"},
		{"relais_agency_last_seen_timestamp_seconds", []string{"agency", "ml.dnpef"}, equal(seen), "the exchange's time"},
		{"relais_agency_last_seen_timestamp_seconds", []string{"agency", "bf.dpe-bobo"}, equal(seen), "the exchange's time"},
	} {
		v, ok := sample(families, c.name, c.labels...)
		if !ok || !c.check(v) || math.IsNaN(v) {
			t.Errorf("%s%v = %v (exported: %v), want %s", c.name, c.labels, v, ok, c.what)
		}
	}
	if _, ok := sample(families, "relais_transfers_overdue", "sender_country", "ci"); ok {
		t.Error("the answered transfer ci → ml is reported overdue")
	}
	for _, m := range families["relais_ops_query_errors_total"].GetMetric() {
		if m.GetCounter().GetValue() != 0 {
			t.Errorf("scrape-time queries failed: %v\n%s", m, w.logs.String())
		}
	}

	// Every relais_* series the rules and the dashboard query exists.
	for _, name := range queriedSeries(t) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := families[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
				base = strings.TrimSuffix(name, suffix)
			}
		}
		if _, ok := families[base]; !ok {
			t.Errorf("%s is queried by the rules or the dashboard but the hub does not export it", name)
		}
	}

	// No personal data in the metrics or the hub's logs.
	personal := append(slices.Clone(personalStrings), "CI-ABJ-2026-0311", "BF-BOB-2026-0042")
	if leak, found := containsAny(exposition, personal); found {
		t.Errorf("/metrics contains %q", leak)
	}
	if leak, found := containsAny(w.logs.String(), personal); found {
		t.Errorf("the hub's log contains %q", leak)
	}
}

var seriesName = regexp.MustCompile(`\brelais_[a-z0-9_]+`)

// queriedSeries lists the relais_* series named in the alert rules'
// expressions and the dashboard's queries.
func queriedSeries(t *testing.T) []string {
	t.Helper()
	var exprs []string
	for _, group := range yamlDocs(t, deployPath(t, "prometheus", "relais-rules.yml"))[0]["groups"].([]any) {
		for _, rule := range dig(group, "rules").([]any) {
			exprs = append(exprs, dig(rule, "expr").(string))
		}
	}
	dashboard, err := os.ReadFile(deployPath(t, "grafana", "relais.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"expr":\s*"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(dashboard), -1) {
		exprs = append(exprs, m[1])
	}
	var names []string
	for _, e := range exprs {
		names = append(names, seriesName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 15 {
		t.Fatalf("only %d relais_* series found in the rules and dashboard: %v", len(names), names)
	}
	return names
}

// When the store stops answering, /metrics keeps answering: readiness
// drops to 0 and the failed queries are counted instead of failing the
// scrape.
func TestWithTheStoreGoneMetricsStillAnswerAndSayNotReady(t *testing.T) {
	w := newOpsWorld(t)
	families, _ := scrape(t, w.srv.URL)
	if v, _ := sample(families, "relais_ready"); v != 1 {
		t.Fatalf("relais_ready = %v before the store is closed", v)
	}
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	families, _ = scrape(t, w.srv.URL)
	if v, ok := sample(families, "relais_ready"); !ok || v != 0 {
		t.Errorf("relais_ready = %v (exported %v), want 0", v, ok)
	}
	for _, query := range []string{"outbox", "audit", "agencies"} {
		if v, _ := sample(families, "relais_ops_query_errors_total", "query", query); v < 1 {
			t.Errorf("relais_ops_query_errors_total{query=%q} = %v, want ≥ 1", query, v)
		}
	}
	if _, ok := sample(families, "relais_outbox_pending"); ok {
		t.Error("relais_outbox_pending is still exported without a store")
	}
	if _, ok := sample(families, "go_goroutines"); !ok {
		t.Error("the rest of /metrics went missing with the store")
	}
}
