package contracts

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Code is a stable, machine-readable refusal code. Codes never change
// meaning once published: integrations branch on them.
type Code string

// Refusal codes. The table below (problemTable) is the single source of
// truth for their HTTP status and their French and English titles; the docs
// are generated from it.
const (
	CodeBadRequest         Code = "bad_request"
	CodeUnsupportedMedia   Code = "unsupported_media_type"
	CodePayloadTooLarge    Code = "payload_too_large"
	CodeMalformedJWS       Code = "malformed_jws"
	CodeAlgNotAllowed      Code = "alg_not_allowed"
	CodeAlgKeyMismatch     Code = "alg_key_mismatch"
	CodeHeaderNotAllowed   Code = "header_not_allowed"
	CodeTypInvalid         Code = "typ_invalid"
	CodeUnknownKey         Code = "unknown_key"
	CodeKeyRevoked         Code = "key_revoked"
	CodeSignatureInvalid   Code = "signature_invalid"
	CodeMalformedEnvelope  Code = "malformed_envelope"
	CodeUnknownField       Code = "unknown_field"
	CodeDuplicateKey       Code = "duplicate_key"
	CodeInvalidEnvelope    Code = "invalid_envelope"
	CodeUnsupportedVersion Code = "unsupported_version"
	CodeUnknownKind        Code = "unknown_kind"
	CodeSenderMismatch     Code = "sender_mismatch"
	CodeUnknownSender      Code = "unknown_sender"
	CodeUnknownRecipient   Code = "unknown_recipient"
	CodeBodyNotEncrypted   Code = "body_not_encrypted"
	CodeBodyInvalid        Code = "body_invalid"
	CodeDuplicateID        Code = "duplicate_id"
	CodeUnknownTransfer    Code = "unknown_transfer"
	CodeNotParty           Code = "not_party"
	CodeInvalidTransition  Code = "invalid_transition"
	CodeReceiptMismatch    Code = "receipt_mismatch"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeTokenInvalid       Code = "token_invalid"
	CodeTokenExpired       Code = "token_expired"
	CodeTokenReplayed      Code = "token_replayed"
	CodeForbidden          Code = "forbidden"
	CodeNotFound           Code = "not_found"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeAgencyInvalid      Code = "agency_invalid"
	CodeAgencyExists       Code = "agency_exists"
	CodeAuditorInvalid     Code = "auditor_invalid"
	CodeAuditorExists      Code = "auditor_exists"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal_error"

	// Audit verification failures (hub/audit): reported by the offline
	// verifier and the checkpoint watcher.
	CodeAuditCheckpointInvalid Code = "audit_checkpoint_invalid"
	CodeAuditInclusionFailed   Code = "audit_inclusion_failed"
	CodeAuditConsistencyFailed Code = "audit_consistency_failed"
	CodeAuditFork              Code = "audit_fork"
	CodeAuditShrunk            Code = "audit_shrunk"
	CodeAuditBundleInvalid     Code = "audit_bundle_invalid"

	// Consent and corridor policy refusals (hub/policy): the hub checks the
	// signed metadata of every message against the corridor agreements.
	CodeCorridorNotAgreed     Code = "corridor_not_agreed"
	CodeConsentMissing        Code = "consent_missing"
	CodeConsentExpired        Code = "consent_expired"
	CodeConsentScopeRecipient Code = "consent_scope_recipient"
	CodeConsentScopePurpose   Code = "consent_scope_purpose"
	CodeCategoryNotAllowed    Code = "category_not_allowed"
	CodeConsentGiverInvalid   Code = "consent_giver_invalid"
	CodeChildAssentMissing    Code = "child_assent_missing"
	CodeOverrideNotAllowed    Code = "override_not_allowed"
	CodeOverrideUnapproved    Code = "override_unapproved"
	CodeLegalBasisNotAccepted Code = "legal_basis_not_accepted"
	CodeConsentWithdrawn      Code = "consent_withdrawn"
	CodeBodyCategoryMismatch  Code = "body_category_mismatch"

	// Case-transfer lifecycle refusals (hub/transfer.go): the envelope's seq
	// is not the sender's next in the transfer; the problem's expected_seq
	// says which one is.
	CodeOutOfOrder Code = "out_of_order"

	// Attachments (hub/attachments, docs/attachments.md): the resumable
	// upload protocol, downloads, and the hub's check that every attachment
	// a message references was fully uploaded by its sender.
	CodeAttachmentTooLarge       Code = "attachment_too_large"
	CodeAttachmentExists         Code = "attachment_exists"
	CodeUploadOffsetMismatch     Code = "upload_offset_mismatch"
	CodeAttachmentDigestMismatch Code = "attachment_digest_mismatch"
	CodeAttachmentNotUploaded    Code = "attachment_not_uploaded"
	CodeAttachmentMismatch       Code = "attachment_mismatch"
	CodeRangeNotSatisfiable      Code = "range_not_satisfiable"
)

