package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// EventType names what happened. The set is open: later issues add types
// without touching this package; the constants below are the common ones.
type EventType string

const (
	TypeAccepted         EventType = "accepted"
	TypeRejected         EventType = "rejected"
	TypeDelivered        EventType = "delivered"
	TypeReceipted        EventType = "receipted"
	TypeTransferAccepted EventType = "transfer_accepted"
	TypeTransferDeclined EventType = "transfer_declined"
	TypeConsentWithdrawn EventType = "consent_withdrawn"
	TypePolicyDecision   EventType = "policy_decision"
	TypeKeyRegistered    EventType = "key_registered"
	TypeKeyRotated       EventType = "key_rotated"
	TypeKeyRevoked       EventType = "key_revoked"
	TypeAgencyRegistered EventType = "agency_registered"
	TypeAdminAction      EventType = "admin_action"
	TypeAuditorQuery     EventType = "auditor_query"
	TypeDeadLettered     EventType = "dead_lettered"
	TypeReminder         EventType = "reminder"
	TypeEscalation       EventType = "escalation"
)

// Actors that are not agencies or auditors.
const (
	ActorHub   = "hub"
	ActorAdmin = "admin"
)

// leafVersion is the version of the canonical leaf encoding. It is written
// into every leaf so that a later encoding can coexist in the same log.
const leafVersion = 1

// Limits that keep leaves small and make it hard to smuggle free text (and
// with it personal data) into the log.
const (
	maxDetailLen = 200
	maxExtra     = 16
	maxExtraKey  = 64
	maxExtraVal  = 200
	maxIDLen     = 128
)

// timeLayout is the fixed-width, millisecond-precision UTC layout of `at`:
// a fixed width keeps the encoding canonical (RFC3339Nano trims zeros).
const timeLayout = "2006-01-02T15:04:05.000Z"

// Event is one audit leaf. It carries commitments only: identifiers, kinds,
// parties, times, codes and digests — never a name, a case reference in
// clear, or any part of a message body.
type Event struct {
	Type      EventType
	At        time.Time // UTC, millisecond precision
	MessageID string
	Transfer  string
	Kind      string
	From      string
	To        string
	// Actor is who caused the event: an agency id, "hub", "admin" or an
	// auditor id.
	Actor string
	// Code is the refusal code of a rejection (a contracts.Code value).
	Code string
	// CaseDigest is CaseDigest(key, agency, caseRef): lowercase hex.
	CaseDigest string
	// BodyDigest is the lowercase hex SHA-256 of the submitted JWS bytes.
	// Those bytes are a signature over a JWE ciphertext, so the digest
	// commits to the message without revealing anything of its plaintext.
	BodyDigest string
	// Detail is a short, non-personal word or phrase such as a state name.
	Detail string
	Extra  map[string]string
}

// wireEvent fixes the field order and names of the canonical encoding.
// encoding/json writes struct fields in declaration order and map keys
// sorted, so the output is deterministic.
type wireEvent struct {
	V          int               `json:"v"`
	Type       EventType         `json:"type"`
	At         string            `json:"at"`
	MessageID  string            `json:"message_id,omitempty"`
	Transfer   string            `json:"transfer,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	From       string            `json:"from,omitempty"`
	To         string            `json:"to,omitempty"`
	Actor      string            `json:"actor,omitempty"`
	Code       string            `json:"code,omitempty"`
	CaseDigest string            `json:"case_digest,omitempty"`
	BodyDigest string            `json:"body_digest,omitempty"`
	Detail     string            `json:"detail,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
}

var (
	typePattern   = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)
	digestPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	keyPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// ErrInvalidEvent is wrapped by every validation and decoding failure of an
// event.
var ErrInvalidEvent = errors.New("invalid audit event")

// Normalize returns ev with At in UTC truncated to the millisecond, the form
// in which it is logged.
func (ev Event) Normalize() Event {
	ev.At = ev.At.UTC().Truncate(time.Millisecond)
	return ev
}

