package contracts

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDocs reads every schema in SchemaFS as generic JSON.
func schemaDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	docs := map[string]map[string]any{}
	err := fs.WalkDir(SchemaFS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(SchemaFS, path)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		docs[path] = doc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// compiledSchemas compiles every schema under its $id.
func compiledSchemas(t testing.TB) func(name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	names, err := fs.Glob(SchemaFS, "*.schema.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no schemas embedded: %v", err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(SchemaFS, name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id := doc.(map[string]any)["$id"]; id != SchemaBaseURI+name {
			t.Fatalf("%s: $id is %v, want %s", name, id, SchemaBaseURI+name)
		}
		if err := c.AddResource(SchemaBaseURI+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	compiled := map[string]*jsonschema.Schema{}
	return func(name string) *jsonschema.Schema {
		if s, ok := compiled[name]; ok {
			return s
		}
		s, err := c.Compile(SchemaBaseURI + name)
		if err != nil {
			t.Fatalf("compiling %s: %v", name, err)
		}
		compiled[name] = s
		return s
	}
}

func schemaAccepts(t testing.TB, s *jsonschema.Schema, input []byte) (bool, string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(input))
	if err != nil {
		t.Fatalf("a JSON Schema validator cannot read the sample: %v", err)
	}
	if err := s.Validate(inst); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// lexical reports whether a refusal happens before JSON Schema has anything
// to say: the input is not one JSON value, or repeats a member (which
// generic JSON parsers silently resolve).
func lexical(input []byte) bool {
	_, err := parseJSON(input)
	return err != nil
}

func TestSchemasAgreeWithGoOnEnvelopes(t *testing.T) {
	schema := compiledSchemas(t)("envelope.schema.json")
	for _, tc := range envelopeCases {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.input(t)
			if tc.goOnly && tc.code == "" {
				t.Fatal("goOnly is for refused samples")
			}
			if lexical(input) {
				if tc.code != CodeMalformedEnvelope && tc.code != CodeDuplicateKey {
					t.Fatalf("lexically broken sample expects %s", tc.code)
				}
				return
			}
			want := tc.code == "" || tc.goOnly
			got, why := schemaAccepts(t, schema, input)
			if got != want {
				t.Fatalf("Go says %q (goOnly=%v) but the schema accepts=%v %s", tc.code, tc.goOnly, got, why)
			}
		})
	}
}

func TestSchemasAgreeWithGoOnBodies(t *testing.T) {
	schemas := compiledSchemas(t)
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.input(t)
			if lexical(input) {
				return
			}
			want := tc.code == "" || tc.goOnly
			got, why := schemaAccepts(t, schemas(BodySchemaName(tc.kind)), input)
			if got != want {
				t.Fatalf("Go says %q (goOnly=%v) but the schema accepts=%v %s", tc.code, tc.goOnly, got, why)
			}
		})
	}
}

func TestEveryKindHasABodySchema(t *testing.T) {
	compile := compiledSchemas(t)
	for _, k := range Kinds() {
		compile(BodySchemaName(k.Name))
	}
	compile("consent.schema.json")
}

// schemaWalker follows $refs through the raw schema documents.
type schemaWalker struct {
	t    *testing.T
	docs map[string]map[string]any
}

// resolve follows node's $ref, if any, and returns the file it lives in.
func (w schemaWalker) resolve(file string, node map[string]any) (string, map[string]any) {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return file, node
		}
		target, pointer, _ := strings.Cut(ref, "#")
		if target != "" {
			file = target
		}
		doc, ok := w.docs[file]
		if !ok {
			w.t.Fatalf("$ref to unknown file %s", file)
		}
		node = doc
		for part := range strings.SplitSeq(strings.TrimPrefix(pointer, "/"), "/") {
			if part == "" {
				continue
			}
			next, ok := node[part].(map[string]any)
			if !ok {
				w.t.Fatalf("$ref %s does not resolve in %s", ref, file)
			}
			node = next
		}
	}
}

// checkStruct compares a Go struct type with an object schema: same
// members, same required set, no additional properties; then recurses into
// nested struct types.
func (w schemaWalker) checkStruct(typ reflect.Type, file string, node map[string]any, seen map[reflect.Type]bool) {
	file, node = w.resolve(file, node)
	seen[typ] = true
	name := typ.Name()
	if node["type"] != "object" || node["additionalProperties"] != false {
		w.t.Errorf("%s (%s): want type object with additionalProperties false", name, file)
	}
	props, _ := node["properties"].(map[string]any)
	var schemaNames, goNames, schemaRequired, goRequired []string
	for p := range props {
		schemaNames = append(schemaNames, p)
	}
	if req, ok := node["required"].([]any); ok {
		for _, r := range req {
			schemaRequired = append(schemaRequired, r.(string))
		}
	}
	for _, f := range wireFields(typ) {
		goNames = append(goNames, f.name)
		if !f.optional {
			goRequired = append(goRequired, f.name)
		}
	}
	for _, s := range [][]string{schemaNames, goNames, schemaRequired, goRequired} {
		sort.Strings(s)
	}
	if !slices.Equal(schemaNames, goNames) {
		w.t.Errorf("%s (%s): schema members %v, Go members %v", name, file, schemaNames, goNames)
	}
	if !slices.Equal(schemaRequired, goRequired) {
		w.t.Errorf("%s (%s): schema requires %v, Go requires %v", name, file, schemaRequired, goRequired)
	}
	for _, f := range wireFields(typ) {
		ft := f.typ
		prop, ok := props[f.name].(map[string]any)
		if !ok {
			continue
		}
		pfile := file
		for ft.Kind() == reflect.Pointer || (ft.Kind() == reflect.Slice && ft != rawMessageType) {
			if ft.Kind() == reflect.Slice {
				pfile, prop = w.resolve(pfile, prop)
				if prop["type"] != "array" {
					w.t.Errorf("%s.%s: Go slice, schema type %v", name, f.name, prop["type"])
				}
				prop, _ = prop["items"].(map[string]any)
			}
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			w.checkStruct(ft, pfile, prop, seen)
		}
	}
}

