package csvimport

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sampleMapping(t *testing.T) *Mapping {
	t.Helper()
	m, err := LoadMapping(bytes.NewReader(readFile(t, "casedata_mapping.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func convertSample(t *testing.T, m *Mapping, csvBytes []byte) Result {
	t.Helper()
	res, err := m.Convert(bytes.NewReader(csvBytes), Options{From: "bf.dpe-bobo"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sheetRows reads the sample the plain way: line number → column → cell.
func sheetRows(t *testing.T) map[int]map[string]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(readFile(t, "casedata_export.csv")))
	r.Comma = ';'
	records, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := records[0]
	rows := map[int]map[string]string{}
	r = csv.NewReader(bytes.NewReader(readFile(t, "casedata_export.csv")))
	r.Comma = ';'
	for i := 0; ; i++ {
		rec, err := r.Read()
		if err != nil {
			break
		}
		if i == 0 {
			continue
		}
		line, _ := r.FieldPos(0)
		row := map[string]string{}
		for j, h := range header {
			row[h] = rec[j]
		}
		rows[line] = row
	}
	return rows
}

// envelopeFor checks a draft as agency.Client.Seal would send it.
func envelopeFor(t *testing.T, d agency.Draft) {
	t.Helper()
	id := contracts.NewMessageID()
	env := contracts.Envelope{
		V: 1, ID: id, Kind: d.Kind, From: "bf.dpe-bobo", To: d.To, Case: d.Case, Transfer: id,
		SentAt: time.Now().UTC().Truncate(time.Millisecond), Purpose: d.Purpose, DataCategories: d.DataCategories,
		Consent: d.Consent, Body: contracts.NewSealedBody("eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.a2V5.aXY.Y3Q.dGFn"),
	}
	if err := env.Validate(); err != nil {
		t.Errorf("case %s: not a valid envelope: %v", d.Case, err)
	}
}

// personalValues are cells of the sample that must never be printed.
var personalValues = []string{"Fatoumata", "Diarra", "Fille", "31/02/2011", "76 45 12", "BF/BOB/2026/0151", "Konaté", "Sissoko", "Kanou"}

func assertNoPersonalData(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range personalValues {
		if strings.Contains(text, v) {
			t.Errorf("%s quotes a cell value (%q)", what, v)
		}
	}
}
