package primero

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// sample is the testdata: a CPIMS+ case, its transfer and a referral, and
// the deployment's options.
type sample struct {
	c        Case
	transfer Transition
	referral Transition
	o        Options
}

func loadSample(t *testing.T) sample {
	t.Helper()
	var s sample
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	var err error
	if s.c, err = DecodeCase(open("case_fatoumata.json")); err != nil {
		t.Fatal(err)
	}
	if s.transfer, err = DecodeTransition(open("transition_transfer.json")); err != nil {
		t.Fatal(err)
	}
	if s.referral, err = DecodeTransition(open("transition_referral.json")); err != nil {
		t.Fatal(err)
	}
	if s.o, err = LoadOptions(open("options.yaml")); err != nil {
		t.Fatal(err)
	}
	return s
}

// cloneRecord deep-copies a record so a test can change it.
func cloneRecord(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeCase(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sourceLeaves lists every leaf of a case and its transition, as ToDraft
// reports them.
func sourceLeaves(c Case, tr Transition) []string {
	out := c.Fields()
	for _, f := range tr.Fields() {
		out = append(out, "transition."+f)
	}
	return out
}

// envelopeFor wraps a draft in the envelope agency.Client.Seal would
// build, with a stand-in JWE, and checks it against the protocol.
func envelopeFor(t *testing.T, d agency.Draft) contracts.Envelope {
	t.Helper()
	id := contracts.NewMessageID()
	env := contracts.Envelope{
		V: 1, ID: id, Kind: d.Kind, From: "bf.dpe-bobo", To: d.To, Case: d.Case, Transfer: id,
		SentAt: time.Date(2026, 2, 10, 16, 6, 0, 0, time.UTC), Purpose: d.Purpose,
		DataCategories: d.DataCategories, Consent: d.Consent,
		Body: contracts.NewSealedBody("eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.a2V5.aXY.Y3Q.dGFn"),
	}
	if err := env.Validate(); err != nil {
		t.Fatalf("the draft does not make a valid envelope: %v", err)
	}
	return env
}

// decodeBody strictly decodes and validates a draft's body.
func decodeBody(t *testing.T, d agency.Draft) contracts.ReferralRequest {
	t.Helper()
	v, err := contracts.ValidateBody(d.Kind, d.Body)
	if err != nil {
		t.Fatalf("body does not pass contracts.ValidateBody: %v", err)
	}
	return *v.(*contracts.ReferralRequest)
}

// reasons returns the drop reasons reported for a source field.
func reasons(r Report, source string) []Reason {
	var out []Reason
	for _, e := range r.For(source) {
		if e.Disposition == Dropped {
			out = append(out, e.Reason)
		}
	}
	return out
}

// targets returns the targets a source field was mapped to.
func targets(r Report, source string) []string {
	var out []string
	for _, e := range r.For(source) {
		if e.Disposition == Mapped {
			out = append(out, e.Target)
		}
	}
	return out
}

// unknownFields lists the fields reported as unknown to the adapter.
func unknownFields(r Report) []string {
	var out []string
	for _, e := range r.Entries {
		if e.Reason == ReasonUnknownField {
			out = append(out, e.Source)
		}
	}
	return out
}

// personalValues are strings of the sample that must never appear in a
// report or an error.
var personalValues = []string{"Fatoumata", "Diarra", "Traoré", "Kanou", "Koutiala", "Médina", "+223", "Bakary", "Fanta"}

func assertNoPersonalData(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range personalValues {
		if strings.Contains(text, v) {
			t.Errorf("%s quotes a value of the case (%q): %s", what, v, text)
		}
	}
}

// normalized reduces a value to a comparable form across Primero's
// quirks: "true"/"false" strings and booleans, dates in any Primero form,
// phone numbers with or without spacing, one-element multi-selects.
func normalized(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 1 {
			return normalized(x[0])
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalized(e)
		}
		return out
	case bool:
		return x
	case int:
		return json.Number(strconv.Itoa(x))
	}
	if b, ok := asBool(v); ok {
		return b
	}
	if d, ok := asDate(v); ok {
		return isoDate(d)
	}
	s, _ := asString(v)
	if p, ok := normalizePhone(s); ok {
		return p
	}
	return json.Number(s)
}

func sameValue(a, b any) bool {
	ra, _ := json.Marshal(normalized(a))
	rb, _ := json.Marshal(normalized(b))
	return bytes.Equal(ra, rb)
}

func contains[T comparable](list []T, v T) bool { return slices.Contains(list, v) }
