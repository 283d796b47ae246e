package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"golang.org/x/text/language"

	"github.com/relais-hub/relais/contracts"
)

// Lang is a console language: "fr" (the default, the network's working
// language), "en", and "ar" and "pt", whose catalogues may be partial.
type Lang string

// The console's languages.
const (
	French     Lang = "fr"
	English    Lang = "en"
	Arabic     Lang = "ar"
	Portuguese Lang = "pt"
)

// langCookie remembers the language a user chose with the switch; it holds
// nothing else, so it needs no session.
const langCookie = "relais_lang"

// langInfo describes one language of the switch.
type langInfo struct {
	Code Lang
	// Name is the language's name in itself, as the switch shows it.
	Name string
	RTL  bool
}

var languages = []langInfo{
	{French, "Français", false},
	{English, "English", false},
	{Arabic, "العربية", true},
	{Portuguese, "Português", false},
}

var langMatcher = language.NewMatcher([]language.Tag{language.French, language.English, language.Arabic, language.Portuguese})

//go:embed locales/*.json
var localeFiles embed.FS

// catalogues maps each language to its messages. A key missing from a
// catalogue falls back to French, then to the key itself: a partial
// Arabic or Portuguese catalogue shows French text, never an empty label.
var catalogues = mustLoadCatalogues()

func mustLoadCatalogues() map[Lang]map[string]string {
	out := map[Lang]map[string]string{}
	for _, l := range languages {
		raw, err := localeFiles.ReadFile(path.Join("locales", string(l.Code)+".json"))
		if err != nil {
			panic(fmt.Sprintf("console: catalogue %s: %v", l.Code, err))
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(fmt.Sprintf("console: catalogue %s: %v", l.Code, err))
		}
		out[l.Code] = m
	}
	return out
}

// parseLang admits the console's languages only.
func parseLang(s string) (Lang, bool) {
	for _, l := range languages {
		if string(l.Code) == s {
			return l.Code, true
		}
	}
	return "", false
}

// negotiateLang picks the language of a request: the switch's cookie, else
// Accept-Language with its quality weights, else French.
func negotiateLang(r *http.Request) Lang {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(c.Value); ok {
			return l
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return French
	}
	_, idx, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return French
	}
	return languages[idx].Code
}

// T returns the message key in l, formatted with args (fmt verbs).
func (l Lang) T(key string, args ...any) string {
	s, ok := catalogues[l][key]
	if !ok {
		s, ok = catalogues[French][key]
	}
	if !ok {
		s = key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Has reports whether key exists in l's own catalogue (no fallback).
func (l Lang) Has(key string) bool {
	_, ok := catalogues[l][key]
	return ok
}

// RTL reports whether l is written right to left.
func (l Lang) RTL() bool {
	for _, i := range languages {
		if i.Code == l {
			return i.RTL
		}
	}
	return false
}

// Dir is the HTML dir attribute of l.
func (l Lang) Dir() string {
	if l.RTL() {
		return "rtl"
	}
	return "ltr"
}

// Label picks a protocol label (French and English only) in l: English for
// English, French otherwise, as the network's working language.
func (l Lang) Label(lb contracts.Label) string {
	if l == English {
		return lb.EN
	}
	return lb.FR
}

// Term is the label of a vocabulary code in l, or the code itself when the
// vocabulary does not know it.
func (l Lang) Term(v contracts.Vocabulary, code string) string {
	if lb, ok := v.Label(code); ok {
		return l.Label(lb)
	}
	return code
}

// codeTitle is a refusal code's title in l (French unless English).
func (l Lang) codeTitle(c contracts.Code) string {
	if l == English {
		return c.Title("en")
	}
	return c.Title("fr")
}

// langSwitch is one entry of the language switch of a page.
type langSwitch struct {
	Code    Lang
	Name    string
	Current bool
	Href    string
}

// switches lists the language switch for a page at back.
func switches(prefix string, current Lang, back string) []langSwitch {
	out := make([]langSwitch, 0, len(languages))
	for _, l := range languages {
		out = append(out, langSwitch{Code: l.Code, Name: l.Name, Current: l.Code == current,
			Href: prefix + "/lang?to=" + string(l.Code) + "&back=" + urlQueryEscape(back)})
	}
	return out
}

// safeBack admits only a path of this console as a redirect target, so the
// language switch can never send a user to another site.
func safeBack(prefix, back string) string {
	if back == "" || !strings.HasPrefix(back, prefix+"/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		return prefix + "/"
	}
	return back
}
