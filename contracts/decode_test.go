package contracts

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeEnvelopeFollowsTheProtocolTable(t *testing.T) {
	for _, tc := range envelopeCases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := DecodeEnvelope(tc.input(t))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if env.V != 1 || env.ID == "" || len(env.Body) == 0 {
					t.Fatalf("accepted envelope is incomplete: %+v", env)
				}
				return
			}
			requireProblem(t, err, tc.code, tc.fields...)
		})
	}
}

func TestEveryEnvelopeRefusalCodeIsExercised(t *testing.T) {
	want := []Code{
		CodeMalformedEnvelope, CodeDuplicateKey, CodeUnsupportedVersion, CodeUnknownField,
		CodeUnknownKind, CodeInvalidEnvelope, CodeBodyNotEncrypted, CodeBodyInvalid,
	}
	seen := map[Code]bool{}
	for _, tc := range envelopeCases {
		seen[tc.code] = true
	}
	for _, c := range want {
		if !seen[c] {
			t.Errorf("no envelope case expects %s", c)
		}
	}
}

func TestAcceptedEnvelopesRoundTripThroughJSON(t *testing.T) {
	for _, tc := range envelopeCases {
		if tc.code != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			first, err := DecodeEnvelope(tc.input(t))
			if err != nil {
				t.Fatal(err)
			}
			encoded, err := json.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			second, err := DecodeEnvelope(encoded)
			if err != nil {
				t.Fatalf("re-encoded envelope refused: %v\n%s", err, encoded)
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("round trip changed the envelope:\nfirst  %+v\nsecond %+v", first, second)
			}
			again, err := second.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(encoded) {
				t.Fatalf("encoding is not stable:\n%s\n%s", encoded, again)
			}
		})
	}
}

func TestDecodedFieldsHoldTheWireValues(t *testing.T) {
	env, err := DecodeEnvelope(readTestdata(t, referralSample))
	if err != nil {
		t.Fatal(err)
	}
	if env.Kind != "referral.request" || env.From != "ci.dpe-abidjan" || env.To != "ml.dnpef" ||
		env.Case != "CI-ABJ-2025-0142" || env.Transfer != env.ID || env.Seq != 1 ||
		env.Purpose != "family_tracing" || len(env.DataCategories) != 4 {
		t.Fatalf("unexpected envelope: %+v", env)
	}
	if !env.SentAt.Equal(time.Date(2025, 11, 20, 9, 14, 3, 0, time.UTC)) || env.SentAt.Location() != time.UTC {
		t.Fatalf("sent_at: %v", env.SentAt)
	}
	c := env.Consent
	if c == nil || c.Basis != "consent" || !c.ChildAssent || c.AgeBand != "15-17" ||
		!c.ExpiresAt.Equal(time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)) || c.Override != nil {
		t.Fatalf("unexpected consent: %+v", c)
	}
	jwe, ok := env.SealedBody()
	if !ok || strings.Count(jwe, ".") != 4 {
		t.Fatalf("sealed body not found: %q", jwe)
	}
}

