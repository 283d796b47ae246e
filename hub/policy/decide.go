package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
)

// SupervisorKeys finds the public key registered with the role supervisor
// for an agency. It returns (nil, nil), ErrNotSupervisor or a
// *contracts.Problem when kid is not such a key of that agency (another
// agency's supervisor, a signing key, an unknown kid): the override is then
// unapproved. Any other error means the registry could not answer.
type SupervisorKeys interface {
	SupervisorKey(ctx context.Context, agency, kid string) (jwk.Key, error)
}

// WithdrawalChecker reports whether an agency has withdrawn one of its own
// consent references (by a consent.withdrawn message). References are the
// sender's own keys, so the registry is keyed by (agency, reference): an
// agency can only withdraw the consents it recorded.
type WithdrawalChecker interface {
	Withdrawn(ctx context.Context, sender, consentRef string) (bool, error)
}

// SupervisorKeyFunc adapts a function to SupervisorKeys.
type SupervisorKeyFunc func(ctx context.Context, agency, kid string) (jwk.Key, error)

func (f SupervisorKeyFunc) SupervisorKey(ctx context.Context, agency, kid string) (jwk.Key, error) {
	return f(ctx, agency, kid)
}

// WithdrawalFunc adapts a function to WithdrawalChecker.
type WithdrawalFunc func(ctx context.Context, sender, consentRef string) (bool, error)

func (f WithdrawalFunc) Withdrawn(ctx context.Context, sender, consentRef string) (bool, error) {
	return f(ctx, sender, consentRef)
}

// NoWithdrawals is a WithdrawalChecker for which nothing was ever
// withdrawn: for offline explanations, where no registry is at hand. The
// hub must pass its real registry; a nil checker is refused.
var NoWithdrawals WithdrawalChecker = WithdrawalFunc(func(context.Context, string, string) (bool, error) { return false, nil })

// ErrNotSupervisor is what a SupervisorKeys may return for a kid that is
// not a supervisor key of the agency.
var ErrNotSupervisor = errors.New("policy: not a supervisor key of this agency")

// withdrawalExemptKinds may still be sent under a withdrawn consent: they
// close, revoke or erase the case, record the withdrawal itself,
// acknowledge a delivery, or report a violation. None of them carries
// personal data.
var withdrawalExemptKinds = []string{
	"case.closed", "case.erasure_requested", "case.erased",
	"transfer.revoked", "consent.withdrawn", "receipt", "policy.violation",
}

// WithdrawalExemptKinds lists the kinds a withdrawn consent does not
// block.
func WithdrawalExemptKinds() []string { return slices.Clone(withdrawalExemptKinds) }

// Input is one message to decide on: its verified, validated envelope and
// the context the hub knows.
type Input struct {
	Envelope contracts.Envelope
	// Sender and Recipient are agency ids; empty means Envelope.From and
	// Envelope.To (the hub has checked that the signer is From).
	Sender, Recipient string
	// SignerKID is the kid of the key that signed the message, and
	// SignerKey (optional) that public key: an override approved with the
	// same key, by kid or by RFC 7638 thumbprint, breaks the two-person
	// rule.
	SignerKID string
	SignerKey jwk.Key
	// TransferConsent, when the hub knows it, is the consent under which
	// the message's transfer was opened (the opening message's sender and
	// consent.ref). Once that consent is withdrawn, every later message of
	// the transfer is refused, even one without personal data, except the
	// kinds of WithdrawalExemptKinds.
	TransferConsent ConsentRef
	// Now is the hub's acceptance time (UTC); zero means time.Now().
	Now         time.Time
	Supervisors SupervisorKeys
	Withdrawals WithdrawalChecker
}

// ConsentRef names a consent as the hub knows it: the agency that
// recorded it and its pseudonymous reference.
type ConsentRef struct {
	Agency, Ref string
}

// Decision is the outcome for one message, with what is needed to audit
// and explain it. It holds no personal data.
type Decision struct {
	Allowed bool
	// Code is the refusal code when denied, "" when allowed.
	Code contracts.Code
	// Corridor, CorridorVersion, CorridorTitle and File identify the
	// agreement the decision rests on, when one was found.
	Corridor        string
	CorridorVersion int
	CorridorTitle   contracts.Label
	File            string
	// Rule names the rule that denied the message, or the one that allowed
	// it (RuleNoPersonalData, RuleConsentValid, RuleOverrideApproved,
	// RuleLegalObligationOK).
	Rule string
	// Reasons say, in French and English, what the engine checked, in
	// order; the last one is why it decided.
	Reasons []contracts.Label
	// Override is true when the message is allowed under an approved
	// best-interests override: the recipient and the trail show it.
	Override bool
	// Fields are the envelope fields the deciding rule read.
	Fields []string
	// PolicyDigest identifies the set of agreements that decided.
	PolicyDigest string

	cause error
}

