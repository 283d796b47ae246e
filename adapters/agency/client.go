package agency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// tokenTTL keeps agency tokens well inside the hub's five-minute limit.
const tokenTTL = 2 * time.Minute

// Client talks to one hub on behalf of one agency.
type Client struct {
	Hub  string // base URL
	Keys Keys
	HTTP *http.Client
	Lang string // "fr" (default) or "en", for the hub's messages

	mu  sync.Mutex
	dir *Directory
}

// New builds a client.
func New(hubURL string, keys Keys) *Client {
	return &Client{Hub: strings.TrimRight(hubURL, "/"), Keys: keys, HTTP: &http.Client{Timeout: 90 * time.Second}, Lang: "fr"}
}

// HubError is a refusal from the hub, with its stable code.
type HubError struct {
	Status int
	Code   string
	Title  string
	Detail string
	Raw    map[string]any
}

func (e *HubError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%s): %s", e.Title, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s (%s)", e.Title, e.Code)
}

// Directory is the hub's directory as an agency sees it.
type Directory struct {
	Hub struct {
		ID   string          `json:"id"`
		JWKS json.RawMessage `json:"jwks"`
	} `json:"hub"`
	Agencies []DirectoryEntry `json:"agencies"`
}

// DirectoryEntry is one agency of the directory.
type DirectoryEntry struct {
	ID      string          `json:"id"`
	Country string          `json:"country"`
	Name    string          `json:"name"`
	JWKS    json.RawMessage `json:"jwks"`
	// Supervisors are the public keys that approve the agency's
	// best-interests overrides, when it registered any.
	Supervisors json.RawMessage `json:"supervisors,omitempty"`
}

