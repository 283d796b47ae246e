package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// requireKnownRefusal checks the contract every decoding error honours: it
// is a *Problem whose code is in the refusal table, never an internal error.
func requireKnownRefusal(t *testing.T, err error) {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("error is not a *Problem: %v", err)
	}
	if _, ok := problemTable[p.Code]; !ok || p.Code == CodeInternal {
		t.Fatalf("unexpected code %q: %v", p.Code, err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, path := range validEnvelopeFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range envelopeCases {
		f.Add(tc.input(f))
	}
	schema := compiledSchemas(f)("envelope.schema.json")
	f.Fuzz(func(t *testing.T, input []byte) {
		env, err := DecodeEnvelope(input)
		if err != nil {
			requireKnownRefusal(t, err)
			return
		}
		encoded, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("an accepted envelope does not encode: %v", err)
		}
		again, err := DecodeEnvelope(encoded)
		if err != nil {
			t.Fatalf("an accepted envelope re-encodes to a refused one: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(env, again) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", env, again)
		}
		if viaEncode, err := env.Encode(); err != nil || string(viaEncode) != string(encoded) {
			t.Fatalf("Encode disagrees with json.Marshal: %v", err)
		}
		// The schemas are looser than Go (docs list the Go-only rules),
		// never stricter.
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
		if err != nil {
			t.Fatalf("an accepted envelope is not JSON to a schema validator: %v", err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Fatalf("Go accepts an envelope the schema refuses: %v", err)
		}
	})
}

func FuzzValidateBody(f *testing.F) {
	kinds := Kinds()
	for i, k := range kinds {
		files, _ := filepath.Glob(filepath.Join("testdata", "bodies", k.Name, "*.json"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), b)
		}
	}
	for _, tc := range bodyCases {
		for i, k := range kinds {
			if k.Name == tc.kind {
				f.Add(uint8(i), tc.input(f))
			}
		}
	}
	compile := compiledSchemas(f)
	schemas := make([]*jsonschema.Schema, len(kinds))
	for i, k := range kinds {
		schemas[i] = compile(BodySchemaName(k.Name))
	}
	f.Fuzz(func(t *testing.T, kindIndex uint8, input []byte) {
		i := int(kindIndex) % len(kinds)
		kind := kinds[i].Name
		body, err := ValidateBody(kind, input)
		if err != nil {
			requireKnownRefusal(t, err)
			if CodeOf(err) != CodeBodyInvalid {
				t.Fatalf("a body refusal must be body_invalid, got %v", err)
			}
			return
		}
		encoded, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("an accepted body does not encode: %v", err)
		}
		again, err := ValidateBody(kind, encoded)
		if err != nil {
			t.Fatalf("an accepted body re-encodes to a refused one: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(body, again) {
			t.Fatalf("round trip changed the body:\n%+v\n%+v", body, again)
		}
		for _, c := range UsedCategories(body) {
			if !IsDataCategory(c) {
				t.Fatalf("unknown category %q", c)
			}
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
		if err != nil {
			t.Fatalf("an accepted body is not JSON to a schema validator: %v", err)
		}
		if err := schemas[i].Validate(inst); err != nil {
			t.Fatalf("Go accepts a %s body the schema refuses: %v", kind, err)
		}
	})
}
