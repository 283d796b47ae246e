package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

// PushResult counts what a push settled.
type PushResult struct {
	Sent    int
	Refused int
}

// errBadAcceptance is an answer to a submission that does not prove the
// hub took the exact bytes sent: the item stays queued.
var errBadAcceptance = errors.New("the hub's answer does not carry a valid acceptance receipt for the message")

// Push submits the due outbox items, oldest first, until none is left, and
// returns the first failure that leaves an item queued (the hub is
// unreachable, overloaded, or answered something that is not a receipt).
// An item is settled as sent only on the hub's signed acceptance receipt
// over its exact bytes, and as refused only on a problem code from the
// refusal table.
//
// When the hub fails on one item with an internal error, the pass goes on
// with the other transfers, so that one message the hub chokes on does not
// hold back the whole outbox; its transfer waits for the next pass.
func (a *Agent) Push(ctx context.Context) (PushResult, error) {
	var res PushResult
	if err := a.requireKeys(); err != nil {
		return res, err
	}
	var skipped []string
	var held error
	for {
		item, ok, err := a.db.nextDue(ctx, skipped...)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, held
		}
		err = a.pushOne(ctx, item, &res)
		var he *agency.HubError
		switch {
		case err == nil:
		case errors.As(err, &he) && he.Code == string(contracts.CodeInternal):
			skipped = append(skipped, item.Transfer)
			held = errors.Join(held, err)
		default:
			return res, err
		}
	}
}

func (a *Agent) pushOne(ctx context.Context, item dueItem, res *PushResult) error {
	s, err := a.api.submit(ctx, item.JWS)
	if he, refused := refusal(err); refused {
		a.log.WarnContext(ctx, "message refused by the hub", "id", item.ID, "kind", item.Kind, "to", item.To, "code", he.Code)
		res.Refused++
		return a.db.markRefused(ctx, item.ID, he.Code, he.Detail, time.Now())
	}
	var accepted hub.AcceptanceReceipt
	if err == nil {
		accepted, err = a.checkAcceptance(ctx, item, s)
	}
	if err != nil {
		if ctx.Err() == nil {
			if mErr := a.db.markAttempt(ctx, item.ID, errorCode(err), time.Now()); mErr != nil {
				return errors.Join(err, mErr)
			}
		}
		return fmt.Errorf("submit %s: %w", item.ID, err)
	}
	if err := a.db.markSent(ctx, item.ID, accepted.AcceptedAt, accepted.LeafIndex, s.Receipt); err != nil {
		return err
	}
	res.Sent++
	a.removeSentAttachments(ctx, item.ID)
	a.log.InfoContext(ctx, "message sent", "id", item.ID, "kind", item.Kind, "to", item.To, "leaf_index", accepted.LeafIndex)
	return nil
}

// checkAcceptance verifies the hub's acceptance receipt: signed by the
// hub's key from the directory, for this id and the SHA-256 of the exact
// bytes submitted.
func (a *Agent) checkAcceptance(ctx context.Context, item dueItem, s submission) (hub.AcceptanceReceipt, error) {
	var r hub.AcceptanceReceipt
	if s.ID != item.ID || s.Receipt == "" {
		return r, errBadAcceptance
	}
	payload, err := a.verifyHubSigned(ctx, []byte(s.Receipt), hub.ReceiptTyp)
	if err != nil {
		return r, fmt.Errorf("%w: %w", errBadAcceptance, err)
	}
	if err := json.Unmarshal(payload, &r); err != nil || r.ID != item.ID || r.SHA256 != seal.SHA256Hex(item.JWS) {
		return r, errBadAcceptance
	}
	return r, nil
}

// verifyHubSigned verifies a JWS of the hub, fetching the directory again
// once if its key is not in the local copy (the hub rotated its key).
func (a *Agent) verifyHubSigned(ctx context.Context, jws []byte, typ string) ([]byte, error) {
	payload, _, err := seal.Verify(jws, typ, a.hubKey(ctx))
	if contracts.CodeOf(err) == contracts.CodeUnknownKey {
		if rErr := a.RefreshDirectory(ctx); rErr != nil {
			return nil, rErr
		}
		payload, _, err = seal.Verify(jws, typ, a.hubKey(ctx))
	}
	return payload, err
}

func (a *Agent) hubKey(ctx context.Context) func(kid string) (jwk.Key, error) {
	return func(kid string) (jwk.Key, error) {
		d, err := a.sealer.Directory(ctx, false)
		if err != nil {
			return nil, err
		}
		set, err := seal.ParseSet(d.Hub.JWKS)
		if err != nil {
			return nil, err
		}
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "hub key %s is not in the directory", kid)
	}
}
