package csvimport

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/relais-hub/relais/contracts"
)

// wantRejections are the sample's deliberately bad rows and why.
var wantRejections = []Rejection{
	{Row: 4, Column: "Sexe", Field: "body.child.sex", Rule: RuleValueNotInMap},
	{Row: 5, Column: "Date de naissance", Field: "body.child.birth_date", Rule: RuleDateFormat},
	{Row: 7, Column: "Consentement au partage", Field: "consent.basis", Rule: RuleConsentMissing},
	{Row: 8, Column: "Date de naissance", Field: "body.child.birth_date", Rule: "birth_date_or_estimated_age"},
	{Row: 8, Column: "Téléphone de la mère", Field: "body.family[0].phone", Rule: "phone"},
	// Line 12: the row above holds a two-line observation.
	{Row: 12, Column: "N° dossier", Field: "case", Rule: "reference"},
}

func TestTheDryRunReportsExactlyTheBadRowsAndWhy(t *testing.T) {
	res := convertSample(t, sampleMapping(t), readFile(t, "casedata_export.csv"))
	if got := res.Rejections(); !slices.Equal(got, wantRejections) {
		t.Errorf("rejections:\n got %+v\nwant %+v", got, wantRejections)
	}
	if len(res.Rows) != 10 || res.Accepted() != 5 {
		t.Errorf("%d rows, %d accepted; want 10 rows (the blank line skipped), 5 accepted", len(res.Rows), res.Accepted())
	}
	for _, lang := range []string{"fr", "en"} {
		var out bytes.Buffer
		if err := WriteReport(&out, res, lang); err != nil {
			t.Fatal(err)
		}
		assertNoPersonalData(t, "the "+lang+" report", out.String())
		for _, want := range []string{"12", "N° dossier", "reference", "5"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the %s report does not mention %q:\n%s", lang, want, out.String())
			}
		}
	}
}

func TestGoodRowsBecomeDraftsThatPassTheContract(t *testing.T) {
	res := convertSample(t, sampleMapping(t), readFile(t, "casedata_export.csv"))
	want := map[int]struct{ giver, band string }{
		2: {"guardian", "12-14"}, 3: {"parent", "6-11"}, 6: {"child", "15-17"}, 9: {"guardian", "12-14"}, 10: {"parent", "6-11"},
	}
	for _, row := range res.Rows {
		w, good := want[row.Row]
		if !good {
			if row.Draft != nil {
				t.Errorf("line %d: a bad row produced a draft", row.Row)
			}
			continue
		}
		d := row.Draft
		if d == nil {
			t.Fatalf("line %d rejected: %+v", row.Row, row.Rejections)
		}
		cats, err := contracts.BodyCategories(d.Kind, d.Body)
		if err != nil {
			t.Fatalf("line %d: body does not pass the contract: %v", row.Row, err)
		}
		if !slices.Equal(cats, d.DataCategories) || !slices.Equal(cats, d.Consent.DataCategories) {
			t.Errorf("line %d: data categories %v, consent %v, body uses %v", row.Row, d.DataCategories, d.Consent.DataCategories, cats)
		}
		if d.To != "ml.dnpef" || d.Purpose != "protection_referral" || d.Kind != "referral.request" {
			t.Errorf("line %d: to %s purpose %s kind %s", row.Row, d.To, d.Purpose, d.Kind)
		}
		c := d.Consent
		if c.Basis != "consent" || c.GivenBy != w.giver || c.AgeBand != w.band || c.Ref != d.Case+":consent" ||
			!slices.Equal(c.Recipients, []string{"ml.dnpef"}) || !slices.Equal(c.Purposes, []string{"protection_referral"}) {
			t.Errorf("line %d: consent %+v", row.Row, *c)
		}
		envelopeFor(t, *d)
	}
}

func TestWindows1252ExportsAndByteOrderMarksAreRead(t *testing.T) {
	sample := readFile(t, "casedata_export.csv")
	cp1252, err := charmap.Windows1252.NewEncoder().Bytes(sample)
	if err != nil {
		t.Fatal(err)
	}
	m := sampleMapping(t)
	m.Encoding = "windows-1252"
	if got := convertSample(t, m, cp1252).Rejections(); !slices.Equal(got, wantRejections) {
		t.Errorf("windows-1252: rejections %+v", got)
	}
	withBOM := append([]byte{0xEF, 0xBB, 0xBF}, sample...)
	if got := convertSample(t, sampleMapping(t), withBOM).Rejections(); !slices.Equal(got, wantRejections) {
		t.Errorf("with a byte order mark: rejections %+v", got)
	}
	// A windows-1252 file read as UTF-8: the header no longer matches.
	if _, err := sampleMapping(t).Convert(bytes.NewReader(cp1252), Options{}); err == nil {
		t.Error("a windows-1252 file was read as UTF-8 without complaint")
	}
}

func TestMalformedRowsAreRejectedNotFatal(t *testing.T) {
	lines := strings.SplitAfter(string(readFile(t, "casedata_export.csv")), "\n")
	broken := lines[0] + lines[1] +
		"BF-BOB-2026-0160;trop;peu;de;cellules\n" +
		strings.Replace(lines[2], "Moussa", "Mou\xffssa", 1)
	res := convertSample(t, sampleMapping(t), []byte(broken))
	want := []Rejection{
		{Row: 3, Rule: RuleFieldCount},
		{Row: 4, Column: "Prénom(s)", Field: "body.child.given_names", Rule: RuleEncoding},
	}
	if got := res.Rejections(); !slices.Equal(got, want) {
		t.Errorf("rejections %+v, want %+v", got, want)
	}
	if res.Accepted() != 1 {
		t.Errorf("%d accepted, want the one good row", res.Accepted())
	}
}

func TestTheHeaderMustMatchTheMapping(t *testing.T) {
	sample := string(readFile(t, "casedata_export.csv"))
	tests := map[string]struct{ csv, want string }{
		"a column the mapping does not account for": {
			strings.Replace(sample, "Statut du dossier", "Statut du dossier;Religion", 1), `"Religion" is not accounted for`},
		"a mapped column missing from the file": {
			strings.Replace(sample, "Observations;", "Remarques;", 1), `"Observations" of the mapping is not in the file`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := sampleMapping(t).Convert(strings.NewReader(tt.csv), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}
