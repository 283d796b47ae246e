// Package ops tests what an operator installs and relies on: the alert
// rules (promtool), the deployment files, the metrics a hub exports after
// real traffic, and backup → wipe → restore of an embedded hub run as the
// built binary.
package ops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}

// deployPath is a path under deploy/.
func deployPath(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := relaistest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root, "deploy"}, elem...)...)
}

// relais runs the binary with args.
func relais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.Run(t, relaisBin, args...)
}

func mustRelais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.MustRun(t, relaisBin, args...)
}
