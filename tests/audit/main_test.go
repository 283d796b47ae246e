// Package audit_test checks the audit trail the way an auditor meets it: a
// real hub (hub.New on a SQLite file, behind its real HTTP API) carrying
// real traffic between agencies of three countries, and the built relais
// binary run as the auditor runs it — `relais auditor init|register`,
// `relais audit key|bundle|events|watch|verify`. The tamper suite edits the
// hub's SQLite file behind its back with database/sql and expects the CLI
// to notice; the offline test verifies a bundle in a fresh directory after
// the hub is gone.
package audit_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}

// runIn runs the binary in dir (the current directory when empty).
func runIn(t *testing.T, dir string, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.RunIn(t, relaisBin, dir, args...)
}

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

// eventually polls cond every 10ms until it holds, for up to 15 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	relaistest.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for %s", what)
	})
}
