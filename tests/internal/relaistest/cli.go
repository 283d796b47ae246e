package relaistest

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cliTimeout bounds one CLI invocation, so a hung command fails its test
// instead of the whole package timing out.
const cliTimeout = 60 * time.Second

// Result is what one relais invocation did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Output is stdout followed by stderr, for failure messages and searches
// that do not care which stream a text went to.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Run runs bin with args in the current directory and returns its output
// and exit code; only a failure to run at all fails the test.
func Run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	return RunIn(t, bin, "", args...)
}

// RunIn is Run in dir (the current directory when empty).
func RunIn(t testing.TB, bin, dir string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = CleanEnv()
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("relais %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// MustRun is Run that fails the test unless the command exits 0.
func MustRun(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	r := Run(t, bin, args...)
	if r.Code != 0 {
		t.Fatalf("relais %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}
