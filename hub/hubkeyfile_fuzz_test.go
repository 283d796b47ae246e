package hub

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

// The hub reads its key files at every start; an operator may have edited
// them, a disk may have damaged them. No content may crash the reader, and
// what it admits is exactly what the hub can sign with (hub.jwk) or trust
// (hub-keys.json).

func fuzzHubKey(f *testing.F) jwk.Key {
	f.Helper()
	k, err := seal.GenerateSigningKey("hub#sig-fuzz")
	if err != nil {
		f.Fatal(err)
	}
	return k
}

func FuzzParseHubKeyFile(f *testing.F) {
	k := fuzzHubKey(f)
	plain, err := json.Marshal(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	pub, _ := seal.PublicKey(k)
	public, _ := json.Marshal(pub)
	f.Add(public)
	f.Add([]byte(`{"kty":"oct","k":"AAAA","kid":"hub#sig","alg":"HS256"}`))
	f.Add([]byte(`eyJhbGciOiJQQkVTMi1IUzUxMitBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIiwicDJjIjoxLCJwMnMiOiJBQUFBIn0.....`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ParseHubKeyFile(raw, nil)
		if err != nil {
			return
		}
		if priv, err := jwk.IsPrivateKey(got); err != nil || !priv {
			t.Fatal("admitted a key the hub cannot sign with")
		}
		var sk ed25519.PrivateKey
		if err := jwk.Export(got, &sk); err != nil || len(sk) != ed25519.PrivateKeySize {
			t.Fatalf("admitted a key that is not Ed25519: %v", err)
		}
		if _, err := seal.Sign([]byte(`{"probe":1}`), got, "relais-receipt+jws"); err != nil {
			t.Fatalf("admitted a key seal cannot sign with: %v", err)
		}
	})
}

func FuzzParseRetiredHubKeys(f *testing.F) {
	k := fuzzHubKey(f)
	pub, _ := seal.PublicKey(k)
	raw, _ := json.Marshal(pub)
	good, _ := json.Marshal(hubKeyListFile{Current: &currentEntry{JWK: raw}, Retired: []retiredEntry{{JWK: raw, RetiredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}})
	f.Add(good)
	f.Add([]byte(`{"retired":[]}`))
	f.Add([]byte(`{"retired":[{"jwk":{"kty":"OKP","crv":"X25519","x":"AAAA","kid":"e","alg":"ECDH-ES+A256KW","use":"enc"}}]}`))
	f.Add([]byte(`{"retired":null,"extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseHubKeyList(data)
		if err != nil {
			return
		}
		if list.Current != nil {
			if priv, _ := jwk.IsPrivateKey(list.Current); priv {
				t.Fatal("the current key is listed with its private half")
			}
		}
		for i, r := range list.Retired {
			if priv, _ := jwk.IsPrivateKey(r.Key); priv {
				t.Fatalf("retired key %d is private", i)
			}
			if _, err := ed25519Public(r.Key); err != nil {
				t.Fatalf("retired key %d is not an Ed25519 key: %v", i, err)
			}
		}
	})
}