func (d *Directory) entry(id string) (DirectoryEntry, bool) {
	for _, a := range d.Agencies {
		if a.ID == id {
			return a, true
		}
	}
	return DirectoryEntry{}, false
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, auth bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Hub+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept-Language", c.Lang)
	if auth {
		dir, err := c.Directory(ctx, false)
		if err != nil {
			return err
		}
		tok, err := seal.IssueToken(c.Keys.Signing, c.Keys.ID, dir.Hub.ID, tokenTTL, time.Now())
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		he := &HubError{Status: resp.StatusCode}
		if json.Unmarshal(raw, &he.Raw) == nil {
			he.Code, _ = he.Raw["code"].(string)
			he.Title, _ = he.Raw["title"].(string)
			he.Detail, _ = he.Raw["detail"].(string)
		}
		if he.Code == "" {
			he.Code, he.Title = "http_"+strconv.Itoa(resp.StatusCode), resp.Status
		}
		return he
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Directory fetches (or returns the cached) hub directory.
func (c *Client) Directory(ctx context.Context, refresh bool) (*Directory, error) {
	c.mu.Lock()
	cached := c.dir
	c.mu.Unlock()
	if cached != nil && !refresh {
		return cached, nil
	}
	var d Directory
	if err := c.do(ctx, http.MethodGet, "/v1/directory", "", nil, false, &d); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	c.mu.Lock()
	c.dir = &d
	c.mu.Unlock()
	return &d, nil
}

// agencyKeys returns an agency's registered keys, refreshing the directory
// once when the agency is not in the cached copy.
func (c *Client) agencyKeys(ctx context.Context, id string) (jwk.Set, error) {
	for _, refresh := range []bool{false, true} {
		d, err := c.Directory(ctx, refresh)
		if err != nil {
			return nil, err
		}
		if e, ok := d.entry(id); ok {
			return seal.ParseSet(e.JWKS)
		}
	}
	return nil, fmt.Errorf("agency %s is not in the hub directory", id)
}

// keyByUse returns the first key of use. The hub's directory lists an
// agency's valid keys newest first (with their status beside the JWKS), so
// the first is the current one: after a rotation, senders encrypt to the
// recipient's new key as soon as they refresh the directory.
func keyByUse(set jwk.Set, use string) (jwk.Key, error) {
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if u, _ := k.KeyUsage(); u == use {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no %s key", use)
}

// Submitted is the hub's answer to a submission.
type Submitted struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	LeafIndex uint64 `json:"leaf_index"`
	// JWS is the exact message submitted.
	JWS []byte `json:"-"`
}

// Submit posts a signed JWS as is.
func (c *Client) Submit(ctx context.Context, jws []byte) (Submitted, error) {
	var s Submitted
	err := c.do(ctx, http.MethodPost, "/v1/messages", "application/jose", jws, false, &s)
	s.JWS = jws
	return s, err
}

// Draft is a message to send: the envelope's routing metadata and the body
// in clear. Send fills in from and times (and the id, unless preset),
// encrypts and signs.
type Draft struct {
	// ID, optional, presets the message id: a best-interests override is
	// approved by a supervisor over the id of the very message to send, so
	// the id must be known before the message is sealed.
	ID             string             `json:"id,omitempty"`
	Kind           string             `json:"kind"`
	To             string             `json:"to"`
	Case           string             `json:"case"`
	Transfer       string             `json:"transfer,omitempty"`
	InReplyTo      string             `json:"in_reply_to,omitempty"`
	Seq            uint64             `json:"seq,omitempty"`
	Purpose        string             `json:"purpose,omitempty"`
	DataCategories []string           `json:"data_categories,omitempty"`
	Consent        *contracts.Consent `json:"consent,omitempty"`
	Body           json.RawMessage    `json:"body"`
	// Attachments are references to files already uploaded for the
	// recipient (UploadAttachment, or SealAttachment then
	// UploadSealedAttachment).
	Attachments []contracts.AttachmentRef `json:"attachments,omitempty"`
}

// Seal turns a draft into a signed JWS: it validates the body against the
// kind's contract, encrypts it for the recipient's current encryption key
// when the kind carries personal data, and signs the envelope.
func (c *Client) Seal(ctx context.Context, d Draft) (contracts.Envelope, []byte, error) {
	if d.Kind == "" {
		d.Kind = "referral.request"
	}
	spec, ok := contracts.Kind(d.Kind)
	if !ok {
		return contracts.Envelope{}, nil, fmt.Errorf("unknown kind %q", d.Kind)
	}
	if _, err := contracts.ValidateBody(d.Kind, d.Body); err != nil {
		return contracts.Envelope{}, nil, fmt.Errorf("body: %w", err)
	}
	id := d.ID
	if id == "" {
		id = contracts.NewMessageID()
	} else if !contracts.ValidMessageID(id) {
		return contracts.Envelope{}, nil, fmt.Errorf("draft id %q is not a UUIDv7 or a ULID", id)
	}
	env := contracts.Envelope{
		V: 1, ID: id, Kind: d.Kind, From: c.Keys.ID, To: d.To, Case: d.Case,
		Transfer: d.Transfer, InReplyTo: d.InReplyTo, Seq: d.Seq, SentAt: time.Now().UTC().Truncate(time.Millisecond),
		Purpose: d.Purpose, DataCategories: d.DataCategories, Consent: d.Consent, Attachments: d.Attachments,
	}
	if spec.OpensTransfer {
		env.Transfer = env.ID
	}
	if spec.PersonalData {
		keys, err := c.agencyKeys(ctx, d.To)
		if err != nil {
			return env, nil, err
		}
		encKey, err := keyByUse(keys, "enc")
		if err != nil {
			return env, nil, fmt.Errorf("recipient %s: %w", d.To, err)
		}
		jwe, err := seal.Encrypt(d.Body, encKey)
		if err != nil {
			return env, nil, err
		}
		env.Body = contracts.NewSealedBody(jwe)
	} else {
		var compact bytes.Buffer
		if err := json.Compact(&compact, d.Body); err != nil {
			return env, nil, err
		}
		env.Body = compact.Bytes()
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return env, nil, err
	}
	if _, err := contracts.DecodeEnvelope(payload); err != nil {
		return env, nil, fmt.Errorf("envelope: %w", err)
	}
	jws, err := seal.Sign(payload, c.Keys.Signing, seal.EnvelopeTyp)
	return env, jws, err
}

// Send seals and submits a draft.
func (c *Client) Send(ctx context.Context, d Draft) (contracts.Envelope, Submitted, error) {
	env, jws, err := c.Seal(ctx, d)
	if err != nil {
		return env, Submitted{}, err
	}
	s, err := c.Submit(ctx, jws)
	return env, s, err
}

// InboxItem is a message as the inbox returns it.
type InboxItem struct {
	ID         string    `json:"id"`
	JWS        string    `json:"jws"`
	ReceivedAt time.Time `json:"received_at"`
}

// Inbox pulls a page of the inbox after cursor, long-polling up to wait.
func (c *Client) Inbox(ctx context.Context, after string, wait time.Duration) ([]InboxItem, string, error) {
	path := "/v1/inbox?limit=100"
	if after != "" {
		path += "&after=" + after
	}
	if wait > 0 {
		path += "&wait=" + wait.String()
	}
	var page struct {
		Messages []InboxItem `json:"messages"`
		Cursor   string      `json:"cursor"`
	}
	if err := c.do(ctx, http.MethodGet, path, "", nil, true, &page); err != nil {
		return nil, after, fmt.Errorf("inbox: %w", err)
	}
	return page.Messages, page.Cursor, nil
}

// Opened is an inbox message verified and decrypted.
type Opened struct {
	Envelope contracts.Envelope
	JWS      []byte
	// Plaintext is the body in clear (decrypted, or the plain body).
	Plaintext []byte
	Body      any
}

// Open verifies a received JWS against the sender's keys in the directory,
// checks that the signer is the envelope's sender and that the message is
// for this agency, decrypts the body and validates it against its kind.
func (c *Client) Open(ctx context.Context, jws []byte) (Opened, error) {
	var signer string
	payload, _, err := seal.Verify(jws, seal.EnvelopeTyp, func(kid string) (jwk.Key, error) {
		for _, refresh := range []bool{false, true} {
			d, err := c.Directory(ctx, refresh)
			if err != nil {
				return nil, err
			}
			for _, a := range d.Agencies {
				set, err := seal.ParseSet(a.JWKS)
				if err != nil {
					continue
				}
				if k, ok := set.LookupKeyID(kid); ok {
					signer = a.ID
					return k, nil
				}
			}
		}
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "kid not in the directory")
	})
	if err != nil {
		return Opened{}, err
	}
	env, err := contracts.DecodeEnvelope(payload)
	if err != nil {
		return Opened{}, err
	}
	if env.From != signer {
		return Opened{}, contracts.Refuse(contracts.CodeSenderMismatch, "signed by %s but from %s", signer, env.From)
	}
	if env.To != c.Keys.ID {
		return Opened{}, contracts.Refuse(contracts.CodeUnknownRecipient, "message is for %s", env.To)
	}
	o := Opened{Envelope: env, JWS: jws}
	spec, _ := contracts.Kind(env.Kind)
	if spec.PersonalData {
		var compact string
		if err := json.Unmarshal(env.Body, &compact); err != nil {
			return o, contracts.Refuse(contracts.CodeBodyNotEncrypted, "body is not a JWE")
		}
		if o.Plaintext, err = seal.Decrypt(compact, c.Keys.Encryption); err != nil {
			return o, err
		}
	} else {
		o.Plaintext = env.Body
	}
	if o.Body, err = contracts.ValidateBody(env.Kind, o.Plaintext); err != nil {
		return o, err
	}
	return o, nil
}

// Receipt acknowledges a received message: a signed receipt carrying the
// SHA-256 of the exact bytes received. Send it only once the message is
// durably stored on the agency's side.
func (c *Client) Receipt(ctx context.Context, o Opened) (Submitted, error) {
	body, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: seal.SHA256Hex(o.JWS)})
	_, s, err := c.Send(ctx, Draft{Kind: "receipt", To: o.Envelope.From, Case: o.Envelope.Case,
		Transfer: o.Envelope.Transfer, InReplyTo: o.Envelope.ID, Body: body})
	return s, err
}

