package stats

import (
	"slices"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// DefaultMinCellSize is the threshold when no corridor agreement sets one:
// a count below five is withheld.
const DefaultMinCellSize = 5

// Release is one answer to a query: the tables and stage durations after
// disclosure control, and where its audit event sits in the log. It is
// what GET /v1/stats returns and what the hub console renders; it holds no
// withheld value.
type Release struct {
	Query       Query     `json:"query"`
	GeneratedAt time.Time `json:"generated_at"`
	// MinCellSize is the default threshold; a corridor agreement may set
	// a higher (or, down to 3, a lower) one for its transfers.
	MinCellSize int              `json:"min_cell_size"`
	Tables      []Table          `json:"tables"`
	Durations   []StageDurations `json:"stage_durations"`
	// AuditIndex is the leaf index of the stats_release event that logged
	// this release (0 when computed outside a Service).
	AuditIndex uint64 `json:"audit_index,omitempty"`
}

// Input is what a release is computed from.
type Input struct {
	Facts []Fact
	// Countries are those whose corridors are published (every ordered
	// pair), typically the countries of the registered agencies.
	Countries []string
	// MinCellSize is the default threshold (DefaultMinCellSize when 0).
	MinCellSize int
	Now         time.Time
}

// Compute answers q from in. q must be valid (Query.Validate).
func Compute(q Query, in Input) Release {
	if in.MinCellSize <= 0 {
		in.MinCellSize = DefaultMinCellSize
	}
	facts := inWindowOfAnyMeasure(q, in.Facts)
	countries := countriesOf(in.Countries, facts)
	unknown := slices.ContainsFunc(facts, func(f Fact) bool {
		return !contracts.Purposes.Has(f.Purpose) || !contracts.AgeBands.Has(f.AgeBand)
	})
	axis := func(d Dimension) Axis {
		return Axis{Dimension: d, Label: d.Label(), Keys: axisKeys(d, countries, q.From, q.To, unknown)}
	}
	rel := Release{Query: q, GeneratedAt: in.Now.UTC(), MinCellSize: in.MinCellSize}
	rows := axis(q.Dimensions[0])
	var cols *Axis
	if len(q.Dimensions) == 2 {
		a := axis(q.Dimensions[1])
		cols = &a
	}
	for _, m := range q.Measures {
		counts, mins := count(q, m, facts, rows, cols, in.MinCellSize)
		g := newGrid(counts, mins, in.MinCellSize)
		g.protect()
		rel.Tables = append(rel.Tables, publish(m, rows, cols, g))
	}
	rel.Durations = stageDurations(q, facts, in.MinCellSize)
	return rel
}

// inWindow reports whether t falls in the query's window.
func (q Query) inWindow(t time.Time) bool {
	return !t.IsZero() && !t.Before(q.From) && t.Before(q.To)
}

// inWindowOfAnyMeasure keeps the facts some table or duration of q counts.
func inWindowOfAnyMeasure(q Query, facts []Fact) []Fact {
	var out []Fact
	for _, f := range facts {
		if q.inWindow(f.Opened) || slices.ContainsFunc(q.Measures, func(m Measure) bool { return q.inWindow(m.when(f)) }) {
			out = append(out, f)
		}
	}
	return out
}

// count fills the counts of measure m and, for each, the largest threshold
// of the transfers in it (0 when empty; defaultMin for a transfer whose
// agreement sets none).
func count(q Query, m Measure, facts []Fact, rows Axis, cols *Axis, defaultMin int) (counts, mins [][]int) {
	width := 1
	if cols != nil {
		width = len(cols.Keys)
	}
	counts, mins = square[int](len(rows.Keys), width), square[int](len(rows.Keys), width)
	rowIndex := indexOf(rows.Keys)
	var colIndex map[string]int
	if cols != nil {
		colIndex = indexOf(cols.Keys)
	}
	for _, f := range facts {
		if !q.inWindow(m.when(f)) {
			continue
		}
		r, ok := rowIndex[valueOf(rows.Dimension, f, m)]
		if !ok {
			continue
		}
		c := 0
		if cols != nil {
			if c, ok = colIndex[valueOf(cols.Dimension, f, m)]; !ok {
				continue
			}
		}
		counts[r][c]++
		mins[r][c] = max(mins[r][c], thresholdOf(f, defaultMin))
	}
	return counts, mins
}

func indexOf(keys []Key) map[string]int {
	out := make(map[string]int, len(keys))
	for i, k := range keys {
		out[k.Code] = i
	}
	return out
}

func thresholdOf(f Fact, defaultMin int) int {
	if f.MinCellSize > 0 {
		return f.MinCellSize
	}
	return defaultMin
}
