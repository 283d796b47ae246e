package httpapi

import (
	"encoding/json"
	"net/http"

	"golang.org/x/text/language"

	"github.com/relais-hub/relais/contracts"
)

// problemDoc is an RFC 9457 problem document with Relais's stable code.
type problemDoc struct {
	Type   string   `json:"type"`
	Title  string   `json:"title"`
	Status int      `json:"status"`
	Code   string   `json:"code"`
	Detail string   `json:"detail,omitempty"`
	Fields []string `json:"fields,omitempty"`
}

// supported are the languages of user-facing text, French first: it is the
// network's working language and the default.
var supported = language.NewMatcher([]language.Tag{language.French, language.English})

// lang picks the response language from Accept-Language, honouring quality
// weights (q=0 excludes a language).
func lang(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "fr"
	}
	_, idx, conf := supported.Match(tags...)
	if conf == language.No || idx != 1 {
		return "fr"
	}
	return "en"
}

// writeProblem answers with problem+json. Internal errors never expose their
// cause: it may hold anything.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := contracts.AsProblem(err)
	status := p.Code.Status()
	doc := map[string]any{}
	base := problemDoc{
		Type:   "https://relais.example/problems/" + string(p.Code),
		Title:  p.Code.Title(lang(r)),
		Status: status,
		Code:   string(p.Code),
		Fields: p.Fields,
	}
	if p.Code != contracts.CodeInternal {
		base.Detail = p.Detail
	}
	raw, _ := json.Marshal(base)
	_ = json.Unmarshal(raw, &doc)
	for k, v := range p.Extra {
		if _, taken := doc[k]; !taken {
			doc[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Language", lang(r))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
