package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/relais-hub/relais/contracts"
)

// Intake is a submitted message on its way through the ingress pipeline.
// Each stage fills in what it established; later stages rely on it.
type Intake struct {
	Raw    []byte
	SHA256 string
	// Signer is the agency whose registered key verified the signature.
	Signer   string
	KID      string
	Payload  []byte
	Envelope contracts.Envelope
	Spec     contracts.KindSpec
	// Policy is what the corridor policy decided, when one is configured.
	Policy PolicyNote

	outcome Outcome
}

// Outcome is what the pipeline decided.
type Outcome struct {
	ID        string
	Receipt   []byte
	LeafIndex uint64
	// Duplicate is true when the identical JWS had been accepted before.
	Duplicate bool
	Err       error
}

type intakeKey struct{}

func intakeOf(msg *message.Message) *Intake {
	in, _ := msg.Context().Value(intakeKey{}).(*Intake)
	return in
}

func ingressTopic(lane int) string { return "relais.ingress." + strconv.Itoa(lane) }

// addIngress registers the pipeline: verify → validate → dedupe → policy →
// accept, one handler per lane. A sender's messages of one transfer share a
// lane (see laneOf), so they are taken in the order they arrived, while
// everything else proceeds in parallel and meets in the store's group
// commit.
func (h *Hub) addIngress(r *message.Router) {
	stages := []message.HandlerMiddleware{
		h.stage("verify", h.verify),
		h.stage("validate", h.validate),
		h.stage("dedupe", h.dedupe),
	}
	for lane := 0; lane < h.cfg.Lanes; lane++ {
		handler := r.AddConsumerHandler("ingress-"+strconv.Itoa(lane), ingressTopic(lane), h.ingress, h.acceptHandler)
		// Outermost first: every failure becomes an outcome and the message
		// is acked, so the synchronous publisher is never left waiting and
		// nothing is redelivered behind the client's back.
		handler.AddMiddleware(h.settle, middleware.Recoverer, middleware.CorrelationID)
		handler.AddMiddleware(stages...)
	}
}

// Submit runs a submitted JWS through the pipeline and returns the outcome:
// a receipt, or a refusal whose code the caller maps to HTTP.
func (h *Hub) Submit(ctx context.Context, raw []byte) Outcome {
	start := time.Now()
	in := &Intake{Raw: raw, SHA256: sha256Hex(raw)}
	msg := message.NewMessage(watermill.NewUUID(), raw)
	msg.SetContext(context.WithValue(ctx, intakeKey{}, in))
	if err := h.ingress.Publish(ingressTopic(laneOf(raw, h.cfg.Lanes)), msg); err != nil {
		return Outcome{Err: contracts.Refuse(contracts.CodeUnavailable, "hub is shutting down")}
	}
	h.metrics.observeSubmit(in, time.Since(start))
	return in.outcome
}

// laneOf picks the lane from the signing key and the transfer the payload
// names. The payload is peeked at here, before its signature is checked,
// only to spread the work: a forged or missing transfer id merely lands in
// another lane, and the message is verified like any other. (Lanes by key
// alone put all the receipts of one recipient, one key, in series.)
func laneOf(raw []byte, lanes int) int {
	header, rest, _ := bytes.Cut(raw, []byte{'.'})
	payload, _, _ := bytes.Cut(rest, []byte{'.'})
	f := fnv.New32a()
	f.Write(header)
	f.Write(peekTransfer(payload))
	return int(f.Sum32() % uint32(lanes))
}

// peekTransfer finds the transfer id near the start of a base64url payload:
// envelopes are encoded in field order, which puts it in the first few
// hundred bytes, so the body (most of the payload) is never decoded here.
func peekTransfer(payload []byte) []byte {
	const window = 1024 // base64 characters: 768 bytes of JSON
	prefix := payload[:min(len(payload), window)]
	decoded := make([]byte, base64.RawURLEncoding.DecodedLen(len(prefix)))
	n, _ := base64.RawURLEncoding.Decode(decoded, prefix[:len(prefix)/4*4])
	_, after, found := bytes.Cut(decoded[:n], []byte(`"transfer":"`))
	if !found {
		return nil
	}
	id, _, _ := bytes.Cut(after, []byte{'"'})
	return id
}

// settle turns whatever the inner handlers returned into the intake's
// outcome and acks.
func (h *Hub) settle(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		in := intakeOf(msg)
		_, err := next(msg)
		if in == nil {
			return nil, nil
		}
		if err != nil && in.outcome.Err == nil {
			in.outcome.Err = err
		}
		if in.outcome.Err != nil {
			h.refused(msg.Context(), in)
		}
		return nil, nil
	}
}

// stage adapts a pipeline step to Watermill middleware: a refusal stops the
// chain.
func (h *Hub) stage(name string, step func(context.Context, *Intake) error) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			in := intakeOf(msg)
			if in == nil {
				return nil, fmt.Errorf("%s: message without intake", name)
			}
			if err := step(msg.Context(), in); err != nil {
				in.outcome.Err = err
				return nil, nil
			}
			return next(msg)
		}
	}
}

func (h *Hub) acceptHandler(msg *message.Message) error {
	in := intakeOf(msg)
	if in.outcome.Err != nil || in.outcome.Duplicate {
		return nil
	}
	if err := h.accept(msg.Context(), in); err != nil {
		in.outcome.Err = err
	}
	return nil
}

// RefuseSubmission records a submission refused before it reached the
// pipeline (wrong media type, oversize): every refusal is audited, even one
// whose bytes were never read.
func (h *Hub) RefuseSubmission(ctx context.Context, err error) {
	h.refused(ctx, &Intake{outcome: Outcome{Err: err}})
}

// refused records a refusal in the audit log with its code, never the
// payload. Internal errors are logged, not audited as refusals: the client
// retries them.
func (h *Hub) refused(ctx context.Context, in *Intake) {
	p := contracts.AsProblem(in.outcome.Err)
	h.metrics.rejected(p.Code)
	if p.Code == contracts.CodeInternal || p.Code == contracts.CodeUnavailable {
		h.log.ErrorContext(ctx, "submission failed", "sha256", in.SHA256, "err", in.outcome.Err)
		return
	}
	h.log.InfoContext(ctx, "message refused", "code", p.Code, "message_id", in.Envelope.ID, "signer", in.Signer, "sha256", in.SHA256)
	ev := Event{
		Type:      EventRejected,
		At:        h.now(),
		Code:      string(p.Code),
		Actor:     in.Signer,
		JWSDigest: in.SHA256,
		Detail:    truncate(p.Detail, 200),
	}
	// Only what the signature vouches for is recorded.
	if in.Signer != "" && in.Envelope.ID != "" {
		ev.MessageID, ev.Kind, ev.From, ev.To = in.Envelope.ID, in.Envelope.Kind, in.Envelope.From, in.Envelope.To
		if ev.From == in.Signer && contracts.ValidMessageID(in.Envelope.Transfer) {
			ev.Transfer = in.Envelope.Transfer
		}
	}
	if err := h.store.Update(ctx, func(tx Tx) error {
		_, err := tx.AppendEvent(ctx, ev)
		return err
	}); err != nil && !errors.Is(err, context.Canceled) {
		h.log.ErrorContext(ctx, "audit refusal", "code", p.Code, "err", err)
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
