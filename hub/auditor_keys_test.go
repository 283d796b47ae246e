package hub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// auditorSigner is an auditor's private signing key and its public JWK.
type auditorSigner struct {
	Key    jwk.Key
	KID    string
	Public []byte
}

func newAuditorSigner(tb testing.TB, id string) auditorSigner {
	tb.Helper()
	k, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := seal.PublicKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	raw, _ := json.Marshal(pub)
	kid, _ := k.KeyID()
	return auditorSigner{Key: k, KID: kid, Public: raw}
}

func (s auditorSigner) jwks(tb testing.TB) []byte {
	tb.Helper()
	return []byte(`{"keys":[` + string(s.Public) + `]}`)
}

// presentToken signs a fresh token with s as auditor id and verifies it as
// the HTTP API does, with the hub's auditor keys.
func presentToken(t *testing.T, h *hub.Hub, id string, s auditorSigner) error {
	t.Helper()
	tok, err := seal.IssueToken(s.Key, id, h.ID(), time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = seal.VerifyToken(tok, h.ID(), time.Now(), func(iss, kid string) (jwk.Key, error) {
		return h.AuditorSigningKey(context.Background(), iss, kid)
	})
	return err
}

func registerTestAuditor(t *testing.T, h *hub.Hub, id string) auditorSigner {
	t.Helper()
	s := newAuditorSigner(t, id)
	if _, err := h.RegisterAuditor(context.Background(), hub.AuditorRegistration{ID: id, Name: "Commission de protection des données", JWKS: s.jwks(t)}, audit.ActorAdmin); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	return s
}

// keyEvents lists the key_rotated and key_revoked events about id.
func keyEvents(t *testing.T, h *hub.Hub, id string) []audit.Event {
	t.Helper()
	page, err := h.AuditEvents(context.Background(), audit.ActorAdmin, hub.AuditQuery{Agency: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range page.Events {
		if e.Event.Type == audit.TypeKeyRotated || e.Event.Type == audit.TypeKeyRevoked {
			out = append(out, e.Event)
		}
	}
	return out
}

func TestAnAuditorKeyRotatesWithOverlapAndARevokedKeyNoLongerSignsTokens(t *testing.T) {
	ctx := context.Background()
	h, _ := startHub(t)
	first := registerTestAuditor(t, h, testAuditor)
	if err := presentToken(t, h, testAuditor, first); err != nil {
		t.Fatalf("a token signed with the registered key: %v", err)
	}

	second := newAuditorSigner(t, testAuditor)
	added, err := h.AddAuditorKey(ctx, testAuditor, second.Public, audit.ActorAdmin)
	if err != nil {
		t.Fatalf("add a key: %v", err)
	}
	if added.KID != second.KID || added.Status != hub.KeyCurrent || added.Use != "sig" {
		t.Fatalf("added %+v", added)
	}
	for name, s := range map[string]auditorSigner{"first": first, "second": second} {
		if err := presentToken(t, h, testAuditor, s); err != nil {
			t.Errorf("during the overlap, a token signed with the %s key: %v", name, err)
		}
	}
	list, err := h.AuditorKeys(ctx, testAuditor)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 2 || list.Keys[0].KID != second.KID || list.Keys[0].Status != hub.KeyCurrent ||
		list.Keys[1].KID != first.KID || list.Keys[1].Status != hub.KeyPrevious || len(list.Revoked) != 0 {
		t.Fatalf("keys during the overlap: %+v", list)
	}

	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	rev, err := h.RevokeAuditorKey(ctx, testAuditor, first.KID, since, audit.ActorAdmin)
	if err != nil {
		t.Fatalf("revoke the first key: %v", err)
	}
	if rev.KID != first.KID || !rev.RevokedAt.Equal(since) {
		t.Fatalf("revocation %+v, want %s since %s", rev, first.KID, since)
	}
	if err := presentToken(t, h, testAuditor, first); contracts.CodeOf(err) != contracts.CodeTokenInvalid {
		t.Errorf("a token signed with the revoked key: %v, want %s", err, contracts.CodeTokenInvalid)
	}
	if err := presentToken(t, h, testAuditor, second); err != nil {
		t.Errorf("a token signed with the remaining key: %v", err)
	}
	list, err = h.AuditorKeys(ctx, testAuditor)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 1 || list.Keys[0].KID != second.KID || list.Keys[0].Status != hub.KeyCurrent {
		t.Errorf("valid keys after the revocation: %+v", list.Keys)
	}
	if len(list.Revoked) != 1 || list.Revoked[0].KID != first.KID || !list.Revoked[0].RevokedAt.Equal(since) {
		t.Errorf("revoked keys: %+v", list.Revoked)
	}

	events := keyEvents(t, h, testAuditor)
	if len(events) != 2 {
		t.Fatalf("%d key events about the auditor, want 2: %+v", len(events), events)
	}
	rot, revd := events[0], events[1]
	if rot.Type != audit.TypeKeyRotated || rot.Actor != audit.ActorAdmin || rot.To != testAuditor ||
		rot.Extra["kid"] != second.KID || rot.Extra["previous_kid"] != first.KID {
		t.Errorf("rotation event %+v", rot)
	}
	if revd.Type != audit.TypeKeyRevoked || revd.Actor != audit.ActorAdmin || revd.To != testAuditor ||
		revd.Extra["kid"] != first.KID || revd.Extra["revoked_at"] != since.Format(time.RFC3339Nano) {
		t.Errorf("revocation event %+v", revd)
	}
	for _, e := range events {
		for k := range e.Extra {
			if k != "kid" && k != "use" && k != "previous_kid" && k != "revoked_at" {
				t.Errorf("key event %s carries %q: ids and kids only", e.Type, k)
			}
		}
		if leaf, _ := json.Marshal(e); e.Detail != "" || strings.Contains(string(leaf), "Commission") {
			t.Errorf("key event %s carries more than ids: %s", e.Type, leaf)
		}
	}
}

// p256PublicJWK is a valid public signing JWK of the profile that is not
// Ed25519.
func p256PublicJWK(t *testing.T, kid string) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:]), "kid": kid, "alg": "ES256", "use": "sig"})
	return doc
}

