package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/policy"
	"github.com/relais-hub/relais/policies"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	testHubID  = "relais-ops-hub"
	adminToken = "ops-test-admin-token-0123456789abcdef"
)

// clock is a settable clock for the hub's Config.Now: deadlines pass
// without waiting for them.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// opsWorld is a hub assembled in-process the way `relais serve` assembles
// it — SQLite store, audit log, shipped corridor agreements with their
// metrics, hub metrics, Go and process collectors — plus the operations
// collector, behind the real HTTP API.
type opsWorld struct {
	hub       *hub.Hub
	store     *sqlstore.Store
	srv       *httptest.Server
	clock     *clock
	transport *gochannel.GoChannel
	logs      *relaistest.SyncBuffer
}

func newOpsWorld(t *testing.T) *opsWorld {
	t.Helper()
	dir := t.TempDir()
	w := &opsWorld{clock: &clock{now: time.Now().UTC()}, logs: &relaistest.SyncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	corridors, err := policy.NewWatcher(policy.WatcherOptions{Logger: logger, Metrics: policy.NewMetrics(reg)}, shippedPolicies(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	// The hub's default in-process transport, made here so that the test
	// can hand it a delivery naming no message (a dead letter).
	w.transport = gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64, BlockPublishUntilSubscriberAck: true},
		watermill.NewSlogLogger(logger))
	hw := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: testHubID, AdminToken: adminToken, Dir: dir, Logger: logger, Gatherer: reg,
		Configure: func(cfg *hub.Config) {
			cfg.Metrics, cfg.Corridors, cfg.Now = hub.NewMetrics(reg), corridors, w.clock.Now
			cfg.CheckpointInterval, cfg.TimerInterval = 20*time.Millisecond, time.Hour
			cfg.Transport = &hub.Transport{Publisher: w.transport, Subscriber: w.transport}
		},
	})
	w.hub, w.store, w.srv = hw.Hub, hw.Store, hw.Server
	reg.MustRegister(hub.NewOpsCollector(hw.Hub, hub.OpsOptions{MinInterval: time.Nanosecond}))
	return w
}

// shippedPolicies copies the shipped corridor agreements into dir, as
// `relais serve` seeds DATA/policies.
func shippedPolicies(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "policies")
	if err := os.MkdirAll(out, 0o700); err != nil {
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
		return os.WriteFile(filepath.Join(out, filepath.Base(path)), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// register creates an agency's keys and registers it with the admin token.
func register(t *testing.T, hubURL, token, dir, id string) *agency.Client {
	t.Helper()
	return agency.New(hubURL, relaistest.RegisterAgency(t, hubURL, token, filepath.Join(dir, id), id, id))
}

type response struct {
	status int
	body   []byte
}

// adminDoToken calls the hub with an admin token.
func adminDoToken(t *testing.T, hubURL, token, method, path, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, hubURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// The exchange's referrals: every string in personalStrings is personal
// data that must never reach metrics, logs or the hub's disk in clear.
const (
	referralBody = `{
  "child": {"given_names": "Boukary", "family_name": "Sangaré", "sex": "m", "estimated_age": 13, "nationality": "ml", "languages": ["bam"]},
  "location": {"country": "bf", "admin_area": "BF-HOU", "place": "Centre de transit de Koloko", "since": "2026-02-03"},
  "family": [{"relationship": "aunt_uncle", "given_names": "Seydou", "family_name": "Sangaré", "status": "alive",
              "country": "ml", "address": "Village de Niéna, cercle de Sikasso", "phone": "+22365112233"}],
  "protection_concerns": {"codes": ["unaccompanied"], "details": "Intercepté au poste frontière de Koloko sans accompagnant."},
  "narrative": "Boukary dit avoir quitté Niéna pour chercher de l'or sur un site d'orpaillage.",
  "urgency": "normal"
}`
)

var personalStrings = []string{"Boukary", "Sangaré", "Centre de transit de Koloko", "Village de Niéna", "+22365112233", "site d'orpaillage"}

var referralCategories = []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "narrative"}

// referral is a referral.request draft to, with the child's consent for
// the recipient's country.
func referral(to, caseRef string) agency.Draft {
	return agency.Draft{
		Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral", DataCategories: referralCategories,
		Consent: &contracts.Consent{
			Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral"},
			DataCategories: referralCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		},
		Body: json.RawMessage(referralBody),
	}
}

// pull long-polls c's inbox until the message id arrives, opens every
// message and receipts the ones that are not receipts themselves. It
// returns the opened message with that id.
func pull(t *testing.T, c *agency.Client, id string) agency.Opened {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	cursor := ""
	for time.Now().Before(deadline) {
		items, next, err := c.Inbox(ctx, cursor, time.Second)
		if err != nil {
			t.Fatalf("inbox: %v", err)
		}
		cursor = next
		for _, it := range items {
			o, err := c.Open(ctx, []byte(it.JWS))
			if err != nil {
				t.Fatalf("open %s: %v", it.ID, err)
			}
			if o.Envelope.Kind != "receipt" {
				if _, err := c.Receipt(ctx, o); err != nil {
					t.Fatalf("receipt %s: %v", it.ID, err)
				}
			}
			if it.ID == id {
				return o
			}
		}
	}
	t.Fatalf("message %s never reached the inbox", id)
	return agency.Opened{}
}

// containsAny returns the first of needles found in s.
func containsAny(s string, needles []string) (string, bool) {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return n, true
		}
	}
	return "", false
}
