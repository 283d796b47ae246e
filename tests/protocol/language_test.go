package protocol

import (
	"net/http"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

// TestProblemLanguage checks how the problem title's language follows
// Accept-Language (RFC 9110 §12.5.4): French unless English is preferred.
func TestProblemLanguage(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name, header, want string
	}{
		{"no Accept-Language gets French", "", "fr"},
		{"en gets English", "en", "en"},
		{"a regional English gets English", "en-GB,en;q=0.9", "en"},
		{"French first gets French", "fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{"an unsupported language falls back to French", "de-DE,de;q=0.9", "fr"},
		{"the first supported language in preference order wins", "de, en;q=0.5", "en"},
		{"weights decide, not the order of the list", "fr;q=0.1, en;q=0.9", "en"},
		{"q=0 makes a language unacceptable", "en;q=0", "fr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Accept-Language"] = tc.header
			}
			r := w.do(t, http.MethodGet, "/v1/inbox", nil, h)
			assertProblem(t, r, http.StatusUnauthorized, contracts.CodeUnauthenticated, tc.want)
		})
	}
}
