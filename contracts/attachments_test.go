package contracts

import (
	"encoding/json"
	"strings"
	"testing"
)

const attachmentsSample = "envelopes/valid/referral-request-attachments.json"

// attachmentList returns the sample's attachment references, for edits.
func attachmentList(d jsonDoc) []any { return d["attachments"].([]any) }

func firstAttachment(d jsonDoc) jsonDoc { return attachmentList(d)[0].(jsonDoc) }

// attachmentEnvelopeCases join the envelope table, so the decoder, the JSON
// Schemas and docs/protocol.md are held to the same rules.
var attachmentEnvelopeCases = []envelopeCase{
	{name: "a referral with two attachments is accepted", input: file(attachmentsSample)},
	{name: "attachments on a kind without personal data are refused", input: edit(acceptedSample, func(d jsonDoc) {
		d["attachments"] = attachmentList(decodeDocFile(attachmentsSample))
	}), code: CodeInvalidEnvelope, fields: []string{"attachments"}},
	{name: "an empty attachment list is invalid", input: edit(attachmentsSample, func(d jsonDoc) { d["attachments"] = []any{} }), code: CodeInvalidEnvelope, fields: []string{"attachments"}},
	{name: "two attachments with the same id are invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		list := attachmentList(d)
		list[1].(jsonDoc)["id"] = list[0].(jsonDoc)["id"]
	}), code: CodeInvalidEnvelope, fields: []string{"attachments"}, goOnly: true},
	{name: "more than sixteen attachments are invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		first := firstAttachment(d)
		var list []any
		for i := range 17 {
			a := jsonDoc{}
			for k, v := range first {
				a[k] = v
			}
			a["id"] = "01JDQ7Z8K9M2N3P4Q5R6S7T8" + string(rune('A'+i/10)) + string(rune('0'+i%10))
			list = append(list, a)
		}
		d["attachments"] = list
	}), code: CodeInvalidEnvelope, fields: []string{"attachments"}},
	{name: "an attachment over the size limit is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		firstAttachment(d)["size"] = json.Number("52494337")
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].size"}},
	{name: "an empty attachment is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		firstAttachment(d)["size"] = json.Number("0")
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].size"}},
	{name: "an attachment digest in upper case is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		a := firstAttachment(d)
		a["sha256"] = strings.ToUpper(a["sha256"].(string))
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].sha256"}},
	{name: "an attachment key that is not a compact JWE is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		firstAttachment(d)["key"] = "bm90LWEtandl"
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].key"}},
	{name: "an attachment without its wrapped key is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		delete(firstAttachment(d), "key")
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].key"}},
	{name: "an attachment id that is not a message id is invalid", input: edit(attachmentsSample, func(d jsonDoc) {
		firstAttachment(d)["id"] = "scan-1"
	}), code: CodeInvalidEnvelope, fields: []string{"attachments[0].id"}},
	{name: "a file name in clear beside an attachment is refused", input: edit(attachmentsSample, func(d jsonDoc) {
		firstAttachment(d)["name"] = "passport.jpg"
	}), code: CodeUnknownField, fields: []string{"attachments[0].name"}},
}

func init() { envelopeCases = append(envelopeCases, attachmentEnvelopeCases...) }

// decodeDocFile reads a sample outside a test (table construction).
func decodeDocFile(name string) jsonDoc {
	var t testing.T
	return decodeDoc(&t, readTestdata(&t, name))
}

func TestAttachmentReferencesSurviveAnEncodeDecodeRoundTrip(t *testing.T) {
	env, err := DecodeEnvelope(readTestdata(t, attachmentsSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Attachments) != 2 || env.Attachments[0].Size != 1482113 {
		t.Fatalf("attachments decoded as %+v", env.Attachments)
	}
	out, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeEnvelope(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Attachments) != 2 || again.Attachments[1] != env.Attachments[1] {
		t.Fatalf("round trip changed the attachments: %+v", again.Attachments)
	}
}

func TestTheSizeRuleOfAttachmentsMatchesTheConstant(t *testing.T) {
	if MaxAttachmentSize != 52494336 {
		t.Fatalf("MaxAttachmentSize is %d but the validate tag and the schema say 52494336", MaxAttachmentSize)
	}
}
