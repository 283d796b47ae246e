package relaistest

import (
	"testing"
	"time"
)

// Eventually retries fn every interval until it returns nil or timeout
// passes, then fails the test with fn's last error.
func Eventually(t testing.TB, timeout, interval time.Duration, fn func() error) {
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
