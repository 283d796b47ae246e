package stats_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/stats"
	"github.com/relais-hub/relais/hub/stats/statstest"
)

const (
	datasetSeed = 20260109
	datasetSize = 520
)

// The queries a ministry would ask, each answered by its own release.
var queries = [][]stats.Dimension{
	{stats.ByCorridor},
	{stats.ByCorridor, stats.ByQuarter},
	{stats.ByPurpose, stats.ByAgeBand},
	{stats.ByOutcome, stats.ByQuarter},
	{stats.ByAgeBand},
	{stats.ByQuarter, stats.ByPurpose},
}

func TestStatisticsOfFiveHundredSyntheticTransfers(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			w := newWorld(t, engine, simStart, agreementThresholds(t))
			transfers := plan(datasetSeed, datasetSize)
			checkDatasetShape(t, transfers)
			w.run(t, transfers)
			checkHubFollowedThePlan(t, w, transfers)
			cps := checkpoints()
			overdue := 0
			for _, p := range transfers {
				if !p.firstOverdue(cps).IsZero() {
					overdue++
				}
			}
			if overdue < 20 {
				t.Fatalf("the plan makes only %d transfers overdue: too few to test the overdue counts", overdue)
			}

			releases := 0
			for _, dims := range queries {
				name := fmt.Sprint(dims)
				t.Run(name, func(t *testing.T) {
					rel := w.release(t, dims)
					releases++
					for _, tab := range rel.Tables {
						checkTable(t, rel.Query, tab, transfers, cps)
					}
					checkDurations(t, rel, transfers)
				})
			}

			t.Run("CSV carries the same figures as JSON", func(t *testing.T) {
				rel := w.release(t, queries[1])
				releases++
				q := url.Values{"dimensions": {"corridor,quarter"}, "from": {"2025-01-01"}, "to": {"2026-07-01"}}
				status, hdr, raw := w.get(t, "/v1/stats", q, w.token(t, w.statsKeys, statsID), map[string]string{"Accept": "text/csv", "Accept-Language": "en"})
				releases++
				if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
					t.Fatalf("csv: %d %s: %s", status, hdr.Get("Content-Type"), raw)
				}
				checkCSV(t, raw, rel)
			})

			t.Run("the terminal shows the release in French and in English", func(t *testing.T) {
				args := []string{"stats", "--hub", w.srv.URL, "--keys", w.statsKeys, "--dimensions", "corridor,quarter", "--from", "2025-01-01", "--to", "2026-07-01"}
				fr := mustRelais(t, args...)
				en := mustRelais(t, append(args, "--lang", "en")...)
				releases += 2
				for _, want := range []string{"Transferts ouverts", "ML → CI", "T1 2025", "×", "secret statistique", "Du référencement à l'accusé de réception"} {
					if !strings.Contains(fr, want) {
						t.Errorf("French output lacks %q:\n%s", want, fr)
					}
				}
				for _, want := range []string{"Transfers opened", "Q1 2025", "withheld", "Referral to receipt"} {
					if !strings.Contains(en, want) {
						t.Errorf("English output lacks %q:\n%s", want, en)
					}
				}
				out := mustRelais(t, append(args, "--format", "csv")...)
				releases++
				if !strings.HasPrefix(out, strings.Join(stats.CSVHeader, ",")) {
					t.Errorf("relais stats --format csv printed:\n%.300s", out)
				}
			})

			t.Run("every release is in the audit trail with its query", func(t *testing.T) {
				checkReleasesAudited(t, w, releases)
			})
		})
	}
}

// checkDatasetShape makes sure the plan is the dataset the issue asks
// for: at least 500 transfers across five countries, some corridors busy
// and some rare.
func checkDatasetShape(t *testing.T, transfers []*planned) {
	t.Helper()
	countries := map[string]bool{}
	corridors := map[string]int{}
	for _, p := range transfers {
		countries[p.country(p.sender)], countries[p.country(p.recipient)] = true, true
		corridors[p.corridor()]++
	}
	rare := 0
	for _, n := range corridors {
		if n < 5 {
			rare++
		}
	}
	if len(transfers) < 500 || len(countries) != 5 || rare == 0 || corridors["ml-ci"] < 50 {
		t.Fatalf("dataset: %d transfers, %d countries, corridors %v", len(transfers), len(countries), corridors)
	}
}

