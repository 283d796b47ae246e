package httpapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// RateLimits are token buckets: Rate requests per second sustained, Burst
// at once. A zero rate disables that limit.
//
// Each caller — an agency or an auditor — has its own bucket, charged for
// the requests it makes. Which caller a request is from is only known for
// sure once its token or signature is verified, which is the expensive
// part; so the bucket of the caller a request claims to be from (the iss
// of its token, the from of its envelope) is checked before, and charged
// after, only if the claim held. A request whose claim did not hold (401,
// 403, or a 400 refusal of the message itself) is charged to the client
// address instead: forging another agency's name cannot drain its bucket.
//
// Requests that name no caller (directory, health, metrics) and requests
// whose claim failed are limited per client address. The address is the
// TCP peer: behind a reverse proxy, every client shares the proxy's
// address, so limit per client address at the proxy and raise IPRate here.
type RateLimits struct {
	CallerRate  rate.Limit
	CallerBurst int
	IPRate      rate.Limit
	IPBurst     int
}

// Bounds of the bucket tables: entries idle for longer than bucketIdle are
// dropped once the table is full; beyond maxBuckets, new callers share one
// overflow bucket rather than grow the table without end.
const (
	maxBuckets = 10_000
	bucketIdle = 10 * time.Minute
)

// bucket is one token bucket and when it was last used.
type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// buckets is a bounded table of token buckets.
type buckets struct {
	mu       sync.Mutex
	rate     rate.Limit
	burst    int
	m        map[string]*bucket
	overflow *rate.Limiter
}

func newBuckets(r rate.Limit, burst int) *buckets {
	if r <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &buckets{rate: r, burst: burst, m: map[string]*bucket{}, overflow: rate.NewLimiter(r, burst)}
}

// get returns key's bucket, creating it when there is room.
func (b *buckets) get(key string, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[key]; ok {
		e.last = now
		return e.lim
	}
	if len(b.m) >= maxBuckets {
		for k, e := range b.m {
			// A full bucket idle for a while holds no state worth keeping.
			if now.Sub(e.last) > bucketIdle && e.lim.TokensAt(now) >= float64(b.burst) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxBuckets {
			return b.overflow
		}
	}
	e := &bucket{lim: rate.NewLimiter(b.rate, b.burst), last: now}
	b.m[key] = e
	return e.lim
}

// rateLimiter holds the caller and address tables.
type rateLimiter struct {
	callers, addrs *buckets
	now            func() time.Time
}

func newRateLimiter(l RateLimits) *rateLimiter {
	return &rateLimiter{callers: newBuckets(l.CallerRate, l.CallerBurst), addrs: newBuckets(l.IPRate, l.IPBurst), now: time.Now}
}

// retryAfter is how long until lim has a token again, in whole seconds.
func retryAfter(lim *rate.Limiter, now time.Time) int {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 || lim.Limit() <= 0 {
		return 1
	}
	return max(1, int(math.Ceil(missing/float64(lim.Limit()))))
}

// tooMany answers 429 with the delay after which lim has a token.
func tooMany(w http.ResponseWriter, r *http.Request, lim *rate.Limiter, now time.Time, who string) {
	wait := retryAfter(lim, now)
	w.Header().Set("Retry-After", strconv.Itoa(wait))
	writeProblem(w, r, contracts.Refuse(contracts.CodeRateLimited, "too many requests from this %s; retry in %d s", who, wait))
}

// clientAddr is the TCP peer's address without its port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// probe reports whether pattern is a health probe: orchestrators poll
// them, they cost nothing, and throttling them would get a healthy hub
// restarted in the middle of a flood.
func probe(pattern string) bool {
	return pattern == "GET /healthz" || pattern == "GET /readyz"
}

// isAdmin reports whether r carries the admin token, which is not rate
// limited: it is the operator's.
func (s *Server) isAdmin(r *http.Request) bool {
	tok, ok := bearer(r)
	return ok && s.adminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.adminToken)) == 1
}

