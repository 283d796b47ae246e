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
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	tmp, err := os.MkdirTemp("", "relais-fault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if relaisBin, err = buildRelais(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
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
	return m.Run()
}

func buildRelais(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "relais")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/relais")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/relais: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot walks up from the test's directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// requireEngines skips the test unless both engines and the tests' own
// broker node are there.
func requireEngines(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
