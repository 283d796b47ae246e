// Package attachments tests encrypted attachments end to end, with the
// built `relais serve` binary: a 20 MiB upload through connection resets
// resumes and arrives verified, downloads resume with HTTP Range, damaged
// bytes are refused, only the parties of the message can download, small
// messages pass while the attachment lane is full, erasure deletes the
// file from disk; and a benchmark prints the peak memory of the hub and of
// the sending and receiving CLI processes while a 50 MiB file moves.
package attachments

import (
	"os"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// relaisBin is the binary built once by TestMain.
var relaisBin string

func TestMain(m *testing.M) {
	os.Exit(relaistest.RunWithRelais(m, &relaisBin))
}
