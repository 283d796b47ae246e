package hub

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
)

// AuditorPrefix starts every auditor id ("auditor:cdp-bf"). Agency ids are
// "<country>.<slug>" and can never contain a colon, so an auditor can never
// be taken for an agency, nor the reverse, whatever a token claims.
const AuditorPrefix = "auditor:"

var auditorSlug = regexp.MustCompile(`^[a-z0-9-]{2,48}$`)

// ValidAuditorID reports whether id is an auditor id: "auditor:" followed by
// 2 to 48 of [a-z0-9-], e.g. "auditor:cdp-bf" for Burkina Faso's
// data-protection authority.
func ValidAuditorID(id string) bool {
	slug, ok := strings.CutPrefix(id, AuditorPrefix)
	return ok && auditorSlug.MatchString(slug)
}

// Auditor is a registered auditor: a data-protection authority, the
// network's secretariat, a donor. It reads the audit log (commitments only)
// and nothing else.
type Auditor struct {
	ID           string
	Name         string
	JWKS         []byte // public JWKS as registered: Ed25519 signing keys only
	RegisteredAt time.Time
}

// AuditorRegistration is an admin's request to add an auditor.
type AuditorRegistration struct {
	ID   string
	Name string
	JWKS []byte
}

// maxAuditorNameRunes bounds the display name, as for agencies.
const maxAuditorNameRunes = 200

// RegisterAuditor adds an auditor with its public signing keys and logs the
// registration as an admin_action. Auditors hold Ed25519 signing keys only:
// they sign access tokens and never receive encrypted bodies.
func (h *Hub) RegisterAuditor(ctx context.Context, r AuditorRegistration, actor string) (Auditor, error) {
	if !ValidAuditorID(r.ID) {
		return Auditor{}, contracts.Refuse(contracts.CodeAuditorInvalid, "id must be %s<slug>, slug of 2 to 48 [a-z0-9-]", AuditorPrefix)
	}
	name := strings.TrimSpace(r.Name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAuditorNameRunes {
		return Auditor{}, contracts.Refuse(contracts.CodeAuditorInvalid, "name must be 1 to %d characters", maxAuditorNameRunes)
	}
	// An auditor registered twice is told so, before its keys are found
	// taken (by itself).
	if _, err := h.store.Auditor(ctx, r.ID); err == nil {
		return Auditor{}, contracts.Refuse(contracts.CodeAuditorExists, "auditor %s is already registered", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return Auditor{}, err
	}
	if err := h.checkAuditorKeys(ctx, r.JWKS); err != nil {
		return Auditor{}, err
	}
	a := Auditor{ID: r.ID, Name: name, JWKS: r.JWKS, RegisteredAt: h.now()}
	err := h.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertAuditor(ctx, a); err != nil {
			return err
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{
			Type: audit.TypeAdminAction, At: a.RegisteredAt, Actor: actor, To: a.ID,
			Detail: "auditor_registered", Extra: map[string]string{"action": "register_auditor"},
		})
		return err
	})
	if err != nil {
		return Auditor{}, err
	}
	return a, nil
}

// checkAuditorKeys admits a JWKS of Ed25519 signing keys whose kids no
// agency and no auditor uses or used (auditor_keys.go).
func (h *Hub) checkAuditorKeys(ctx context.Context, jwks []byte) error {
	set, err := seal.ParseSet(jwks)
	if err != nil {
		return contracts.Refuse(contracts.CodeAuditorInvalid, "jwks: %s", contracts.AsProblem(err).Detail)
	}
	taken, err := h.kidsTaken(ctx)
	if err != nil {
		return err
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if err := checkAuditorKey(k); err != nil {
			return contracts.Refuse(contracts.CodeAuditorInvalid, "jwks: %s", contracts.AsProblem(err).Detail)
		}
		if kid, _ := k.KeyID(); taken(kid) {
			return contracts.Refuse(contracts.CodeAuditorInvalid, "jwks: kid %q is already registered", kid)
		}
	}
	return nil
}

// AuditorSigningKey returns the registered key kid of auditor id, for
// verifying the auditor's access tokens. Any miss is token_invalid: the
// caller learns nothing about which auditors exist.
func (h *Hub) AuditorSigningKey(ctx context.Context, id, kid string) (jwk.Key, error) {
	unknown := contracts.Refuse(contracts.CodeTokenInvalid, "unknown signing key")
	if !ValidAuditorID(id) {
		return nil, unknown
	}
	a, err := h.store.Auditor(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, unknown
	}
	if err != nil {
		return nil, err
	}
	set, err := seal.ParseSet(a.JWKS)
	if err != nil {
		return nil, err
	}
	k, ok := set.LookupKeyID(kid)
	if !ok {
		return nil, unknown
	}
	return k, nil
}
