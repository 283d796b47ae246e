package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id at OWASP's minimum for interactive
// logins (19 MiB, 2 passes, 1 lane): about 50 ms on an old laptop, and
// memory-hard against a stolen database.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
	// minPasswordLen follows NIST SP 800-63B for user-chosen passwords.
	minPasswordLen = 10
)

// errWeakPassword is a password too short to stand guessing.
var errWeakPassword = fmt.Errorf("the password must have at least %d characters", minPasswordLen)

func newSalt() []byte {
	s := make([]byte, saltLen)
	if _, err := rand.Read(s); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return s
}

// hashPassword returns the PHC string of password.
func hashPassword(password string) (string, error) {
	if len([]rune(password)) < minPasswordLen {
		return "", errWeakPassword
	}
	salt := newSalt()
	sum := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// checkPassword compares password with a PHC string in constant time.
func checkPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// sealWithPassword encrypts secret (a supervisor's private key) under a
// key derived from the owner's password: only the supervisor, typing their
// password, can use it, so a case worker at the same site cannot approve
// in their place. Output: salt || nonce || AES-256-GCM ciphertext.
func sealWithPassword(password string, secret []byte) ([]byte, error) {
	salt := newSalt()
	gcm, err := passwordAEAD(password, salt)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append(salt, nonce...), gcm.Seal(nil, nonce, secret, salt)...)
	return out, nil
}

// errWrongPassword is a sealed secret that did not open.
var errWrongPassword = errors.New("wrong password")

func openWithPassword(password string, sealed []byte) ([]byte, error) {
	if len(sealed) < saltLen+12+16 {
		return nil, errWrongPassword
	}
	salt := sealed[:saltLen]
	gcm, err := passwordAEAD(password, salt)
	if err != nil {
		return nil, err
	}
	nonce := sealed[saltLen : saltLen+gcm.NonceSize()]
	plain, err := gcm.Open(nil, nonce, sealed[saltLen+gcm.NonceSize():], salt)
	if err != nil {
		return nil, errWrongPassword
	}
	return plain, nil
}

func passwordAEAD(password string, salt []byte) (cipher.AEAD, error) {
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
