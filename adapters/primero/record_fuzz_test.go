package primero

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

// Primero records arrive as JSON from another system's API; deployment
// options are YAML written by hand. Neither may crash the importer, a
// refused case is refused with a problem naming fields, and the report
// accounts for every field of the record, whatever happens.

func fuzzFile(f *testing.F, name string) []byte {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return raw
}

func FuzzDecodeCase(f *testing.F) {
	transfer, err := DecodeTransition(bytes.NewReader(fuzzFile(f, "transition_transfer.json")))
	if err != nil {
		f.Fatal(err)
	}
	opts, err := LoadOptions(bytes.NewReader(fuzzFile(f, "options.yaml")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fuzzFile(f, "case_fatoumata.json"))
	f.Add([]byte(`{"data":{"case_id_display":"x","sex":"female","date_of_birth":"2012-02-30"}}`))
	f.Add([]byte(`{"data":{}} {}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := DecodeCase(bytes.NewReader(raw))
		if err != nil {
			return
		}
		_, report, err := ToDraft(c, transfer, opts)
		if err != nil {
			var p *contracts.Problem
			if !errors.As(err, &p) {
				t.Fatalf("refusal that is not a problem: %v", err)
			}
		}
		if missing := report.Unaccounted(sourceLeaves(c, transfer)); len(missing) > 0 {
			t.Fatalf("the report does not account for %v", missing)
		}
	})
}

func FuzzLoadOptions(f *testing.F) {
	f.Add(fuzzFile(f, "options.yaml"))
	f.Add([]byte("to: ml.dnpef\nlookups: {}\n"))
	f.Add([]byte("agencies: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := LoadOptions(bytes.NewReader(raw))
		if err != nil {
			return
		}
		// Validate must judge any options LoadOptions admits, without
		// crashing; it may refuse them.
		_ = o.Validate()
	})
}