// Validate checks the shape of ev. It cannot prove a field free of personal
// data, but it bounds free text and pins digests to their hex form.
func (ev Event) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	if !typePattern.MatchString(string(ev.Type)) {
		return bad("type %q must match %s", ev.Type, typePattern)
	}
	if ev.At.IsZero() {
		return bad("at is missing")
	}
	if y := ev.At.UTC().Year(); y < 2000 || y > 9999 {
		return bad("at year %d out of range", y)
	}
	for _, f := range []struct{ name, value string }{
		{"message_id", ev.MessageID}, {"transfer", ev.Transfer}, {"kind", ev.Kind},
		{"from", ev.From}, {"to", ev.To}, {"actor", ev.Actor}, {"code", ev.Code},
	} {
		if len(f.value) > maxIDLen {
			return bad("%s longer than %d bytes", f.name, maxIDLen)
		}
	}
	// Invalid UTF-8 would be replaced on encoding, so the leaf would not
	// decode back to the same event: refuse it instead of logging it.
	for _, v := range []string{ev.MessageID, ev.Transfer, ev.Kind, ev.From, ev.To, ev.Actor, ev.Code, ev.Detail} {
		if !utf8.ValidString(v) {
			return bad("a field is not valid UTF-8")
		}
	}
	for k, v := range ev.Extra {
		if !utf8.ValidString(v) {
			return bad("extra %q is not valid UTF-8", k)
		}
	}
	if ev.CaseDigest != "" && !digestPattern.MatchString(ev.CaseDigest) {
		return bad("case_digest must be 64 lowercase hex characters")
	}
	if ev.BodyDigest != "" && !digestPattern.MatchString(ev.BodyDigest) {
		return bad("body_digest must be 64 lowercase hex characters")
	}
	if len(ev.Detail) > maxDetailLen {
		return bad("detail longer than %d bytes", maxDetailLen)
	}
	if len(ev.Extra) > maxExtra {
		return bad("more than %d extra entries", maxExtra)
	}
	for k, v := range ev.Extra {
		if !keyPattern.MatchString(k) || len(k) > maxExtraKey {
			return bad("extra key %q must match %s", k, keyPattern)
		}
		if len(v) > maxExtraVal {
			return bad("extra %q longer than %d bytes", k, maxExtraVal)
		}
	}
	return nil
}

// Encode returns the canonical leaf bytes of ev: the exact bytes that are
// hashed into the log. ev.At is normalized first.
func (ev Event) Encode() ([]byte, error) {
	ev = ev.Normalize()
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	w := wireEvent{
		V: leafVersion, Type: ev.Type, At: ev.At.Format(timeLayout),
		MessageID: ev.MessageID, Transfer: ev.Transfer, Kind: ev.Kind,
		From: ev.From, To: ev.To, Actor: ev.Actor, Code: ev.Code,
		CaseDigest: ev.CaseDigest, BodyDigest: ev.BodyDigest,
		Detail: ev.Detail, Extra: ev.Extra,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encode audit event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalJSON renders ev in its canonical form, so that the human-readable
// copy of an event in a bundle reads exactly like the leaf.
func (ev Event) MarshalJSON() ([]byte, error) { return ev.Encode() }

// UnmarshalJSON decodes an event strictly (unknown fields, a wrong version
// or a malformed time are errors) but accepts any JSON formatting; use
// DecodeEvent to also require the canonical bytes.
func (ev *Event) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireEvent
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrInvalidEvent)
	}
	if w.V != leafVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrInvalidEvent, w.V, leafVersion)
	}
	at, err := time.Parse(timeLayout, w.At)
	if err != nil {
		return fmt.Errorf("%w: at: %v", ErrInvalidEvent, err)
	}
	out := Event{
		Type: w.Type, At: at, MessageID: w.MessageID, Transfer: w.Transfer,
		Kind: w.Kind, From: w.From, To: w.To, Actor: w.Actor, Code: w.Code,
		CaseDigest: w.CaseDigest, BodyDigest: w.BodyDigest, Detail: w.Detail,
		Extra: w.Extra,
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*ev = out
	return nil
}

// DecodeEvent decodes leaf bytes and insists they are in canonical form:
// re-encoding the decoded event must give back the very same bytes. This
// rejects duplicate keys, reordered fields, extra whitespace and alternative
// escapes, so one event has exactly one leaf encoding.
func DecodeEvent(data []byte) (Event, error) {
	var ev Event
	if err := ev.UnmarshalJSON(data); err != nil {
		return Event{}, err
	}
	again, err := ev.Encode()
	if err != nil {
		return Event{}, err
	}
	if !bytes.Equal(again, data) {
		return Event{}, fmt.Errorf("%w: leaf is not in canonical form", ErrInvalidEvent)
	}
	return ev, nil
}

// caseDigestDomain separates case digests from any other use of the key.
const caseDigestDomain = "relais/audit/case-ref/v1"

// CaseDigest commits to an agency's case reference without revealing it:
// lowercase hex HMAC-SHA256 under the hub's audit key, over the domain
// string, the agency id and the case reference, each length-prefixed so that
// no two (agency, caseRef) pairs share an input.
//
// Why an HMAC and not a plain hash: case references are pseudonymous but
// guessable (often a sequence like "BF-2024-0012"), so a plain SHA-256 could
// be reversed by trying them all. Keyed, the digest reveals nothing to anyone
// without the key, yet an auditor given the digest of one case can select
// every event of that case. And because the log only holds the digest, erasing
// a case's data elsewhere (or destroying the key) leaves every leaf, and so the
// whole Merkle tree and its signed checkpoints, intact and verifiable.
func CaseDigest(key []byte, agency, caseRef string) string {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{caseDigestDomain, agency, caseRef} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// BodyDigest is the lowercase hex SHA-256 of the exact JWS bytes submitted.
func BodyDigest(jws []byte) string {
	sum := sha256.Sum256(jws)
	return hex.EncodeToString(sum[:])
}
