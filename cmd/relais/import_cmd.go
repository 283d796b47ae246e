package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/csvimport"
	"github.com/relais-hub/relais/adapters/primero"
	"github.com/relais-hub/relais/contracts"
)

func importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Send referrals from the systems agencies already use: spreadsheet exports (csv), Primero / CPIMS+ (primero)",
	}
	cmd.AddCommand(importCSVCmd(), importPrimeroCmd())
	return cmd
}

func importCSVCmd() *cobra.Command {
	var cf clientFlags
	var mappingFile, file string
	var dryRun, skipRejected bool
	cmd := &cobra.Command{
		Use:   "csv",
		Short: "Send one referral per row of a spreadsheet export (CaseData and the like), through a mapping file",
		Long: `The mapping file (YAML) accounts for every column of the sheet: the contract
field it feeds (with a table of values, a date layout, a list separator) or
the reason it is not imported. --dry-run checks every row and reports each
rejected row with its line, column, contract field and rule, never the
cell's value. A real run sends nothing while rows are rejected, unless
--skip-rejected is given.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := readMapping(mappingFile)
			if err != nil {
				return err
			}
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			var client *agency.Client
			var from string
			if !dryRun || cf.Keys != "" {
				if client, err = cf.client(); err != nil {
					return err
				}
				from = client.Keys.ID
			}
			res, err := m.Convert(f, csvimport.Options{From: from})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				return csvimport.WriteReport(out, res, cf.Lang)
			}
			if rejected := len(res.Rows) - res.Accepted(); rejected > 0 && !skipRejected {
				if err := csvimport.WriteReport(out, res, cf.Lang); err != nil {
					return err
				}
				return fmt.Errorf("%s", importText(cf.Lang,
					fmt.Sprintf("%d ligne(s) rejetée(s) : rien n'a été envoyé. Corrigez-les, ou envoyez les autres avec --skip-rejected", rejected),
					fmt.Sprintf("%d row(s) rejected: nothing was sent. Fix them, or send the others with --skip-rejected", rejected)))
			}
			return sendRows(cmd.Context(), out, client, res, cf.Lang)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&mappingFile, "mapping", "", "mapping file (YAML): columns → contract fields")
	cmd.Flags().StringVar(&file, "file", "", "the CSV export")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check every row and report, send nothing (keys optional)")
	cmd.Flags().BoolVar(&skipRejected, "skip-rejected", false, "send the accepted rows even when others are rejected")
	_ = cmd.MarkFlagRequired("mapping")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func readMapping(path string) (*csvimport.Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := csvimport.LoadMapping(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// sendRows seals and submits each accepted row, reporting rows by line
// number only.
func sendRows(ctx context.Context, out io.Writer, c *agency.Client, res csvimport.Result, lang string) error {
	sent, failed := 0, 0
	for _, row := range res.Rows {
		if row.Draft == nil {
			continue
		}
		env, s, err := c.Send(ctx, *row.Draft)
		if err != nil {
			failed++
			fmt.Fprintf(out, importText(lang, "ligne %d : non envoyée : %v\n", "line %d: not sent: %v\n"), row.Row, err)
			continue
		}
		sent++
		fmt.Fprintf(out, importText(lang, "ligne %d → message %s (journal n°%d)\n", "line %d → message %s (log entry #%d)\n"), row.Row, env.ID, s.LeafIndex)
	}
	fmt.Fprintf(out, importText(lang, "%d référencement(s) envoyé(s), %d échec(s), %d ligne(s) rejetée(s).\n",
		"%d referral(s) sent, %d failed, %d row(s) rejected.\n"), sent, failed, len(res.Rows)-res.Accepted())
	if failed > 0 {
		return fmt.Errorf(importText(lang, "%d référencement(s) non envoyé(s) : voir les lignes ci-dessus", "%d referral(s) not sent: see the lines above"), failed)
	}
	return nil
}

func importPrimeroCmd() *cobra.Command {
	var cf clientFlags
	var caseFile, transitionFile, configFile, to, approvalFile string
	var dryRun, withholdingReviewed bool
	cmd := &cobra.Command{
		Use:   "primero",
		Short: "Send a Primero / CPIMS+ case and its Referral or Transfer as a referral",
		Long: `Reads a case (GET /api/v2/cases/:id) and its transition (a Referral or a
Transfer) as Primero's API v2 returns them, maps them to a referral.request
and prints what became of every field (mapped, or dropped and why; never a
value). Consent comes from Primero's consent fields: without consent to
share, only an overridden transition with a mapped reason and a
supervisor's approval (--override-approval) can be sent.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := primero.DefaultOptions()
			if configFile != "" {
				f, err := os.Open(configFile)
				if err != nil {
					return err
				}
				o, err = primero.LoadOptions(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", configFile, err)
				}
			}
			if to != "" {
				o.To = to
			}
			if approvalFile != "" {
				raw, err := os.ReadFile(approvalFile)
				if err != nil {
					return err
				}
				o.OverrideApproval = strings.TrimSpace(string(raw))
			}
			o.WithholdingReviewed = withholdingReviewed
			c, t, err := readPrimero(caseFile, transitionFile)
			if err != nil {
				return err
			}
			d, rep, err := primero.ToDraft(c, t, o)
			out := cmd.OutOrStdout()
			if dryRun || err != nil {
				if werr := rep.Write(out, cf.Lang); werr != nil {
					return werr
				}
			}
			if err != nil {
				p := contracts.AsProblem(err)
				return fmt.Errorf("%s (%s) : %s", p.Code.Title(cf.Lang), p.Code, p.Detail)
			}
			if dryRun {
				fmt.Fprintf(out, importText(cf.Lang, "Référencement valide vers %s : finalité %s, catégories %s, fondement %s.\n",
					"Valid referral to %s: purpose %s, categories %s, basis %s.\n"),
					d.To, d.Purpose, strings.Join(d.DataCategories, ", "), d.Consent.Basis)
				return nil
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			env, s, err := client.Send(cmd.Context(), d)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, importText(cf.Lang, "%s %s → %s : message %s (journal n°%d)\n", "%s %s → %s: message %s (log entry #%d)\n"),
				env.Kind, env.From, env.To, env.ID, s.LeafIndex)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&caseFile, "case", "", "the case, as GET /api/v2/cases/:id returns it")
	cmd.Flags().StringVar(&transitionFile, "transition", "", "its Referral or Transfer, as GET /api/v2/cases/:id/referrals (or /transfers) lists it")
	cmd.Flags().StringVar(&configFile, "config", "", "the deployment's options (YAML): option ids, locations, agencies, consent date field")
	cmd.Flags().StringVar(&to, "to", "", "recipient agency id (instead of the transition's agency)")
	cmd.Flags().StringVar(&approvalFile, "override-approval", "", "file holding the supervisor's approval (compact JWS) of a best-interests override")
	cmd.Flags().BoolVar(&withholdingReviewed, "withholding-reviewed", false, "confirm that the case's withholding instructions were read and this referral respects them")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "map and report, send nothing")
	_ = cmd.MarkFlagRequired("case")
	_ = cmd.MarkFlagRequired("transition")
	return cmd
}

func readPrimero(caseFile, transitionFile string) (primero.Case, primero.Transition, error) {
	cf, err := os.Open(caseFile)
	if err != nil {
		return nil, nil, err
	}
	defer cf.Close()
	c, err := primero.DecodeCase(cf)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", caseFile, err)
	}
	tf, err := os.Open(transitionFile)
	if err != nil {
		return nil, nil, err
	}
	defer tf.Close()
	t, err := primero.DecodeTransition(tf)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", transitionFile, err)
	}
	return c, t, nil
}

// importText returns the French or English text.
func importText(lang, fr, en string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		return en
	}
	return fr
}
