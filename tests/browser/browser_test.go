// Package browser_test drives the Relais consoles in a real browser:
// Debian's Chromium under playwright-core (e2e.mjs), against the built
// relais binary — a hub with its console and two site agents with theirs,
// on loopback. A case worker composes and sends a referral, the receiving
// case worker reads and accepts it, an auditor finds the transfer and
// downloads a bundle that `relais audit verify` accepts; the screenshots
// of the main pages are written to docs/screenshots.
package browser_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}

// setup installs Chromium and playwright-core (setup.sh). Outside CI a
// machine that cannot install them skips the test, loudly; in CI it fails.
func setup(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(dir, "setup.sh"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Logf("%s", bytes.TrimSpace(out))
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser test setup failed: %v\n%s", err, out)
	}
	t.Skipf("SKIPPED: the browser test setup failed (run tests/browser/setup.sh as root): %v\n%s", err, out)
}

// process is a relais subprocess whose output goes to a log file.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func start(t *testing.T, logPath string, env []string, args ...string) *process {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = append(relaistest.CleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("relais %s: %v", strings.Join(args, " "), err)
	}
	p := &process{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitHTTP waits until url answers with want.
func (p *process) waitHTTP(t *testing.T, url string, want int) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	relaistest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-p.exited:
			log, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited during start-up:\n%s", p.cmd.Args[1], log)
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	})
}

func mustRelais(t *testing.T, args ...string) string {
	t.Helper()
	return relaistest.MustRun(t, relaisBin, args...).Stdout
}

func TestCaseWorkersAndAnAuditorInTheBrowser(t *testing.T) {
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	setup(t, here)
	root, err := relaistest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	const adminToken = "browser-test-admin-token"

	hubAddr := relaistest.FreeAddr(t)
	hubURL := "http://" + hubAddr
	hub := start(t, filepath.Join(work, "hub.log"), []string{"RELAIS_ADMIN_TOKEN=" + adminToken},
		"serve", "--listen", hubAddr, "--data", filepath.Join(work, "hub"), "--console")
	hub.waitHTTP(t, hubURL+"/readyz", http.StatusOK)
	hub.waitHTTP(t, hubURL+"/console/login", http.StatusOK)

	// Two agencies of the Burkina Faso – Côte d'Ivoire – Mali agreement the
	// hub ships, each with a site agent and its console.
	agencies := map[string]string{"ci": "ci.dpe-abidjan", "ml": "ml.dnpef"}
	consoles := map[string]string{}
	for _, side := range []string{"ml", "ci"} {
		dir := filepath.Join(work, "agent-"+side)
		mustRelais(t, "agent", "init", "--dir", dir, "--id", agencies[side], "--hub", hubURL)
		mustRelais(t, "agent", "register", "--dir", dir, "--name", "Service "+strings.ToUpper(side), "--admin-token", adminToken)
		addr := relaistest.FreeAddr(t)
		p := start(t, filepath.Join(work, "agent-"+side+".log"), []string{"RELAIS_AGENT_CONSOLE=" + addr},
			"agent", "run", "--dir", dir, "--poll", "200ms", "--wait", "2s", "--min-backoff", "100ms", "--max-backoff", "1s")
		consoles[side] = "http://" + addr
		p.waitHTTP(t, consoles[side]+"/setup", http.StatusOK)
	}
	setupCode := func(side string) string {
		raw, err := os.ReadFile(filepath.Join(work, "agent-"+side, "console-setup.code"))
		if err != nil {
			t.Fatalf("setup code of %s: %v", side, err)
		}
		return strings.TrimSpace(string(raw))
	}

	auditorKeys := filepath.Join(work, "auditor")
	mustRelais(t, "auditor", "init", "--id", "auditor:cdp-ci", "--out", auditorKeys)
	mustRelais(t, "auditor", "register", "--keys", auditorKeys, "--name", "Autorité de protection des données", "--hub", hubURL, "--admin-token", adminToken)

	statsHub := statisticsHub(t, filepath.Join(work, "stats-hub"), adminToken, auditorKeys)

	shots := filepath.Join(root, "docs", "screenshots")
	bundle := filepath.Join(work, "bundle.json")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", filepath.Join(here, "e2e.mjs"))
	node.Dir = here
	node.Env = append(os.Environ(),
		"RELAIS_HUB_URL="+hubURL, "RELAIS_STATS_HUB_URL="+statsHub, "RELAIS_CI_CONSOLE="+consoles["ci"], "RELAIS_ML_CONSOLE="+consoles["ml"],
		"RELAIS_ML_AGENCY="+agencies["ml"], "RELAIS_CI_SETUP_CODE="+setupCode("ci"), "RELAIS_ML_SETUP_CODE="+setupCode("ml"),
		"RELAIS_SCREENSHOTS="+shots, "RELAIS_BUNDLE_OUT="+bundle, "RELAIS_BIN="+relaisBin,
		"RELAIS_AUDITOR_KEYS="+auditorKeys, "RELAIS_ADMIN_TOKEN="+adminToken)
	out, err := node.CombinedOutput()
	t.Logf("e2e.mjs:\n%s", out)
	if err != nil {
		for _, log := range []string{"hub.log", "agent-ci.log", "agent-ml.log"} {
			raw, _ := os.ReadFile(filepath.Join(work, log))
			t.Logf("%s:\n%s", log, tail(raw, 4000))
		}
		t.Fatalf("the browser walk failed: %v", err)
	}

	key := filepath.Join(work, "hub-key.txt")
	mustRelais(t, "audit", "key", "--keys", auditorKeys, "--hub", hubURL, "--out", key)
	verify := relaistest.Run(t, relaisBin, "audit", "verify", bundle, "--hub-key", key, "--lang", "en")
	if verify.Code != 0 {
		t.Fatalf("relais audit verify refused the bundle the console downloaded:\n%s", verify.Output())
	}
	t.Logf("relais audit verify:\n%s", verify.Stdout)
	for _, name := range []string{"inbox.png", "compose.png", "auditor-timeline.png", "stats.png"} {
		if st, err := os.Stat(filepath.Join(shots, name)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s was not written: %v", name, err)
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
