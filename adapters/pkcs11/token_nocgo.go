//go:build !cgo

package pkcs11

import (
	"crypto"
	"errors"
	"io"
)

// errNoCgo: a PKCS#11 module is a C library, loaded with dlopen through
// cgo; a binary built with CGO_ENABLED=0 cannot load one.
var errNoCgo = errors.New("pkcs11: this relais binary was built without cgo and cannot load a PKCS#11 module: build it with CGO_ENABLED=1 (deploy/Dockerfile does)")

// Token is a PKCS#11 token; without cgo none can be opened.
type Token struct{}

// Key is a key pair on a token.
type Key struct{}

// Open fails: this build has no cgo.
func Open(Config) (*Token, error) { return nil, errNoCgo }

func (*Token) Close() error                     { return nil }
func (*Token) GenerateKey(string) (*Key, error) { return nil, errNoCgo }
func (*Token) FindKey(string) (*Key, error)     { return nil, errNoCgo }
func (*Token) ReadData(string) ([]byte, error)  { return nil, errNoCgo }
func (*Token) WriteData(string, []byte) error   { return errNoCgo }
func (*Key) KeyID() string                      { return "" }
func (*Key) Public() crypto.PublicKey           { return nil }
func (*Key) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errNoCgo
}
