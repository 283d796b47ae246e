package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/policy"
)

// errPoliciesInvalid ends `relais policy check` with exit status 1 once
// every mistake has been printed.
var errPoliciesInvalid = errors.New("accords invalides / invalid agreements")

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Check corridor agreements, and explain the hub's decision on a message"}
	cmd.AddCommand(policyCheckCmd(), policyExplainCmd())
	return cmd
}

func policyCheckCmd() *cobra.Command {
	var lang string
	cmd := &cobra.Command{
		Use:   "check [FILES|DIRS]",
		Short: "Validate corridor agreements: every mistake with its file, line and field (exit 1 if any)",
		Long: `Loads the agreement files (directories are searched for *.yaml and *.yml)
exactly as the hub does, and prints every mistake with its file, line,
column and field. Without arguments: RELAIS_POLICIES, else the hub's
default directory (RELAIS_DATA/policies).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{defaultPoliciesDir()}
			}
			return checkPolicies(cmd.OutOrStdout(), lang, args)
		},
	}
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "language: fr or en")
	return cmd
}

// defaultPoliciesDir is where `relais serve` keeps its agreements.
func defaultPoliciesDir() string {
	if dir := os.Getenv("RELAIS_POLICIES"); dir != "" {
		return dir
	}
	return filepath.Join(envOr("RELAIS_DATA", "relais-data"), "policies")
}

// checkPolicies loads the agreements and prints each one, or each mistake.
func checkPolicies(out io.Writer, lang string, paths []string) error {
	set, err := policy.Load(paths...)
	var loadErr *policy.LoadError
	if errors.As(err, &loadErr) {
		say(out, lang, "✘ %d erreur(s) dans les accords :", "✘ %d mistake(s) in the agreements:", len(loadErr.Issues))
		for _, is := range loadErr.Issues {
			fmt.Fprintln(out, "  "+formatIssue(is, lang))
		}
		return errPoliciesInvalid
	}
	if err != nil {
		return err
	}
	en := isEnglish(lang)
	for _, c := range set.Corridors() {
		until := c.ValidUntil.Format(time.DateOnly)
		if c.ValidUntil.IsZero() {
			until = pick(en, "sans date de fin", "open-ended")
		}
		say(out, lang, "✔ %s : accord %s, version %d — %s\n    en vigueur du %s au %s ; parties : %s",
			"✔ %s: agreement %s, version %d — %s\n    in force from %s to %s; parties: %s",
			c.File, c.ID, c.Version, c.Title.In(lang), c.ValidFrom.Format(time.DateOnly), until, strings.Join(c.Parties, ", "))
	}
	say(out, lang, "%d accord(s) valide(s) ; empreinte %s", "%d valid agreement(s); digest %s", set.Len(), set.Digest())
	return nil
}

// formatIssue locates a mistake as file:line:column, then names the
// field. The engine words the mistake itself in English.
func formatIssue(is policy.Issue, lang string) string {
	loc := is.File
	if is.Line > 0 {
		loc += fmt.Sprintf(":%d", is.Line)
		if is.Column > 0 {
			loc += fmt.Sprintf(":%d", is.Column)
		}
	}
	if is.Field == "" {
		return loc + " — " + is.Message
	}
	return loc + pick(isEnglish(lang), " — champ ", " — field ") + is.Field + pick(isEnglish(lang), " : ", ": ") + is.Message
}

func isEnglish(lang string) bool { return strings.HasPrefix(strings.ToLower(lang), "en") }

func pick(en bool, fr, english string) string {
	if en {
		return english
	}
	return fr
}

// explainOptions say where an explanation takes the agreements and keys
// from.
type explainOptions struct {
	// Policies are agreement files or directories; none means the
	// agreements shipped with Relais.
	Policies []string
	// Hub, when set, is the hub whose directory verifies the signature and
	// gives the supervisors' keys.
	Hub string
	// Supervisors are JWKS files (or supervisor directories) of the
	// sender's supervisors, for an offline explanation of an override.
	Supervisors []string
	// At is when to decide: "" for the message's sent_at, "now", or an
	// RFC 3339 time.
	At   string
	Lang string
}

// explanation is a decision on one message and what it rests on.
type explanation struct {
	Envelope contracts.Envelope
	Decision policy.Decision
	At       time.Time
	// SignerKID is the kid in the JWS header; Verified says whether the
	// signature was checked against the hub's directory.
	SignerKID string
	Verified  bool
	// SupervisorsFrom says where supervisor keys came from: "hub",
	// "files", or "" when none were available.
	SupervisorsFrom string
	// Shipped: the agreements are those shipped with Relais.
	Shipped bool
}

func policyExplainCmd() *cobra.Command {
	var o explainOptions
	var policyPaths string
	cmd := &cobra.Command{
		Use:   "explain MESSAGE.jws",
		Short: "Say which agreement and which rule allow or deny a message, and why (French or English)",
		Long: `Reads a message (a compact JWS, or a message stored by 'relais inbox') and
applies the corridor agreements to its signed envelope, as the hub does.
With --hub, the signature is checked against the hub's directory and the
sender's supervisor keys are taken from it; without, the envelope is read
as is and the output says that neither the signature nor an override's
approval was verified. Withdrawals are known only to the hub and are not
checked here.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyPaths != "" {
				o.Policies = filepath.SplitList(policyPaths)
			}
			raw, err := readMessageFile(args[0])
			if err != nil {
				return err
			}
			x, err := explainMessage(cmd.Context(), raw, o)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), renderExplanation(x, o))
			return nil
		},
	}
	cmd.Flags().StringVar(&policyPaths, "policies", envOr("RELAIS_POLICIES", ""), "agreement files or directories (path-list separated); default: the agreements shipped with Relais (RELAIS_POLICIES)")
	cmd.Flags().StringVar(&o.Hub, "hub", "", "hub URL: verify the signature and read supervisor keys from its directory")
	cmd.Flags().StringArrayVar(&o.Supervisors, "supervisors", nil, "without --hub: the sender's supervisors' public keys (JWKS file or supervisor directory; repeatable)")
	cmd.Flags().StringVar(&o.At, "at", "", `decide as of this time: the message's sent_at (default), "now", or an RFC 3339 time`)
	cmd.Flags().StringVar(&o.Lang, "lang", envOr("RELAIS_LANG", "fr"), "language: fr or en")
	return cmd
}

