// Package consent_test checks the consent and corridor policy the way the
// network lives it: a real hub (hub.New on a SQLite file, its corridor
// agreements watched from a copy of policies/corridors, behind its real
// HTTP API), agencies registered with their supervisors' keys, and the
// built relais binary run as case workers and supervisors run it —
// `relais policy check|explain`, `relais supervisor init`, `relais
// approve`, `relais send`, `relais withdraw`, `relais inbox`.
package consent_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}

// relais runs the binary with a clean environment (no RELAIS_* settings
// from the developer's shell).
func relais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.Run(t, relaisBin, args...)
}

// mustRelais runs the binary and fails the test unless it exits 0.
func mustRelais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.MustRun(t, relaisBin, args...)
}

// mustContain fails the test for every wanted text the output lacks.
func mustContain(t *testing.T, output string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(output, w) {
			t.Errorf("output lacks %q:\n%s", w, output)
		}
	}
}

// eventually polls cond every 10ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	relaistest.Eventually(t, timeout, 10*time.Millisecond, cond)
}
