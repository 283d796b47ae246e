package hub_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

const testAuditor = "auditor:cdp-bf"

func TestAuditorIDsCannotBeTakenForAgencyIDs(t *testing.T) {
	cases := []struct {
		id    string
		valid bool
	}{
		{"auditor:cdp-bf", true},
		{"auditor:secretariat-cedeao", true},
		{"auditor:x", false},
		{"auditor:CDP", false},
		{"auditor:cdp_bf", false},
		{"auditor:" + strings.Repeat("a", 49), false},
		{"cdp-bf", false},
		{"bf.dpe-bobo", false},
		{"auditor:", false},
		{"AUDITOR:cdp-bf", false},
	}
	for _, tc := range cases {
		if got := hub.ValidAuditorID(tc.id); got != tc.valid {
			t.Errorf("ValidAuditorID(%q) = %v, want %v", tc.id, got, tc.valid)
		}
		if tc.valid && contracts.ValidAgencyID(tc.id) {
			t.Errorf("%q is both an auditor id and an agency id", tc.id)
		}
	}
}

// auditorJWKS is the public JWKS of a fresh auditor signing key.
func auditorJWKS(tb testing.TB, id string) ([]byte, string) {
	tb.Helper()
	k, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		tb.Fatal(err)
	}
	set, err := seal.PublicSet(k)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(set)
	kid, _ := k.KeyID()
	return b, kid
}

func TestRegisteringAnAuditorIsLoggedAsAnAdminAction(t *testing.T) {
	ctx := context.Background()
	h, _ := startHub(t)
	jwks, kid := auditorJWKS(t, testAuditor)
	a, err := h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: testAuditor, Name: "Commission de l'informatique et des libertés (BF)", JWKS: jwks}, audit.ActorAdmin)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if a.ID != testAuditor || a.RegisteredAt.IsZero() {
		t.Fatalf("registered %+v", a)
	}
	if _, err := h.AuditorSigningKey(ctx, testAuditor, kid); err != nil {
		t.Fatalf("the registered key does not resolve: %v", err)
	}
	_, err = h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: testAuditor, Name: "again", JWKS: jwks}, audit.ActorAdmin)
	if contracts.CodeOf(err) != contracts.CodeAuditorExists {
		t.Fatalf("second registration: %v, want %s", err, contracts.CodeAuditorExists)
	}
	page, err := h.AuditEvents(ctx, audit.ActorAdmin, hub.AuditQuery{Agency: testAuditor})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range page.Events {
		if e.Event.Type == audit.TypeAdminAction && e.Event.To == testAuditor && e.Event.Actor == audit.ActorAdmin &&
			e.Event.Extra["action"] == "register_auditor" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no admin_action event for the registration in %+v", page.Events)
	}
}

