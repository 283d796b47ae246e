package protocol

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// attempt is one hostile or faulty submission.
type attempt struct {
	Body        []byte
	ContentType string // application/jose unless set; "-" sends none
	// MessageID is the envelope id the body carries, when it carries one:
	// the hub must hold no message under it afterwards (or, when a genuine
	// message already had it, still that message only).
	MessageID string
	// Streamed sends the body without a Content-Length.
	Streamed bool
	// HubSeesIt is false for refusals made by the HTTP layer before the
	// body reaches the pipeline; the audit row then has no JWS digest.
	HubSeesIt bool
	// After runs extra checks once the attempt was refused.
	After func(t *testing.T)
}

type refusalCase struct {
	name   string
	build  func(t *testing.T, w *world) attempt
	status int
	code   contracts.Code
}

// jwsAttempt is a forged message the pipeline itself must refuse.
func jwsAttempt(body []byte, id string) attempt {
	return attempt{Body: body, MessageID: id, HubSeesIt: true}
}

// validReferral is a genuine referral ci.dpe-abidjan → ml.dnpef, not
// submitted, and its decoded payload.
func validReferral(t *testing.T, w *world) (contracts.Envelope, []byte, []byte) {
	env, jws := w.ci.seal(t, referral(w.ml.ID))
	return env, jws, payloadOf(t, jws)
}

// resigned re-encodes a modified envelope and signs it as p, with a
// conforming header: the signature is genuine, only the content is wrong.
func resigned(t *testing.T, p *party, env contracts.Envelope) []byte {
	t.Helper()
	payload, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return p.signEnvelope(payload)
}

// appendMember adds raw JSON members at the end of a JSON object.
func appendMember(payload []byte, members string) []byte {
	s := strings.TrimRight(string(payload), " \n")
	return []byte(s[:len(s)-1] + "," + members + "}")
}

