package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/relais-hub/relais/hub/audit"
)

// TestAThreeCountryBundleVerifiesOfflineWithOnlyTheHubKey follows one child
// across three countries: Côte d'Ivoire refers her to Mali, which accepts
// and later refers her on to Burkina Faso, which accepts too. The lifecycle
// has one sender and one recipient per transfer, so the case spans two
// transfers; the auditor exports both, by transfer and by case digest, then
// the hub is shut down and the bundles are verified in a fresh directory
// with nothing but the hub's public key.
func TestAThreeCountryBundleVerifiesOfflineWithOnlyTheHubKey(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	t1 := w.exchange(t, ciID, mlID, "CI-ABJ-2026-0042")
	t2 := w.exchange(t, mlID, bfID, "ML-BKO-2026-0107")
	trail1, err := w.agencies[ciID].Trail(ctx, t1)
	if err != nil {
		t.Fatal(err)
	}
	trail2, err := w.agencies[mlID].Trail(ctx, t2)
	if err != nil {
		t.Fatal(err)
	}

	keyFile := filepath.Join(w.dir, "hub-key.txt")
	key := strings.TrimSpace(mustRelais(t, w.as("audit", "key", "--out", keyFile)...))
	if published := directoryAuditKey(t, w.srv.URL); published != key {
		t.Fatalf("the directory publishes audit key %q, the audit API %q", published, key)
	}
	bundles := map[string][]string{
		"by-transfer.json": {"--transfer", t1, "--transfer", t2},
		"by-case.json":     {"--case-digest", trail1.CaseDigest, "--case-digest", trail2.CaseDigest},
	}
	for name, sel := range bundles {
		mustRelais(t, w.as(append([]string{"audit", "bundle", "--out", filepath.Join(w.dir, name)}, sel...)...)...)
	}

	w.close()
	if _, err := http.Get(w.srv.URL + "/healthz"); err == nil {
		t.Fatal("the hub still answers after close")
	}
	fresh := t.TempDir()
	for _, name := range []string{"by-transfer.json", "by-case.json", "hub-key.txt"} {
		data := must(os.ReadFile(filepath.Join(w.dir, filepath.Base(name))))
		if err := os.WriteFile(filepath.Join(fresh, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	wantEvents := len(trail1.Events) + len(trail2.Events)
	proven := regexp.MustCompile(`Événements prouvés\s+(\d+) / (\d+)`)
	var indexSets [][]uint64
	for _, name := range []string{"by-transfer.json", "by-case.json"} {
		t.Run(name, func(t *testing.T) {
			r := runIn(t, fresh, "audit", "verify", name, "--hub-key", "hub-key.txt")
			if r.Code != 0 {
				t.Fatalf("offline verification failed (exit %d):\n%s", r.Code, r.Output())
			}
			for _, want := range []string{"dossier intact", "CI, ML, BF", t1, t2, "transfert accepté", "signature du hub valide"} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("report lacks %q:\n%s", want, r.Stdout)
				}
			}
			m := proven.FindStringSubmatch(r.Stdout)
			if m == nil || m[1] != m[2] || m[1] != strconv.Itoa(wantEvents) {
				t.Errorf("report proves %v events, want all %d of both trails", m, wantEvents)
			}
			en := runIn(t, fresh, "audit", "verify", name, "--hub-key-string", key, "--lang", "en")
			if en.Code != 0 || !strings.Contains(en.Stdout, "bundle intact") || !regexp.MustCompile(`Countries involved\s+CI, ML, BF`).MatchString(en.Stdout) {
				t.Errorf("English report (exit %d):\n%s", en.Code, en.Output())
			}
			data := must(os.ReadFile(filepath.Join(fresh, name)))
			for _, secret := range append(slices.Clone(personalStrings), "CI-ABJ-2026-0042", "ML-BKO-2026-0107") {
				if strings.Contains(string(data), secret) {
					t.Errorf("the bundle holds %q in clear", secret)
				}
			}
			rep, err := audit.VerifyBundle(data, must(parseKey(key)))
			if err != nil {
				t.Fatal(err)
			}
			var idx []uint64
			for _, v := range rep.Verified {
				idx = append(idx, v.Index)
			}
			indexSets = append(indexSets, idx)
		})
	}
	if len(indexSets) == 2 && !slices.Equal(indexSets[0], indexSets[1]) {
		t.Errorf("by transfer and by case digest select different events: %v vs %v", indexSets[0], indexSets[1])
	}

	t.Run("another hub's key is refused", func(t *testing.T) {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		other := must(audit.VerifierKey(testHubID+"/audit", pub))
		r := runIn(t, fresh, "audit", "verify", "by-transfer.json", "--hub-key-string", other)
		if r.Code == 0 || !strings.Contains(r.Stdout, "[audit_bundle_invalid]") || !strings.Contains(r.Stdout, "ÉCHEC") {
			t.Fatalf("a bundle verified with another hub's key (exit %d):\n%s", r.Code, r.Output())
		}
	})
}

// parseKey extracts the Ed25519 key of a verifier key string.
func parseKey(vkey string) (ed25519.PublicKey, error) {
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(raw[1:]), nil
}

func directoryAuditKey(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/v1/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir struct {
		Hub struct {
			AuditKey string `json:"audit_key"`
		} `json:"hub"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	return dir.Hub.AuditKey
}