// Statistics and the directory of services (hub/stats, hub/services,
// docs/statistics.md, docs/directory.md): registering a national
// statistics authority's keys, and publishing a version of an agency's
// directory record.
const (
	CodeStatsReaderInvalid    Code = "stats_reader_invalid"
	CodeStatsReaderExists     Code = "stats_reader_exists"
	CodeDirectoryInvalid      Code = "directory_record_invalid"
	CodeDirectoryPersonalData Code = "directory_personal_data"
)

// HTTP content encodings (adapters/httpapi/compress.go): request bodies
// may be gzip-compressed, within a limit on their decompressed size.
const (
	CodeUnsupportedEncoding  Code = "unsupported_content_encoding"
	CodeDecompressedTooLarge Code = "decompressed_too_large"
)

// Rate limits (adapters/httpapi/ratelimit.go): each agency or auditor, and
// each client address for requests that name no caller, has a token
// bucket; the answer says when to come back (Retry-After).
const (
	CodeRateLimited Code = "rate_limited"
)

// Key administration (hub/auditor_keys.go): a party's last valid key
// cannot be revoked; its replacement is added first.
const (
	CodeLastValidKey Code = "last_valid_key"
)

// problemSpec is one row of the refusal table.
type problemSpec struct {
	Status int
	FR, EN string
}

var problemTable = map[Code]problemSpec{
	CodeBadRequest:         {http.StatusBadRequest, "Requête invalide.", "Bad request."},
	CodeUnsupportedMedia:   {http.StatusUnsupportedMediaType, "Type de contenu non pris en charge : envoyez application/jose.", "Unsupported content type: send application/jose."},
	CodePayloadTooLarge:    {http.StatusRequestEntityTooLarge, "Message trop volumineux.", "Message too large."},
	CodeMalformedJWS:       {http.StatusBadRequest, "Le message n'est pas une signature JWS compacte valide.", "The message is not a valid compact JWS."},
	CodeAlgNotAllowed:      {http.StatusBadRequest, "Algorithme de signature non autorisé.", "Signature algorithm not allowed."},
	CodeAlgKeyMismatch:     {http.StatusBadRequest, "L'algorithme annoncé ne correspond pas à la clé enregistrée.", "The announced algorithm does not match the registered key."},
	CodeHeaderNotAllowed:   {http.StatusBadRequest, "En-tête JOSE non autorisé.", "JOSE header not allowed."},
	CodeTypInvalid:         {http.StatusBadRequest, "Type de message (typ) invalide.", "Invalid message type (typ)."},
	CodeUnknownKey:         {http.StatusBadRequest, "Clé de signature inconnue.", "Unknown signing key."},
	CodeKeyRevoked:         {http.StatusBadRequest, "Clé de signature révoquée.", "Signing key revoked."},
	CodeSignatureInvalid:   {http.StatusBadRequest, "Signature invalide : le message a été modifié ou mal signé.", "Invalid signature: the message was altered or wrongly signed."},
	CodeMalformedEnvelope:  {http.StatusBadRequest, "L'enveloppe n'est pas un JSON valide.", "The envelope is not valid JSON."},
	CodeUnknownField:       {http.StatusBadRequest, "L'enveloppe contient un champ inconnu.", "The envelope contains an unknown field."},
	CodeDuplicateKey:       {http.StatusBadRequest, "L'enveloppe contient un champ en double.", "The envelope contains a duplicate field."},
	CodeInvalidEnvelope:    {http.StatusUnprocessableEntity, "L'enveloppe ne respecte pas le protocole.", "The envelope does not follow the protocol."},
	CodeUnsupportedVersion: {http.StatusBadRequest, "Version du protocole non prise en charge.", "Unsupported protocol version."},
	CodeUnknownKind:        {http.StatusBadRequest, "Type de message inconnu.", "Unknown message kind."},
	CodeSenderMismatch:     {http.StatusForbidden, "Le signataire n'est pas l'expéditeur déclaré.", "The signer is not the declared sender."},
	CodeUnknownSender:      {http.StatusForbidden, "Service expéditeur non enregistré.", "Sending agency not registered."},
	CodeUnknownRecipient:   {http.StatusUnprocessableEntity, "Service destinataire non enregistré.", "Recipient agency not registered."},
	CodeBodyNotEncrypted:   {http.StatusUnprocessableEntity, "Le contenu doit être chiffré pour le destinataire.", "The body must be encrypted for the recipient."},
	CodeBodyInvalid:        {http.StatusUnprocessableEntity, "Le contenu du message est invalide.", "The message body is invalid."},
	CodeDuplicateID:        {http.StatusConflict, "Cet identifiant de message a déjà été utilisé pour un autre message.", "This message id was already used for a different message."},
	CodeUnknownTransfer:    {http.StatusUnprocessableEntity, "Transfert inconnu.", "Unknown transfer."},
	CodeNotParty:           {http.StatusForbidden, "Ce service ne participe pas à ce transfert.", "This agency is not a party to this transfer."},
	CodeInvalidTransition:  {http.StatusConflict, "Ce message n'est pas permis à cette étape du transfert.", "This message is not allowed at this stage of the transfer."},
	CodeReceiptMismatch:    {http.StatusUnprocessableEntity, "L'accusé de réception ne correspond pas au message reçu.", "The receipt does not match the message received."},
	CodeOutOfOrder:         {http.StatusConflict, "Message hors séquence : un message précédent de ce service dans ce transfert n'est pas encore arrivé.", "Out-of-sequence message: an earlier message from this agency in this transfer has not arrived yet."},
	CodeUnauthenticated:    {http.StatusUnauthorized, "Authentification requise.", "Authentication required."},
	CodeTokenInvalid:       {http.StatusUnauthorized, "Jeton d'accès invalide.", "Invalid access token."},
	CodeTokenExpired:       {http.StatusUnauthorized, "Jeton d'accès expiré.", "Access token expired."},
	CodeTokenReplayed:      {http.StatusUnauthorized, "Jeton d'accès déjà utilisé.", "Access token already used."},
	CodeForbidden:          {http.StatusForbidden, "Accès refusé.", "Access denied."},
	CodeNotFound:           {http.StatusNotFound, "Ressource introuvable.", "Resource not found."},
	CodeMethodNotAllowed:   {http.StatusMethodNotAllowed, "Méthode non autorisée.", "Method not allowed."},
	CodeAgencyInvalid:      {http.StatusUnprocessableEntity, "Enregistrement de service invalide.", "Invalid agency registration."},
	CodeAgencyExists:       {http.StatusConflict, "Ce service est déjà enregistré.", "This agency is already registered."},
	CodeAuditorInvalid:     {http.StatusUnprocessableEntity, "Enregistrement d'auditeur invalide.", "Invalid auditor registration."},
	CodeAuditorExists:      {http.StatusConflict, "Cet auditeur est déjà enregistré.", "This auditor is already registered."},
	CodeUnavailable:        {http.StatusServiceUnavailable, "Service momentanément indisponible, réessayez.", "Service temporarily unavailable, retry."},
	CodeInternal:           {http.StatusInternalServerError, "Erreur interne.", "Internal error."},

	CodeAuditCheckpointInvalid: {http.StatusUnprocessableEntity, "Point de contrôle du journal d'audit invalide : signature ou format incorrect.", "Invalid audit log checkpoint: bad signature or format."},
	CodeAuditInclusionFailed:   {http.StatusUnprocessableEntity, "L'événement n'est pas prouvé inclus dans le journal d'audit signé.", "The event is not proven to be included in the signed audit log."},
	CodeAuditConsistencyFailed: {http.StatusUnprocessableEntity, "Le journal d'audit n'est pas prouvé être la suite du précédent point de contrôle.", "The audit log is not proven to extend the previous checkpoint."},
	CodeAuditFork:              {http.StatusConflict, "Journal d'audit divergent : deux points de contrôle signés de même taille ont des racines différentes.", "Forked audit log: two signed checkpoints of the same size have different roots."},
	CodeAuditShrunk:            {http.StatusConflict, "Journal d'audit raccourci : le point de contrôle est plus petit que le précédent.", "Shrunk audit log: the checkpoint is smaller than the previous one."},
	CodeAuditBundleInvalid:     {http.StatusUnprocessableEntity, "Dossier d'audit invalide.", "Invalid audit bundle."},

	CodeCorridorNotAgreed:     {http.StatusForbidden, "Aucun accord de coopération en vigueur ne couvre cet échange (pays ou services, type de message ou finalité).", "No agreement in force covers this exchange (countries or agencies, message kind or purpose)."},
	CodeConsentMissing:        {http.StatusForbidden, "Ce message contient des données personnelles mais n'indique aucun consentement ni autre fondement.", "This message carries personal data but states no consent or other lawful basis."},
	CodeConsentExpired:        {http.StatusForbidden, "Le consentement a expiré : il faut le renouveler avant d'envoyer ce message.", "The consent has expired: renew it before sending this message."},
	CodeConsentScopeRecipient: {http.StatusForbidden, "Le consentement ne couvre pas ce service destinataire ni son pays.", "The consent does not cover this recipient agency or its country."},
	CodeConsentScopePurpose:   {http.StatusForbidden, "Le consentement ne couvre pas la finalité de ce message.", "The consent does not cover the purpose of this message."},
	CodeCategoryNotAllowed:    {http.StatusForbidden, "Le message contient des catégories de données que le consentement ou l'accord ne permet pas de partager pour cette finalité.", "The message carries data categories that the consent or the agreement does not allow for this purpose."},
	CodeConsentGiverInvalid:   {http.StatusForbidden, "Cette personne ne peut pas donner le consentement pour un enfant de cette tranche d'âge.", "This person may not give consent for a child of this age band."},
	CodeChildAssentMissing:    {http.StatusForbidden, "L'accord de l'enfant doit être recueilli et noté pour cette tranche d'âge.", "The child's assent must be sought and recorded for this age band."},
	CodeOverrideNotAllowed:    {http.StatusForbidden, "L'accord entre ces pays ne permet pas de déroger au consentement, même dans l'intérêt supérieur de l'enfant.", "The agreement between these countries does not allow overriding consent, even in the child's best interests."},
	CodeOverrideUnapproved:    {http.StatusForbidden, "La dérogation n'est pas validée par un ou une responsable habilité(e) du service, distinct(e) de l'expéditeur.", "The override is not approved by an authorised supervisor of the agency other than the sender."},
	CodeLegalBasisNotAccepted: {http.StatusForbidden, "Ce fondement juridique, ou ce texte de loi, n'est pas reconnu par l'accord entre ces pays.", "This lawful basis, or this legal reference, is not recognised by the agreement between these countries."},
	CodeConsentWithdrawn:      {http.StatusForbidden, "Le consentement a été retiré : seuls la clôture et l'effacement du dossier restent possibles.", "The consent was withdrawn: only closing and erasing the case remain possible."},
	CodeBodyCategoryMismatch:  {http.StatusUnprocessableEntity, "Le contenu du message contient des données d'une catégorie non déclarée.", "The message body carries data of an undeclared category."},

	CodeAttachmentTooLarge:       {http.StatusRequestEntityTooLarge, "Pièce jointe trop volumineuse : 50 Mio au plus par fichier.", "Attachment too large: 50 MiB at most per file."},
	CodeAttachmentExists:         {http.StatusConflict, "Cet identifiant de pièce jointe est déjà utilisé pour un autre fichier.", "This attachment id is already used for another file."},
	CodeUploadOffsetMismatch:     {http.StatusConflict, "Le morceau envoyé ne commence pas là où le téléversement s'est arrêté : demandez la position (HEAD) et reprenez de là.", "The chunk does not start where the upload stopped: ask for the offset (HEAD) and resume from there."},
	CodeAttachmentDigestMismatch: {http.StatusUnprocessableEntity, "Le fichier reçu ne correspond pas à l'empreinte annoncée : le téléversement est à recommencer.", "The file received does not match the announced digest: start the upload again."},
	CodeAttachmentNotUploaded:    {http.StatusConflict, "Une pièce jointe du message n'a pas encore été entièrement téléversée par l'expéditeur.", "An attachment of the message has not yet been fully uploaded by the sender."},
	CodeAttachmentMismatch:       {http.StatusUnprocessableEntity, "Une pièce jointe du message ne correspond pas au fichier téléversé (empreinte ou taille).", "An attachment of the message does not match the uploaded file (digest or size)."},
	CodeRangeNotSatisfiable:      {http.StatusRequestedRangeNotSatisfiable, "La plage demandée est hors du fichier.", "The requested range is outside the file."},

	CodeStatsReaderInvalid:    {http.StatusUnprocessableEntity, "Enregistrement d'autorité statistique invalide.", "Invalid statistics authority registration."},
	CodeStatsReaderExists:     {http.StatusConflict, "Cette autorité statistique est déjà enregistrée.", "This statistics authority is already registered."},
	CodeDirectoryInvalid:      {http.StatusUnprocessableEntity, "Fiche de l'annuaire des services invalide.", "Invalid service directory record."},
	CodeDirectoryPersonalData: {http.StatusUnprocessableEntity, "La fiche de l'annuaire contient ce qui ressemble au nom ou aux coordonnées d'une personne : indiquez seulement une fonction (point focal, permanence).", "The directory record holds what looks like a person's name or contact details: give a role only (focal point, duty desk)."},

	CodeUnsupportedEncoding:  {http.StatusUnsupportedMediaType, "Encodage du contenu non pris en charge : envoyez le corps tel quel ou compressé en gzip.", "Unsupported content encoding: send the body as is or gzip-compressed."},
	CodeDecompressedTooLarge: {http.StatusRequestEntityTooLarge, "Le contenu décompressé dépasse la taille autorisée : requête refusée (bombe de décompression ?).", "The decompressed body exceeds the size limit: request refused (decompression bomb?)."},

	CodeLastValidKey: {http.StatusConflict, "C'est la dernière clé valide : ajoutez d'abord sa remplaçante, puis révoquez-la.", "This is the last valid key: add its replacement first, then revoke it."},

	CodeRateLimited: {http.StatusTooManyRequests, "Trop de requêtes : attendez le délai indiqué (Retry-After) avant de réessayer.", "Too many requests: wait for the time given (Retry-After) before retrying."},
}

