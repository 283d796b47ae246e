package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseCorridor feeds arbitrary bytes to the corridor agreement reader,
// which operators edit by hand and the hub reloads while it runs. The
// property: no input makes it panic, a refused file always says why (at
// least one issue, each naming the file), and an admitted agreement has the
// parts the hub relies on when it decides.
func FuzzParseCorridor(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "corridors", "*.yaml"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seed agreements in testdata/corridors (%v)", err)
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("id: x\nversion: 1\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\nid: a\n---\nid: b\n"))
	f.Add([]byte("\tid: tabs\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		c, issues := parseFile(name, data)
		if c == nil {
			if len(issues) == 0 {
				t.Fatal("refused an agreement without naming any issue")
			}
			for _, is := range issues {
				if is.File != name || strings.TrimSpace(is.String()) == "" {
					t.Fatalf("issue without its file or text: %+v", is)
				}
			}
			return
		}
		if len(issues) != 0 {
			t.Fatalf("admitted an agreement with %d issues", len(issues))
		}
		if c.ID == "" || c.File != name {
			t.Fatalf("admitted an agreement without an id or file: %+v", c)
		}
		// The whole loader (overlaps, duplicate ids) must agree.
		if _, err := build([]source{{name: name, data: data}}); err != nil {
			t.Fatalf("parseFile admits what build refuses: %v", err)
		}
	})
}
