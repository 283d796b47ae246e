// Package pkcs11 keeps the hub's signing key on a PKCS#11 token (an HSM,
// a smart card, SoftHSM): the key is generated on the token, marked
// sensitive and non-extractable, and every receipt and audit checkpoint is
// signed there. The hub process never holds it.
//
// The token is named by a PKCS#11 URI (RFC 7512), e.g.
//
//	pkcs11:token=relais-hub?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/relais/hsm.pin
//
// It needs a relais binary built with cgo (the module is a C library
// loaded with dlopen); without cgo, Open says so.
package pkcs11

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Config names a token and how to log in to it.
type Config struct {
	// Module is the PKCS#11 library (module-path).
	Module string
	// Token is the token label (token=); Serial, when set, must match too.
	Token  string
	Serial string
	// Slot, when set (slot-id=), picks the slot by number instead.
	Slot *uint
	// PIN is the user PIN (pin-value=, or read from pin-source=file:...).
	PIN string
	// Sessions is how many sessions sign at once (default 4).
	Sessions int
}

// uriPathAttrs and uriQueryAttrs are the RFC 7512 attributes understood;
// any other is refused rather than ignored, so a typo cannot select
// another token than the operator meant.
var (
	uriPathAttrs  = map[string]bool{"token": true, "serial": true, "slot-id": true}
	uriQueryAttrs = map[string]bool{"module-path": true, "pin-source": true, "pin-value": true}
)

// ParseURI reads a PKCS#11 URI. The PIN comes from pin-value, from the
// file pin-source names (mode 0600 or stricter), or from the environment
// variable RELAIS_HSM_PIN when the URI gives neither; it never appears in
// an error.
func ParseURI(s string) (Config, error) {
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return Config{}, errors.New("pkcs11: the URI must start with pkcs11:")
	}
	path, query, _ := strings.Cut(rest, "?")
	var cfg Config
	pinSource := ""
	for _, part := range splitNonEmpty(path, ";") {
		name, value, err := uriAttr(part, uriPathAttrs)
		if err != nil {
			return Config{}, err
		}
		switch name {
		case "token":
			cfg.Token = value
		case "serial":
			cfg.Serial = value
		case "slot-id":
			n, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return Config{}, fmt.Errorf("pkcs11: slot-id %q is not a slot number", value)
			}
			slot := uint(n)
			cfg.Slot = &slot
		}
	}
	for _, part := range splitNonEmpty(query, "&") {
		name, value, err := uriAttr(part, uriQueryAttrs)
		if err != nil {
			return Config{}, err
		}
		switch name {
		case "module-path":
			cfg.Module = value
		case "pin-source":
			pinSource = value
		case "pin-value":
			cfg.PIN = value
		}
	}
	switch {
	case cfg.Module == "":
		return Config{}, errors.New("pkcs11: the URI needs module-path=, the PKCS#11 library")
	case cfg.Token == "" && cfg.Slot == nil:
		return Config{}, errors.New("pkcs11: the URI needs token= (the token label) or slot-id=")
	case pinSource != "" && cfg.PIN != "":
		return Config{}, errors.New("pkcs11: give pin-source= or pin-value=, not both")
	}
	if pinSource != "" {
		pin, err := readPIN(pinSource)
		if err != nil {
			return Config{}, err
		}
		cfg.PIN = pin
	}
	if cfg.PIN == "" {
		cfg.PIN = os.Getenv("RELAIS_HSM_PIN")
	}
	if cfg.PIN == "" {
		return Config{}, errors.New("pkcs11: no PIN: give pin-source=file:... in the URI, or RELAIS_HSM_PIN")
	}
	return cfg, nil
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// uriAttr splits one name=value attribute and percent-decodes the value.
func uriAttr(part string, known map[string]bool) (string, string, error) {
	name, raw, ok := strings.Cut(part, "=")
	if !ok {
		return "", "", errors.New("pkcs11: an attribute of the URI is not name=value")
	}
	if !known[name] {
		return "", "", fmt.Errorf("pkcs11: attribute %q is not supported", name)
	}
	value, err := url.PathUnescape(raw)
	if err != nil {
		return "", "", fmt.Errorf("pkcs11: attribute %s: %w", name, err)
	}
	if value == "" {
		return "", "", fmt.Errorf("pkcs11: attribute %s is empty", name)
	}
	return name, value, nil
}

// readPIN reads pin-source: a file path, or a file: URI.
func readPIN(source string) (string, error) {
	path := strings.TrimPrefix(source, "file:")
	if strings.Contains(path, ":") {
		return "", errors.New("pkcs11: pin-source must be a file path or file: URI")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11: pin-source: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("pkcs11: pin-source %s is accessible to group or others: chmod 600 it", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11: pin-source: %w", err)
	}
	pin := strings.TrimRight(string(raw), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("pkcs11: pin-source %s is empty", path)
	}
	return pin, nil
}
