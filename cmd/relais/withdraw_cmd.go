package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
)

func withdrawCmd() *cobra.Command {
	var cf clientFlags
	var consentRef, caseRef, at string
	var statusOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "withdraw",
		Short: "Withdraw a consent: tell every agency that received data under it, and show who has acknowledged",
		Long: `When the child or their representative withdraws consent, the agency that
recorded it runs:
  relais withdraw --keys DIR --consent CONSENT-REF --case CASE-REF
The hub says which agencies received data under that consent; each gets a
consent.withdrawn notice in its transfer, and the hub from then on refuses
every message under the consent except closure and erasure. Each
recipient acknowledges the notice with a signed receipt ('relais inbox'
does it); 'relais withdraw --status' shows who has and who has not.
Running the command again only notifies the agencies not yet notified.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if consentRef == "" {
				return errors.New("--consent is required")
			}
			out := cmd.OutOrStdout()
			if statusOnly {
				st, err := c.ConsentStatus(cmd.Context(), consentRef)
				if err != nil {
					return err
				}
				return printConsentStatus(out, st, cf.Lang, asJSON)
			}
			if caseRef == "" {
				return errors.New("--case is required: your case reference the consent belongs to")
			}
			w := agency.Withdrawal{ConsentRef: consentRef, Case: caseRef}
			if at != "" {
				if w.WithdrawnAt, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at: %q is not an RFC 3339 time", at)
				}
			}
			sent, st, err := c.Withdraw(cmd.Context(), w)
			if errors.Is(err, agency.ErrNoRecipients) {
				say(out, cf.Lang, "Aucun service n'a reçu de données sous ce consentement : il n'y a personne à prévenir, et rien n'a été envoyé au hub.",
					"No agency received data under this consent: there is no one to tell, and nothing was sent to the hub.")
				return nil
			}
			refused := 0
			for _, s := range sent {
				switch {
				case s.AlreadySent:
					say(out, cf.Lang, "  %s : avis de retrait déjà envoyé", "  %s: withdrawal notice already sent", s.Agency)
				case s.Erasing:
					say(out, cf.Lang, "  %s : effacement de ses copies déjà demandé, pas d'avis à envoyer", "  %s: erasure of its copies already requested, no notice to send", s.Agency)
				case s.Err != nil:
					refused++
					say(out, cf.Lang, "  %s : avis de retrait REFUSÉ : %v", "  %s: withdrawal notice REFUSED: %v", s.Agency, s.Err)
					explainRefusal(out, s.Err, cf.Lang)
				default:
					say(out, cf.Lang, "  %s : avis de retrait envoyé (message %s)", "  %s: withdrawal notice sent (message %s)", s.Agency, s.MessageID)
				}
			}
			if err != nil {
				return err
			}
			if err := printConsentStatus(out, st, cf.Lang, asJSON); err != nil {
				return err
			}
			if refused > 0 {
				return fmt.Errorf("%d avis de retrait refusé(s) / %d withdrawal notice(s) refused", refused, refused)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&consentRef, "consent", "", "the consent reference, as written in your messages' consent.ref")
	cmd.Flags().StringVar(&caseRef, "case", "", "your case reference the consent belongs to")
	cmd.Flags().StringVar(&at, "at", "", "when consent was withdrawn, RFC 3339 (default: now)")
	cmd.Flags().BoolVar(&statusOnly, "status", false, "only show who received data under the consent and who has acknowledged the withdrawal")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// printConsentStatus shows, per recipient, whether the withdrawal notice
// was sent, delivered and acknowledged, then who is still missing.
func printConsentStatus(out io.Writer, st agency.ConsentStatus, lang string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprint(out, renderConsentStatus(st, lang))
	return nil
}

func renderConsentStatus(st agency.ConsentStatus, lang string) string {
	var b strings.Builder
	en := isEnglish(lang)
	if st.Withdrawn {
		b.WriteString(pick(en, "Consentement retiré : le hub refuse tout nouveau message sous ce consentement, sauf clôture et effacement.\n",
			"Consent withdrawn: the hub refuses every new message under this consent, except closure and erasure.\n"))
	} else {
		b.WriteString(pick(en, "Consentement non retiré.\n", "Consent not withdrawn.\n"))
	}
	fmt.Fprintf(&b, pick(en, "Services ayant reçu des données sous ce consentement : %d\n", "Agencies that received data under this consent: %d\n"), len(st.Recipients))
	width := 0
	for _, r := range st.Recipients {
		width = max(width, len(r.Agency))
	}
	for _, r := range st.Recipients {
		state := noticeState(r.Notice, en)
		if r.Notice == nil && r.Erasing {
			state = pick(en, "effacement de ses copies demandé ou fait : pas d'avis nécessaire", "erasure of its copies requested or done: no notice needed")
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.Agency, state)
	}
	if len(st.Recipients) > 0 {
		fmt.Fprintf(&b, pick(en, "Accusés de réception : %d sur %d", "Acknowledgements: %d of %d"), st.Acknowledged, st.Acknowledged+len(st.Unacknowledged))
		if len(st.Unacknowledged) > 0 {
			fmt.Fprintf(&b, pick(en, " ; manquent : %s", "; missing: %s"), strings.Join(st.Unacknowledged, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func noticeState(n *agency.WithdrawalNotice, en bool) string {
	switch {
	case n == nil:
		return pick(en, "aucun avis de retrait envoyé", "no withdrawal notice sent")
	case n.Acknowledged:
		return fmt.Sprintf(pick(en, "avis envoyé le %s ; accusé de réception signé le %s (message %s)", "notice sent %s; signed receipt %s (message %s)"),
			utcMinute(n.SentAt), utcMinute(*n.AcknowledgedAt), n.Receipt)
	case n.Erased:
		return fmt.Sprintf(pick(en, "avis envoyé le %s ; transfert effacé depuis, chaque partie l'ayant confirmé", "notice sent %s; the transfer was since erased, every party confirming it"), utcMinute(n.SentAt))
	case n.DeliveredAt != nil:
		return fmt.Sprintf(pick(en, "avis envoyé le %s, remis le %s ; PAS ENCORE d'accusé de réception", "notice sent %s, delivered %s; NOT YET acknowledged"),
			utcMinute(n.SentAt), utcMinute(*n.DeliveredAt))
	default:
		return fmt.Sprintf(pick(en, "avis envoyé le %s, pas encore remis", "notice sent %s, not yet delivered"), utcMinute(n.SentAt))
	}
}
