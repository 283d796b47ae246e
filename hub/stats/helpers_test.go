package stats_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/stats"
	"github.com/relais-hub/relais/hub/stats/statstest"
)

// The tests count on their own: expected figures come from the facts the
// test made, never from the package's counting code.

var (
	q1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q2 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	q3 = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
)

// fact is a transfer opened at opened from one country's agency to
// another's.
func fact(from, to string, opened time.Time) stats.Fact {
	return stats.Fact{
		Transfer: fmt.Sprintf("t-%s-%s-%d", from, to, opened.UnixNano()),
		Sender:   from + ".dpe", Recipient: to + ".dpe",
		Purpose: "protection_referral", AgeBand: "12-14", Opened: opened,
	}
}

// facts makes n transfers along one corridor, a minute apart from start.
func facts(n int, from, to string, start time.Time) []stats.Fact {
	out := make([]stats.Fact, n)
	for i := range out {
		out[i] = fact(from, to, start.Add(time.Duration(i)*time.Minute))
	}
	return out
}

// expected is the figure a table should show for entry e, counted from the
// facts by the test itself, with the largest threshold of those facts.
type expected struct {
	value, min int
}

// codeOf is the test's own reading of a fact along a dimension.
func codeOf(d stats.Dimension, f stats.Fact, when time.Time) string {
	switch d {
	case stats.ByCorridor:
		return contracts.AgencyCountry(f.Sender) + "-" + contracts.AgencyCountry(f.Recipient)
	case stats.ByPurpose:
		if f.Purpose == "" {
			return "unknown"
		}
		return f.Purpose
	case stats.ByAgeBand:
		if f.AgeBand == "" {
			return "unknown"
		}
		return f.AgeBand
	case stats.ByOutcome:
		if f.Outcome == "" {
			return "none"
		}
		return f.Outcome
	case stats.ByQuarter:
		return fmt.Sprintf("%d-Q%d", when.Year(), (int(when.Month())-1)/3+1)
	}
	return ""
}

// stepTime is when a fact took the step a measure counts.
func stepTime(m stats.Measure, f stats.Fact) time.Time {
	return map[stats.Measure]time.Time{
		stats.Opened: f.Opened, stats.Accepted: f.Accepted, stats.Declined: f.Declined,
		stats.Closed: f.Closed, stats.Overdue: f.FirstOverdue,
	}[m]
}

// truth counts, for every figure of t, the facts in it.
func truth(q stats.Query, t stats.Table, fs []stats.Fact, defaultMin int) map[statstest.Entry]expected {
	out := map[statstest.Entry]expected{}
	for _, e := range statstest.Entries(t) {
		out[e] = expected{}
	}
	bump := func(e statstest.Entry, f stats.Fact) {
		x := out[e]
		x.value++
		m := f.MinCellSize
		if m == 0 {
			m = defaultMin
		}
		x.min = max(x.min, m)
		out[e] = x
	}
	for _, f := range fs {
		when := stepTime(t.Measure, f)
		if when.IsZero() || when.Before(q.From) || !when.Before(q.To) {
			continue
		}
		r := keyIndex(t.Rows.Keys, codeOf(t.Rows.Dimension, f, when))
		if r < 0 {
			continue
		}
		if t.OneDimension() {
			bump(statstest.Entry{Place: statstest.PlaceCell, Row: r}, f)
			bump(statstest.Entry{Place: statstest.PlaceTotal}, f)
			continue
		}
		c := keyIndex(t.Columns.Keys, codeOf(t.Columns.Dimension, f, when))
		if c < 0 {
			continue
		}
		bump(statstest.Entry{Place: statstest.PlaceCell, Row: r, Col: c}, f)
		bump(statstest.Entry{Place: statstest.PlaceRowTotal, Row: r}, f)
		bump(statstest.Entry{Place: statstest.PlaceColumnTotal, Col: c}, f)
		bump(statstest.Entry{Place: statstest.PlaceTotal}, f)
	}
	for e, x := range out {
		if x.min == 0 {
			x.min = defaultMin
			out[e] = x
		}
	}
	return out
}

func keyIndex(keys []stats.Key, code string) int {
	for i, k := range keys {
		if k.Code == code {
			return i
		}
	}
	return -1
}

// checkDisclosure fails unless every published figure of t is its true
// count and at least its threshold, every figure below its threshold is
// withheld, and no withheld figure can be pinned down from what is
// published.
func checkDisclosure(t *testing.T, q stats.Query, tab stats.Table, fs []stats.Fact, defaultMin int) {
	t.Helper()
	want := truth(q, tab, fs, defaultMin)
	for e, x := range want {
		got := statstest.Figure(tab, e)
		switch {
		case got.Suppressed:
		case got.Value != x.value:
			t.Errorf("%s %s: published %d, the test counts %d", tab.Measure, e, got.Value, x.value)
		case got.Value < x.min:
			t.Errorf("%s %s: published %d, below its threshold %d", tab.Measure, e, got.Value, x.min)
		}
		if x.value < x.min && !got.Suppressed {
			t.Errorf("%s %s: %d is below its threshold %d yet published", tab.Measure, e, x.value, x.min)
		}
	}
	bounds, err := statstest.Bounds(tab)
	if err != nil {
		t.Fatalf("%s: %v", tab.Measure, err)
	}
	for e, iv := range bounds {
		if iv.Pinned() {
			t.Errorf("%s %s: withheld but recoverable: it can only be %.0f", tab.Measure, e, iv.Min)
		}
		v := float64(want[e].value)
		if v < iv.Min-1e-6 || (!iv.Unbounded && v > iv.Max+1e-6) {
			t.Errorf("%s %s: true value %v outside the attacker's bounds [%v, %v]", tab.Measure, e, v, iv.Min, iv.Max)
		}
	}
}

// render draws a table for failure messages: withheld figures as "x".
func render(tab stats.Table) string {
	var b strings.Builder
	fig := func(c stats.Cell) string {
		if c.Suppressed {
			return "x"
		}
		return fmt.Sprint(c.Value)
	}
	for i, row := range tab.Cells {
		fmt.Fprintf(&b, "%-8s", tab.Rows.Keys[i].Code)
		for _, c := range row {
			fmt.Fprintf(&b, " %4s", fig(c))
		}
		if !tab.OneDimension() {
			fmt.Fprintf(&b, " | %4s", fig(tab.RowTotals[i]))
		}
		b.WriteString("\n")
	}
	b.WriteString("total   ")
	for _, c := range tab.ColumnTotals {
		fmt.Fprintf(&b, " %4s", fig(c))
	}
	fmt.Fprintf(&b, " | %4s\n", fig(tab.Total))
	return b.String()
}
