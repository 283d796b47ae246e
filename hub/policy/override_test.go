package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

func TestSignOverrideApprovalSignsTheMessageTheReasonAndTheTime(t *testing.T) {
	sup := keysOf(t, "bf.dpe-bobo").supervisor
	at := time.Date(2026, 3, 15, 9, 30, 0, 0, time.FixedZone("GMT+1", 3600))
	a, err := SignOverrideApproval(sup, testMessageID, "caregiver_unreachable", at)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "ey") || strings.Count(a, ".") != 2 {
		t.Fatalf("not a compact JWS: %q", a)
	}
	payload, h, err := seal.Verify([]byte(a), OverrideApprovalTyp, func(string) (jwk.Key, error) { return public(t, sup), nil })
	if err != nil {
		t.Fatal(err)
	}
	if h.Typ != "relais-override-approval+jws" || h.Kid != "bf.dpe-bobo#supervisor-1" || h.Alg != "EdDSA" {
		t.Fatalf("header = %+v", h)
	}
	var got map[string]string
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"message_id": testMessageID, "reason": "caregiver_unreachable", "approved_at": "2026-03-15T08:30:00Z"}
	if len(got) != len(want) {
		t.Fatalf("payload = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("payload = %v, want %v", got, want)
		}
	}
}

func TestSignOverrideApprovalRefusesWhatCouldNeverBeApproved(t *testing.T) {
	sup := keysOf(t, "bf.dpe-bobo").supervisor
	enc, err := seal.GenerateEncryptionKey("bf.dpe-bobo#enc-1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		key       jwk.Key
		id        string
		reason    string
		at        time.Time
		wantError string
	}{
		{"a message id that is not a UUIDv7 or ULID", sup, "message-1", "imminent_harm", testNow, "message id"},
		{"a reason outside the fixed list", sup, testMessageID, "parents_disagree", testNow, "reason"},
		{"no approval time", sup, testMessageID, "imminent_harm", time.Time{}, "time"},
		{"an encryption key", enc, testMessageID, "imminent_harm", testNow, "signing key"},
		{"a public key", public(t, sup), testMessageID, "imminent_harm", testNow, "private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SignOverrideApproval(tc.key, tc.id, tc.reason, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantError)
			}
		})
	}
}

func TestApprovalPayloadsAreReadStrictly(t *testing.T) {
	ok := `{"message_id":"m","reason":"r","approved_at":"t"}`
	cases := []struct {
		name    string
		payload string
		valid   bool
	}{
		{"the three members in any order are read", `{"reason":"r","approved_at":"t","message_id":"m"}`, true},
		{"the reference payload is read", ok, true},
		{"a missing member is refused", `{"message_id":"m","reason":"r"}`, false},
		{"an extra member is refused", `{"message_id":"m","reason":"r","approved_at":"t","by":"x"}`, false},
		{"a repeated member is refused", `{"message_id":"m","message_id":"m","reason":"r","approved_at":"t"}`, false},
		{"a null member is refused", `{"message_id":null,"reason":"r","approved_at":"t"}`, false},
		{"a number member is refused", `{"message_id":1,"reason":"r","approved_at":"t"}`, false},
		{"trailing data is refused", ok + `{}`, false},
		{"an array is refused", `["m","r","t"]`, false},
		{"invalid UTF-8 is refused", "{\"message_id\":\"m\xff\",\"reason\":\"r\",\"approved_at\":\"t\"}", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := decodeApproval([]byte(tc.payload))
			if (err == nil) != tc.valid {
				t.Fatalf("err = %v, want valid = %v", err, tc.valid)
			}
			if tc.valid && (p.MessageID != "m" || p.Reason != "r" || p.ApprovedAt != "t") {
				t.Fatalf("payload = %+v", p)
			}
		})
	}
}

func TestAnApprovalWithAnOffsetTimeIsRefused(t *testing.T) {
	in := baseInput(t)
	payload := `{"message_id":"` + testMessageID + `","reason":"imminent_harm","approved_at":"2026-03-15T10:00:00+01:00"}`
	override(&in, "imminent_harm", signRaw(t, keysOf(t, "bf.dpe-bobo").supervisor, payload))
	d := loadSet(t, "corridors").Decide(t.Context(), in)
	if d.Code != contracts.CodeOverrideUnapproved || d.Rule != RuleOverrideApproval {
		t.Fatalf("decision = %s %s", d.Code, d.Rule)
	}
}
