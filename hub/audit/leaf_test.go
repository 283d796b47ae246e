package audit

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestEventEncodingIsCanonicalAndRoundTrips(t *testing.T) {
	ev := testEvent(7)
	ev.Code = "signature_invalid"
	ev.Detail = "submitted"
	ev.Extra = map[string]string{"zeta": "1", "alpha": "<&>"}
	data, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"type":"accepted","at":"2025-03-14T09:26:53.596Z","message_id":"0195000000000007","transfer":"0195000000000004",` +
		`"kind":"referral.request","from":"bf.dpe-bobo","to":"ci.dpe-abidjan","actor":"bf.dpe-bobo","code":"signature_invalid",` +
		`"case_digest":"` + ev.CaseDigest + `","body_digest":"` + ev.BodyDigest + `","detail":"submitted","extra":{"alpha":"<&>","zeta":"1"}}`
	if string(data) != want {
		t.Fatalf("encoding\n got %s\nwant %s", data, want)
	}
	back, err := DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Encode()
	if !bytes.Equal(again, data) {
		t.Fatalf("round trip changed the leaf:\n%s\n%s", data, again)
	}
	if !back.At.Equal(ev.At) || back.At.Location() != time.UTC {
		t.Fatalf("time %v, want %v in UTC", back.At, ev.At)
	}
}

func TestEncodeNormalizesTimeToUTCMilliseconds(t *testing.T) {
	ev := testEvent(0)
	ev.At = time.Date(2025, 3, 14, 10, 26, 53, 589_999_999, time.FixedZone("WAT", 3600))
	data, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"at":"2025-03-14T09:26:53.589Z"`)) {
		t.Fatalf("time not normalized: %s", data)
	}
}

func TestDecodeEventRejectsEveryNonCanonicalForm(t *testing.T) {
	good, err := Event{Type: TypeRejected, At: baseTime, Code: "signature_invalid"}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEvent(good); err != nil {
		t.Fatalf("canonical leaf refused: %v", err)
	}
	cases := map[string]string{
		"an unknown field":            `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid","name":"Awa"}`,
		"a duplicate key":             `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"x","code":"signature_invalid"}`,
		"reordered fields":            `{"type":"rejected","v":1,"at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}`,
		"extra whitespace":            `{"v":1, "type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}`,
		"a differently cased key":     `{"v":1,"TYPE":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}`,
		"an escaped character":        `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature\u005finvalid"}`,
		"a time without milliseconds": `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53Z","code":"signature_invalid"}`,
		"a time with an offset":       `{"v":1,"type":"rejected","at":"2025-03-14T10:26:53.589+01:00","code":"signature_invalid"}`,
		"another version":             `{"v":2,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}`,
		"an empty field present":      `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","message_id":"","code":"signature_invalid"}`,
		"trailing data":               `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}{}`,
		"a trailing newline":          `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}` + "\n",
		"a missing type":              `{"v":1,"at":"2025-03-14T09:26:53.589Z","code":"signature_invalid"}`,
		"an uppercase digest":         `{"v":1,"type":"rejected","at":"2025-03-14T09:26:53.589Z","body_digest":"` + strings.Repeat("A", 64) + `"}`,
		"not JSON":                    `accepted 2025-03-14`,
	}
	for name, leaf := range cases {
		t.Run("it refuses "+name, func(t *testing.T) {
			if _, err := DecodeEvent([]byte(leaf)); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("DecodeEvent(%s) = %v, want ErrInvalidEvent", leaf, err)
			}
		})
	}
}

