package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// DecodeEnvelope decodes a JWS payload into an Envelope, strictly, and
// validates it. Refusals are *Problem values:
//
//   - malformed_envelope: not one UTF-8 JSON object (byte order mark,
//     invalid UTF-8, syntax error, trailing data, excessive nesting);
//   - duplicate_key: a member name repeats, at any depth, body included;
//   - unsupported_version: v is an integer other than 1;
//   - unknown_field: a member the protocol does not define (outside the
//     body);
//   - unknown_kind: kind is not registered;
//   - invalid_envelope: a field is missing, null, empty, of the wrong type or
//     breaks a rule (Problem.Fields lists the JSON paths);
//   - body_not_encrypted: a kind with personal data whose body is not a JWE;
//   - body_invalid: a plain body that does not match its kind's body type.
//
// Details name fields and rules, never values.
func DecodeEnvelope(b []byte) (Envelope, error) {
	root, err := parseJSON(b)
	if err != nil {
		return Envelope{}, syntaxRefusal(err, "envelope")
	}
	if root.typ != jsonObject {
		return Envelope{}, Refuse(CodeMalformedEnvelope, "the envelope must be a JSON object, not %s", root.typ)
	}
	if p := checkVersion(root); p != nil {
		return Envelope{}, p
	}
	var env Envelope
	unknown, issues, err := strictDecode(root, b, &env, "")
	if err != nil {
		return Envelope{}, &Problem{Code: CodeMalformedEnvelope, Detail: "the envelope could not be decoded", Err: err}
	}
	if len(unknown) > 0 {
		return Envelope{}, unknownFieldRefusal(CodeUnknownField, unknown)
	}
	if len(issues) > 0 {
		return Envelope{}, refuseFields(CodeInvalidEnvelope, "invalid envelope fields", issues)
	}
	env.Body = canonicalJSON(env.Body)
	if err := env.Validate(); err != nil {
		return Envelope{}, err
	}
	return env, nil
}

// checkVersion refuses a version other than 1 before anything else: a
// future version may add fields, and its sender deserves to hear about the
// version rather than about those fields.
func checkVersion(root *jsonValue) *Problem {
	v, ok := root.member("v")
	if !ok || v.typ != jsonNumber || !integerLiteral.MatchString(v.text) {
		return nil // the shape check reports it as missing or mistyped
	}
	if v.text != "1" {
		return Refuse(CodeUnsupportedVersion, "v must be %d", ProtocolVersion)
	}
	return nil
}

// syntaxRefusal turns a parse failure into malformed_envelope or
// duplicate_key.
func syntaxRefusal(err error, what string) *Problem {
	var sp *syntaxProblem
	if errors.As(err, &sp) && sp.duplicate != "" {
		return &Problem{Code: CodeDuplicateKey, Detail: "the " + what + " " + sp.reason, Fields: []string{sp.duplicate}}
	}
	return &Problem{Code: CodeMalformedEnvelope, Detail: "the " + what + " " + err.Error()}
}

// maxListedFields caps how many fields a refusal lists.
const maxListedFields = 20

func unknownFieldRefusal(code Code, paths []string) *Problem {
	if len(paths) > maxListedFields {
		paths = paths[:maxListedFields]
	}
	return &Problem{
		Code:   code,
		Detail: "unknown field(s): " + strings.Join(paths, ", "),
		Fields: paths,
	}
}

// canonicalJSON re-encodes a raw JSON value the way encoding/json writes a
// json.RawMessage (compact, HTML-safe escapes), so that a decoded envelope
// encodes and decodes back to an identical value.
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	out, err := json.Marshal(raw)
	if err != nil {
		return raw
	}
	return out
}

// Validate checks an envelope against the protocol: field rules, kind rules
// and the body. DecodeEnvelope calls it after strict decoding; senders call
// it (through Encode) before signing.
func (e Envelope) Validate() error {
	if e.V != ProtocolVersion {
		return Refuse(CodeUnsupportedVersion, "v must be %d", ProtocolVersion)
	}
	if e.Kind == "" {
		return &Problem{Code: CodeInvalidEnvelope, Detail: "invalid envelope fields: kind (required)", Fields: []string{"kind"}}
	}
	spec, ok := Kind(e.Kind)
	if !ok {
		return Refuse(CodeUnknownKind, "kind is not one of %s", strings.Join(KindNames(), ", "))
	}
	issues := validationIssues(e)
	issues = append(issues, kindIssues(e, spec)...)
	if len(issues) > 0 {
		return refuseFields(CodeInvalidEnvelope, "invalid envelope fields", issues)
	}
	if spec.PersonalData {
		if _, ok := e.SealedBody(); !ok {
			return Refuse(CodeBodyNotEncrypted, "kind %s carries personal data: body must be a JSON string holding a compact JWE", spec.Name)
		}
		return nil
	}
	if !isJSONObject(e.Body) {
		return Refuse(CodeBodyInvalid, "kind %s has a plain body: body must be a JSON object", spec.Name)
	}
	_, err := validateBody(spec, e.Body, "body")
	return err
}