// checkHubFollowedThePlan compares each transfer's state with its script:
// had a message been refused, the counts would be wrong for a dull reason.
func checkHubFollowedThePlan(t *testing.T, w *world, transfers []*planned) {
	t.Helper()
	ctx := context.Background()
	for _, p := range transfers {
		want := p.expectState()
		eventually(t, fmt.Sprintf("transfer %d in state %s", p.n, want), func() bool {
			tr, err := w.store.Transfer(ctx, p.transfer)
			return err == nil && tr.State == want
		})
	}
}

// release asks the hub for a release as the statistics authority.
func (w *world) release(t *testing.T, dims []stats.Dimension) stats.Release {
	t.Helper()
	var names []string
	for _, d := range dims {
		names = append(names, string(d))
	}
	q := url.Values{"dimensions": {strings.Join(names, ",")}, "from": {"2025-01-01"}, "to": {"2026-07-01"}}
	status, _, raw := w.get(t, "/v1/stats", q, w.token(t, w.statsKeys, statsID), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/stats %v: %d %s", dims, status, raw)
	}
	var rel stats.Release
	if err := json.Unmarshal(raw, &rel); err != nil {
		t.Fatal(err)
	}
	if !rel.Query.From.Equal(simStart) || !rel.Query.To.Equal(windowEnd) || len(rel.Tables) != len(stats.Measures()) || rel.AuditIndex == 0 {
		t.Fatalf("release %v: %+v", dims, rel.Query)
	}
	return rel
}

// measureTime is when the plan says a transfer takes the step a measure
// counts.
func measureTime(m stats.Measure, p *planned, cps []time.Time) time.Time {
	switch m {
	case stats.Opened:
		return p.at(stepReferral)
	case stats.Accepted:
		return p.at(stepAccept)
	case stats.Declined:
		return p.at(stepDecline)
	case stats.Closed:
		return p.at(stepClose)
	case stats.Overdue:
		return p.firstOverdue(cps)
	}
	return time.Time{}
}

func quarterOf(t time.Time) string {
	return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
}

// code is the plan's value of a transfer along a dimension.
func code(d stats.Dimension, p *planned, when time.Time) string {
	switch d {
	case stats.ByCorridor:
		return p.corridor()
	case stats.ByPurpose:
		return p.purpose
	case stats.ByAgeBand:
		return p.ageBand
	case stats.ByOutcome:
		if p.outcome == "" {
			return "none"
		}
		return p.outcome
	case stats.ByQuarter:
		return quarterOf(when)
	}
	return ""
}

type count struct{ value, min int }

// expectedFigures counts, from the plan, every figure of a table and its
// threshold (the largest of its transfers').
func expectedFigures(q stats.Query, tab stats.Table, transfers []*planned, cps []time.Time) map[statstest.Entry]count {
	out := map[statstest.Entry]count{}
	for _, e := range statstest.Entries(tab) {
		out[e] = count{min: 5}
	}
	add := func(e statstest.Entry, p *planned) {
		c := out[e]
		c.value++
		c.min = max(c.min, p.threshold())
		out[e] = c
	}
	index := func(keys []stats.Key, code string) int {
		return slices.IndexFunc(keys, func(k stats.Key) bool { return k.Code == code })
	}
	for _, p := range transfers {
		when := measureTime(tab.Measure, p, cps)
		if when.IsZero() || when.Before(q.From) || !when.Before(q.To) {
			continue
		}
		r := index(tab.Rows.Keys, code(tab.Rows.Dimension, p, when))
		if tab.OneDimension() {
			add(statstest.Entry{Place: statstest.PlaceCell, Row: r}, p)
			add(statstest.Entry{Place: statstest.PlaceTotal}, p)
			continue
		}
		c := index(tab.Columns.Keys, code(tab.Columns.Dimension, p, when))
		add(statstest.Entry{Place: statstest.PlaceCell, Row: r, Col: c}, p)
		add(statstest.Entry{Place: statstest.PlaceRowTotal, Row: r}, p)
		add(statstest.Entry{Place: statstest.PlaceColumnTotal, Col: c}, p)
		add(statstest.Entry{Place: statstest.PlaceTotal}, p)
	}
	return out
}

