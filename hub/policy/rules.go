package policy

import "github.com/relais-hub/relais/contracts"

// Rules, by the name a Decision gives them. Each denial rule maps to one
// refusal code; docs/policy-engine.md lists them in the order Decide
// applies them.
const (
	RuleCorridorParties   = "corridor.parties"
	RuleCorridorInForce   = "corridor.in_force"
	RuleCorridorKind      = "corridor.kind"
	RuleCorridorPurpose   = "corridor.purpose"
	RuleNoPersonalData    = "kind.no_personal_data"
	RuleConsentPresent    = "consent.present"
	RuleWithdrawal        = "consent.withdrawal"
	RuleBasisAccepted     = "basis.accepted"
	RuleConsentExpiry     = "consent.expiry"
	RuleScopeRecipient    = "consent.recipients"
	RuleScopePurpose      = "consent.purposes"
	RuleScopeCategories   = "consent.data_categories"
	RuleMinimisation      = "corridor.minimisation"
	RuleConsentGiver      = "consent.given_by"
	RuleChildAssent       = "consent.child_assent"
	RuleOverrideReason    = "override.reason"
	RuleOverrideApproval  = "override.approval"
	RuleTwoPerson         = "override.two_person"
	RuleLegalReference    = "legal_obligation.reference"
	RuleConsentValid      = "consent.valid"
	RuleOverrideApproved  = "override.approved"
	RuleLegalObligationOK = "legal_obligation.listed"
	// RuleLookup: a registry the engine depends on (withdrawals, supervisor
	// keys) failed; the message is refused as unavailable and may be
	// retried.
	RuleLookup = "engine.lookup"
	// RuleConfiguration: the engine was called without a registry it
	// needs; a programming error, refused as internal.
	RuleConfiguration = "engine.configuration"
)

// ruleTitles say what each rule requires, for Explain.
var ruleTitles = map[string]contracts.Label{
	RuleCorridorParties:   {FR: "Un accord doit exister entre les pays ou services de l'expéditeur et du destinataire.", EN: "An agreement must exist between the sender's and the recipient's countries or agencies."},
	RuleCorridorInForce:   {FR: "L'accord doit être en vigueur à la date de l'envoi.", EN: "The agreement must be in force when the message is sent."},
	RuleCorridorKind:      {FR: "L'accord doit prévoir ce type de message.", EN: "The agreement must provide for this kind of message."},
	RuleCorridorPurpose:   {FR: "L'accord doit prévoir la finalité du message.", EN: "The agreement must provide for the message's purpose."},
	RuleNoPersonalData:    {FR: "Un message sans données personnelles n'a besoin que d'un accord entre les pays.", EN: "A message without personal data only needs an agreement between the countries."},
	RuleConsentPresent:    {FR: "Un message avec des données personnelles doit indiquer son fondement (consentement, dérogation ou obligation légale).", EN: "A message with personal data must state its lawful basis (consent, override or legal obligation)."},
	RuleWithdrawal:        {FR: "Après un retrait du consentement, seuls la clôture et l'effacement du dossier sont permis.", EN: "Once consent is withdrawn, only closing and erasing the case are allowed."},
	RuleBasisAccepted:     {FR: "L'accord doit accepter le fondement invoqué.", EN: "The agreement must accept the lawful basis used."},
	RuleConsentExpiry:     {FR: "Le consentement (ou la décision qui en tient lieu) doit être en cours de validité.", EN: "The consent (or the decision standing for it) must not have expired."},
	RuleScopeRecipient:    {FR: "Le consentement doit couvrir le service destinataire ou son pays.", EN: "The consent must cover the recipient agency or its country."},
	RuleScopePurpose:      {FR: "Le consentement doit couvrir la finalité du message.", EN: "The consent must cover the message's purpose."},
	RuleScopeCategories:   {FR: "Le consentement doit couvrir chaque catégorie de données du message.", EN: "The consent must cover every data category of the message."},
	RuleMinimisation:      {FR: "Pour chaque finalité, l'accord limite les catégories de données partagées (minimisation).", EN: "For each purpose, the agreement limits the data categories shared (minimisation)."},
	RuleConsentGiver:      {FR: "La personne qui consent doit être habilitée pour l'âge de l'enfant.", EN: "The person consenting must be entitled to do so for the child's age band."},
	RuleChildAssent:       {FR: "À partir de l'âge fixé par l'accord, l'avis de l'enfant doit être recueilli et son accord noté.", EN: "From the age set by the agreement, the child's view must be sought and their assent recorded."},
	RuleOverrideReason:    {FR: "Une dérogation doit invoquer un motif de la liste fixée.", EN: "An override must give a reason from the fixed list."},
	RuleOverrideApproval:  {FR: "Une dérogation doit être validée par la signature d'un ou une responsable habilité(e) du même service, sur ce message et ce motif.", EN: "An override must be approved by the signature of an authorised supervisor of the same agency, over this message and this reason."},
	RuleTwoPerson:         {FR: "La validation d'une dérogation demande une deuxième personne : la clé qui valide ne peut pas être celle qui a signé le message.", EN: "Approving an override takes a second person: the approving key cannot be the one that signed the message."},
	RuleLegalReference:    {FR: "Une obligation légale doit citer un texte reconnu par l'accord.", EN: "A legal obligation must cite a text the agreement recognises."},
	RuleConsentValid:      {FR: "Le consentement est valide et couvre ce message.", EN: "The consent is valid and covers this message."},
	RuleOverrideApproved:  {FR: "La dérogation dans l'intérêt supérieur de l'enfant est permise par l'accord et validée par une deuxième personne.", EN: "The best-interests override is allowed by the agreement and approved by a second person."},
	RuleLegalObligationOK: {FR: "L'obligation légale invoquée est reconnue par l'accord.", EN: "The legal obligation invoked is recognised by the agreement."},
	RuleLookup:            {FR: "Les registres nécessaires à la décision doivent être joignables.", EN: "The registries the decision needs must be reachable."},
	RuleConfiguration:     {FR: "Le moteur de règles doit être correctement configuré.", EN: "The rules engine must be configured correctly."},
}