// namesCaller reports whether r names a caller the limiter can key on: a
// bearer token (other than the admin's), or a message submission.
func (s *Server) namesCaller(r *http.Request, pattern string) bool {
	if _, ok := bearer(r); ok {
		return !s.isAdmin(r)
	}
	return pattern == "POST /v1/messages"
}

// limitAddress applies the address bucket to a request that names no
// caller. It reports whether the request may go on.
func (s *Server) limitAddress(w http.ResponseWriter, r *http.Request, pattern string) bool {
	if s.rate.addrs == nil || s.namesCaller(r, pattern) || probe(pattern) || s.isAdmin(r) {
		return true
	}
	now := s.rate.now()
	lim := s.rate.addrs.get(clientAddr(r), now)
	if !lim.AllowN(now, 1) {
		tooMany(w, r, lim, now, "address")
		return false
	}
	return true
}

// limitCaller applies the caller bucket to a request that names one, around
// next: it runs inside the content decoding, so that it reads the envelope
// of a compressed submission decompressed.
func (s *Server) limitCaller(next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		_, pattern := s.mux.Handler(r)
		if (s.rate.callers == nil && s.rate.addrs == nil) || !s.namesCaller(r, pattern) {
			next(w, r)
			return
		}
		now := s.rate.now()
		var addr *rate.Limiter
		if s.rate.addrs != nil {
			// An address that made too many requests whose claims failed
			// is refused whatever caller it names now.
			addr = s.rate.addrs.get(clientAddr(r), now)
			if addr.TokensAt(now) < 1 {
				tooMany(w, r, addr, now, "address")
				return
			}
		}
		var caller *rate.Limiter
		if s.rate.callers != nil {
			if id := s.claimedCaller(r, pattern); id != "" {
				caller = s.rate.callers.get(id, now)
				if caller.TokensAt(now) < 1 {
					tooMany(w, r, caller, now, "caller")
					return
				}
			}
		}
		rec := &codeRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		switch {
		case unproven(rec.status) || caller == nil:
			if addr != nil {
				addr.AllowN(s.rate.now(), 1)
			}
		default:
			caller.AllowN(s.rate.now(), 1)
		}
	}
}

// unproven reports whether a status means the caller named in the request
// was not shown to have made it: no valid token or signature, or a request
// refused before its sender could be established.
func unproven(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return true
	}
	return false
}

// claimedCaller is who r says it is from, without verifying anything: the
// iss of a bearer JWT, or the from of a submitted envelope. It is "" when
// r names no well-formed agency or auditor id.
func (s *Server) claimedCaller(r *http.Request, pattern string) string {
	var id string
	if tok, ok := bearer(r); ok {
		id = unverifiedClaim(tok, "iss")
	} else if pattern == "POST /v1/messages" {
		id = s.peekSender(r)
	}
	if contracts.ValidAgencyID(id) || hub.ValidAuditorID(id) {
		return id
	}
	return ""
}

// peekSender reads the from of a submitted envelope and puts the bytes it
// read back in front of the body, for the handler. A body larger than the
// message limit is not read: its handler refuses it without reading it.
func (s *Server) peekSender(r *http.Request) string {
	if r.Body == nil || r.ContentLength > s.maxBytes {
		return ""
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, s.maxBytes+1))
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(head), r.Body), Closer: r.Body}
	if err != nil || int64(len(head)) > s.maxBytes {
		return ""
	}
	return unverifiedClaim(string(head), "from")
}

type readCloser struct {
	io.Reader
	io.Closer
}

// unverifiedClaim reads one string member of the payload of a compact JWS
// without checking anything else: it only picks a rate-limit bucket.
func unverifiedClaim(compact, member string) string {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	var v string
	if json.Unmarshal(claims[member], &v) != nil {
		return ""
	}
	return v
}

// codeRecorder remembers the status written, passing flushes through so
// long-polls still stream.
type codeRecorder struct {
	http.ResponseWriter
	status int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }
