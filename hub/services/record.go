// Package services is the directory of services: for each registered
// agency, versioned data on where it works (administrative areas with
// their codes), what it offers (contracts.OfferedServices), in which
// languages, when, which central directorate it reports to and which role
// to address — never a person. Ministries are renamed and reorganised
// often, so a record is never edited: a new version is published from a
// date, and the directory answers "who handled family tracing in Sikasso
// on 1 March 2025?" as well as "who handles it today?". docs/directory.md
// describes the data and the queries.
package services

import (
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Date is a calendar day, "2006-01-02". Dates in this form sort as
// strings.
type Date string

// ParseDate checks a day's form.
func ParseDate(s string) (Date, bool) {
	t, err := time.Parse(time.DateOnly, s)
	return Date(s), err == nil && t.Format(time.DateOnly) == s
}

// DateOf is the UTC day of t.
func DateOf(t time.Time) Date { return Date(t.UTC().Format(time.DateOnly)) }

// Record is one version of an agency's entry in the directory of
// services.
type Record struct {
	// Agency is the registered agency's id; Country its country, which the
	// directory fills in from the registration.
	Agency  string `json:"agency"`
	Country string `json:"country"`
	// Version numbers the agency's records from 1, in publication order;
	// the directory assigns it.
	Version int `json:"version"`
	// ValidFrom is the first day the record describes the agency; ValidTo,
	// when set, the first day it no longer does (the next version's
	// ValidFrom, or the day the agency stopped working).
	ValidFrom Date `json:"valid_from"`
	ValidTo   Date `json:"valid_to,omitempty"`
	// Name is the agency's official name at the time (French required,
	// English when it has one; the directory copies the French otherwise,
	// as for the directorate and the contact role).
	Name     contracts.Label `json:"name"`
	Areas    []Area          `json:"areas"`
	Services []string        `json:"services"`
	// Languages are ISO 639 codes ("fr", "bm", "dyu", "wo").
	Languages []string    `json:"languages"`
	Hours     []Hours     `json:"hours,omitempty"`
	ReportsTo Directorate `json:"reports_to"`
	Contact   Contact     `json:"contact"`
	// PublishedAt is when the version was published; the directory sets it.
	PublishedAt time.Time `json:"published_at"`
}

// Area is an administrative division an agency covers. Codes are
// hierarchical: the country's ISO 3166-1 code ("ML", the whole country),
// then its ISO 3166-2 subdivision ("ML-3", Sikasso region), then national
// codes below it, one segment per level ("ML-3-KOU", Koutiala cercle).
type Area struct {
	Code  string `json:"code"`
	Level string `json:"level"` // a contracts.AreaLevels code
	Name  string `json:"name"`
}

// Hours are opening hours on some days of the week, in the agency's local
// time ("08:00" to "16:30"; "00:00" to "24:00" for a permanent service).
type Hours struct {
	Days   []string `json:"days"` // mon, tue, wed, thu, fri, sat, sun
	Opens  string   `json:"opens"`
	Closes string   `json:"closes"`
}

// Directorate is the central directorate an agency reports to.
type Directorate struct {
	Name contracts.Label `json:"name"`
	// Agency is the directorate's own agency id when it is registered at
	// the hub (it then receives escalations of missed deadlines).
	Agency string `json:"agency,omitempty"`
}

// Contact says whom to address at the agency: a role ("Point focal
// protection de l'enfance", "Permanence"), reached through Relais. The
// directory refuses anything that looks like a person's name, telephone
// number or e-mail address.
type Contact struct {
	Role contracts.Label `json:"role"`
}

// Weekdays are the day codes of Hours, Monday first.
var Weekdays = []Weekday{
	{"mon", contracts.Label{FR: "lundi", EN: "Monday"}},
	{"tue", contracts.Label{FR: "mardi", EN: "Tuesday"}},
	{"wed", contracts.Label{FR: "mercredi", EN: "Wednesday"}},
	{"thu", contracts.Label{FR: "jeudi", EN: "Thursday"}},
	{"fri", contracts.Label{FR: "vendredi", EN: "Friday"}},
	{"sat", contracts.Label{FR: "samedi", EN: "Saturday"}},
	{"sun", contracts.Label{FR: "dimanche", EN: "Sunday"}},
}

// Weekday is a day code and its name.
type Weekday struct {
	Code  string
	Label contracts.Label
}

// ValidOn reports whether the record describes its agency on day d.
func (r Record) ValidOn(d Date) bool {
	return r.ValidFrom <= d && (r.ValidTo == "" || d < r.ValidTo)
}

// Offers reports whether the record lists service.
func (r Record) Offers(service string) bool {
	for _, s := range r.Services {
		if s == service {
			return true
		}
	}
	return false
}
