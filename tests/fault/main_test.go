// Package fault runs Relais under faults, with real processes and real
// engines: `relais serve` subprocesses on a PostgreSQL schema of their own
// and a RabbitMQ node of the tests' own, which the tests kill with SIGKILL,
// stop and restart while referrals stream in over HTTP; toxiproxy between an
// in-process hub and the broker; and a poison message. Each load test
// prints what it sent, what the hubs accepted (202) and what reached the
// recipient's inbox, and fails on any duplicate or loss.
//
// It needs RELAIS_TEST_POSTGRES and RELAIS_TEST_AMQP (tests/engines.sh
// start exports both) and otherwise skips. The broker the tests kill is not
// the one RELAIS_TEST_AMQP names, which other suites share, but a second
// RabbitMQ node on ports and a data directory of its own (rabbit_test.go):
// that needs root and Debian's rabbitmq-server, as engines.sh does.
//
// Sizes (size_test.go): a CI run by default; RELAIS_FAULT_FULL=1 runs the
// full one (10,000 referrals, a 2-minute outage, 5 kills of each hub).
// RELAIS_FAULT_OUTAGE=45s overrides the outage length.
package fault

import (
	"fmt"
	"os"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

var (
	// relaisBin is the binary built once by TestMain.
	relaisBin string
	// broker is the tests' own RabbitMQ node; nil when it could not run
	// (skipReason says why).
	broker     *rabbitNode
	skipReason string
	// pgBase is RELAIS_TEST_POSTGRES: each test works in a schema of its own.
	pgBase string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	pgBase = os.Getenv("RELAIS_TEST_POSTGRES")
	if pgBase == "" || os.Getenv("RELAIS_TEST_AMQP") == "" {
		skipReason = "set RELAIS_TEST_POSTGRES and RELAIS_TEST_AMQP (eval \"$(tests/engines.sh start)\") to run the fault tests"
		return m.Run()
	}
	node, err := newRabbitNode()
	if err == nil {
		fmt.Fprintf(os.Stderr, "fault: starting RabbitMQ node %s on %s\n", node.name, node.Addr())
		if err = node.Start(); err != nil {
			_ = node.Remove()
		}
	}
	if err != nil {
		skipReason = "no RabbitMQ node of the fault tests' own: " + err.Error()
		return m.Run()
	}
	broker = node
	defer func() {
		if err := broker.Remove(); err != nil {
			fmt.Fprintf(os.Stderr, "fault: remove RabbitMQ node: %v\n", err)
		}
	}()
	return relaistest.RunWithRelais(m, &relaisBin)
}

// requireEngines skips the test unless both engines and the tests' own
// broker node are there.
func requireEngines(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
