package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// network is a hub subprocess and the agencies registered with it through
// the CLI, each with its key directory.
type network struct {
	Root       string
	Hub        *relaistest.Hub
	AdminToken string
	KeyDirs    map[string]string
	owner      *testing.T
}

// agencies of the tests: the Ivorian service that found the child, the
// Malian directorate of her country of origin, and a Burkinabè service.
var (
	ci = agencySpec{"ci.dpe-abidjan", "Direction de la protection de l'enfant — Abidjan"}
	ml = agencySpec{"ml.dnpef", "Direction nationale de la promotion de l'enfant et de la famille"}
	bf = agencySpec{"bf.dpe-bobo", "Direction provinciale de l'action sociale — Bobo-Dioulasso"}
)

type agencySpec struct{ ID, Name string }

// newNetwork starts a hub on a fresh data directory and creates and
// registers each agency with `relais agency init` and `relais agency
// register`, using the admin token the hub generated at first start.
func newNetwork(t *testing.T, agencies ...agencySpec) *network {
	t.Helper()
	root := t.TempDir()
	n := &network{Root: root, KeyDirs: map[string]string{}, owner: t}
	// Registered first, so it runs last: after every hub process stopped.
	t.Cleanup(func() { n.checkHubLog(t) })
	n.Hub = relaistest.StartServe(t, t, relaisBin, relaistest.FreeAddr(t), filepath.Join(root, "hub-data"), filepath.Join(root, "hub.log"))
	tokenPath := filepath.Join(n.Hub.Data, "admin.token")
	st, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatalf("the hub did not write its admin token: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", tokenPath, st.Mode().Perm())
	}
	tok, _ := os.ReadFile(tokenPath)
	n.AdminToken = strings.TrimSpace(string(tok))
	for _, a := range agencies {
		dir := filepath.Join(root, "agencies", a.ID)
		mustRelais(t, "agency", "init", "--id", a.ID, "--out", dir)
		for _, f := range []string{"signing.jwk", "encryption.jwk"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v (mode %v), want a private file", f, err, st.Mode().Perm())
			}
		}
		out := mustRelais(t, "agency", "register", "--hub", n.Hub.URL(), "--keys", dir, "--name", a.Name, "--admin-token", n.AdminToken)
		if !strings.Contains(out, a.ID) {
			t.Fatalf("register %s printed %q", a.ID, out)
		}
		n.KeyDirs[a.ID] = dir
	}
	return n
}

// checkHubLog fails the test if the hub reported a data race or a panic.
func (n *network) checkHubLog(t *testing.T) {
	log, err := os.ReadFile(filepath.Join(n.Root, "hub.log"))
	if err != nil {
		t.Errorf("hub log: %v", err)
		return
	}
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := strings.Index(string(log), bad); i >= 0 {
			t.Errorf("the hub log reports %q:\n%s", bad, log[i:min(len(log), i+4000)])
		}
	}
}

// as is the --hub and --keys flags of an agency.
func (n *network) as(id string, args ...string) []string {
	return append(args, "--hub", n.Hub.URL(), "--keys", n.KeyDirs[id])
}

// restart starts the hub again on the same address and data directory; it
// runs until the test that made the network ends.
func (n *network) restart(t *testing.T) {
	t.Helper()
	n.Hub = relaistest.StartServe(t, n.owner, relaisBin, n.Hub.Addr, n.Hub.Data, n.Hub.Log)
}

// client is an agency's Go client on its CLI-made keys, for what the CLI
// does not expose (raw submissions, inbox listings).
func (n *network) client(t *testing.T, id string) *agency.Client {
	t.Helper()
	keys, err := agency.Load(n.KeyDirs[id])
	if err != nil {
		t.Fatal(err)
	}
	return agency.New(n.Hub.URL(), keys)
}

// draft writes a referral draft file for `relais send` and returns its
// path.
func (n *network) draft(t *testing.T, name, to, caseRef string, body string) string {
	t.Helper()
	d := map[string]any{
		"kind": "referral.request", "to": to, "case": caseRef,
		"purpose": "protection_referral", "data_categories": referralCategories,
		"consent": consentFor(to),
		"body":    json.RawMessage(body),
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(n.Root, "drafts", name+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// referralCategories are the data categories the test referrals carry.
var referralCategories = []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "narrative"}

// consentFor is the child's consent to share her file with the recipient's
// country, obtained yesterday.
func consentFor(to string) *contracts.Consent {
	return &contracts.Consent{
		Ref: "CONS-" + strings.ReplaceAll(to, ".", "-"), Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
		Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral", "family_tracing"},
		DataCategories: referralCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
	}
}

var messageIDPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// firstID extracts the first message id a command printed.
func firstID(t *testing.T, out string) string {
	t.Helper()
	id := messageIDPattern.FindString(out)
	if id == "" {
		t.Fatalf("no message id in %q", out)
	}
	return id
}

// trail runs `relais trail --json` as an agency.
func (n *network) trail(t *testing.T, as, transfer string) agency.Trail {
	t.Helper()
	out := mustRelais(t, n.as(as, "trail", "--transfer", transfer, "--json")...)
	var tr agency.Trail
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("trail --json: %v\n%s", err, out)
	}
	return tr
}

// stored reports whether `relais inbox` has stored message id for agency.
func (n *network) stored(id, agencyID string) bool {
	_, err := os.Stat(filepath.Join(n.KeyDirs[agencyID], "inbox", id+".json"))
	return err == nil
}

// pullUntil runs `relais inbox` for an agency until every id is stored.
func (n *network) pullUntil(t *testing.T, agencyID string, ids ...string) {
	t.Helper()
	relaistest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		mustRelais(t, n.as(agencyID, "inbox", "--wait", "2s")...)
		for _, id := range ids {
			if !n.stored(id, agencyID) {
				return fmt.Errorf("%s has not received %s yet", agencyID, id)
			}
		}
		return nil
	})
}
