package consent_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/policy"
	"github.com/relais-hub/relais/policies"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	testHubID  = "relais-consent-test-hub"
	adminToken = "consent-test-admin-token-0123456789abcdef"
)

// The agencies of the tests. Côte d'Ivoire, Mali and Burkina Faso share
// the shipped bf-ci-ml agreement (consent, supervisor-approved overrides,
// legal obligations); Senegal shares none with Côte d'Ivoire.
const (
	ciID    = "ci.dpe-abidjan"
	mlID    = "ml.dnpef"
	bfID    = "bf.dpe-bobo"
	ouagaID = "bf.dpe-ouaga"
	snID    = "sn.dpe-dakar"
)

// world is a running hub whose corridor agreements are a watched copy of
// the shipped ones, with registered agencies.
type world struct {
	dir      string
	policies string
	hub      *hub.Hub
	store    *sqlstore.Store
	srv      *httptest.Server
	parties  map[string]*party
}

// party is a registered agency: its keys on disk (for the CLI), its
// client, and, when it has one, its supervisor's key directory.
type party struct {
	ID            string
	KeyDir        string
	Keys          agency.Keys
	Client        *agency.Client
	Supervisor    *agency.Supervisor
	SupervisorDir string
}

// newWorld starts a hub and registers the given agencies; those listed in
// withSupervisor register a supervisor key made by `relais supervisor
// init` with `relais agency register --supervisors`.
func newWorld(t *testing.T, ids []string, withSupervisor ...string) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), parties: map[string]*party{}}
	w.policies = filepath.Join(w.dir, "policies")
	copyShippedPolicies(t, w.policies)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	corridors, err := policy.NewWatcher(policy.WatcherOptions{Logger: logger}, w.policies)
	if err != nil {
		t.Fatalf("the shipped agreements do not load: %v", err)
	}
	hw := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: testHubID, AdminToken: adminToken, Dir: w.dir, DBPath: filepath.Join("hub", "relais.db"), Logger: logger,
		Configure: func(cfg *hub.Config) {
			cfg.Corridors, cfg.CheckpointInterval, cfg.RelayInterval = corridors, time.Hour, 50*time.Millisecond
		},
	})
	w.hub, w.store, w.srv = hw.Hub, hw.Store, hw.Server
	supervised := map[string]bool{}
	for _, id := range withSupervisor {
		supervised[id] = true
	}
	for _, id := range ids {
		w.register(t, id, supervised[id])
	}
	return w
}

// copyShippedPolicies writes policies.Default's agreements into dir, as
// `relais serve` does on first start.
func copyShippedPolicies(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := fs.WalkDir(policies.Default, "corridors", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := policies.Default.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// register creates an agency's keys (and its supervisor's, with the CLI)
// and registers them with `relais agency register`.
func (w *world) register(t *testing.T, id string, withSupervisor bool) {
	t.Helper()
	p := &party{ID: id, KeyDir: filepath.Join(w.dir, "agencies", id)}
	keys, err := agency.Init(id, p.KeyDir)
	if err != nil {
		t.Fatal(err)
	}
	p.Keys = keys
	args := []string{"agency", "register", "--hub", w.srv.URL, "--keys", p.KeyDir, "--name", "Service " + id, "--admin-token", adminToken}
	if withSupervisor {
		p.SupervisorDir = filepath.Join(w.dir, "supervisors", id)
		mustRelais(t, "supervisor", "init", "--agency", id, "--out", p.SupervisorDir)
		s, err := agency.LoadSupervisor(p.SupervisorDir)
		if err != nil {
			t.Fatal(err)
		}
		p.Supervisor = &s
		args = append(args, "--supervisors", p.SupervisorDir)
	}
	mustRelais(t, args...)
	p.Client = agency.New(w.srv.URL, keys)
	w.parties[id] = p
}

func (w *world) party(id string) *party { return w.parties[id] }

// cli prefixes agency-side arguments with the hub and the agency's keys.
func (w *world) cli(id string, args ...string) []string {
	return append(args, "--hub", w.srv.URL, "--keys", w.parties[id].KeyDir)
}

// referral is a protection referral under consent ref, given by the
// 16-year-old child herself for Mali and Burkina Faso.
func referral(to, caseRef, consentRef string) agency.Draft {
	cats := []string{"identity", "family", "location", "protection_concerns", "narrative"}
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:              contracts.Child{GivenNames: "Awa", Sex: "f", EstimatedAge: ptr(16)},
		Family:             []contracts.FamilyMember{{Relationship: "mother", Status: "alive"}},
		Location:           &contracts.Location{Country: "ci", Place: "Centre d'accueil, Yopougon"},
		ProtectionConcerns: &contracts.ProtectionConcerns{Codes: []string{"unaccompanied"}},
		Narrative:          "Identifiée à la gare routière d'Adjamé.",
		Urgency:            "high",
	})
	return agency.Draft{
		Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral", DataCategories: cats,
		Consent: &contracts.Consent{
			Ref: consentRef, Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{"ml", "bf"}, Purposes: []string{"protection_referral", "family_tracing"},
			DataCategories: cats, ObtainedAt: time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour),
		},
		Body: body,
	}
}

func ptr[T any](v T) *T { return &v }
