package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// party is an agency with its private keys, for driving a hub in-process.
type party struct {
	ID       string
	Sig, Enc jwk.Key
}

func newParty(tb testing.TB, id string) party {
	tb.Helper()
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := seal.GenerateEncryptionKey(seal.NewKID(id + "#enc"))
	if err != nil {
		tb.Fatal(err)
	}
	return party{ID: id, Sig: sig, Enc: enc}
}

func (p party) jwks(tb testing.TB) []byte {
	set, err := seal.PublicSet(p.Sig, p.Enc)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(set)
	return b
}

// startHub runs a hub on a fresh SQLite store with the given parties.
func startHub(tb testing.TB, parties ...party) (*hub.Hub, *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	key, _ := seal.GenerateSigningKey("hub#sig")
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		tb.Fatal(err)
	}
	log, err := audit.New(audit.Config{Origin: "test-hub/audit", Signer: priv, Dialect: audit.DialectSQLite})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "relais.db"), log)
	if err != nil {
		tb.Fatal(err)
	}
	caseKey := make([]byte, 32)
	rand.Read(caseKey)
	h, err := hub.New(hub.Config{ID: "test-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		h.Close()
		store.Close()
	})
	for _, p := range parties {
		if _, err := h.RegisterAgency(ctx, hub.Registration{ID: p.ID, Country: contracts.AgencyCountry(p.ID), Name: p.ID, JWKS: p.jwks(tb)}, "admin"); err != nil {
			tb.Fatal(err)
		}
	}
	return h, store
}

// referral seals a referral.request from one party to another with a body of
// about bodySize bytes of narrative.
func referral(tb testing.TB, from, to party, bodySize int) []byte {
	tb.Helper()
	narrative := make([]byte, bodySize)
	for i := range narrative {
		narrative[i] = 'a' + byte(i%26)
	}
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:     contracts.Child{GivenNames: "Awa", Sex: "f"},
		Narrative: string(narrative),
		Urgency:   "normal",
	})
	jwe, err := seal.Encrypt(body, to.Enc)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	id := contracts.NewMessageID()
	env := contracts.Envelope{
		V: 1, ID: id, Kind: "referral.request", From: from.ID, To: to.ID, Case: "CASE-1", Transfer: id, SentAt: now,
		Purpose: "protection_referral", DataCategories: []string{"identity", "narrative"},
		Consent: &contracts.Consent{Ref: "C-1", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(to.ID)}, Purposes: []string{"protection_referral"},
			DataCategories: []string{"identity", "narrative"}, ObtainedAt: now.Add(-time.Hour)},
		Body: contracts.NewSealedBody(jwe),
	}
	payload, err := json.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := seal.Sign(payload, from.Sig, seal.EnvelopeTyp)
	if err != nil {
		tb.Fatal(err)
	}
	return jws
}
