package seal

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestScratch(t *testing.T) {
	k, err := GenerateSigningKey("bf.dpe-bobo#sig-1")
	if err != nil { t.Fatal(err) }
	b, _ := json.Marshal(k); t.Logf("priv %s", b)
	pub, err := PublicKey(k); if err != nil { t.Fatal(err) }
	b, _ = json.Marshal(pub); t.Logf("pub %s", b)
	out, err := Sign([]byte(`{"a":1}`), k, EnvelopeTyp)
	if err != nil { t.Fatal(err) }
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(out), ".")[0])
	t.Logf("jws hdr %s", h)
	p, hh, err := Verify(out, EnvelopeTyp, func(string) (jwk.Key, error) { return pub, nil })
	t.Logf("verify %s %+v %v", p, hh, err)
	ek, err := GenerateEncryptionKey("bf.dpe-bobo#enc-1"); if err != nil { t.Fatal(err) }
	epub, _ := PublicKey(ek)
	c, err := Encrypt([]byte("hello"), epub); if err != nil { t.Fatal(err) }
	h, _ = base64.RawURLEncoding.DecodeString(strings.Split(c, ".")[0])
	t.Logf("jwe hdr %s", h)
	pt, err := Decrypt(c, []jwk.Key{ek}); t.Logf("dec %s %v", pt, err)
	tok, err := IssueToken(k, "bf.dpe-bobo", "hub", time.Minute, time.Now()); if err != nil { t.Fatal(err) }
	parts := strings.Split(tok, ".")
	h, _ = base64.RawURLEncoding.DecodeString(parts[0]); pl, _ := base64.RawURLEncoding.DecodeString(parts[1])
	t.Logf("tok %s %s", h, pl)
	cl, err := VerifyToken(tok, "hub", time.Now(), func(iss, kid string) (jwk.Key, error) { return pub, nil })
	t.Logf("claims %+v %v", cl, err)
	set, err := PublicSet(k, ek); b, _ = json.Marshal(set); t.Logf("set %s %v", b, err)
	s2, err := ParseSet(b); t.Logf("parse %v %v", s2 != nil, err)
}
