package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// A backup of an embedded hub is one tar.gz, mode 0600: manifest.json
// first (every file's size and SHA-256, and the audit state the snapshot
// was checked against), then a consistent snapshot of the SQLite store
// taken online with VACUUM INTO, the hub's secrets (hub.jwk, case.key,
// admin.token), the corridor agreements (policies/) and the audit log's
// latest signed checkpoint (checkpoint.note). A PostgreSQL store is backed
// up with the engine's own tools (deploy/UPGRADE.md).

const (
	backupFormat   = "relais-backup/v1"
	manifestName   = "manifest.json"
	storeFile      = "relais.db"
	hubKeyFile     = "hub.jwk"
	caseKeyFile    = "case.key"
	adminTokenFile = "admin.token"
	policiesDir    = "policies"
	checkpointFile = "checkpoint.note"
	// maxManifestBytes and maxSmallFile bound what restore reads into
	// memory from an archive it does not trust yet.
	maxManifestBytes = 1 << 20
	maxSmallFile     = 1 << 20
)

// backupManifest describes a backup archive.
type backupManifest struct {
	Format    string        `json:"format"`
	CreatedAt time.Time     `json:"created_at"`
	Files     []backupEntry `json:"files"`
	// Audit is the state of the snapshot's audit log, absent when the log
	// had no checkpoint yet.
	Audit *auditState `json:"audit,omitempty"`
}

// backupEntry is one file of the archive.
type backupEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// auditState is what a store snapshot's audit log holds, verified with the
// hub key: its latest signed checkpoint, and the size of the tree, which
// provably extends that checkpoint.
type auditState struct {
	Origin         string `json:"origin"`
	CheckpointSize uint64 `json:"checkpoint_size"`
	CheckpointRoot string `json:"checkpoint_root"` // hex
	TreeSize       uint64 `json:"tree_size"`
	note           []byte
}

func backupCmd() *cobra.Command {
	var data, out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up an embedded hub while it runs: store snapshot, keys, policies and the latest audit checkpoint in one archive",
		Long: `Writes one tar.gz archive (mode 0600) holding a consistent snapshot of the
SQLite store taken while the hub runs, the hub key, the case key, the admin
token, the corridor agreements in DATA/policies and the audit log's latest
signed checkpoint, with a manifest of SHA-256 digests. The snapshot's audit
log is checked against the hub key before the archive is written.

The archive holds the hub's private keys: store it encrypted, offline, and
apart from the hub. Restore it with 'relais restore'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := backupHub(cmd.Context(), data, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s (%d files)\n", out, len(m.Files))
			if m.Audit != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log: %d events, latest checkpoint %d (root %s)\n",
					m.Audit.TreeSize, m.Audit.CheckpointSize, m.Audit.CheckpointRoot)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", envOr("RELAIS_DATA", "relais-data"), "data directory of the hub (RELAIS_DATA)")
	cmd.Flags().StringVar(&out, "out", "", "archive to write (must not exist)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func restoreCmd() *cobra.Command {
	var data, in string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore an embedded hub's data directory from a 'relais backup' archive (hub stopped)",
		Long: `Checks every file of the archive against its manifest, checks the store
snapshot (SQLite integrity, audit log against the hub key and the signed
checkpoint), and only then installs it in DATA. DATA must be empty or
missing unless --force is given; with --force the hub files in DATA are
replaced (stop the hub first).

A restore rewinds the audit log to the backup: checkpoints the hub
published after the backup no longer match it, and auditors who kept one
will see a fork. Tell them about the restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := restoreHub(cmd.Context(), in, data, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d files into %s\n", len(m.Files), data)
			if m.Audit != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log: %d events, latest checkpoint %d (root %s)\n",
					m.Audit.TreeSize, m.Audit.CheckpointSize, m.Audit.CheckpointRoot)
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the audit log is back at %d events; tell the auditors that checkpoints published after %s are superseded\n",
					m.Audit.TreeSize, m.CreatedAt.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "in", "", "archive written by 'relais backup'")
	cmd.Flags().StringVar(&data, "data", envOr("RELAIS_DATA", "relais-data"), "data directory to restore into (RELAIS_DATA)")
	cmd.Flags().BoolVar(&force, "force", false, "replace the hub files of a non-empty data directory")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