// readMessageFile reads a compact JWS, or the JWS of a message stored by
// `relais inbox`.
func readMessageFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m storedMessage
		if err := json.Unmarshal(b, &m); err != nil || m.JWS == "" {
			return nil, fmt.Errorf("%s: neither a compact JWS nor a message stored by 'relais inbox'", path)
		}
		return []byte(m.JWS), nil
	}
	return b, nil
}

// explainMessage decides on one message as the hub would, with what can
// be known outside the hub.
func explainMessage(ctx context.Context, raw []byte, o explainOptions) (explanation, error) {
	var x explanation
	payload, signerKey, supervisors, err := openForExplanation(ctx, raw, o, &x)
	if err != nil {
		return x, err
	}
	env, err := contracts.DecodeEnvelope(payload)
	if err != nil {
		return x, fmt.Errorf("the envelope does not follow the protocol, the hub refuses it before any policy: %w", err)
	}
	x.Envelope = env
	if x.At, err = decisionTime(o.At, env); err != nil {
		return x, err
	}
	set, shipped, err := loadExplainPolicies(o.Policies)
	if err != nil {
		return x, err
	}
	x.Shipped = shipped
	x.Decision = set.Decide(ctx, policy.Input{
		Envelope:    env,
		SignerKID:   x.SignerKID,
		SignerKey:   signerKey,
		Now:         x.At,
		Supervisors: supervisors,
		Withdrawals: policy.NoWithdrawals,
	})
	if shipped && x.Decision.File != "" {
		x.Decision.File = "policies/corridors/" + filepath.Base(x.Decision.File)
	}
	return x, nil
}

