package sqlstore

import "github.com/relais-hub/relais/hub/audit"

// Dialect is the SQL flavour of a database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// migration is one forward-only schema step. A step's statements are
// either given as SQL text (split on ';') or, for steps owned by another
// package, as a statement list per dialect. Steps are applied in order and
// recorded in schema_migrations; a step never changes once released.
type migration struct {
	Version int
	SQLite  string
	PG      string
	// Statements, when set, gives the step's statements for a dialect.
	Statements func(d Dialect) []string
}

// Times are stored as Unix microseconds (BIGINT) in both dialects so that the
// same queries and the same Go code serve both.
var migrations = []migration{
	{1, baseDDL("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"), baseDDL("BYTEA", "BIGSERIAL PRIMARY KEY"), nil},
	// The audit log's tables (hub/audit owns their shape).
	{2, "", "", func(d Dialect) []string { return audit.Migrations(string(d)) }},
	// The case-transfer lifecycle (hub/lifecycle.go): who held the case at
	// each event, the agency an overdue party reports to, the link from a
	// forwarded transfer to the one before, each sender's last seq in a
	// transfer, and the timers that chase stalled steps.
	{3, lifecycleDDL("INTEGER PRIMARY KEY AUTOINCREMENT"), lifecycleDDL("BIGSERIAL PRIMARY KEY"), nil},
	// Outbox leases: with several hubs on one database, each relay claims a
	// batch for a while so two relays do not publish the same deliveries.
	{5, `
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''
`, `
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''
`, nil},
	// Auditors and the indexes of the auditor API (audit_queries.go).
	{4, auditorsDDL("BLOB"), auditorsDDL("BYTEA"), nil},
	// Consent and corridor policies (hub/policy): the consent each message
	// was sent under, withdrawals, and agencies' supervisor keys (the second
	// person of a best-interests override).
	{6, consentDDL, consentDDL, nil},
	// Agency key rotation and revocation (keys.go): when each key was
	// added and, once revoked, since when.
	{7, agencyKeysDDL("BLOB"), agencyKeysDDL("BYTEA"), nil},
	// Encrypted attachments (attachments.go, hub/attachments): upload
	// state and the messages that reference each attachment.
	{8, attachmentsDDL, attachmentsDDL, nil},
	// Statistics and the directory of services (stats.go, services.go):
	// the opening envelope's codes statistics keep, the national
	// statistics authorities, and the versions of agencies' directory
	// records.
	{9, statsDirectoryDDL("BLOB"), statsDirectoryDDL("BYTEA"), nil},
	// Auditor key rotation and revocation (auditor_keys.go): when each
	// auditor key was added and, once revoked, since when.
	{10, auditorKeysDDL("BLOB"), auditorKeysDDL("BYTEA"), nil},
}

// lifecycleDDL is migration 3; the dialects differ only in the
// auto-increment key.
func lifecycleDDL(autoKey string) string {
	return `
ALTER TABLE events ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE agencies ADD COLUMN reports_to TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN previous TEXT NOT NULL DEFAULT '';
CREATE INDEX transfers_sender ON transfers (sender, state);
CREATE INDEX transfers_recipient ON transfers (recipient, state);
CREATE TABLE transfer_seqs (
  transfer TEXT NOT NULL,
  sender TEXT NOT NULL,
  last_seq BIGINT NOT NULL,
  PRIMARY KEY (transfer, sender)
);
CREATE TABLE timers (
  id ` + autoKey + `,
  transfer TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  party TEXT NOT NULL,
  stage TEXT NOT NULL,
  due_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  fired_at BIGINT NOT NULL DEFAULT 0,
  escalated_to TEXT NOT NULL DEFAULT '',
  UNIQUE (transfer, subject, party, stage)
);
CREATE INDEX timers_due ON timers (fired_at, due_at);
CREATE INDEX timers_escalated ON timers (escalated_to)
`
}

const consentDDL = `
ALTER TABLE messages ADD COLUMN consent_ref TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_consent ON messages (sender, consent_ref);
ALTER TABLE agencies ADD COLUMN supervisor_jwks TEXT NOT NULL DEFAULT '';
CREATE TABLE consent_withdrawals (
  agency TEXT NOT NULL,
  consent_ref TEXT NOT NULL,
  message_id TEXT NOT NULL,
  withdrawn_at BIGINT NOT NULL,
  PRIMARY KEY (agency, consent_ref)
)
`

// baseDDL is migration 1; the dialects differ only in the binary type and
// the auto-increment key.
func baseDDL(blob, autoKey string) string {
	return `
CREATE TABLE agencies (
  id TEXT PRIMARY KEY,
  country TEXT NOT NULL,
  name TEXT NOT NULL,
  jwks ` + blob + ` NOT NULL,
  registered_at BIGINT NOT NULL,
  inbox_head BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  transfer TEXT NOT NULL,
  in_reply_to TEXT NOT NULL DEFAULT '',
  case_digest TEXT NOT NULL DEFAULT '',
  jws ` + blob + ` NOT NULL,
  sha256 TEXT NOT NULL,
  receipt ` + blob + ` NOT NULL,
  leaf_index BIGINT NOT NULL,
  accepted_at BIGINT NOT NULL,
  delivered_at BIGINT NOT NULL DEFAULT 0,
  inbox_seq BIGINT NOT NULL DEFAULT 0,
  receipted_at BIGINT NOT NULL DEFAULT 0,
  receipted_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX messages_inbox ON messages (recipient, receipted_at, inbox_seq);
CREATE INDEX messages_transfer ON messages (transfer);
CREATE TABLE transfers (
  id TEXT PRIMARY KEY,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  case_digest TEXT NOT NULL,
  state TEXT NOT NULL,
  holder TEXT NOT NULL,
  opened_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE outbox (
  seq ` + autoKey + `,
  message_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE events (
  idx BIGINT PRIMARY KEY,
  type TEXT NOT NULL,
  at BIGINT NOT NULL,
  message_id TEXT NOT NULL DEFAULT '',
  transfer TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  sender TEXT NOT NULL DEFAULT '',
  recipient TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL DEFAULT '',
  code TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  jws_digest TEXT NOT NULL DEFAULT '',
  case_digest TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_transfer ON events (transfer, idx);
CREATE TABLE tokens (
  issuer TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (issuer, jti)
);`
}
