package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// hubAPI is every network exchange of the agent with its hub. The agency
// client (agency.Client) is kept for sealing and opening only, offline.
type hubAPI struct {
	base string
	http *http.Client
	lang string
	keys agency.Keys
	// gzipRequests is set once the hub has advertised, in an
	// Accept-Encoding response header (RFC 7694), that it takes gzip
	// request bodies. Never assumed: an older hub would read a gzip body as
	// a malformed JWS.
	gzipRequests atomic.Bool
	// noGzip turns request compression off (benchmarks compare both).
	noGzip bool
	// skew is the hub's clock minus ours, from the Date of its answers:
	// shared PCs in the field often keep a wrong time (a flat CMOS battery,
	// a clock never set), and tokens are checked against the hub's clock.
	skew atomic.Int64
}

// maxTrustedSkew bounds the correction: a Date further off than this is
// not the hub's (a proxy's cache, a forged answer) and is ignored.
const maxTrustedSkew = 30 * 24 * time.Hour

// noteClock learns the skew from a response's Date header.
func (h *hubAPI) noteClock(resp *http.Response, sent time.Time) {
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return
	}
	// The hub stamped its answer between sending and now; its Date has a
	// resolution of a second.
	mid := sent.Add(time.Since(sent) / 2)
	if skew := date.Sub(mid); skew.Abs() < maxTrustedSkew {
		h.skew.Store(int64(skew))
	}
}

// hubNow is our clock corrected to the hub's.
func (h *hubAPI) hubNow() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }

// gzipMinBytes: below this a JWS gains less from gzip than the header costs.
const gzipMinBytes = 1024

// Per-exchange time limits: a submission is a few KiB even at 56 kbit/s;
// an inbox read waits for the long-poll, then for a page.
const (
	submitTimeout    = 2 * time.Minute
	directoryTimeout = 2 * time.Minute
	pageTimeout      = 2 * time.Minute
)

// response limits: what the agent reads of an answer at most.
const (
	maxSmallResponse = 1 << 20
	maxPageResponse  = 32 << 20
)

func (h *hubAPI) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Language", h.lang)
	return req, nil
}

// do sends req and reads at most limit bytes of the answer. A status of 300
// or more becomes an *agency.HubError.
func (h *hubAPI) do(req *http.Request, limit int64) ([]byte, error) {
	sent := time.Now()
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	h.noteClock(resp, sent)
	if acceptsGzip(resp.Header) {
		h.gzipRequests.Store(true)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, hubError(resp, raw)
	}
	return raw, nil
}

// acceptsGzip reads an Accept-Encoding response header.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(name, "gzip") {
				return true
			}
		}
	}
	return false
}

// hubError reads a refusal. Only a problem+json document with a code
// counts as the hub's word; anything else (a proxy's or captive portal's
// page) gets an http_<status> code and is never taken as a refusal.
func hubError(resp *http.Response, raw []byte) *agency.HubError {
	he := &agency.HubError{Status: resp.StatusCode}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" && json.Unmarshal(raw, &he.Raw) == nil {
		he.Code, _ = he.Raw["code"].(string)
		he.Title, _ = he.Raw["title"].(string)
		he.Detail, _ = he.Raw["detail"].(string)
	}
	if he.Code == "" {
		he.Code, he.Title = "http_"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	return he
}

// refusal reports whether err is the hub's final word on a submission: a
// problem code of the refusal table, with a client-error status other than
// the ones that mean "try again".
func refusal(err error) (*agency.HubError, bool) {
	var he *agency.HubError
	if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
		return nil, false
	}
	switch he.Status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return nil, false
	}
	return he, slices.Contains(contracts.Codes(), contracts.Code(he.Code))
}

// errorCode names an error for the state table and logs: a hub code, or a
// coarse class of transport failure (never the error text, which may quote
// a URL or a body).
func errorCode(err error) string {
	var he *agency.HubError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrNoDirectory):
		return "no_directory"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		return "unreachable"
	}
	var p *contracts.Problem
	if errors.As(err, &p) {
		return string(p.Code)
	}
	return "error"
}

// fetchDirectory reads the hub's public directory.
func (h *hubAPI) fetchDirectory(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	defer cancel()
	req, err := h.newRequest(ctx, http.MethodGet, "/v1/directory", nil)
	if err != nil {
		return nil, err
	}
	raw, err := h.do(req, maxPageResponse)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	var probe agency.Directory
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Hub.ID == "" {
		return nil, fmt.Errorf("directory: the answer is not a hub directory")
	}
	return raw, nil
}

