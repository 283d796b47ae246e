package consent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// TestRecipientReportsUndeclaredCategories: Côte d'Ivoire sends a referral
// whose encrypted body carries health notes its envelope does not declare
// (the hub cannot see it). Mali's `relais inbox` keeps the message, marks
// it, warns, receipts it, and sends a policy.violation back naming the
// message, the code and the category — never the content. Pulling again
// reports nothing twice.
func TestRecipientReportsUndeclaredCategories(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID})
	ctx := context.Background()
	ci, ml := w.party(ciID), w.party(mlID)

	d := referral(mlID, "CI-VIOL-0001", "CI-VIOL-CONS-1")
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatal(err)
	}
	const secret = "Paludisme traité en novembre"
	body["health_notes"] = secret
	d.Body, _ = json.Marshal(body)
	env, _, err := ci.Client.Send(ctx, d)
	if err != nil {
		t.Fatalf("the hub refused a referral whose body it cannot read: %v", err)
	}
	declared := referral(mlID, "", "").DataCategories
	if slices.Contains(declared, "health") {
		t.Fatalf("the test referral declares health: %v", declared)
	}

	var pulled relaistest.Result
	eventually(t, 10*time.Second, func() error {
		pulled = relais(t, w.cli(mlID, "inbox", "--wait", "1s")...)
		if !strings.Contains(pulled.Stdout, env.ID) {
			return fmt.Errorf("the referral is not pulled yet: %s %s", pulled.Stdout, pulled.Stderr)
		}
		return nil
	})
	mustContain(t, pulled.Stderr, "⚠ message "+env.ID+" de "+ciID, "catégories non déclarées (health)", "conservé et marqué", "signalement policy.violation envoyé à "+ciID)
	if strings.Contains(pulled.Stdout+pulled.Stderr, secret) {
		t.Errorf("the warning quotes the body")
	}

	var stored struct {
		Violation *struct {
			Code       string   `json:"code"`
			Categories []string `json:"categories"`
			Report     string   `json:"report"`
			Reported   bool     `json:"reported"`
		} `json:"policy_violation"`
		Body map[string]any `json:"body"`
	}
	raw, err := os.ReadFile(filepath.Join(ml.KeyDir, "inbox", env.ID+".json"))
	if err != nil {
		t.Fatalf("the message was not kept: %v", err)
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	v := stored.Violation
	if v == nil || v.Code != "body_category_mismatch" || !slices.Equal(v.Categories, []string{"health"}) || !v.Reported || !contracts.ValidMessageID(v.Report) {
		t.Fatalf("the stored message is not marked as a reported violation: %+v", v)
	}
	if stored.Body["health_notes"] != secret {
		t.Errorf("the kept body is not the one received")
	}
	if m, err := w.store.Message(ctx, env.ID); err != nil || m.ReceiptedAt.IsZero() {
		t.Errorf("the violating message was not receipted (%v)", err)
	}

	report := receiveKind(t, ci.Client, "policy.violation")
	var got contracts.PolicyViolation
	if err := json.Unmarshal(report.Plaintext, &got); err != nil {
		t.Fatal(err)
	}
	want := contracts.PolicyViolation{ViolatedMessage: env.ID, Code: "body_category_mismatch", Categories: []string{"health"}}
	if got.ViolatedMessage != want.ViolatedMessage || got.Code != want.Code || !slices.Equal(got.Categories, want.Categories) ||
		report.Envelope.InReplyTo != env.ID || report.Envelope.Transfer != env.Transfer || report.Envelope.ID != v.Report {
		t.Fatalf("Côte d'Ivoire received %+v in %+v, want %+v in reply to %s", got, report.Envelope, want, env.ID)
	}

	relais(t, w.cli(mlID, "inbox")...)
	if n := countSent(t, w, mlID, "policy.violation"); n != 1 {
		t.Errorf("Mali sent %d policy.violation reports, want 1", n)
	}
}

// receiveKind waits for a message of kind in c's inbox and opens it.
func receiveKind(t *testing.T, c *agency.Client, kind string) agency.Opened {
	t.Helper()
	var found agency.Opened
	eventually(t, 10*time.Second, func() error {
		items, _, err := c.Inbox(context.Background(), "", 0)
		if err != nil {
			return err
		}
		for _, it := range items {
			o, err := c.Open(context.Background(), []byte(it.JWS))
			if err != nil {
				return err
			}
			if o.Envelope.Kind == kind {
				found = o
				return nil
			}
		}
		return fmt.Errorf("no %s in %s's inbox", kind, c.Keys.ID)
	})
	return found
}

// countSent counts the messages of kind the agency sent, in its
// transfers' trails as the hub accepted them.
func countSent(t *testing.T, w *world, from, kind string) int {
	t.Helper()
	rows, err := w.store.DB().Query(`SELECT COUNT(*) FROM messages WHERE sender = ? AND kind = ?`, from, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestRecipientReportsABodyThatIsNotItsKind: a referral whose decrypted
// body is not even JSON (a faulty sender; the hub cannot see it) is kept
// as received, marked body_invalid and reported.
func TestRecipientReportsABodyThatIsNotItsKind(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID})
	ctx := context.Background()
	d := referral(mlID, "CI-VIOL-0002", "CI-VIOL-CONS-2")
	env := contracts.Envelope{V: 1, ID: contracts.NewMessageID(), Kind: d.Kind, From: ciID, To: mlID, Case: d.Case,
		SentAt: time.Now().UTC().Truncate(time.Millisecond), Purpose: d.Purpose, DataCategories: d.DataCategories, Consent: d.Consent}
	env.Transfer = env.ID
	if _, err := w.party(ciID).Client.Submit(ctx, sealByHand(t, w, env, []byte("not a referral"))); err != nil {
		t.Fatalf("the hub refused a referral whose body it cannot read: %v", err)
	}
	var pulled relaistest.Result
	eventually(t, 10*time.Second, func() error {
		pulled = relais(t, w.cli(mlID, "inbox", "--wait", "1s", "--lang", "en")...)
		if !strings.Contains(pulled.Stdout, env.ID) {
			return fmt.Errorf("the referral is not pulled yet: %s %s", pulled.Stdout, pulled.Stderr)
		}
		return nil
	})
	mustContain(t, pulled.Stderr, "⚠ message "+env.ID+" from "+ciID+": the body does not follow its kind's format — kept and marked; policy.violation report sent")
	var stored struct {
		RawBody   []byte `json:"raw_body"`
		Violation struct {
			Code     string `json:"code"`
			Reported bool   `json:"reported"`
		} `json:"policy_violation"`
	}
	raw, err := os.ReadFile(filepath.Join(w.party(mlID).KeyDir, "inbox", env.ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if string(stored.RawBody) != "not a referral" || stored.Violation.Code != "body_invalid" || !stored.Violation.Reported {
		t.Fatalf("stored %s", raw)
	}
	var got contracts.PolicyViolation
	if err := json.Unmarshal(receiveKind(t, w.party(ciID).Client, "policy.violation").Plaintext, &got); err != nil {
		t.Fatal(err)
	}
	if got.ViolatedMessage != env.ID || got.Code != "body_invalid" || len(got.Categories) != 0 {
		t.Fatalf("Côte d'Ivoire received %+v", got)
	}
}
