package seal_test

import (
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// FuzzParseSet feeds arbitrary bytes to the decoder of a registered JWKS
// (POST /v1/agencies, key rotation). The property: it never panics, every
// refusal is agency_invalid, and whatever it admits is a set of public keys
// of the profile that seal can use as they are — no private material, no
// key the profile does not know, no duplicate kid.
func FuzzParseSet(f *testing.F) {
	w := newFuzzWorld(f)
	set, err := seal.PublicSet(w.sig, w.es, w.enc)
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(set)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, seed := range []string{
		`{"keys":[]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","alg":"EdDSA","use":"sig"}],"extra":1}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"a","alg":"EdDSA"}]}`,
		`{"keys":[{"kty":"OKP","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"e","alg":"ECDH-ES+A256KW","use":"enc"}]}`,
		`{"keys":[{"kty":"oct","k":"AAAA","kid":"h","alg":"HS256"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"p","alg":"ES256","use":"sig"}]}`,
		`{"keys":{"kty":"OKP"}}`,
		`{"keys":[1,2]}`,
		`{"keys":[{}],"keys":[{}]}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		set, err := seal.ParseSet(raw)
		if err != nil {
			if contracts.CodeOf(err) != contracts.CodeAgencyInvalid {
				t.Fatalf("refusal with code %q, want agency_invalid: %v", contracts.CodeOf(err), err)
			}
			return
		}
		if set.Len() == 0 {
			t.Fatal("admitted an empty key set")
		}
		seen := map[string]bool{}
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			if kid == "" || seen[kid] {
				t.Fatalf("admitted key %d with kid %q (seen before: %v)", i, kid, seen[kid])
			}
			seen[kid] = true
			if priv, err := jwk.IsPrivateKey(k); err != nil || priv {
				t.Fatalf("admitted key %q as private (%v)", kid, err)
			}
			// An admitted key is one the profile can publish as is.
			if _, err := seal.PublicKey(k); err != nil {
				t.Fatalf("admitted key %q that the profile cannot use: %v", kid, err)
			}
		}
	})
}
