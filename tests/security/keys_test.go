// Package security tests the hub's security properties end to end, in
// process: a real hub on a real SQLite store behind its real HTTP API.
//
// This file covers agency key rotation and revocation: messages signed
// before a rotation still verify, senders move to the recipient's new
// encryption key, recipients decrypt with old and new keys, and a revoked
// key is refused for messages and tokens, listed in the directory and in
// the audit log.
package security

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	keysHubID      = "relais-keys-hub"
	keysAdminToken = "keys-admin-token-0123456789abcdef"
)

// keysWorld is one running hub with two registered agencies: the Ivorian
// service that sends, the Malian directorate that receives.
type keysWorld struct {
	hub    *hub.Hub
	store  *sqlstore.Store
	srv    *httptest.Server
	ci, ml *keysParty
}

// keysParty is a registered agency with its key directory.
type keysParty struct {
	ID     string
	KeyDir string
}

// client loads the agency's keys as they are on disk now, as a restarted
// agent would.
func (p *keysParty) client(t *testing.T, w *keysWorld) *agency.Client {
	t.Helper()
	keys, err := agency.Load(p.KeyDir)
	if err != nil {
		t.Fatalf("load keys of %s: %v", p.ID, err)
	}
	return agency.New(w.srv.URL, keys)
}

func newKeysWorld(t *testing.T) *keysWorld {
	t.Helper()
	hw := relaistest.NewWorld(t, relaistest.WorldOptions{HubID: keysHubID, AdminToken: keysAdminToken, AuditOrigin: "relais.test/keys"})
	w := &keysWorld{hub: hw.Hub, store: hw.Store, srv: hw.Server}
	w.ci = w.register(t, hw, "ci.dpe-abidjan", "Direction de la protection de l'enfant — Abidjan")
	w.ml = w.register(t, hw, "ml.dnpef", "Direction nationale de la promotion de l'enfant et de la famille")
	return w
}

func (w *keysWorld) register(t *testing.T, hw *relaistest.World, id, name string) *keysParty {
	t.Helper()
	_, keyDir := hw.RegisterAgency(t, id, name)
	return &keysParty{ID: id, KeyDir: keyDir}
}

// keysResponse is an HTTP answer with its JSON body.
type keysResponse struct {
	Status int
	Body   []byte
	Doc    map[string]any
}

func (w *keysWorld) request(t *testing.T, method, path string, body []byte, token string) keysResponse {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "en")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := keysResponse{Status: resp.StatusCode, Body: raw}
	_ = json.Unmarshal(raw, &out.Doc)
	return out
}

func (w *keysWorld) post(t *testing.T, path string, body []byte, token string) keysResponse {
	t.Helper()
	return w.request(t, http.MethodPost, path, body, token)
}

// rotate does what `relais agency rotate` does: a pending key, registered
// through the admin API, then installed. It returns the new kid.
func (w *keysWorld) rotate(t *testing.T, p *keysParty, use string) string {
	t.Helper()
	rot, err := agency.PrepareRotation(p.KeyDir, use)
	if err != nil {
		t.Fatalf("prepare %s rotation of %s: %v", use, p.ID, err)
	}
	body, _ := json.Marshal(map[string]json.RawMessage{"jwk": rot.Public})
	r := w.post(t, "/v1/agencies/"+url.PathEscape(p.ID)+"/keys", body, keysAdminToken)
	if r.Status != http.StatusCreated {
		t.Fatalf("add %s key to %s: %d %s", use, p.ID, r.Status, r.Body)
	}
	if _, err := rot.Commit(); err != nil {
		t.Fatalf("commit rotation: %v", err)
	}
	kid, _ := rot.New.KeyID()
	return kid
}

func (w *keysWorld) revoke(t *testing.T, agencyID, kid string, body []byte) keysResponse {
	t.Helper()
	return w.post(t, "/v1/agencies/"+url.PathEscape(agencyID)+"/keys/"+url.PathEscape(kid)+"/revoke", body, keysAdminToken)
}