// Codes lists every known code, sorted, for docs and tests.
func Codes() []Code {
	out := make([]Code, 0, len(problemTable))
	for c := range problemTable {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Status is the HTTP status of a code.
func (c Code) Status() int {
	if s, ok := problemTable[c]; ok {
		return s.Status
	}
	return http.StatusInternalServerError
}

// Title is the human text of a code in lang ("fr" or "en"); French is the
// default, as it is the network's working language.
func (c Code) Title(lang string) string {
	s, ok := problemTable[c]
	if !ok {
		s = problemTable[CodeInternal]
	}
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		return s.EN
	}
	return s.FR
}

// Problem is a refusal: a stable code plus a detail safe to show and log.
// Detail must never contain personal data: it names fields, headers, kinds
// and ids only.
type Problem struct {
	Code   Code
	Detail string
	// Fields lists the offending envelope fields (JSON paths), when known.
	Fields []string
	// Extra carries machine-readable members added to problem+json
	// (e.g. "state" and "allowed" for invalid_transition).
	Extra map[string]any
	Err   error
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return string(p.Code)
	}
	return string(p.Code) + ": " + p.Detail
}

func (p *Problem) Unwrap() error { return p.Err }

// Refuse builds a Problem with a formatted detail.
func Refuse(code Code, format string, args ...any) *Problem {
	return &Problem{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// AsProblem extracts the Problem from err, or wraps an unknown error as an
// internal error (whose detail is deliberately empty: internal errors may
// carry anything).
func AsProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return &Problem{Code: CodeInternal, Err: err}
}

// CodeOf returns the code of err, or "" when err is nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	return AsProblem(err).Code
}
