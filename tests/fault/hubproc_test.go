package fault

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hubProc is `relais serve` running as a subprocess; it keeps its address,
// data directory and flags across restarts.
type hubProc struct {
	Name, Addr, Data, Log string
	args                  []string
	env                   []string
	cmd                   *exec.Cmd
	exited                chan struct{}
	kills                 int
}

func (h *hubProc) URL() string { return "http://" + h.Addr }

// start runs the hub and waits until /readyz answers 200 (store and broker
// reachable). The process is stopped when the test ends.
func (h *hubProc) start(t *testing.T) {
	t.Helper()
	if err := h.launch(); err != nil {
		t.Fatal(err)
	}
}

// launch is start for goroutines other than the test's: it reports
// instead of failing.
func (h *hubProc) launch() error {
	logFile, err := os.OpenFile(h.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(relaisBin, h.args...)
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start hub %s: %w", h.Name, err)
	}
	exited := make(chan struct{})
	h.cmd, h.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(h.Log)
			return fmt.Errorf("hub %s exited during start-up:\n%s", h.Name, tail(log, 4000))
		default:
		}
		err := ready(client, h.URL())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hub %s not ready after 60 s: %w", h.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(client *http.Client, url string) error {
	resp, err := client.Get(url + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

// kill sends SIGKILL and waits until the process is gone: no deferred
// function, no shutdown hook, no final flush runs.
func (h *hubProc) kill() error {
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL hub %s: %w", h.Name, err)
	}
	<-h.exited
	h.kills++
	return nil
}

// stop asks the hub to shut down and kills it if it does not.
func (h *hubProc) stop() {
	if h.cmd == nil {
		return
	}
	select {
	case <-h.exited:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
}

// checkLog fails the test if the hub reported a panic.
func (h *hubProc) checkLog(t *testing.T) {
	t.Helper()
	log, err := os.ReadFile(h.Log)
	if err != nil {
		t.Errorf("hub %s log: %v", h.Name, err)
		return
	}
	for _, bad := range []string{"panic:", "fatal error:", "WARNING: DATA RACE"} {
		if i := strings.Index(string(log), bad); i >= 0 {
			t.Errorf("hub %s log reports %q:\n%s", h.Name, bad, log[i:min(len(log), i+4000)])
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
