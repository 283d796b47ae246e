// Package attach is the format of Relais attachments: a file encrypted on
// the sender's side for one recipient, streamed in constant memory, stored
// by the hub as opaque ciphertext and checked by the recipient.
//
// Encryption is Tink's streaming AEAD (AES-256-GCM-HKDF, 64 KiB segments)
// rather than a construction of our own: it is the STREAM construction
// (per-segment nonce = random prefix || segment counter || last-segment
// flag) implemented and reviewed by a maintained library. Each attachment
// has its own random 32-byte content key, and Tink derives a fresh AES key
// per file from it and a random salt, so:
//
//   - truncation fails: the last segment is sealed with the last flag, and a
//     stream cut at any point lacks it;
//   - reordering or dropping segments fails: the counter is in the nonce;
//   - swapping segments between files fails: each file has its own key and
//     the attachment id is bound as associated data.
//
// The file's name and media type are personal-ish: they travel encrypted,
// as a small manifest at the head of the plaintext stream, never in clear
// metadata. The content key is wrapped for the recipient with the JOSE
// profile of sealed bodies (contracts/seal: ECDH-ES+A256KW, A256GCM), and
// the wrapped key travels in the signed envelope (contracts.AttachmentRef).
//
// Layout of an attachment's bytes (all that the hub ever stores):
//
//	"RLAT" | version 0x01 | Tink header (40 bytes: length, salt, nonce prefix) | segments
//
// Segments are 64 KiB of ciphertext each (the last may be shorter); the
// first is shorter by the 45 bytes of prefix and header, so that segment
// boundaries fall on multiples of 64 KiB of the file. The decrypted stream
// is: manifest length (2 bytes, big endian) | manifest JSON | file bytes.
package attach
