package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/relais-hub/relais/contracts"
)

// HTTP compression, where it is safe. Field sites pay for every byte of a
// prepaid 3G/4G link, and a signed message compresses well: its JWS is the
// base64url of an envelope whose body is itself the base64url of a JWE, so
// each character carries about 4.5 bits of entropy.
//
// What is compressed, and why it is safe:
//
//   - Request bodies sent with Content-Encoding: gzip (RFC 9110 §8.4) are
//     decompressed before any handler reads them, up to the server's
//     message limit: beyond it the request is refused as
//     decompressed_too_large, so a small "zip bomb" cannot make the hub
//     allocate more than a message. Every response advertises
//     Accept-Encoding: gzip (RFC 7694), which is how a client learns it may
//     compress; other codings are refused as unsupported_content_encoding.
//     Attachment chunks are never compressed by clients (ciphertext does not
//     compress) and would fail the limit if they were.
//   - JSON responses of 1 KiB or more are gzipped when the client accepts
//     gzip.
//
// The plaintext of a body is never compressed: compression happens outside
// the JWE (and seal refuses the JWE "zip" header), so the length of what
// travels reveals nothing beyond the JWE's own length, which the hub sees
// anyway. Compression oracles (CRIME/BREACH) need a secret in clear and
// attacker-chosen bytes in the same compressed stream: no response carries
// a credential (agency tokens travel in request headers and are
// single-use), and the only stream mixing parties is an inbox page, whose
// clear parts are envelope metadata the protocol keeps free of personal
// data (pseudonymous references, vocabulary codes).

// gzipResponseMin: below this, gzip's header and trailer eat the gain.
const gzipResponseMin = 1024

// compressed runs next with the request body decoded and the response
// gzipped when the client accepts it.
func (s *Server) compressed(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request)) {
	w.Header().Set("Accept-Encoding", "gzip")
	r, p := s.decodeRequestBody(w, r)
	if p != nil {
		if _, pattern := s.mux.Handler(r); pattern == "POST /v1/messages" {
			// Every refusal of a submission is audited, like the
			// handler's own size and media type refusals.
			s.hub.RefuseSubmission(r.Context(), p)
		}
		writeProblem(w, r, p)
		return
	}
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		next(w, r)
		return
	}
	gw := &gzipResponseWriter{ResponseWriter: w, head: r.Method == http.MethodHead}
	defer gw.finish()
	next(gw, r)
}

// decodeRequestBody replaces a gzip request body by its decompressed bytes.
func (s *Server) decodeRequestBody(w http.ResponseWriter, r *http.Request) (*http.Request, *contracts.Problem) {
	coding := strings.ToLower(strings.TrimSpace(strings.Join(r.Header.Values("Content-Encoding"), ",")))
	switch coding {
	case "", "identity":
		return r, nil
	case "gzip", "x-gzip":
	default:
		// The coding is echoed quoted and cut short: it is the client's text.
		if len(coding) > 40 {
			coding = coding[:40]
		}
		return r, contracts.Refuse(contracts.CodeUnsupportedEncoding, "content encoding %q: only gzip is accepted", coding)
	}
	plain, p := s.gunzipLimited(w, r.Body)
	if p != nil {
		return r, p
	}
	r = r.Clone(r.Context())
	r.Header.Del("Content-Encoding")
	r.Header.Set("Content-Length", strconv.Itoa(len(plain)))
	r.ContentLength = int64(len(plain))
	r.Body = io.NopCloser(bytes.NewReader(plain))
	return r, nil
}

