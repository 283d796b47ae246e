package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

func TestAReferralComposedOfflineIsDeliveredStoredAndReceipted(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml) // each fetches the directory once

	ci.Faults.set(down)
	q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0001"))
	if err := ci.SyncOnce(ctx); !errors.Is(err, errNoRoute) {
		t.Fatalf("sync with the hub unreachable: %v, want the network error", err)
	}
	st := mustStatus(t, ci)
	if st.Queued != 1 || st.LastError != "unreachable" || !st.LastErrorAt.After(st.LastSync) {
		t.Fatalf("offline status: %+v", st)
	}
	if o := outboxItem(t, ci, q.ID); o.State != StateQueued || o.Attempts != 1 || o.LastError != "unreachable" {
		t.Fatalf("after a failed push the item is %+v", o)
	}

	ci.Faults.set(nil)
	mustSync(t, ci)
	if o := outboxItem(t, ci, q.ID); o.State != StateSent || o.SentAt.IsZero() || !o.AwaitsReceipt() {
		t.Fatalf("after the sync the item is %+v", o)
	}
	mustSync(t, ml)
	got, err := ml.Read(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got.Plaintext), "Gare routière d'Adjamé") || got.Envelope.From != ci.ID || got.Violation != nil {
		t.Fatalf("stored message: %s from %s, violation %+v", got.Plaintext, got.Envelope.From, got.Violation)
	}
	receipts, err := ml.Outbox(ctx, OutboxFilter{IncludeReceipts: true})
	if err != nil || len(receipts) != 1 || receipts[0].Kind != "receipt" || receipts[0].State != StateSent || receipts[0].InReplyTo != q.ID {
		t.Fatalf("recipient's outbox: %+v %v", receipts, err)
	}
	if !receipts[0].CreatedAt.Before(got.StoredAt) && !receipts[0].CreatedAt.Equal(got.StoredAt) {
		t.Errorf("receipt queued at %s, message stored at %s", receipts[0].CreatedAt, got.StoredAt)
	}

	mustSync(t, ci)
	o := outboxItem(t, ci, q.ID)
	if o.AwaitsReceipt() || o.ReceiptedAt.IsZero() {
		t.Fatalf("the recipient's receipt did not settle the item: %+v", o)
	}
	if st := mustStatus(t, ci); st.Queued != 0 || st.AwaitingReceipt != 0 || st.LastSync.IsZero() {
		t.Fatalf("final status: %+v", st)
	}
	if n := th.acceptedEvents(t, q.Transfer, q.ID); n != 1 {
		t.Fatalf("%d accepted events, want 1", n)
	}
}