// submission is the hub's answer to a submitted JWS.
type submission struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	LeafIndex uint64 `json:"leaf_index"`
}

// submit posts a signed message, gzip-compressed when the hub takes it.
// Compression is over the JWS, whose body is already a JWE: the plaintext
// is never compressed, so sizes reveal nothing more than the JWE's length.
func (h *hubAPI) submit(ctx context.Context, jws []byte) (submission, error) {
	compress := !h.noGzip && h.gzipRequests.Load() && len(jws) >= gzipMinBytes
	s, err := h.post(ctx, jws, compress)
	if he, ok := refusal(err); ok && compress &&
		(he.Status == http.StatusUnsupportedMediaType || he.Code == string(contracts.CodeMalformedJWS)) {
		// The hub no longer takes gzip (or a proxy mangled it): say so and
		// send the same bytes plain before believing any refusal.
		h.gzipRequests.Store(false)
		return h.post(ctx, jws, false)
	}
	return s, err
}

func (h *hubAPI) post(ctx context.Context, jws []byte, compress bool) (submission, error) {
	ctx, cancel := context.WithTimeout(ctx, submitTimeout)
	defer cancel()
	body := jws
	if compress {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(jws)
		if err := zw.Close(); err != nil {
			return submission{}, err
		}
		body = b.Bytes()
	}
	req, err := h.newRequest(ctx, http.MethodPost, "/v1/messages", body)
	if err != nil {
		return submission{}, err
	}
	req.Header.Set("Content-Type", "application/jose")
	if compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	raw, err := h.do(req, maxSmallResponse)
	if err != nil {
		return submission{}, err
	}
	var s submission
	if err := json.Unmarshal(raw, &s); err != nil {
		return submission{}, fmt.Errorf("submission: the answer is not the hub's: %w", err)
	}
	return s, nil
}

func (h *hubAPI) token(hubID string) (string, error) {
	return seal.IssueToken(h.keys.Signing, h.keys.ID, hubID, 2*time.Minute, h.hubNow())
}

// authGet sends an authenticated GET.
func (h *hubAPI) authGet(ctx context.Context, hubID, path string, limit int64) ([]byte, error) {
	tok, err := h.token(hubID)
	if err != nil {
		return nil, err
	}
	req, err := h.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return h.do(req, limit)
}

// inbox reads one page of the inbox after cursor, long-polling up to wait.
// Pages are small on purpose: on a 56 kbit/s link a page must finish
// between two dropped connections, or the inbox never advances.
func (h *hubAPI) inbox(ctx context.Context, hubID, after string, wait time.Duration, limit int) ([]agency.InboxItem, string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+pageTimeout)
	defer cancel()
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	raw, err := h.authGet(ctx, hubID, "/v1/inbox?"+q.Encode(), maxPageResponse)
	if err != nil {
		return nil, after, fmt.Errorf("inbox: %w", err)
	}
	var page struct {
		Messages []agency.InboxItem `json:"messages"`
		Cursor   string             `json:"cursor"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, after, fmt.Errorf("inbox: the answer is not the hub's: %w", err)
	}
	return page.Messages, page.Cursor, nil
}

// OverdueTransfer is a transfer of the agency with a deadline passed, as
// the hub's transfers endpoint lists it (metadata only).
type OverdueTransfer struct {
	Transfer  string     `json:"transfer"`
	State     string     `json:"state"`
	Role      string     `json:"role"`
	Sender    string     `json:"sender"`
	Recipient string     `json:"recipient"`
	Holder    string     `json:"holder"`
	UpdatedAt time.Time  `json:"updated_at"`
	Overdue   []Deadline `json:"overdue"`
}

// Deadline is one passed deadline of a transfer.
type Deadline struct {
	Timer       string    `json:"timer"`
	Stage       string    `json:"stage"`
	Party       string    `json:"party"`
	DueAt       time.Time `json:"due_at"`
	EscalatedTo string    `json:"escalated_to,omitempty"`
}

// overdueTransfers lists the agency's transfers with a passed deadline.
func (h *hubAPI) overdueTransfers(ctx context.Context, hubID string) ([]OverdueTransfer, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	raw, err := h.authGet(ctx, hubID, "/v1/transfers?overdue=true", maxPageResponse)
	if err != nil {
		return nil, fmt.Errorf("transfers: %w", err)
	}
	var page struct {
		Transfers []OverdueTransfer `json:"transfers"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, fmt.Errorf("transfers: the answer is not the hub's: %w", err)
	}
	return page.Transfers, nil
}
