package stats

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Source is what statistics read from the hub's store; adapters/sqlstore
// implements it on both engines.
type Source interface {
	// UnindexedOpenings lists up to limit transfers whose opening
	// envelope's codes are not indexed yet, with the stored JWS of their
	// opening message (empty once the transfer was erased).
	UnindexedOpenings(ctx context.Context, limit int) ([]Opening, error)
	// SaveOpeningCodes indexes the codes read from opening envelopes.
	SaveOpeningCodes(ctx context.Context, codes []OpeningCodes) error
	// Facts lists every transfer opened before until, with the times of
	// its steps and its indexed codes.
	Facts(ctx context.Context, until time.Time) ([]Fact, error)
}

// Opening is a transfer's opening message as stored.
type Opening struct {
	Transfer string
	JWS      []byte
}

// OpeningCodes are the two codes statistics keep from an opening
// envelope: its purpose and its consent's age band ("" when unreadable,
// e.g. erased before indexing).
type OpeningCodes struct {
	Transfer string
	Purpose  string
	AgeBand  string
}

// codesOf reads the purpose and the consent's age band from a stored JWS
// the hub verified when it accepted it. Only the envelope (the JWS
// payload) is decoded; its body is a JWE the hub cannot and does not open.
func codesOf(transfer string, jws []byte) OpeningCodes {
	out := OpeningCodes{Transfer: transfer}
	parts := strings.Split(string(jws), ".")
	if len(parts) != 3 {
		return out
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return out
	}
	var env struct {
		Purpose string `json:"purpose"`
		Consent *struct {
			AgeBand string `json:"age_band"`
		} `json:"consent"`
	}
	if json.Unmarshal(payload, &env) != nil {
		return out
	}
	if contracts.Purposes.Has(env.Purpose) {
		out.Purpose = env.Purpose
	}
	if env.Consent != nil && contracts.AgeBands.Has(env.Consent.AgeBand) {
		out.AgeBand = env.Consent.AgeBand
	}
	return out
}
