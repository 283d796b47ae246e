// Package consent_test checks the consent and corridor policy the way the
// network lives it: a real hub (hub.New on a SQLite file, its corridor
// agreements watched from a copy of policies/corridors, behind its real
// HTTP API), agencies registered with their supervisors' keys, and the
// built relais binary run as case workers and supervisors run it —
// `relais policy check|explain`, `relais supervisor init`, `relais
// approve`, `relais send`, `relais withdraw`, `relais inbox`.
package consent_test

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
	tmp, err := os.MkdirTemp("", "relais-consent-bin-")
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

// cliResult is what one relais invocation did.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// relais runs the binary with a clean environment (no RELAIS_* settings
// from the developer's shell).
func relais(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAIS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
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

// mustRelais runs the binary and fails the test unless it exits 0.
func mustRelais(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := relais(t, args...)
	if r.Code != 0 {
		t.Fatalf("relais %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// mustContain fails the test for every wanted text the output lacks.
func mustContain(t *testing.T, output string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(output, w) {
			t.Errorf("output lacks %q:\n%s", w, output)
		}
	}
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