func refusalCases() []refusalCase {
	var cases []refusalCase
	add := func(name string, status int, code contracts.Code, build func(t *testing.T, w *world) attempt) {
		cases = append(cases, refusalCase{name: name, build: build, status: status, code: code})
	}

	// alg none, in the spellings parsers have been fooled by, with no
	// signature and with the sender's genuine Ed25519 signature.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		add("alg "+none+" with an empty signature is refused", 400, contracts.CodeAlgNotAllowed, func(t *testing.T, w *world) attempt {
			env, _, payload := validReferral(t, w)
			h := sealtest.Header("alg", none, "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp)
			return jwsAttempt(sealtest.Compact(h, payload, nil), env.ID)
		})
	}
	add("alg none carrying the sender's genuine signature is refused", 400, contracts.CodeAlgNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "none", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp)
		return jwsAttempt(sealtest.SignEd25519(h, payload, w.ci.SigPriv), env.ID)
	})

	// HS256 keyed with what an attacker knows: the sender's public key.
	add("HS256 keyed with the sender's raw public key bytes is refused", 400, contracts.CodeAlgNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "HS256", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp)
		pub := w.ci.SigPriv.Public().(ed25519.PublicKey)
		return jwsAttempt(sealtest.SignHMAC(h, payload, pub, sha256.New), env.ID)
	})
	add("HS256 keyed with the sender's public JWK as registered is refused", 400, contracts.CodeAlgNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "HS256", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp)
		return jwsAttempt(sealtest.SignHMAC(h, payload, w.ci.SigJWK, sha256.New), env.ID)
	})

	// Keys and key locations smuggled in the header.
	add("a jku header pointing at the attacker's key server is refused and never fetched", 400, contracts.CodeHeaderNotAllowed, func(t *testing.T, w *world) attempt {
		var fetched atomic.Int32
		attacker := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			fetched.Add(1)
			http.Error(rw, "no", http.StatusNotFound)
		}))
		t.Cleanup(attacker.Close)
		_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "EdDSA", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp, "jku", attacker.URL+"/jwks.json")
		a := jwsAttempt(sealtest.SignEd25519(h, payload, attackerKey), env.ID)
		a.After = func(t *testing.T) {
			if n := fetched.Load(); n != 0 {
				t.Errorf("the hub fetched the jku URL %d time(s)", n)
			}
		}
		return a
	})
	add("a jku header on a message genuinely signed by the sender is refused", 400, contracts.CodeHeaderNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "EdDSA", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp, "jku", "https://keys.example/ci.json")
		return jwsAttempt(sealtest.SignEd25519(h, payload, w.ci.SigPriv), env.ID)
	})
	add("an embedded jwk of the attacker's key, signed by the attacker, is refused", 400, contracts.CodeHeaderNotAllowed, func(t *testing.T, w *world) attempt {
		pub, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
		env, _, payload := validReferral(t, w)
		embedded := sealtest.Raw(sealtest.Header("kty", "OKP", "crv", "Ed25519", "x", sealtest.B64(pub)))
		h := sealtest.Header("alg", "EdDSA", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp, "jwk", embedded)
		return jwsAttempt(sealtest.SignEd25519(h, payload, attackerKey), env.ID)
	})

	// Processing switches.
	add("a crit header naming an extension is refused", 400, contracts.CodeHeaderNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "EdDSA", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp, "crit", []string{"urn:relais:priority"}, "urn:relais:priority", true)
		return jwsAttempt(sealtest.SignEd25519(h, payload, w.ci.SigPriv), env.ID)
	})
	add("b64 false with crit, signed over the unencoded payload, is refused", 400, contracts.CodeHeaderNotAllowed, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		h := sealtest.Header("alg", "EdDSA", "kid", w.ci.SigKID, "typ", seal.EnvelopeTyp, "b64", false, "crit", []string{"b64"})
		input := append([]byte(sealtest.B64([]byte(h))+"."), payload...)
		// RFC 7797 puts the payload in the clear; the compact form keeps it
		// base64url here so that only the header rule can refuse it.
		return jwsAttempt(sealtest.Compact(h, payload, ed25519.Sign(w.ci.SigPriv, input)), env.ID)
	})

	// Keys.
	add("an unknown kid is refused", 400, contracts.CodeUnknownKey, func(t *testing.T, w *world) attempt {
		_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
		env, _, payload := validReferral(t, w)
		kid := seal.NewKID(w.ci.ID + "#sig")
		return jwsAttempt(sealtest.SignEd25519(envelopeHeader(kid), payload, attackerKey), env.ID)
	})
	add("a message from ci signed with bf's registered key is a sender mismatch", 403, contracts.CodeSenderMismatch, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		return jwsAttempt(w.bf.signEnvelope(payload), env.ID)
	})
	add("a signature by another key under the sender's kid is refused", 400, contracts.CodeSignatureInvalid, func(t *testing.T, w *world) attempt {
		_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
		env, _, payload := validReferral(t, w)
		return jwsAttempt(sealtest.SignEd25519(envelopeHeader(w.ci.SigKID), payload, attackerKey), env.ID)
	})
	add("a payload tampered by one byte is refused", 400, contracts.CodeSignatureInvalid, func(t *testing.T, w *world) attempt {
		env, jws, _ := validReferral(t, w)
		return jwsAttempt(sealtest.FlipPartByte(jws, 1, 40), env.ID)
	})

	// Envelope decoding, on genuinely signed payloads.
	add("a payload that is truncated JSON is refused", 400, contracts.CodeMalformedEnvelope, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		return jwsAttempt(w.ci.signEnvelope(payload[:len(payload)-2]), env.ID)
	})
	add("a payload that is not JSON at all is refused", 400, contracts.CodeMalformedEnvelope, func(t *testing.T, w *world) attempt {
		return jwsAttempt(w.ci.signEnvelope([]byte("kind=referral.request&to=ml.dnpef")), "")
	})
	add("an unknown envelope field is refused", 400, contracts.CodeUnknownField, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		return jwsAttempt(w.ci.signEnvelope(appendMember(payload, `"priority":"high"`)), env.ID)
	})
	add("a duplicate key redirecting the message to another agency is refused", 400, contracts.CodeDuplicateKey, func(t *testing.T, w *world) attempt {
		env, _, payload := validReferral(t, w)
		return jwsAttempt(w.ci.signEnvelope(appendMember(payload, `"to":"bf.dpe-bobo"`)), env.ID)
	})
	add("an unregistered recipient is refused", 422, contracts.CodeUnknownRecipient, func(t *testing.T, w *world) attempt {
		env, _, _ := validReferral(t, w)
		env.To = "sn.dpe-dakar"
		return jwsAttempt(resigned(t, w.ci, env), env.ID)
	})
	add("a referral whose body is not encrypted is refused", 422, contracts.CodeBodyNotEncrypted, func(t *testing.T, w *world) attempt {
		env, _, _ := validReferral(t, w)
		env.Body = json.RawMessage(referralBody)
		return jwsAttempt(resigned(t, w.ci, env), env.ID)
	})

	// Size and media type, refused by the HTTP layer before any parsing.
	add("an oversize body is refused from its Content-Length before parsing", 413, contracts.CodePayloadTooLarge, func(t *testing.T, w *world) attempt {
		return attempt{Body: []byte(strings.Repeat("A", httpapi.DefaultMaxMessageBytes+1))}
	})
	add("an oversize body streamed without a Content-Length is cut off at the cap", 413, contracts.CodePayloadTooLarge, func(t *testing.T, w *world) attempt {
		return attempt{Body: []byte(strings.Repeat("A", 2*httpapi.DefaultMaxMessageBytes)), Streamed: true}
	})
	add("a genuinely signed referral larger than the cap is refused", 413, contracts.CodePayloadTooLarge, func(t *testing.T, w *world) attempt {
		// The hub cannot see inside the body, so a large encrypted body in
		// a well-formed, genuinely signed envelope is what an honest sender
		// with an oversized file would submit.
		env, _, _ := validReferral(t, w)
		large := make([]byte, httpapi.DefaultMaxMessageBytes)
		_, _ = rand.Read(large)
		plaintext, _ := json.Marshal(map[string]string{"narrative": base64.StdEncoding.EncodeToString(large)})
		jwe, err := sealtest.EncryptECDHES(plaintext, w.ml.EncPriv.PublicKey(), sealtest.JWEOptions{Kid: w.ml.EncKID})
		if err != nil {
			t.Fatal(err)
		}
		env.Body = contracts.NewSealedBody(jwe)
		jws := resigned(t, w.ci, env)
		if len(jws) <= httpapi.DefaultMaxMessageBytes {
			t.Fatalf("test message is only %d bytes", len(jws))
		}
		return attempt{Body: jws, MessageID: env.ID}
	})
	for _, ct := range []string{"application/json", "text/plain", "-"} {
		add(fmt.Sprintf("a genuine message sent as Content-Type %q is refused", ct), 415, contracts.CodeUnsupportedMedia, func(t *testing.T, w *world) attempt {
			env, jws, _ := validReferral(t, w)
			return attempt{Body: jws, ContentType: ct, MessageID: env.ID}
		})
	}

	// Replay.
	add("a replayed id with different bytes is refused and the first message stands", 409, contracts.CodeDuplicateID, func(t *testing.T, w *world) attempt {
		env, jws, _ := validReferral(t, w)
		w.accepted(t, jws)
		w.delivered(t, w.ml.ID, env.ID)
		w.settled(t)
		forged := env
		forged.Case = "CI-ABJ-2026-9999"
		return jwsAttempt(resigned(t, w.ci, forged), env.ID)
	})
	return cases
}

