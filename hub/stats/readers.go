package stats

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
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// The statistics role: a national authority (a ministry's statistics
// directorate, a national statistics institute) that reads releases and
// nothing else. It is registered like an auditor — an id, a name and
// Ed25519 signing keys for single-use access tokens — under ids of its own,
// so that neither an agency nor an auditor can pass for one.

// ReaderPrefix starts every statistics authority's id
// ("statistics:instat-ml"). Agency ids cannot hold a colon and auditor ids
// start with "auditor:".
const ReaderPrefix = "statistics:"

var readerSlug = regexp.MustCompile(`^[a-z0-9-]{2,48}$`)

// ValidReaderID reports whether id is a statistics authority's id:
// "statistics:" followed by 2 to 48 of [a-z0-9-].
func ValidReaderID(id string) bool {
	slug, ok := strings.CutPrefix(id, ReaderPrefix)
	return ok && readerSlug.MatchString(slug)
}

// Reader is a registered statistics authority.
type Reader struct {
	ID           string
	Name         string
	JWKS         []byte // public JWKS as registered: Ed25519 signing keys only
	RegisteredAt time.Time
}

// ReaderRegistration is an admin's request to add a statistics authority.
type ReaderRegistration struct {
	ID   string
	Name string
	JWKS []byte
}

// ReaderStore finds registered statistics authorities (hub.ErrNotFound
// when unknown); adapters/sqlstore implements it.
type ReaderStore interface {
	StatsReader(ctx context.Context, id string) (Reader, error)
}

// ReaderTx records a statistics authority inside the transaction that
// logs its registration.
type ReaderTx interface {
	InsertStatsReader(ctx context.Context, r Reader) error
}

const maxReaderNameRunes = 200

// RegisterReader adds a statistics authority with its public signing keys
// and logs the registration as an admin_action, in one transaction.
func RegisterReader(ctx context.Context, h *hub.Hub, r ReaderRegistration, actor string) (Reader, error) {
	if !ValidReaderID(r.ID) {
		return Reader{}, contracts.Refuse(contracts.CodeStatsReaderInvalid, "id must be %s<slug>, slug of 2 to 48 [a-z0-9-]", ReaderPrefix)
	}
	name := strings.TrimSpace(r.Name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxReaderNameRunes {
		return Reader{}, contracts.Refuse(contracts.CodeStatsReaderInvalid, "name must be 1 to %d characters", maxReaderNameRunes)
	}
	store, ok := h.Store().(ReaderStore)
	if !ok {
		return Reader{}, errors.New("stats: the store does not keep statistics authorities")
	}
	if err := checkReaderKeys(ctx, h, r.JWKS); err != nil {
		return Reader{}, err
	}
	if _, err := store.StatsReader(ctx, r.ID); err == nil {
		return Reader{}, contracts.Refuse(contracts.CodeStatsReaderExists, "statistics authority %s is already registered", r.ID)
	} else if !errors.Is(err, hub.ErrNotFound) {
		return Reader{}, err
	}
	reader := Reader{ID: r.ID, Name: name, JWKS: r.JWKS, RegisteredAt: time.Now().UTC()}
	err := h.Store().Update(ctx, func(tx hub.Tx) error {
		rtx, ok := tx.(ReaderTx)
		if !ok {
			return errors.New("stats: the store does not keep statistics authorities")
		}
		if err := rtx.InsertStatsReader(ctx, reader); err != nil {
			return err
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{
			Type: audit.TypeAdminAction, At: reader.RegisteredAt, Actor: actor, To: reader.ID,
			Detail: "stats_reader_registered", Extra: map[string]string{"action": "register_stats_reader"},
		})
		return err
	})
	if err != nil {
		return Reader{}, err
	}
	return reader, nil
}

// checkReaderKeys admits a JWKS of Ed25519 signing keys whose kids no
// agency signs with.
func checkReaderKeys(ctx context.Context, h *hub.Hub, jwks []byte) error {
	set, err := seal.ParseSet(jwks)
	if err != nil {
		return contracts.Refuse(contracts.CodeStatsReaderInvalid, "jwks: %s", contracts.AsProblem(err).Detail)
	}
	if set.Len() == 0 {
		return contracts.Refuse(contracts.CodeStatsReaderInvalid, "jwks holds no key")
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		alg, _ := k.Algorithm()
		use, _ := k.KeyUsage()
		if use != string(jwk.ForSignature) || alg.String() != seal.AlgEdDSA {
			return contracts.Refuse(contracts.CodeStatsReaderInvalid, "jwks: key %q must be an Ed25519 signing key (alg EdDSA, use sig)", kid)
		}
		_, _, err := h.Directory().SigningKey(ctx, kid)
		if err == nil || contracts.CodeOf(err) == contracts.CodeKeyRevoked {
			return contracts.Refuse(contracts.CodeStatsReaderInvalid, "jwks: kid %q is already registered by an agency", kid)
		}
	}
	return nil
}

// ReaderSigningKey returns the registered key kid of statistics authority
// id, to verify its access tokens. Any miss is token_invalid: the caller
// learns nothing about which authorities exist.
func ReaderSigningKey(ctx context.Context, store hub.Store, id, kid string) (jwk.Key, error) {
	unknown := contracts.Refuse(contracts.CodeTokenInvalid, "unknown signing key")
	readers, ok := store.(ReaderStore)
	if !ValidReaderID(id) || !ok {
		return nil, unknown
	}
	r, err := readers.StatsReader(ctx, id)
	if errors.Is(err, hub.ErrNotFound) {
		return nil, unknown
	}
	if err != nil {
		return nil, err
	}
	set, err := seal.ParseSet(r.JWKS)
	if err != nil {
		return nil, err
	}
	k, ok := set.LookupKeyID(kid)
	if !ok {
		return nil, unknown
	}
	return k, nil
}
