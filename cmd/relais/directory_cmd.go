package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/services"
)

// directoryCmd: `relais directory` finds who handles a service where;
// `relais directory publish|history` maintain the directory of services.
func directoryCmd() *cobra.Command {
	var hubURL, country, service, area, asOf, lang string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "directory",
		Short: "Find the agency that handles a service in an area (directory of services)",
		Long: `Lists the agencies registered at the hub that match: a country, a service offered
(` + strings.Join(contracts.OfferedServices.Codes(), ", ") + `)
and an administrative area (ML-3 for a region, ML-3-KOU for a cercle). Agencies covering the
area itself come first, then those covering a wider area, then those covering part of it.
--as-of shows the directory as it stood on a past day (agencies renamed since keep their
old name there).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"country": country, "service": service, "area": area, "as_of": asOf} {
				if v != "" {
					q.Set(k, v)
				}
			}
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: &http.Client{Timeout: 60 * time.Second}}
			path := "/v1/directory"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var dir directoryAnswer
			raw, err := c.send(cmd.Context(), http.MethodGet, path, nil, "", &dir)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(raw)
				return err
			}
			printDirectory(cmd.OutOrStdout(), dir, lang)
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&country, "country", "", "country code, e.g. ML")
	cmd.Flags().StringVar(&service, "service", "", "service offered, e.g. family_tracing")
	cmd.Flags().StringVar(&area, "area", "", "administrative area code, e.g. ML-3")
	cmd.Flags().StringVar(&asOf, "as-of", "", "the directory as it stood on this day (2025-03-01; default today)")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the hub's JSON answer")
	cmd.AddCommand(directoryPublishCmd(), directoryHistoryCmd())
	return cmd
}

// directoryAnswer is what the CLI reads of GET /v1/directory.
type directoryAnswer struct {
	AsOf     string `json:"as_of"`
	Agencies []struct {
		ID       string            `json:"id"`
		Country  string            `json:"country"`
		Name     string            `json:"name"`
		Record   *services.Record  `json:"record"`
		Coverage services.Coverage `json:"coverage"`
	} `json:"agencies"`
}

var coverageText = map[services.Coverage][2]string{
	services.CoversArea:  {"couvre cette zone", "covers this area"},
	services.CoversWider: {"couvre une zone plus large qui l'inclut", "covers a wider area that includes it"},
	services.CoversPart:  {"couvre une partie de cette zone", "covers part of this area"},
}

func printDirectory(w io.Writer, dir directoryAnswer, lang string) {
	if len(dir.Agencies) == 0 {
		fmt.Fprintln(w, inLang(lang, "Aucun service ne correspond.", "No agency matches."))
		return
	}
	fmt.Fprintf(w, inLang(lang, "Annuaire au %s\n\n", "Directory as of %s\n\n"), dir.AsOf)
	for _, a := range dir.Agencies {
		r := a.Record
		name := a.Name
		if r != nil {
			name = r.Name.In(lang)
		}
		fmt.Fprintf(w, "%s — %s\n", a.ID, name)
		if t, ok := coverageText[a.Coverage]; ok {
			fmt.Fprintf(w, "  → %s\n", inLang(lang, t[0], t[1]))
		}
		if r == nil {
			fmt.Fprintln(w, inLang(lang, "  (pas encore de fiche dans l'annuaire des services)", "  (no directory record yet)"))
			fmt.Fprintln(w)
			continue
		}
		printRecord(w, *r, lang)
		fmt.Fprintln(w)
	}
}

func printRecord(w io.Writer, r services.Record, lang string) {
	var areas, offered, hours []string
	for _, a := range r.Areas {
		level := a.Level
		if l, ok := contracts.AreaLevels.Label(a.Level); ok {
			level = strings.ToLower(l.In(lang))
		}
		areas = append(areas, fmt.Sprintf("%s (%s, %s)", a.Name, a.Code, level))
	}
	for _, s := range r.Services {
		offered = append(offered, services.ServiceLabel(s, lang))
	}
	for _, h := range r.Hours {
		var days []string
		for _, d := range h.Days {
			for _, wd := range services.Weekdays {
				if wd.Code == d {
					days = append(days, wd.Label.In(lang))
				}
			}
		}
		hours = append(hours, fmt.Sprintf("%s %s–%s", strings.Join(days, ", "), h.Opens, h.Closes))
	}
	line := func(fr, en, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %s%s%s\n", inLang(lang, fr, en), inLang(lang, " : ", ": "), value)
		}
	}
	line("Zones", "Areas", strings.Join(areas, "; "))
	line("Services", "Services", strings.Join(offered, ", "))
	line("Langues", "Languages", strings.Join(r.Languages, ", "))
	line("Horaires", "Hours", strings.Join(hours, "; "))
	reports := r.ReportsTo.Name.In(lang)
	if r.ReportsTo.Agency != "" {
		reports += " (" + r.ReportsTo.Agency + ")"
	}
	line("Rattachement", "Reports to", reports)
	line("Contact", "Contact", r.Contact.Role.In(lang)+inLang(lang, " — par Relais", " — through Relais"))
	validity := inLang(lang, "depuis le ", "since ") + string(r.ValidFrom)
	if r.ValidTo != "" {
		validity += inLang(lang, " jusqu'au ", " until ") + string(r.ValidTo) + inLang(lang, " (exclu)", " (excluded)")
	}
	line("Fiche", "Record", fmt.Sprintf("v%d, %s", r.Version, validity))
}

func directoryPublishCmd() *cobra.Command {
	var hubURL, file, adminToken, lang string
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a new version of an agency's directory record from a YAML or JSON file (admin)",
		Long: `Publishes a new version of an agency's record, valid from its valid_from day; the previous
version ends that day. The file holds: agency, valid_from, name {fr, en}, areas [{code, level,
name}], services, languages, hours [{days, opens, closes}], reports_to {name, agency} and
contact {role}. Give a role to contact, never a person: names, telephone numbers and e-mail
addresses are refused (docs/directory.md).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := readRecordFile(file)
			if err != nil {
				return err
			}
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: &http.Client{Timeout: 60 * time.Second}}
			var rec services.Record
			if _, err := c.send(cmd.Context(), http.MethodPost, "/v1/directory/records", body, adminToken, &rec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "fiche de %s publiée : version %d, valable depuis le %s\n",
				"record of %s published: version %d, valid from %s\n"), rec.Agency, rec.Version, rec.ValidFrom)
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&file, "file", "", "the record, in YAML (.yaml, .yml) or JSON")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// readRecordFile reads a record file as the JSON the hub expects. YAML
// dates (valid_from: 2025-07-01) are read as days, not as times.
func readRecordFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return json.Marshal(datesAsDays(doc))
	}
	return raw, nil
}

