package seal_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// childName stands in for personal data inside payloads and bodies: no
// refusal detail may ever contain it.
const childName = "Awa Traoré"

// agency holds one agency's keys, private and registered.
type agency struct {
	id                string
	sig, es, enc      jwk.Key // private
	sigPub, esPub     jwk.Key // registered public signing keys
	encPub            jwk.Key // registered public encryption key
	sigRaw            ed25519.PrivateKey
	esRaw             *ecdsa.PrivateKey
	encRaw            *ecdh.PrivateKey
	sigKID, esKID, ek string
}

func newAgency(t testing.TB, id string) *agency {
	t.Helper()
	a := &agency{id: id}
	var err error
	a.sigKID = seal.NewKID(id + "#sig")
	if a.sig, err = seal.GenerateSigningKey(a.sigKID); err != nil {
		t.Fatal(err)
	}
	a.ek = seal.NewKID(id + "#enc")
	if a.enc, err = seal.GenerateEncryptionKey(a.ek); err != nil {
		t.Fatal(err)
	}
	a.esKID = seal.NewKID(id + "#es256")
	if a.esRaw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	a.es = mustImport(t, a.esRaw, a.esKID, jwa.ES256(), jwk.ForSignature)
	if err := jwk.Export(a.sig, &a.sigRaw); err != nil {
		t.Fatal(err)
	}
	if err := jwk.Export(a.enc, &a.encRaw); err != nil {
		t.Fatal(err)
	}
	a.sigPub = mustPublic(t, a.sig)
	a.esPub = mustPublic(t, a.es)
	a.encPub = mustPublic(t, a.enc)
	return a
}

func mustImport(t testing.TB, raw any, kid string, alg jwa.KeyAlgorithm, use jwk.KeyUsageType) jwk.Key {
	t.Helper()
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: use} {
		if err := k.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func mustPublic(t testing.TB, k jwk.Key) jwk.Key {
	t.Helper()
	p, err := seal.PublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// registry is the hub's view of registered signing keys, by kid.
type registry struct {
	keys  map[string]jwk.Key
	calls int
}

func newRegistry(keys ...jwk.Key) *registry {
	r := &registry{keys: map[string]jwk.Key{}}
	for _, k := range keys {
		kid, _ := k.KeyID()
		r.keys[kid] = k
	}
	return r
}

func (r *registry) lookup(kid string) (jwk.Key, error) {
	r.calls++
	if k, ok := r.keys[kid]; ok {
		return k, nil
	}
	return nil, contracts.Refuse(contracts.CodeUnknownKey, "no registered key has this kid")
}

// wantCode fails the test unless err is a refusal with the given code.
func wantCode(t testing.TB, err error, want contracts.Code) *contracts.Problem {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refusal %s", want)
	}
	var p *contracts.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v is not a *contracts.Problem; want %s", err, want)
	}
	if p.Code != want {
		t.Fatalf("code %s (%v); want %s", p.Code, err, want)
	}
	if strings.Contains(p.Detail, childName) || strings.Contains(err.Error(), childName) {
		t.Fatalf("refusal leaks payload content: %v", err)
	}
	return p
}

// headerMembers decodes part i of a compact serialization and returns its
// member names, sorted.
func headerMembers(t testing.TB, compact string) (names []string, raw map[string]json.RawMessage) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(compact, ".")[0])
	if err != nil {
		t.Fatalf("header is not base64url: %v", err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("header is not a JSON object: %v", err)
	}
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, raw
}

func sameStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// envelopePayload is a stand-in envelope carrying personal data.
func envelopePayload() []byte {
	return []byte(`{"v":1,"kind":"referral.request","body":"` + childName + `"}`)
}
