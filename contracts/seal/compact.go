package seal

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// maxHeaderLen caps the base64url protected header of a JWS or JWE. Relais
// headers are a few hundred bytes; a larger one is an attack or a mistake,
// and it is refused before it is decoded.
const maxHeaderLen = 4096

// b64 is the only base64 accepted anywhere in the profile: URL alphabet, no
// padding, and no stray bits in the last character, so every value has
// exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// splitCompact splits a compact serialization into exactly n base64url
// parts and decodes each. It refuses the JSON serialization, a wrong number
// of parts, padding, characters outside the URL-safe alphabet (including
// whitespace) and non-canonical encodings. The error is a plain sentence;
// callers attach their own refusal code.
func splitCompact(b []byte, n int) (raw [][]byte, decoded [][]byte, err error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("empty input")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return nil, nil, fmt.Errorf("JSON serialization is not accepted, only the compact serialization")
	}
	raw = bytes.Split(b, []byte{'.'})
	if len(raw) != n {
		return nil, nil, fmt.Errorf("%d dot-separated parts instead of %d", len(raw), n)
	}
	if len(raw[0]) > maxHeaderLen {
		return nil, nil, fmt.Errorf("protected header longer than %d characters", maxHeaderLen)
	}
	decoded = make([][]byte, n)
	for i, p := range raw {
		if j := bytes.IndexFunc(p, notBase64URL); j >= 0 {
			if p[j] == '=' {
				return nil, nil, fmt.Errorf("part %d is padded; base64url without padding is required", i+1)
			}
			return nil, nil, fmt.Errorf("part %d has a character outside the base64url alphabet at offset %d", i+1, j)
		}
		d, err := b64.DecodeString(string(p))
		if err != nil {
			return nil, nil, fmt.Errorf("part %d is not canonical base64url", i+1)
		}
		decoded[i] = d
	}
	return raw, decoded, nil
}

func notBase64URL(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
		return false
	}
	return true
}