// keysDirectory is GET /v1/directory as these tests read it.
type keysDirectory struct {
	Agencies []struct {
		ID   string          `json:"id"`
		JWKS json.RawMessage `json:"jwks"`
		Keys []struct {
			KID    string `json:"kid"`
			Use    string `json:"use"`
			Status string `json:"status"`
		} `json:"keys"`
	} `json:"agencies"`
	Revoked []struct {
		Agency    string    `json:"agency"`
		KID       string    `json:"kid"`
		RevokedAt time.Time `json:"revoked_at"`
	} `json:"revoked"`
}

func (w *keysWorld) directory(t *testing.T) keysDirectory {
	t.Helper()
	r := w.request(t, http.MethodGet, "/v1/directory", nil, "")
	if r.Status != http.StatusOK {
		t.Fatalf("directory: %d %s", r.Status, r.Body)
	}
	var d keysDirectory
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// statuses maps an agency's listed kids to their status.
func (d keysDirectory) statuses(agencyID string) map[string]string {
	out := map[string]string{}
	for _, a := range d.Agencies {
		if a.ID == agencyID {
			for _, k := range a.Keys {
				out[k.KID] = k.Use + "/" + k.Status
			}
		}
	}
	return out
}

// jwksKIDs lists the kids of an agency's JWKS in directory order.
func (d keysDirectory) jwksKIDs(t *testing.T, agencyID string) []string {
	t.Helper()
	for _, a := range d.Agencies {
		if a.ID != agencyID {
			continue
		}
		set, err := seal.ParseSet(a.JWKS)
		if err != nil {
			t.Fatalf("jwks of %s: %v", agencyID, err)
		}
		var kids []string
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			kids = append(kids, kid)
		}
		return kids
	}
	t.Fatalf("%s is not in the directory", agencyID)
	return nil
}

