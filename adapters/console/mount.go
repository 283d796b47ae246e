package console

import (
	"net/http"
	"strings"
)

// MountHub serves the hub console at its prefix and everything else with
// api, on one listener: `relais serve --console`.
func MountHub(api http.Handler, cfg HubConfig) (http.Handler, error) {
	c, err := NewHub(cfg)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == c.prefix || strings.HasPrefix(r.URL.Path, c.prefix+"/") {
			if r.URL.Path == c.prefix {
				http.Redirect(w, r, c.prefix+"/", http.StatusSeeOther)
				return
			}
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}