// Err returns nil when the message is allowed, else a *contracts.Problem
// with the decision's code whose Extra names the corridor, the rule and the
// bilingual reasons.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	code := d.Code
	if code == "" {
		code = contracts.CodeInternal
	}
	p := &contracts.Problem{
		Code:   code,
		Fields: slices.Clone(d.Fields),
		Extra:  map[string]any{"rule": d.Rule},
		Err:    d.cause,
	}
	if d.Corridor != "" {
		p.Extra["corridor"] = d.Corridor
		p.Extra["corridor_version"] = d.CorridorVersion
	}
	if len(d.Reasons) > 0 {
		p.Extra["reasons"] = slices.Clone(d.Reasons)
		p.Detail = "rule " + d.Rule + ": " + d.Reasons[len(d.Reasons)-1].EN
	} else {
		p.Detail = "rule " + d.Rule
	}
	return p
}

// Decide applies the corridor and consent rules to one message. It never
// returns an error: a registry failure is a denial with code unavailable
// (retryable), and a nil set denies everything.
func (s *Set) Decide(ctx context.Context, in Input) Decision {
	e := newEvaluation(ctx, s, in)
	e.run()
	e.d.PolicyDigest = s.Digest()
	return e.d
}

// evaluation is the state of one decision.
type evaluation struct {
	ctx               context.Context
	set               *Set
	in                Input
	env               contracts.Envelope
	sender, recipient string
	now               time.Time
	corridor          *Corridor
	d                 Decision
}

func newEvaluation(ctx context.Context, s *Set, in Input) *evaluation {
	e := &evaluation{ctx: ctx, set: s, in: in, env: in.Envelope, sender: in.Sender, recipient: in.Recipient, now: in.Now}
	if e.sender == "" {
		e.sender = e.env.From
	}
	if e.recipient == "" {
		e.recipient = e.env.To
	}
	if e.now.IsZero() {
		e.now = time.Now()
	}
	e.now = e.now.UTC()
	return e
}

func (e *evaluation) note(reason contracts.Label) { e.d.Reasons = append(e.d.Reasons, reason) }

func (e *evaluation) useCorridor(c *Corridor) {
	e.corridor = c
	e.d.Corridor, e.d.CorridorVersion, e.d.CorridorTitle, e.d.File = c.ID, c.Version, c.Title, c.File
}

// deny records a refusal and returns false, so checks read
// `return e.deny(...)`.
func (e *evaluation) deny(code contracts.Code, rule string, fields []string, reason contracts.Label) bool {
	e.d.Allowed, e.d.Code, e.d.Rule, e.d.Fields = false, code, rule, fields
	e.note(reason)
	return false
}

// fail records a registry failure or a configuration mistake.
func (e *evaluation) fail(code contracts.Code, rule string, cause error, reason contracts.Label) bool {
	e.d.cause = cause
	return e.deny(code, rule, nil, reason)
}

func (e *evaluation) allow(rule string, fields []string, reason contracts.Label) {
	e.d.Allowed, e.d.Code, e.d.Rule, e.d.Fields = true, "", rule, fields
	e.note(reason)
}

// run applies the rules in order; the first that fails decides.
func (e *evaluation) run() {
	if !e.agreedCorridor() {
		return
	}
	if tc := e.in.TransferConsent; tc.Ref != "" && !e.consentStands(tc, "transfer") {
		return
	}
	spec, _ := contracts.Kind(e.env.Kind) // agreed kinds are registered kinds
	if !spec.PersonalData {
		e.allow(RuleNoPersonalData, []string{"kind"}, labelf(
			"Ce type de message %s ne contient pas de données personnelles : l'accord entre les pays suffit.",
			"This kind of message %s carries no personal data: the agreement between the countries is enough.",
			kindName(e.env.Kind)))
		return
	}
	if !e.agreedPurpose() {
		return
	}
	consent := e.env.Consent
	if consent == nil {
		e.deny(contracts.CodeConsentMissing, RuleConsentPresent, []string{"consent"}, labelf(
			"Ce message %s contient des données personnelles mais n'indique ni consentement, ni dérogation, ni obligation légale.",
			"This message %s carries personal data but states no consent, override or legal obligation.",
			kindName(e.env.Kind)))
		return
	}
	checks := []func(*contracts.Consent) bool{
		e.notWithdrawn, e.basisAccepted, e.notExpired,
		e.coversRecipient, e.coversPurpose, e.coversCategories, e.minimised,
	}
	for _, check := range checks {
		if !check(consent) {
			return
		}
	}
	switch consent.Basis {
	case "consent":
		if e.giverFitsAgeBand(consent) && e.childAssented(consent) {
			e.allow(RuleConsentValid, []string{"consent"}, label(
				"Le consentement est valide : il couvre le destinataire, la finalité et les catégories de données, et il a été donné par une personne habilitée.",
				"The consent is valid: it covers the recipient, the purpose and the data categories, and was given by an entitled person."))
		}
	case "best_interests_override":
		e.overrideApproved(consent)
	case "legal_obligation":
		e.legalReferenceListed(consent)
	default:
		// basisAccepted let through a basis this engine has no rules for:
		// the vocabulary grew without the engine. Fail closed.
		e.fail(contracts.CodeInternal, RuleConfiguration, fmt.Errorf("policy: no rules for basis %q", consent.Basis), label(
			"Le moteur de règles ne connaît pas ce fondement.",
			"The rules engine has no rules for this basis."))
	}
}
