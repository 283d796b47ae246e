// Package agent drives the site agent as the field runs it: the built
// relais binary, `relais serve` as the hub, one `relais agent run` process
// per site, drafts queued with `relais agent compose`. The tests SIGKILL the
// agents (and the composing processes) at random moments, stop the hub for
// an outage, and put toxiproxy between the agents and the hub to make a
// 56 kbit/s link that drops connections; every referral must arrive exactly
// once, stored before its receipt. A benchmark counts the bytes a referral
// costs on a real loopback connection, with and without gzip.
//
// Sizes: `go test -short` sends fewer referrals through the slow link;
// RELAIS_AGENT_REFERRALS overrides the count (default 200).
package agent

import (
	"os"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}
