package relaistest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Hub is `relais serve` running as a subprocess.
type Hub struct {
	Addr, Data, Log string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// URL is the hub's base URL.
func (h *Hub) URL() string { return "http://" + h.Addr }

// FreeAddr finds a loopback address (127.0.0.1:port) nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartServe starts `bin serve --listen addr --data data`, its stdout and
// stderr appended to logPath, and waits up to 20 seconds until /readyz
// answers 200. The process is stopped when owner ends: owner is usually t,
// but a hub restarted inside a subtest may need to outlive it.
func StartServe(t testing.TB, owner interface{ Cleanup(func()) }, bin, addr, data, logPath string) *Hub {
	t.Helper()
	return StartServeArgs(t, owner, bin, addr, data, logPath)
}

// StartServeArgs is StartServe with more arguments for `relais serve`.
func StartServeArgs(t testing.TB, owner interface{ Cleanup(func()) }, bin, addr, data, logPath string, args ...string) *Hub {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data", data}, args...)...)
	cmd.Env = CleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start hub: %v", err)
	}
	h := &Hub{Addr: addr, Data: data, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(h.exited)
	}()
	owner.Cleanup(h.Stop)
	Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
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

// Kill sends SIGKILL and waits for the process to be gone: no deferred
// function, no shutdown hook, no final fsync runs.
func (h *Hub) Kill(t testing.TB) {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-h.exited
}

// Stop asks the hub to shut down with SIGTERM and kills it if it is not
// gone within 15 seconds. Stopping a hub that already exited does nothing.
func (h *Hub) Stop() {
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

// Signal sends sig to the hub process and returns at once; unlike Kill it
// neither waits nor fails the test, so it may be called from any goroutine.
func (h *Hub) Signal(sig os.Signal) error { return h.cmd.Process.Signal(sig) }
