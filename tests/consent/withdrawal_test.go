package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// TestWithdrawalEndToEnd: Côte d'Ivoire shared a child's file under one
// consent with three agencies (Mali twice). The child withdraws consent;
// `relais withdraw` notifies each agency once, in a transfer it is party
// to. From then on the hub refuses every message under the consent except
// closure, revocation and erasure; each agency's `relais inbox` receipts
// the notice, and the status shows who has acknowledged, and before that,
// who had not.
func TestWithdrawalEndToEnd(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID, bfID, ouagaID})
	ctx := context.Background()
	ci, ml, bf := w.party(ciID), w.party(mlID), w.party(bfID)
	const consentRef, caseRef = "CI-ABJ-CONS-0077", "CI-ABJ-2026-0077"
	recipients := []string{bfID, ouagaID, mlID}

	transfers := map[string][]string{}
	for _, to := range []string{mlID, bfID, ouagaID, mlID} {
		env, _, err := ci.Client.Send(ctx, referral(to, caseRef, consentRef))
		if err != nil {
			t.Fatalf("referral to %s: %v", to, err)
		}
		transfers[to] = append(transfers[to], env.Transfer)
	}
	for _, id := range recipients {
		w.pullUntilEmpty(t, id, len(transfers[id]))
	}
	// Mali takes on the second case: closing it must remain possible.
	mustRelais(t, w.cli(mlID, "accept", "--transfer", transfers[mlID][1])...)

	before, err := ci.Client.ConsentStatus(ctx, consentRef)
	if err != nil {
		t.Fatal(err)
	}
	if before.Withdrawn || len(before.Recipients) != 3 || before.Notified != 0 {
		t.Fatalf("before the withdrawal the status is %+v, want three recipients, none notified", before)
	}
	for _, r := range before.Recipients {
		if want := transfers[r.Agency][len(transfers[r.Agency])-1]; r.Transfer != want {
			t.Errorf("the notice to %s would go in transfer %s, want its latest transfer %s", r.Agency, r.Transfer, want)
		}
	}
	if other, err := ml.Client.ConsentStatus(ctx, consentRef); err != nil || len(other.Recipients) != 0 {
		t.Errorf("Mali asking about Côte d'Ivoire's consent reference saw %+v (%v), want nothing", other, err)
	}

	out := mustRelais(t, w.cli(ciID, "withdraw", "--consent", consentRef, "--case", caseRef)...).Stdout
	for _, id := range recipients {
		mustContain(t, out, id+" : avis de retrait envoyé")
	}
	mustContain(t, out, "Consentement retiré", "Accusés de réception : 0 sur 3 ; manquent : bf.dpe-bobo, bf.dpe-ouaga, ml.dnpef")

	t.Run("after the withdrawal", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			from *party
			d    agency.Draft
			want contracts.Code // "" for accepted
		}{
			{"a new referral under the withdrawn consent is refused with consent_withdrawn",
				ci, referral(mlID, caseRef, consentRef), contracts.CodeConsentWithdrawn},
			{"Mali's acceptance of a transfer opened under it is refused with consent_withdrawn",
				ml, answer(ciID, caseRef, transfers[mlID][0], "referral.accepted", struct{}{}), contracts.CodeConsentWithdrawn},
			{"Burkina Faso's decline in a transfer opened under it is refused with consent_withdrawn",
				bf, answer(ciID, caseRef, transfers[bfID][0], "referral.declined", contracts.ReferralDeclined{Reason: "outside_mandate"}), contracts.CodeConsentWithdrawn},
			{"Mali may still close the case it holds",
				ml, answer(ciID, caseRef, transfers[mlID][1], "case.closed", contracts.CaseClosed{Reason: "other"}), ""},
			{"Côte d'Ivoire may still revoke its transfer to Ouagadougou",
				ci, answer(ouagaID, caseRef, transfers[ouagaID][0], "transfer.revoked", contracts.TransferRevoked{Reason: "consent_withdrawn"}), ""},
			{"Côte d'Ivoire may still have the transfer to Bobo-Dioulasso erased",
				ci, answer(bfID, caseRef, transfers[bfID][0], "case.erasure_requested", contracts.ErasureRequested{Reason: "consent_withdrawn"}), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := tc.from.Client.Send(ctx, tc.d)
				if got := hubCode(err); got != tc.want {
					t.Fatalf("got %q (%v), want %q", got, err, tc.want)
				}
			})
		}
	})

	missing, err := ci.Client.ConsentStatus(ctx, consentRef)
	if err != nil {
		t.Fatal(err)
	}
	if !missing.Withdrawn || missing.Notified != 3 || missing.Acknowledged != 0 || !slices.Equal(missing.Unacknowledged, recipients) {
		t.Fatalf("before any receipt the status is %+v, want three notices, none acknowledged", missing)
	}

	for _, id := range recipients {
		var told strings.Builder
		eventually(t, 10*time.Second, func() error {
			told.WriteString(relais(t, w.cli(id, "inbox", "--wait", "1s")...).Stderr)
			st, err := ci.Client.ConsentStatus(ctx, consentRef)
			if err != nil {
				return err
			}
			if slices.Contains(st.Unacknowledged, id) {
				return fmt.Errorf("%s has not acknowledged the withdrawal", id)
			}
			return nil
		})
		mustContain(t, told.String(), "⚠ "+ciID+" a retiré le consentement sous lequel il a partagé le transfert")
	}
	after, err := ci.Client.ConsentStatus(ctx, consentRef)
	if err != nil {
		t.Fatal(err)
	}
	if after.Acknowledged != 3 || len(after.Unacknowledged) != 0 {
		t.Fatalf("after the receipts the status is %+v, want three acknowledgements", after)
	}
	for _, r := range after.Recipients {
		trail, err := ci.Client.Trail(ctx, r.Notice.Transfer)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(trail.Events, func(e agency.TrailEvent) bool {
			return e.Type == "receipted" && e.MessageID == r.Notice.MessageID && strings.Contains(e.Detail, r.Notice.Receipt)
		}) {
			t.Errorf("the trail of %s does not show %s's receipt %s of the notice %s", r.Notice.Transfer, r.Agency, r.Notice.Receipt, r.Notice.MessageID)
		}
	}
	mustContain(t, mustRelais(t, w.cli(ciID, "withdraw", "--status", "--consent", consentRef, "--lang", "en")...).Stdout,
		"Consent withdrawn", "Acknowledgements: 3 of 3", "signed receipt")

	again := mustRelais(t, w.cli(ciID, "withdraw", "--consent", consentRef, "--case", caseRef)...).Stdout
	if n := strings.Count(again, "avis de retrait déjà envoyé"); n != 3 {
		t.Errorf("withdrawing again reported %d notices already sent, want 3:\n%s", n, again)
	}
	if st, _ := ci.Client.ConsentStatus(ctx, consentRef); st.Notified != 3 {
		t.Errorf("withdrawing again changed the notices: %+v", st)
	}
}