// checkTable checks every figure against the plan's count, the thresholds,
// and an attacker who solves for the withheld figures.
func checkTable(t *testing.T, q stats.Query, tab stats.Table, transfers []*planned, cps []time.Time) {
	t.Helper()
	want := expectedFigures(q, tab, transfers, cps)
	if _, ok := want[statstest.Entry{Place: statstest.PlaceCell, Row: -1}]; ok {
		t.Fatalf("%s: a transfer fell outside every row of %s", tab.Measure, tab.Rows.Dimension)
	}
	published, withheld := 0, 0
	for e, c := range want {
		got := statstest.Figure(tab, e)
		if got.Suppressed {
			withheld++
			continue
		}
		published++
		if got.Value != c.value {
			t.Errorf("%s %s: published %d, the plan counts %d", tab.Measure, e, got.Value, c.value)
		}
		if got.Value < c.min {
			t.Errorf("%s %s: published %d below its threshold %d", tab.Measure, e, got.Value, c.min)
		}
	}
	if total := statstest.Figure(tab, statstest.Entry{Place: statstest.PlaceTotal}); tab.Measure == stats.Opened && total.Suppressed {
		t.Errorf("the total of transfers opened (%d) is withheld", want[statstest.Entry{Place: statstest.PlaceTotal}].value)
	}
	bounds, err := statstest.Bounds(tab)
	if err != nil {
		t.Fatalf("%s: %v", tab.Measure, err)
	}
	for e, iv := range bounds {
		if iv.Pinned() {
			t.Errorf("%s %s: withheld, yet the published figures say it is %.0f", tab.Measure, e, iv.Min)
		}
		if v := float64(want[e].value); v < iv.Min-1e-6 || (!iv.Unbounded && v > iv.Max+1e-6) {
			t.Errorf("%s %s: the plan's %v lies outside the attacker's interval [%v, %v]", tab.Measure, e, v, iv.Min, iv.Max)
		}
	}
	if published == 0 && tab.Measure != stats.Overdue {
		t.Errorf("%s by %v: nothing published", tab.Measure, q.Dimensions)
	}
	t.Logf("%s by %v: %d figures published, %d withheld", tab.Measure, q.Dimensions, published, withheld)
}

// stageTimes are where the plan says each stage starts and ends.
var stageTimes = map[stats.Stage][2]string{
	stats.StageReceipt:    {stepReferral, stepReceipt},
	stats.StageAcceptance: {stepReceipt, stepAccept},
	stats.StageAssessment: {stepAccept, stepAssess},
	stats.StageDecision:   {stepAssess, stepDecide},
	stats.StageHandover:   {stepDecide, stepHandoverRecipient},
}

// checkDurations recomputes each stage's median and 90th percentile from
// the plan, overall and by quarter of opening, with the rules for
// withholding them.
func checkDurations(t *testing.T, rel stats.Release, transfers []*planned) {
	t.Helper()
	if len(rel.Durations) != len(stageTimes) {
		t.Fatalf("%d stages, want %d", len(rel.Durations), len(stageTimes))
	}
	for _, sd := range rel.Durations {
		ends := stageTimes[sd.Stage]
		var all []float64
		allMin := 5
		byQuarter := map[string][]float64{}
		quarterMin := map[string]int{}
		for _, p := range transfers {
			start, end := p.at(ends[0]), p.at(ends[1])
			opened := p.at(stepReferral)
			if start.IsZero() || end.IsZero() || opened.Before(rel.Query.From) || !opened.Before(rel.Query.To) {
				continue
			}
			days := end.Sub(start).Hours() / 24
			all = append(all, days)
			allMin = max(allMin, p.threshold())
			q := quarterOf(opened)
			byQuarter[q] = append(byQuarter[q], days)
			quarterMin[q] = max(quarterMin[q], p.threshold(), 5)
		}
		checkDuration(t, string(sd.Stage)+" overall", sd.Overall, all, allMin)
		for _, qd := range sd.ByQuarter {
			checkDuration(t, string(sd.Stage)+" "+qd.Quarter.Code, qd.Duration, byQuarter[qd.Quarter.Code], max(quarterMin[qd.Quarter.Code], 5))
		}
	}
}

