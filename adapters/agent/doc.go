// Package agent is the site agent (`relais agent`): it runs next to the case
// workers of one agency, on a shared desktop PC behind a prepaid modem, and
// keeps the agency's keys and a local SQLite outbox and inbox.
//
// Durability rules, which together give exactly-once delivery across power
// cuts (SIGKILL at any point) and hub outages of any length:
//
//   - Compose seals a message once — validates, encrypts for the recipient
//     with the last synced copy of the hub directory, signs — and commits the
//     exact signed bytes to the outbox before returning. Nothing needs the
//     network. The message id is in the signed bytes, so resubmitting them
//     after a crash is answered by the hub's dedupe with the first receipt.
//   - Push submits queued items in compose order (per transfer: a later
//     message never overtakes an earlier one of the same transfer) until the
//     hub acknowledges them with a receipt it signed over those bytes; only a
//     refusal the hub explains with a problem code settles an item without a
//     receipt. Anything else — no route, a reset, a 5xx, a captive portal's
//     HTML page — is retried with capped exponential backoff and jitter.
//   - Pull reads the inbox in small pages (a 56 kbit/s link finishes a page
//     between two connection drops), verifies and decrypts each message, and
//     stores the plaintext together with the sealed receipt in one
//     transaction; the receipt is only submitted by Push, after that commit.
//     A message seen again after a crash is recognised by its id and neither
//     stored nor receipted twice. The inbox cursor moves only past messages
//     kept or refused.
//
// The database runs in WAL mode with synchronous=FULL, so a commit is on disk
// when it returns. Several processes share it: `agent run` syncs while
// `agent compose` and `agent status` are run from the case workers'
// terminals.
//
// Logs carry message ids, kinds, agency ids and problem codes, never case
// references or bodies.
package agent
