package seal_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// cookbookVector is the part of an RFC 7520 example file the tests use.
type cookbookVector struct {
	Input struct {
		Payload   string          `json:"payload"`
		Plaintext string          `json:"plaintext"`
		Key       json.RawMessage `json:"key"`
		Alg       string          `json:"alg"`
	} `json:"input"`
	Output struct {
		Compact  string          `json:"compact"`
		JSON     json.RawMessage `json:"json"`
		JSONFlat json.RawMessage `json:"json_flat"`
	} `json:"output"`
}

func loadVector(t testing.TB, name string) (cookbookVector, jwk.Key) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc7520", name))
	if err != nil {
		t.Fatal(err)
	}
	var v cookbookVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	k, err := jwk.ParseKey(v.Input.Key)
	if err != nil {
		t.Fatal(err)
	}
	return v, k
}

func TestRFC7520SignaturesOutsideTheProfileAreRefused(t *testing.T) {
	for _, tc := range []struct {
		file string
		alg  jwa.SignatureAlgorithm
	}{
		{"4_4.hmac-sha2_integrity_protection.json", jwa.HS256()},
		{"4_3.ecdsa_signature.json", jwa.ES512()},
	} {
		t.Run(tc.alg.String()+" from RFC 7520 is alg_not_allowed", func(t *testing.T) {
			v, key := loadVector(t, tc.file)
			// The vector is genuine: it verifies with the RFC's own key.
			verifyKey := key
			if tc.alg != jwa.HS256() {
				var err error
				if verifyKey, err = key.PublicKey(); err != nil {
					t.Fatal(err)
				}
			}
			payload, err := jws.Verify([]byte(v.Output.Compact), jws.WithKey(tc.alg, verifyKey))
			if err != nil || string(payload) != v.Input.Payload {
				t.Fatalf("precondition: the RFC vector should verify with its key: %v", err)
			}

			reg := newRegistry()
			_, _, err = seal.Verify([]byte(v.Output.Compact), seal.EnvelopeTyp, reg.lookup)
			wantCode(t, err, contracts.CodeAlgNotAllowed)
			if reg.calls != 0 {
				t.Fatal("looked up a key for a refused algorithm")
			}
			_, err = seal.ParseHeader([]byte(v.Output.Compact), seal.EnvelopeTyp)
			wantCode(t, err, contracts.CodeAlgNotAllowed)
			for name, serialized := range map[string][]byte{"general JSON": v.Output.JSON, "flattened JSON": v.Output.JSONFlat} {
				_, _, err = seal.Verify(serialized, seal.EnvelopeTyp, reg.lookup)
				if p := wantCode(t, err, contracts.CodeMalformedJWS); !strings.Contains(p.Detail, "JSON serialization") {
					t.Fatalf("%s: detail %q", name, p.Detail)
				}
			}
		})
	}
}

func TestRFC7520EncryptionsOutsideTheProfileAreRefused(t *testing.T) {
	for _, tc := range []struct {
		file   string
		alg    jwa.KeyEncryptionAlgorithm
		detail string
	}{
		{"5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json", jwa.ECDH_ES_A128KW(), `"ECDH-ES+A128KW"`},
		{"5_9.compressed_content.json", jwa.A128KW(), `"zip"`},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			v, key := loadVector(t, tc.file)
			plaintext, err := jwe.Decrypt([]byte(v.Output.Compact), jwe.WithKey(tc.alg, key))
			if err != nil || !bytes.Equal(plaintext, []byte(v.Input.Plaintext)) {
				t.Fatalf("precondition: the RFC vector should decrypt with its key: %v", err)
			}
			_, err = seal.CheckJWE(v.Output.Compact)
			if p := wantCode(t, err, contracts.CodeBodyInvalid); !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("detail %q does not name %s", p.Detail, tc.detail)
			}
			_, err = seal.Decrypt(v.Output.Compact, []jwk.Key{key})
			wantCode(t, err, contracts.CodeBodyInvalid)
		})
	}
}
