package seal_test

import (
	"bytes"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

// An envelope is a few hundred bytes; a body is typically a couple of KiB.
var benchEnvelope = bytes.Repeat([]byte("e"), 600)

func BenchmarkSignEd25519(b *testing.B) {
	a := newAgency(b, "bf.dpe-bobo")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Sign(benchEnvelope, a.sig, seal.EnvelopeTyp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEd25519(b *testing.B) {
	a := newAgency(b, "bf.dpe-bobo")
	compact, err := seal.Sign(benchEnvelope, a.sig, seal.EnvelopeTyp)
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(string) (jwk.Key, error) { return a.sigPub, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := seal.Verify(compact, seal.EnvelopeTyp, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt2KiB(b *testing.B) {
	a := newAgency(b, "ci.dpe-abidjan")
	body := bytes.Repeat([]byte("b"), 2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Encrypt(body, a.encPub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt2KiB(b *testing.B) {
	a := newAgency(b, "ci.dpe-abidjan")
	body, err := seal.Encrypt(bytes.Repeat([]byte("b"), 2048), a.encPub)
	if err != nil {
		b.Fatal(err)
	}
	keys := []jwk.Key{a.enc}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Decrypt(body, keys); err != nil {
			b.Fatal(err)
		}
	}
}