func TestValidateBoundsFreeText(t *testing.T) {
	cases := map[string]func(*Event){
		"an empty type":          func(e *Event) { e.Type = "" },
		"a type with spaces":     func(e *Event) { e.Type = "message accepted" },
		"a zero time":            func(e *Event) { e.At = time.Time{} },
		"a long detail":          func(e *Event) { e.Detail = strings.Repeat("x", maxDetailLen+1) },
		"a long message id":      func(e *Event) { e.MessageID = strings.Repeat("x", maxIDLen+1) },
		"a case ref in clear":    func(e *Event) { e.CaseDigest = "BF-2025-0001" },
		"a short body digest":    func(e *Event) { e.BodyDigest = "abcd" },
		"a free-form extra key":  func(e *Event) { e.Extra = map[string]string{"Child Name": "x"} },
		"a long extra value":     func(e *Event) { e.Extra = map[string]string{"note": strings.Repeat("x", maxExtraVal+1)} },
		"invalid UTF-8":          func(e *Event) { e.Detail = "d\xe9cid\xe9" },
		"invalid UTF-8 in extra": func(e *Event) { e.Extra = map[string]string{"state": "\xff"} },
	}
	for name, mutate := range cases {
		t.Run("it refuses "+name, func(t *testing.T) {
			ev := testEvent(1)
			mutate(&ev)
			if _, err := ev.Encode(); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Encode = %v, want ErrInvalidEvent", err)
			}
		})
	}
}

func TestCaseDigestIsKeyedAndDomainSeparated(t *testing.T) {
	key := []byte("audit key")
	d := CaseDigest(key, "bf.dpe-bobo", "BF-2025-0001")
	if len(d) != 64 || strings.ToLower(d) != d {
		t.Fatalf("digest %q is not 64 lowercase hex characters", d)
	}
	if d != CaseDigest(key, "bf.dpe-bobo", "BF-2025-0001") {
		t.Fatal("digest is not deterministic")
	}
	different := map[string]string{
		"another key":                CaseDigest([]byte("other key"), "bf.dpe-bobo", "BF-2025-0001"),
		"another agency":             CaseDigest(key, "ci.dpe-abidjan", "BF-2025-0001"),
		"another case":               CaseDigest(key, "bf.dpe-bobo", "BF-2025-0002"),
		"the same bytes split apart": CaseDigest(key, "bf.dpe-boboBF", "-2025-0001"),
		"a plain SHA-256":            BodyDigest([]byte("BF-2025-0001")),
	}
	for name, other := range different {
		if other == d {
			t.Errorf("digest with %s equals the original", name)
		}
	}
}

// TestAnyValidEventRoundTripsCanonically: whatever valid event the hub
// logs, its leaf decodes back to the same event and re-encodes to the very
// same bytes (control characters, U+2028, HTML characters and all).
func TestAnyValidEventRoundTripsCanonically(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		text := func(label string, maxLen int) string { return rapid.StringN(0, maxLen, maxLen).Draw(t, label) }
		hexDigest := func(label string) string {
			if rapid.Bool().Draw(t, label+"?") {
				return ""
			}
			return rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, label)
		}
		ev := Event{
			Type:       EventType(rapid.StringMatching(`[a-z][a-z0-9_.]{0,20}`).Draw(t, "type")),
			At:         time.UnixMilli(rapid.Int64Range(946684800000, 4102444800000).Draw(t, "at")),
			MessageID:  text("message_id", maxIDLen/4),
			Transfer:   text("transfer", maxIDLen/4),
			Kind:       text("kind", maxIDLen/4),
			From:       text("from", maxIDLen/4),
			To:         text("to", maxIDLen/4),
			Actor:      text("actor", maxIDLen/4),
			Code:       text("code", maxIDLen/4),
			CaseDigest: hexDigest("case_digest"),
			BodyDigest: hexDigest("body_digest"),
			Detail:     text("detail", maxDetailLen/4),
			Extra: rapid.MapOfN(rapid.StringMatching(`[a-z][a-z0-9_]{0,10}`), rapid.StringN(0, 20, 80), 0, 4).
				Draw(t, "extra"),
		}
		data, err := ev.Encode()
		if err != nil {
			t.Fatalf("valid event refused: %v", err)
		}
		back, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("leaf %s does not decode: %v", data, err)
		}
		again, err := back.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding changed the leaf:\n%s\n%s", data, again)
		}
		if len(ev.Extra) == 0 {
			ev.Extra = nil
		}
		if !reflect.DeepEqual(back, ev.Normalize()) {
			t.Fatalf("decoded %#v, want %#v", back, ev.Normalize())
		}
	})
}