// gunzipLimited reads a gzip body: at most maxBytes compressed, at most
// maxBytes once decompressed.
func (s *Server) gunzipLimited(w http.ResponseWriter, body io.Reader) ([]byte, *contracts.Problem) {
	limited := http.MaxBytesReader(w, io.NopCloser(body), s.maxBytes)
	tooBig := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	zr, err := gzip.NewReader(limited)
	if err != nil {
		if tooBig(err) {
			return nil, contracts.Refuse(contracts.CodePayloadTooLarge, "limit is %d bytes", s.maxBytes)
		}
		return nil, contracts.Refuse(contracts.CodeBadRequest, "the body is not valid gzip")
	}
	plain, err := io.ReadAll(io.LimitReader(zr, s.maxBytes+1))
	switch {
	case tooBig(err):
		return nil, contracts.Refuse(contracts.CodePayloadTooLarge, "limit is %d bytes", s.maxBytes)
	case err != nil:
		return nil, contracts.Refuse(contracts.CodeBadRequest, "the body is not valid gzip")
	case int64(len(plain)) > s.maxBytes:
		return nil, contracts.Refuse(contracts.CodeDecompressedTooLarge, "decompressed body exceeds %d bytes", s.maxBytes)
	}
	return plain, nil
}

// acceptsGzip reads an Accept-Encoding request header: gzip (or *) with a
// quality above zero.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// gzipWriters compress at BestSpeed: what is compressed is mostly base64
// ciphertext, which the default level compresses no better (40 264 against
// 40 195 bytes for a 53 KiB inbox page) for 2.3 times the CPU; it was 4 %
// of the hub's CPU under load.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// gzipResponseWriter holds back the first gzipResponseMin bytes of a
// response to decide: a JSON body that reaches the threshold is gzipped;
// a smaller one, another type, or a body already encoded goes as is.
type gzipResponseWriter struct {
	http.ResponseWriter
	head     bool
	status   int
	buf      []byte
	decided  bool
	compress bool
	zw       *gzip.Writer
}

func (g *gzipResponseWriter) WriteHeader(code int) {
	if g.status != 0 || g.decided {
		return
	}
	g.status = code
	if g.head || code < http.StatusOK || code == http.StatusNoContent || code == http.StatusNotModified {
		g.decide(false)
	}
}

func (g *gzipResponseWriter) Write(p []byte) (int, error) {
	if g.status == 0 {
		g.WriteHeader(http.StatusOK)
	}
	if !g.decided {
		g.buf = append(g.buf, p...)
		if len(g.buf) >= gzipResponseMin {
			if err := g.decide(g.compressible()); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if g.compress {
		return g.zw.Write(p)
	}
	return g.ResponseWriter.Write(p)
}

// compressible: JSON the handler did not encode itself.
func (g *gzipResponseWriter) compressible() bool {
	h := g.Header()
	if h.Get("Content-Encoding") != "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json" || mt == "application/problem+json"
}

// decide sends the header and what was held back, compressed or not.
func (g *gzipResponseWriter) decide(compress bool) error {
	g.decided, g.compress = true, compress
	status := g.status
	if status == 0 {
		status = http.StatusOK
	}
	if compress {
		h := g.Header()
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		g.zw = gzipWriters.Get().(*gzip.Writer)
		g.zw.Reset(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(status)
	held := g.buf
	g.buf = nil
	if len(held) == 0 {
		return nil
	}
	var err error
	if compress {
		_, err = g.zw.Write(held)
	} else {
		_, err = g.ResponseWriter.Write(held)
	}
	return err
}

// Flush sends what is held back (uncompressed when below the threshold:
// a handler that flushes early wants it on the wire now).
func (g *gzipResponseWriter) Flush() {
	if !g.decided {
		_ = g.decide(len(g.buf) >= gzipResponseMin && g.compressible())
	}
	if g.zw != nil {
		_ = g.zw.Flush()
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (g *gzipResponseWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// finish completes the response once the handler returned.
func (g *gzipResponseWriter) finish() {
	if !g.decided && (g.status != 0 || len(g.buf) > 0) {
		_ = g.decide(false)
	}
	if g.zw != nil {
		_ = g.zw.Close()
		g.zw.Reset(io.Discard)
		gzipWriters.Put(g.zw)
		g.zw = nil
	}
}