// TestRefusals submits each hostile or faulty message twice (French by
// default, then English) and checks the refusal, that nothing was queued,
// and that each refusal was written to the audit log with its code.
func TestRefusals(t *testing.T) {
	for _, tc := range refusalCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			a := tc.build(t, w)
			before := w.settled(t)
			var original []byte
			if a.MessageID != "" {
				if m, err := w.store.Message(context.Background(), a.MessageID); err == nil {
					original = m.JWS
				}
			}
			auditBefore := len(w.rejected(t, tc.code))

			for _, lang := range []string{"", "en"} {
				r := w.post(t, a, lang)
				assertProblem(t, r, tc.status, tc.code, lang)
			}

			assertNothingQueued(t, w, a, before, original)
			assertAudited(t, w, tc.code, a, auditBefore, 2)
			assertLogsClean(t, w, a)
			if a.After != nil {
				a.After(t)
			}
		})
	}
}

// post sends an attempt as its fields say.
func (w *world) post(t *testing.T, a attempt, lang string) response {
	t.Helper()
	h := map[string]string{"Content-Type": joseType}
	switch a.ContentType {
	case "":
	case "-":
		delete(h, "Content-Type")
	default:
		h["Content-Type"] = a.ContentType
	}
	if lang != "" {
		h["Accept-Language"] = lang
	}
	if a.Streamed {
		// A reader of unknown length makes the client send it chunked.
		return w.doReader(t, http.MethodPost, "/v1/messages", struct{ *strings.Reader }{strings.NewReader(string(a.Body))}, h)
	}
	return w.do(t, http.MethodPost, "/v1/messages", a.Body, h)
}

