package console

import (
	"crypto/ed25519"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
)

func TestAnAuditorLogsInFindsTheTransferAndDownloadsABundleThatVerifies(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	w.loginAuditor(t, b)

	found := b.get("/console/audit?transfer=" + w.transfer)
	if found.Status != http.StatusOK || !strings.Contains(found.Body, `href="/console/audit/transfers/`+w.transfer+`"`) {
		t.Fatalf("search by transfer: %d\n%s", found.Status, found.Body)
	}
	byRef := b.get("/console/audit?" + url.Values{"case_ref": {w.caseRef}, "case_agency": {"ci.dpe-abidjan"}}.Encode())
	if digest := w.hub.CaseDigest("ci.dpe-abidjan", w.caseRef); !strings.Contains(byRef.Body, digest) || !strings.Contains(byRef.Body, w.transfer) {
		t.Fatalf("search by case reference does not show the digest %s and the transfer:\n%s", digest, byRef.Body)
	}

	timeline := b.get("/console/audit/transfers/" + w.transfer)
	for _, want := range []string{"ci.dpe-abidjan", "ml.dnpef", `class="timeline"`, "download-bundle"} {
		if !strings.Contains(timeline.Body, want) {
			t.Errorf("the timeline lacks %q", want)
		}
	}

	bundle := b.post("/console/audit/bundle", url.Values{"csrf": {field(t, csrfField, timeline.Body)}, "transfer": {w.transfer}})
	if bundle.Status != http.StatusOK || !strings.HasPrefix(bundle.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("bundle download: %d %v", bundle.Status, bundle.Header)
	}
	var pub ed25519.PublicKey = w.hub.Audit().PublicKey()
	rep, err := audit.VerifyBundle([]byte(bundle.Body), pub)
	if err != nil {
		t.Fatalf("the downloaded bundle does not verify: %v", err)
	}
	if len(rep.Verified) == 0 {
		t.Fatal("the bundle holds no event")
	}
	for _, personal := range []string{"Awa", "Ouédraogo", w.caseRef} {
		for _, page := range []string{found.Body, byRef.Body, timeline.Body, bundle.Body} {
			if strings.Contains(page, personal) && personal != w.caseRef {
				t.Errorf("%q reached the hub console", personal)
			}
		}
	}
}

func TestALoginAnswerCountsOnlyForItsChallengeItsHubAndAFewMinutes(t *testing.T) {
	w := newHubWorld(t)
	other, _ := seal.GenerateSigningKey(seal.NewKID(w.auditorID + "#sig"))
	cases := []struct {
		name string
		sign func(challenge string) string
	}{
		{"an answer to another challenge", func(string) string {
			s, _ := SignAuditorLogin(w.auditorKey, w.auditorID, w.hub.ID(), "AAAA-BBBB-CCCC-DDDD", time.Now())
			return s
		}},
		{"an answer for another hub", func(c string) string {
			s, _ := SignAuditorLogin(w.auditorKey, w.auditorID, "other-hub", c, time.Now())
			return s
		}},
		{"an answer signed by an unregistered key", func(c string) string {
			s, _ := SignAuditorLogin(other, w.auditorID, w.hub.ID(), c, time.Now())
			return s
		}},
		{"an answer signed ten minutes ago", func(c string) string {
			s, _ := SignAuditorLogin(w.auditorKey, w.auditorID, w.hub.ID(), c, time.Now().Add(-10*time.Minute))
			return s
		}},
		{"an agency-style access token", func(string) string {
			s, _ := seal.IssueToken(w.auditorKey, w.auditorID, w.hub.ID(), time.Minute, time.Now())
			return s
		}},
		{"garbage", func(string) string { return "not.a.jws" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, w.console)
			page := b.get("/console/login")
			res := b.post("/console/login/auditor", url.Values{"csrf": {field(t, csrfField, page.Body)}, "answer": {tc.sign(field(t, challengeField, page.Body))}})
			if res.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.Status)
			}
			if b.get("/console/audit").Status != http.StatusSeeOther {
				t.Fatal("the refused browser reached the audit pages")
			}
		})
	}
	t.Run("an answer used twice", func(t *testing.T) {
		b := newBrowser(t, w.console)
		page := b.get("/console/login")
		answer, _ := SignAuditorLogin(w.auditorKey, w.auditorID, w.hub.ID(), field(t, challengeField, page.Body), time.Now())
		csrf := field(t, csrfField, page.Body)
		if res := b.post("/console/login/auditor", url.Values{"csrf": {csrf}, "answer": {answer}}); res.Status != http.StatusSeeOther {
			t.Fatalf("first use: %d", res.Status)
		}
		thief := newBrowser(t, w.console)
		stolen := thief.get("/console/login")
		if res := thief.post("/console/login/auditor", url.Values{"csrf": {field(t, csrfField, stolen.Body)}, "answer": {answer}}); res.Status != http.StatusUnauthorized {
			t.Fatalf("the answer logged in a second browser: %d", res.Status)
		}
	})
}

