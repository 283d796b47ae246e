// Package seal is Relais's JOSE profile: the only place where messages are
// signed, verified, encrypted and decrypted, and where agency access tokens
// are issued and checked. It sits on github.com/lestrrat-go/jwx/v3 and
// narrows it to a profile small enough to reason about:
//
//   - JWS: compact serialization only; the protected header is exactly
//     {alg, kid, typ}; alg is EdDSA (Ed25519) or ES256 (P-256); the
//     algorithm used to verify is the one pinned on the registered key,
//     never the one announced in the header. Anything else (jku, x5u, x5c,
//     jwk, crit, b64, zip, …) is refused before any cryptography runs, and
//     no key is ever fetched from a URL.
//   - JWE: compact serialization only; ECDH-ES+A256KW with an X25519 (or
//     P-256) ephemeral key, A256GCM, no compression. The hub checks the
//     shape of a body without holding any key (CheckJWE); only the
//     recipient decrypts.
//   - Tokens: short-lived JWTs signed by the agency's signing key, with the
//     same header rules as envelopes.
//
// Every refusal is a *contracts.Problem carrying a stable code; details name
// headers and members only, never message content.
package seal
