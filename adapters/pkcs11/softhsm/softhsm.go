// Package softhsm gives tests real PKCS#11 tokens: SoftHSM 2 (Debian's
// softhsm2 package), each test with its own token directory. Tests of the
// PKCS#11 path run against it rather than a fake, so the mechanisms,
// templates and attribute encodings are the ones a token checks.
package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PIN and SOPIN are the PINs of the tokens Setup makes.
const (
	PIN   = "relais-test-pin"
	SOPIN = "relais-test-so-pin"
)

// modulePaths are where distributions install SoftHSM's module.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Module finds SoftHSM's PKCS#11 module (RELAIS_TEST_PKCS11_MODULE, else
// the usual paths). Without it the test fails under CI, where tests/run.sh
// installs softhsm2, and is skipped elsewhere.
func Module(tb testing.TB) string {
	tb.Helper()
	paths := modulePaths
	if p := os.Getenv("RELAIS_TEST_PKCS11_MODULE"); p != "" {
		paths = []string{p}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("SoftHSM's module is not installed (%v): tests/run.sh installs softhsm2", paths)
	}
	tb.Skip("SoftHSM is not installed (apt-get install softhsm2); tests/run.sh installs it")
	return ""
}

// Setup makes a SoftHSM configuration with one fresh token per label, all
// with PIN, points SOFTHSM2_CONF at it for this test (and the processes it
// starts) and returns the module path. SoftHSM reads its configuration
// when the module is initialised: open tokens only after Setup, and close
// them before the test ends.
func Setup(tb testing.TB, labels ...string) string {
	tb.Helper()
	module := Module(tb)
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		tb.Fatalf("softhsm2-util: %v", err)
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	for _, label := range labels {
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
		if err != nil {
			tb.Fatalf("softhsm2-util --init-token %s: %v\n%s", label, err, out)
		}
	}
	return module
}