func TestEveryPageForbidsCachingFramingAndForeignScripts(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	w.loginAuditor(t, b)
	for _, path := range []string{"/console/login", "/console/audit", "/console/audit/transfers/" + w.transfer, "/console/audit/checkpoint", "/console/nowhere"} {
		res := b.get(path)
		h := res.Header
		if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
		for _, inline := range []string{"<script>", " style=", "<style", "onclick=", "http://", "https://"} {
			if strings.Contains(res.Body, inline) {
				t.Errorf("%s holds %q: the CSP forbids inline code and foreign assets", path, inline)
			}
		}
	}
}

func TestTheSessionCookieIsHttpOnlySecureAndStrict(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	res := b.get("/console/login")
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/console/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Expires") || strings.Contains(cookie, "Max-Age") {
		t.Errorf("the session cookie outlives the browser: %q", cookie)
	}
}

func TestAFormWithoutTheSessionsTokenOrFromAnotherSiteIsRefused(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	w.loginAuditor(t, b)
	csrf := field(t, csrfField, b.get("/console/audit/checkpoint").Body)
	if res := b.post("/console/audit/checkpoint", url.Values{"csrf": {"forged"}}); res.Status != http.StatusForbidden {
		t.Errorf("a forged token: %d, want 403", res.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/console/audit/checkpoint", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res := b.do(req); res.Status != http.StatusForbidden {
		t.Errorf("a post from another origin: %d, want 403", res.Status)
	}
	if res := b.post("/console/audit/checkpoint", url.Values{"csrf": {csrf}}); res.Status != http.StatusSeeOther {
		t.Errorf("the genuine form: %d, want 303", res.Status)
	}
}

func TestOperatorsSeeQueuesAgenciesAndAgreementsAndAuditorsDoNot(t *testing.T) {
	w := newHubWorld(t)
	op := newBrowser(t, w.console)
	page := op.get("/console/login")
	if res := op.post("/console/login/operator", url.Values{"csrf": {field(t, csrfField, page.Body)}, "token": {"wrong"}}); res.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong admin token: %d", res.Status)
	}
	page = op.get("/console/login")
	if res := op.post("/console/login/operator", url.Values{"csrf": {field(t, csrfField, page.Body)}, "token": {w.adminToken}}); res.Status != http.StatusSeeOther {
		t.Fatalf("operator login: %d\n%s", res.Status, res.Body)
	}
	ops := op.get("/console/ops")
	for _, want := range []string{"ci.dpe-abidjan", "ml.dnpef", "#enc", "#sig"} {
		if !strings.Contains(ops.Body, want) {
			t.Errorf("the operators' page lacks %q", want)
		}
	}
	if res := op.get("/console/ops/dead-letters"); res.Status != http.StatusOK {
		t.Errorf("dead letters: %d", res.Status)
	}
	auditor := newBrowser(t, w.console)
	w.loginAuditor(t, auditor)
	if res := auditor.get("/console/ops"); res.Status != http.StatusForbidden {
		t.Errorf("an auditor opened the operators' page: %d", res.Status)
	}
}

func TestLogoutEndsTheSessionAndClearsTheBrowser(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	w.loginAuditor(t, b)
	page := b.get("/console/audit")
	res := b.post("/console/logout", url.Values{"csrf": {field(t, csrfField, page.Body)}})
	if res.Status != http.StatusSeeOther || !strings.Contains(res.Header.Get("Clear-Site-Data"), `"cache"`) {
		t.Fatalf("logout: %d %v", res.Status, res.Header)
	}
	if res := b.get("/console/audit"); res.Status != http.StatusSeeOther {
		t.Fatalf("the audit page after logout: %d", res.Status)
	}
}

func TestAnIdleSessionExpires(t *testing.T) {
	w := newHubWorld(t)
	clock := time.Now()
	con, err := NewHub(HubConfig{Hub: w.hub, AdminToken: w.adminToken, Now: func() time.Time { return clock }, IdleTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, newTLSServer(t, con))
	w.loginAuditor(t, b)
	clock = clock.Add(9 * time.Minute)
	if res := b.get("/console/audit"); res.Status != http.StatusOK {
		t.Fatalf("9 minutes idle: %d", res.Status)
	}
	clock = clock.Add(11 * time.Minute)
	if res := b.get("/console/audit"); res.Status != http.StatusSeeOther {
		t.Fatalf("11 minutes idle: %d, want the login page", res.Status)
	}
}