func checkDuration(t *testing.T, what string, got stats.Duration, sample []float64, threshold int) {
	t.Helper()
	slices.Sort(sample)
	n := len(sample)
	round := func(v float64) float64 { return math.Round(v*10) / 10 }
	if n < threshold {
		if got.MedianDays != nil || got.P90Days != nil {
			t.Errorf("%s: published over %d transfers (threshold %d)", what, n, threshold)
		}
		return
	}
	median := sample[n/2]
	if n%2 == 0 {
		median = (sample[n/2-1] + sample[n/2]) / 2
	}
	if got.MedianDays == nil || math.Abs(*got.MedianDays-round(median)) > 0.051 {
		t.Errorf("%s: median %v, the plan gives %.1f over %d", what, got.MedianDays, median, n)
	}
	if n < max(threshold, 10) {
		if got.P90Days != nil {
			t.Errorf("%s: 90th percentile published over %d transfers", what, n)
		}
		return
	}
	p90 := sample[int(math.Ceil(0.9*float64(n)))-1]
	if got.P90Days == nil || math.Abs(*got.P90Days-round(p90)) > 0.051 {
		t.Errorf("%s: 90th percentile %v, the plan gives %.1f over %d", what, got.P90Days, p90, n)
	}
}

// checkCSV reads the CSV answer back into figures and compares them with
// the same release in JSON.
func checkCSV(t *testing.T, raw []byte, rel stats.Release) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], stats.CSVHeader) {
		t.Fatalf("header %v", rows[0])
	}
	figures := map[string]string{}
	for _, r := range rows[1:] {
		if r[0] != "count" {
			continue
		}
		v := r[8]
		if r[9] == "true" {
			if v != "" {
				t.Errorf("withheld figure with a value: %v", r)
			}
			v = "x"
		}
		figures[r[1]+"|"+r[3]+"|"+r[6]] = v
	}
	show := func(c stats.Cell) string {
		if c.Suppressed {
			return "x"
		}
		return strconv.Itoa(c.Value)
	}
	n := 0
	for _, tab := range rel.Tables {
		for i, row := range tab.Rows.Keys {
			for j, col := range tab.Columns.Keys {
				n++
				if got := figures[string(tab.Measure)+"|"+row.Code+"|"+col.Code]; got != show(tab.Cells[i][j]) {
					t.Errorf("%s %s×%s: CSV %q, JSON %q", tab.Measure, row.Code, col.Code, got, show(tab.Cells[i][j]))
				}
			}
			if got := figures[string(tab.Measure)+"|"+row.Code+"|total"]; got != show(tab.RowTotals[i]) {
				t.Errorf("%s %s total: CSV %q, JSON %q", tab.Measure, row.Code, got, show(tab.RowTotals[i]))
			}
		}
		if got := figures[string(tab.Measure)+"|total|total"]; got != show(tab.Total) {
			t.Errorf("%s grand total: CSV %q, JSON %q", tab.Measure, got, show(tab.Total))
		}
	}
	if n == 0 || !bytes.Contains(raw, []byte("Transfers opened")) && !bytes.Contains(raw, []byte("Q1 2025")) {
		t.Errorf("the CSV lacks its English labels or figures:\n%.400s", raw)
	}
}

// checkReleasesAudited finds one stats_release event per release, with
// the statistics authority as actor and the query's parameters.
func checkReleasesAudited(t *testing.T, w *world, want int) {
	t.Helper()
	entries, err := w.store.AuditEvents(context.Background(), hub.AuditQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range entries {
		ev, err := audit.DecodeEvent(e.Leaf)
		if err != nil {
			t.Fatalf("leaf %d: %v", e.Index, err)
		}
		if ev.Type != stats.TypeStatsRelease {
			continue
		}
		got++
		if ev.Actor != statsID || ev.Extra["dimensions"] == "" || ev.Extra["from"] != "2025-01-01T00:00:00Z" ||
			ev.Extra["to"] != "2026-07-01T00:00:00Z" || len(ev.Extra["release_sha256"]) != 64 {
			t.Errorf("release event %d: actor %s, extra %v", e.Index, ev.Actor, ev.Extra)
		}
	}
	if got != want {
		t.Errorf("%d stats_release events, want %d", got, want)
	}
}
