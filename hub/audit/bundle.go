package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/relais-hub/relais/contracts"
)

// BundleFormat identifies version 1 of the audit bundle.
const BundleFormat = "relais-audit-bundle/v1"

// Bundle is a self-contained, offline-verifiable extract of the audit log:
// some events, each with its exact leaf bytes and an inclusion proof into one
// signed checkpoint, plus the hub public key needed to check the signature.
// Auditors must verify with a public key obtained independently; the key in
// the bundle only lets them notice they hold the wrong one.
type Bundle struct {
	Format       string             `json:"format"`
	Origin       string             `json:"origin"`
	HubPublicKey HubKey             `json:"hub_public_key"`
	Checkpoint   string             `json:"checkpoint"`
	Events       []BundleEvent      `json:"events"`
	Consistency  *BundleConsistency `json:"consistency,omitempty"`
}

// HubKey names the hub's Ed25519 public key twice: as a signed-note verifier
// key and as a JWK.
type HubKey struct {
	NoteVerifier string    `json:"note_verifier"`
	JWK          PublicJWK `json:"jwk"`
}

// PublicJWK is an OKP Ed25519 public JWK (RFC 8037).
type PublicJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
}

// BundleEvent is one logged event. Leaf is what is proven; Event is the same
// content decoded for humans, and the verifier checks they agree.
type BundleEvent struct {
	Index          uint64   `json:"index"`
	Leaf           []byte   `json:"leaf"`
	Event          Event    `json:"event"`
	InclusionProof [][]byte `json:"inclusion_proof"`
}

// BundleConsistency proves that the bundle's checkpoint extends an earlier
// one, e.g. the last checkpoint an auditor already holds.
type BundleConsistency struct {
	FromCheckpoint string   `json:"from_checkpoint"`
	Proof          [][]byte `json:"proof"`
}

// ErrNotCheckpointed is returned when a bundle is asked for an event that no
// stored checkpoint covers yet; publish a checkpoint first.
var ErrNotCheckpointed = errors.New("audit: event not yet covered by a checkpoint")

// NewHubKey describes pub for a bundle.
func NewHubKey(origin string, pub ed25519.PublicKey) (HubKey, error) {
	vkey, err := VerifierKey(origin, pub)
	if err != nil {
		return HubKey{}, err
	}
	return HubKey{
		NoteVerifier: vkey,
		JWK:          PublicJWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub)},
	}, nil
}

// BuildBundle extracts the events at indexes (in ascending order, each once)
// with inclusion proofs into the latest stored checkpoint.
func BuildBundle(ctx context.Context, q Querier, l *Log, indexes []uint64) (*Bundle, error) {
	cp, err := l.LatestCheckpoint(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("audit: bundle: %w", err)
	}
	// The bundle names the key that signed its checkpoint: the current
	// one, or a retired one if no checkpoint was signed since a rotation.
	signer, err := l.SignerOf(cp.Note)
	if err != nil {
		return nil, fmt.Errorf("audit: bundle: %w", err)
	}
	key, err := NewHubKey(l.origin, signer)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	b := &Bundle{
		Format: BundleFormat, Origin: l.origin, HubPublicKey: key,
		Checkpoint: string(cp.Note), Events: make([]BundleEvent, 0, len(sorted)),
	}
	for _, idx := range sorted {
		if idx >= cp.Size {
			return nil, fmt.Errorf("audit: bundle: event %d, checkpoint size %d: %w", idx, cp.Size, ErrNotCheckpointed)
		}
		ev, raw, err := l.Leaf(ctx, q, idx)
		if err != nil {
			return nil, fmt.Errorf("audit: bundle: %w", err)
		}
		p, err := l.InclusionProof(ctx, q, idx, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("audit: bundle: event %d: %w", idx, err)
		}
		b.Events = append(b.Events, BundleEvent{Index: idx, Leaf: raw, Event: ev, InclusionProof: p})
	}
	return b, nil
}

