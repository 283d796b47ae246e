package services

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// Store reads the directory; adapters/sqlstore implements it.
type Store interface {
	// DirectoryRecords lists every version of agency's record ("" for
	// every agency), by agency then version.
	DirectoryRecords(ctx context.Context, agency string) ([]Record, error)
}

// Tx writes a new version inside the transaction that logs it.
type Tx interface {
	// InsertDirectoryRecord adds a version; a version number already taken
	// (two admins publishing at once) fails.
	InsertDirectoryRecord(ctx context.Context, r Record) error
	// EndDirectoryRecord sets the valid_to of an agency's version.
	EndDirectoryRecord(ctx context.Context, agency string, version int, validTo Date) error
}

// Directory is the directory of services of a hub.
type Directory struct {
	hub   *hub.Hub
	store Store
	now   func() time.Time
}

// New serves the directory from h's store, which must be a Store
// (adapters/sqlstore is).
func New(h *hub.Hub) (*Directory, error) {
	store, ok := h.Store().(Store)
	if !ok {
		return nil, errors.New("services: the store does not keep a directory of services")
	}
	return &Directory{hub: h, store: store, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Records lists every version of every record.
func (d *Directory) Records(ctx context.Context) ([]Record, error) {
	return d.store.DirectoryRecords(ctx, "")
}

// History lists the versions of one agency's record, oldest first.
func (d *Directory) History(ctx context.Context, agency string) ([]Record, error) {
	return d.store.DirectoryRecords(ctx, agency)
}

// Find answers a query (see Find).
func (d *Directory) Find(ctx context.Context, q Query) ([]Match, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.AsOf == "" {
		q.AsOf = DateOf(d.now())
	}
	all, err := d.Records(ctx)
	if err != nil {
		return nil, err
	}
	return Find(all, q), nil
}

// Publish adds a new version of an agency's record, valid from
// r.ValidFrom, and logs it as an admin_action. The agency must be
// registered; the new version must start after the previous one did, and
// ends it. Version, Country and PublishedAt are filled in.
func (d *Directory) Publish(ctx context.Context, r Record, actor string) (Record, error) {
	if err := Validate(r); err != nil {
		return Record{}, err
	}
	agency, err := d.hub.Directory().Agency(ctx, r.Agency)
	if errors.Is(err, hub.ErrNotFound) {
		return Record{}, invalid("agency", "agency %s is not registered at the hub", r.Agency)
	}
	if err != nil {
		return Record{}, err
	}
	if r.ReportsTo.Agency != "" {
		if _, err := d.hub.Directory().Agency(ctx, r.ReportsTo.Agency); errors.Is(err, hub.ErrNotFound) {
			return Record{}, invalid("reports_to.agency", "directorate %s is not registered at the hub", r.ReportsTo.Agency)
		} else if err != nil {
			return Record{}, err
		}
	}
	history, err := d.store.DirectoryRecords(ctx, r.Agency)
	if err != nil {
		return Record{}, err
	}
	r.Country, r.Version, r.PublishedAt = strings.ToLower(agency.Country), 1, d.now().Truncate(time.Millisecond)
	// A text given in French only reads the same in English.
	for _, l := range []*contracts.Label{&r.Name, &r.ReportsTo.Name, &r.Contact.Role} {
		if l.EN == "" {
			l.EN = l.FR
		}
	}
	var previous *Record
	if n := len(history); n > 0 {
		previous = &history[n-1]
		if r.ValidFrom <= previous.ValidFrom {
			return Record{}, invalid("valid_from", "version %d is valid from %s: a new version must start after it", previous.Version, previous.ValidFrom)
		}
		r.Version = previous.Version + 1
	}
	err = d.hub.Store().Update(ctx, func(tx hub.Tx) error {
		dtx, ok := tx.(Tx)
		if !ok {
			return errors.New("services: the store does not keep a directory of services")
		}
		if previous != nil && (previous.ValidTo == "" || previous.ValidTo > r.ValidFrom) {
			if err := dtx.EndDirectoryRecord(ctx, r.Agency, previous.Version, r.ValidFrom); err != nil {
				return err
			}
		}
		if err := dtx.InsertDirectoryRecord(ctx, r); err != nil {
			return err
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{
			Type: audit.TypeAdminAction, At: r.PublishedAt, Actor: actor, To: r.Agency,
			Detail: "directory_record_published",
			Extra: map[string]string{"action": "publish_directory_record", "version": strconv.Itoa(r.Version),
				"valid_from": string(r.ValidFrom)},
		})
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("publish directory record of %s: %w", r.Agency, err)
	}
	return r, nil
}

// Label of a service code in lang, or the code itself when unknown.
func ServiceLabel(code, lang string) string {
	if l, ok := contracts.OfferedServices.Label(code); ok {
		return l.In(lang)
	}
	return code
}
