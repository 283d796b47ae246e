package stats

import (
	"encoding/json"
	"fmt"

	"github.com/relais-hub/relais/contracts"
)

// Cell is one published count. A withheld count carries no value at all:
// Value is then zero and the JSON form is {"suppressed": true}. Whether it
// was withheld for being small or to protect another is deliberately not
// said: telling would let a reader bound it.
type Cell struct {
	Value      int
	Suppressed bool
}

func (c Cell) MarshalJSON() ([]byte, error) {
	if c.Suppressed {
		return []byte(`{"suppressed":true}`), nil
	}
	return []byte(fmt.Sprintf(`{"value":%d}`, c.Value)), nil
}

func (c *Cell) UnmarshalJSON(raw []byte) error {
	var doc struct {
		Value      *int `json:"value"`
		Suppressed bool `json:"suppressed"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	switch {
	case doc.Suppressed && doc.Value == nil:
		*c = Cell{Suppressed: true}
	case !doc.Suppressed && doc.Value != nil:
		*c = Cell{Value: *doc.Value}
	default:
		return fmt.Errorf("a cell is either {\"value\": n} or {\"suppressed\": true}")
	}
	return nil
}

// Axis is the rows or the columns of a table.
type Axis struct {
	Dimension Dimension       `json:"dimension"`
	Label     contracts.Label `json:"label"`
	Keys      []Key           `json:"keys"`
}

// Table is one measure broken down by the query's dimensions, with its
// totals, after disclosure control.
type Table struct {
	Measure Measure         `json:"measure"`
	Label   contracts.Label `json:"label"`
	Rows    Axis            `json:"rows"`
	// Columns is nil for a table by one dimension, whose Cells then have
	// a single column (and whose row totals would repeat them, so they are
	// not given).
	Columns *Axis `json:"columns,omitempty"`
	// Cells[row][column].
	Cells        [][]Cell `json:"cells"`
	RowTotals    []Cell   `json:"row_totals,omitempty"`
	ColumnTotals []Cell   `json:"column_totals,omitempty"`
	Total        Cell     `json:"total"`
}

// OneDimension reports whether the table breaks counts down by its rows
// only.
func (t Table) OneDimension() bool { return t.Columns == nil }

// publish turns a protected grid into a table, dropping withheld values.
func publish(m Measure, rows Axis, cols *Axis, g *grid) Table {
	cell := func(r, c int) Cell {
		if g.hidden[r][c] {
			return Cell{Suppressed: true}
		}
		return Cell{Value: g.value[r][c]}
	}
	t := Table{Measure: m, Label: m.Label(), Rows: rows, Columns: cols, Total: cell(g.rows, g.cols)}
	t.Cells = make([][]Cell, g.rows)
	for r := 0; r < g.rows; r++ {
		t.Cells[r] = make([]Cell, g.cols)
		for c := 0; c < g.cols; c++ {
			t.Cells[r][c] = cell(r, c)
		}
	}
	if cols != nil {
		for r := 0; r < g.rows; r++ {
			t.RowTotals = append(t.RowTotals, cell(r, g.cols))
		}
		for c := 0; c < g.cols; c++ {
			t.ColumnTotals = append(t.ColumnTotals, cell(g.rows, c))
		}
	}
	return t
}
