package policy

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// testNow is the tests' clock: bf-ci-ml version 2 is in force, version 1
// has ended, ne-ng has ended and bj-tg has not started.
var testNow = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

const (
	testMessageID = "0195a0c4-3f1e-7a2b-8c3d-4e5f60718293"
	otherID       = "0195a0c4-3f1e-7a2b-8c3d-4e5f60718294"
	testCaseRef   = "BF-BOBO-2026-0042"
	testConsent   = "CNS-BF-2026-0042"
	// sealedBody has the shape of a compact JWE; the engine never opens it.
	sealedBody = "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.a2V5.aXY.Y2lwaGVy.dGFn"
)

// agencyKeys are one agency's keys in the tests: the key it signs messages
// with, a supervisor's key and a staff member's signing key that is not
// registered as a supervisor.
type agencyKeys struct {
	sig, supervisor, staff jwk.Key
}

func (k agencyKeys) sigKID() string { kid, _ := k.sig.KeyID(); return kid }

// keyring generates agency keys once per test binary: key generation is
// cheap, but the property test would otherwise do it thousands of times.
var keyring = struct {
	sync.Mutex
	keys map[string]agencyKeys
}{keys: map[string]agencyKeys{}}

func keysOf(t testing.TB, agency string) agencyKeys {
	t.Helper()
	keyring.Lock()
	defer keyring.Unlock()
	if k, ok := keyring.keys[agency]; ok {
		return k
	}
	gen := func(kid string) jwk.Key {
		k, err := seal.GenerateSigningKey(kid)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := agencyKeys{sig: gen(agency + "#sig-1"), supervisor: gen(agency + "#supervisor-1"), staff: gen(agency + "#staff-2")}
	keyring.keys[agency] = k
	return k
}

func public(t testing.TB, k jwk.Key) jwk.Key {
	t.Helper()
	pub, err := seal.PublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// registry is a fake directory of supervisor keys: agency → kid → public
// key. Unknown pairs return (nil, nil).
type registry map[string]map[string]jwk.Key

func (r registry) SupervisorKey(_ context.Context, agency, kid string) (jwk.Key, error) {
	return r[agency][kid], nil
}

// supervisorsOf registers the supervisor key of each agency.
func supervisorsOf(t testing.TB, agencies ...string) registry {
	t.Helper()
	r := registry{}
	for _, a := range agencies {
		k := keysOf(t, a)
		kid, _ := k.supervisor.KeyID()
		r[a] = map[string]jwk.Key{kid: public(t, k.supervisor)}
	}
	return r
}

// withdrawals is a fake withdrawal registry.
type withdrawals map[ConsentRef]bool

func (w withdrawals) Withdrawn(_ context.Context, sender, ref string) (bool, error) {
	return w[ConsentRef{Agency: sender, Ref: ref}], nil
}

var errRegistryDown = errors.New("registry: database is locked")

// loadSet loads a testdata directory.
func loadSet(t testing.TB, dir string) *Set {
	t.Helper()
	s, err := Load("testdata/" + dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// baseInput is a referral from Bobo-Dioulasso to Abidjan under a parent's
// consent with the assent of a child of 12-14, decided at testNow.
func baseInput(t testing.TB) Input {
	t.Helper()
	sender := keysOf(t, "bf.dpe-bobo")
	return Input{
		Envelope: contracts.Envelope{
			V:              1,
			ID:             testMessageID,
			Kind:           "referral.request",
			From:           "bf.dpe-bobo",
			To:             "ci.dpe-abidjan",
			Case:           testCaseRef,
			Transfer:       testMessageID,
			SentAt:         testNow.Add(-time.Minute),
			Purpose:        "protection_referral",
			DataCategories: []string{"identity", "protection_concerns"},
			Consent: &contracts.Consent{
				Ref:            testConsent,
				Basis:          "consent",
				GivenBy:        "parent",
				ChildAssent:    true,
				AgeBand:        "12-14",
				Recipients:     []string{"ci"},
				Purposes:       []string{"protection_referral", "family_tracing"},
				DataCategories: []string{"identity", "contact", "family", "protection_concerns"},
				ObtainedAt:     time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC),
				ExpiresAt:      time.Date(2026, 7, 10, 9, 0, 0, 0, time.UTC),
			},
			Body: contracts.NewSealedBody(sealedBody),
		},
		SignerKID:   sender.sigKID(),
		SignerKey:   public(t, sender.sig),
		Now:         testNow,
		Supervisors: supervisorsOf(t, "bf.dpe-bobo", "ci.dpe-abidjan", "ml.dnpef"),
		Withdrawals: withdrawals{},
	}
}

// plain turns the base input into a message without personal data.
func plain(in *Input, kind string) {
	in.Envelope.Kind = kind
	in.Envelope.Purpose = ""
	in.Envelope.DataCategories = nil
	in.Envelope.Consent = nil
	in.Envelope.InReplyTo = otherID
	in.Envelope.Transfer = otherID
	in.Envelope.Body = []byte(`{}`)
}

// reroute sends the base input between two other agencies, consent
// following.
func reroute(t testing.TB, in *Input, from, to string) {
	in.Envelope.From, in.Envelope.To = from, to
	in.Envelope.Consent.Recipients = []string{to}
	sender := keysOf(t, from)
	in.SignerKID, in.SignerKey = sender.sigKID(), public(t, sender.sig)
}

// approve signs an override approval with key for messageID and reason.
func approve(t testing.TB, key jwk.Key, messageID, reason string, at time.Time) string {
	t.Helper()
	a, err := SignOverrideApproval(key, messageID, reason, at)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// override turns the base input into a best-interests override with the
// given approval.
func override(in *Input, reason, approval string) {
	in.Envelope.Consent.Basis = "best_interests_override"
	in.Envelope.Consent.GivenBy = "guardian"
	in.Envelope.Consent.ChildAssent = false
	in.Envelope.Consent.Override = &contracts.Override{Reason: reason, Approval: approval}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signRaw signs an arbitrary approval payload with the approval typ.
func signRaw(t testing.TB, key jwk.Key, payload string) string {
	t.Helper()
	out, err := seal.Sign([]byte(payload), key, OverrideApprovalTyp)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// resignedWithTyp signs an approval's payload again under another typ.
func resignedWithTyp(t testing.TB, approval string, key jwk.Key, typ string) string {
	t.Helper()
	payload, err := b64url.DecodeString(strings.Split(approval, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	out, err := seal.Sign(payload, key, typ)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var b64url = base64.RawURLEncoding

func errorsIs(err, target error) bool { return errors.Is(err, target) }
