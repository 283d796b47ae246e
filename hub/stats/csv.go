package stats

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/relais-hub/relais/contracts"
)

// TotalCode is the row or column code of totals in CSV.
const TotalCode = "total"

var totalLabel = contracts.Label{FR: "Total", EN: "Total"}

// CSVHeader is the first line of WriteCSV's output.
var CSVHeader = []string{"section", "measure", "row_dimension", "row_code", "row_label",
	"column_dimension", "column_code", "column_label", "value", "suppressed", "median_days", "p90_days"}

// WriteCSV writes a release as one line per published figure, labels in
// lang: the counts of every table with their totals (section "count"),
// then the stage durations (section "duration", by quarter of opening and
// overall). A withheld count has an empty value and suppressed=true.
func WriteCSV(w io.Writer, r Release, lang string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, t := range r.Tables {
		for _, line := range tableLines(t, lang) {
			if err := cw.Write(line); err != nil {
				return err
			}
		}
	}
	for _, sd := range r.Durations {
		for _, qd := range sd.ByQuarter {
			if err := cw.Write(durationLine(sd.Stage, string(ByQuarter), qd.Quarter.Code, qd.Quarter.Label.In(lang), qd.Duration)); err != nil {
				return err
			}
		}
		if err := cw.Write(durationLine(sd.Stage, "", TotalCode, totalLabel.In(lang), sd.Overall)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func tableLines(t Table, lang string) [][]string {
	var out [][]string
	line := func(row, col Key, colDim string, c Cell) []string {
		value, suppressed := strconv.Itoa(c.Value), "false"
		if c.Suppressed {
			value, suppressed = "", "true"
		}
		return []string{"count", string(t.Measure), string(t.Rows.Dimension), row.Code, row.Label.In(lang),
			colDim, col.Code, col.Label.In(lang), value, suppressed, "", ""}
	}
	total := Key{Code: TotalCode, Label: totalLabel}
	if t.OneDimension() {
		for i, row := range t.Rows.Keys {
			out = append(out, line(row, Key{}, "", t.Cells[i][0]))
		}
		return append(out, line(total, Key{}, "", t.Total))
	}
	colDim := string(t.Columns.Dimension)
	for i, row := range t.Rows.Keys {
		for j, col := range t.Columns.Keys {
			out = append(out, line(row, col, colDim, t.Cells[i][j]))
		}
		out = append(out, line(row, total, colDim, t.RowTotals[i]))
	}
	for j, col := range t.Columns.Keys {
		out = append(out, line(total, col, colDim, t.ColumnTotals[j]))
	}
	return append(out, line(total, total, colDim, t.Total))
}

func durationLine(st Stage, rowDim, code, label string, d Duration) []string {
	suppressed := "false"
	if d.Suppressed() {
		suppressed = "true"
	}
	return []string{"duration", string(st), rowDim, code, label, "", "", "", "", suppressed, formatDays(d.MedianDays), formatDays(d.P90Days)}
}

func formatDays(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}
