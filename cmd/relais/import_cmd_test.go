package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

const (
	csvMapping = "../../adapters/csvimport/testdata/casedata_mapping.yaml"
	csvExport  = "../../adapters/csvimport/testdata/casedata_export.csv"
	primeroDir = "../../adapters/primero/testdata"
)

// runRelais executes the root command in-process.
func runRelais(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("RELAIS_KEYS", "")
	t.Setenv("RELAIS_LANG", "")
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// sampleNames are cells of the samples that no report may print.
var sampleNames = []string{"Fatoumata", "Diarra", "Konaté", "Fille", "31/02/2011", "BF/BOB/2026/0151", "Traoré"}

func TestImportCSVDryRunReportsEveryRejectedRowWithoutValues(t *testing.T) {
	out, err := runRelais(t, "import", "csv", "--dry-run", "--mapping", csvMapping, "--file", csvExport)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ligne 4 · colonne « Sexe » · champ body.child.sex · valeur absente de la table de correspondance",
		"ligne 5 · colonne « Date de naissance » · champ body.child.birth_date",
		"ligne 7 · colonne « Consentement au partage » · champ consent.basis",
		"ligne 8 · colonne « Date de naissance » · champ body.child.birth_date",
		"ligne 8 · colonne « Téléphone de la mère » · champ body.family[0].phone",
		"ligne 12 · colonne « N° dossier » · champ case",
		"Résumé : 10 ligne(s) lue(s), 5 acceptée(s), 5 rejetée(s).",
		"colonne « Agent saisie » ignorée",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "  ligne "); n != 6 {
		t.Errorf("%d rejection lines, want 6:\n%s", n, out)
	}
	for _, v := range sampleNames {
		if strings.Contains(out, v) {
			t.Errorf("the report prints a cell value (%q)", v)
		}
	}
	en, err := runRelais(t, "import", "csv", "--dry-run", "--lang", "en", "--mapping", csvMapping, "--file", csvExport)
	if err != nil || !strings.Contains(en, "Summary: 10 row(s) read, 5 accepted, 5 rejected.") {
		t.Errorf("English dry run (%v):\n%s", err, en)
	}
}

func TestImportPrimeroDryRunAccountsForEveryField(t *testing.T) {
	out, err := runRelais(t, "import", "primero", "--dry-run",
		"--case", filepath.Join(primeroDir, "case_fatoumata.json"),
		"--transition", filepath.Join(primeroDir, "transition_transfer.json"),
		"--config", filepath.Join(primeroDir, "options.yaml"))
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{"transition.notes", "→ body.narrative", "services_section[1]", "Référencement valide vers ml.dnpef : finalité protection_referral", "fondement consent"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	for _, v := range sampleNames {
		if strings.Contains(out, v) {
			t.Errorf("the report prints a value (%q)", v)
		}
	}
	// Without the deployment's options the recipient agency is unknown:
	// the report is still printed, and the refusal says why.
	out, err = runRelais(t, "import", "primero", "--dry-run",
		"--case", filepath.Join(primeroDir, "case_fatoumata.json"),
		"--transition", filepath.Join(primeroDir, "transition_referral.json"))
	if err == nil || !strings.Contains(err.Error(), string(contracts.CodeUnknownRecipient)) || !strings.Contains(out, "transition.notes") {
		t.Errorf("err = %v\n%s", err, out)
	}
}

// TestImportCSVSendsTheAcceptedRowsThroughTheHub: on an embedded hub, a
// real run refuses to send while rows are rejected, then with
// --skip-rejected delivers one sealed referral per good row, which the
// recipient opens.
func TestImportCSVSendsTheAcceptedRowsThroughTheHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	rh, err := startHub(ctx, hubOptions{Listen: "127.0.0.1:0", Data: filepath.Join(dir, "hub"), HubID: "relais-test-hub",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	clients := map[string]*agency.Client{}
	for _, id := range []string{"bf.dpe-bobo", "ml.dnpef"} {
		keys, err := agency.Init(id, filepath.Join(dir, id))
		if err != nil {
			t.Fatal(err)
		}
		if err := registerAgency(ctx, io.Discard, rh.URL, rh.AdminToken, keys, id); err != nil {
			t.Fatal(err)
		}
		clients[id] = agency.New(rh.URL, keys)
	}
	args := []string{"import", "csv", "--hub", rh.URL, "--keys", filepath.Join(dir, "bf.dpe-bobo"), "--mapping", csvMapping, "--file", csvExport}

	out, err := runRelais(t, args...)
	if err == nil || !strings.Contains(err.Error(), "rien n'a été envoyé") {
		t.Fatalf("a run with rejected rows was not refused: %v\n%s", err, out)
	}
	ml := clients["ml.dnpef"]
	if items, _, err := ml.Inbox(ctx, "", 0); err != nil || len(items) != 0 {
		t.Fatalf("the refused run sent %d message(s) (%v)", len(items), err)
	}

	out, err = runRelais(t, append(args, "--skip-rejected")...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "5 référencement(s) envoyé(s), 0 échec(s), 5 ligne(s) rejetée(s).") {
		t.Errorf("summary:\n%s", out)
	}
	var names []string
	deadline := time.Now().Add(time.Minute)
	for len(names) < 5 && time.Now().Before(deadline) {
		items, _, err := ml.Inbox(ctx, "", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, it := range items {
			o, err := ml.Open(ctx, []byte(it.JWS))
			if err != nil {
				t.Fatalf("the recipient cannot open a referral: %v", err)
			}
			var body contracts.ReferralRequest
			if err := json.Unmarshal(o.Plaintext, &body); err != nil {
				t.Fatal(err)
			}
			if o.Envelope.From != "bf.dpe-bobo" || o.Envelope.Purpose != "protection_referral" || o.Envelope.Consent == nil {
				t.Errorf("envelope %+v", o.Envelope)
			}
			names = append(names, body.Child.GivenNames)
		}
	}
	slices.Sort(names)
	if want := []string{"Fatoumata", "Kadiatou", "Mariam", "Moussa", "Oumar"}; !slices.Equal(names, want) {
		t.Errorf("delivered %v, want %v", names, want)
	}
}