func TestPlainBodiesAreStoredCompactly(t *testing.T) {
	env, err := DecodeEnvelope(readTestdata(t, receiptSample))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"sha256":"9f2c4e0b6a1d8c7e5f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"}`; string(env.Body) != want {
		t.Fatalf("body = %s, want %s", env.Body, want)
	}
	body, err := env.DecodeBody()
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := body.(*DeliveryReceipt); !ok || r.SHA256[:4] != "9f2c" {
		t.Fatalf("decoded body = %#v", body)
	}
	if _, ok := env.SealedBody(); ok {
		t.Fatal("a plain body must not read as sealed")
	}
}

// Refusals are logged and audited, so they must never carry what the sender
// wrote in a field, only which field and which rule.
func TestRefusalsNeverEchoValues(t *testing.T) {
	const marker = "AwaTraoreSecret"
	inputs := map[string][]byte{
		"invalid case":         mutated(t, receiptSample, func(d jsonDoc) { d["case"] = marker + " x" }),
		"invalid id":           mutated(t, receiptSample, func(d jsonDoc) { d["id"] = marker }),
		"invalid agency":       mutated(t, receiptSample, func(d jsonDoc) { d["to"] = "ml." + marker }),
		"unknown kind":         mutated(t, receiptSample, func(d jsonDoc) { d["kind"] = marker }),
		"unknown field value":  mutated(t, receiptSample, func(d jsonDoc) { d["note"] = marker }),
		"unknown field name":   mutated(t, receiptSample, func(d jsonDoc) { d[marker+" "] = 1 }),
		"invalid consent ref":  mutated(t, referralSample, func(d jsonDoc) { obj(d, "consent")["ref"] = marker + " x" }),
		"invalid legal ref":    mutated(t, legalSample, func(d jsonDoc) { obj(d, "consent")["legal_reference"] = marker + "\n" }),
		"invalid override":     mutated(t, overrideSample, func(d jsonDoc) { obj(obj(d, "consent"), "override")["approval"] = marker }),
		"sealed body as text":  mutated(t, referralSample, func(d jsonDoc) { d["body"] = marker }),
		"plain body value":     mutated(t, declinedSample, func(d jsonDoc) { d["body"] = jsonDoc{"reason": marker} }),
		"plain body field":     mutated(t, declinedSample, func(d jsonDoc) { d["body"] = jsonDoc{"reason": "other", "why": marker} }),
		"type mismatch":        mutated(t, receiptSample, func(d jsonDoc) { d["seq"] = marker }),
		"invalid sent_at":      mutated(t, receiptSample, func(d jsonDoc) { d["sent_at"] = marker }),
		"syntax error":         []byte(`{"v":1,"case":"` + marker + `" "x"}`),
		"number in wrong type": mutated(t, receiptSample, func(d jsonDoc) { d["case"] = json.Number("12345678901234567890123") }),
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeEnvelope(input)
			p := requireProblem(t, err, CodeOf(err))
			text := p.Error() + " " + strings.Join(p.Fields, " ")
			if strings.Contains(text, marker) || strings.Contains(text, "12345678901234567890123") {
				t.Fatalf("refusal echoes a value: %s", text)
			}
		})
	}
}

func TestEncodeBuildsAnEnvelopeThatDecodesBack(t *testing.T) {
	transfer := NewMessageID()
	body, err := NewPlainBody(ReferralDeclined{Reason: "capacity"})
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{
		V: 1, ID: NewMessageID(), Kind: "referral.declined",
		From: "bf.dpe-bobo", To: "ci.dpe-abidjan", Case: "BF-9",
		Transfer: transfer, InReplyTo: transfer, Seq: 3,
		SentAt: time.Now().UTC().Truncate(time.Millisecond), Body: body,
	}
	payload, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEnvelope(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env, back) {
		t.Fatalf("got %+v, want %+v", back, env)
	}
}

func TestEncodeSealsPersonalDataBodies(t *testing.T) {
	jwe, _ := DecodeEnvelope(readTestdata(t, referralSample))
	sealed, _ := jwe.SealedBody()
	id := NewMessageID()
	env := Envelope{
		V: 1, ID: id, Kind: "referral.request", From: "ci.dpe-abidjan", To: "ml.dnpef",
		Case: "c-1", Transfer: id, SentAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Purpose: "protection_referral", DataCategories: []string{"identity"},
		Consent: &Consent{
			Ref: "k-1", Basis: "consent", GivenBy: "parent", AgeBand: "6-11",
			Recipients: []string{"ml"}, Purposes: []string{"protection_referral"},
			DataCategories: []string{"identity"}, ObtainedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		},
		Body: NewSealedBody(sealed),
	}
	payload, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEnvelope(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.SealedBody(); got != sealed {
		t.Fatal("sealed body changed on the way")
	}
	if strings.Contains(string(payload), "child_assent\":true") || !strings.Contains(string(payload), `"child_assent":false`) {
		t.Fatalf("child_assent must always be written: %s", payload)
	}
}

func TestValidateCatchesMistakesOfGoSenders(t *testing.T) {
	valid := func() Envelope {
		env, err := DecodeEnvelope(readTestdata(t, acceptedSample))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	cases := []struct {
		name   string
		edit   func(e *Envelope)
		code   Code
		fields []string
	}{
		{"a local time is refused, since it would not be written in UTC", func(e *Envelope) {
			e.SentAt = time.Date(2025, 1, 1, 10, 0, 0, 0, time.FixedZone("WAT", 3600))
		}, CodeInvalidEnvelope, []string{"sent_at"}},
		{"a zero time is refused", func(e *Envelope) { e.SentAt = time.Time{} }, CodeInvalidEnvelope, []string{"sent_at"}},
		{"a zero version is unsupported", func(e *Envelope) { e.V = 0 }, CodeUnsupportedVersion, nil},
		{"a missing body is refused", func(e *Envelope) { e.Body = nil }, CodeInvalidEnvelope, []string{"body"}},
		{"an empty data category list is refused on a plain kind", func(e *Envelope) { e.DataCategories = []string{} }, CodeInvalidEnvelope, []string{"data_categories"}},
		{"an unregistered kind is unknown", func(e *Envelope) { e.Kind = "case.reopened" }, CodeUnknownKind, nil},
		{"a body that does not match the kind is refused", func(e *Envelope) { e.Body = json.RawMessage(`{"reason":"capacity"}`) }, CodeBodyInvalid, []string{"body.reason"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := valid()
			tc.edit(&env)
			err := env.Validate()
			requireProblem(t, err, tc.code, tc.fields...)
			if _, encErr := env.Encode(); CodeOf(encErr) != tc.code {
				t.Fatalf("Encode must refuse like Validate, got %v", encErr)
			}
		})
	}
}

func TestDecodeErrorsAreProblemsNotPanics(t *testing.T) {
	for _, input := range []string{"", "{", "}", "[", "nul", `{"v":1`, "\x00", `{"v":1}` + "\x00", `{"body":` + strings.Repeat("[", 5000)} {
		_, err := DecodeEnvelope([]byte(input))
		var p *Problem
		if !errors.As(err, &p) || p.Code != CodeMalformedEnvelope {
			t.Errorf("%q: want malformed_envelope, got %v", input, err)
		}
	}
}
