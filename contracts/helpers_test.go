package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// readTestdata returns a file under testdata/.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validEnvelopeFiles lists the sample envelopes that must be accepted.
func validEnvelopeFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "envelopes", "valid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid envelope samples: %v", err)
	}
	return files
}

// sample names the valid envelope samples the tables mutate.
const (
	referralSample = "envelopes/valid/referral-request.json"
	overrideSample = "envelopes/valid/referral-request-override.json"
	legalSample    = "envelopes/valid/referral-request-legal-obligation.json"
	receiptSample  = "envelopes/valid/receipt.json"
	acceptedSample = "envelopes/valid/referral-accepted.json"
	declinedSample = "envelopes/valid/referral-declined.json"
)

// jsonDoc is a decoded JSON object that tests edit. Numbers stay json.Number
// so re-encoding writes them as they were.
type jsonDoc = map[string]any

func decodeDoc(t testing.TB, b []byte) jsonDoc {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc jsonDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// mutated returns a testdata document after edit.
func mutated(t testing.TB, name string, edit func(doc jsonDoc)) []byte {
	t.Helper()
	doc := decodeDoc(t, readTestdata(t, name))
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// obj returns doc[key] as an object, for nested edits.
func obj(doc jsonDoc, key string) jsonDoc { return doc[key].(map[string]any) }

// requireProblem checks that err is a *Problem with code whose Fields
// include every one of fields.
func requireProblem(t testing.TB, err error, code Code, fields ...string) *Problem {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("want a *Problem with code %s, got %v", code, err)
	}
	if p.Code != code {
		t.Fatalf("want code %s, got %s (%s)", code, p.Code, p.Detail)
	}
	for _, f := range fields {
		if !slices.Contains(p.Fields, f) {
			t.Fatalf("want field %q among %q (%s)", f, p.Fields, p.Detail)
		}
	}
	if _, known := problemTable[p.Code]; !known {
		t.Fatalf("code %s is not in the refusal table", p.Code)
	}
	return p
}