// openForExplanation returns the envelope payload and the keys the
// decision needs: verified against the hub's directory when o.Hub is
// set, else read as is.
func openForExplanation(ctx context.Context, raw []byte, o explainOptions, x *explanation) ([]byte, jwk.Key, policy.SupervisorKeys, error) {
	hdr, err := seal.ParseHeader(raw, seal.EnvelopeTyp)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("not a Relais message: %w", err)
	}
	x.SignerKID = hdr.Kid
	if o.Hub == "" {
		payload, err := unverifiedPayload(raw)
		if err != nil {
			return nil, nil, nil, err
		}
		supervisors := noSupervisors
		if len(o.Supervisors) > 0 {
			jwks, err := agency.ReadSupervisorJWKS(o.Supervisors...)
			if err != nil {
				return nil, nil, nil, err
			}
			set, err := seal.ParseSet(jwks)
			if err != nil {
				return nil, nil, nil, err
			}
			// Offline, the files are taken to be the sender's supervisors.
			supervisors = policy.SupervisorKeyFunc(func(_ context.Context, _, kid string) (jwk.Key, error) {
				if k, ok := set.LookupKeyID(kid); ok {
					return k, nil
				}
				return nil, policy.ErrNotSupervisor
			})
			x.SupervisorsFrom = "files"
		}
		return payload, nil, supervisors, nil
	}
	dir, err := agency.New(o.Hub, agency.Keys{}).Directory(ctx, true)
	if err != nil {
		return nil, nil, nil, err
	}
	var signer string
	var signerKey jwk.Key
	payload, _, err := seal.Verify(raw, seal.EnvelopeTyp, func(kid string) (jwk.Key, error) {
		for _, a := range dir.Agencies {
			set, err := seal.ParseSet(a.JWKS)
			if err != nil {
				continue
			}
			if k, ok := set.LookupKeyID(kid); ok {
				signer, signerKey = a.ID, k
				return k, nil
			}
		}
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "kid not in the hub directory")
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signature: %w", err)
	}
	var from struct {
		From string `json:"from"`
	}
	if json.Unmarshal(payload, &from) == nil && from.From != signer {
		return nil, nil, nil, contracts.Refuse(contracts.CodeSenderMismatch, "signed by a key of %s but from %s", signer, from.From)
	}
	x.Verified, x.SupervisorsFrom = true, "hub"
	return payload, signerKey, directorySupervisors(dir), nil
}

// noSupervisors knows no supervisor key: an override cannot be approved.
var noSupervisors = policy.SupervisorKeyFunc(func(context.Context, string, string) (jwk.Key, error) {
	return nil, policy.ErrNotSupervisor
})

// directorySupervisors looks supervisor keys up in the hub's directory.
func directorySupervisors(dir *agency.Directory) policy.SupervisorKeys {
	return policy.SupervisorKeyFunc(func(_ context.Context, agencyID, kid string) (jwk.Key, error) {
		for _, a := range dir.Agencies {
			if a.ID != agencyID || len(a.Supervisors) == 0 {
				continue
			}
			set, err := seal.ParseSet(a.Supervisors)
			if err != nil {
				return nil, policy.ErrNotSupervisor
			}
			if k, ok := set.LookupKeyID(kid); ok {
				return k, nil
			}
		}
		return nil, policy.ErrNotSupervisor
	})
}

// unverifiedPayload decodes a compact JWS's payload without checking the
// signature.
func unverifiedPayload(raw []byte) ([]byte, error) {
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return nil, contracts.Refuse(contracts.CodeMalformedJWS, "a compact JWS has three parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, contracts.Refuse(contracts.CodeMalformedJWS, "the payload is not base64url")
	}
	return payload, nil
}

