package csvimport

import (
	"reflect"
	"strings"
	"testing"
)

// TestTheSampleRoundTripsWithEveryColumnAccountedFor: every column of the
// sheet is mapped or ignored with a reason, and every mapped cell of every
// good row comes back from the draft to the same contract value (and, for
// plain text, to the same text).
func TestTheSampleRoundTripsWithEveryColumnAccountedFor(t *testing.T) {
	m := sampleMapping(t)
	res := convertSample(t, m, readFile(t, "casedata_export.csv"))
	for _, c := range res.Columns {
		if (c.Field == "") == (c.Ignore == "") {
			t.Errorf("column %q is neither mapped nor ignored with a reason", c.Name)
		}
	}
	sheet := sheetRows(t)
	checked := 0
	for _, row := range res.Rows {
		if row.Draft == nil {
			continue
		}
		cells, err := m.Cells(*row.Draft)
		if err != nil {
			t.Fatal(err)
		}
		orig := sheet[row.Row]
		for _, c := range m.Columns {
			if c.Field == "" {
				if _, leaked := cells[c.Name]; leaked {
					t.Errorf("line %d: ignored column %q came back", row.Row, c.Name)
				}
				continue
			}
			want, got := orig[c.Name], cells[c.Name]
			if strings.TrimSpace(want) == "" || got == "" {
				if strings.TrimSpace(want) != got {
					t.Errorf("line %d, column %q: an empty cell came back filled, or a filled one empty", row.Row, c.Name)
				}
				continue
			}
			wantV, wantRule := m.convert(c, want)
			gotV, gotRule := m.convert(c, got)
			if wantRule != "" || gotRule != "" || !reflect.DeepEqual(wantV, gotV) {
				t.Errorf("line %d, column %q: does not come back to the same value", row.Row, c.Name)
				continue
			}
			plain := len(c.Values) == 0 && c.Date == "" && c.Split == "" && !m.specs[c.Field].isPhone
			if plain && want != got {
				t.Errorf("line %d, column %q: text changed on the way", row.Row, c.Name)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("only %d cells checked", checked)
	}
}
