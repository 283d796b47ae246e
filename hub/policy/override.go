package policy

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// OverrideApprovalTyp is the "typ" of an override approval JWS.
const OverrideApprovalTyp = "relais-override-approval+jws"

// approvalClockSkew tolerates a supervisor's clock running slightly ahead
// of the hub's.
const approvalClockSkew = 5 * time.Minute

// approvalPayload is what a supervisor signs: this message, this reason.
type approvalPayload struct {
	MessageID  string `json:"message_id"`
	Reason     string `json:"reason"`
	ApprovedAt string `json:"approved_at"`
}

var approvalMembers = []string{"message_id", "reason", "approved_at"}

// SignOverrideApproval is the supervisor's side of the two-person rule: it
// signs, with the supervisor's own private key (registered with the role
// supervisor for the sending agency), the id of the message to send and the
// override reason. The result goes in consent.override.approval.
func SignOverrideApproval(key jwk.Key, messageID, reason string, at time.Time) (string, error) {
	if !contracts.ValidMessageID(messageID) {
		return "", errors.New("policy: override approval: the message id is not a UUIDv7 or a ULID")
	}
	if !contracts.IsOverrideReason(reason) {
		return "", fmt.Errorf("policy: override approval: reason must be one of %s", strings.Join(contracts.OverrideReasons.Codes(), ", "))
	}
	if at.IsZero() {
		return "", errors.New("policy: override approval: approval time is required")
	}
	payload, err := json.Marshal(approvalPayload{MessageID: messageID, Reason: reason, ApprovedAt: at.UTC().Format(time.RFC3339)})
	if err != nil {
		return "", fmt.Errorf("policy: override approval: %w", err)
	}
	out, err := seal.Sign(payload, key, OverrideApprovalTyp)
	if err != nil {
		return "", fmt.Errorf("policy: override approval: %w", err)
	}
	return string(out), nil
}

// overrideApproved checks a best-interests override: a reason from the
// fixed list, and an approval signed by a supervisor key of the sending
// agency other than the key that signed the message, over this message id
// and this reason.
func (e *evaluation) overrideApproved(consent *contracts.Consent) {
	o := consent.Override
	if o == nil {
		e.unapproved(RuleOverrideApproval, label(
			"La dérogation n'indique ni motif ni validation par un ou une responsable.",
			"The override states neither a reason nor a supervisor's approval."))
		return
	}
	if !contracts.IsOverrideReason(o.Reason) {
		e.deny(contracts.CodeOverrideUnapproved, RuleOverrideReason, []string{"consent.override.reason"}, labelf(
			"Une dérogation doit invoquer l'un de ces motifs : %s.",
			"An override must give one of these reasons: %s.",
			terms(contracts.OverrideReasons, contracts.OverrideReasons.Codes())))
		return
	}
	kid, ok := e.verifyApproval(o)
	if !ok {
		return
	}
	e.d.Override = true
	e.allow(RuleOverrideApproved, []string{"consent.override"}, labelf(
		"Dérogation dans l'intérêt supérieur de l'enfant (motif : %s), permise par l'accord %s et validée par la clé de responsable %s, distincte de la clé qui a signé le message.",
		"Best-interests override (reason: %s), allowed by agreement %s and approved by supervisor key %s, distinct from the key that signed the message.",
		terms(contracts.OverrideReasons, []string{o.Reason}), corridorName(e.corridor), same(kid)))
}

// unapproved denies with override_unapproved for a given reason.
func (e *evaluation) unapproved(rule string, reason contracts.Label) bool {
	return e.deny(contracts.CodeOverrideUnapproved, rule, []string{"consent.override.approval"}, reason)
}

// verifyApproval returns the approving kid when the approval holds.
func (e *evaluation) verifyApproval(o *contracts.Override) (string, bool) {
	compact := []byte(o.Approval)
	h, err := seal.ParseHeader(compact, OverrideApprovalTyp)
	if err != nil {
		return "", e.unapproved(RuleOverrideApproval, labelf(
			"La validation n'est pas une signature de validation conforme (%s).",
			"The approval is not a well-formed approval signature (%s).",
			same(string(contracts.CodeOf(err)))))
	}
	if e.in.SignerKID != "" && h.Kid == e.in.SignerKID {
		return "", e.unapproved(RuleTwoPerson, label(
			"La dérogation a été validée avec la clé qui a signé le message : il faut une deuxième personne, responsable du service.",
			"The override was approved with the key that signed the message: a second person, a supervisor of the agency, is needed."))
	}
	key, ok := e.supervisorKey(h.Kid)
	if !ok {
		return "", false
	}
	if e.sameKeyAsSigner(key) {
		return "", e.unapproved(RuleTwoPerson, label(
			"La clé qui a validé la dérogation est la même que celle qui a signé le message (enregistrée sous un autre nom) : il faut une deuxième personne.",
			"The key that approved the override is the one that signed the message (registered under another name): a second person is needed."))
	}
	payload, _, err := seal.Verify(compact, OverrideApprovalTyp, func(string) (jwk.Key, error) { return key, nil })
	if err != nil {
		return "", e.unapproved(RuleOverrideApproval, labelf(
			"La signature de la validation ne correspond pas à la clé de responsable %s : la validation a été modifiée ou signée avec une autre clé (%s).",
			"The approval's signature does not match supervisor key %s: the approval was altered or signed with another key (%s).",
			same(h.Kid), same(string(contracts.CodeOf(err)))))
	}
	return h.Kid, e.approvalCovers(payload, o)
}

