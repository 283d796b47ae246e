package hub

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// Registration is an admin's request to add an agency to the directory.
type Registration struct {
	ID      string `json:"id"`
	Country string `json:"country"`
	Name    string `json:"name"`
	JWKS    []byte `json:"-"`
	// ReportsTo is the agency's central directorate, optional: a registered
	// agency of the same country, told when the agency misses a deadline.
	ReportsTo string `json:"reports_to,omitempty"`
	// SupervisorJWKS, optional, are the public signing keys of the agency's
	// supervisors: the second person who approves a best-interests
	// override.
	SupervisorJWKS []byte `json:"-"`
}

// RegisterAgency adds an agency with its public keys. Each kid must be new
// to the whole directory: a kid names exactly one key of one agency.
func (h *Hub) RegisterAgency(ctx context.Context, r Registration, actor string) (Agency, error) {
	if !contracts.ValidAgencyID(r.ID) {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "id must be <iso-3166 alpha-2>.<slug>")
	}
	if !strings.EqualFold(r.Country, contracts.AgencyCountry(r.ID)) {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "country must match the id's country prefix")
	}
	name := strings.TrimSpace(r.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "name must be 1 to 200 characters")
	}
	set, err := seal.ParseSet(r.JWKS)
	if err != nil {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: %v", contracts.AsProblem(err).Detail)
	}
	// Kids are unique across agencies and auditors: a token's kid names
	// one key of one party.
	kidTaken, err := h.kidsTaken(ctx)
	if err != nil {
		return Agency{}, err
	}
	if _, err := h.directory.Agency(ctx, r.ID); err == nil {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyExists, "agency %s is already registered", r.ID)
	}
	var sig, enc int
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		if kidTaken(kid) {
			return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "kid %q is already registered", kid)
		}
		switch use, _ := k.KeyUsage(); use {
		case "sig":
			sig++
		case "enc":
			enc++
		}
	}
	if sig == 0 || enc == 0 {
		return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks needs at least one signing and one encryption key")
	}
	if len(r.SupervisorJWKS) > 0 {
		sup, err := seal.ParseSet(r.SupervisorJWKS)
		if err != nil {
			return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "supervisors: %v", contracts.AsProblem(err).Detail)
		}
		seen := map[string]bool{}
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			seen[kid] = true
		}
		for i := 0; i < sup.Len(); i++ {
			k, _ := sup.Key(i)
			kid, _ := k.KeyID()
			if use, _ := k.KeyUsage(); use != "sig" {
				return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "supervisor key %q must be a signing key", kid)
			}
			if seen[kid] || kidTaken(kid) {
				return Agency{}, contracts.Refuse(contracts.CodeAgencyInvalid, "kid %q is already registered", kid)
			}
			seen[kid] = true
		}
	}
	if err := h.checkReportsTo(ctx, r); err != nil {
		return Agency{}, err
	}
	a := Agency{ID: r.ID, Country: strings.ToUpper(r.Country), Name: name, JWKS: r.JWKS, SupervisorJWKS: r.SupervisorJWKS, RegisteredAt: h.now()}
	err = h.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertAgency(ctx, a); err != nil {
			return err
		}
		if r.ReportsTo != "" {
			if err := tx.SetReportsTo(ctx, a.ID, r.ReportsTo); err != nil {
				return err
			}
		}
		_, err := tx.AppendEvent(ctx, Event{Type: EventAgencyRegistered, At: a.RegisteredAt, Actor: actor, To: a.ID})
		return err
	})
	if err != nil {
		return Agency{}, err
	}
	return a, h.directory.Reload(ctx)
}

// checkReportsTo: a directorate is a registered agency of the same country,
// other than the agency itself.
func (h *Hub) checkReportsTo(ctx context.Context, r Registration) error {
	if r.ReportsTo == "" {
		return nil
	}
	if !contracts.ValidAgencyID(r.ReportsTo) || r.ReportsTo == r.ID ||
		contracts.AgencyCountry(r.ReportsTo) != contracts.AgencyCountry(r.ID) {
		return contracts.Refuse(contracts.CodeAgencyInvalid, "reports_to must be another agency of the same country")
	}
	if _, err := h.directory.Agency(ctx, r.ReportsTo); errors.Is(err, ErrNotFound) {
		return contracts.Refuse(contracts.CodeAgencyInvalid, "reports_to names an agency that is not registered")
	} else if err != nil {
		return err
	}
	return nil
}
