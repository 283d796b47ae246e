package contracts

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docs/protocol.md has sections generated from the Go tables, between
// "<!-- BEGIN GENERATED name -->" and "<!-- END GENERATED name -->". This
// test fails when one is stale; refresh them with
//
//	go test ./contracts -run TestProtocolDoc -update-docs
var updateDocs = flag.Bool("update-docs", false, "rewrite the generated sections of docs/protocol.md")

const protocolDoc = "../docs/protocol.md"

// generatedSections maps a section name to its generator.
var generatedSections = map[string]func() string{
	"kinds":         kindsSection,
	"body-fields":   bodyFieldsSection,
	"vocabularies":  vocabulariesSection,
	"refusal-codes": refusalCodesSection,
	"go-only-rules": goOnlyRulesSection,
	"country-count": func() string {
		return fmt.Sprintf("The list, in [`contracts/iso3166.go`](../contracts/iso3166.go), holds the %d officially assigned codes.\n", len(Countries()))
	},
	"kind-body-files": kindBodyFilesSection,
}

func TestProtocolDocIsUpToDate(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	updated := doc
	for name, gen := range generatedSections {
		updated, err = replaceSection(updated, name, gen())
		if err != nil {
			t.Fatal(err)
		}
	}
	if bytes.Equal(doc, updated) {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(protocolDoc, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is stale: run go test ./contracts -run TestProtocolDoc -update-docs", protocolDoc)
}

func replaceSection(doc []byte, name, content string) ([]byte, error) {
	begin := []byte("<!-- BEGIN GENERATED " + name + " -->\n")
	end := []byte("<!-- END GENERATED " + name + " -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s: generated section %q is missing", protocolDoc, name)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString(content)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "—"
}

func kindsSection() string {
	var b strings.Builder
	b.WriteString("| kind | opens a transfer | personal data (sealed body, purpose, categories, consent) | `in_reply_to` required | body type | meaning (français / English) |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, k := range Kinds() {
		body := reflect.TypeOf(k.NewBody()).Elem().Name()
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` ([schema](../contracts/schema/%s)) | %s / %s |\n",
			k.Name, yesNo(k.OpensTransfer), yesNo(k.PersonalData), yesNo(k.NeedsReplyTo), body, BodySchemaName(k.Name), k.Label.FR, k.Label.EN)
	}
	return b.String()
}

func kindBodyFilesSection() string {
	var b strings.Builder
	b.WriteString("- `envelope.schema.json`: the envelope, with the kind-dependent rules.\n")
	b.WriteString("- `consent.schema.json`: the consent object.\n")
	b.WriteString("- `defs.schema.json`: shared definitions (identifiers, times, vocabularies).\n")
	for _, k := range Kinds() {
		fmt.Fprintf(&b, "- `%s`: the body of `%s`.\n", BodySchemaName(k.Name), k.Name)
	}
	return b.String()
}

// bodyFieldsSection lists every field of every body with its JSON type, its
// validation rules and its data category.
func bodyFieldsSection() string {
	var b strings.Builder
	for _, k := range Kinds() {
		typ := reflect.TypeOf(k.NewBody()).Elem()
		fmt.Fprintf(&b, "#### `%s` (`%s`)\n\n", k.Name, typ.Name())
		b.WriteString("| field | required | rules | data category |\n|---|---|---|---|\n")
		rows := 0
		writeBodyFields(&b, typ, "", "", &rows)
		if rows == 0 {
			b.WriteString("| (no fields) | | | |\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// fieldRules renders a validate tag for readers: presence is its own
// column, and "dive" reads as "each:".
func fieldRules(tag string) string {
	var parts []string
	for part := range strings.SplitSeq(tag, ",") {
		switch part {
		case "", "omitempty", "required":
			continue
		case "dive":
			parts = append(parts, "each:")
		default:
			parts = append(parts, part)
		}
	}
	if n := len(parts); n > 0 && parts[n-1] == "each:" {
		parts = parts[:n-1] // a list of objects: the members have the rules
	}
	return strings.ReplaceAll(strings.Join(parts, " "), "|", "\\|")
}

func writeBodyFields(b *strings.Builder, typ reflect.Type, prefix, inherited string, rows *int) {
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" {
			continue
		}
		required := !hasOption(opts, "omitempty") && !hasOption(opts, "omitzero")
		category := inherited
		if tag, ok := sf.Tag.Lookup(categoryTag); ok {
			category = tag
		}
		elem, suffix := sf.Type, ""
		for elem.Kind() == reflect.Pointer || elem.Kind() == reflect.Slice {
			if elem.Kind() == reflect.Slice {
				suffix += "[]"
			}
			elem = elem.Elem()
		}
		path := prefix + name + suffix
		nested := elem.Kind() == reflect.Struct && elem != timeType
		shownCategory := "`" + category + "`"
		switch {
		case category == notPersonal:
			shownCategory = "not personal data"
		case category == "":
			shownCategory = "per member"
		}
		rules := orDash(fieldRules(sf.Tag.Get("validate")))
		if nested && rules == "—" {
			rules = "object"
		} else if nested {
			rules = "object, " + rules
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, yesNo(required), rules, shownCategory)
		*rows++
		if nested {
			writeBodyFields(b, elem, path+".", category, rows)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + s + "`"
}

func vocabulariesSection() string {
	var b strings.Builder
	for _, v := range Vocabularies() {
		fmt.Fprintf(&b, "#### %s — %s (`%s`)\n\n", v.Title().EN, v.Title().FR, v.Name())
		b.WriteString("| code | français | English |\n|---|---|---|\n")
		for _, t := range v.Terms() {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", t.Code, t.Label.FR, t.Label.EN)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func refusalCodesSection() string {
	var b strings.Builder
	b.WriteString("| code | HTTP status | français | English |\n|---|---|---|---|\n")
	for _, c := range Codes() {
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s |\n", c, c.Status(), c.Title("fr"), c.Title("en"))
	}
	return b.String()
}

// goOnlyRulesSection lists, from the test tables, the refusals that the JSON
// Schemas cannot express, so integrators validating with the schemas know
// what the hub will still refuse.
func goOnlyRulesSection() string {
	var b strings.Builder
	for _, tc := range envelopeCases {
		if tc.goOnly {
			fmt.Fprintf(&b, "- envelope: %s (`%s`, field `%s`).\n", tc.name, tc.code, strings.Join(tc.fields, "`, `"))
		}
	}
	for _, tc := range bodyCases {
		if tc.goOnly {
			fmt.Fprintf(&b, "- `%s` body: %s (`%s`, field `%s`).\n", tc.kind, tc.name, tc.code, strings.Join(tc.fields, "`, `"))
		}
	}
	return b.String()
}

// Examples in the doc are checked too: a fenced json block right after
// "<!-- example: envelope -->" must decode, and one after
// "<!-- example: body KIND -->" must validate as that kind's body.
var exampleMarker = regexp.MustCompile("(?s)<!-- example: (envelope|body [a-z.]+) -->\\s*```json\\n(.*?)```")

func TestProtocolDocExamplesAreValid(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	examples := exampleMarker.FindAllSubmatch(doc, -1)
	if len(examples) < 3 {
		t.Fatalf("found %d checked examples in %s, want at least 3", len(examples), protocolDoc)
	}
	for i, m := range examples {
		what, text := string(m[1]), m[2]
		if what == "envelope" {
			if _, err := DecodeEnvelope(text); err != nil {
				t.Errorf("example %d (envelope): %v", i+1, err)
			}
			continue
		}
		kind := strings.TrimPrefix(what, "body ")
		if _, err := ValidateBody(kind, text); err != nil {
			t.Errorf("example %d (%s): %v", i+1, what, err)
		}
	}
}
