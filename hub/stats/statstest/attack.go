// Package statstest attacks published statistics the way a reader could,
// for the tests of disclosure control. It knows nothing of how the hub
// chose what to withhold: it takes a published table, writes down every
// equation the published figures obey (each row and column adds up to its
// total, the totals to the grand total) and the fact that no count is
// negative, and solves the linear programme for the smallest and largest
// value each withheld figure can take. A withheld figure whose smallest
// and largest values coincide has been recovered.
package statstest

import (
	"fmt"

	"github.com/relais-hub/relais/hub/stats"
)

// Place names a figure of a table.
type Place string

const (
	PlaceCell        Place = "cell"
	PlaceRowTotal    Place = "row_total"
	PlaceColumnTotal Place = "column_total"
	PlaceTotal       Place = "total"
)

// Entry is one figure of a table: a cell (Row, Col), a row total (Row), a
// column total (Col) or the grand total.
type Entry struct {
	Place Place
	Row   int
	Col   int
}

func (e Entry) String() string {
	switch e.Place {
	case PlaceCell:
		return fmt.Sprintf("cell[%d][%d]", e.Row, e.Col)
	case PlaceRowTotal:
		return fmt.Sprintf("row_total[%d]", e.Row)
	case PlaceColumnTotal:
		return fmt.Sprintf("column_total[%d]", e.Col)
	}
	return "total"
}

// Interval is the range of values a withheld figure can take. Max is
// meaningless when Unbounded.
type Interval struct {
	Min, Max  float64
	Unbounded bool
}

// Pinned reports whether only one value is possible.
func (iv Interval) Pinned() bool { return !iv.Unbounded && iv.Max-iv.Min < 0.5 }

// Bounds gives the interval of every withheld figure of t.
func Bounds(t stats.Table) (map[Entry]Interval, error) {
	sys := equations(t)
	out := map[Entry]Interval{}
	if len(sys.unknowns) == 0 {
		return out, nil
	}
	feasible, err := phaseOne(sys.a, sys.b, len(sys.unknowns))
	if err != nil {
		return nil, err
	}
	for k, e := range sys.unknowns {
		c := make([]float64, len(sys.unknowns))
		c[k] = 1
		hi, bounded := feasible.maximise(c)
		c[k] = -1
		lo, _ := feasible.maximise(c)
		out[e] = Interval{Min: -lo, Max: hi, Unbounded: !bounded}
	}
	return out, nil
}

// Recovered lists the withheld figures of t that have a single possible
// value.
func Recovered(t stats.Table) ([]Entry, error) {
	bounds, err := Bounds(t)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for e, iv := range bounds {
		if iv.Pinned() {
			out = append(out, e)
		}
	}
	return out, nil
}

// Figure returns the published figure at e, and whether it is withheld.
func Figure(t stats.Table, e Entry) stats.Cell {
	switch e.Place {
	case PlaceCell:
		return t.Cells[e.Row][e.Col]
	case PlaceRowTotal:
		if t.OneDimension() {
			return t.Cells[e.Row][0]
		}
		return t.RowTotals[e.Row]
	case PlaceColumnTotal:
		if t.OneDimension() {
			return t.Total
		}
		return t.ColumnTotals[e.Col]
	}
	return t.Total
}

// Entries lists every figure t publishes or withholds.
func Entries(t stats.Table) []Entry {
	var out []Entry
	for r := range t.Cells {
		for c := range t.Cells[r] {
			out = append(out, Entry{Place: PlaceCell, Row: r, Col: c})
		}
	}
	if !t.OneDimension() {
		for r := range t.RowTotals {
			out = append(out, Entry{Place: PlaceRowTotal, Row: r})
		}
		for c := range t.ColumnTotals {
			out = append(out, Entry{Place: PlaceColumnTotal, Col: c})
		}
	}
	return append(out, Entry{Place: PlaceTotal})
}

// system is A·x = b over the withheld figures x.
type system struct {
	unknowns []Entry
	a        [][]float64
	b        []float64
}

// equations writes what the published figures obey: every line of the
// table adds up to its total, and the totals to the grand total.
func equations(t stats.Table) system {
	var sys system
	index := map[Entry]int{}
	for _, e := range Entries(t) {
		if Figure(t, e).Suppressed {
			index[e] = len(sys.unknowns)
			sys.unknowns = append(sys.unknowns, e)
		}
	}
	// add records sum(parts) - whole = 0.
	add := func(parts []Entry, whole Entry) {
		row := make([]float64, len(sys.unknowns))
		rhs := 0.0
		term := func(e Entry, coef float64) {
			if k, ok := index[e]; ok {
				row[k] += coef
			} else {
				rhs -= coef * float64(Figure(t, e).Value)
			}
		}
		for _, p := range parts {
			term(p, 1)
		}
		term(whole, -1)
		sys.a = append(sys.a, row)
		sys.b = append(sys.b, rhs)
	}
	total := Entry{Place: PlaceTotal}
	if t.OneDimension() {
		var parts []Entry
		for r := range t.Cells {
			parts = append(parts, Entry{Place: PlaceCell, Row: r})
		}
		add(parts, total)
		return sys
	}
	rows, cols := len(t.Cells), len(t.Cells[0])
	var rowTotals, colTotals []Entry
	for r := 0; r < rows; r++ {
		var parts []Entry
		for c := 0; c < cols; c++ {
			parts = append(parts, Entry{Place: PlaceCell, Row: r, Col: c})
		}
		rt := Entry{Place: PlaceRowTotal, Row: r}
		add(parts, rt)
		rowTotals = append(rowTotals, rt)
	}
	for c := 0; c < cols; c++ {
		var parts []Entry
		for r := 0; r < rows; r++ {
			parts = append(parts, Entry{Place: PlaceCell, Row: r, Col: c})
		}
		ct := Entry{Place: PlaceColumnTotal, Col: c}
		add(parts, ct)
		colTotals = append(colTotals, ct)
	}
	add(rowTotals, total)
	add(colTotals, total)
	return sys
}
