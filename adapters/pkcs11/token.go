//go:build cgo

package pkcs11

import (
	"cmp"
	"crypto"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// PKCS#11 3.0 names for Ed25519, which miekg/pkcs11 v1.1.1 (2.40 headers)
// does not define. SoftHSM ≥ 2.5 and current HSMs use these values.
const (
	ckkECEdwards         = 0x00000040
	ckmECEdwardsKeyGen   = 0x00001055
	ckmEdDSA             = 0x00001057
	ed25519PublicKeySize = ed25519.PublicKeySize
)

// ed25519Params are the curve's CKA_EC_PARAMS: the DER OID 1.3.101.112
// (id-Ed25519), and the printable-string form some tokens want instead.
var ed25519Params = [][]byte{
	{0x06, 0x03, 0x2b, 0x65, 0x70},
	append([]byte{0x13, 0x0c}, "edwards25519"...),
}

// dataApplication is the CKA_APPLICATION of the data objects Relais keeps.
const dataApplication = "relais"

// Token is one logged-in PKCS#11 token. It is safe for concurrent use:
// each operation takes a session from a pool (a PKCS#11 session runs one
// operation at a time).
type Token struct {
	mod  *module
	slot uint
	pin  string
	pool chan p11.SessionHandle
	// mu serialises the operations that search and then write, so two
	// goroutines do not create the same data object twice.
	mu sync.Mutex
}

// module is a loaded PKCS#11 library. C_Initialize may run once per
// process, so tokens of the same library share it, counted.
type module struct {
	path string
	ctx  *p11.Ctx
	refs int
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

func loadModule(path string) (*module, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load the module %s", path)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("pkcs11: initialising %s: %w", path, err)
	}
	m := &module{path: path, ctx: ctx, refs: 1}
	modules[path] = m
	return m, nil
}

func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	_ = m.ctx.Finalize()
	m.ctx.Destroy()
}

// Open loads the module, finds the token and logs in.
func Open(cfg Config) (*Token, error) {
	mod, err := loadModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	slot, err := findSlot(mod.ctx, cfg)
	if err != nil {
		mod.release()
		return nil, err
	}
	n := cfg.Sessions
	if n <= 0 {
		n = 4
	}
	t := &Token{mod: mod, slot: slot, pin: cfg.PIN, pool: make(chan p11.SessionHandle, n)}
	for range n {
		s, err := t.openSession()
		if err != nil {
			for range len(t.pool) {
				_ = mod.ctx.CloseSession(<-t.pool)
			}
			mod.release()
			return nil, err
		}
		t.pool <- s
	}
	return t, nil
}

func findSlot(ctx *p11.Ctx, cfg Config) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: listing slots: %w", err)
	}
	for _, s := range slots {
		if cfg.Slot != nil && s != *cfg.Slot {
			continue
		}
		info, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if cfg.Token != "" && strings.TrimRight(info.Label, " \x00") != cfg.Token {
			continue
		}
		if cfg.Serial != "" && strings.TrimRight(info.SerialNumber, " \x00") != cfg.Serial {
			continue
		}
		return s, nil
	}
	return 0, fmt.Errorf("pkcs11: no token %q in %s", cfg.Token, cfg.Module)
}

// openSession opens a read-write session and makes sure the token is
// logged in (login is per application, so CKR_USER_ALREADY_LOGGED_IN is
// the usual answer after the first session).
func (t *Token) openSession() (p11.SessionHandle, error) {
	s, err := t.mod.ctx.OpenSession(t.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: opening a session: %w", err)
	}
	if err := t.mod.ctx.Login(s, p11.CKU_USER, t.pin); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = t.mod.ctx.CloseSession(s)
		if isCode(err, p11.CKR_PIN_INCORRECT) || isCode(err, p11.CKR_PIN_LOCKED) {
			return 0, fmt.Errorf("pkcs11: login refused: %w", err)
		}
		return 0, fmt.Errorf("pkcs11: login: %w", err)
	}
	return s, nil
}

// Close closes the token's sessions, waiting for operations under way, and
// releases the module. (The login ends with the application's last
// session; an explicit logout would end it for other tokens of the same
// module in this process too.)
func (t *Token) Close() error {
	if t == nil || t.mod == nil {
		return nil
	}
	for range cap(t.pool) {
		if s := <-t.pool; s != 0 {
			_ = t.mod.ctx.CloseSession(s)
		}
	}
	t.mod.release()
	t.mod = nil
	return nil
}