// pullUntilEmpty waits until n messages are delivered to id, then pulls
// them with `relais inbox`, which stores and receipts them.
func (w *world) pullUntilEmpty(t *testing.T, id string, n int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		items, err := w.store.Inbox(context.Background(), id, 0, 100)
		if err != nil {
			return err
		}
		if len(items) < n {
			return fmt.Errorf("%d of %d messages delivered to %s", len(items), n, id)
		}
		return nil
	})
	mustRelais(t, w.cli(id, "inbox")...)
}

// answer is a plain-bodied message within a transfer.
func answer(to, caseRef, transfer, kind string, body any) agency.Draft {
	raw, _ := json.Marshal(body)
	return agency.Draft{Kind: kind, To: to, Case: caseRef, Transfer: transfer, Body: raw}
}

// hubCode is the hub's refusal code, "" for nil.
func hubCode(err error) contracts.Code {
	if err == nil {
		return ""
	}
	var he *agency.HubError
	if !errors.As(err, &he) {
		return contracts.Code("not_a_refusal: " + err.Error())
	}
	return contracts.Code(he.Code)
}

// TestWithdrawalSkipsCopiesBeingErased: an agency whose only transfer
// under the consent is already being erased gets no notice (none can be
// added to that transfer, and the erasure removes the data); it is not
// counted as missing.
func TestWithdrawalSkipsCopiesBeingErased(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID, bfID})
	ctx := context.Background()
	ci := w.party(ciID)
	const consentRef, caseRef = "CI-ABJ-CONS-0078", "CI-ABJ-2026-0078"
	toMali, _, err := ci.Client.Send(ctx, referral(mlID, caseRef, consentRef))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ci.Client.Send(ctx, answer(mlID, caseRef, toMali.Transfer, "case.erasure_requested", contracts.ErasureRequested{Reason: "sent_in_error"})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ci.Client.Send(ctx, referral(bfID, caseRef, consentRef)); err != nil {
		t.Fatal(err)
	}

	out := mustRelais(t, w.cli(ciID, "withdraw", "--consent", consentRef, "--case", caseRef, "--lang", "en")...).Stdout
	mustContain(t, out, mlID+": erasure of its copies already requested, no notice to send", bfID+": withdrawal notice sent",
		"erasure of its copies requested or done: no notice needed", "Acknowledgements: 0 of 1; missing: "+bfID)
	st, err := ci.Client.ConsentStatus(ctx, consentRef)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Withdrawn || st.Notified != 1 || !slices.Equal(st.Unacknowledged, []string{bfID}) {
		t.Fatalf("status %+v, want one notice, to %s, unacknowledged", st, bfID)
	}
	w.pullUntilEmpty(t, bfID, 2)
	if st, _ := ci.Client.ConsentStatus(ctx, consentRef); st.Acknowledged != 1 || len(st.Unacknowledged) != 0 {
		t.Fatalf("after Burkina Faso's receipt the status is %+v", st)
	}
}
