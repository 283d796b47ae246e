package console

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// site is an agent with its console, on a hub in process.
type site struct {
	agent   *agent.Agent
	console *AgentConsole
	dir     string
}

func newSite(t *testing.T, w *hubWorld, id string) (*site, *browser) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), id)
	cfg, err := agent.Init(ctx, dir, agent.InitOptions{Agency: id, Hub: w.api.URL})
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := os.ReadFile(filepath.Join(cfg.KeysDir(dir), "public.jwks"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.hub.RegisterAgency(ctx, hub.Registration{ID: id, Country: contracts.AgencyCountry(id), Name: id, JWKS: jwks}, "admin"); err != nil {
		t.Fatal(err)
	}
	a, err := agent.Open(ctx, dir, agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.SyncOnce(ctx); err != nil {
		t.Fatalf("first sync of %s: %v", id, err)
	}
	con, err := NewAgent(ctx, AgentConfig{Site: a, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = con.Close() })
	srv := newTLSServer(t, con)
	return &site{agent: a, console: con, dir: dir}, newBrowser(t, srv)
}

// setup creates the site's first account, a supervisor, through /setup.
func (s *site) setup(t *testing.T, b *browser, username string) {
	t.Helper()
	if res := b.get("/"); res.Header.Get("Location") != "/setup" {
		t.Fatalf("a new site sends to %q, not /setup", res.Header.Get("Location"))
	}
	code, err := os.ReadFile(filepath.Join(s.dir, SetupCodeFile))
	if err != nil {
		t.Fatalf("setup code: %v", err)
	}
	page := b.get("/setup")
	res := b.post("/setup", url.Values{"csrf": {field(t, csrfField, page.Body)}, "code": {strings.TrimSpace(string(code))},
		"username": {username}, "display": {"Awa Traoré"}, "password": {"une phrase assez longue"}})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/inbox" {
		t.Fatalf("setup: %d %s\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}
	if _, err := os.Stat(filepath.Join(s.dir, SetupCodeFile)); !os.IsNotExist(err) {
		t.Fatal("the setup code survived the first account")
	}
}

func login(t *testing.T, b *browser, username, password string) response {
	t.Helper()
	page := b.get("/login")
	return b.post("/login", url.Values{"csrf": {field(t, csrfField, page.Body)}, "username": {username}, "password": {password}})
}

// referralForm is the compose form as a case worker fills it in.
func referralForm(csrf, to string) url.Values {
	return url.Values{
		"csrf": {csrf}, "action": {"send"}, "to": {to}, "case": {"CI-ABJ-2026-0042"}, "purpose": {"protection_referral"},
		"body.child.given_names": {"Awa"}, "body.child.family_name": {"Ouédraogo"}, "body.child.sex": {"f"},
		"body.child.estimated_age": {"13"}, "body.location.country": {"ci"}, "body.location.place": {"Gare routière d'Adjamé"},
		"body.protection_concerns.codes": {"unaccompanied", "separated"}, "body.urgency": {"high"},
		"body.family.0.relationship": {"mother"}, "body.family.0.given_names": {"Mariam"},
		"consent.basis": {"consent"}, "consent.ref": {"CONS-0042"}, "consent.age_band": {"12-14"}, "consent.given_by": {"parent"},
		"consent.child_assent": {"yes"}, "consent.obtained_at": {time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")},
	}
}

var transferLink = regexp.MustCompile(`^/transfers/([0-9a-zA-Z-]+)$`)

func TestACaseWorkerReferralReachesTheOtherSiteWhichAcceptsIt(t *testing.T) {
	w := newHubWorld(t)
	ml, mlB := newSite(t, w, "ml.dnpef-kayes")
	ci, ciB := newSite(t, w, "ci.dpe-yamoussoukro")
	ci.setup(t, ciB, "awa")
	ml.setup(t, mlB, "moussa")

	page := ciB.get("/users")
	res := ciB.post("/users", url.Values{"csrf": {field(t, csrfField, page.Body)}, "action": {"create"}, "username": {"koffi"},
		"display": {"Koffi Kouassi"}, "role": {"case_worker"}, "password": {"une autre phrase longue"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("create a case worker: %d\n%s", res.Status, res.Body)
	}
	worker := newBrowser(t, ciB.serverFor())
	if res := login(t, worker, "koffi", "wrong password!"); res.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", res.Status)
	}
	if res := login(t, worker, "koffi", "une autre phrase longue"); res.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", res.Status)
	}

	form := worker.get("/compose")
	for _, want := range []string{`name="body.child.given_names"`, `name="body.protection_concerns.codes"`, `name="consent.age_band"`,
		"15 à 17 ans", `value="ml.dnpef-kayes"`, `list="countries"`} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("the compose form lacks %s", want)
		}
	}
	csrf := field(t, csrfField, form.Body)
	incomplete := referralForm(csrf, ml.agent.Config().Agency)
	incomplete.Del("body.child.given_names")
	refused := worker.post("/compose", incomplete)
	nameInput := regexp.MustCompile(`<input[^>]*id="body-child-given_names"[^>]*>`).FindString(refused.Body)
	if refused.Status != http.StatusUnprocessableEntity || !strings.Contains(nameInput, `aria-invalid="true"`) {
		t.Fatalf("a referral without the child's name: %d\n%s", refused.Status, refused.Body)
	}
	draftID := field(t, regexp.MustCompile(`name="draft" value="([^"]+)"`), refused.Body)
	full := referralForm(csrf, ml.agent.Config().Agency)
	full.Set("draft", draftID)
	sent := worker.post("/compose", full)
	m := transferLink.FindStringSubmatch(sent.Header.Get("Location"))
	if sent.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("send: %d %s\n%s", sent.Status, sent.Header.Get("Location"), sent.Body)
	}
	transfer := m[1]
	if transfer != draftID {
		t.Errorf("the message id %s is not the draft's %s", transfer, draftID)
	}
	if drafts := worker.get("/drafts"); strings.Contains(drafts.Body, "CI-ABJ-2026-0042") {
		t.Error("the sent draft is still listed")
	}

	ctx := context.Background()
	if err := ci.agent.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the referral at the Malian site", func() bool {
		_ = ml.agent.SyncOnce(ctx)
		return strings.Contains(mlB.get("/inbox").Body, "Awa Ouédraogo")
	})
	msg := mlB.get("/messages/" + transfer)
	for _, want := range []string{"Gare routière d&#39;Adjamé", "Enfant non accompagné", "Mère", "Mariam", `id="accept"`} {
		if !strings.Contains(msg.Body, want) {
			t.Errorf("the received file lacks %s", want)
		}
	}
	if msg.Header.Get("Cache-Control") != "no-store" {
		t.Error("a page with a child's file may be cached")
	}
	accepted := mlB.post("/messages/"+transfer+"/answer", url.Values{"csrf": {field(t, csrfField, msg.Body)}, "decision": {"accept"}})
	if accepted.Status != http.StatusSeeOther {
		t.Fatalf("accept: %d\n%s", accepted.Status, accepted.Body)
	}
	if again := mlB.get("/messages/" + transfer); strings.Contains(again.Body, `id="accept"`) {
		t.Error("the referral can still be accepted after the answer")
	}
	if err := ml.agent.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the transfer accepted at the hub", func() bool {
		tr, err := w.hub.Store().Transfer(ctx, transfer)
		return err == nil && tr.State == hub.StateAccepted
	})
	eventually(t, "the acceptance back at the Ivorian site", func() bool {
		_ = ci.agent.SyncOnce(ctx)
		return strings.Contains(worker.get("/transfers/"+transfer).Body, kindLabel(French, "referral.accepted"))
	})
	timeline := worker.get("/transfers/" + transfer)
	if !strings.Contains(timeline.Body, "ml.dnpef-kayes") || !strings.Contains(timeline.Body, "Qui a eu le dossier") {
		t.Errorf("the timeline does not show who held the case:\n%s", timeline.Body)
	}
}

