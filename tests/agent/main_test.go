// Package agent drives the site agent as the field runs it: the built
// relais binary, `relais serve` as the hub, one `relais agent run` process
// per site, drafts queued with `relais agent compose`. The tests SIGKILL the
// agents (and the composing processes) at random moments, stop the hub for
// an outage, and put toxiproxy between the agents and the hub to make a
// 56 kbit/s link that drops connections; every referral must arrive exactly
// once, stored before its receipt. Encrypted attachments cross the same
// faults and must arrive once, byte-identical. Benchmarks count the bytes a
// referral costs on a real loopback connection, with and without gzip, and
// the peak memory of the agents and the hub moving a 50 MiB scan.
//
// Sizes: `go test -short` sends fewer referrals through the slow link;
// RELAIS_AGENT_REFERRALS overrides the count (default 200). RELAIS_SOAK=1
// runs the full-size soak: 200 referrals and ten 20 MiB attachments
// (attachments on an 8 Mbit/s lane: ten 20 MiB files would take eight hours
// at 56 kbit/s), a 30 s hub outage and agent kills.
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
