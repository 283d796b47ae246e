package console

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// numberStyle is how a language writes numbers.
type numberStyle struct {
	group, decimal string
}

// numberStyles follow CLDR: French groups thousands with a narrow no-break
// space and writes a decimal comma; Portuguese groups with a dot.
var numberStyles = map[Lang]numberStyle{
	French:     {"\u202f", ","},
	English:    {",", "."},
	Arabic:     {"\u066c", "\u066b"},
	Portuguese: {".", ","},
}

// Number writes an integer with l's thousands separator.
func (l Lang) Number(n int64) string {
	st := numberStyles[l]
	digits := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(st.group)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Decimal writes f with prec decimals in l's style.
func (l Lang) Decimal(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	out := l.Number(n)
	if n == 0 && strings.HasPrefix(whole, "-") {
		out = "-" + out
	}
	if frac != "" {
		out += numberStyles[l].decimal + frac
	}
	return out
}

// Date writes the day of t in l ("2 mars 2026", "2 March 2026").
func (l Lang) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	month := l.T("month." + strconv.Itoa(int(t.Month())))
	return l.T("format.date", t.Day(), month, t.Year())
}

// DateTime writes t to the minute in l, with its zone.
func (l Lang) DateTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	zone, _ := t.Zone()
	return l.T("format.datetime", l.Date(t), t.Format("15:04"), zone)
}

// Duration writes d coarsely, as people say it: days and hours, or hours
// and minutes, or minutes.
func (l Lang) Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	days := int64(d / (24 * time.Hour))
	hours := int64(d % (24 * time.Hour) / time.Hour)
	minutes := int64(d % time.Hour / time.Minute)
	switch {
	case days > 0:
		return l.T("format.days_hours", l.Number(days), hours)
	case hours > 0:
		return l.T("format.hours_minutes", hours, minutes)
	}
	return l.T("format.minutes", minutes)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// Count writes an int with l's thousands separator.
func (l Lang) Count(n int) string { return l.Number(int64(n)) }

// N is the message key+".one" or key+".other" for n, formatted with n: in
// French 0 and 1 take the singular, in English and Portuguese 1 alone.
func (l Lang) N(key string, n int) string {
	form := "other"
	switch {
	case l == French && (n == 0 || n == 1):
		form = "one"
	case l != French && n == 1:
		form = "one"
	}
	return l.T(key+"."+form, l.Count(n))
}