// Trail is a transfer's trail as the hub returns it.
type Trail struct {
	Transfer   string       `json:"transfer"`
	State      string       `json:"state"`
	Holder     string       `json:"holder"`
	Sender     string       `json:"sender"`
	Recipient  string       `json:"recipient"`
	CaseDigest string       `json:"case_digest"`
	Events     []TrailEvent `json:"events"`
}

// TrailEvent is one event of a trail.
type TrailEvent struct {
	Index     uint64    `json:"index"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	Kind      string    `json:"kind"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Actor     string    `json:"actor"`
	Code      string    `json:"code"`
	Detail    string    `json:"detail"`
	Holder    string    `json:"holder,omitempty"`
}

// Trail fetches a transfer's trail.
func (c *Client) Trail(ctx context.Context, transfer string) (Trail, error) {
	var t Trail
	err := c.do(ctx, http.MethodGet, "/v1/transfers/"+transfer+"/trail", "", nil, true, &t)
	return t, err
}

// Answer sends referral.accepted or referral.declined for a transfer this
// agency received. The case reference is the sender's, taken from the
// opening message kept locally.
func (c *Client) Answer(ctx context.Context, opening contracts.Envelope, accept bool, reason string) (Submitted, error) {
	d := Draft{To: opening.From, Case: opening.Case, Transfer: opening.Transfer, InReplyTo: opening.ID}
	if accept {
		d.Kind, d.Body = "referral.accepted", json.RawMessage(`{}`)
	} else {
		body, _ := json.Marshal(contracts.ReferralDeclined{Reason: reason})
		d.Kind, d.Body = "referral.declined", body
	}
	_, s, err := c.Send(ctx, d)
	return s, err
}

// IsCode reports whether err is a hub refusal with the given code.
func IsCode(err error, code contracts.Code) bool {
	var he *HubError
	return errors.As(err, &he) && he.Code == string(code)
}