func TestAuditorRegistrationRefusesAnythingButEd25519SigningKeys(t *testing.T) {
	ctx := context.Background()
	ci := newParty(t, "ci.dpe-abidjan")
	h, _ := startHub(t, ci)
	good, _ := auditorJWKS(t, testAuditor)
	encSet, _ := seal.PublicSet(ci.Enc)
	encJWKS, _ := json.Marshal(encSet)
	agencySig, _ := seal.PublicSet(ci.Sig) // a kid the agency already uses
	agencyJWKS, _ := json.Marshal(agencySig)
	cases := []struct {
		name string
		reg  hub.AuditorRegistration
		code contracts.Code
	}{
		{"an id without the auditor prefix", hub.AuditorRegistration{ID: "cdp-bf", Name: "CIL", JWKS: good}, contracts.CodeAuditorInvalid},
		{"an agency id", hub.AuditorRegistration{ID: "bf.cil", Name: "CIL", JWKS: good}, contracts.CodeAuditorInvalid},
		{"an empty name", hub.AuditorRegistration{ID: testAuditor, Name: "  ", JWKS: good}, contracts.CodeAuditorInvalid},
		{"an encryption key", hub.AuditorRegistration{ID: testAuditor, Name: "CIL", JWKS: encJWKS}, contracts.CodeAuditorInvalid},
		{"a kid an agency uses", hub.AuditorRegistration{ID: testAuditor, Name: "CIL", JWKS: agencyJWKS}, contracts.CodeAuditorInvalid},
		{"a JWKS that is not JSON", hub.AuditorRegistration{ID: testAuditor, Name: "CIL", JWKS: []byte("keys")}, contracts.CodeAuditorInvalid},
	}
	for _, tc := range cases {
		t.Run("it refuses "+tc.name, func(t *testing.T) {
			_, err := h.RegisterAuditor(ctx, tc.reg, audit.ActorAdmin)
			if got := contracts.CodeOf(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}

func TestAuditorSigningKeyNamesNoSecret(t *testing.T) {
	ctx := context.Background()
	h, _ := startHub(t)
	jwks, kid := auditorJWKS(t, testAuditor)
	if _, err := h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: testAuditor, Name: "CIL", JWKS: jwks}, audit.ActorAdmin); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ id, kid string }{
		"an unknown auditor":           {"auditor:nobody", kid},
		"an unknown kid":               {testAuditor, "auditor:cdp-bf#sig-other"},
		"an agency id as the issuer":   {"bf.dpe-bobo", kid},
		"an id that is not an auditor": {"admin", kid},
	} {
		if _, err := h.AuditorSigningKey(ctx, c.id, c.kid); contracts.CodeOf(err) != contracts.CodeTokenInvalid {
			t.Errorf("%s: %v, want %s", name, err, contracts.CodeTokenInvalid)
		}
	}
}

// trafficHub runs a hub with two delivered referrals: ci → ml and bf → ml.
type trafficHub struct {
	h          *hub.Hub
	ci, ml, bf party
	t1, t2     string
	start, end time.Time
}

func newTrafficHub(t *testing.T) *trafficHub {
	t.Helper()
	ctx := context.Background()
	w := &trafficHub{ci: newParty(t, "ci.dpe-abidjan"), ml: newParty(t, "ml.dnpef"), bf: newParty(t, "bf.dpe-bobo")}
	w.h, _ = startHub(t, w.ci, w.ml, w.bf)
	w.start = time.Now()
	for i, from := range []party{w.ci, w.bf} {
		out := w.h.Submit(ctx, referral(t, from, w.ml, 100))
		if out.Err != nil {
			t.Fatalf("submit: %v", out.Err)
		}
		if i == 0 {
			w.t1 = out.ID
		} else {
			w.t2 = out.ID
		}
	}
	for _, tr := range []string{w.t1, w.t2} {
		waitFor(t, "delivery of "+tr, func() bool {
			events, err := w.h.Store().Trail(ctx, tr)
			return err == nil && slices.ContainsFunc(events, func(e hub.Event) bool { return e.Type == hub.EventDelivered })
		})
	}
	w.end = time.Now()
	time.Sleep(3 * time.Millisecond) // later events get later millisecond stamps
	return w
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *trafficHub) events(t *testing.T, q hub.AuditQuery) []audit.Event {
	t.Helper()
	page, err := w.h.AuditEvents(context.Background(), testAuditor, q)
	if err != nil {
		t.Fatalf("audit events %+v: %v", q, err)
	}
	out := make([]audit.Event, 0, len(page.Events))
	for _, e := range page.Events {
		if e.Damaged {
			t.Fatalf("event %d is damaged", e.Index)
		}
		out = append(out, e.Event)
	}
	return out
}

func TestAuditEventsSelectByTransferCaseAgencyAndTime(t *testing.T) {
	w := newTrafficHub(t)
	byT1 := w.events(t, hub.AuditQuery{Transfers: []string{w.t1}})
	if len(byT1) < 2 {
		t.Fatalf("transfer %s has %d events, want accepted and delivered", w.t1, len(byT1))
	}
	for _, e := range byT1 {
		if e.Transfer != w.t1 {
			t.Fatalf("event of transfer %q in a search for %s", e.Transfer, w.t1)
		}
	}

	t.Run("a case digest selects the case's transfers and nothing else", func(t *testing.T) {
		byCase := w.events(t, hub.AuditQuery{CaseDigests: []string{w.h.CaseDigest(w.ci.ID, "CASE-1")}})
		if len(byCase) != len(byT1) {
			t.Fatalf("case digest selected %d events, the transfer has %d", len(byCase), len(byT1))
		}
	})

	t.Run("an agency selects what it sent, received or caused", func(t *testing.T) {
		byBF := w.events(t, hub.AuditQuery{Agency: w.bf.ID})
		if len(byBF) == 0 {
			t.Fatal("no event for bf")
		}
		for _, e := range byBF {
			if e.From != w.bf.ID && e.To != w.bf.ID && e.Actor != w.bf.ID {
				t.Fatalf("event %+v does not involve %s", e, w.bf.ID)
			}
			if e.Transfer == w.t1 {
				t.Fatalf("bf's search returned ci's transfer")
			}
		}
	})

	t.Run("a time range selects by the logged time", func(t *testing.T) {
		inRange := w.events(t, hub.AuditQuery{From: w.start, To: w.end.Add(time.Millisecond)})
		byT2 := w.events(t, hub.AuditQuery{Transfers: []string{w.t2}})
		if len(inRange) != len(byT1)+len(byT2) {
			t.Fatalf("time range has %d events, the two transfers %d", len(inRange), len(byT1)+len(byT2))
		}
		if got := w.events(t, hub.AuditQuery{From: w.end.Add(time.Hour)}); len(got) != 0 {
			t.Fatalf("the future holds %d events", len(got))
		}
	})

	t.Run("pages follow each other by cursor", func(t *testing.T) {
		ctx := context.Background()
		var walked []audit.Event
		q := hub.AuditQuery{Transfers: []string{w.t1}, Limit: 1}
		for range 100 {
			page, err := w.h.AuditEvents(ctx, testAuditor, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				walked = append(walked, e.Event)
			}
			if !page.More {
				break
			}
			q.Start = page.Next
		}
		if len(walked) != len(byT1) {
			t.Fatalf("walked %d events, want %d", len(walked), len(byT1))
		}
	})

	t.Run("malformed searches are refused before anything is logged", func(t *testing.T) {
		for name, q := range map[string]hub.AuditQuery{
			"a transfer that is not a message id": {Transfers: []string{"Awa Traoré"}},
			"a case reference in clear":           {CaseDigests: []string{"CASE-1"}},
			"a free-text agency":                  {Agency: "Awa Traoré"},
			"a reversed time range":               {From: w.end, To: w.start},
			"a page too large":                    {Limit: hub.MaxAuditPageSize + 1},
		} {
			if _, err := w.h.AuditEvents(context.Background(), testAuditor, q); contracts.CodeOf(err) != contracts.CodeBadRequest {
				t.Errorf("%s: %v, want %s", name, err, contracts.CodeBadRequest)
			}
		}
		for _, e := range w.events(t, hub.AuditQuery{Agency: testAuditor}) {
			for _, v := range e.Extra {
				if strings.Contains(v, "Awa") || v == "CASE-1" {
					t.Fatalf("a refused query's parameter %q reached the log", v)
				}
			}
		}
	})
}

func TestTheAuditAPIIsForAuditorsAndTheAdminOnly(t *testing.T) {
	w := newTrafficHub(t)
	_, err := w.h.AuditEvents(context.Background(), w.ci.ID, hub.AuditQuery{})
	if contracts.CodeOf(err) != contracts.CodeForbidden {
		t.Fatalf("an agency as actor: %v, want %s", err, contracts.CodeForbidden)
	}
}

func TestEveryAuditorCallIsLoggedWithItsParameters(t *testing.T) {
	ctx := context.Background()
	w := newTrafficHub(t)
	cp, err := w.h.AuditPublishCheckpoint(ctx, testAuditor)
	if err != nil {
		t.Fatal(err)
	}
	digest := w.h.CaseDigest(w.ci.ID, "CASE-1")
	calls := map[string]func() error{
		"events": func() error {
			_, err := w.h.AuditEvents(ctx, testAuditor, hub.AuditQuery{Transfers: []string{w.t1}})
			return err
		},
		"checkpoint": func() error { _, err := w.h.AuditCheckpointAt(ctx, testAuditor, cp.Size); return err },
		"inclusion_proof": func() error {
			_, err := w.h.AuditInclusionProof(ctx, testAuditor, 0, cp.Size)
			return err
		},
		"consistency_proof": func() error { _, _, err := w.h.AuditConsistencyProof(ctx, testAuditor, 1, cp.Size); return err },
		"bundle": func() error {
			_, err := w.h.AuditBundle(ctx, testAuditor, hub.BundleRequest{CaseDigests: []string{digest}})
			return err
		},
		"key": func() error { _, err := w.h.AuditKey(ctx, testAuditor); return err },
	}
	for name, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	logged := map[string]map[string]string{}
	for _, e := range w.events(t, hub.AuditQuery{Agency: testAuditor}) {
		if e.Type != audit.TypeAuditorQuery || e.Actor != testAuditor {
			t.Fatalf("unexpected event %+v", e)
		}
		if logged[e.Extra["endpoint"]] == nil { // the first of each: this search is logged too
			logged[e.Extra["endpoint"]] = e.Extra
		}
	}
	for name := range calls {
		if logged[name] == nil {
			t.Errorf("the %s call was not logged (logged: %v)", name, logged)
		}
	}
	if logged["publish_checkpoint"] == nil {
		t.Error("publishing a checkpoint was not logged")
	}
	if got := logged["bundle"]["case_digest"]; got != digest {
		t.Errorf("the bundle query logged case_digest %q, want %q", got, digest)
	}
	if got := logged["events"]["transfer"]; got != w.t1 {
		t.Errorf("the events query logged transfer %q, want %q", got, w.t1)
	}
}

func TestABundleIsCoveredByACheckpointAndVerifiesOffline(t *testing.T) {
	ctx := context.Background()
	w := newTrafficHub(t)
	earlier, err := w.h.AuditPublishCheckpoint(ctx, audit.ActorAdmin)
	if err != nil {
		t.Fatal(err)
	}
	// More traffic after the checkpoint: the bundle must publish a newer one.
	if out := w.h.Submit(ctx, referral(t, w.ci, w.bf, 100)); out.Err != nil {
		t.Fatal(out.Err)
	}
	b, err := w.h.AuditBundle(ctx, testAuditor, hub.BundleRequest{
		Transfers: []string{w.t1}, CaseDigests: []string{w.h.CaseDigest(w.ci.ID, "CASE-1")},
		Since: earlier.Size, HasSince: true,
	})
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyBundle(data, w.h.Audit().PublicKey())
	if err != nil {
		t.Fatalf("the hub's own bundle does not verify: %v", err)
	}
	// ci's two referrals share the case digest: both transfers are in.
	transfers := map[string]bool{}
	for _, v := range rep.Verified {
		transfers[v.Event.Transfer] = true
		if v.Index >= rep.Checkpoint.Size {
			t.Fatalf("event %d is beyond checkpoint %d", v.Index, rep.Checkpoint.Size)
		}
	}
	if len(transfers) != 2 || !transfers[w.t1] {
		t.Fatalf("bundle covers transfers %v, want t1 and ci's second referral", transfers)
	}
	if rep.ConsistentFrom == nil || rep.ConsistentFrom.Size != earlier.Size {
		t.Fatalf("bundle proves consistency from %+v, want size %d", rep.ConsistentFrom, earlier.Size)
	}

	// A since the hub cannot prove from leaves the proof out, for the
	// auditor's verifier to report, rather than hiding behind a refusal.
	for name, since := range map[string]uint64{"beyond the log head": 1 << 40, "never published": earlier.Size + 1} {
		b, err := w.h.AuditBundle(ctx, testAuditor, hub.BundleRequest{Transfers: []string{w.t1}, Since: since, HasSince: true})
		if err != nil || b.Consistency != nil {
			t.Errorf("a since %s: consistency %v, err %v; want a bundle without proof", name, b.Consistency, err)
		}
	}
	for name, r := range map[string]hub.BundleRequest{
		"no selector":        {},
		"too many selectors": {Transfers: slices.Repeat([]string{w.t1}, 9)},
	} {
		if _, err := w.h.AuditBundle(ctx, testAuditor, r); contracts.CodeOf(err) != contracts.CodeBadRequest {
			t.Errorf("%s: %v, want %s", name, err, contracts.CodeBadRequest)
		}
	}
	_, err = w.h.AuditBundle(ctx, testAuditor, hub.BundleRequest{Transfers: []string{contracts.NewMessageID()}})
	if contracts.CodeOf(err) != contracts.CodeNotFound {
		t.Errorf("an unknown transfer: %v, want %s", err, contracts.CodeNotFound)
	}
}

func TestProofsServedToAuditorsVerify(t *testing.T) {
	ctx := context.Background()
	w := newTrafficHub(t)
	first, err := w.h.AuditPublishCheckpoint(ctx, testAuditor)
	if err != nil {
		t.Fatal(err)
	}
	if out := w.h.Submit(ctx, referral(t, w.ci, w.bf, 100)); out.Err != nil {
		t.Fatal(out.Err)
	}
	second, err := w.h.AuditPublishCheckpoint(ctx, testAuditor)
	if err != nil {
		t.Fatal(err)
	}
	for index := uint64(0); index < second.Size; index += 3 {
		ans, err := w.h.AuditInclusionProof(ctx, testAuditor, index, 0)
		if err != nil {
			t.Fatalf("inclusion %d: %v", index, err)
		}
		if ans.Size != second.Size || string(ans.Checkpoint) != string(second.Note) || ans.Damaged {
			t.Fatalf("inclusion %d answered size %d, checkpoint %q", index, ans.Size, ans.Checkpoint)
		}
		if err := audit.VerifyInclusion(ans.Leaf, index, ans.Proof, second.Checkpoint); err != nil {
			t.Fatalf("inclusion %d does not verify: %v", index, err)
		}
	}
	to, proof, err := w.h.AuditConsistencyProof(ctx, testAuditor, first.Size, 0)
	if err != nil || to != second.Size {
		t.Fatalf("consistency: to %d, %v", to, err)
	}
	if err := audit.VerifyConsistency(first.Checkpoint, second.Checkpoint, proof); err != nil {
		t.Fatalf("consistency does not verify: %v", err)
	}
	for name, call := range map[string]func() error{
		"an index at the size": func() error {
			_, err := w.h.AuditInclusionProof(ctx, testAuditor, second.Size, second.Size)
			return err
		},
		"a size beyond the head": func() error { _, err := w.h.AuditInclusionProof(ctx, testAuditor, 0, 1<<40); return err },
		"from after to": func() error {
			_, _, err := w.h.AuditConsistencyProof(ctx, testAuditor, second.Size, first.Size)
			return err
		},
	} {
		if err := call(); contracts.CodeOf(err) != contracts.CodeBadRequest {
			t.Errorf("%s: %v, want %s", name, err, contracts.CodeBadRequest)
		}
	}
	if _, err := w.h.AuditCheckpointAt(ctx, testAuditor, first.Size+1); contracts.CodeOf(err) != contracts.CodeNotFound {
		t.Errorf("a checkpoint never published: %v, want %s", err, contracts.CodeNotFound)
	}
}
