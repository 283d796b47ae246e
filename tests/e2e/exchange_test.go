package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// firstReferral is the Ivorian service's file on a Malian girl; every
// string in personalStrings1 comes from it.
const firstReferral = `{
  "child": {"given_names": "Kadiatou Aminata", "family_name": "Coulibaly", "other_names": ["Kadi"], "sex": "f",
            "birth_date": "2011-07-02", "nationality": "ml", "languages": ["bam", "fr"], "phone": "+22507123456"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Foyer Sainte-Thérèse, Treichville", "since": "2026-01-14"},
  "family": [
    {"relationship": "mother", "given_names": "Mariam", "family_name": "Diarra", "status": "alive",
     "country": "ml", "address": "Quartier Hamdallaye, Ségou", "phone": "+22376543210"},
    {"relationship": "father", "status": "deceased"}
  ],
  "protection_concerns": {"codes": ["unaccompanied", "trafficking", "child_labour"],
                          "details": "Conduite à Abidjan par un intermédiaire pour du travail domestique, sans salaire."},
  "documents": [{"type": "consular_card", "number": "CC-ML-774411", "issuing_country": "ml", "expires_on": "2028-03-31"}],
  "health_notes": "Suivi pour une drépanocytose ; traitement à poursuivre.",
  "legal_status": {"status": "irregular_migrant", "details": "Entrée sans document de voyage."},
  "narrative": "Kadiatou a été retrouvée le 14 janvier 2026 au marché de Treichville.\nElle souhaite rejoindre sa mère à Ségou.",
  "urgency": "high",
  "requested_services": ["family_tracing", "family_assessment", "return_assistance"]
}`

var personalStrings1 = []string{
	"Kadiatou Aminata", "Coulibaly", "+22507123456", "+22376543210", "Quartier Hamdallaye",
	"Foyer Sainte-Thérèse", "marché de Treichville", "rejoindre sa mère à Ségou",
	"intermédiaire pour du travail domestique", "CC-ML-774411", "drépanocytose",
}

// secondReferral is the Burkinabè service's file on a Malian boy.
const secondReferral = `{
  "child": {"given_names": "Boukary", "family_name": "Sangaré", "sex": "m", "estimated_age": 13,
            "nationality": "ml", "languages": ["bam"]},
  "location": {"country": "bf", "admin_area": "BF-HOU", "place": "Centre de transit de Koloko", "since": "2026-02-03"},
  "family": [{"relationship": "aunt_uncle", "given_names": "Seydou", "family_name": "Sangaré", "status": "alive",
              "country": "ml", "address": "Village de Niéna, cercle de Sikasso", "phone": "+22365112233"}],
  "protection_concerns": {"codes": ["unaccompanied"], "details": "Intercepté au poste frontière de Koloko sans accompagnant."},
  "narrative": "Boukary dit avoir quitté Niéna pour chercher de l'or sur un site d'orpaillage.",
  "urgency": "normal"
}`

var personalStrings2 = []string{
	"Sangaré", "Centre de transit de Koloko", "Village de Niéna", "+22365112233",
	"poste frontière de Koloko", "site d'orpaillage",
}

