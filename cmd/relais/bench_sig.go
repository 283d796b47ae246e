package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

// sigCost is what the signature operations of one message cost on one
// core, measured alone.
type sigCost struct {
	Size string
	// VerifyMessage is the hub's verification of the submitted JWS;
	// SignReceipt its signature of the acceptance receipt; VerifyReceipt
	// the verification of the recipient's delivery receipt, which the hub
	// also answers with a signed acceptance receipt.
	VerifyMessage, SignReceipt, VerifyReceipt time.Duration
	// Seal is the sender's work, encryption and signature (not the hub's).
	Seal time.Duration
}

// PerMessage is the hub's mandatory signature work for one message of the
// path: the message and its delivery receipt, each verified and answered
// with a signed acceptance receipt.
func (c sigCost) PerMessage() time.Duration {
	return c.VerifyMessage + c.SignReceipt + c.VerifyReceipt + c.SignReceipt
}

// measureSignatureOps times seal.Verify and seal.Sign as the hub calls
// them, one goroutine, each long enough to be stable.
func measureSignatureOps() ([]sigCost, error) {
	ctx := context.Background()
	sender, err := benchKeys("ci.dpe-abidjan")
	if err != nil {
		return nil, err
	}
	recipient, err := benchKeys(benchRecipient)
	if err != nil {
		return nil, err
	}
	hubKey, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		return nil, err
	}
	// Sealing without a hub: the directory the client would fetch is
	// stood in by an in-memory one.
	dir, err := benchDirectory(sender, recipient)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	senderClient, recipientClient := dir.client(sender), dir.client(recipient)
	var out []sigCost
	for _, size := range benchSizes {
		body, err := benchBody(size.Bytes)
		if err != nil {
			return nil, err
		}
		c := sigCost{Size: size.Name}
		var jws []byte
		var env contracts.Envelope
		c.Seal = timePerOp(func() error {
			env, jws, err = senderClient.Seal(ctx, benchDraft("BENCH-SIG", body))
			return err
		})
		if err != nil {
			return nil, err
		}
		keyOf := func(kid string) (jwk.Key, error) {
			if k, _ := sender.Signing.KeyID(); k == kid {
				return sender.Signing.PublicKey()
			}
			if k, _ := recipient.Signing.KeyID(); k == kid {
				return recipient.Signing.PublicKey()
			}
			return nil, fmt.Errorf("unknown kid")
		}
		c.VerifyMessage = timePerOp(func() error {
			_, _, err = seal.Verify(jws, seal.EnvelopeTyp, keyOf)
			return err
		})
		receiptBody, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: seal.SHA256Hex(jws)})
		_, receipt, err := recipientClient.Seal(ctx, agency.Draft{Kind: "receipt", To: env.From, Case: env.Case,
			Transfer: env.Transfer, InReplyTo: env.ID, Body: receiptBody})
		if err != nil {
			return nil, err
		}
		c.VerifyReceipt = timePerOp(func() error {
			_, _, err = seal.Verify(receipt, seal.EnvelopeTyp, keyOf)
			return err
		})
		acceptance, _ := json.Marshal(hub.AcceptanceReceipt{Hub: "relais-bench-hub", ID: env.ID, SHA256: seal.SHA256Hex(jws),
			AcceptedAt: time.Now().UTC(), LeafIndex: 123456})
		c.SignReceipt = timePerOp(func() error {
			_, err = seal.Sign(acceptance, hubKey, hub.ReceiptTyp)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// timePerOp runs op for about 300 ms (at least 20 times) and returns the
// mean time of one run. op reports failure through the captured error the
// caller checks.
func timePerOp(op func() error) time.Duration {
	start := time.Now()
	n := 0
	for n < 20 || time.Since(start) < 300*time.Millisecond {
		if op() != nil {
			return 0
		}
		n++
	}
	return time.Since(start) / time.Duration(n)
}

func benchKeys(id string) (agency.Keys, error) {
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		return agency.Keys{}, err
	}
	enc, err := seal.GenerateEncryptionKey(seal.NewKID(id + "#enc"))
	if err != nil {
		return agency.Keys{}, err
	}
	return agency.Keys{ID: id, Signing: sig, Encryption: []jwk.Key{enc}}, nil
}

// benchDirectoryServer serves a hub directory of the given agencies, so
// agency clients can seal without a hub.
type benchDirectoryServer struct {
	srv *httptest.Server
}

func benchDirectory(agencies ...agency.Keys) (*benchDirectoryServer, error) {
	type entry struct {
		ID      string          `json:"id"`
		Country string          `json:"country"`
		Name    string          `json:"name"`
		JWKS    json.RawMessage `json:"jwks"`
	}
	doc := struct {
		Hub      map[string]any `json:"hub"`
		Agencies []entry        `json:"agencies"`
	}{Hub: map[string]any{"id": "relais-bench-hub", "jwks": json.RawMessage(`{"keys":[]}`)}}
	for _, k := range agencies {
		jwks, err := k.PublicJWKS()
		if err != nil {
			return nil, err
		}
		doc.Agencies = append(doc.Agencies, entry{ID: k.ID, Country: contracts.AgencyCountry(k.ID), Name: k.ID, JWKS: jwks})
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	return &benchDirectoryServer{srv: srv}, nil
}

func (d *benchDirectoryServer) client(k agency.Keys) *agency.Client { return agency.New(d.srv.URL, k) }

func (d *benchDirectoryServer) Close() { d.srv.Close() }
