package ops

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hubProcess is `relais serve` running as a subprocess on the embedded
// store.
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

// startServe starts `relais serve --listen addr --data data`, its output
// appended to logPath, and waits until /readyz answers.
func startServe(t *testing.T, addr, data, logPath string) *hubProcess {
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
	t.Cleanup(h.stop)
	eventually(t, 20*time.Second, func() error {
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

// cliResult is what one relais invocation did.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// relais runs the binary with args.
func relais(t *testing.T, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr strings.Builder
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

func mustRelais(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := relais(t, args...)
	if r.Code != 0 {
		t.Fatalf("relais %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}