// do runs fn on a pooled session. A session the token no longer knows (a
// network HSM that restarted, a device reset) is replaced and fn tried
// once more on the new one.
func (t *Token) do(fn func(ctx *p11.Ctx, s p11.SessionHandle) error) error {
	s := <-t.pool
	defer func() { t.pool <- s }()
	if s == 0 {
		ns, err := t.openSession()
		if err != nil {
			return err
		}
		s = ns
	}
	err := fn(t.mod.ctx, s)
	if !sessionLost(err) {
		return err
	}
	_ = t.mod.ctx.CloseSession(s)
	s = 0
	ns, oerr := t.openSession()
	if oerr != nil {
		return errors.Join(err, oerr)
	}
	s = ns
	return fn(t.mod.ctx, s)
}

func sessionLost(err error) bool {
	for _, c := range []uint{p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_REMOVED,
		p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_DEVICE_ERROR} {
		if isCode(err, c) {
			return true
		}
	}
	return false
}

func isCode(err error, code uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == code
}

// Key is an Ed25519 key pair on the token, named by its kid (CKA_ID and
// CKA_LABEL). It is a crypto.Signer and a hub.HubSigner.
type Key struct {
	t    *Token
	priv p11.ObjectHandle
	pub  ed25519.PublicKey
	kid  string
}

func (k *Key) KeyID() string            { return k.kid }
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs msg with pure Ed25519 (CKM_EDDSA). Like ed25519.PrivateKey, it
// takes the whole message and refuses a hash.
func (k *Key) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("pkcs11: Ed25519 signs the message itself, not a hash")
	}
	var sig []byte
	err := k.t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		if err := ctx.SignInit(s, []*p11.Mechanism{p11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
			return err
		}
		out, err := ctx.Sign(s, msg)
		sig = out
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: signing with %s: %w", k.kid, err)
	}
	// A token that signed with another key, or not at all, must not pass
	// for the hub: check every signature before it leaves.
	if !ed25519.Verify(k.pub, msg, sig) {
		return nil, fmt.Errorf("pkcs11: the token's signature with %s does not verify", k.kid)
	}
	return sig, nil
}

// GenerateKey makes a new Ed25519 key pair on the token: private key
// sensitive and non-extractable, both stored on the token.
func (t *Token) GenerateKey(kid string) (*Key, error) {
	if _, err := t.FindKey(kid); err == nil {
		return nil, fmt.Errorf("pkcs11: the token already holds a key %s", kid)
	}
	var lastErr error
	for _, params := range ed25519Params {
		var priv, pub p11.ObjectHandle
		err := t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
			var err error
			pub, priv, err = ctx.GenerateKeyPair(s,
				[]*p11.Mechanism{p11.NewMechanism(ckmECEdwardsKeyGen, nil)},
				[]*p11.Attribute{
					p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
					p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards),
					p11.NewAttribute(p11.CKA_TOKEN, true),
					p11.NewAttribute(p11.CKA_VERIFY, true),
					p11.NewAttribute(p11.CKA_EC_PARAMS, params),
					p11.NewAttribute(p11.CKA_LABEL, kid),
					p11.NewAttribute(p11.CKA_ID, []byte(kid)),
				},
				[]*p11.Attribute{
					p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
					p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards),
					p11.NewAttribute(p11.CKA_TOKEN, true),
					p11.NewAttribute(p11.CKA_PRIVATE, true),
					p11.NewAttribute(p11.CKA_SENSITIVE, true),
					p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
					p11.NewAttribute(p11.CKA_SIGN, true),
					p11.NewAttribute(p11.CKA_LABEL, kid),
					p11.NewAttribute(p11.CKA_ID, []byte(kid)),
				})
			return err
		})
		if err != nil {
			lastErr = err
			continue
		}
		pk, err := t.publicKey(pub)
		if err != nil {
			return nil, err
		}
		return &Key{t: t, priv: priv, pub: pk, kid: kid}, nil
	}
	return nil, fmt.Errorf("pkcs11: generating an Ed25519 key pair (does the token support CKM_EC_EDWARDS_KEY_PAIR_GEN?): %w", lastErr)
}

// FindKey finds the key pair kid; fs.ErrNotExist when the token has none.
func (t *Token) FindKey(kid string) (*Key, error) {
	privs, err := t.find([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_ID, []byte(kid)),
	})
	if err != nil {
		return nil, err
	}
	pubs, err := t.find([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_ID, []byte(kid)),
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(privs) == 0 || len(pubs) == 0:
		return nil, fmt.Errorf("pkcs11: key %s: %w", kid, fs.ErrNotExist)
	case len(privs) > 1 || len(pubs) > 1:
		return nil, fmt.Errorf("pkcs11: the token holds several keys %s", kid)
	}
	pk, err := t.publicKey(pubs[0])
	if err != nil {
		return nil, err
	}
	return &Key{t: t, priv: privs[0], pub: pk, kid: kid}, nil
}

