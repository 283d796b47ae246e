package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts/seal"
)

// transferItem is one transfer as GET /v1/transfers lists it.
type transferItem struct {
	Transfer  string         `json:"transfer"`
	State     string         `json:"state"`
	Role      string         `json:"role"`
	Sender    string         `json:"sender"`
	Recipient string         `json:"recipient"`
	Holder    string         `json:"holder"`
	OpenedAt  time.Time      `json:"opened_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Previous  string         `json:"previous,omitempty"`
	Allowed   []string       `json:"allowed"`
	Overdue   []deadlineItem `json:"overdue"`
}

type deadlineItem struct {
	Timer       string    `json:"timer"`
	Stage       string    `json:"stage"`
	Party       string    `json:"party"`
	DueAt       time.Time `json:"due_at"`
	FiredAt     time.Time `json:"fired_at"`
	MessageID   string    `json:"message_id,omitempty"`
	EscalatedTo string    `json:"escalated_to,omitempty"`
}

func transfersCmd() *cobra.Command {
	var cf clientFlags
	var state string
	var overdue, asJSON bool
	cmd := &cobra.Command{
		Use:   "transfers",
		Short: "List this agency's transfers: where each stands, who holds the case, which deadlines passed",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			list, err := listTransfers(cmd.Context(), c, state, overdue)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			fmt.Fprint(cmd.OutOrStdout(), renderTransfers(c.Keys.ID, list, cf.Lang))
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only transfers in this state (requested, accepted, following_up, …)")
	cmd.Flags().BoolVar(&overdue, "overdue", false, "only transfers with a passed deadline still unmet")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// listTransfers calls GET /v1/transfers with a fresh agency token.
func listTransfers(ctx context.Context, c *agency.Client, state string, overdue bool) ([]transferItem, error) {
	dir, err := c.Directory(ctx, false)
	if err != nil {
		return nil, err
	}
	tok, err := seal.IssueToken(c.Keys.Signing, c.Keys.ID, dir.Hub.ID, 2*time.Minute, time.Now())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if overdue {
		q.Set("overdue", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Hub+"/v1/transfers?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept-Language", c.Lang)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("transfers: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, hubError(resp, raw)
	}
	var page struct {
		Transfers []transferItem `json:"transfers"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, fmt.Errorf("transfers: %w", err)
	}
	return page.Transfers, nil
}

// hubError reads a problem+json answer as the agency client does.
func hubError(resp *http.Response, raw []byte) error {
	he := &agency.HubError{Status: resp.StatusCode}
	if json.Unmarshal(raw, &he.Raw) == nil {
		he.Code, _ = he.Raw["code"].(string)
		he.Title, _ = he.Raw["title"].(string)
		he.Detail, _ = he.Raw["detail"].(string)
	}
	if he.Code == "" {
		he.Code, he.Title = "http_"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	return he
}

// renderTransfers prints the list for a case worker, in French or English.
func renderTransfers(self string, list []transferItem, lang string) string {
	var b strings.Builder
	fmt.Fprintf(&b, pickLang(lang, "Transferts de %s : %d\n", "Transfers of %s: %d\n"), self, len(list))
	for _, t := range list {
		var who string
		switch t.Role {
		case "sender":
			who = pickLang(lang, "envoyé à ", "sent to ") + t.Recipient
		case "recipient":
			who = pickLang(lang, "reçu de ", "received from ") + t.Sender
		default:
			who = pickLang(lang, "signalé à la direction : ", "escalated to the directorate: ") + t.Sender + " → " + t.Recipient
		}
		fmt.Fprintf(&b, "  %s  %s · %s · %s %s · %s %s UTC\n", t.Transfer, stateLabel(t.State, lang), who,
			pickLang(lang, "cas détenu par", "case held by"), t.Holder,
			pickLang(lang, "mis à jour", "updated"), t.UpdatedAt.UTC().Format("2006-01-02 15:04"))
		if t.Previous != "" {
			fmt.Fprintf(&b, "      %s %s\n", pickLang(lang, "suite du transfert", "continues transfer"), t.Previous)
		}
		for _, d := range t.Overdue {
			if d.Stage != "reminder" {
				continue
			}
			line := fmt.Sprintf(pickLang(lang, "⚠ en retard : %s attendu de %s depuis le %s", "⚠ overdue: %s expected from %s since %s"),
				label(timerLabels, d.Timer, lang), d.Party, d.DueAt.UTC().Format("2006-01-02 15:04")+" UTC")
			if esc := escalationOf(t.Overdue, d); esc != nil {
				to := esc.EscalatedTo
				if to == "" {
					to = pickLang(lang, "aucune direction enregistrée", "no directorate registered")
				}
				line += pickLang(lang, " · signalé à ", " · reported to ") + to
			}
			b.WriteString("      " + line + "\n")
		}
		if len(t.Allowed) > 0 {
			fmt.Fprintf(&b, "      %s %s\n", pickLang(lang, "messages possibles :", "you may send:"), strings.Join(t.Allowed, ", "))
		}
	}
	return b.String()
}

// escalationOf finds the fired escalation of the same deadline.
func escalationOf(list []deadlineItem, reminder deadlineItem) *deadlineItem {
	for i, d := range list {
		if d.Stage == "escalation" && d.Timer == reminder.Timer && d.Party == reminder.Party && d.MessageID == reminder.MessageID {
			return &list[i]
		}
	}
	return nil
}