func TestSubmissionOutcomes(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml)

	t.Run("a submission whose answer is lost is resubmitted and the hub keeps one copy", func(t *testing.T) {
		q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0002"))
		ci.Faults.set(loseAnswers)
		if _, err := ci.Push(ctx); err == nil {
			t.Fatal("push succeeded without an answer")
		}
		if n := th.acceptedEvents(t, q.Transfer, q.ID); n != 1 {
			t.Fatalf("the hub has %d accepted events before the resubmission, want 1", n)
		}
		ci.Faults.set(nil)
		if res, err := ci.Push(ctx); err != nil || res.Sent != 1 {
			t.Fatalf("resubmission: %+v %v", res, err)
		}
		if o := outboxItem(t, ci, q.ID); o.State != StateSent || o.Attempts != 1 {
			t.Fatalf("item after the resubmission: %+v", o)
		}
		if n := th.acceptedEvents(t, q.Transfer, q.ID); n != 1 {
			t.Fatalf("%d accepted events after the resubmission, want 1", n)
		}
	})

	for _, status := range []int{http.StatusOK, http.StatusForbidden} {
		t.Run("a captive portal's page ("+http.StatusText(status)+") neither settles nor refuses the item", func(t *testing.T) {
			q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0003-"+http.StatusText(status)[:2]))
			ci.Faults.set(portal(status))
			if _, err := ci.Push(ctx); err == nil {
				t.Fatal("push succeeded against a captive portal")
			}
			if o := outboxItem(t, ci, q.ID); o.State != StateQueued {
				t.Fatalf("item after the portal's answer: %+v", o)
			}
			ci.Faults.set(nil)
			if _, err := ci.Push(ctx); err != nil {
				t.Fatal(err)
			}
			if o := outboxItem(t, ci, q.ID); o.State != StateSent {
				t.Fatalf("item once the portal is gone: %+v", o)
			}
		})
	}

	t.Run("a refusal with a problem code settles the item as refused and the next items go on", func(t *testing.T) {
		orphan := mustCompose(t, ci, agency.Draft{Kind: "referral.accepted", To: ml.ID, Case: "CI-ABJ-2026-0004",
			Transfer: contracts.NewMessageID(), Body: json.RawMessage(`{}`)})
		next := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0005"))
		res, err := ci.Push(ctx)
		if err != nil || res.Refused != 1 || res.Sent != 1 {
			t.Fatalf("push: %+v %v", res, err)
		}
		o := outboxItem(t, ci, orphan.ID)
		if o.State != StateRefused || o.RefusedCode != string(contracts.CodeUnknownTransfer) {
			t.Fatalf("refused item: %+v", o)
		}
		if o := outboxItem(t, ci, next.ID); o.State != StateSent {
			t.Fatalf("next item: %+v", o)
		}
	})

	t.Run("a message the hub fails on does not hold back the other transfers", func(t *testing.T) {
		choked := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0008"))
		other := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0009"))
		var failed atomic.Bool
		ci.Faults.set(func(r *http.Request) (*http.Response, error) {
			if isSubmission(r) && failed.CompareAndSwap(false, true) {
				return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/problem+json"}},
					Body: io.NopCloser(strings.NewReader(`{"code":"internal_error","status":500}`)), Request: r}, nil
			}
			return http.DefaultTransport.RoundTrip(r)
		})
		res, err := ci.Push(ctx)
		if err == nil || res.Sent != 1 {
			t.Fatalf("push: %+v %v, want the other referral sent and the failure reported", res, err)
		}
		if o := outboxItem(t, ci, choked.ID); o.State != StateQueued || o.LastError != string(contracts.CodeInternal) {
			t.Fatalf("the item the hub failed on: %+v", o)
		}
		if o := outboxItem(t, ci, other.ID); o.State != StateSent {
			t.Fatalf("the other transfer's item: %+v", o)
		}
		if res, err := ci.Push(ctx); err != nil || res.Sent != 1 {
			t.Fatalf("next push: %+v %v", res, err)
		}
		ci.Faults.set(nil)
	})

	t.Run("submissions are gzip-compressed once the hub has advertised gzip", func(t *testing.T) {
		mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0006"))
		before := len(ci.Faults.posts())
		if _, err := ci.Push(ctx); err != nil {
			t.Fatal(err)
		}
		posts := ci.Faults.posts()[before:]
		if len(posts) != 1 || !strings.HasSuffix(posts[0], " gzip") {
			t.Fatalf("submissions: %q", posts)
		}
	})

	t.Run("a hub that refuses gzip gets the same bytes plain", func(t *testing.T) {
		q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0007"))
		ci.Faults.set(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("Content-Encoding") == "gzip" {
				return &http.Response{StatusCode: http.StatusUnsupportedMediaType, Header: http.Header{"Content-Type": {"application/problem+json"}},
					Body:    io.NopCloser(strings.NewReader(`{"code":"unsupported_content_encoding","status":415}`)),
					Request: r}, nil
			}
			return http.DefaultTransport.RoundTrip(r)
		})
		before := len(ci.Faults.posts())
		if res, err := ci.Push(ctx); err != nil || res.Sent != 1 {
			t.Fatalf("push: %+v %v", res, err)
		}
		posts := ci.Faults.posts()[before:]
		if len(posts) != 2 || !strings.HasSuffix(posts[0], " gzip") || strings.HasSuffix(posts[1], " gzip") {
			t.Fatalf("submissions: %q", posts)
		}
		if o := outboxItem(t, ci, q.ID); o.State != StateSent {
			t.Fatalf("item: %+v", o)
		}
		ci.Faults.set(nil)
	})
}

func TestReceiving(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml)
	q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0010"))
	mustSync(t, ci)

	t.Run("the receipt is queued with the stored message and leaves only with a push", func(t *testing.T) {
		ml.Faults.set(downFor(isSubmission))
		res, err := ml.Pull(ctx, 0)
		if err != nil || res.Stored != 1 {
			t.Fatalf("pull: %+v %v", res, err)
		}
		if _, err := ml.Read(ctx, q.ID); err != nil {
			t.Fatal(err)
		}
		st := mustStatus(t, ml)
		if st.Queued != 1 {
			t.Fatalf("the receipt is not queued: %+v", st)
		}
		if _, err := ml.Push(ctx); err == nil {
			t.Fatal("the receipt went out with submissions down")
		}
	})

	t.Run("a message read again after a crash is neither stored nor receipted twice", func(t *testing.T) {
		// The cursor is lost, as if the agent died before saving it.
		if err := ml.db.setState(ctx, time.Now(), stateCursor, ""); err != nil {
			t.Fatal(err)
		}
		res, err := ml.Pull(ctx, 0)
		if err != nil || res.Stored != 0 {
			t.Fatalf("second pull: %+v %v", res, err)
		}
		all, err := ml.Outbox(ctx, OutboxFilter{IncludeReceipts: true})
		if err != nil || len(all) != 1 {
			t.Fatalf("the recipient's outbox holds %d items (%v), want the one receipt", len(all), err)
		}
	})

	t.Run("once submissions work the receipt reaches the sender", func(t *testing.T) {
		ml.Faults.set(nil)
		mustSync(t, ml, ci)
		if o := outboxItem(t, ci, q.ID); o.ReceiptedAt.IsZero() {
			t.Fatalf("sender's item: %+v", o)
		}
	})

	t.Run("an agent reopened on the same directory finds everything as it was", func(t *testing.T) {
		again := openTestAgent(t, ml.Dir, ml.ID)
		got, err := again.Read(ctx, q.ID)
		if err != nil || got.ReadAt.IsZero() {
			t.Fatalf("reopened: %+v %v", got.ReadAt, err)
		}
		if st := mustStatus(t, again); st.Queued != 0 || st.Unread != 0 {
			t.Fatalf("reopened status: %+v", st)
		}
	})
}