func TestAnOverrideWaitsForAnotherSupervisorsOwnKey(t *testing.T) {
	w := newHubWorld(t)
	newSite(t, w, "ml.dnpef-sikasso")
	ci, boss := newSite(t, w, "ci.dpe-bouake")
	ci.setup(t, boss, "awa")
	page := boss.get("/users")
	boss.post("/users", url.Values{"csrf": {field(t, csrfField, page.Body)}, "action": {"create"}, "username": {"fanta"},
		"display": {"Fanta"}, "role": {"supervisor"}, "password": {"phrase de fanta longue"}})
	author := newBrowser(t, boss.serverFor())
	login(t, author, "fanta", "phrase de fanta longue")

	form := author.get("/compose")
	f := referralForm(field(t, csrfField, form.Body), "ml.dnpef-sikasso")
	f.Set("consent.basis", "best_interests_override")
	f.Set("consent.override_reason", "imminent_harm")
	res := author.post("/compose", f)
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/drafts" {
		t.Fatalf("an override draft: %d %s\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}
	drafts := author.get("/drafts")
	id := field(t, regexp.MustCompile(`href="/compose\?draft=([^"]+)"`), drafts.Body)
	if strings.Contains(drafts.Body, "/approvals/"+id) {
		t.Error("the author is offered to approve their own override")
	}
	own := author.get("/approvals/" + id)
	if res := author.post("/approvals/"+id, url.Values{"csrf": {field(t, csrfField, own.Body)}, "password": {"phrase de fanta longue"}}); res.Status != http.StatusForbidden {
		t.Fatalf("the author approved their own override: %d", res.Status)
	}

	keyDir := filepath.Join(t.TempDir(), "awa-key")
	supervisor, err := agency.InitSupervisor("ci.dpe-bouake", keyDir)
	if err != nil {
		t.Fatal(err)
	}
	_ = supervisor
	raw, err := os.ReadFile(filepath.Join(keyDir, "supervisor.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	account := boss.get("/account")
	if res := boss.upload("/account/key", field(t, csrfField, account.Body), "une phrase assez longue", raw); res.Status != http.StatusSeeOther {
		t.Fatalf("key upload: %d\n%s", res.Status, res.Body)
	}
	review := boss.get("/approvals/" + id)
	if res := boss.post("/approvals/"+id, url.Values{"csrf": {field(t, csrfField, review.Body)}, "password": {"not the password"}}); res.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong password unlocked the key: %d", res.Status)
	}
	if res := boss.post("/approvals/"+id, url.Values{"csrf": {field(t, csrfField, review.Body)}, "password": {"une phrase assez longue"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("approval: %d\n%s", res.Status, res.Body)
	}
	again := author.get("/compose?draft=" + id)
	f.Set("csrf", field(t, csrfField, again.Body))
	f.Set("draft", id)
	if res := author.post("/compose", f); res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/transfers/"+id {
		t.Fatalf("sending the approved override: %d %s\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}
	out, err := ci.agent.Outbox(context.Background(), agent.OutboxFilter{})
	if err != nil || len(out) != 1 || out[0].ID != id {
		t.Fatalf("outbox after sending: %v %+v", err, out)
	}
}

func TestLogoutLeavesNothingOfTheSessionInTheBrowser(t *testing.T) {
	w := newHubWorld(t)
	ci, b := newSite(t, w, "ci.dpe-man")
	ci.setup(t, b, "awa")
	inbox := b.get("/inbox")
	res := b.post("/logout", url.Values{"csrf": {field(t, csrfField, inbox.Body)}})
	if res.Header.Get("Clear-Site-Data") == "" || res.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d %v", res.Status, res.Header)
	}
	if res := b.get("/inbox"); res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("the inbox after logout: %d %s", res.Status, res.Header.Get("Location"))
	}
}
