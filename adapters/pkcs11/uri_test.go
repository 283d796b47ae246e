package pkcs11

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURIReadsTheAttributesRelaisUses(t *testing.T) {
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseURI("pkcs11:token=relais%20hub;serial=A1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:" + pinFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "relais hub" || cfg.Serial != "A1" || cfg.Module != "/usr/lib/softhsm/libsofthsm2.so" || cfg.PIN != "1234" || cfg.Slot != nil {
		t.Fatalf("parsed %+v", cfg)
	}
	cfg, err = ParseURI("pkcs11:slot-id=3?module-path=/m.so&pin-value=99")
	if err != nil || cfg.Slot == nil || *cfg.Slot != 3 || cfg.PIN != "99" {
		t.Fatalf("parsed %+v, %v", cfg, err)
	}
	t.Setenv("RELAIS_HSM_PIN", "from-env")
	cfg, err = ParseURI("pkcs11:token=t?module-path=/m.so")
	if err != nil || cfg.PIN != "from-env" {
		t.Fatalf("the PIN from RELAIS_HSM_PIN: %+v, %v", cfg, err)
	}
}

func TestParseURIRefusesWhatItCannotUseWithoutShowingThePIN(t *testing.T) {
	t.Setenv("RELAIS_HSM_PIN", "")
	dir := t.TempDir()
	open := filepath.Join(dir, "open-pin")
	if err := os.WriteFile(open, []byte("secret-pin-1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, uri, want string }{
		{"another scheme", "pkcs12:token=t?module-path=/m.so&pin-value=secret-pin-1", "must start with pkcs11:"},
		{"no module", "pkcs11:token=t?pin-value=secret-pin-1", "module-path"},
		{"no token nor slot", "pkcs11:?module-path=/m.so&pin-value=secret-pin-1", "token="},
		{"no PIN", "pkcs11:token=t?module-path=/m.so", "no PIN"},
		{"an unknown attribute", "pkcs11:token=t;object=hub?module-path=/m.so&pin-value=secret-pin-1", `"object" is not supported`},
		{"an attribute without a value", "pkcs11:token=t?module-path=/m.so&secret-pin-1", "not name=value"},
		{"an empty value", "pkcs11:token=?module-path=/m.so&pin-value=secret-pin-1", "empty"},
		{"a bad slot", "pkcs11:slot-id=x?module-path=/m.so&pin-value=secret-pin-1", "slot number"},
		{"two PINs", "pkcs11:token=t?module-path=/m.so&pin-value=secret-pin-1&pin-source=/x", "not both"},
		{"a PIN file others can read", "pkcs11:token=t?module-path=/m.so&pin-source=" + open, "chmod 600"},
		{"a PIN command", "pkcs11:token=t?module-path=/m.so&pin-source=|cat%20/x", "no such file"},
		{"bad percent-encoding", "pkcs11:token=%zz?module-path=/m.so&pin-value=secret-pin-1", "token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseURI(c.uri)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret-pin-1") {
				t.Fatalf("the error shows the PIN: %v", err)
			}
		})
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("pkcs11:token=relais?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
	f.Add("pkcs11:slot-id=1;serial=ab?module-path=/m.so&pin-value=%31")
	f.Add("pkcs11:token=a;token=b?module-path=/m&module-path=/n&pin-value=x")
	f.Fuzz(func(t *testing.T, uri string) {
		cfg, err := ParseURI(uri)
		if err != nil {
			return
		}
		if cfg.Module == "" || (cfg.Token == "" && cfg.Slot == nil) || cfg.PIN == "" {
			t.Fatalf("accepted %q as %+v", uri, cfg)
		}
	})
}
