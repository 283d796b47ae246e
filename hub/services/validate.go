package services

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/relais-hub/relais/contracts"
)

// Bounds on a record, generous for a real agency and small enough to keep
// the directory a directory.
const (
	maxNameRunes  = 200
	maxRoleRunes  = 120
	maxAreaRunes  = 100
	maxAreas      = 500
	maxLanguages  = 12
	maxHourBlocks = 14
)

var (
	// areaCode: the country, then up to three levels of subdivisions.
	areaCode     = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,10}){0,3}$`)
	languageCode = regexp.MustCompile(`^[a-z]{2,3}$`)
	clock        = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)
)

// Validate checks a record as its agency's admin submits it: the form of
// every field, the vocabularies, and that no free text holds a person's
// details. It does not know which agencies are registered (Publish does).
func Validate(r Record) error {
	if !contracts.ValidAgencyID(r.Agency) {
		return invalid("agency", "agency must be a registered agency id (<country>.<slug>)")
	}
	country := strings.ToUpper(contracts.AgencyCountry(r.Agency))
	if _, ok := ParseDate(string(r.ValidFrom)); !ok {
		return invalid("valid_from", "valid_from must be a date (2026-01-01)")
	}
	if r.ValidTo != "" {
		if _, ok := ParseDate(string(r.ValidTo)); !ok || r.ValidTo <= r.ValidFrom {
			return invalid("valid_to", "valid_to must be a date after valid_from")
		}
	}
	checks := []func() error{
		func() error { return checkLabel("name", r.Name, maxNameRunes) },
		func() error { return checkAreas(r.Areas, country) },
		func() error { return checkServices(r.Services) },
		func() error { return checkLanguages(r.Languages) },
		func() error { return checkHours(r.Hours) },
		func() error { return checkLabel("reports_to.name", r.ReportsTo.Name, maxNameRunes) },
		func() error { return checkReportsTo(r.ReportsTo, country) },
		func() error { return checkLabel("contact.role", r.Contact.Role, maxRoleRunes) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	p := contracts.Refuse(contracts.CodeDirectoryInvalid, format, args...)
	p.Fields = []string{field}
	return p
}

// checkText admits one line of printable text of 1 to max runes without
// a person's details.
func checkText(field, text string, max int, required bool) error {
	if text == "" && !required {
		return nil
	}
	if strings.TrimSpace(text) != text || text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > max {
		return invalid(field, "%s must be 1 to %d characters, without leading or trailing spaces", field, max)
	}
	for _, r := range text {
		if !unicode.IsPrint(r) {
			return invalid(field, "%s must be one line of printable text", field)
		}
	}
	if hint := personalHint(text); hint != "" {
		p := contracts.Refuse(contracts.CodeDirectoryPersonalData, "%s looks like it holds %s: give a role or an institution only", field, hint)
		p.Fields = []string{field}
		return p
	}
	return nil
}

func checkLabel(field string, l contracts.Label, max int) error {
	if err := checkText(field+".fr", l.FR, max, true); err != nil {
		return err
	}
	return checkText(field+".en", l.EN, max, false)
}

func checkAreas(areas []Area, country string) error {
	if len(areas) == 0 || len(areas) > maxAreas {
		return invalid("areas", "areas must list 1 to %d administrative areas", maxAreas)
	}
	seen := map[string]bool{}
	for i, a := range areas {
		field := fmt.Sprintf("areas[%d]", i)
		if !areaCode.MatchString(a.Code) || !strings.HasPrefix(a.Code, country) {
			return invalid(field+".code", "area code %q must be %s or start with %s- (ISO 3166-2, then national codes)", a.Code, country, country)
		}
		if seen[a.Code] {
			return invalid(field+".code", "area %s is listed twice", a.Code)
		}
		seen[a.Code] = true
		if !contracts.AreaLevels.Has(a.Level) {
			return invalid(field+".level", "level must be one of %s", strings.Join(contracts.AreaLevels.Codes(), ", "))
		}
		if (a.Level == "country") != (a.Code == country) {
			return invalid(field+".level", "the level country goes with the code %s alone", country)
		}
		if err := checkText(field+".name", a.Name, maxAreaRunes, true); err != nil {
			return err
		}
	}
	return nil
}

func checkServices(list []string) error {
	if len(list) == 0 {
		return invalid("services", "services must list at least one service offered")
	}
	for i, s := range list {
		if !contracts.IsOfferedService(s) {
			return invalid(fmt.Sprintf("services[%d]", i), "unknown service %q; known: %s", s, strings.Join(contracts.OfferedServices.Codes(), ", "))
		}
		if slices.Contains(list[:i], s) {
			return invalid(fmt.Sprintf("services[%d]", i), "service %s is listed twice", s)
		}
	}
	return nil
}

func checkLanguages(list []string) error {
	if len(list) == 0 || len(list) > maxLanguages {
		return invalid("languages", "languages must list 1 to %d ISO 639 codes", maxLanguages)
	}
	for i, l := range list {
		if !languageCode.MatchString(l) || slices.Contains(list[:i], l) {
			return invalid(fmt.Sprintf("languages[%d]", i), "languages must be distinct ISO 639 codes in lower case (fr, bm, dyu)")
		}
	}
	return nil
}

func checkHours(list []Hours) error {
	if len(list) > maxHourBlocks {
		return invalid("hours", "hours must have at most %d blocks", maxHourBlocks)
	}
	for i, h := range list {
		field := fmt.Sprintf("hours[%d]", i)
		if len(h.Days) == 0 {
			return invalid(field+".days", "each block of hours names its days")
		}
		for j, d := range h.Days {
			if !slices.ContainsFunc(Weekdays, func(w Weekday) bool { return w.Code == d }) || slices.Contains(h.Days[:j], d) {
				return invalid(field+".days", "days must be distinct among mon, tue, wed, thu, fri, sat, sun")
			}
		}
		if !clock.MatchString(h.Opens) || h.Opens == "24:00" || !clock.MatchString(h.Closes) || h.Closes <= h.Opens {
			return invalid(field, "opens and closes must be times (08:00, 16:30; 24:00 to close at midnight), opening first")
		}
	}
	return nil
}

func checkReportsTo(d Directorate, country string) error {
	if d.Agency == "" {
		return nil
	}
	if !contracts.ValidAgencyID(d.Agency) || !strings.EqualFold(contracts.AgencyCountry(d.Agency), country) {
		return invalid("reports_to.agency", "reports_to.agency must be an agency id of the same country")
	}
	return nil
}
