package httpapi

import (
	"encoding/json"
	"errors"

	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/attachments"
)

// Attachment routes (docs/attachments.md). They are served apart from
// /v1/messages and each takes a slot of the attachment lane for its whole
// duration, so uploads on slow links never hold up small messages.
//
//	POST  /v1/attachments              announce an upload {id, sha256, size}
//	HEAD  /v1/attachments/{id}/upload  the durable offset (Upload-Offset)
//	PATCH /v1/attachments/{id}/upload  append a chunk at Upload-Offset
//	POST  /v1/attachments/{id}/finish  verify the digest and publish
//	GET   /v1/attachments/{id}         download (Range supported)
const (
	headerUploadOffset = "Upload-Offset"
	headerUploadLength = "Upload-Length"
	headerUploadState  = "Upload-State"
	// chunkContentType is the media type of a PATCH body, as in tus.
	chunkContentType = "application/offset+octet-stream"
	// attachmentIdle is how long an attachment transfer may make no
	// progress before the connection is dropped; while bytes flow, the
	// server's read and write timeouts are pushed back, since a 20 MiB
	// file takes most of an hour on a 56 kbit/s modem.
	attachmentIdle = 60 * time.Second
	// laneRetryAfter is what a client is told to wait when the lane is
	// full.
	laneRetryAfter = "5"
)

func (s *Server) registerAttachmentRoutes() {
	s.mux.HandleFunc("POST /v1/attachments", s.postAttachment)
	s.mux.HandleFunc("HEAD /v1/attachments/{id}/upload", s.headUpload)
	s.mux.HandleFunc("PATCH /v1/attachments/{id}/upload", s.patchUpload)
	s.mux.HandleFunc("POST /v1/attachments/{id}/finish", s.finishUpload)
	s.mux.HandleFunc("GET /v1/attachments/{id}", s.getAttachment)
}

// attachmentCall authenticates an agency and, when lane is set, takes a
// slot of the attachment lane; done releases it.
func (s *Server) attachmentCall(w http.ResponseWriter, r *http.Request, lane bool) (svc *attachments.Service, agency string, done func(), ok bool) {
	svc = s.hub.Attachments()
	if svc == nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeNotFound, "this hub does not store attachments"))
		return nil, "", nil, false
	}
	c, ok := s.requireAgency(w, r)
	if !ok {
		return nil, "", nil, false
	}
	done = func() {}
	if lane {
		release, err := svc.Lane().Acquire(r.Context())
		if err != nil {
			if contracts.CodeOf(err) == contracts.CodeUnavailable {
				w.Header().Set("Retry-After", laneRetryAfter)
			}
			writeProblem(w, r, err)
			return nil, "", nil, false
		}
		done = release
	}
	return svc, c.Agency, done, true
}

type uploadDoc struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
	State  string `json:"state"`
}

func writeUpload(w http.ResponseWriter, status int, rec attachments.Record) {
	setUploadHeaders(w, rec)
	writeJSON(w, status, uploadDoc{ID: rec.ID, SHA256: rec.SHA256, Size: rec.Size, Offset: rec.Offset, State: string(rec.State)})
}

func setUploadHeaders(w http.ResponseWriter, rec attachments.Record) {
	w.Header().Set(headerUploadOffset, strconv.FormatInt(rec.Offset, 10))
	w.Header().Set(headerUploadLength, strconv.FormatInt(rec.Size, 10))
	w.Header().Set(headerUploadState, string(rec.State))
}

func (s *Server) postAttachment(w http.ResponseWriter, r *http.Request) {
	svc, agency, done, ok := s.attachmentCall(w, r, true)
	if !ok {
		return
	}
	defer done()
	var req attachments.CreateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "body must be {id, sha256, size}"))
		return
	}
	rec, created, err := svc.Create(r.Context(), agency, req)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/attachments/"+rec.ID+"/upload")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeUpload(w, status, rec)
}