func datesAsDays(v any) any {
	switch x := v.(type) {
	case time.Time:
		if x.Equal(x.Truncate(24 * time.Hour)) {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339)
	case map[string]any:
		for k, e := range x {
			x[k] = datesAsDays(e)
		}
	case []any:
		for i, e := range x {
			x[i] = datesAsDays(e)
		}
	}
	return v
}

func directoryHistoryCmd() *cobra.Command {
	var hubURL, agencyID, lang string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Every version of an agency's directory record, oldest first",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: &http.Client{Timeout: 60 * time.Second}}
			var ans struct {
				Versions []services.Record `json:"versions"`
			}
			raw, err := c.send(cmd.Context(), http.MethodGet, "/v1/directory/records/"+url.PathEscape(agencyID), nil, "", &ans)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := out.Write(raw)
				return err
			}
			if len(ans.Versions) == 0 {
				fmt.Fprintln(out, inLang(lang, "Aucune fiche pour ce service.", "No record for this agency."))
			}
			for _, r := range ans.Versions {
				fmt.Fprintf(out, "%s — %s\n", r.Agency, r.Name.In(lang))
				printRecord(out, r, lang)
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&agencyID, "agency", "", "agency id, e.g. ml.dnpef")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the hub's JSON answer")
	_ = cmd.MarkFlagRequired("agency")
	return cmd
}
