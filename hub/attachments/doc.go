// Package attachments is the hub's side of encrypted attachments: a
// resumable upload protocol (create, append chunks at an offset, ask for
// the durable offset, finish), downloads by the parties of the message
// that references an attachment, and the lifecycle of the stored
// ciphertext (expiry of abandoned uploads, the corridor's retention,
// deletion on erasure). The hub never holds a key: it stores, counts and
// hashes ciphertext only (contracts/attach defines the format).
//
// Attachments move on a lane of their own: the HTTP handlers take a slot
// of a small semaphore (Lane) for the whole request, so that any number of
// slow uploads on 3G modems never occupy more than a few of the hub's
// goroutines, connections and disk writes, and small messages on
// /v1/messages never queue behind them.
//
// Metadata lives in the hub's store (MetaStore, implemented by
// adapters/sqlstore); bytes in a BlobStore (FileStore by default, under
// the hub's data directory).
package attachments
