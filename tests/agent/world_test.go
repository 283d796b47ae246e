package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// The two agencies of the tests: an Ivorian office refers children to the
// Malian directorate. The shipped bf-ci-ml agreement covers them.
const (
	senderID    = "ci.dpe-abidjan"
	recipientID = "ml.dnpef"
)

// network is a hub process and the sites around it.
type network struct {
	Root       string
	Hub        *relaistest.Hub
	AdminToken string
}

func newNetwork(t *testing.T) *network {
	t.Helper()
	root := t.TempDir()
	n := &network{Root: root}
	n.Hub = relaistest.StartServe(t, t, relaisBin, relaistest.FreeAddr(t), filepath.Join(root, "hub-data"), filepath.Join(root, "hub.log"))
	tok, err := os.ReadFile(filepath.Join(n.Hub.Data, "admin.token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	n.AdminToken = strings.TrimSpace(string(tok))
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(n.Hub.Log)
			t.Logf("hub log (end):\n%s", tail(log, 6000))
		}
	})
	return n
}

// restartHub starts the hub again on the same address and data.
func (n *network) restartHub(t *testing.T) {
	t.Helper()
	n.Hub = relaistest.StartServe(t, t, relaisBin, n.Hub.Addr, n.Hub.Data, n.Hub.Log)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// site is one agency's agent directory and its `relais agent run` process.
type site struct {
	ID, Dir, Log, HubURL string
	runArgs              []string

	mu   sync.Mutex
	proc *process
}

// newSite creates the agent with `relais agent init` and registers its
// keys with `relais agent register`; hubURL is what the agent dials (the
// hub, or a proxy in front of it).
func (n *network) newSite(t *testing.T, id, hubURL string, runArgs ...string) *site {
	t.Helper()
	s := &site{ID: id, Dir: filepath.Join(n.Root, id), Log: filepath.Join(n.Root, id+".log"), HubURL: hubURL, runArgs: runArgs}
	relaistest.MustRun(t, relaisBin, "agent", "init", "--dir", s.Dir, "--id", id, "--hub", hubURL)
	relaistest.MustRun(t, relaisBin, "agent", "register", "--dir", s.Dir, "--name", id, "--admin-token", n.AdminToken)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			log, _ := os.ReadFile(s.Log)
			t.Logf("%s agent log (end):\n%s", id, tail(log, 4000))
		}
	})
	return s
}

// process is a started relais subprocess.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startProcess(logPath string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = relaistest.CleanEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// done reports whether the process exited, and whether it succeeded.
func (p *process) done() (exited, ok bool) {
	select {
	case <-p.exited:
		return true, p.cmd.ProcessState.Success()
	default:
		return false, false
	}
}

// agentRunArgs make `agent run` retry fast, so that the tests measure the
// protocol rather than the production backoff of minutes.
var agentRunArgs = []string{"--min-backoff", "20ms", "--max-backoff", "1s", "--wait", "2s", "--poll", "100ms"}

// start runs `relais agent run` for the site.
func (s *site) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		if exited, _ := s.proc.done(); !exited {
			return nil
		}
	}
	args := append([]string{"agent", "run", "--dir", s.Dir}, agentRunArgs...)
	p, err := startProcess(s.Log, append(args, s.runArgs...)...)
	if err != nil {
		return fmt.Errorf("start %s agent: %w", s.ID, err)
	}
	s.proc = p
	return nil
}

func (s *site) mustStart(t *testing.T) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// kill SIGKILLs the agent: no deferred function, no final commit runs.
func (s *site) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// stop asks the agent to stop with SIGTERM, and kills it if it lingers.
func (s *site) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.proc.exited:
	case <-time.After(15 * time.Second):
		s.proc.kill()
	}
	s.proc = nil
}

// running reports whether the agent process is alive.
func (s *site) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	exited, _ := s.proc.done()
	return !exited
}

// open opens the site's agent directory in the test process, without the
// keys, to inspect its database (shared with the agent process: WAL).
func (s *site) open(t *testing.T) *agent.Agent {
	t.Helper()
	a, err := agent.Open(context.Background(), s.Dir, agent.Options{WithoutKeys: true})
	if err != nil {
		t.Fatalf("open %s: %v", s.ID, err)
	}
	return a
}