// AddConsistency adds a proof that the bundle's checkpoint extends the
// stored checkpoint of size fromSize.
func (b *Bundle) AddConsistency(ctx context.Context, q Querier, l *Log, fromSize uint64) error {
	to, err := l.ParseCheckpoint([]byte(b.Checkpoint))
	if err != nil {
		return fmt.Errorf("audit: bundle consistency: %w", err)
	}
	from, err := l.CheckpointAt(ctx, q, fromSize)
	if err != nil {
		return fmt.Errorf("audit: bundle consistency from %d: %w", fromSize, err)
	}
	p, err := l.ConsistencyProof(ctx, q, fromSize, to.Size)
	if err != nil {
		return fmt.Errorf("audit: bundle consistency: %w", err)
	}
	b.Consistency = &BundleConsistency{FromCheckpoint: string(from.Note), Proof: p}
	return nil
}

// Marshal renders the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("audit: marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// Report is the outcome of VerifyBundle.
type Report struct {
	Origin     string
	Checkpoint Checkpoint
	// Verified lists the events proven included in the checkpoint, in
	// bundle order.
	Verified []VerifiedEvent
	// ConsistentFrom is the earlier checkpoint the bundle's checkpoint was
	// proven to extend, if the bundle carried such a proof and it held.
	ConsistentFrom *Checkpoint
	// Failures lists everything that did not verify; empty on success.
	Failures []*Failure
}

// VerifiedEvent is an event whose inclusion was proven.
type VerifiedEvent struct {
	Index uint64
	Event Event
}

// rawBundle mirrors Bundle with the human-readable events left undecoded,
// so that a malformed one is reported against its index.
type rawBundle struct {
	Format       string             `json:"format"`
	Origin       string             `json:"origin"`
	HubPublicKey HubKey             `json:"hub_public_key"`
	Checkpoint   string             `json:"checkpoint"`
	Events       []rawBundleEvent   `json:"events"`
	Consistency  *BundleConsistency `json:"consistency,omitempty"`
}

type rawBundleEvent struct {
	Index          uint64          `json:"index"`
	Leaf           []byte          `json:"leaf"`
	Event          json.RawMessage `json:"event"`
	InclusionProof [][]byte        `json:"inclusion_proof"`
}

// VerifyBundle checks a bundle offline with only the hub's public key: the
// checkpoint signature, then for every event that its index is unique, that
// its leaf is a canonical event equal to the human-readable copy, and that
// the leaf is included in the checkpoint; then the optional consistency
// proof. Every failure is listed in the report; the returned error is the
// first of them (a *contracts.Problem wrapping a *Failure).
func VerifyBundle(data []byte, pub ed25519.PublicKey) (Report, error) {
	return VerifyBundleWithKeys(data, []ed25519.PublicKey{pub})
}

