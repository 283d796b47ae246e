package console

import (
	"net/http"
	"net/url"
)

// contentSecurityPolicy allows nothing but this console's own stylesheet,
// script and images: no inline script or style (a template bug cannot turn
// into script execution), no third-party asset, no framing, forms posting
// only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securePage sets the headers of every console page. Pages may hold a
// child's data (the agent console) or who searched for which case (the
// hub console): no cache may keep them, not even the back button's.
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin: the console's own URLs (which name transfers) never
	// leave it, and the browser still sends a proper Origin on its forms.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// clearSiteData is sent on logout: the browser drops this site's cache,
// cookies and storage, so the next person at a shared PC finds nothing of
// the previous session.
func clearSiteData(w http.ResponseWriter) {
	w.Header().Set("Clear-Site-Data", `"cache", "cookies", "storage"`)
}

// sameOrigin refuses a state-changing request that a browser says came
// from another site. It complements the CSRF token: SameSite=Strict
// cookies already stay home, and Sec-Fetch-Site or Origin, when the
// browser sends them, must name this site.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		// No origin to compare (an old browser, or a privacy setting):
		// the CSRF token decides alone.
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}