func (s *site) status(t *testing.T) agent.Status {
	t.Helper()
	a := s.open(t)
	defer a.Close()
	st, err := a.Status(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// received returns the site's stored messages by id (receipts included).
func (s *site) received(t *testing.T) map[string]agent.Received {
	t.Helper()
	a := s.open(t)
	defer a.Close()
	list, err := a.Inbox(context.Background(), agent.InboxFilter{IncludeReceipts: true})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]agent.Received, len(list))
	for _, r := range list {
		if _, dup := out[r.Envelope.ID]; dup {
			t.Fatalf("%s stored %s twice", s.ID, r.Envelope.ID)
		}
		out[r.Envelope.ID] = r
	}
	return out
}

// outbox returns the site's outbox items by id (receipts included).
func (s *site) outbox(t *testing.T) map[string]agent.Outgoing {
	t.Helper()
	a := s.open(t)
	defer a.Close()
	list, err := a.Outbox(context.Background(), agent.OutboxFilter{IncludeReceipts: true})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]agent.Outgoing, len(list))
	for _, o := range list {
		out[o.ID] = o
	}
	return out
}

// client is an agency client with the site's keys, talking to the hub
// directly, to read transfer trails.
func (s *site) client(t *testing.T, hubURL string) *agency.Client {
	t.Helper()
	keys, err := agency.Load(filepath.Join(s.Dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	return agency.New(hubURL, keys)
}

// referralDrafts writes count referral drafts from the sender to the
// recipient, each with a preset id, into one file, and returns the path
// and the ids.
func referralDrafts(t *testing.T, dir, name string, count int) (string, []string) {
	t.Helper()
	drafts := make([]agency.Draft, 0, count)
	ids := make([]string, 0, count)
	for range count {
		id := contracts.NewMessageID()
		ids = append(ids, id)
		drafts = append(drafts, referralDraft(id, "CI-ABJ-2026-"+id[len(id)-6:]))
	}
	raw, err := json.MarshalIndent(drafts, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// referralCategories are those the typical referral body uses.
var referralCategories = []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "narrative"}

// typicalReferral is a referral body of the usual size: a child, her
// family, the concerns, a narrative of a few lines (about 1.9 KB).
const typicalReferral = `{
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
  "narrative": "Kadiatou a été identifiée le 14 janvier 2026 à la gare routière d'Adjamé par l'équipe mobile.\nElle dit avoir quitté Ségou en novembre 2025 avec une voisine qui lui avait promis une place d'apprentie couturière.\nElle souhaite retourner auprès de sa mère et reprendre l'école.",
  "urgency": "high",
  "requested_services": ["family_tracing", "family_assessment", "return_assistance"]
}`

func referralDraft(id, caseRef string) agency.Draft {
	return agency.Draft{
		ID: id, Kind: "referral.request", To: recipientID, Case: caseRef, Purpose: "protection_referral",
		DataCategories: referralCategories,
		Consent: &contracts.Consent{
			Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{"ml"}, Purposes: []string{"protection_referral", "family_tracing"},
			DataCategories: referralCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		},
		Body: json.RawMessage(typicalReferral),
	}
}

// composeUntilQueued runs `relais agent compose` with the drafts file (and
// the extra arguments, e.g. --attach FILE), kills it after killAfter (when
// positive) and runs it again, without killing, until it exits 0. It
// reports whether a kill interrupted a compose.
func composeUntilQueued(s *site, file string, killAfter time.Duration, extra ...string) (interrupted bool, err error) {
	args := append([]string{"agent", "compose", "--dir", s.Dir, "--file", file}, extra...)
	if killAfter > 0 {
		p, err := startProcess(s.Log, args...)
		if err != nil {
			return false, err
		}
		select {
		case <-p.exited:
		case <-time.After(killAfter):
			p.kill()
		}
		if _, ok := p.done(); ok {
			return false, nil
		}
		interrupted = true
	}
	for attempt := 0; attempt < 5; attempt++ {
		p, err := startProcess(s.Log, args...)
		if err != nil {
			return interrupted, err
		}
		select {
		case <-p.exited:
		case <-time.After(60 * time.Second):
			p.kill()
		}
		if _, ok := p.done(); ok {
			return interrupted, nil
		}
	}
	return interrupted, fmt.Errorf("compose %s kept failing (see %s)", file, s.Log)
}

// seed makes a run's random choices reproducible: RELAIS_AGENT_SEED
// replays a logged run.
func seed(t *testing.T) *rand.Rand {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("RELAIS_AGENT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RELAIS_AGENT_SEED: %v", err)
		}
		s = n
	}
	t.Logf("random seed %d (RELAIS_AGENT_SEED=%d replays it)", s, s)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// settled waits until every id is stored by the recipient, every item of
// both outboxes left, and every referral is receipted at the sender.
func settled(t *testing.T, sender, recipient *site, ids []string, timeout time.Duration) {
	t.Helper()
	relaistest.Eventually(t, timeout, 250*time.Millisecond, func() error {
		got := recipient.received(t)
		missing := 0
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d referrals not yet stored by %s", missing, len(ids), recipient.ID)
		}
		for _, s := range []*site{sender, recipient} {
			if st := s.status(t); st.Queued > 0 || st.AwaitingReceipt > 0 {
				return fmt.Errorf("%s: %d queued, %d awaiting a receipt", s.ID, st.Queued, st.AwaitingReceipt)
			}
		}
		return nil
	})
}

// assertExactlyOnce checks, once everything settled, that each referral was
// accepted and delivered once by the hub, stored once by the recipient and
// receipted by it only after it was stored, that the recipient stored no
// referral it was not sent, and that nothing was refused.
func assertExactlyOnce(t *testing.T, hubURL string, sender, recipient *site, ids []string) {
	t.Helper()
	ctx := context.Background()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	got := recipient.received(t)
	receiptOf := map[string]agent.Outgoing{}
	for _, o := range recipient.outbox(t) {
		if o.Kind == "receipt" {
			if prev, dup := receiptOf[o.InReplyTo]; dup {
				t.Errorf("%s receipted %s twice (%s and %s)", recipient.ID, o.InReplyTo, prev.ID, o.ID)
			}
			receiptOf[o.InReplyTo] = o
		}
	}
	for id, r := range got {
		if r.Envelope.Kind == "referral.request" && !want[id] {
			t.Errorf("%s stored a referral nobody composed: %s", recipient.ID, id)
		}
	}
	sent := sender.outbox(t)
	c := sender.client(t, hubURL)
	for _, id := range ids {
		if o := sent[id]; o.State != agent.StateSent || o.ReceiptedAt.IsZero() {
			t.Errorf("%s at the sender: %s, receipted %v (refused: %s)", id, o.State, !o.ReceiptedAt.IsZero(), o.RefusedCode)
		}
		r, ok := got[id]
		if !ok {
			t.Errorf("%s was not stored by %s", id, recipient.ID)
			continue
		}
		if !strings.Contains(string(r.Plaintext), "Kadiatou Aminata") {
			t.Errorf("%s: the stored body is not the referral", id)
		}
		receipt, ok := receiptOf[id]
		if !ok {
			t.Errorf("%s was never receipted", id)
			continue
		}
		trail, err := c.Trail(ctx, id)
		if err != nil {
			t.Fatalf("trail %s: %v", id, err)
		}
		var accepted, delivered int
		var receiptAccepted time.Time
		for _, e := range trail.Events {
			switch {
			case e.MessageID == id && e.Type == "accepted":
				accepted++
			case e.MessageID == id && e.Type == "delivered":
				delivered++
			case e.MessageID == receipt.ID && e.Type == "accepted":
				receiptAccepted = e.At
			}
		}
		if accepted != 1 || delivered != 1 {
			t.Errorf("%s: %d accepted and %d delivered events at the hub, want 1 and 1", id, accepted, delivered)
		}
		if receiptAccepted.IsZero() {
			t.Errorf("%s: the hub never accepted its receipt %s", id, receipt.ID)
		} else if receiptAccepted.Before(r.StoredAt) {
			t.Errorf("%s: receipt accepted by the hub at %s, before the message was stored at %s", id, receiptAccepted, r.StoredAt)
		}
	}
}

// errs collects the errors of background goroutines, which must not call
// t.Fatal.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err)
}

func (e *errs) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := errors.Join(e.list...); err != nil {
		t.Fatal(err)
	}
}