// auditEvents lists the logged events of typ about agencyID, from the
// events table that indexes the audit log.
func (w *keysWorld) auditEvents(t *testing.T, typ audit.EventType, agencyID string) int {
	t.Helper()
	var n int
	err := w.store.DB().QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM events WHERE type = ? AND recipient = ? AND actor = 'admin'`, string(typ), agencyID).Scan(&n)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	return n
}

func (w *keysWorld) messageCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.store.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// referral is a realistic referral.request draft from Abidjan to Bamako.
func referral(to string) agency.Draft {
	categories := []string{"identity", "family", "location", "protection_concerns"}
	return agency.Draft{
		Kind: "referral.request", To: to, Case: "CI-ABJ-2026-0117",
		Purpose:        "protection_referral",
		DataCategories: categories,
		Consent: &contracts.Consent{
			Ref: "CI-ABJ-CONS-0117", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral"},
			DataCategories: categories, ObtainedAt: time.Now().Add(-48 * time.Hour),
		},
		Body: json.RawMessage(`{
  "child": {"given_names": "Kadiatou", "family_name": "Coulibaly", "sex": "f", "birth_date": "2011-07-02", "nationality": "ml"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Foyer Treichville", "since": "2026-01-14"},
  "family": [{"relationship": "mother", "given_names": "Mariam", "family_name": "Diarra", "status": "alive", "country": "ml"}],
  "protection_concerns": {"codes": ["unaccompanied"]},
  "urgency": "high"
}`),
	}
}

// headerKID reads the kid of a compact JOSE object's protected header.
func headerKID(t *testing.T, compact string) string {
	t.Helper()
	first, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(first)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	return h.Kid
}

// inbox waits until the agency's inbox holds want messages and returns
// them.
func inbox(t *testing.T, c *agency.Client, want int) []agency.InboxItem {
	t.Helper()
	var items []agency.InboxItem
	relaistest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		var err error
		items, _, err = c.Inbox(context.Background(), "", 0)
		if err != nil {
			return err
		}
		if len(items) != want {
			return fmt.Errorf("%d messages in the inbox, want %d", len(items), want)
		}
		return nil
	})
	return items
}

func TestARotationKeepsOldMessagesValidAndMovesSendersToTheNewKeys(t *testing.T) {
	w := newKeysWorld(t)
	ctx := context.Background()
	sender := w.ci.client(t, w)
	oldSigKID, _ := sender.Keys.Signing.KeyID()
	oldEncKID, _ := w.ml.client(t, w).Keys.Encryption[0].KeyID()

	before, _, err := sender.Send(ctx, referral(w.ml.ID))
	if err != nil {
		t.Fatalf("send before the rotation: %v", err)
	}

	newEncKID := w.rotate(t, w.ml, "enc")
	newSigKID := w.rotate(t, w.ci, "sig")

	d := w.directory(t)
	if got, want := d.statuses(w.ml.ID), map[string]string{newEncKID: "enc/current", oldEncKID: "enc/previous"}; !sameStatuses(got, want) {
		t.Errorf("recipient's keys in the directory = %v, want at least %v", got, want)
	}
	if got, want := d.statuses(w.ci.ID), map[string]string{newSigKID: "sig/current", oldSigKID: "sig/previous"}; !sameStatuses(got, want) {
		t.Errorf("sender's keys in the directory = %v, want at least %v", got, want)
	}
	if kids := d.jwksKIDs(t, w.ml.ID); len(kids) == 0 || !strings.Contains(strings.Join(kids, " "), newEncKID) {
		t.Errorf("recipient's JWKS %v lacks the new key %s", kids, newEncKID)
	}

	// A restarted sender signs with its new key and encrypts to the
	// recipient's new key.
	sender = w.ci.client(t, w)
	_, after, err := sender.Seal(ctx, referral(w.ml.ID))
	if err != nil {
		t.Fatalf("seal after the rotation: %v", err)
	}
	if kid := headerKID(t, string(after)); kid != newSigKID {
		t.Errorf("message signed with %s, want the new key %s", kid, newSigKID)
	}
	afterSub, err := sender.Submit(ctx, after)
	if err != nil {
		t.Fatalf("submit after the rotation: %v", err)
	}

	// The recipient, holding both keys, opens both messages: the one
	// signed and encrypted before the rotation and the one after.
	recipient := w.ml.client(t, w)
	if n := len(recipient.Keys.Encryption); n != 2 {
		t.Fatalf("recipient loaded %d encryption keys, want 2 (new and kept)", n)
	}
	if kid, _ := recipient.Keys.Encryption[0].KeyID(); kid != newEncKID {
		t.Errorf("recipient's first encryption key is %s, want the newest %s", kid, newEncKID)
	}
	items := inbox(t, recipient, 2)
	bodyKIDs := map[string]string{}
	for _, it := range items {
		o, err := recipient.Open(ctx, []byte(it.JWS))
		if err != nil {
			t.Fatalf("open %s: %v", it.ID, err)
		}
		var compact string
		if err := json.Unmarshal(o.Envelope.Body, &compact); err != nil {
			t.Fatal(err)
		}
		bodyKIDs[it.ID] = headerKID(t, compact)
		if !bytes.Contains(o.Plaintext, []byte("Kadiatou")) {
			t.Errorf("message %s did not decrypt to the referral", it.ID)
		}
	}
	if bodyKIDs[before.ID] != oldEncKID {
		t.Errorf("message sent before the rotation was encrypted to %s, want %s", bodyKIDs[before.ID], oldEncKID)
	}
	if bodyKIDs[afterSub.ID] != newEncKID {
		t.Errorf("message sent after the rotation was encrypted to %s, want the new key %s", bodyKIDs[afterSub.ID], newEncKID)
	}

	if n := w.auditEvents(t, audit.TypeKeyRotated, w.ml.ID); n != 1 {
		t.Errorf("%d key_rotated events for the recipient, want 1", n)
	}
	if n := w.auditEvents(t, audit.TypeKeyRotated, w.ci.ID); n != 1 {
		t.Errorf("%d key_rotated events for the sender, want 1", n)
	}
}

func sameStatuses(got, want map[string]string) bool {
	for kid, s := range want {
		if got[kid] != s {
			return false
		}
	}
	return true
}

func TestAMessageSignedWithARevokedKeyIsRefusedAndTheRevocationIsPublished(t *testing.T) {
	w := newKeysWorld(t)
	ctx := context.Background()
	compromised := w.ci.client(t, w) // holds the key about to leak
	oldKID, _ := compromised.Keys.Signing.KeyID()
	// A message sealed with the key before it is revoked: submitted only
	// after the revocation, it must be refused.
	_, early, err := compromised.Seal(ctx, referral(w.ml.ID))
	if err != nil {
		t.Fatal(err)
	}

	newKID := w.rotate(t, w.ci, "sig")
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	body, _ := json.Marshal(map[string]any{"revoked_at": since})
	if r := w.revoke(t, w.ci.ID, oldKID, body); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	messagesBefore := w.messageCount(t)

	_, err = compromised.Submit(ctx, early)
	if !agency.IsCode(err, contracts.CodeKeyRevoked) {
		t.Fatalf("submitting a message signed with the revoked key: %v, want key_revoked", err)
	}
	_, late, err := compromised.Seal(ctx, referral(w.ml.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compromised.Submit(ctx, late); !agency.IsCode(err, contracts.CodeKeyRevoked) {
		t.Fatalf("a message freshly signed with the revoked key: %v, want key_revoked", err)
	}
	if _, _, err := compromised.Inbox(ctx, "", 0); !agency.IsCode(err, contracts.CodeKeyRevoked) {
		t.Errorf("a token signed with the revoked key: %v, want key_revoked", err)
	}
	if n := w.messageCount(t); n != messagesBefore {
		t.Errorf("%d messages stored after the refusals, want %d: nothing may be queued", n, messagesBefore)
	}
	if items := inbox(t, w.ml.client(t, w), 0); len(items) != 0 {
		t.Errorf("recipient's inbox holds %d messages, want none", len(items))
	}

	var rejected int
	if err := w.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE type = 'rejected' AND code = ?`, string(contracts.CodeKeyRevoked)).Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	if rejected != 2 {
		t.Errorf("%d key_revoked refusals in the audit log, want 2", rejected)
	}
	if n := w.auditEvents(t, audit.TypeKeyRevoked, w.ci.ID); n != 1 {
		t.Errorf("%d key_revoked events in the audit log, want 1", n)
	}

	d := w.directory(t)
	if len(d.Revoked) != 1 || d.Revoked[0].KID != oldKID || d.Revoked[0].Agency != w.ci.ID || !d.Revoked[0].RevokedAt.Equal(since) {
		t.Errorf("directory revocations = %+v, want %s of %s revoked at %s", d.Revoked, oldKID, w.ci.ID, since)
	}
	for _, kid := range d.jwksKIDs(t, w.ci.ID) {
		if kid == oldKID {
			t.Errorf("the revoked key %s is still in the agency's JWKS", oldKID)
		}
	}
	if got := d.statuses(w.ci.ID)[newKID]; got != "sig/current" {
		t.Errorf("replacement key status = %q, want sig/current", got)
	}

	// The agency, with its new key, carries on.
	if _, _, err := w.ci.client(t, w).Send(ctx, referral(w.ml.ID)); err != nil {
		t.Errorf("send with the replacement key: %v", err)
	}
}

