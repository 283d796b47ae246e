package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// usedKeys finds the message keys the templates and the Go code name
// literally.
func usedKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	tmplKey := regexp.MustCompile(`\.(?:T|N) "([a-z_.0-9]+)"`)
	goKey := regexp.MustCompile(`\b(?:l|L|lang)\.(?:T|N)\("([a-z_.0-9]+)"`)
	err := fs.WalkDir(templateFiles, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, _ := templateFiles.ReadFile(p)
		for _, m := range tmplKey.FindAllStringSubmatch(string(raw), -1) {
			keys[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, m := range goKey.FindAllStringSubmatch(string(raw), -1) {
			keys[m[1]] = true
		}
	}
	return keys
}

func TestEveryMessageThePagesUseIsInFrenchAndEnglish(t *testing.T) {
	for key := range usedKeys(t) {
		if strings.HasSuffix(key, ".") {
			continue // a prefix completed at run time, checked below
		}
		for _, l := range []Lang{French, English} {
			if l.Has(key) || (l.Has(key+".one") && l.Has(key+".other")) {
				continue
			}
			t.Errorf("%s lacks %q", l, key)
		}
	}
	for i := 1; i <= 12; i++ {
		for _, l := range languages {
			if !l.Code.Has("month." + itoa(i)) {
				t.Errorf("%s lacks month %d", l.Code, i)
			}
		}
	}
}

func TestTheFrenchAndEnglishCataloguesHaveTheSameKeys(t *testing.T) {
	for key := range catalogues[French] {
		if !English.Has(key) {
			t.Errorf("English lacks %q", key)
		}
	}
	for key := range catalogues[English] {
		if !French.Has(key) {
			t.Errorf("French lacks %q", key)
		}
	}
}

func TestAPartialCatalogueFallsBackToFrench(t *testing.T) {
	if got := Arabic.T("login.intro"); got != French.T("login.intro") {
		t.Errorf("Arabic without login.intro gave %q", got)
	}
	if got := Portuguese.T("nav.inbox"); got != "Caixa de entrada" {
		t.Errorf("Portuguese nav.inbox = %q", got)
	}
}

func TestTheLanguageComesFromTheSwitchThenAcceptLanguageThenFrench(t *testing.T) {
	cases := []struct {
		name, cookie, accept string
		want                 Lang
	}{
		{"nothing said", "", "", French},
		{"English preferred", "", "en-GB,en;q=0.9,fr;q=0.5", English},
		{"English refused by its weight", "", "en;q=0,de", French},
		{"Arabic", "", "ar-MA", Arabic},
		{"Portuguese of Guinea-Bissau", "", "pt-GW", Portuguese},
		{"the switch wins", "en", "fr", English},
		{"a forged switch is ignored", "xx", "pt", Portuguese},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
			}
			if got := negotiateLang(r); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNumbersAndDatesAreWrittenTheLocalWay(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	cases := []struct {
		l                 Lang
		number, dec, date string
	}{
		{French, "1\u202f234\u202f567", "3,50", "2 mars 2026"},
		{English, "1,234,567", "3.50", "2 March 2026"},
		{Portuguese, "1.234.567", "3,50", "2 de março de 2026"},
		{Arabic, "1\u066c234\u066c567", "3\u066b50", "2 مارس 2026"},
	}
	for _, tc := range cases {
		if got := tc.l.Number(1234567); got != tc.number {
			t.Errorf("%s: Number = %q, want %q", tc.l, got, tc.number)
		}
		if got := tc.l.Decimal(3.5, 2); got != tc.dec {
			t.Errorf("%s: Decimal = %q, want %q", tc.l, got, tc.dec)
		}
		if got := tc.l.Date(at); got != tc.date {
			t.Errorf("%s: Date = %q, want %q", tc.l, got, tc.date)
		}
	}
	if got := French.DateTime(at); got != "2 mars 2026 à 14:05 (UTC)" {
		t.Errorf("French DateTime = %q", got)
	}
	if got := English.N("search.transfers_found", 1); got != "1 transfer found" {
		t.Errorf("English singular: %q", got)
	}
	if got := French.N("search.transfers_found", 0); got != "0 transfert trouvé" {
		t.Errorf("French zero takes the singular: %q", got)
	}
}

func TestArabicPagesAreLaidOutRightToLeft(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	page := b.get("/console/login", "Accept-Language", "ar")
	if !strings.Contains(page.Body, `<html lang="ar" dir="rtl">`) {
		t.Fatalf("an Arabic page is not right to left:\n%.300s", page.Body)
	}
	english := b.get("/console/login", "Accept-Language", "en")
	if !strings.Contains(english.Body, `<html lang="en" dir="ltr">`) || !strings.Contains(english.Body, "Log in") {
		t.Fatalf("an English page:\n%.600s", english.Body)
	}
}

func TestTheLanguageSwitchRemembersTheChoiceAndStaysOnThisSite(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	res := b.get("/console/lang?to=en&back=/console/login")
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Fatalf("switch: %d %s", res.Status, res.Header.Get("Location"))
	}
	if page := b.get("/console/login"); !strings.Contains(page.Body, `lang="en"`) {
		t.Fatal("the choice was not remembered")
	}
	for _, back := range []string{"https://evil.example/", "//evil.example/", "/elsewhere"} {
		if res := b.get("/console/lang?to=fr&back=" + urlQueryEscape(back)); res.Header.Get("Location") != "/console/" {
			t.Errorf("back=%s sent the browser to %s", back, res.Header.Get("Location"))
		}
	}
}

func TestTheFirstPageWithItsAssetsWeighsLessThan100KiB(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	page := b.get("/console/login")
	total := len(page.Body)
	for _, asset := range regexp.MustCompile(`(?:href|src)="(/console/static/[^"]+)"`).FindAllStringSubmatch(page.Body, -1) {
		res := b.get(strings.ReplaceAll(asset[1], "&amp;", "&"))
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d", asset[1], res.Status)
		}
		if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s is not cacheable: %q", asset[1], res.Header.Get("Cache-Control"))
		}
		total += len(res.Body)
	}
	t.Logf("first page with its stylesheet and script: %d bytes", total)
	if total >= 100<<10 {
		t.Fatalf("the first page weighs %d bytes, over 100 KiB", total)
	}
}

func itoa(i int) string { return French.Number(int64(i)) }
