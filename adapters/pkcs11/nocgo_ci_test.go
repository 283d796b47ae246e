//go:build !cgo

package pkcs11

import (
	"os"
	"testing"
)

// Without cgo the token tests are not even compiled. In CI that would pass
// in silence with the PKCS#11 path untested; fail instead.
func TestCIBuildsWithCgoSoThePKCS11TestsRun(t *testing.T) {
	if os.Getenv("CI") != "" {
		t.Fatal("CGO_ENABLED=0 in CI: the PKCS#11 tests did not run (tests/run.sh installs gcc)")
	}
	if _, err := Open(Config{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "t", PIN: "p"}); err == nil {
		t.Fatal("a build without cgo opened a PKCS#11 module")
	}
}