func TestKeyAdministrationRefusals(t *testing.T) {
	w := newKeysWorld(t)
	ciKeys := w.ci.client(t, w).Keys
	sigKID, _ := ciKeys.Signing.KeyID()
	token := func() string {
		tok, err := seal.IssueToken(ciKeys.Signing, w.ci.ID, keysHubID, time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	freshKey, err := seal.GenerateEncryptionKey(seal.NewKID(w.ci.ID + "#enc"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := seal.PublicKey(freshKey)
	pubJSON, _ := json.Marshal(pub)
	addBody, _ := json.Marshal(map[string]json.RawMessage{"jwk": pubJSON})
	privJSON, _ := json.Marshal(freshKey)
	privBody, _ := json.Marshal(map[string]json.RawMessage{"jwk": privJSON})
	keysPath := "/v1/agencies/" + w.ci.ID + "/keys"
	revokePath := keysPath + "/" + url.PathEscape(sigKID) + "/revoke"

	cases := []struct {
		name   string
		path   string
		body   []byte
		token  string
		status int
		code   contracts.Code
	}{
		{"an agency token cannot add keys", keysPath, addBody, token(), http.StatusForbidden, contracts.CodeForbidden},
		{"an agency token cannot revoke keys", revokePath, nil, token(), http.StatusForbidden, contracts.CodeForbidden},
		{"no token cannot add keys", keysPath, addBody, "", http.StatusUnauthorized, contracts.CodeUnauthenticated},
		{"a private key is refused", keysPath, privBody, keysAdminToken, http.StatusUnprocessableEntity, contracts.CodeAgencyInvalid},
		{"a key for an unknown agency is refused", "/v1/agencies/sn.inconnu/keys", addBody, keysAdminToken, http.StatusNotFound, contracts.CodeNotFound},
		{"the last signing key cannot be revoked", revokePath, nil, keysAdminToken, http.StatusUnprocessableEntity, contracts.CodeAgencyInvalid},
		{"a revocation in the future is refused", revokePath, []byte(`{"revoked_at":"2999-01-01T00:00:00Z"}`), keysAdminToken, http.StatusBadRequest, contracts.CodeBadRequest},
		{"an unknown kid cannot be revoked", keysPath + "/nope/revoke", nil, keysAdminToken, http.StatusNotFound, contracts.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.post(t, c.path, c.body, c.token)
			if r.Status != c.status || r.Doc["code"] != string(c.code) {
				t.Errorf("got %d %v, want %d %s: %s", r.Status, r.Doc["code"], c.status, c.code, r.Body)
			}
		})
	}
	if n := w.auditEvents(t, audit.TypeKeyRotated, w.ci.ID) + w.auditEvents(t, audit.TypeKeyRevoked, w.ci.ID); n != 0 {
		t.Errorf("%d key events logged after refusals only, want 0", n)
	}

	// A kid already registered, even by a rotation then revoked, stays
	// taken.
	if r := w.post(t, keysPath, addBody, keysAdminToken); r.Status != http.StatusCreated {
		t.Fatalf("add key: %d %s", r.Status, r.Body)
	}
	freshKID, _ := freshKey.KeyID()
	if r := w.revoke(t, w.ci.ID, freshKID, nil); r.Status != http.StatusOK {
		t.Fatalf("revoke the added key: %d %s", r.Status, r.Body)
	}
	if r := w.revoke(t, w.ci.ID, freshKID, nil); r.Status != http.StatusBadRequest || r.Doc["code"] != string(contracts.CodeKeyRevoked) {
		t.Errorf("revoking it twice: %d %s, want 400 key_revoked", r.Status, r.Body)
	}
	if r := w.post(t, "/v1/agencies/"+w.ml.ID+"/keys", addBody, keysAdminToken); r.Status != http.StatusUnprocessableEntity || r.Doc["code"] != string(contracts.CodeAgencyInvalid) {
		t.Errorf("the same kid for another agency: %d %s, want 422 agency_invalid", r.Status, r.Body)
	}
}