// VerifyBundleWithKeys is VerifyBundle for a set of trusted hub keys: the
// current one and those retired by rotations (GET /v1/audit/keys). The
// bundle must name one of them, and each of its checkpoints must be signed
// by one of them: a bundle built after a rotation proves its consistency
// with a checkpoint signed before it.
func VerifyBundleWithKeys(data []byte, pubs []ed25519.PublicKey) (Report, error) {
	var rep Report
	if len(pubs) == 0 {
		return rep, errors.New("audit: verify bundle: no trusted hub key")
	}
	for _, pub := range pubs {
		if len(pub) != ed25519.PublicKeySize {
			return rep, fmt.Errorf("audit: verify bundle: the hub public key must be %d bytes, got %d", ed25519.PublicKeySize, len(pub))
		}
	}
	fail := func(err error) error {
		if f, ok := FailureOf(err); ok {
			rep.Failures = append(rep.Failures, f)
		}
		return err
	}
	var b rawBundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return rep, fail(failure(contracts.CodeAuditBundleInvalid, ErrBundleMalformed,
			"the bundle is not valid JSON of the expected shape: %v", "le dossier n'est pas un JSON de la forme attendue : %v", err))
	}
	if dec.More() {
		return rep, fail(failure(contracts.CodeAuditBundleInvalid, ErrBundleMalformed,
			"the bundle has trailing data", "le dossier contient des données en trop"))
	}
	if b.Format != BundleFormat {
		return rep, fail(failure(contracts.CodeAuditBundleInvalid, ErrBundleMalformed,
			"unknown bundle format %q (want %q)", "format de dossier inconnu %q (attendu %q)", b.Format, BundleFormat))
	}
	rep.Origin = b.Origin
	var want HubKey
	named := false
	for _, pub := range pubs {
		k, err := NewHubKey(b.Origin, pub)
		if err != nil {
			return rep, fail(failure(contracts.CodeAuditBundleInvalid, ErrBundleMalformed,
				"the bundle origin %q is not a valid log name", "l'origine %q du dossier n'est pas un nom de journal valide", b.Origin))
		}
		if want.NoteVerifier == "" {
			want = k
		}
		named = named || b.HubPublicKey == k
	}
	if !named {
		return rep, fail(failure(contracts.CodeAuditBundleInvalid, ErrKeyMismatch,
			"the bundle names hub key %s but the trusted key is %s", "le dossier indique la clé du hub %s mais la clé de confiance est %s",
			b.HubPublicKey.NoteVerifier, want.NoteVerifier))
	}
	cp, err := ParseCheckpointWithKeys([]byte(b.Checkpoint), b.Origin, pubs)
	if err != nil {
		return rep, fail(err)
	}
	rep.Checkpoint = cp

	var first error
	keep := func(err error) {
		fail(err)
		if first == nil {
			first = err
		}
	}
	seen := make(map[uint64]bool, len(b.Events))
	for _, e := range b.Events {
		if err := verifyBundleEvent(e, cp, seen); err != nil {
			keep(atIndex(err, e.Index))
			continue
		}
		ev, _ := DecodeEvent(e.Leaf)
		rep.Verified = append(rep.Verified, VerifiedEvent{Index: e.Index, Event: ev})
	}
	if b.Consistency != nil {
		from, err := ParseCheckpointWithKeys([]byte(b.Consistency.FromCheckpoint), b.Origin, pubs)
		if err == nil {
			err = VerifyConsistency(from, cp, b.Consistency.Proof)
		}
		if err != nil {
			keep(err)
		} else {
			rep.ConsistentFrom = &from
		}
	}
	return rep, first
}

func verifyBundleEvent(e rawBundleEvent, cp Checkpoint, seen map[uint64]bool) error {
	if seen[e.Index] {
		return failure(contracts.CodeAuditBundleInvalid, ErrDuplicateIndex,
			"the index appears more than once in the bundle", "l'index apparaît plusieurs fois dans le dossier")
	}
	seen[e.Index] = true
	if _, err := DecodeEvent(e.Leaf); err != nil {
		return failure(contracts.CodeAuditBundleInvalid, ErrBundleMalformed,
			"the leaf is not a canonical audit event: %v", "l'événement enregistré n'est pas un événement d'audit canonique : %v", err)
	}
	var human Event
	if err := human.UnmarshalJSON(e.Event); err != nil {
		return failure(contracts.CodeAuditBundleInvalid, ErrEventMismatch,
			"the readable event is malformed: %v", "l'événement lisible est mal formé : %v", err)
	}
	if again, err := human.Encode(); err != nil || !bytes.Equal(again, e.Leaf) {
		return failure(contracts.CodeAuditBundleInvalid, ErrEventMismatch,
			"the readable event differs from the signed leaf", "l'événement lisible diffère de l'événement signé")
	}
	return VerifyInclusion(e.Leaf, e.Index, e.InclusionProof, cp)
}