func decisionTime(at string, env contracts.Envelope) (time.Time, error) {
	switch at {
	case "":
		return env.SentAt, nil
	case "now":
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return time.Time{}, fmt.Errorf(`--at: %q is neither "now" nor an RFC 3339 time`, at)
	}
	return t.UTC(), nil
}

// loadExplainPolicies loads the given agreements, or the shipped ones.
func loadExplainPolicies(paths []string) (*policy.Set, bool, error) {
	if len(paths) > 0 {
		set, err := policy.Load(paths...)
		return set, false, err
	}
	tmp, err := os.MkdirTemp("", "relais-policies-")
	if err != nil {
		return nil, true, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "corridors")
	if err := seedPolicies(dir); err != nil {
		return nil, true, err
	}
	set, err := policy.Load(dir)
	return set, true, err
}

// renderExplanation prints the message, what was and was not verified, and
// the decision (policy.Explain).
func renderExplanation(x explanation, o explainOptions) string {
	var b strings.Builder
	lang := o.Lang
	en := isEnglish(lang)
	env := x.Envelope
	fmt.Fprintf(&b, pick(en, "Message %s — %s (%s)\n  de %s à %s, envoyé le %s ; décision au %s\n", "Message %s — %s (%s)\n  from %s to %s, sent %s; decided as of %s\n"),
		env.ID, kindLabel(env.Kind, lang), env.Kind, env.From, env.To, utcMinute(env.SentAt), utcMinute(x.At))
	if x.Verified {
		fmt.Fprintf(&b, pick(en, "Signature : vérifiée auprès du hub %s (clé %s)\n", "Signature: verified against hub %s (key %s)\n"), o.Hub, x.SignerKID)
	} else {
		b.WriteString(pick(en,
			"Signature : NON VÉRIFIÉE — sans --hub, l'enveloppe est lue telle quelle : ni la signature ni la validation d'une dérogation ne sont vérifiées.\n",
			"Signature: NOT VERIFIED — without --hub the envelope is read as is: neither the signature nor an override's approval is verified.\n"))
	}
	if c := env.Consent; c != nil && c.Override != nil {
		switch x.SupervisorsFrom {
		case "hub":
			b.WriteString(pick(en, "Validation de la dérogation : vérifiée avec les clés de responsables enregistrées au hub.\n",
				"Override approval: checked against the supervisor keys registered with the hub.\n"))
		case "files":
			b.WriteString(pick(en, "Validation de la dérogation : vérifiée avec les clés de responsables fournies (--supervisors), supposées être celles de l'expéditeur.\n",
				"Override approval: checked against the supervisor keys given (--supervisors), taken to be the sender's.\n"))
		default:
			b.WriteString(pick(en, "Validation de la dérogation : NON VÉRIFIÉE — aucune clé de responsable disponible (utilisez --hub ou --supervisors) ; le refus ci-dessous peut ne tenir qu'à cela.\n",
				"Override approval: NOT VERIFIED — no supervisor key available (use --hub or --supervisors); the denial below may be due to that alone.\n"))
		}
	}
	b.WriteString(pick(en, "Retraits de consentement : non consultés (seul le hub les connaît).\n",
		"Consent withdrawals: not consulted (only the hub knows them).\n"))
	if x.Shipped {
		b.WriteString(pick(en, "Accords : ceux livrés avec Relais (--policies pour d'autres).\n", "Agreements: those shipped with Relais (--policies for others).\n"))
	}
	b.WriteString("\n")
	b.WriteString(policy.Explain(x.Decision, lang))
	return b.String()
}

func utcMinute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// explainRefusal prints, after a refusal by the corridor policy, which
// agreement and rule denied the message and why. It reports whether err
// was such a refusal.
func explainRefusal(w io.Writer, err error, lang string) bool {
	d, ok := agency.RefusalDecision(err)
	if !ok {
		return false
	}
	fmt.Fprint(w, policy.Explain(d, lang))
	return true
}
