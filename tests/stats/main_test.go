// Package stats_test checks the hub's statistics and its directory of
// services the way a national authority and an agency meet them: a real
// hub (hub.New on SQLite, and on PostgreSQL when RELAIS_TEST_POSTGRES is
// set) behind its real HTTP API, fed with more than 500 synthetic
// transfers across five countries as agencies send them — real signed
// messages, bodies encrypted for their recipient — on a simulated clock
// spanning six quarters; and the built relais binary run as the
// authority and the admin run it.
//
// Every published count is checked against the test's own count from the
// plan it generated (dataset_test.go), never against the hub's data; every
// count below its corridor agreement's threshold must be withheld; and no
// withheld count may be recoverable from the published figures (an
// attacker's linear programme, hub/stats/statstest).
package stats_test

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

func mustRelais(t *testing.T, args ...string) string {
	t.Helper()
	return relaistest.MustRun(t, relaisBin, args...).Stdout
}

func relais(t *testing.T, args ...string) relaistest.Result {
	t.Helper()
	return relaistest.Run(t, relaisBin, args...)
}

// eventually polls cond every 5ms until it holds, for up to 15 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	relaistest.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for %s", what)
	})
}
