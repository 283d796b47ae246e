package agency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/policy"
)

// Files written by InitSupervisor, inside the supervisor's own key
// directory (never the agency's: the second person keeps their own key).
const (
	supervisorKeyFile      = "supervisor.jwk"
	supervisorJWKSFile     = "supervisor.jwks"
	supervisorIdentityFile = "supervisor.json"
)

// Supervisor is a supervisor's signing key: the second person of the
// two-person rule, who approves a best-interests override for one message
// of their agency.
type Supervisor struct {
	Agency string
	Key    jwk.Key
}

// InitSupervisor creates a supervisor's Ed25519 signing key for agency in
// dir: the private JWK (mode 0600), named "<agency>#supervisor-<date>-<hex>",
// and the public JWKS to register with the agency (agency register
// --supervisors).
func InitSupervisor(agencyID, dir string) (Supervisor, error) {
	if !contracts.ValidAgencyID(agencyID) {
		return Supervisor{}, fmt.Errorf("agency id %q: must be <iso-3166 alpha-2>.<slug>, e.g. bf.dpe-bobo", agencyID)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Supervisor{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, supervisorKeyFile)); err == nil {
		return Supervisor{}, fmt.Errorf("%s already holds a supervisor key: refusing to overwrite it", dir)
	}
	key, err := seal.GenerateSigningKey(seal.NewKID(agencyID + "#supervisor"))
	if err != nil {
		return Supervisor{}, err
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, supervisorKeyFile), key); err != nil {
		return Supervisor{}, err
	}
	s := Supervisor{Agency: agencyID, Key: key}
	pub, err := s.PublicJWKS()
	if err != nil {
		return Supervisor{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, supervisorJWKSFile), pub, 0o644); err != nil {
		return Supervisor{}, err
	}
	ident, _ := json.Marshal(map[string]string{"agency": agencyID})
	if err := os.WriteFile(filepath.Join(dir, supervisorIdentityFile), ident, 0o644); err != nil {
		return Supervisor{}, err
	}
	return s, nil
}

// LoadSupervisor reads a supervisor's key from dir.
func LoadSupervisor(dir string) (Supervisor, error) {
	raw, err := os.ReadFile(filepath.Join(dir, supervisorIdentityFile))
	if err != nil {
		return Supervisor{}, fmt.Errorf("read supervisor identity: %w", err)
	}
	var ident struct {
		Agency string `json:"agency"`
	}
	if err := json.Unmarshal(raw, &ident); err != nil || !contracts.ValidAgencyID(ident.Agency) {
		return Supervisor{}, fmt.Errorf("%s: invalid supervisor identity file", filepath.Join(dir, supervisorIdentityFile))
	}
	key, err := seal.ReadKeyFile(filepath.Join(dir, supervisorKeyFile))
	if err != nil {
		return Supervisor{}, err
	}
	return Supervisor{Agency: ident.Agency, Key: key}, nil
}

// KID is the supervisor key's id, as registered.
func (s Supervisor) KID() string {
	kid, _ := s.Key.KeyID()
	return kid
}

// PublicJWKS is the JSON of the supervisor's public key.
func (s Supervisor) PublicJWKS() ([]byte, error) {
	set, err := seal.PublicSet(s.Key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

// Approve signs the approval of a best-interests override for the message
// with this id and this reason (policy.SignOverrideApproval); the result
// goes in the draft's consent.override.approval.
func (s Supervisor) Approve(messageID, reason string, at time.Time) (string, error) {
	return policy.SignOverrideApproval(s.Key, messageID, reason, at)
}

// ReadSupervisorJWKS reads supervisors' public keys, each path being a
// JWKS file or a directory written by InitSupervisor, and merges them into
// the one JWKS an agency registers. Every key must be a public signing key
// and every kid distinct.
func ReadSupervisorJWKS(paths ...string) ([]byte, error) {
	merged := jwk.NewSet()
	seen := map[string]string{}
	for _, p := range paths {
		file := p
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			file = filepath.Join(p, supervisorJWKSFile)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("supervisor keys: %w", err)
		}
		set, err := seal.ParseSet(raw)
		if err != nil {
			return nil, fmt.Errorf("supervisor keys in %s: %w", file, err)
		}
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			if use, _ := k.KeyUsage(); use != "sig" {
				return nil, fmt.Errorf("supervisor keys in %s: key %q is not a signing key", file, kid)
			}
			if prev, dup := seen[kid]; dup {
				return nil, fmt.Errorf("supervisor keys: kid %q is in both %s and %s", kid, prev, file)
			}
			seen[kid] = file
			if err := merged.AddKey(k); err != nil {
				return nil, fmt.Errorf("supervisor keys: %w", err)
			}
		}
	}
	if merged.Len() == 0 {
		return nil, errors.New("supervisor keys: no key found")
	}
	return json.Marshal(merged)
}

