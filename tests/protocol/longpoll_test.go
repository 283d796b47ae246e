package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func TestInboxLongPoll(t *testing.T) {
	t.Run("a waiting inbox read returns as soon as a message is delivered", func(t *testing.T) {
		w := newWorld(t)
		env, jws := w.ci.seal(t, referral(w.ml.ID))
		tok := w.ml.token(t)

		type result struct {
			status int
			body   []byte
			err    error
			done   time.Time
		}
		results := make(chan result, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, w.srv.URL+"/v1/inbox?wait=5s", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := w.srv.Client().Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			results <- result{status: resp.StatusCode, body: body, err: err, done: time.Now()}
		}()
		// The API records the token's jti just before it reads the inbox:
		// once the row exists, the read is about to wait.
		relaistest.Eventually(t, 5*time.Second, 2*time.Millisecond, func() error {
			var n int
			if err := w.store.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM tokens WHERE issuer = ?`, w.ml.ID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return errors.New("the inbox request has not been authenticated yet")
			}
			return nil
		})
		submitted := time.Now()
		w.accepted(t, jws)

		var res result
		select {
		case res = <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("the long-poll did not return")
		}
		if res.err != nil || res.status != http.StatusOK {
			t.Fatalf("inbox: %d %s %v", res.status, res.body, res.err)
		}
		var page struct {
			Messages []struct{ ID string } `json:"messages"`
			Cursor   string                `json:"cursor"`
		}
		if err := json.Unmarshal(res.body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) != 1 || page.Messages[0].ID != env.ID {
			t.Fatalf("long-poll returned %s, want the message just delivered", res.body)
		}
		if page.Cursor == "" || page.Cursor == "0" {
			t.Errorf("cursor %q does not move past the message", page.Cursor)
		}
		// Well before the 5 s wait; and woken by the delivery itself, not by
		// the hub's one-second safety poll: measured from the delivery's
		// commit, so a slow machine does not count against it.
		m, err := w.store.Message(context.Background(), env.ID)
		if err != nil {
			t.Fatal(err)
		}
		sinceSubmit, sinceDelivery := res.done.Sub(submitted), res.done.Sub(m.DeliveredAt)
		if sinceSubmit > 2500*time.Millisecond {
			t.Errorf("long-poll answered %s after the submission", sinceSubmit)
		}
		if sinceDelivery > 700*time.Millisecond {
			t.Errorf("long-poll answered %s after the delivery: not woken by it", sinceDelivery)
		}
		t.Logf("long-poll answered %s after the submission, %s after the delivery",
			sinceSubmit.Round(time.Millisecond), sinceDelivery.Round(time.Millisecond))
	})

	t.Run("a waiting read of an empty inbox returns empty when the wait ends", func(t *testing.T) {
		w := newWorld(t)
		start := time.Now()
		r := w.do(t, http.MethodGet, "/v1/inbox?wait=300ms", nil, bearer(w.ml.token(t)))
		elapsed := time.Since(start)
		if r.Status != http.StatusOK {
			t.Fatalf("inbox: %d %s", r.Status, r.Body)
		}
		if msgs, _ := r.Doc["messages"].([]any); len(msgs) != 0 {
			t.Fatalf("empty inbox returned %s", r.Body)
		}
		if elapsed < 300*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("an empty long-poll of 300ms returned after %s", elapsed)
		}
	})
}