func TestAuditorKeyChangesRefuseWhatWouldWeakenTheKeys(t *testing.T) {
	ctx := context.Background()
	ci := newParty(t, "ci.dpe-abidjan")
	h, _ := startHub(t, ci)
	mine := registerTestAuditor(t, h, testAuditor)
	other := registerTestAuditor(t, h, "auditor:secretariat")

	agencySig, _ := seal.PublicKey(ci.Sig)
	agencySigJSON, _ := json.Marshal(agencySig)
	agencyEnc, _ := seal.PublicKey(ci.Enc)
	agencyEncJSON, _ := json.Marshal(agencyEnc)
	fresh := newAuditorSigner(t, testAuditor)
	private, _ := json.Marshal(fresh.Key)

	// A kid revoked once stays taken: add a key, revoke the first.
	replacement := newAuditorSigner(t, testAuditor)
	if _, err := h.AddAuditorKey(ctx, testAuditor, replacement.Public, audit.ActorAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RevokeAuditorKey(ctx, testAuditor, mine.KID, time.Time{}, audit.ActorAdmin); err != nil {
		t.Fatal(err)
	}
	eventsBefore := len(keyEvents(t, h, testAuditor))

	adds := []struct {
		name string
		id   string
		jwk  []byte
		code contracts.Code
	}{
		{"a P-256 signing key", testAuditor, p256PublicJWK(t, "auditor:cdp-bf#sig-p256"), contracts.CodeAuditorInvalid},
		{"an agency's encryption key", testAuditor, agencyEncJSON, contracts.CodeAuditorInvalid},
		{"a private key", testAuditor, private, contracts.CodeAuditorInvalid},
		{"a kid an agency signs with", testAuditor, agencySigJSON, contracts.CodeAuditorInvalid},
		{"a kid another auditor uses", testAuditor, other.Public, contracts.CodeAuditorInvalid},
		{"a kid the auditor already holds", testAuditor, replacement.Public, contracts.CodeAuditorInvalid},
		{"a kid that was revoked", testAuditor, mine.Public, contracts.CodeAuditorInvalid},
		{"two keys at once", testAuditor, []byte(string(fresh.Public) + "," + string(newAuditorSigner(t, testAuditor).Public)), contracts.CodeAuditorInvalid},
		{"not JSON", testAuditor, []byte(`kid`), contracts.CodeAuditorInvalid},
		{"a key for an unknown auditor", "auditor:nobody", fresh.Public, contracts.CodeNotFound},
		{"a key for an agency", ci.ID, fresh.Public, contracts.CodeNotFound},
	}
	for _, tc := range adds {
		t.Run("adding "+tc.name+" is refused", func(t *testing.T) {
			if _, err := h.AddAuditorKey(ctx, tc.id, tc.jwk, audit.ActorAdmin); contracts.CodeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
		})
	}

	revokes := []struct {
		name string
		id   string
		kid  string
		at   time.Time
		code contracts.Code
	}{
		{"the last valid key", testAuditor, replacement.KID, time.Time{}, contracts.CodeLastValidKey},
		{"a key already revoked", testAuditor, mine.KID, time.Time{}, contracts.CodeKeyRevoked},
		{"another auditor's key", testAuditor, other.KID, time.Time{}, contracts.CodeNotFound},
		{"an unknown kid", testAuditor, "auditor:cdp-bf#sig-nope", time.Time{}, contracts.CodeNotFound},
		{"a key of an unknown auditor", "auditor:nobody", replacement.KID, time.Time{}, contracts.CodeNotFound},
		{"a key as of a time in the future", testAuditor, replacement.KID, time.Now().Add(time.Hour), contracts.CodeBadRequest},
	}
	for _, tc := range revokes {
		t.Run("revoking "+tc.name+" is refused", func(t *testing.T) {
			if _, err := h.RevokeAuditorKey(ctx, tc.id, tc.kid, tc.at, audit.ActorAdmin); contracts.CodeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
		})
	}

	if n := len(keyEvents(t, h, testAuditor)); n != eventsBefore {
		t.Errorf("%d key events after refusals only, want %d", n, eventsBefore)
	}
	if err := presentToken(t, h, testAuditor, replacement); err != nil {
		t.Errorf("after the refusals the auditor's key no longer works: %v", err)
	}
	if err := presentToken(t, h, "auditor:secretariat", other); err != nil {
		t.Errorf("after the refusals the other auditor's key no longer works: %v", err)
	}
}

func TestAuditorRegistrationRefusesAKidAnotherAuditorHoldsOrHeld(t *testing.T) {
	ctx := context.Background()
	h, _ := startHub(t)
	first := registerTestAuditor(t, h, testAuditor)
	_, err := h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: "auditor:secretariat", Name: "Secrétariat", JWKS: first.jwks(t)}, audit.ActorAdmin)
	if contracts.CodeOf(err) != contracts.CodeAuditorInvalid {
		t.Fatalf("registering a kid another auditor holds: %v, want %s", err, contracts.CodeAuditorInvalid)
	}
	second := newAuditorSigner(t, testAuditor)
	if _, err := h.AddAuditorKey(ctx, testAuditor, second.Public, audit.ActorAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RevokeAuditorKey(ctx, testAuditor, first.KID, time.Time{}, audit.ActorAdmin); err != nil {
		t.Fatal(err)
	}
	_, err = h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: "auditor:secretariat", Name: "Secrétariat", JWKS: first.jwks(t)}, audit.ActorAdmin)
	if contracts.CodeOf(err) != contracts.CodeAuditorInvalid {
		t.Fatalf("registering a kid another auditor held: %v, want %s", err, contracts.CodeAuditorInvalid)
	}
}

func TestAuditorKeysOfAnUnknownAuditorAreNotFound(t *testing.T) {
	h, _ := startHub(t)
	for _, id := range []string{"auditor:nobody", "ci.dpe-abidjan", "admin"} {
		if _, err := h.AuditorKeys(context.Background(), id); contracts.CodeOf(err) != contracts.CodeNotFound {
			t.Errorf("keys of %q: %v, want %s", id, err, contracts.CodeNotFound)
		}
	}
}
