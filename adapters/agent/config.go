package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Files of an agent directory.
const (
	configFile   = "agent.json"
	databaseFile = "agent.db"
	keysDirName  = "keys"
)

// Config is an agent's configuration, agent.json in its directory.
type Config struct {
	// Agency is the agency's id, as registered at the hub.
	Agency string `json:"agency"`
	// Hub is the hub's base URL.
	Hub string `json:"hub"`
	// Keys is the agency's key directory, relative to the agent directory
	// unless absolute.
	Keys string `json:"keys"`
	// Lang is the language of the agent's messages: fr (default) or en.
	Lang string `json:"lang,omitempty"`
}

// InitOptions create an agent directory.
type InitOptions struct {
	Agency string
	Hub    string
	// ExistingKeys, when set, adopts the key directory written by
	// `relais agency init` instead of creating new keys.
	ExistingKeys string
	// Passphrase, when set, protects the private keys: new keys are written
	// locked; existing ones are locked in place.
	Passphrase []byte
	Lang       string
}

// Init creates an agent directory: its configuration, the agency's keys
// and the database. It refuses a directory that already holds an agent.
func Init(ctx context.Context, dir string, o InitOptions) (Config, error) {
	u, err := url.Parse(o.Hub)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("hub URL %q: must be http(s)://host[:port]", o.Hub)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Config{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, configFile)); err == nil {
		return Config{}, fmt.Errorf("%s already holds an agent", dir)
	}
	cfg := Config{Agency: o.Agency, Hub: strings.TrimRight(o.Hub, "/"), Keys: keysDirName, Lang: o.Lang}
	if o.ExistingKeys != "" {
		abs, err := filepath.Abs(o.ExistingKeys)
		if err != nil {
			return Config{}, err
		}
		cfg.Keys = abs
		if len(o.Passphrase) > 0 && !isLocked(abs) {
			if err := lockKeys(abs, o.Passphrase); err != nil {
				return Config{}, fmt.Errorf("protect the existing keys: %w", err)
			}
		}
		keys, err := loadKeys(abs, o.Passphrase)
		if err != nil {
			return Config{}, err
		}
		if cfg.Agency == "" {
			cfg.Agency = keys.ID
		}
		if keys.ID != cfg.Agency {
			return Config{}, fmt.Errorf("the keys in %s are those of %s, not %s", abs, keys.ID, cfg.Agency)
		}
	} else if _, err := createKeys(cfg.Agency, filepath.Join(dir, keysDirName), o.Passphrase); err != nil {
		return Config{}, err
	}
	s, err := openStore(ctx, filepath.Join(dir, databaseFile))
	if err != nil {
		return Config{}, err
	}
	if err := s.close(); err != nil {
		return Config{}, err
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	// Written last: an agent directory is complete once it has a config.
	if err := writeFileDurably(filepath.Join(dir, configFile), append(b, '\n'), 0o600); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ReadConfig reads dir's agent.json.
func ReadConfig(dir string) (Config, error) {
	raw, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%s is not an agent directory: run 'relais agent init' first", dir)
	}
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	if c.Agency == "" || c.Hub == "" || c.Keys == "" {
		return Config{}, fmt.Errorf("%s: agency, hub and keys are required", filepath.Join(dir, configFile))
	}
	return c, nil
}

// KeysDir is the absolute key directory of an agent in dir.
func (c Config) KeysDir(dir string) string {
	if filepath.IsAbs(c.Keys) {
		return c.Keys
	}
	return filepath.Join(dir, c.Keys)
}
