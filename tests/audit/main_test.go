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
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "relais-audit-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	relaisBin = filepath.Join(tmp, "relais")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", relaisBin, "./cmd/relais")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/relais: %v\n%s", err, out)
		return 1
	}
	return m.Run()
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

// cleanEnv is the environment without RELAIS_* variables, so a developer's
// settings cannot leak into the commands under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAIS_") {
			env = append(env, kv)
		}
	}
	return env
}

// cliResult is what one relais invocation did.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

func (r cliResult) output() string { return r.Stdout + r.Stderr }

// runIn runs the binary in dir (the current directory when empty).
func runIn(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Env = cleanEnv()
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("relais %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func relais(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runIn(t, "", args...)
}

// mustRelais runs the binary and fails the test unless it exits 0.
func mustRelais(t *testing.T, args ...string) string {
	t.Helper()
	r := relais(t, args...)
	if r.Code != 0 {
		t.Fatalf("relais %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// mustFail runs the binary and fails the test unless it exits non-zero.
func mustFail(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := relais(t, args...)
	if r.Code == 0 {
		t.Fatalf("relais %s succeeded, want a failure\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Stdout, r.Stderr)
	}
	return r
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
