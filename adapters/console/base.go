package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static/*
var staticFiles embed.FS

// maxFormBytes bounds an ordinary form post; a referral form with long
// narratives stays far below it.
const maxFormBytes = 1 << 20

// base is what both consoles share: templates, sessions, static assets,
// language switch, error pages.
type base struct {
	prefix   string
	product  string // "hub" or "agent": the page title's suffix
	pages    map[string]*template.Template
	sessions *sessions
	log      *slog.Logger
	now      func() time.Time
	zone     *time.Location
	// assetVersion is the hash of the static files, appended to their URLs
	// so they can be cached forever and still change with the binary.
	assetVersion string
}

type baseOptions struct {
	Prefix      string
	Product     string
	Pages       []string
	Logger      *slog.Logger
	Now         func() time.Time
	Zone        *time.Location
	IdleTimeout time.Duration
	MaxLifetime time.Duration
}

func newBase(o baseOptions) (*base, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	b := &base{prefix: strings.TrimRight(o.Prefix, "/"), product: o.Product, pages: map[string]*template.Template{},
		sessions: newSessions(o.IdleTimeout, o.MaxLifetime, o.Now), log: o.Logger, now: o.Now, zone: o.Zone}
	funcs := template.FuncMap{
		"inc": func(i int) int { return i + 1 },
		"u64": func(n uint64) int64 { return int64(n) },
		"eventsOf": func(l Lang, prefix string, events []eventRow) eventsPartial {
			return eventsPartial{l, prefix, events, true}
		},
		"trailOf":    func(l Lang, events []eventRow) eventsPartial { return eventsPartial{L: l, Events: events} },
		"kindLabel":  kindLabel,
		"eventLabel": eventLabel,
		"term": func(l Lang, vocab, code string) string {
			if v, ok := vocabulary(vocab); ok {
				return l.Term(v, code)
			}
			return code
		},
		"cellText": cellText,
		"statusOf": func(l Lang, s statusView) statusPartial { return statusPartial{l, s} },
	}
	for _, name := range append([]string{"error.html"}, o.Pages...) {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partial_*.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		b.pages[name] = t
	}
	v, err := hashAssets()
	if err != nil {
		return nil, err
	}
	b.assetVersion = v
	return b, nil
}

func hashAssets() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := staticFiles.ReadFile(p)
		h.Write([]byte(p))
		h.Write(raw)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("console assets: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// navItem is one link of a page's navigation.
type navItem struct {
	Href    string
	Label   string
	Current bool
}

// page is what every template receives.
type page struct {
	L       Lang
	Title   string
	Prefix  string
	Product string
	Asset   string // the static files' version
	Session *Session
	CSRF    string
	Nav     []navItem
	Langs   []langSwitch
	Flash   string
	Error   string
	// Fields are the form fields an error names, to mark them invalid.
	Fields map[string]bool
	Data   any
}

// render writes a page. Rendering goes to a buffer first, so a template
// error never sends half a page.
func (b *base) render(w http.ResponseWriter, r *http.Request, sess *Session, status int, name string, p page) {
	t, ok := b.pages[name]
	if !ok {
		b.log.Error("console: unknown page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.L = negotiateLang(r)
	p.Prefix, p.Product, p.Asset, p.Session = b.prefix, b.product, b.assetVersion, sess
	if sess != nil {
		p.CSRF = sess.CSRF
		if sess.Flash != "" && p.Flash == "" {
			p.Flash, sess.Flash = sess.Flash, ""
		}
	}
	p.Langs = switches(b.prefix, p.L, r.URL.RequestURI())
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		b.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securePage(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", string(p.L))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page for err: a refusal shows its code's title
// and its detail (never personal data, by the Problem contract); anything
// else is an internal error whose cause is logged, not shown.
func (b *base) fail(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	p := contracts.AsProblem(err)
	if p.Code == contracts.CodeInternal {
		b.log.Error("console: internal error", "path", r.URL.Path, "err", err)
	}
	l := negotiateLang(r)
	detail := p.Detail
	if p.Code == contracts.CodeInternal {
		detail = ""
	}
	b.render(w, r, sess, p.Code.Status(), "error.html", page{Title: l.codeTitle(p.Code), Data: map[string]string{
		"Title": l.codeTitle(p.Code), "Detail": detail, "Code": string(p.Code)}})
}

// session returns the request's live session and its id.
func (b *base) session(r *http.Request) (*Session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	sess, ok := b.sessions.get(c.Value)
	if !ok {
		return nil, ""
	}
	return sess, c.Value
}

// cookiePath scopes the session cookie to this console.
func (b *base) cookiePath() string { return b.prefix + "/" }

// anonymous returns the request's session, opening an anonymous one (for
// the login form's CSRF token) when there is none.
func (b *base) anonymous(w http.ResponseWriter, r *http.Request) *Session {
	if sess, _ := b.session(r); sess != nil {
		return sess
	}
	id, sess := b.sessions.create(Session{})
	setSessionCookie(w, b.cookiePath(), id)
	return sess
}

// login replaces the request's session by a logged-in one: a new id, so a
// session id planted before login is worthless after it.
func (b *base) login(w http.ResponseWriter, r *http.Request, user, name string, role Role) *Session {
	if _, old := b.session(r); old != "" {
		b.sessions.delete(old)
	}
	id, sess := b.sessions.create(Session{User: user, Name: name, Role: role})
	setSessionCookie(w, b.cookiePath(), id)
	return sess
}

// logout ends the session and asks the browser to forget this site.
func (b *base) logout(w http.ResponseWriter, r *http.Request) {
	if _, id := b.session(r); id != "" {
		b.sessions.delete(id)
	}
	clearSessionCookie(w, b.cookiePath())
	clearSiteData(w)
}

// errBadForm is a form that failed the origin or CSRF check, or could not
// be read.
var errBadForm = contracts.Refuse(contracts.CodeForbidden, "the form is stale or did not come from this console: reload the page and try again")

// readForm checks a state-changing request: same origin, CSRF token, size.
func (b *base) readForm(w http.ResponseWriter, r *http.Request, sess *Session) error {
	if r.Method != http.MethodPost {
		return contracts.Refuse(contracts.CodeMethodNotAllowed, "%s", r.Method)
	}
	if !sameOrigin(r) {
		return errBadForm
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if mt == "multipart/form-data" {
		err = r.ParseMultipartForm(maxFormBytes)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return contracts.Refuse(contracts.CodeBadRequest, "the form could not be read")
	}
	if !validCSRF(sess, r.PostFormValue("csrf")) {
		return errBadForm
	}
	return nil
}

// redirect answers a form post with 303 See Other, so reloading the next
// page never posts the form again.
func (b *base) redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, b.prefix+to, http.StatusSeeOther)
}

// serveLang is the language switch: it remembers the choice in a cookie
// and goes back to the page.
func (b *base) serveLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := parseLang(r.URL.Query().Get("to")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: b.cookiePath(), MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	}
	securePage(w)
	http.Redirect(w, r, safeBack(b.prefix, r.URL.Query().Get("back")), http.StatusSeeOther)
}

// serveStatic serves the embedded stylesheet and script. They hold no
// data, so unlike pages they may be cached, for a year: their URLs carry
// the binary's asset version.
func (b *base) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.PathValue("file"))
	raw, err := staticFiles.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	// Assets hold no data: unlike pages, they may be cached.
	h.Del("Cache-Control")
	h.Del("Pragma")
	h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	if r.URL.Query().Get("v") == b.assetVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(raw)
}

// requireRole wraps a page handler: no session (or an expired one) goes to
// the login page, a session of another role gets forbidden.
func (b *base) requireRole(next func(http.ResponseWriter, *http.Request, *Session), roles ...Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := b.session(r)
		if sess == nil || sess.User == "" {
			http.Redirect(w, r, b.prefix+"/login", http.StatusSeeOther)
			return
		}
		for _, role := range roles {
			if sess.Role == role {
				next(w, r, sess)
				return
			}
		}
		b.fail(w, r, sess, contracts.Refuse(contracts.CodeForbidden, "this page is not for the role %s", sess.Role))
	}
}

// errNotFound is an unknown console path.
var errNotFound = contracts.Refuse(contracts.CodeNotFound, "no such page")

// eventsPartial is what the events table partial receives.
type eventsPartial struct {
	L      Lang
	Prefix string
	Events []eventRow
	// Link makes transfer ids links to the hub console's timelines.
	Link bool
}

// kindLabel is a message kind's label in l, or the kind itself.
func kindLabel(l Lang, kind string) string {
	if spec, ok := contracts.Kind(kind); ok {
		return l.Label(spec.Label)
	}
	return kind
}

// eventLabel is an audit event type's label in l, or the type itself: the
// set of types is open.
func eventLabel(l Lang, typ string) string {
	key := "event." + typ
	if l.Has(key) || French.Has(key) {
		return l.T(key)
	}
	return typ
}

// statusPartial is what the sync status partial receives.
type statusPartial struct {
	L Lang
	S statusView
}
