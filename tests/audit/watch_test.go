package audit_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// TestWatchFollowsAGrowingLogThenStopsLoudlyOnAFork runs `relais audit
// watch` as a long-running process: it accepts checkpoints as the log
// grows, then exits non-zero by itself, with an alarm, when the hub starts
// serving a rewritten history.
func TestWatchFollowsAGrowingLogThenStopsLoudlyOnAFork(t *testing.T) {
	b := newBed(t)
	var stdout, stderr relaistest.SyncBuffer
	cmd := exec.Command(relaisBin, b.as("audit", "watch", "--state", b.state, "--hub-key", b.keyFile, "--interval", "50ms")...)
	cmd.Env = relaistest.CleanEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Bound Wait once the process is gone, even if its output pipes stay
	// open: a stuck cleanup must fail the test, not hang the suite.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// The log grows: a second transfer, and a checkpoint covering it.
	b.exchange(t, ciID, bfID, "CI-ABJ-2026-0043")
	mustRelais(t, b.as("audit", "checkpoint", "--publish")...)
	eventually(t, "the watcher to accept the grown log", func() bool {
		return strings.Contains(stdout.String(), "le journal n'a fait que grandir")
	})
	var grown audit.Checkpoint
	eventually(t, "the state file to hold the grown checkpoint", func() bool {
		cp, err := audit.ParseCheckpoint(must(os.ReadFile(b.state)), b.log.Origin(), b.log.PublicKey())
		grown = cp
		return err == nil && int(cp.Size) > b.signed
	})

	// A compromised hub rewrites one event and re-signs the same size.
	leaves := b.leaves(t)[:grown.Size]
	k := b.indexOf(t, hub.EventTransferAccepted)
	leaves[k] = edited(t, leaves[k], handedToBF)
	b.rewrite(t, leaves)

	select {
	case <-exited:
		var exit *exec.ExitError
		if !errors.As(waitErr, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("watch ended with %v, want a non-zero exit", waitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not stop on a fork:\n%s\n%s", stdout.String(), stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "ALERTE") || !strings.Contains(out, "[audit_fork]") {
		t.Fatalf("watch stopped without the fork alarm:\n%s", out)
	}
}