// ConsentStatus is who received data under one of this agency's consent
// references, and where the withdrawal notice to each stands.
type ConsentStatus struct {
	Withdrawn      bool               `json:"withdrawn"`
	Recipients     []ConsentRecipient `json:"recipients"`
	Notified       int                `json:"notified"`
	Acknowledged   int                `json:"acknowledged"`
	Unacknowledged []string           `json:"unacknowledged"`
}

// ConsentRecipient is one agency that received data under the consent.
type ConsentRecipient struct {
	Agency string `json:"agency"`
	// Transfer is where a withdrawal notice to the agency belongs.
	Transfer string `json:"transfer"`
	// Erasing: the agency's copies are being or have been erased; no
	// notice can be, or need be, sent.
	Erasing bool              `json:"erasing"`
	Notice  *WithdrawalNotice `json:"notice,omitempty"`
}

// WithdrawalNotice is the consent.withdrawn copy sent to one recipient.
type WithdrawalNotice struct {
	MessageID      string     `json:"message_id"`
	Transfer       string     `json:"transfer"`
	SentAt         time.Time  `json:"sent_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	Receipt        string     `json:"receipt,omitempty"`
	// Erased: the transfer was erased before the notice was acknowledged;
	// the erasure settles it.
	Erased bool `json:"erased,omitempty"`
}

// ConsentStatus asks the hub about one of this agency's own consent
// references (an unknown reference has no recipients).
func (c *Client) ConsentStatus(ctx context.Context, consentRef string) (ConsentStatus, error) {
	var s ConsentStatus
	if !contracts.ValidReference(consentRef) {
		return s, fmt.Errorf("consent reference: must be 1 to 64 of A-Z a-z 0-9 . _ : -")
	}
	err := c.do(ctx, http.MethodGet, "/v1/consents/"+url.PathEscape(consentRef)+"/recipients", "", nil, true, &s)
	if err != nil {
		return s, fmt.Errorf("consent status: %w", err)
	}
	return s, nil
}

// Withdrawal is a consent withdrawn by the child or their representative,
// as the agency that recorded the consent tells the network.
type Withdrawal struct {
	ConsentRef string
	// Case is the agency's own case reference the consent belongs to.
	Case string
	// WithdrawnAt is when consent was withdrawn (default: now).
	WithdrawnAt time.Time
}

// WithdrawalSent is what Withdraw did for one recipient.
type WithdrawalSent struct {
	Agency string
	// MessageID is the notice sent now; empty when one had been sent
	// before (AlreadySent), when the agency's copies are being erased
	// (Erasing), or when the hub refused it (Err).
	MessageID   string
	AlreadySent bool
	Erasing     bool
	Err         error
}

// ErrNoRecipients: no agency received data under the consent reference,
// so the hub has nothing to block and no one to tell.
var ErrNoRecipients = errors.New("no agency received data under this consent reference")

// Withdraw sends a consent.withdrawn notice to every agency that received
// data under the consent and has not been sent one yet, each in the
// transfer that agency is party to (an agency whose copies are already
// being erased needs none). The first notice the hub accepts
// blocks every later message under the consent except closure and
// erasure. A refusal for one recipient does not stop the others; the
// returned status is read after sending.
func (c *Client) Withdraw(ctx context.Context, w Withdrawal) ([]WithdrawalSent, ConsentStatus, error) {
	if !contracts.ValidReference(w.Case) {
		return nil, ConsentStatus{}, errors.New("case reference: must be 1 to 64 of A-Z a-z 0-9 . _ : -")
	}
	at := w.WithdrawnAt
	if at.IsZero() {
		at = time.Now()
	}
	status, err := c.ConsentStatus(ctx, w.ConsentRef)
	if err != nil {
		return nil, status, err
	}
	if len(status.Recipients) == 0 {
		return nil, status, ErrNoRecipients
	}
	body, err := json.Marshal(contracts.ConsentWithdrawn{ConsentRef: w.ConsentRef, WithdrawnAt: at.UTC().Truncate(time.Second)})
	if err != nil {
		return nil, status, err
	}
	sent := make([]WithdrawalSent, 0, len(status.Recipients))
	for _, r := range status.Recipients {
		switch {
		case r.Notice != nil:
			sent = append(sent, WithdrawalSent{Agency: r.Agency, AlreadySent: true})
			continue
		case r.Erasing:
			sent = append(sent, WithdrawalSent{Agency: r.Agency, Erasing: true})
			continue
		}
		_, s, err := c.Send(ctx, Draft{Kind: "consent.withdrawn", To: r.Agency, Case: w.Case, Transfer: r.Transfer, Body: body})
		var refused *HubError
		switch {
		case errors.As(err, &refused):
			sent = append(sent, WithdrawalSent{Agency: r.Agency, Err: err})
		case err != nil:
			return sent, status, fmt.Errorf("withdrawal notice to %s: %w", r.Agency, err)
		default:
			sent = append(sent, WithdrawalSent{Agency: r.Agency, MessageID: s.ID})
		}
	}
	status, err = c.ConsentStatus(ctx, w.ConsentRef)
	return sent, status, err
}

// ReportViolation tells the sender of a received message that it broke
// the policy (policy.NewPolicyViolation builds v), in the message's
// transfer. id, when set, presets the report's message id, so that a
// report retried after a crash is recognised as a duplicate instead of
// being sent twice.
func (c *Client) ReportViolation(ctx context.Context, o Opened, v contracts.PolicyViolation, id string) (Submitted, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return Submitted{}, err
	}
	_, s, err := c.Send(ctx, Draft{ID: id, Kind: "policy.violation", To: o.Envelope.From, Case: o.Envelope.Case,
		Transfer: o.Envelope.Transfer, InReplyTo: o.Envelope.ID, Body: body})
	return s, err
}

// RefusalDecision reads a policy refusal from the hub (its problem+json
// carries the rule, the agreement and the reasons in French and English)
// back into a policy.Decision, so that policy.Explain can tell a case
// worker why the message was refused. It reports false for other errors.
func RefusalDecision(err error) (policy.Decision, bool) {
	var he *HubError
	if !errors.As(err, &he) || he.Raw == nil {
		return policy.Decision{}, false
	}
	rule, _ := he.Raw["rule"].(string)
	if rule == "" {
		return policy.Decision{}, false
	}
	d := policy.Decision{Code: contracts.Code(he.Code), Rule: rule}
	d.Corridor, _ = he.Raw["corridor"].(string)
	if v, ok := he.Raw["corridor_version"].(float64); ok {
		d.CorridorVersion = int(v)
	}
	if list, ok := he.Raw["reasons"].([]any); ok {
		for _, item := range list {
			m, _ := item.(map[string]any)
			fr, _ := m["fr"].(string)
			en, _ := m["en"].(string)
			if fr != "" || en != "" {
				d.Reasons = append(d.Reasons, contracts.Label{FR: fr, EN: en})
			}
		}
	}
	if fields, ok := he.Raw["fields"].([]any); ok {
		for _, f := range fields {
			if s, ok := f.(string); ok {
				d.Fields = append(d.Fields, s)
			}
		}
	}
	return d, true
}
