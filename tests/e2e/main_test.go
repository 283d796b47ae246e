// Package e2e drives the built relais binary: a hub started with
// `relais serve` as a subprocess, agencies created and registered with the
// CLI, messages sent, pulled, answered and traced with the CLI, and the hub
// killed with SIGKILL mid-flight.
package e2e

import (
	"os"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	var buildFlags []string
	if raceEnabled {
		// The hub under test gets the race detector too; its reports land
		// in the hub log, which every network checks when it ends.
		buildFlags = append(buildFlags, "-race")
	}
	os.Exit(relaistest.RunWithRelais(m, &relaisBin, buildFlags...))
}

// relais runs the binary with args and returns its output and exit code.
func relais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.Run(t, relaisBin, args...)
}

// mustRelais runs the binary, fails the test unless it exits 0, and
// returns its stdout.
func mustRelais(t *testing.T, args ...string) string {
	t.Helper()
	return relaistest.MustRun(t, relaisBin, args...).Stdout
}
