package seal_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

func TestGeneratedKeysHaveTheProfileShape(t *testing.T) {
	for _, tc := range []struct {
		name     string
		generate func(string) (jwk.Key, error)
		want     map[string]string
	}{
		{"signing key", seal.GenerateSigningKey, map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"}},
		{"encryption key", seal.GenerateEncryptionKey, map[string]string{"kty": "OKP", "crv": "X25519", "alg": "ECDH-ES+A256KW", "use": "enc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.generate("bf.dpe-bobo#k-1")
			if err != nil {
				t.Fatal(err)
			}
			got := jsonMembers(t, k)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
			if got["kid"] != "bf.dpe-bobo#k-1" || got["d"] == "" || got["x"] == "" {
				t.Errorf("members %v", got)
			}
			pub, err := seal.PublicKey(k)
			if err != nil {
				t.Fatal(err)
			}
			pm := jsonMembers(t, pub)
			if _, hasD := pm["d"]; hasD || len(pm) != 6 {
				t.Fatalf("public key members %v, want kty crv x kid alg use", pm)
			}
		})
	}
}

func TestGenerateRefusesUnsafeKIDs(t *testing.T) {
	for _, kid := range []string{"", "a b", `a"b`, "a/b", "é", strings.Repeat("k", 129)} {
		if _, err := seal.GenerateSigningKey(kid); err == nil {
			t.Errorf("accepted kid %q", kid)
		}
	}
}

func TestNewKIDNamesThePrefixTheDateAndRandomBits(t *testing.T) {
	kid := seal.NewKID("bf.dpe-bobo#sig")
	re := regexp.MustCompile(`^bf\.dpe-bobo#sig-(\d{4}-\d{2}-\d{2})-[0-9a-f]{8}$`)
	m := re.FindStringSubmatch(kid)
	if m == nil {
		t.Fatalf("kid %q does not match %s", kid, re)
	}
	if d, err := time.Parse(time.DateOnly, m[1]); err != nil || time.Since(d) > 48*time.Hour {
		t.Fatalf("kid date %q is not today", m[1])
	}
	if seal.NewKID("x") == seal.NewKID("x") {
		t.Fatal("two kids collide")
	}
}

func TestPublicSetRoundTripsThroughParseSet(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	set, err := seal.PublicSet(a.sig, a.enc, a.es)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"d"`) {
		t.Fatalf("public set leaks private material: %s", b)
	}
	parsed, err := seal.ParseSet(b)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Len() != 3 {
		t.Fatalf("%d keys", parsed.Len())
	}
	if _, err := seal.PublicSet(a.sig, a.sig); err == nil {
		t.Fatal("PublicSet accepted a duplicate kid")
	}
}

func TestParseSetAdmitsOnlyPublicProfileKeys(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	jsonOf := func(k jwk.Key) map[string]any {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	with := func(k jwk.Key, changes ...any) map[string]any {
		m := jsonOf(k)
		for i := 0; i < len(changes); i += 2 {
			if changes[i+1] == nil {
				delete(m, changes[i].(string))
			} else {
				m[changes[i].(string)] = changes[i+1]
			}
		}
		return m
	}
	set := func(keys ...any) []byte {
		if keys == nil {
			keys = []any{}
		}
		b, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK := mustImport(t, &rsaKey.PublicKey, "rsa", jwa.RS256(), jwk.ForSignature)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384JWK := mustImport(t, &p384.PublicKey, "p384", jwa.ES384(), jwk.ForSignature)
	p256enc := mustImport(t, &a.esRaw.PublicKey, "p256enc", jwa.ECDH_ES_A256KW(), jwk.ForEncryption)
	edPub := a.sigRaw.Public().(ed25519.PublicKey)
	lowOrder := sealtest.LowOrderX25519[2].Hex

	if _, err := seal.ParseSet(set(jsonOf(a.sigPub), jsonOf(a.esPub), jsonOf(a.encPub))); err != nil {
		t.Fatalf("refused the three profile keys: %v", err)
	}
	many := make([]any, 17)
	for i := range many {
		many[i] = with(a.sigPub, "kid", fmt.Sprintf("k%d", i))
	}
	for _, tc := range []struct {
		name string
		jwks []byte
	}{
		{"a private signing key", set(jsonOf(a.sig))},
		{"a private encryption key", set(jsonOf(a.enc))},
		{"a key without kid", set(with(a.sigPub, "kid", nil))},
		{"a key with an empty kid", set(with(a.sigPub, "kid", ""))},
		{"a key without alg", set(with(a.sigPub, "alg", nil))},
		{"an Ed25519 key announcing ES256", set(with(a.sigPub, "alg", "ES256"))},
		{"an Ed25519 key announcing HS256", set(with(a.sigPub, "alg", "HS256"))},
		{"an X25519 key announcing EdDSA", set(with(a.encPub, "alg", "EdDSA"))},
		{"an X25519 key with direct ECDH-ES", set(with(a.encPub, "alg", "ECDH-ES"))},
		{"an EdDSA key marked for encryption", set(with(a.sigPub, "use", "enc"))},
		{"a P-256 encryption key", set(jsonOf(p256enc))},
		{"a P-384 key", set(jsonOf(p384JWK))},
		{"an RSA key", set(jsonOf(rsaJWK))},
		{"a symmetric key", set(map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "s", "alg": "HS256"})},
		{"an x5c member", set(with(a.sigPub, "x5c", []string{"MIIB"}))},
		{"an x5u member", set(with(a.sigPub, "x5u", "https://attacker.example/c.pem"))},
		{"a key_ops member", set(with(a.sigPub, "key_ops", []string{"verify"}))},
		{"a low-order X25519 key", set(with(a.encPub, "x", sealtest.B64(mustHex(t, lowOrder))))},
		{"an Ed25519 key of 31 bytes", set(with(a.sigPub, "x", sealtest.B64(edPub[:31])))},
		{"a P-256 point off the curve", set(with(a.esPub, "y", sealtest.B64(make([]byte, 32))))},
		{"a duplicate kid", set(jsonOf(a.sigPub), with(a.esPub, "kid", a.sigKID))},
		{"no keys", set()},
		{"17 keys", set(many...)},
		{"a duplicate member", []byte(`{"keys":[],"keys":[` + mustJSON(t, jsonOf(a.sigPub)) + `]}`)},
		{"a duplicate member inside a key", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + sealtest.B64(edPub) + `","kid":"a","kid":"b","alg":"EdDSA"}]}`)},
		{"an extra top-level member", []byte(`{"keys":[` + mustJSON(t, jsonOf(a.sigPub)) + `],"jku":"https://attacker.example"}`)},
		{"a single JWK instead of a set", []byte(mustJSON(t, jsonOf(a.sigPub)))},
		{"keys that is not an array", []byte(`{"keys":{}}`)},
		{"keys that is null", []byte(`{"keys":null}`)},
		{"not JSON", []byte(`keys`)},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := seal.ParseSet(tc.jwks)
			wantCode(t, err, contracts.CodeAgencyInvalid)
		})
	}
}

