//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/relais-hub/relais/adapters/pkcs11/softhsm"
)

// BenchmarkSign compares a receipt-sized signature on a SoftHSM token with
// the same signature in memory: the token's cost per accepted message.
func BenchmarkSign(b *testing.B) {
	msg := make([]byte, 600)
	_, _ = rand.Read(msg)
	b.Run("softhsm", func(b *testing.B) {
		module := softhsm.Setup(b, "bench")
		tok, err := Open(Config{Module: module, Token: "bench", PIN: softhsm.PIN})
		if err != nil {
			b.Fatal(err)
		}
		defer tok.Close()
		k, err := tok.GenerateKey("hub#sig-bench")
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := k.Sign(nil, msg, crypto.Hash(0)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("memory", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = ed25519.Sign(priv, msg)
			}
		})
	})
}
