package pkcs11

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"

	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

// HubKeySetLabel is the data object holding the hub's key set on the token:
// hub-keys.json (which key is current, which were retired and when). Every
// hub process logged in to the token reads the same set, so a rotation made
// by one is found by the others (hub.Hub.ReloadHubKeys).
const HubKeySetLabel = "relais hub key set"

// HubKeys keeps the hub's key set on a token; it is a hub.HubKeyStore.
// With a data directory it also writes the set's public half to
// DIR/hub-keys.json, for backups and offline checks.
type HubKeys struct {
	token *Token
	dir   string
}

// NewHubKeys keeps the key set on token, and its public half in dir when
// dir is not empty.
func NewHubKeys(token *Token, dir string) *HubKeys {
	return &HubKeys{token: token, dir: dir}
}

// Create makes the first hub key on an empty token.
func (s *HubKeys) Create(ctx context.Context) (hub.HubKeySet, error) {
	if _, err := s.token.ReadData(HubKeySetLabel); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return hub.HubKeySet{}, errors.New("pkcs11: the token already holds a hub key set")
		}
		return hub.HubKeySet{}, err
	}
	k, err := s.NewHubKey(ctx)
	if err != nil {
		return hub.HubKeySet{}, err
	}
	set := hub.HubKeySet{Current: k}
	if err := s.SaveHubKeys(ctx, set); err != nil {
		return hub.HubKeySet{}, err
	}
	return set, nil
}

// NewHubKey generates a key pair on the token.
func (s *HubKeys) NewHubKey(context.Context) (hub.HubSigner, error) {
	k, err := s.token.GenerateKey(seal.NewKID("hub#sig"))
	if err != nil {
		return nil, err
	}
	return k, nil
}

// SaveHubKeys writes the set to the token, then its public half to the
// data directory. The current key must be on this token.
func (s *HubKeys) SaveHubKeys(_ context.Context, set hub.HubKeySet) error {
	if _, ok := set.Current.(*Key); !ok {
		return fmt.Errorf("pkcs11: the current hub key %s is not on the token", set.Current.KeyID())
	}
	raw, err := hub.MarshalHubKeyList(set)
	if err != nil {
		return err
	}
	if err := s.token.WriteData(HubKeySetLabel, raw); err != nil {
		return err
	}
	if s.dir == "" {
		return nil
	}
	return hub.WriteHubKeyList(s.dir, set)
}

// LoadHubKeys reads the set from the token and finds its current key
// there, checking that the key on the token is the one the set names.
func (s *HubKeys) LoadHubKeys(context.Context) (hub.HubKeySet, error) {
	raw, err := s.token.ReadData(HubKeySetLabel)
	if err != nil {
		return hub.HubKeySet{}, err
	}
	list, err := hub.ParseHubKeyList(raw)
	if err != nil {
		return hub.HubKeySet{}, fmt.Errorf("pkcs11: the token's hub key set: %w", err)
	}
	if list.Current == nil {
		return hub.HubKeySet{}, errors.New("pkcs11: the token's hub key set names no current key")
	}
	kid, _ := list.Current.KeyID()
	k, err := s.token.FindKey(kid)
	if err != nil {
		return hub.HubKeySet{}, fmt.Errorf("pkcs11: the current hub key: %w", err)
	}
	listed := list.PublicKeys()[0]
	if !bytes.Equal(listed, k.Public().(ed25519.PublicKey)) {
		return hub.HubKeySet{}, fmt.Errorf("pkcs11: the key %s on the token is not the one the key set lists", kid)
	}
	return hub.HubKeySet{Current: k, Retired: list.Retired}, nil
}