func TestSchemasDescribeTheGoTypesMemberForMember(t *testing.T) {
	w := schemaWalker{t: t, docs: schemaDocs(t)}
	seen := map[reflect.Type]bool{}
	w.checkStruct(reflect.TypeFor[Envelope](), "envelope.schema.json", w.docs["envelope.schema.json"], seen)
	w.checkStruct(reflect.TypeFor[Consent](), "consent.schema.json", w.docs["consent.schema.json"], seen)
	for _, k := range Kinds() {
		name := BodySchemaName(k.Name)
		w.checkStruct(reflect.TypeOf(k.NewBody()).Elem(), name, w.docs[name], seen)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Override](), reflect.TypeFor[Child](), reflect.TypeFor[FamilyMember](), reflect.TypeFor[Photo]()} {
		if !seen[typ] {
			t.Errorf("%s was not reached from the schemas", typ.Name())
		}
	}
}

func defsOf(t *testing.T, docs map[string]map[string]any) map[string]any {
	t.Helper()
	defs, ok := docs["defs.schema.json"]["$defs"].(map[string]any)
	if !ok {
		t.Fatal("defs.schema.json has no $defs")
	}
	return defs
}

func stringsOf(v any) []string {
	var out []string
	items, _ := v.([]any)
	for _, i := range items {
		s, _ := i.(string)
		out = append(out, s)
	}
	return out
}

func TestSchemaVocabulariesMatchGo(t *testing.T) {
	defs := defsOf(t, schemaDocs(t))
	for _, v := range Vocabularies() {
		def, ok := defs[v.Name()].(map[string]any)
		if !ok {
			t.Errorf("defs.schema.json lacks vocabulary %s", v.Name())
			continue
		}
		if got := stringsOf(def["enum"]); !slices.Equal(got, v.Codes()) {
			t.Errorf("%s: schema enum %v, Go %v", v.Name(), got, v.Codes())
		}
	}
	if got := stringsOf(defs["country"].(map[string]any)["enum"]); !slices.Equal(got, Countries()) {
		t.Errorf("country enum differs from the Go list")
	}
	wantAgency := `^(` + strings.Join(Countries(), "|") + `)\.` + strings.TrimPrefix(agencySlugPattern.String(), "^")
	if got := defs["agency_id"].(map[string]any)["pattern"]; got != wantAgency {
		t.Errorf("agency_id pattern differs from the Go grammar:\n got %v\nwant %v", got, wantAgency)
	}
}

func TestSchemaPatternsMatchGo(t *testing.T) {
	defs := defsOf(t, schemaDocs(t))
	core := func(p string) string { return strings.TrimSuffix(strings.TrimPrefix(p, "^"), "$") }
	want := map[string]string{
		"reference":   referencePattern.String(),
		"utc_time":    utcTimePattern.String(),
		"iso_date":    isoDatePattern.String(),
		"jwe_compact": jweCompactPattern.String(),
		"jws_compact": jwsCompactPattern.String(),
		"sha256_hex":  sha256HexPattern.String(),
		"language":    languagePattern.String(),
		"subdivision": subdivisionPattern.String(),
		"phone":       phonePattern.String(),
		"base64":      base64Pattern.String(),
		"message_id":  "^(" + core(uuidV7Pattern.String()) + "|" + core(ulidPattern.String()) + ")$",
	}
	for name, pattern := range want {
		def, _ := defs[name].(map[string]any)
		if def["pattern"] != pattern {
			t.Errorf("%s: schema pattern %v, Go %s", name, def["pattern"], pattern)
		}
	}
}

func TestEnvelopeSchemaKnowsTheKinds(t *testing.T) {
	env := schemaDocs(t)["envelope.schema.json"]
	props := env["properties"].(map[string]any)
	if got := stringsOf(props["kind"].(map[string]any)["enum"]); !slices.Equal(got, KindNames()) {
		t.Errorf("kind enum %v, registry %v", got, KindNames())
	}
	var personal, replyTo []string
	for _, k := range Kinds() {
		if k.PersonalData {
			personal = append(personal, k.Name)
		}
		if k.NeedsReplyTo {
			replyTo = append(replyTo, k.Name)
		}
	}
	conditionKinds := func(rule any) []string {
		cond := rule.(map[string]any)["if"].(map[string]any)["properties"].(map[string]any)["kind"].(map[string]any)
		if c, ok := cond["const"].(string); ok {
			return []string{c}
		}
		return stringsOf(cond["enum"])
	}
	rules := env["allOf"].([]any)
	if got := conditionKinds(rules[0]); !slices.Equal(got, personal) {
		t.Errorf("personal-data kinds in the schema %v, registry %v", got, personal)
	}
	if got := conditionKinds(rules[1]); !slices.Equal(got, replyTo) {
		t.Errorf("in_reply_to kinds in the schema %v, registry %v", got, replyTo)
	}
	bodyRefs := map[string]string{}
	for _, rule := range rules[2:] {
		kinds := conditionKinds(rule)
		ref := rule.(map[string]any)["then"].(map[string]any)["properties"].(map[string]any)["body"].(map[string]any)["$ref"]
		bodyRefs[kinds[0]], _ = ref.(string)
	}
	for _, k := range Kinds() {
		if !k.PersonalData && bodyRefs[k.Name] != BodySchemaName(k.Name) {
			t.Errorf("the envelope schema does not check the plain body of %s", k.Name)
		}
	}
}