// supervisorKey looks the approving kid up among the sending agency's
// supervisor keys.
func (e *evaluation) supervisorKey(kid string) (jwk.Key, bool) {
	if e.in.Supervisors == nil {
		return nil, e.fail(contracts.CodeInternal, RuleConfiguration, errors.New("policy: Input.Supervisors is nil"), label(
			"Le registre des clés de responsables n'est pas configuré.",
			"The supervisor key registry is not configured."))
	}
	key, err := e.in.Supervisors.SupervisorKey(e.ctx, e.sender, kid)
	var problem *contracts.Problem
	switch {
	case err != nil && !errors.Is(err, ErrNotSupervisor) && !errors.As(err, &problem):
		return nil, e.fail(contracts.CodeUnavailable, RuleLookup, fmt.Errorf("policy: looking up supervisor key: %w", err), label(
			"Le registre des clés de responsables n'a pas pu être consulté.",
			"The supervisor key registry could not be consulted."))
	case err != nil || key == nil:
		return nil, e.unapproved(RuleOverrideApproval, labelf(
			"La clé %s qui a validé la dérogation n'est pas enregistrée comme clé de responsable (%s) de %s.",
			"Key %s that approved the override is not registered as a supervisor (%s) key of %s.",
			same(kid), same(e.corridor.Override.ApproverRole), same(e.sender)))
	}
	return key, true
}

// sameKeyAsSigner compares RFC 7638 thumbprints, so that one key
// registered twice under two kids cannot approve its own message.
func (e *evaluation) sameKeyAsSigner(key jwk.Key) bool {
	if e.in.SignerKey == nil {
		return false
	}
	a, errA := key.Thumbprint(crypto.SHA256)
	b, errB := e.in.SignerKey.Thumbprint(crypto.SHA256)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// approvalCovers checks what was signed: this message, this reason, at a
// time that has already come.
func (e *evaluation) approvalCovers(payload []byte, o *contracts.Override) bool {
	p, err := decodeApproval(payload)
	if err != nil {
		return e.unapproved(RuleOverrideApproval, labelf(
			"Le contenu de la validation est illisible (%s).",
			"The approval's content is unreadable (%s).",
			same(err.Error())))
	}
	switch {
	case p.MessageID != e.env.ID:
		return e.unapproved(RuleOverrideApproval, label(
			"La validation porte sur un autre message : chaque message sous dérogation doit être validé.",
			"The approval is for another message: every message under an override must be approved."))
	case p.Reason != o.Reason:
		return e.unapproved(RuleOverrideApproval, labelf(
			"La validation porte sur un autre motif (%s) que celui du message (%s).",
			"The approval is for another reason (%s) than the message's (%s).",
			terms(contracts.OverrideReasons, []string{p.Reason}), terms(contracts.OverrideReasons, []string{o.Reason})))
	}
	at, err := time.Parse(time.RFC3339, p.ApprovedAt)
	if err != nil || !strings.HasSuffix(p.ApprovedAt, "Z") {
		return e.unapproved(RuleOverrideApproval, label(
			"La date de la validation n'est pas une date UTC (RFC 3339).",
			"The approval time is not a UTC (RFC 3339) time."))
	}
	if at.After(e.now.Add(approvalClockSkew)) {
		return e.unapproved(RuleOverrideApproval, labelf(
			"La validation est datée du %s, dans le futur.",
			"The approval is dated %s, in the future.",
			instant(at)))
	}
	return true
}

// decodeApproval reads the approval payload strictly: one JSON object with
// exactly message_id, reason and approved_at, each a string, once.
func decodeApproval(b []byte) (approvalPayload, error) {
	var p approvalPayload
	if !utf8.Valid(b) {
		return p, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return p, errors.New("not a JSON object")
	}
	values := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, errors.New("invalid JSON")
		}
		name, _ := tok.(string)
		if !slices.Contains(approvalMembers, name) {
			return p, errors.New("unexpected member")
		}
		if _, dup := values[name]; dup {
			return p, fmt.Errorf("member %s repeated", name)
		}
		var raw json.RawMessage
		var v string
		if err := dec.Decode(&raw); err != nil || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return p, fmt.Errorf("member %s is not a string", name)
		}
		values[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return p, errors.New("invalid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return p, errors.New("trailing data")
	}
	for _, m := range approvalMembers {
		if _, ok := values[m]; !ok {
			return p, fmt.Errorf("member %s missing", m)
		}
	}
	return approvalPayload{MessageID: values["message_id"], Reason: values["reason"], ApprovedAt: values["approved_at"]}, nil
}
