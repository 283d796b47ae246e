// Package e2e drives the built relais binary: a hub started with
// `relais serve` as a subprocess, agencies created and registered with the
// CLI, messages sent, pulled, answered and traced with the CLI, and the hub
// killed with SIGKILL mid-flight.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "relais-e2e-bin-")
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
	args := []string{"build", "-buildvcs=false", "-o", relaisBin}
	if raceEnabled {
		// The hub under test gets the race detector too; its reports land
		// in the hub log, which every network checks when it ends.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/relais")...)
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
// settings cannot leak into the processes under test.
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

// relais runs the binary with args and returns its output and exit code.
func relais(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, relaisBin, args...)
	cmd.Env = cleanEnv()
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
func mustRelais(t *testing.T, args ...string) string {
	t.Helper()
	r := relais(t, args...)
	if r.Code != 0 {
		t.Fatalf("relais %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// hubProcess is `relais serve` running as a subprocess.
type hubProcess struct {
	Addr, Data, Log string
	cmd             *exec.Cmd
	exited          chan struct{}
}

func (h *hubProcess) URL() string { return "http://" + h.Addr }

// freeAddr finds a loopback port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHub starts `relais serve --listen addr --data data`, its stdout and
// stderr appended to logPath, and waits until /readyz answers. The process
// is stopped when owner ends (a hub restarted in a subtest outlives it).
func startHub(t *testing.T, owner interface{ Cleanup(func()) }, addr, data, logPath string) *hubProcess {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(relaisBin, "serve", "--listen", addr, "--data", data)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start hub: %v", err)
	}
	h := &hubProcess{Addr: addr, Data: data, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(h.exited)
	}()
	owner.Cleanup(h.stop)
	eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-h.exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("hub exited during start-up:\n%s", log)
		default:
		}
		resp, err := http.Get(h.URL() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	})
	return h
}

// kill sends SIGKILL and waits for the process to be gone: no deferred
// function, no shutdown hook, no final fsync runs.
func (h *hubProcess) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-h.exited
}

// stop asks the hub to shut down and kills it if it does not.
func (h *hubProcess) stop() {
	select {
	case <-h.exited:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(15 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
}

// eventually retries fn until it returns nil or timeout passes, then fails
// with fn's last error.
func eventually(t *testing.T, timeout, interval time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
