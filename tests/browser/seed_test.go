package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/console"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// The statistics page publishes completed quarters only (a figure of the
// quarter under way could be differenced day by day), so the transfers a
// browser walk makes today never show on it. Its screenshot comes from a
// second hub, in this process, whose clock the test sets to past quarters
// while three agencies exchange referrals through its API.

// settableClock is the statistics hub's clock.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// corridorPlan is how many referrals each corridor gets per quarter,
// around the disclosure threshold (5) on purpose: the page must show
// published flows and withheld ones.
var corridorPlan = []struct {
	from, to   string
	perQuarter int
}{
	{"bf.dpe-bobo", "ml.dnpef-sikasso", 4},
	{"ci.dpe-bouake", "ml.dnpef-sikasso", 3},
	{"ml.dnpef-sikasso", "ci.dpe-bouake", 2},
	{"bf.dpe-bobo", "ci.dpe-bouake", 2},
	{"ml.dnpef-sikasso", "bf.dpe-bobo", 1},
}

// statisticsHub starts the in-process hub with its console, seeds it with
// four past quarters of referrals whose receipts and acceptances come
// faster each quarter, registers the auditor whose keys are in
// auditorKeys, and returns its URL.
func statisticsHub(t *testing.T, dir, adminToken, auditorKeys string) string {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Now().UTC()
	thisQuarter := time.Date(now.Year(), ((now.Month()-1)/3)*3+1, 1, 0, 0, 0, 0, time.UTC)
	clk := &settableClock{now: thisQuarter.AddDate(0, -12, 2)}
	key, priv := relaistest.NewHubKey(t)
	auditLog, store := relaistest.OpenAuditedStore(t, filepath.Join(dir, "relais.db"), "relais-hub/audit", priv)
	h := relaistest.StartHub(t, ctx, hub.Config{ID: "relais-hub", Key: key, Store: store, CaseKey: relaistest.NewCaseKey(),
		Audit: auditLog, Logger: quiet, Now: clk.Now})
	handler, err := console.MountHub(httpapi.New(httpapi.Config{Hub: h, AdminToken: adminToken, Logger: quiet}),
		console.HubConfig{Hub: h, AdminToken: adminToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	jwks, err := os.ReadFile(filepath.Join(auditorKeys, "public.jwks"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: "auditor:cdp-ci", Name: "Autorité de protection des données", JWKS: jwks}, "admin"); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*agency.Client{}
	for _, id := range []string{"bf.dpe-bobo", "ci.dpe-bouake", "ml.dnpef-sikasso"} {
		keys := relaistest.RegisterAgency(t, srv.URL, adminToken, filepath.Join(dir, id), id, "Service "+id)
		clients[id] = agency.New(srv.URL, keys)
	}
	n := 0
	for q := 0; q < 4; q++ {
		opened := thisQuarter.AddDate(0, 3*(q-4), 10)
		clk.Set(opened)
		sent := map[string][]string{}
		for _, c := range corridorPlan {
			for i := 0; i < c.perQuarter+q%2; i++ {
				n++
				env, _, err := clients[c.from].Send(ctx, statsReferral(c.to, fmt.Sprintf("STAT-%03d", n)))
				if err != nil {
					t.Fatalf("seed referral %s → %s: %v", c.from, c.to, err)
				}
				sent[c.to] = append(sent[c.to], env.ID)
			}
		}
		// Receipts take 3 days in the first quarter, a little less each
		// quarter after; acceptances follow a week later.
		clk.Set(opened.Add(time.Duration(72-18*q) * time.Hour))
		opens := receiveAll(t, clients, sent)
		clk.Set(opened.Add(time.Duration(72-18*q)*time.Hour + time.Duration(7-q)*24*time.Hour))
		for recipient, list := range opens {
			for _, o := range list {
				if _, err := clients[recipient].Answer(ctx, o.Envelope, true, ""); err != nil {
					t.Fatalf("accept: %v", err)
				}
			}
		}
	}
	clk.Set(time.Now().UTC())
	return srv.URL
}

// receiveAll has each recipient store and receipt the referrals sent to
// it, and returns them opened.
func receiveAll(t *testing.T, clients map[string]*agency.Client, sent map[string][]string) map[string][]agency.Opened {
	t.Helper()
	ctx := context.Background()
	out := map[string][]agency.Opened{}
	for recipient, ids := range sent {
		c := clients[recipient]
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		relaistest.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
			items, _, err := c.Inbox(ctx, "", 500*time.Millisecond)
			if err != nil {
				return err
			}
			for _, it := range items {
				if !want[it.ID] {
					continue
				}
				o, err := c.Open(ctx, []byte(it.JWS))
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if _, err := c.Receipt(ctx, o); err != nil {
					t.Fatalf("receipt: %v", err)
				}
				delete(want, it.ID)
				out[recipient] = append(out[recipient], o)
			}
			if len(want) > 0 {
				return fmt.Errorf("%s has %d referrals to receive", recipient, len(want))
			}
			return nil
		})
	}
	return out
}

func statsReferral(to, caseRef string) agency.Draft {
	age := 16
	body, _ := json.Marshal(contracts.ReferralRequest{Child: contracts.Child{GivenNames: "Enfant", Sex: "m", EstimatedAge: &age}, Urgency: "normal"})
	return agency.Draft{Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral",
		DataCategories: []string{"identity"},
		Consent: &contracts.Consent{Ref: "C-" + caseRef, Basis: "consent", GivenBy: "child", AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral"},
			DataCategories: []string{"identity"}, ObtainedAt: time.Now().UTC().AddDate(-2, 0, 0).Truncate(time.Second)},
		Body: body}
}
