package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Limits bounds what one request may cost the hub before a handler runs.
// The zero value limits sizes (DefaultMaxBodyBytes) but not rates: rate
// limits are a deployment choice, which `relais serve` turns on with its
// own defaults (see RateLimits).
type Limits struct {
	// MaxBodyBytes caps the body of every request except message
	// submissions (capped by Config.MaxMessageBytes, and refused by their
	// handler so that the refusal is audited) and attachment uploads
	// (capped by their own handler, chunk by chunk). 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxQueryBytes caps the query string; 0 means DefaultMaxQueryBytes.
	MaxQueryBytes int
	Rate          RateLimits
}

// Size defaults: the largest JSON body of the API is an agency
// registration (a JWKS and a name), a few kilobytes; the longest query is
// an audit search naming a few transfers.
const (
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMaxQueryBytes = 4 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxQueryBytes <= 0 {
		l.MaxQueryBytes = DefaultMaxQueryBytes
	}
	return l
}

// ownBodyLimit reports whether the route caps its body itself.
func ownBodyLimit(pattern string) bool {
	return pattern == "POST /v1/messages" || strings.Contains(pattern, " /v1/attachments")
}

// checkSize refuses a request whose query or declared body is too large,
// and caps the body of the others so that a client that lies about its
// Content-Length (or streams without one) is cut off at the limit.
func (s *Server) checkSize(w http.ResponseWriter, r *http.Request, pattern string) bool {
	if len(r.URL.RawQuery) > s.limits.MaxQueryBytes {
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "query string longer than %d bytes", s.limits.MaxQueryBytes))
		return false
	}
	if ownBodyLimit(pattern) || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > s.limits.MaxBodyBytes {
		writeProblem(w, r, contracts.Refuse(contracts.CodePayloadTooLarge, "limit is %d bytes", s.limits.MaxBodyBytes))
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.limits.MaxBodyBytes)
	return true
}

// ServerTimeouts are the connection-level limits of the hub's HTTP server.
// Zero fields take the defaults below.
type ServerTimeouts struct {
	// ReadHeader bounds the time to send the request line and headers:
	// a client dribbling its headers (slowloris) is cut off after it.
	ReadHeader time.Duration
	// Read bounds the time to read a whole request, body included. A
	// handler that streams a large body (an attachment chunk over a slow
	// link) extends its own deadline with http.ResponseController.
	Read time.Duration
	// Write bounds the time from the end of the request headers to the
	// end of the response; it must outlast the longest inbox long-poll.
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes caps the request line and headers.
	MaxHeaderBytes int
}

// Timeout defaults. A 256 KiB message takes about 40 s on a 56 kbit/s
// link, hence the read timeout; the write timeout leaves 30 s beyond the
// 60 s cap of an inbox long-poll.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = maxInboxWait + 30*time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

// NewHTTPServer wraps h in an http.Server with the hub's timeouts: every
// phase of a connection is bounded, so slow or stalled clients cannot hold
// connections (and their goroutines and buffers) for ever.
func NewHTTPServer(h http.Handler, t ServerTimeouts) *http.Server {
	def := func(d, fallback time.Duration) time.Duration {
		if d <= 0 {
			return fallback
		}
		return d
	}
	maxHeader := t.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: def(t.ReadHeader, DefaultReadHeaderTimeout),
		ReadTimeout:       def(t.Read, DefaultReadTimeout),
		WriteTimeout:      def(t.Write, DefaultWriteTimeout),
		IdleTimeout:       def(t.Idle, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeader,
	}
}
