package attach

import (
	"bytes"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

func encryptionKey(t testing.TB, kid string) jwk.Key {
	t.Helper()
	k, err := seal.GenerateEncryptionKey(kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAWrappedKeyOpensOnlyForItsRecipientAndItsAttachment(t *testing.T) {
	recipient := encryptionKey(t, "ml.dnpef#enc-1")
	stranger := encryptionKey(t, "bf.dpe-bobo#enc-1")
	pub, err := seal.PublicKey(recipient)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	wrapped, err := WrapKey(key, testID, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.CheckJWE(wrapped); err != nil {
		t.Fatalf("the wrapped key does not meet the hub's JWE profile: %v", err)
	}
	got, err := UnwrapKey(wrapped, testID, []jwk.Key{recipient})
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("UnwrapKey = %x, %v", got, err)
	}
	if _, err := UnwrapKey(wrapped, testID, []jwk.Key{stranger}); err == nil {
		t.Fatal("another agency's key unwrapped the content key")
	}
	if _, err := UnwrapKey(wrapped, otherTestID, []jwk.Key{recipient}); err == nil {
		t.Fatal("the wrapped key was accepted for another attachment")
	}
}