// RuleTitle says what a rule requires, in French and English.
func RuleTitle(rule string) (contracts.Label, bool) {
	l, ok := ruleTitles[rule]
	return l, ok
}

// codeHints tell a case worker what to do after a denial.
var codeHints = map[contracts.Code]contracts.Label{
	contracts.CodeCorridorNotAgreed:     {FR: "Vérifiez le destinataire, le type de message et la finalité ; si l'échange est légitime, demandez à votre point focal de faire ajouter ou mettre à jour l'accord.", EN: "Check the recipient, the message kind and the purpose; if the exchange is legitimate, ask your focal point to have the agreement added or updated."},
	contracts.CodeConsentMissing:        {FR: "Recueillez le consentement (ou faites valider une dérogation) et indiquez-le dans le message.", EN: "Obtain consent (or have an override approved) and state it in the message."},
	contracts.CodeConsentExpired:        {FR: "Renouvelez le consentement auprès de l'enfant ou de son représentant, puis renvoyez le message avec le nouveau consentement.", EN: "Renew consent with the child or their representative, then send the message again with the new consent."},
	contracts.CodeConsentScopeRecipient: {FR: "Le consentement ne mentionne pas ce destinataire : recueillez un consentement qui le couvre, ou adressez le message à un service couvert.", EN: "The consent does not name this recipient: obtain consent that covers it, or send to an agency that is covered."},
	contracts.CodeConsentScopePurpose:   {FR: "Recueillez un consentement pour cette finalité, ou choisissez une finalité couverte.", EN: "Obtain consent for this purpose, or choose a purpose that is covered."},
	contracts.CodeCategoryNotAllowed:    {FR: "Retirez du message les informations des catégories en trop, ou recueillez un consentement qui les couvre si l'accord le permet.", EN: "Remove the information of the extra categories, or obtain consent covering them if the agreement allows it."},
	contracts.CodeConsentGiverInvalid:   {FR: "Faites donner le consentement par la personne habilitée pour l'âge de l'enfant.", EN: "Have consent given by the person entitled to give it for the child's age."},
	contracts.CodeChildAssentMissing:    {FR: "Expliquez la démarche à l'enfant, recueillez son avis et notez son accord avant l'envoi.", EN: "Explain the referral to the child, hear their view and record their assent before sending."},
	contracts.CodeOverrideNotAllowed:    {FR: "Cet accord ne permet pas de dérogation : recueillez le consentement, ou saisissez l'autorité judiciaire compétente.", EN: "This agreement allows no override: obtain consent, or refer the case to the competent court."},
	contracts.CodeOverrideUnapproved:    {FR: "Faites valider la dérogation par un ou une responsable de votre service, avec sa propre clé, pour ce message précis.", EN: "Have a supervisor of your agency approve the override with their own key, for this very message."},
	contracts.CodeLegalBasisNotAccepted: {FR: "Citez un texte reconnu par l'accord (voir la liste), ou utilisez un autre fondement.", EN: "Cite a text recognised by the agreement (see the list), or use another basis."},
	contracts.CodeConsentWithdrawn:      {FR: "Le consentement a été retiré : ne transmettez plus d'informations ; clôturez ou faites effacer le dossier.", EN: "Consent was withdrawn: share no more information; close the case or have it erased."},
	contracts.CodeUnavailable:           {FR: "Réessayez dans quelques minutes ; si le problème persiste, contactez l'équipe technique.", EN: "Try again in a few minutes; if it persists, contact the technical team."},
	contracts.CodeInternal:              {FR: "Contactez l'équipe technique.", EN: "Contact the technical team."},
}
