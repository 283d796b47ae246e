package csvimport

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The two inputs of an import come from outside: the mapping file, written
// by a developer at the agency, and the CSV export, written by a case
// management system and edited by hand. Neither may crash the import, and a
// row either becomes a draft or says why it did not.

func fuzzSample(f *testing.F, name string) []byte {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return raw
}

var fuzzNow = func() time.Time { return time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) }

// checkResult asserts what every conversion must give: one outcome per row,
// each either a draft or at least one reason.
func checkResult(t *testing.T, res Result) {
	t.Helper()
	for _, row := range res.Rows {
		switch {
		case row.Draft == nil && len(row.Rejections) == 0:
			t.Fatalf("row %d has neither a draft nor a reason", row.Row)
		case row.Draft != nil && len(row.Rejections) != 0:
			t.Fatalf("row %d has a draft and %d rejections", row.Row, len(row.Rejections))
		case row.Draft != nil && (row.Draft.Kind == "" || row.Draft.To == "" || row.Draft.Case == ""):
			t.Fatalf("row %d produced an incomplete draft: kind %q to %q", row.Row, row.Draft.Kind, row.Draft.To)
		}
		for _, r := range row.Rejections {
			if r.Rule == "" {
				t.Fatalf("row %d rejected without a rule: %+v", row.Row, r)
			}
		}
	}
}

func FuzzLoadMapping(f *testing.F) {
	mapping := fuzzSample(f, "casedata_mapping.yaml")
	sheet := fuzzSample(f, "casedata_export.csv")
	f.Add(mapping)
	f.Add([]byte("delimiter: \"\\t\"\ncolumns: []\n"))
	f.Add([]byte("columns:\n  - column: a\n    field: case\n  - column: a\n    ignore: twice\n"))
	f.Add([]byte("unknown_key: 1\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := LoadMapping(bytes.NewReader(raw))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refused a mapping without saying why")
			}
			return
		}
		// An admitted mapping can convert a real export without crashing.
		res, err := m.Convert(bytes.NewReader(sheet), Options{From: "bf.dpe-bobo", Now: fuzzNow})
		if err == nil {
			checkResult(t, res)
		}
	})
}

func FuzzConvert(f *testing.F) {
	m, err := LoadMapping(bytes.NewReader(fuzzSample(f, "casedata_mapping.yaml")))
	if err != nil {
		f.Fatal(err)
	}
	sheet := fuzzSample(f, "casedata_export.csv")
	f.Add(sheet)
	lines := bytes.SplitN(sheet, []byte("\n"), 3)
	if len(lines) >= 2 {
		f.Add(append(append(append([]byte{}, lines[0]...), '\n'), lines[1]...))
		f.Add(append(append([]byte{}, lines[0]...), []byte("\n\"unterminated;quote\n")...))
	}
	f.Add([]byte{})
	f.Add([]byte("\xef\xbb\xbfN° dossier\n"))
	f.Fuzz(func(t *testing.T, csvBytes []byte) {
		res, err := m.Convert(bytes.NewReader(csvBytes), Options{From: "bf.dpe-bobo", Now: fuzzNow})
		if err != nil {
			return
		}
		checkResult(t, res)
	})
}
