package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Role is what a console user may do.
type Role string

// Roles of the two consoles.
const (
	// RoleAuditor reads the audit log through the hub console.
	RoleAuditor Role = "auditor"
	// RoleOperator holds the hub's admin token: agencies, keys, queues,
	// dead letters, agreements; and the audit pages, as "admin".
	RoleOperator Role = "operator"
	// RoleCaseWorker reads, answers and composes at a site.
	RoleCaseWorker Role = "case_worker"
	// RoleSupervisor is a case worker who also approves best-interests
	// overrides with their own key and manages the site's accounts.
	RoleSupervisor Role = "supervisor"
)

// sessionCookie carries the session id, and nothing else.
const sessionCookie = "relais_session"

// Session lifetimes: a shared PC left alone logs its user out after
// IdleTimeout; nobody stays logged in longer than MaxLifetime.
const (
	DefaultIdleTimeout = 20 * time.Minute
	DefaultMaxLifetime = 8 * time.Hour
	// anonymousLifetime bounds a session opened by the login page.
	anonymousLifetime = 15 * time.Minute
	// maxSessions bounds the store, so that a flood of login page views
	// cannot grow it without end: the oldest anonymous ones go first.
	maxSessions = 10_000
)

// Session is one browser's state on the server. A session without a user
// is anonymous: the login page's, holding the login form's CSRF token and
// the auditor's login challenge.
type Session struct {
	User string
	// Name is what the page header shows for the user.
	Name    string
	Role    Role
	CSRF    string
	Created time.Time
	Seen    time.Time
	// Challenge is the pending auditor login challenge (hub console).
	Challenge string
	// Flash is a one-time notice shown on the next page.
	Flash string
}

// sessions is the server-side session store, in memory: a restart logs
// everybody out, which is what a shared PC wants anyway. Cookies hold a
// random id; the store is keyed by its SHA-256, so a memory dump or a
// timing difference in the map lookup reveals no usable id.
type sessions struct {
	mu       sync.Mutex
	byDigest map[string]*Session
	idle     time.Duration
	max      time.Duration
	now      func() time.Time
}

func newSessions(idle, max time.Duration, now func() time.Time) *sessions {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if max <= 0 {
		max = DefaultMaxLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &sessions{byDigest: map[string]*Session{}, idle: idle, max: max, now: now}
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func digestOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create stores a new session and returns its id for the cookie.
func (s *sessions) create(sess Session) (string, *Session) {
	id := randomToken(32)
	now := s.now()
	sess.Created, sess.Seen = now, now
	if sess.CSRF == "" {
		sess.CSRF = randomToken(32)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byDigest) >= maxSessions {
		s.evictLocked(now)
	}
	stored := sess
	s.byDigest[digestOf(id)] = &stored
	return id, &stored
}

// get returns the live session of id and marks it seen; an expired one is
// deleted.
func (s *sessions) get(id string) (*Session, bool) {
	if id == "" {
		return nil, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := digestOf(id)
	sess, ok := s.byDigest[key]
	if !ok {
		return nil, false
	}
	if s.expired(sess, now) {
		delete(s.byDigest, key)
		return nil, false
	}
	sess.Seen = now
	return sess, true
}

func (s *sessions) expired(sess *Session, now time.Time) bool {
	if sess.User == "" {
		return now.Sub(sess.Created) > anonymousLifetime
	}
	return now.Sub(sess.Seen) > s.idle || now.Sub(sess.Created) > s.max
}

// delete ends the session of id.
func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byDigest, digestOf(id))
}

// deleteUser ends every session of a user (a disabled account).
func (s *sessions) deleteUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.byDigest {
		if sess.User == user {
			delete(s.byDigest, k)
		}
	}
}

// evictLocked drops expired sessions, then anonymous ones if still full.
func (s *sessions) evictLocked(now time.Time) {
	for k, sess := range s.byDigest {
		if s.expired(sess, now) {
			delete(s.byDigest, k)
		}
	}
	if len(s.byDigest) < maxSessions {
		return
	}
	for k, sess := range s.byDigest {
		if sess.User == "" {
			delete(s.byDigest, k)
		}
	}
}

// setSessionCookie sends the session id: HttpOnly (no script reads it),
// Secure (only over TLS, or to a loopback address, which browsers treat as
// secure), SameSite=Strict (no other site's page can make the browser send
// it), and no expiry, so closing the browser forgets it.
func setSessionCookie(w http.ResponseWriter, path, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: path, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter, path string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// validCSRF compares a submitted token with the session's in constant time.
func validCSRF(sess *Session, submitted string) bool {
	return sess != nil && sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(submitted)) == 1
}