// publicKey reads CKA_EC_POINT: a DER OCTET STRING holding the 32 bytes
// (PKCS#11 3.0), or the 32 bytes bare (some older tokens).
func (t *Token) publicKey(h p11.ObjectHandle) (ed25519.PublicKey, error) {
	var point []byte
	err := t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		attrs, err := ctx.GetAttributeValue(s, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_EC_POINT, nil)})
		if err == nil {
			point = attrs[0].Value
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: reading the public key: %w", err)
	}
	switch {
	case len(point) == ed25519PublicKeySize:
		return ed25519.PublicKey(point), nil
	case len(point) == ed25519PublicKeySize+2 && point[0] == 0x04 && point[1] == ed25519PublicKeySize:
		return ed25519.PublicKey(point[2:]), nil
	}
	return nil, fmt.Errorf("pkcs11: the public key is not an Ed25519 point (%d bytes)", len(point))
}

func (t *Token) find(template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	var out []p11.ObjectHandle
	err := t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		out = out[:0]
		if err := ctx.FindObjectsInit(s, template); err != nil {
			return err
		}
		defer func() { _ = ctx.FindObjectsFinal(s) }()
		for {
			hs, _, err := ctx.FindObjects(s, 16)
			if err != nil {
				return err
			}
			if len(hs) == 0 {
				return nil
			}
			out = append(out, hs...)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: searching the token: %w", err)
	}
	return out, nil
}

func dataTemplate(label string) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_DATA),
		p11.NewAttribute(p11.CKA_APPLICATION, dataApplication),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
}

// A data object's value cannot be changed on every token (SoftHSM makes
// CKA_VALUE read-only), so a write creates a new object and deletes the
// older ones. Each carries a generation (CKA_OBJECT_ID, 8 bytes big
// endian): if a crash leaves two, readers take the newest.

type dataObject struct {
	handle     p11.ObjectHandle
	generation uint64
}

// dataObjects lists the objects label, newest first.
func (t *Token) dataObjects(label string) ([]dataObject, error) {
	hs, err := t.find(dataTemplate(label))
	if err != nil {
		return nil, err
	}
	out := make([]dataObject, 0, len(hs))
	for _, h := range hs {
		var gen []byte
		err := t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
			attrs, err := ctx.GetAttributeValue(s, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_OBJECT_ID, nil)})
			if err == nil {
				gen = attrs[0].Value
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("pkcs11: reading data object %s: %w", label, err)
		}
		if len(gen) != 8 {
			return nil, fmt.Errorf("pkcs11: data object %s has no generation", label)
		}
		out = append(out, dataObject{handle: h, generation: binary.BigEndian.Uint64(gen)})
	}
	slices.SortFunc(out, func(a, b dataObject) int { return cmp.Compare(b.generation, a.generation) })
	return out, nil
}

// ReadData reads the newest private data object label; fs.ErrNotExist when
// the token has none.
func (t *Token) ReadData(label string) ([]byte, error) {
	objs, err := t.dataObjects(label)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("pkcs11: data object %s: %w", label, fs.ErrNotExist)
	}
	var value []byte
	err = t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		attrs, err := ctx.GetAttributeValue(s, objs[0].handle, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if err == nil {
			value = attrs[0].Value
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: reading data object %s: %w", label, err)
	}
	return value, nil
}

// WriteData stores value as the newest private data object label, then
// deletes the older ones.
func (t *Token) WriteData(label string, value []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	objs, err := t.dataObjects(label)
	if err != nil {
		return err
	}
	var gen [8]byte
	if len(objs) > 0 {
		binary.BigEndian.PutUint64(gen[:], objs[0].generation+1)
	}
	err = t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		_, err := ctx.CreateObject(s, append(dataTemplate(label),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_OBJECT_ID, gen[:]),
			p11.NewAttribute(p11.CKA_VALUE, value)))
		return err
	})
	if err != nil {
		return fmt.Errorf("pkcs11: writing data object %s: %w", label, err)
	}
	for _, o := range objs {
		err := t.do(func(ctx *p11.Ctx, s p11.SessionHandle) error { return ctx.DestroyObject(s, o.handle) })
		if err != nil {
			return fmt.Errorf("pkcs11: deleting an older data object %s: %w", label, err)
		}
	}
	return nil
}
