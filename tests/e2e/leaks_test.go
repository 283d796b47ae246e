package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"
)

// leakForm is one spelling under which a string could sit in a file.
type leakForm struct {
	Encoding string
	Text     string
}

// leakForms lists the spellings a personal string would take if it leaked:
// as is (UTF-8), JSON-escaped the way Go writes it and the ASCII-only way
// other encoders write it (\u00e9, either case), and the base64 and
// base64url of each of those at all three byte alignments — the hub keeps
// messages as compact JWS, whose payload is base64url, so a plaintext body
// would only ever appear encoded.
func leakForms(s string) []leakForm {
	texts := []leakForm{{"utf-8", s}}
	goJSON, _ := json.Marshal(s)
	texts = append(texts, leakForm{"json", string(goJSON[1 : len(goJSON)-1])})
	for _, upper := range []bool{false, true} {
		if esc := asciiEscaped(s, upper); esc != s {
			texts = append(texts, leakForm{"json-ascii", esc})
		}
	}
	forms := append([]leakForm(nil), texts...)
	for _, txt := range texts {
		for _, enc := range []struct {
			name string
			enc  *base64.Encoding
		}{{"base64url", base64.RawURLEncoding}, {"base64", base64.RawStdEncoding}} {
			for offset := 0; offset < 3; offset++ {
				forms = append(forms, leakForm{fmt.Sprintf("%s+%d(%s)", enc.name, offset, txt.Encoding), base64Core(enc.enc, txt.Text, offset)})
			}
		}
	}
	return forms
}

// asciiEscaped writes every non-ASCII rune as a JSON \uXXXX escape
// (surrogate pairs beyond the BMP).
func asciiEscaped(s string, upper bool) string {
	format := "\\u%04x"
	if upper {
		format = "\\u%04X"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, format+format, r1, r2)
		default:
			fmt.Fprintf(&b, format, r)
		}
	}
	return b.String()
}

// base64Core is the part of the encoding of s, preceded by offset other
// bytes, that depends on s alone: whatever surrounds s, an encoded copy of
// it at that alignment contains this text.
func base64Core(enc *base64.Encoding, s string, offset int) string {
	full := enc.EncodeToString(append(make([]byte, offset), s...))
	start := (8*offset + 5) / 6
	end := 8 * (offset + len(s)) / 6
	return full[start:end]
}

// filesUnder lists every regular file below dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

// scanForLeaks reports every file holding any of the strings, in any of
// their leak forms.
func scanForLeaks(t *testing.T, files, strs []string) []string {
	t.Helper()
	var found []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, s := range strs {
			for _, form := range leakForms(s) {
				if bytes.Contains(data, []byte(form.Text)) {
					found = append(found, fmt.Sprintf("%s holds %q as %s", f, s, form.Encoding))
					break
				}
			}
		}
	}
	return found
}

// TestLeakScanSeesEncodedPlaintext is the scan's own check: a plaintext
// body hidden in a JWS payload at any alignment, or JSON-escaped, is found.
func TestLeakScanSeesEncodedPlaintext(t *testing.T) {
	secrets := []string{"Kadiatou Aminata", "marché de Treichville", "+22376543210", "Foyer Sainte-Thérèse"}
	dir := t.TempDir()
	var files []string
	write := func(name string, data []byte) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	for prefix := 0; prefix < 3; prefix++ {
		body, _ := json.Marshal(map[string]any{"pad": strings.Repeat("x", prefix), "child": secrets})
		write(fmt.Sprintf("jws-%d", prefix), []byte("eyJhbGciOiJFZERTQSJ9."+base64.RawURLEncoding.EncodeToString(body)+".c2ln"))
		write(fmt.Sprintf("std-%d", prefix), []byte(base64.StdEncoding.EncodeToString(body)))
	}
	// As an ASCII-only JSON encoder writes it: {"child":"Kadiatou…march\u00e9…"}.
	write("ascii.json", []byte(`{"child":"`+asciiEscaped(strings.Join(secrets, "|"), false)+`"}`))
	write("clean", []byte(strings.Repeat("relais ", 1000)))

	for _, f := range files {
		for _, s := range secrets {
			hits := scanForLeaks(t, []string{f}, []string{s})
			if filepath.Base(f) == "clean" {
				if len(hits) != 0 {
					t.Errorf("false positive: %v", hits)
				}
				continue
			}
			if len(hits) != 1 {
				t.Errorf("%s: %q not found", filepath.Base(f), s)
			}
		}
	}
}