// assertNothingQueued compares the store after the refusals with before:
// no new message row, no delivery in the outbox, no inbox changed, and the
// message id (if any) unknown or still the original message.
func assertNothingQueued(t *testing.T, w *world, a attempt, before queueState, original []byte) {
	t.Helper()
	after := w.queueState(t)
	if after.String() != before.String() {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}
	if after.Outbox != 0 {
		t.Errorf("%d deliveries pending in the outbox", after.Outbox)
	}
	if a.MessageID == "" {
		return
	}
	m, err := w.store.Message(context.Background(), a.MessageID)
	switch {
	case original == nil && !isNotFound(err):
		t.Errorf("store.Message(%s) = %v, want ErrNotFound", a.MessageID, err)
	case original != nil && err != nil:
		t.Errorf("the original message %s is gone: %v", a.MessageID, err)
	case original != nil && string(m.JWS) != string(original):
		t.Errorf("message %s was replaced by the refused bytes", a.MessageID)
	}
}

// assertAudited checks that n more refusals with code are in the audit
// log, each naming the digest of the refused bytes when the pipeline saw
// them, and none holding the refused payload.
func assertAudited(t *testing.T, w *world, code contracts.Code, a attempt, before, n int) {
	t.Helper()
	events := w.rejected(t, code)
	if got := len(events) - before; got != n {
		where := ""
		if !a.HubSeesIt {
			where = " (refused by the HTTP layer, before the pipeline)"
		}
		t.Fatalf("%d new rejected events with code %s in the audit log, want %d%s", got, code, n, where)
	}
	parts := strings.Split(string(a.Body), ".")
	for _, e := range events[before:] {
		if a.HubSeesIt && e.JWSDigest != sha256Hex(a.Body) {
			t.Errorf("rejected event digest %q, want the SHA-256 of the refused bytes", e.JWSDigest)
		}
		row := strings.Join([]string{e.Code, e.MessageID, e.Transfer, e.Actor, e.Detail, e.JWSDigest}, "|")
		for _, leak := range []string{"CI-ABJ-2026", "Kadiatou", "Coulibaly"} {
			if strings.Contains(row, leak) {
				t.Errorf("rejected event holds %q from the payload: %s", leak, row)
			}
		}
		if len(parts) == 3 && len(parts[1]) > 16 && strings.Contains(row, parts[1][:16]) {
			t.Errorf("rejected event holds the encoded payload: %s", row)
		}
	}
}

// assertLogsClean checks the hub's log holds neither personal data from
// the refused message nor its encoded payload.
func assertLogsClean(t *testing.T, w *world, a attempt) {
	t.Helper()
	logs := w.logs.String()
	if !strings.Contains(logs, "message refused") && a.HubSeesIt {
		t.Errorf("the refusal was not logged at all; the check below would prove nothing:\n%s", logs)
	}
	for _, leak := range []string{"Kadiatou", "Coulibaly", "+22507123456", "CI-ABJ-2026"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the hub log holds %q from the refused message", leak)
		}
	}
	if parts := strings.Split(string(a.Body), "."); len(parts) == 3 && len(parts[1]) > 16 && strings.Contains(logs, parts[1][:16]) {
		t.Error("the hub log holds the refused message's encoded payload")
	}
}
