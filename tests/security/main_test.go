package security

import (
	"os"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the relais binary, built once by TestMain: the hub key
// tests drive `relais hub key` and `relais audit verify` as an operator and
// an auditor would.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}
