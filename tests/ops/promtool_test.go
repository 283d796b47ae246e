package ops

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool finds Prometheus's rule checker (Debian package prometheus,
// which tests/run.sh installs). Without it the rules are unchecked: CI
// fails, a developer's machine skips with the command to run.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool is not installed: tests/run.sh installs it (apt-get install prometheus); the alert rules must be checked in CI")
	}
	t.Skip("promtool is not installed: apt-get install prometheus (CI fails instead of skipping)")
	return ""
}

func runPromtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTheAlertRulesPassPromtoolCheckRules(t *testing.T) {
	out, err := runPromtool(t, deployPath(t, "prometheus"), "check", "rules", "relais-rules.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestTheAlertRulesUnitTestsPass(t *testing.T) {
	out, err := runPromtool(t, deployPath(t, "prometheus"), "test", "rules", "relais-rules.test.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestThePrometheusConfigurationPassesPromtoolCheckConfig(t *testing.T) {
	out, err := runPromtool(t, deployPath(t, "prometheus"), "check", "config", "prometheus.yml")
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

// The checks above are worth something only if promtool refuses a broken
// rule and a wrong expectation.
func TestPromtoolRefusesABrokenRuleAndAWrongExpectation(t *testing.T) {
	rules, err := os.ReadFile(deployPath(t, "prometheus", "relais-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(deployPath(t, "prometheus", "relais-rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const hubDown = `expr: up{job="relais-hub"} == 0`
	if !strings.Contains(string(rules), hubDown) {
		t.Fatalf("relais-rules.yml no longer has %q; update this test", hubDown)
	}
	for _, c := range []struct {
		name, rules, check string
	}{
		{"a syntax error", strings.Replace(string(rules), hubDown, `expr: up{job="relais-hub" == 0`, 1), "check"},
		{"an alert that never fires", strings.Replace(string(rules), hubDown, `expr: up{job="relais-hub"} == 2`, 1), "test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "relais-rules.yml"), []byte(c.rules), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "relais-rules.test.yml"), tests, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"check", "rules", "relais-rules.yml"}
			if c.check == "test" {
				args = []string{"test", "rules", "relais-rules.test.yml"}
			}
			if out, err := runPromtool(t, dir, args...); err == nil {
				t.Fatalf("promtool %s accepted %s:\n%s", strings.Join(args, " "), c.name, out)
			}
		})
	}
}
