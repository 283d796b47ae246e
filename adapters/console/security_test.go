package console

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAFormPostIsAcceptedFromThisSiteOnly(t *testing.T) {
	cases := []struct {
		name, fetchSite, origin string
		want                    bool
	}{
		{"an old browser that says nothing", "", "", true},
		{"a browser naming this site", "same-origin", "http://127.0.0.1:8471", true},
		{"a browser hiding the origin under a strict referrer policy", "same-origin", "null", true},
		{"a typed URL or a bookmark", "none", "", true},
		{"another site's page", "cross-site", "https://evil.example", false},
		{"a sibling subdomain", "same-site", "http://other.127.0.0.1:8471", false},
		{"another site that hides its origin", "cross-site", "null", false},
		{"an origin that is not this host", "", "http://127.0.0.1:9999", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8471/compose", nil)
			if tc.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tc.fetchSite)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if got := sameOrigin(r); got != tc.want {
				t.Errorf("sameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}
