package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/stats"
)

// statsIdentityFile names a statistics authority's key directory, next to
// the signing key and public JWKS laid out as an auditor's.
const statsIdentityFile = "statistics.json"

// statsCmd: `relais stats` prints a statistics release; `relais stats
// init|register` create and register a national statistics authority.
func statsCmd() *cobra.Command {
	var af auditFlags
	var dimensions, measures []string
	var from, to, format string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Statistics on transfers by corridor, purpose, outcome, age band and quarter, under disclosure control",
		Long: `Prints a statistics release of the hub: counts of transfers opened, accepted, declined,
closed and overdue, broken down by one or two dimensions, and the median and 90th-percentile
time of each stage. Counts below the corridor agreement's threshold (5 by default) are
withheld, with as many others as needed so that none can be worked out from the totals.
Each release is logged in the hub's audit trail with its parameters.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := statsClient(af)
			if err != nil {
				return err
			}
			params := url.Values{}
			for name, v := range map[string]string{"dimensions": strings.Join(splitFlags(dimensions), ","),
				"measures": strings.Join(splitFlags(measures), ","), "from": from, "to": to} {
				if v != "" {
					params.Set(name, v)
				}
			}
			switch format {
			case "table", "json":
				params.Set("format", "json")
			case "csv":
				params.Set("format", "csv")
			default:
				return fmt.Errorf("--format must be table, csv or json")
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/stats", params, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				_, err := out.Write(raw)
				return err
			}
			var rel stats.Release
			if err := json.Unmarshal(raw, &rel); err != nil {
				return fmt.Errorf("the hub's release is not JSON: %w", err)
			}
			return printRelease(out, rel, af.Lang)
		},
	}
	af.register(cmd)
	cmd.Flags().Lookup("keys").Usage = "key directory of a statistics authority ('relais stats init') or an auditor (RELAIS_AUDITOR_KEYS)"
	cmd.Flags().StringSliceVar(&dimensions, "dimensions", nil, "one or two of corridor, purpose, outcome, age_band, quarter (default corridor)")
	cmd.Flags().StringSliceVar(&measures, "measures", nil, "among opened, accepted, declined, closed, overdue (default all)")
	cmd.Flags().StringVar(&from, "from", "", "first day of the first quarter (2025-01-01; default: a year before --to)")
	cmd.Flags().StringVar(&to, "to", "", "first day of the quarter after the last (2026-01-01; default: the current quarter's, since only completed quarters are published)")
	cmd.Flags().StringVar(&format, "format", "table", "table, csv or json")
	cmd.AddCommand(statsInitCmd(), statsRegisterCmd())
	return cmd
}

func splitFlags(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// statsClient speaks as a statistics authority, an auditor (their key
// directories look alike) or the admin.
func statsClient(af auditFlags) (*auditClient, error) {
	if af.Keys == "" {
		return af.client()
	}
	if _, err := os.Stat(filepath.Join(af.Keys, statsIdentityFile)); err != nil {
		return af.client()
	}
	keys, err := loadStatsKeys(af.Keys)
	if err != nil {
		return nil, err
	}
	return &auditClient{hub: strings.TrimRight(af.Hub, "/"), lang: af.Lang, http: &http.Client{Timeout: 60 * time.Second}, keys: &keys}, nil
}

func statsInitCmd() *cobra.Command {
	var id, out, lang string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a statistics authority's Ed25519 signing key (private JWK 0600, public JWKS)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := initStatsKeys(id, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "clés de l'autorité statistique %s écrites dans %s (clé publique : %s)\n",
				"keys for statistics authority %s written to %s (public key: %s)\n"), id, out, filepath.Join(out, auditorPublicJWKSFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "statistics authority id, e.g. statistics:instat-ml")
	cmd.Flags().StringVar(&out, "out", "", "directory for the keys")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func statsRegisterCmd() *cobra.Command {
	var hubURL, keysDir, name, adminToken, lang string
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register a statistics authority and its public key with the hub (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := loadStatsKeys(keysDir)
			if err != nil {
				return err
			}
			jwks, err := keys.publicJWKS()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"id": keys.ID, "name": name, "jwks": json.RawMessage(jwks)})
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: http.DefaultClient}
			if _, err := c.send(cmd.Context(), http.MethodPost, "/v1/statistics/readers", body, adminToken, nil); err != nil {
				return fmt.Errorf("register %s: %w", keys.ID, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "autorité statistique %s enregistrée\n", "statistics authority %s registered\n"), keys.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&keysDir, "keys", "", "key directory written by 'relais stats init'")
	cmd.Flags().StringVar(&name, "name", "", "the authority's official name")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	_ = cmd.MarkFlagRequired("keys")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func initStatsKeys(id, dir string) error {
	if !stats.ValidReaderID(id) {
		return fmt.Errorf("statistics authority id %q: must be %s<slug> (2 to 48 of a-z, 0-9, -), e.g. statistics:instat-ml", id, stats.ReaderPrefix)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, auditorSigningKeyFile)); err == nil {
		return fmt.Errorf("%s already holds keys: refusing to overwrite them", dir)
	}
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		return err
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, auditorSigningKeyFile), sig); err != nil {
		return err
	}
	pub, err := auditorKeys{ID: id, Signing: sig}.publicJWKS()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, auditorPublicJWKSFile), pub, 0o644); err != nil {
		return err
	}
	ident, _ := json.Marshal(map[string]string{"id": id})
	return os.WriteFile(filepath.Join(dir, statsIdentityFile), ident, 0o644)
}

// loadStatsKeys reads a statistics authority's identity and signing key;
// the auditor client signs its tokens with them.
func loadStatsKeys(dir string) (auditorKeys, error) {
	raw, err := os.ReadFile(filepath.Join(dir, statsIdentityFile))
	if err != nil {
		return auditorKeys{}, fmt.Errorf("read statistics authority identity (written by 'relais stats init'): %w", err)
	}
	var ident struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ident); err != nil || !stats.ValidReaderID(ident.ID) {
		return auditorKeys{}, errors.New(filepath.Join(dir, statsIdentityFile) + ": invalid statistics authority identity file")
	}
	sig, err := seal.ReadKeyFile(filepath.Join(dir, auditorSigningKeyFile))
	if err != nil {
		return auditorKeys{}, err
	}
	return auditorKeys{ID: ident.ID, Signing: sig}, nil
}

// withheldMark stands for a withheld count in printed tables.
const withheldMark = "×"

// printRelease renders a release for a reader in a terminal: each table
// with its totals, then the stage durations, then how to read them.
func printRelease(w io.Writer, rel stats.Release, lang string) error {
	fmt.Fprintf(w, inLang(lang, "Statistiques du %s au %s (publication n° %d du journal d'audit)\n\n", "Statistics from %s to %s (audit log entry #%d)\n\n"),
		rel.Query.From.Format("2006-01-02"), rel.Query.To.Format("2006-01-02"), rel.AuditIndex)
	for _, t := range rel.Tables {
		printTable(w, t, lang)
	}
	printDurations(w, rel, lang)
	_, err := fmt.Fprintf(w, inLang(lang,
		"%s : chiffre masqué (secret statistique : moins de %d transferts, ou masqué pour qu'on ne puisse pas le retrouver par soustraction).\n",
		"%s: withheld (statistical confidentiality: fewer than %d transfers, or withheld so that it cannot be worked out by subtraction).\n"),
		withheldMark, rel.MinCellSize)
	return err
}

func cellText(c stats.Cell) string {
	if c.Suppressed {
		return withheldMark
	}
	return fmt.Sprint(c.Value)
}

// leftColumn pads the first column's texts to one width, so that they
// read left-aligned in a table whose figures are right-aligned.
func leftColumn(texts ...string) func(string) string {
	width := 0
	for _, s := range texts {
		width = max(width, utf8.RuneCountInString(s))
	}
	return func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
}

func printTable(w io.Writer, t stats.Table, lang string) {
	fmt.Fprintf(w, "%s\n", t.Label.In(lang))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	total := inLang(lang, "Total", "Total")
	labels := []string{t.Rows.Label.In(lang), total}
	for _, k := range t.Rows.Keys {
		labels = append(labels, k.Label.In(lang))
	}
	pad := leftColumn(labels...)
	header := []string{pad(t.Rows.Label.In(lang))}
	if t.OneDimension() {
		header = append(header, t.Label.In(lang))
	} else {
		for _, k := range t.Columns.Keys {
			header = append(header, k.Label.In(lang))
		}
		header = append(header, total)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for i, k := range t.Rows.Keys {
		line := []string{pad(k.Label.In(lang))}
		for _, c := range t.Cells[i] {
			line = append(line, cellText(c))
		}
		if !t.OneDimension() {
			line = append(line, cellText(t.RowTotals[i]))
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	line := []string{pad(total)}
	for _, c := range t.ColumnTotals {
		line = append(line, cellText(c))
	}
	line = append(line, cellText(t.Total))
	fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	tw.Flush()
	fmt.Fprintln(w)
}

func daysText(v *float64) string {
	if v == nil {
		return withheldMark
	}
	return fmt.Sprintf("%.1f", *v)
}

func printDurations(w io.Writer, rel stats.Release, lang string) {
	if len(rel.Durations) == 0 {
		return
	}
	fmt.Fprintln(w, inLang(lang, "Durée des étapes, en jours (transferts ouverts sur la période) : médiane / 90e centile",
		"Stage durations, in days (transfers opened in the period): median / 90th percentile"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	labels := []string{inLang(lang, "Étape", "Stage")}
	for _, sd := range rel.Durations {
		labels = append(labels, sd.Label.In(lang))
	}
	pad := leftColumn(labels...)
	header := []string{pad(labels[0])}
	for _, q := range rel.Durations[0].ByQuarter {
		header = append(header, q.Quarter.Label.In(lang))
	}
	header = append(header, inLang(lang, "Période", "Period"))
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, sd := range rel.Durations {
		line := []string{pad(sd.Label.In(lang))}
		for _, q := range sd.ByQuarter {
			line = append(line, daysText(q.MedianDays)+" / "+daysText(q.P90Days))
		}
		line = append(line, daysText(sd.Overall.MedianDays)+" / "+daysText(sd.Overall.P90Days))
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
}