func (s *Server) headUpload(w http.ResponseWriter, r *http.Request) {
	// No lane slot: asking where to resume must work even when the lane
	// is full.
	svc, agency, done, ok := s.attachmentCall(w, r, false)
	if !ok {
		return
	}
	defer done()
	rec, err := svc.Status(r.Context(), agency, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	setUploadHeaders(w, rec)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) patchUpload(w http.ResponseWriter, r *http.Request) {
	svc, agency, done, ok := s.attachmentCall(w, r, true)
	if !ok {
		return
	}
	defer done()
	if mt := r.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(mt, ";")[0]), chunkContentType) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeUnsupportedMedia, "a chunk is sent as %s", chunkContentType))
		return
	}
	offset, err := strconv.ParseInt(r.Header.Get(headerUploadOffset), 10, 64)
	if err != nil || offset < 0 {
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "the %s header must give the offset of the chunk", headerUploadOffset))
		return
	}
	rc := s.controller(w)
	// The answer comes after the whole chunk: the write deadline moves too.
	body := &progressReader{r: r.Body, extend: func() {
		_ = rc.SetReadDeadline(time.Now().Add(attachmentIdle))
		_ = rc.SetWriteDeadline(time.Now().Add(attachmentIdle))
	}}
	body.extend()
	rec, err := svc.Append(r.Context(), agency, r.PathValue("id"), offset, body)
	if err != nil {
		if rec.ID != "" {
			setUploadHeaders(w, rec)
		}
		if errors.Is(err, attachments.ErrChunkInterrupted) {
			// The connection broke: the client will likely not read this
			// answer; it asks for the durable offset and resumes there.
			s.log.InfoContext(r.Context(), "upload interrupted", "attachment", rec.ID, "offset", rec.Offset)
			err = contracts.Refuse(contracts.CodeBadRequest, "the chunk broke off at offset %d", rec.Offset)
		}
		writeProblem(w, r, err)
		return
	}
	setUploadHeaders(w, rec)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request) {
	svc, agency, done, ok := s.attachmentCall(w, r, true)
	if !ok {
		return
	}
	defer done()
	rec, err := svc.Finish(r.Context(), agency, r.PathValue("id"))
	if err != nil {
		if rec.ID != "" {
			setUploadHeaders(w, rec)
		}
		writeProblem(w, r, err)
		return
	}
	writeUpload(w, http.StatusOK, rec)
}

func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request) {
	svc, agency, done, ok := s.attachmentCall(w, r, true)
	if !ok {
		return
	}
	defer done()
	blob, rec, err := svc.Open(r.Context(), agency, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	defer blob.Close()
	if start, ok := rangeStart(r.Header.Get("Range")); ok && start >= blob.Size() {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(blob.Size(), 10))
		writeProblem(w, r, contracts.Refuse(contracts.CodeRangeNotSatisfiable, "the attachment has %d bytes", blob.Size()))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+rec.SHA256+`"`)
	w.Header().Set("Digest-SHA256", rec.SHA256)
	rc := s.controller(w)
	out := &progressWriter{ResponseWriter: w, extend: func() { _ = rc.SetWriteDeadline(time.Now().Add(attachmentIdle)) }}
	out.extend()
	// ServeContent answers Range and If-Range requests (206, 416) from the
	// seekable file, so an interrupted download resumes where it broke.
	http.ServeContent(out, r, "", rec.CompletedAt, blob)
}

// rangeStart reads the first position of a "bytes=N-..." range.
func rangeStart(h string) (int64, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, false
	}
	first, _, ok := strings.Cut(spec, "-")
	if !ok || first == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// controller reaches the connection under the wrappers (access log,
// compression), to move its deadlines.
func (s *Server) controller(w http.ResponseWriter) *http.ResponseController {
	for {
		switch v := w.(type) {
		case *statusRecorder:
			w = v.ResponseWriter
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return http.NewResponseController(w)
		}
	}
}

// progressReader pushes the read deadline back each time bytes arrive.
type progressReader struct {
	r      interface{ Read([]byte) (int, error) }
	extend func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.extend()
	}
	return n, err
}

// progressWriter pushes the write deadline back each time bytes leave.
type progressWriter struct {
	http.ResponseWriter
	extend func()
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.ResponseWriter.Write(b)
	if n > 0 {
		p.extend()
	}
	return n, err
}