func TestKeyFilesAreWrittenPrivatelyAndReadBack(t *testing.T) {
	dir := t.TempDir()
	k, err := seal.GenerateSigningKey("bf.dpe-bobo#sig-1")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "signing.jwk")
	if err := seal.WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	back, err := seal.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !jwk.Equal(k, back) {
		t.Fatal("read back a different key")
	}

	t.Run("overwriting replaces the key and leaves no temporary file", func(t *testing.T) {
		k2, err := seal.GenerateSigningKey("bf.dpe-bobo#sig-2")
		if err != nil {
			t.Fatal(err)
		}
		if err := seal.WriteKeyFile(path, k2); err != nil {
			t.Fatal(err)
		}
		back, err := seal.ReadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if kid, _ := back.KeyID(); kid != "bf.dpe-bobo#sig-2" {
			t.Fatalf("kid %q after overwrite", kid)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("directory holds %d entries, want only the key file", len(entries))
		}
	})
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o666} {
		t.Run(fmt.Sprintf("refuses a key file with mode %04o", mode), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(path, 0o600)
			_, err := seal.ReadKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("err %v, want a refusal telling how to fix the mode", err)
			}
		})
	}
	t.Run("refuses a file that is not a profile key", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.jwk")
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		rk := mustImport(t, rsaKey, "rsa", jwa.RS256(), jwk.ForSignature)
		if err := os.WriteFile(bad, []byte(mustJSON(t, rk)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.ReadKeyFile(bad); err == nil {
			t.Fatal("read an RSA key")
		}
	})
	t.Run("refuses to write a key outside the profile", func(t *testing.T) {
		x, _ := ecdh.X25519().GenerateKey(rand.Reader)
		k := mustImport(t, x, "x", jwa.EdDSA(), jwk.ForSignature)
		if err := seal.WriteKeyFile(filepath.Join(dir, "x.jwk"), k); err == nil {
			t.Fatal("wrote an X25519 key claiming EdDSA")
		}
	})
	t.Run("refuses a directory", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.ReadKeyFile(sub); err == nil {
			t.Fatal("read a directory")
		}
	})
}

func jsonMembers(t *testing.T, k jwk.Key) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(mustJSON(t, k)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