// kindIssues are the envelope rules that depend on the kind.
func kindIssues(e Envelope, spec KindSpec) []fieldIssue {
	var issues []fieldIssue
	add := func(path, rule string) { issues = append(issues, fieldIssue{Path: path, Rule: rule}) }
	if spec.PersonalData {
		if e.Purpose == "" {
			add("purpose", "required_for_kind")
		}
		if len(e.DataCategories) == 0 {
			add("data_categories", "required_for_kind")
		}
		if e.Consent == nil {
			add("consent", "required_for_kind")
		}
	} else {
		if e.Purpose != "" {
			add("purpose", "forbidden_for_kind")
		}
		if e.DataCategories != nil {
			add("data_categories", "forbidden_for_kind")
		}
		if e.Consent != nil {
			add("consent", "forbidden_for_kind")
		}
		if e.Attachments != nil {
			add("attachments", "forbidden_for_kind")
		}
	}
	if e.To != "" && e.To == e.From {
		add("to", "differs_from_from")
	}
	if spec.OpensTransfer && e.Transfer != e.ID {
		add("transfer", "equals_id")
	}
	if !spec.OpensTransfer && e.Transfer == e.ID {
		add("transfer", "differs_from_id")
	}
	if spec.NeedsReplyTo && e.InReplyTo == "" {
		add("in_reply_to", "required_for_kind")
	}
	return issues
}

// SealedBody returns the compact JWE held by the body, if the body is a JSON
// string of that shape.
func (e Envelope) SealedBody() (string, bool) {
	raw := bytes.TrimSpace(e.Body)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || !isJWECompact(s) {
		return "", false
	}
	return s, true
}

// DecodeBody strictly decodes and validates a plain body (kinds without
// personal data). Sealed bodies are decrypted first and passed to
// ValidateBody.
func (e Envelope) DecodeBody() (any, error) {
	return ValidateBody(e.Kind, e.Body)
}

func isJSONObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// Encode validates e and returns its JSON encoding: the payload to sign.
func (e Envelope) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// NewSealedBody wraps a compact JWE as an envelope body.
func NewSealedBody(jwe string) json.RawMessage {
	out, _ := json.Marshal(jwe) // marshalling a string cannot fail
	return out
}

// NewPlainBody encodes a plain body (kinds without personal data).
func NewPlainBody(body any) (json.RawMessage, error) {
	out, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ValidateBody strictly decodes and validates a body of the given kind: the
// hub calls it on plain bodies, the recipient on decrypted ones. It returns a
// pointer to the kind's body type. Refusals are unknown_kind or body_invalid
// (with the offending fields), never quoting values.
func ValidateBody(kind string, body []byte) (any, error) {
	spec, ok := Kind(kind)
	if !ok {
		return nil, Refuse(CodeUnknownKind, "kind is not one of %s", strings.Join(KindNames(), ", "))
	}
	return validateBody(spec, body, "")
}

func validateBody(spec KindSpec, body []byte, prefix string) (any, error) {
	root, err := parseJSON(body)
	if err != nil {
		p := syntaxRefusal(err, "body")
		p.Code = CodeBodyInvalid
		if len(p.Fields) > 0 && prefix != "" {
			p.Fields = []string{prefix + "." + p.Fields[0]}
		}
		return nil, p
	}
	if root.typ != jsonObject {
		return nil, Refuse(CodeBodyInvalid, "the body of kind %s must be a JSON object, not %s", spec.Name, root.typ)
	}
	target := spec.NewBody()
	unknown, issues, err := strictDecode(root, body, target, prefix)
	if err != nil {
		return nil, &Problem{Code: CodeBodyInvalid, Detail: "the body could not be decoded", Err: err}
	}
	if len(unknown) > 0 {
		return nil, unknownFieldRefusal(CodeBodyInvalid, unknown)
	}
	if len(issues) > 0 {
		return nil, refuseFields(CodeBodyInvalid, "invalid body fields", issues)
	}
	issues = validationIssues(target)
	if len(issues) > 0 {
		if prefix != "" {
			for i := range issues {
				issues[i].Path = prefix + "." + issues[i].Path
			}
		}
		return nil, refuseFields(CodeBodyInvalid, "invalid body fields", issues)
	}
	return target, nil
}