// TestExchangeWithTheBuiltBinary runs two complete referrals through the
// built binary — one accepted, one declined — and checks states, holders,
// trails, and that no plaintext of either file ever reached the hub's disk
// or logs.
func TestExchangeWithTheBuiltBinary(t *testing.T) {
	n := newNetwork(t, ci, ml, bf)

	// 1. Côte d'Ivoire refers Kadiatou to Mali; Mali pulls, receipts, accepts.
	out := mustRelais(t, n.as(ci.ID, "send", "--file", n.draft(t, "kadiatou", ml.ID, "CI-ABJ-2026-0311", firstReferral))...)
	t1 := firstID(t, out)
	n.pullUntil(t, ml.ID, t1)
	stored, err := os.ReadFile(filepath.Join(n.KeyDirs[ml.ID], "inbox", t1+".json"))
	if err != nil || !strings.Contains(string(stored), "Kadiatou Aminata") {
		t.Fatalf("ml's inbox folder does not hold the decrypted referral: %v", err)
	}
	accept1 := firstID(t, mustRelais(t, n.as(ml.ID, "accept", "--transfer", t1)...))

	// 2. Burkina Faso refers Boukary to Mali; Mali declines.
	t2 := firstID(t, mustRelais(t, n.as(bf.ID, "send", "--file", n.draft(t, "boukary", ml.ID, "BF-BOB-2026-0042", secondReferral))...))
	n.pullUntil(t, ml.ID, t2)
	decline2 := firstID(t, mustRelais(t, n.as(ml.ID, "decline", "--transfer", t2, "--reason", "outside_mandate")...))

	// 3. The senders pull the receipts and answers (and receipt the answers).
	n.pullUntil(t, ci.ID, accept1)
	n.pullUntil(t, bf.ID, decline2)

	// 4. The trails, once every delivery has landed.
	var tr1, tr2 agency.Trail
	relaistest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		tr1, tr2 = n.trail(t, ci.ID, t1), n.trail(t, bf.ID, t2)
		for _, tr := range []agency.Trail{tr1, tr2} {
			if err := deliveredOnce(tr); err != nil {
				return err
			}
		}
		return nil
	})
	checkTrail(t, tr1, ci.ID, ml.ID, "accepted", ml.ID, []string{
		"accepted referral.request by " + ci.ID,
		"accepted receipt by " + ml.ID,
		"receipted referral.request by " + ml.ID,
		"accepted referral.accepted by " + ml.ID,
		"transfer_accepted referral.accepted by " + ml.ID,
		"accepted receipt by " + ci.ID,
		"receipted referral.accepted by " + ci.ID,
	})
	checkTrail(t, tr2, bf.ID, ml.ID, "declined", bf.ID, []string{
		"accepted referral.request by " + bf.ID,
		"accepted receipt by " + ml.ID,
		"receipted referral.request by " + ml.ID,
		"accepted referral.declined by " + ml.ID,
		"transfer_declined referral.declined by " + ml.ID + " code outside_mandate",
		"accepted receipt by " + bf.ID,
		"receipted referral.declined by " + bf.ID,
	})
	// Both parties see the same trail; the recipient's view matches.
	if mlView := n.trail(t, ml.ID, t1); !reflect.DeepEqual(mlView, tr1) {
		t.Errorf("ml's view of the trail differs from ci's")
	}

	// 5. The readable trail, French by default and English on request.
	fr := mustRelais(t, n.as(ci.ID, "trail", "--transfer", t1)...)
	en := mustRelais(t, n.as(ci.ID, "trail", "--transfer", t1, "--lang", "en")...)
	if !strings.Contains(fr, "État : accepté") || !strings.Contains(fr, "cas détenu par "+ml.ID) {
		t.Errorf("French trail:\n%s", fr)
	}
	if !strings.Contains(en, "State: accepted") || !strings.Contains(en, "case held by "+ml.ID) {
		t.Errorf("English trail:\n%s", en)
	}

	// 6. A third agency cannot read a transfer it is not party to.
	denied := relais(t, n.as(bf.ID, "trail", "--transfer", t1, "--json")...)
	if denied.Code == 0 || !strings.Contains(denied.Stderr, "not_found") {
		t.Errorf("bf read ci's trail: exit %d, stdout %q, stderr %q", denied.Code, denied.Stdout, denied.Stderr)
	}

	// 7. No plaintext of either file on the hub's disk or in its logs —
	// while the recipient's inbox folder, which holds the decrypted files,
	// shows the scan would find them.
	// Scanned while the hub runs (the recent pages are in relais.db-wal)
	// and again once it stopped (a clean close checkpoints the WAL into
	// relais.db and may remove it).
	personal := append(append([]string(nil), personalStrings1...), personalStrings2...)
	for _, phase := range []string{"running", "stopped"} {
		if phase == "stopped" {
			n.Hub.Stop()
		}
		hubFiles := append(filesUnder(t, n.Hub.Data), n.Hub.Log)
		assertDBFilesPresent(t, hubFiles, phase == "running")
		for _, leak := range scanForLeaks(t, hubFiles, personal) {
			t.Errorf("hub leak (%s): %s", phase, leak)
		}
	}
	inboxFiles := filesUnder(t, filepath.Join(n.KeyDirs[ml.ID], "inbox"))
	for _, s := range personal {
		if len(scanForLeaks(t, inboxFiles, []string{s})) == 0 {
			t.Errorf("the scan does not find %q in ml's inbox folder, where it must be: the check is blind", s)
		}
	}
}

