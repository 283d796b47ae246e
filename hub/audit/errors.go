package audit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// Sentinel errors of verification. Every verification failure is returned as
// a *contracts.Problem (for its stable code) wrapping a *Failure (for the
// bilingual explanation and the event index) wrapping one of these, so callers
// can branch with errors.Is and contracts.CodeOf alike.
var (
	// ErrBadSignature: the checkpoint is not signed by the hub key, or its
	// signature does not verify (the text was altered).
	ErrBadSignature = errors.New("audit: checkpoint signature invalid")
	// ErrMalformedCheckpoint: the checkpoint is not a C2SP signed checkpoint.
	ErrMalformedCheckpoint = errors.New("audit: malformed checkpoint")
	// ErrWrongOrigin: the checkpoint belongs to another log.
	ErrWrongOrigin = errors.New("audit: checkpoint origin mismatch")
	// ErrNotIncluded: an inclusion proof does not lead to the signed root.
	ErrNotIncluded = errors.New("audit: leaf not included")
	// ErrInconsistent: a consistency proof does not show that the newer
	// checkpoint extends the older one.
	ErrInconsistent = errors.New("audit: checkpoints inconsistent")
	// ErrFork: two signed checkpoints of the same size with different roots.
	ErrFork = errors.New("audit: log forked")
	// ErrShrunk: a signed checkpoint smaller than one already seen.
	ErrShrunk = errors.New("audit: log shrunk")
	// ErrMissingProof: a larger checkpoint came without a consistency proof.
	ErrMissingProof = errors.New("audit: consistency proof missing")
	// ErrBundleMalformed: the bundle is not a valid relais audit bundle.
	ErrBundleMalformed = errors.New("audit: malformed bundle")
	// ErrEventMismatch: a bundle's human-readable event differs from its leaf.
	ErrEventMismatch = errors.New("audit: event does not match leaf")
	// ErrDuplicateIndex: a bundle lists the same leaf index twice.
	ErrDuplicateIndex = errors.New("audit: duplicate leaf index")
	// ErrKeyMismatch: a bundle names a hub key other than the one trusted.
	ErrKeyMismatch = errors.New("audit: bundle names another hub key")
)

// Failure explains one verification failure in English and French, with the
// index of the event concerned when there is one. It never contains event
// content: only indexes, sizes and reasons.
type Failure struct {
	Code     contracts.Code
	HasIndex bool
	Index    uint64
	EN, FR   string
	Err      error
}

func (f *Failure) Error() string { return f.Message("en") }

// Message renders the failure in lang ("fr" or "en"; French by default, as
// for every user-facing text of the hub).
func (f *Failure) Message(lang string) string {
	text, prefix := f.FR, "événement %d : "
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		text, prefix = f.EN, "event %d: "
	}
	if f.HasIndex {
		return fmt.Sprintf(prefix, f.Index) + text
	}
	return text
}

func (f *Failure) Unwrap() error { return f.Err }

// failure builds the *contracts.Problem for a verification failure. en and
// fr are format strings sharing args.
func failure(code contracts.Code, sentinel error, en, fr string, args ...any) *contracts.Problem {
	f := &Failure{Code: code, EN: fmt.Sprintf(en, args...), FR: fmt.Sprintf(fr, args...), Err: sentinel}
	return &contracts.Problem{Code: code, Detail: f.Message("en"), Err: f}
}

// atIndex attaches an event index to a failure built by failure.
func atIndex(err error, index uint64) error {
	var p *contracts.Problem
	var f *Failure
	if !errors.As(err, &p) || !errors.As(err, &f) {
		return err
	}
	g := *f
	g.HasIndex, g.Index = true, index
	q := *p
	q.Err, q.Detail = &g, g.Message("en")
	q.Extra = map[string]any{"index": index}
	return &q
}

// FailureOf extracts the Failure from a verification error, if any.
func FailureOf(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}
