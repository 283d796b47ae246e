package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub/attachments"
)

// openAttachments builds the hub's attachment service: ciphertext files
// under DATA/attachments, metadata in the hub's store. Two settings come
// from the environment, for operators and tests:
//
//   - RELAIS_ATTACHMENT_SLOTS: attachment requests served at once (4);
//   - RELAIS_UPLOAD_TTL: how long an abandoned upload, or an attachment no
//     message referenced, is kept (168h).
func openAttachments(o hubOptions, store *sqlstore.Store) (*attachments.Service, error) {
	blobs, err := attachments.NewFileStore(filepath.Join(o.Data, "attachments"))
	if err != nil {
		return nil, err
	}
	slots := 4
	if v := os.Getenv("RELAIS_ATTACHMENT_SLOTS"); v != "" {
		if slots, err = strconv.Atoi(v); err != nil || slots < 1 {
			return nil, fmt.Errorf("RELAIS_ATTACHMENT_SLOTS=%q: want a positive number", v)
		}
	}
	var ttl time.Duration
	if v := os.Getenv("RELAIS_UPLOAD_TTL"); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 {
			return nil, fmt.Errorf("RELAIS_UPLOAD_TTL=%q: want a duration such as 72h", v)
		}
	}
	return attachments.New(attachments.Config{
		Meta:      store,
		Blobs:     blobs,
		Lane:      attachments.NewLane(slots, 2*time.Second),
		UploadTTL: ttl,
		Logger:    o.Logger.With("component", "attachments"),
	})
}