// deliveredOnce checks that every message the hub accepted in a trail was
// delivered exactly once, after its acceptance, by the hub.
func deliveredOnce(tr agency.Trail) error {
	acceptedAt := map[string]uint64{}
	for _, e := range tr.Events {
		if e.Type == "accepted" {
			acceptedAt[e.MessageID] = e.Index
		}
	}
	for id, idx := range acceptedAt {
		var deliveries []agency.TrailEvent
		for _, e := range tr.Events {
			if e.Type == "delivered" && e.MessageID == id {
				deliveries = append(deliveries, e)
			}
		}
		if len(deliveries) != 1 {
			return fmt.Errorf("message %s has %d delivered events, want 1", id, len(deliveries))
		}
		if d := deliveries[0]; d.Index < idx || d.Actor != "hub" {
			return fmt.Errorf("delivery of %s: index %d (accepted at %d), actor %q", id, d.Index, idx, d.Actor)
		}
	}
	return nil
}

// stateChange is the detail of a state_changed event.
var stateChange = regexp.MustCompile(`^from=([a-z_]+) to=([a-z_]+)`)

// checkTrail compares a trail's parties, state, holder and its primary
// events, in order. Deliveries are left out (their place depends on the
// relay's timing; deliveredOnce checks them), and so are state_changed
// events, which restate what the primary events did; those must still
// name a real move.
func checkTrail(t *testing.T, tr agency.Trail, sender, recipient, state, holder string, want []string) {
	t.Helper()
	if tr.Sender != sender || tr.Recipient != recipient || tr.State != state || tr.Holder != holder {
		t.Errorf("transfer %s: %s → %s, state %s, holder %s; want %s → %s, %s, %s",
			tr.Transfer, tr.Sender, tr.Recipient, tr.State, tr.Holder, sender, recipient, state, holder)
	}
	var got []string
	for i, e := range tr.Events {
		if i > 0 && e.Index <= tr.Events[i-1].Index {
			t.Errorf("trail out of order at %d", e.Index)
		}
		if e.Type == "delivered" {
			continue
		}
		if e.Type == "state_changed" {
			if m := stateChange.FindStringSubmatch(e.Detail); m == nil || m[1] == m[2] {
				t.Errorf("state_changed event #%d has detail %q, want from=<state> to=<another state>", e.Index, e.Detail)
			}
			continue
		}
		line := e.Type + " " + e.Kind + " by " + e.Actor
		if e.Code != "" {
			line += " code " + e.Code
		}
		got = append(got, line)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trail of %s:\n got  %s\n want %s", tr.Transfer, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if !sha256HexPattern.MatchString(tr.CaseDigest) {
		t.Errorf("case digest %q is not a keyed digest of the case reference", tr.CaseDigest)
	}
}

var sha256HexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// assertDBFilesPresent makes sure the scan covers the SQLite database (and,
// while the hub runs, its write-ahead log).
func assertDBFilesPresent(t *testing.T, files []string, withWAL bool) {
	t.Helper()
	want := map[string]bool{"relais.db": false}
	if withWAL {
		want["relais.db-wal"] = false
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; ok {
			want[filepath.Base(f)] = true
		}
	}
	for name, found := range want {
		if !found {
			t.Fatalf("%s is not among the scanned files: %v", name, files)
		}
	}
}