// backupHub writes the archive of the hub in dataDir to out.
func backupHub(ctx context.Context, dataDir, out string) (*backupManifest, error) {
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("backup: %s already exists: refusing to overwrite it", out)
	}
	for _, name := range []string{storeFile, caseKeyFile} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err != nil {
			return nil, fmt.Errorf("backup: %s is not the data directory of an embedded hub: %w", dataDir, err)
		}
	}
	hubKeys, err := hubPublicKeys(dataDir)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	// The snapshot is written next to the archive (same file system, the
	// operator's choice of disk) in a directory only this user can enter.
	staging, err := os.MkdirTemp(filepath.Dir(out), ".relais-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(staging)
	snapshot := filepath.Join(staging, storeFile)
	if err := snapshotSQLite(ctx, filepath.Join(dataDir, storeFile), snapshot); err != nil {
		return nil, err
	}
	state, err := verifyStoreSnapshot(ctx, snapshot, hubKeys)
	if err != nil {
		return nil, fmt.Errorf("backup: the snapshot does not verify: %w", err)
	}

	// Small files are read once into memory, so each is hashed and
	// archived from the same bytes even if someone edits it meanwhile.
	small := map[string][]byte{}
	for _, name := range []string{hubKeyFile, hub.HubRetiredKeyFile, caseKeyFile, adminTokenFile} {
		b, err := readSmallFile(filepath.Join(dataDir, name))
		if errors.Is(err, fs.ErrNotExist) && (name == adminTokenFile || name == hub.HubRetiredKeyFile || name == hubKeyFile) {
			// The token came from RELAIS_ADMIN_TOKEN; the hub key list was
			// never written (hubPublicKeys then read hub.jwk); the hub key
			// is on a PKCS#11 token.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		small[name] = b
	}
	policyFiles, err := os.ReadDir(filepath.Join(dataDir, policiesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup: policies: %w", err)
	}
	for _, e := range policyFiles {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := readSmallFile(filepath.Join(dataDir, policiesDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("backup: policies: %w", err)
		}
		small[policiesDir+"/"+e.Name()] = b
	}
	if state != nil {
		small[checkpointFile] = state.note
	}

	m := &backupManifest{Format: backupFormat, CreatedAt: time.Now().UTC().Truncate(time.Second), Audit: state}
	dbEntry, err := hashFile(snapshot, storeFile)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.Files = append(m.Files, dbEntry)
	names := make([]string, 0, len(small))
	for name := range small {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sum := sha256.Sum256(small[name])
		m.Files = append(m.Files, backupEntry{Path: name, Size: int64(len(small[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	if err := writeArchive(out, staging, m, small); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// snapshotSQLite copies the live store at src into dst with VACUUM INTO: a
// read transaction, so the copy is one consistent state of the database
// while the hub keeps writing to its write-ahead log.
func snapshotSQLite(ctx context.Context, src, dst string) error {
	// mode=rw: never create an empty database where the store should be.
	db, err := sql.Open("sqlite", "file:"+src+"?mode=rw&_pragma=busy_timeout(15000)")
	if err != nil {
		return fmt.Errorf("backup: open store: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup: snapshot of %s: %w", src, err)
	}
	return nil
}

// hubPublicKeys are the keys a backup checks checkpoints with: those of
// hub-keys.json (current and retired), else hub.jwk's, which must then be
// a plain key file (a data directory of an older version that never
// listed its current key). No private key is needed: the hub key may be
// encrypted, or on a PKCS#11 token.
func hubPublicKeys(dir string) ([]ed25519.PublicKey, error) {
	list, err := hub.ReadHubKeyList(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if list.Current != nil {
		return list.PublicKeys(), nil
	}
	key, err := seal.ReadKeyFile(filepath.Join(dir, hubKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%w (`relais serve` lists the hub's public keys in %s when it starts: start it once with this version)", err, hub.HubRetiredKeyFile)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		return nil, fmt.Errorf("hub key: %w", err)
	}
	return append([]ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}, list.PublicKeys()...), nil
}

// verifyStoreSnapshot checks a store file that nothing else uses: SQLite's
// integrity check, then that its audit log's latest checkpoint is signed by
// one of hubKeys and that the tree it holds extends that checkpoint. It
// returns nil state when the log has no checkpoint yet.
func verifyStoreSnapshot(ctx context.Context, dbPath string, hubKeys []ed25519.PublicKey) (*auditState, error) {
	// immutable: the file is a private copy, read without locks or a
	// write-ahead log, and never changed by the check.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&immutable=1")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	if integrity != "ok" {
		return nil, fmt.Errorf("integrity check: %s", integrity)
	}
	var note string
	err = db.QueryRowContext(ctx, `SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&note)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	// The checkpoint names its log on its first line; the signature check
	// below makes sure that name is the hub key's.
	origin, _, _ := strings.Cut(note, "\n")
	cp, err := audit.ParseCheckpointWithKeys([]byte(note), origin, hubKeys)
	if err != nil {
		return nil, fmt.Errorf("latest audit checkpoint (are hub.jwk and hub-keys.json the keys of this store?): %w", err)
	}
	// The log is only read here (head, proofs); audit.New wants a signer,
	// and this one never signs anything.
	_, reader, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	log, err := audit.New(audit.Config{Origin: origin, Signer: reader, Dialect: audit.DialectSQLite})
	if err != nil {
		return nil, err
	}
	size, root, err := log.Head(ctx, db)
	if err != nil {
		return nil, err
	}
	if size < cp.Size {
		return nil, fmt.Errorf("the audit log holds %d events, fewer than its checkpoint's %d", size, cp.Size)
	}
	proof, err := log.ConsistencyProof(ctx, db, cp.Size, size)
	if err != nil {
		return nil, err
	}
	head := audit.Checkpoint{Origin: origin, Size: size, Root: root}
	if err := audit.VerifyConsistency(cp, head, proof); err != nil {
		return nil, fmt.Errorf("the audit log does not extend its latest checkpoint: %w", err)
	}
	if err := verifyAuditLeaves(ctx, db, cp, head); err != nil {
		return nil, err
	}
	return &auditState{Origin: origin, CheckpointSize: cp.Size, CheckpointRoot: hex.EncodeToString(cp.Root), TreeSize: size, note: []byte(note)}, nil
}

// verifyAuditLeaves rehashes every stored leaf into the RFC 6962 tree and
// checks its root at the checkpoint's size against the signed root and at
// the head's size against the stored head: a leaf altered, dropped or
// reordered shows, which the stored tree nodes alone would not reveal.
func verifyAuditLeaves(ctx context.Context, db *sql.DB, cp, head audit.Checkpoint) error {
	rows, err := db.QueryContext(ctx, `SELECT idx, data FROM audit_leaves ORDER BY idx`)
	if err != nil {
		return fmt.Errorf("audit leaves: %w", err)
	}
	defer rows.Close()
	hasher := rfc6962.DefaultHasher
	rng := (&compact.RangeFactory{Hash: hasher.HashChildren}).NewEmptyRange(0)
	rootAt := func() []byte {
		r, _ := rng.GetRootHash(nil)
		if rng.End() == 0 {
			r = hasher.EmptyRoot()
		}
		return r
	}
	check := func(want audit.Checkpoint, what string) error {
		if !bytes.Equal(rootAt(), want.Root) {
			return fmt.Errorf("the audit events stored do not hash to the %s of size %d: the log was altered", what, want.Size)
		}
		return nil
	}
	if cp.Size == 0 {
		if err := check(cp, "signed checkpoint"); err != nil {
			return err
		}
	}
	for rows.Next() {
		var idx int64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return fmt.Errorf("audit leaves: %w", err)
		}
		if idx < 0 || uint64(idx) != rng.End() {
			return fmt.Errorf("audit event %d is missing: the log was altered", rng.End())
		}
		if err := rng.Append(hasher.HashLeaf(data), nil); err != nil {
			return err
		}
		if rng.End() == cp.Size {
			if err := check(cp, "signed checkpoint"); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit leaves: %w", err)
	}
	if rng.End() != head.Size {
		return fmt.Errorf("the store holds %d audit events but its head says %d: the log was altered", rng.End(), head.Size)
	}
	return check(head, "stored head")
}

// writeArchive writes the manifest, the store snapshot and the small files
// to a temporary file next to out, syncs it, and links it to out, which
// fails if out appeared meanwhile: an existing file is never replaced.
func writeArchive(out, staging string, m *backupManifest, small map[string][]byte) (err error) {
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	zw := gzip.NewWriter(tmp)
	tw := tar.NewWriter(zw)
	add := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: m.CreatedAt, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s changed while it was archived", name)
		}
		return err
	}
	if err := add(manifestName, int64(len(manifest)), bytes.NewReader(manifest)); err != nil {
		return err
	}
	for _, e := range m.Files {
		if b, ok := small[e.Path]; ok {
			err = add(e.Path, e.Size, bytes.NewReader(b))
		} else {
			err = addFile(add, e, filepath.Join(staging, filepath.FromSlash(e.Path)))
		}
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return syncDir(filepath.Dir(out))
}

func addFile(add func(string, int64, io.Reader) error, e backupEntry, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return add(e.Path, e.Size, f)
}

// restoreHub checks the archive at in and installs it in dataDir.
func restoreHub(ctx context.Context, in, dataDir string, force bool) (*backupManifest, error) {
	if err := checkRestoreTarget(dataDir, force); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// Staged inside DATA, which its owner can write even where its parent
	// (/var/lib) is not writable, so that installing is a rename.
	staging, err := os.MkdirTemp(dataDir, ".relais-restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(staging)
	m, err := extractArchive(in, staging)
	if err != nil {
		return nil, fmt.Errorf("restore: %s: %w", in, err)
	}
	hubKeys, err := hubPublicKeys(staging)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	state, err := verifyStoreSnapshot(ctx, filepath.Join(staging, storeFile), hubKeys)
	if err != nil {
		return nil, fmt.Errorf("restore: the store in the archive does not verify: %w", err)
	}
	if err := matchAuditState(m.Audit, state, staging); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := installRestored(staging, dataDir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// checkRestoreTarget refuses a data directory that holds anything, unless
// force is set.
func checkRestoreTarget(dataDir string, force bool) error {
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("restore: %s is not empty: stop the hub and pass --force to replace its files", dataDir)
	}
	return nil
}

// extractArchive writes the archive's files under dir, each checked
// against the manifest (its first entry) as it is written, and checks that
// none is missing.
func extractArchive(in, dir string) (*backupManifest, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestName || hdr.Size > maxManifestBytes {
		return nil, errors.New("not a relais backup: the first entry must be manifest.json")
	}
	var m backupManifest
	dec := json.NewDecoder(io.LimitReader(tr, maxManifestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("manifest: format %q, want %q", m.Format, backupFormat)
	}
	want := map[string]backupEntry{}
	for _, e := range m.Files {
		if !validArchivePath(e.Path) {
			return nil, fmt.Errorf("manifest: unsafe path %q", e.Path)
		}
		if _, dup := want[e.Path]; dup {
			return nil, fmt.Errorf("manifest: %s listed twice", e.Path)
		}
		want[e.Path] = e
	}
	for _, required := range []string{storeFile, caseKeyFile} {
		if _, ok := want[required]; !ok {
			return nil, fmt.Errorf("manifest: %s is missing", required)
		}
	}
	_, hasKey := want[hubKeyFile]
	if _, hasList := want[hub.HubRetiredKeyFile]; !hasKey && !hasList {
		return nil, fmt.Errorf("manifest: neither %s nor %s is there", hubKeyFile, hub.HubRetiredKeyFile)
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		e, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: not in the manifest", hdr.Name)
		}
		delete(want, hdr.Name)
		if err := extractFile(tr, e, filepath.Join(dir, filepath.FromSlash(e.Path))); err != nil {
			return nil, err
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for name := range want {
			missing = append(missing, name)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("%s: in the manifest but not in the archive", strings.Join(missing, ", "))
	}
	return &m, nil
}

// validArchivePath admits the names backup writes: the top-level files and
// policies/<name>, nothing absolute, hidden or climbing out.
func validArchivePath(p string) bool {
	switch p {
	case storeFile, hubKeyFile, hub.HubRetiredKeyFile, caseKeyFile, adminTokenFile, checkpointFile:
		return true
	}
	dir, name := path.Split(p)
	return dir == policiesDir+"/" && name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, `\`) && path.Clean(p) == p
}

// extractFile writes one entry with mode 0600, checking its size and
// digest.
func extractFile(r io.Reader, e backupEntry, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, e.Size+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return fmt.Errorf("%s: size or SHA-256 differs from the manifest: the archive is damaged or was altered", e.Path)
	}
	return nil
}

// matchAuditState checks that the store's audit log is the one the
// manifest and checkpoint.note describe.
func matchAuditState(manifest, store *auditState, staging string) error {
	switch {
	case manifest == nil && store == nil:
		return nil
	case manifest == nil || store == nil:
		return errors.New("the manifest and the store disagree on whether the audit log has a checkpoint")
	}
	note, err := os.ReadFile(filepath.Join(staging, checkpointFile))
	if err != nil {
		return fmt.Errorf("%s: %w", checkpointFile, err)
	}
	if !bytes.Equal(note, store.note) || manifest.Origin != store.Origin || manifest.CheckpointSize != store.CheckpointSize ||
		manifest.CheckpointRoot != store.CheckpointRoot || manifest.TreeSize != store.TreeSize {
		return fmt.Errorf("the store's audit log (%d events, checkpoint %d) is not the one the manifest describes (%d events, checkpoint %d)",
			store.TreeSize, store.CheckpointSize, manifest.TreeSize, manifest.CheckpointSize)
	}
	return nil
}

// installRestored moves the staged files into dataDir, first removing the
// files they replace, including a write-ahead log that would otherwise be
// replayed into the restored store.
func installRestored(staging, dataDir string) error {
	for _, name := range []string{storeFile, storeFile + "-wal", storeFile + "-shm", storeFile + "-journal", hubKeyFile, hub.HubRetiredKeyFile, caseKeyFile, adminTokenFile, policiesDir} {
		if err := os.RemoveAll(filepath.Join(dataDir, name)); err != nil {
			return err
		}
	}
	for _, name := range []string{storeFile, hubKeyFile, hub.HubRetiredKeyFile, caseKeyFile, adminTokenFile, policiesDir} {
		src := filepath.Join(staging, name)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(src, filepath.Join(dataDir, name)); err != nil {
			return err
		}
	}
	return syncDir(dataDir)
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSmallFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSmallFile)
	}
	return b, nil
}

func hashFile(path, name string) (backupEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return backupEntry{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return backupEntry{}, err
	}
	return backupEntry{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
