package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/relais-hub/relais/contracts"
)

// guard runs next behind the request-level defences, in order: a panic
// anywhere below is turned into a bare 500; an oversized query or body is
// refused; a request that names no caller is rate limited by address (the
// caller limit runs further in, see limitCaller).
func (s *Server) guard(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request)) {
	pw := &panicWriter{ResponseWriter: w}
	defer s.recoverPanic(pw, r)
	_, pattern := s.mux.Handler(r)
	if !s.checkSize(pw, r, pattern) || !s.limitAddress(pw, r, pattern) {
		return
	}
	next(pw, r)
}

// recoverPanic turns a handler's panic into a 500 problem+json whose
// detail is empty, and logs only that it happened, where (the route
// pattern, never the path, which may hold ids) and the request id. The
// panic value and the stack are not logged: either may hold message
// content or personal data that happened to be in a variable.
func (s *Server) recoverPanic(w *panicWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		// The handler chose to abort the response; net/http closes the
		// connection without logging.
		panic(v)
	}
	_, pattern := s.mux.Handler(r)
	// A background context: the request's would make WithRequestID add
	// the id a second time.
	s.log.LogAttrs(context.Background(), slog.LevelError, "handler panicked",
		slog.String("request_id", RequestIDFrom(r.Context())), slog.String("route", pattern))
	if w.wrote {
		// Part of the answer is already out: the only safe end is to
		// break the connection, so the client cannot take a truncated
		// answer for a whole one.
		panic(http.ErrAbortHandler)
	}
	writeProblem(w, r, &contracts.Problem{Code: contracts.CodeInternal})
}

// panicWriter remembers whether the response was started.
type panicWriter struct {
	http.ResponseWriter
	wrote bool
}

func (p *panicWriter) WriteHeader(code int) {
	p.wrote = true
	p.ResponseWriter.WriteHeader(code)
}

func (p *panicWriter) Write(b []byte) (int, error) {
	p.wrote = true
	return p.ResponseWriter.Write(b)
}

func (p *panicWriter) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		p.wrote = true
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (p *panicWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
