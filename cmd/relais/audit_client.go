package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

// Key files of an auditor, written by `relais auditor init`.
const (
	auditorSigningKeyFile = "signing.jwk"
	auditorPublicJWKSFile = "public.jwks"
	auditorIdentityFile   = "auditor.json"
)

// auditorTokenTTL keeps tokens well inside the hub's five-minute limit.
const auditorTokenTTL = 2 * time.Minute

// auditorKeys are an auditor's identity and private signing key. Auditors
// have no encryption key: they never receive message bodies.
type auditorKeys struct {
	ID      string
	Signing jwk.Key
}

func initAuditor(id, dir string) (auditorKeys, error) {
	if !hub.ValidAuditorID(id) {
		return auditorKeys{}, fmt.Errorf("auditor id %q: must be %s<slug> (2 to 48 of a-z, 0-9, -), e.g. auditor:cdp-bf", id, hub.AuditorPrefix)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return auditorKeys{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, auditorSigningKeyFile)); err == nil {
		return auditorKeys{}, fmt.Errorf("%s already holds keys: refusing to overwrite them", dir)
	}
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		return auditorKeys{}, err
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, auditorSigningKeyFile), sig); err != nil {
		return auditorKeys{}, err
	}
	k := auditorKeys{ID: id, Signing: sig}
	pub, err := k.publicJWKS()
	if err != nil {
		return auditorKeys{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, auditorPublicJWKSFile), pub, 0o644); err != nil {
		return auditorKeys{}, err
	}
	ident, _ := json.Marshal(map[string]string{"id": id})
	if err := os.WriteFile(filepath.Join(dir, auditorIdentityFile), ident, 0o644); err != nil {
		return auditorKeys{}, err
	}
	return k, nil
}

func loadAuditor(dir string) (auditorKeys, error) {
	raw, err := os.ReadFile(filepath.Join(dir, auditorIdentityFile))
	if err != nil {
		return auditorKeys{}, fmt.Errorf("read auditor identity (written by 'relais auditor init'): %w", err)
	}
	var ident struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ident); err != nil || !hub.ValidAuditorID(ident.ID) {
		return auditorKeys{}, fmt.Errorf("%s: invalid auditor identity file", filepath.Join(dir, auditorIdentityFile))
	}
	sig, err := seal.ReadKeyFile(filepath.Join(dir, auditorSigningKeyFile))
	if err != nil {
		return auditorKeys{}, err
	}
	return auditorKeys{ID: ident.ID, Signing: sig}, nil
}

func (k auditorKeys) publicJWKS() ([]byte, error) {
	set, err := seal.PublicSet(k.Signing)
	if err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

// auditFlags are the flags of the commands that talk to the audit API.
type auditFlags struct {
	Hub        string
	Keys       string
	AdminToken string
	Lang       string
}

func (f *auditFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Hub, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&f.Keys, "keys", envOr("RELAIS_AUDITOR_KEYS", ""), "auditor key directory written by 'relais auditor init' (RELAIS_AUDITOR_KEYS)")
	cmd.Flags().StringVar(&f.AdminToken, "admin-token", "", "use the hub admin token instead of auditor keys")
	cmd.Flags().StringVar(&f.Lang, "lang", envOr("RELAIS_LANG", "fr"), "language of messages: fr or en")
}

func (f *auditFlags) client() (*auditClient, error) {
	c := &auditClient{hub: strings.TrimRight(f.Hub, "/"), lang: f.Lang, adminToken: f.AdminToken,
		http: &http.Client{Timeout: 60 * time.Second}}
	switch {
	case f.Keys != "":
		keys, err := loadAuditor(f.Keys)
		if err != nil {
			return nil, err
		}
		c.keys = &keys
	case f.AdminToken == "":
		return nil, errors.New("--keys is required (the directory written by 'relais auditor init'), or --admin-token")
	}
	return c, nil
}

// auditClient calls the hub's audit API as an auditor (or the admin).
type auditClient struct {
	hub        string
	keys       *auditorKeys
	adminToken string
	lang       string
	http       *http.Client
	hubID      string
}

// bearer is a fresh single-use token, or the admin token.
func (c *auditClient) bearer(ctx context.Context) (string, error) {
	if c.keys == nil {
		return c.adminToken, nil
	}
	if c.hubID == "" {
		var dir struct {
			Hub struct {
				ID string `json:"id"`
			} `json:"hub"`
		}
		if _, err := c.send(ctx, http.MethodGet, "/v1/directory", nil, "", &dir); err != nil {
			return "", fmt.Errorf("hub directory: %w", err)
		}
		c.hubID = dir.Hub.ID
	}
	return seal.IssueToken(c.keys.Signing, c.keys.ID, c.hubID, auditorTokenTTL, time.Now())
}

// call makes an authenticated request and returns the raw answer.
func (c *auditClient) call(ctx context.Context, method, path string, query url.Values, out any) ([]byte, error) {
	tok, err := c.bearer(ctx)
	if err != nil {
		return nil, err
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return c.send(ctx, method, path, nil, tok, out)
}

func (c *auditClient) send(ctx context.Context, method, path string, body []byte, token string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.hub+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Language", c.lang)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		he := &agency.HubError{Status: resp.StatusCode}
		if json.Unmarshal(raw, &he.Raw) == nil {
			he.Code, _ = he.Raw["code"].(string)
			he.Title, _ = he.Raw["title"].(string)
			he.Detail, _ = he.Raw["detail"].(string)
		}
		if he.Code == "" {
			he.Code, he.Title = "http_"+strconv.Itoa(resp.StatusCode), resp.Status
		}
		return nil, he
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return raw, nil
}

// hubKeyDoc is the answer of GET /v1/audit/key.
type hubKeyDoc struct {
	Origin       string          `json:"origin"`
	NoteVerifier string          `json:"note_verifier"`
	JWK          json.RawMessage `json:"jwk"`
}

func (c *auditClient) hubKey(ctx context.Context) (hubKeyDoc, error) {
	var k hubKeyDoc
	_, err := c.call(ctx, http.MethodGet, "/v1/audit/key", nil, &k)
	return k, err
}

func (c *auditClient) checkpoint(ctx context.Context) ([]byte, error) {
	return c.call(ctx, http.MethodGet, "/v1/audit/checkpoint", nil, nil)
}

func (c *auditClient) consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	var ans struct {
		Proof [][]byte `json:"proof"`
	}
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	_, err := c.call(ctx, http.MethodGet, "/v1/audit/proof/consistency", q, &ans)
	return ans.Proof, err
}
