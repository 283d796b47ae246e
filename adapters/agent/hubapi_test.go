package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

func TestOnlyTheHubsProblemCodesSettleASubmission(t *testing.T) {
	answer := func(status int, contentType, body string) error {
		resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {contentType}}}
		return hubError(resp, []byte(body))
	}
	problem := func(status int, code contracts.Code) error {
		return answer(status, "application/problem+json", fmt.Sprintf(`{"code":%q,"status":%d}`, code, status))
	}
	cases := []struct {
		name    string
		err     error
		settles bool
	}{
		{"a corridor refusal settles it", problem(http.StatusForbidden, contracts.CodeCorridorNotAgreed), true},
		{"an invalid transition settles it", problem(http.StatusConflict, contracts.CodeInvalidTransition), true},
		{"a hub that is momentarily unavailable does not", problem(http.StatusServiceUnavailable, contracts.CodeUnavailable), false},
		{"an internal error does not", problem(http.StatusInternalServerError, contracts.CodeInternal), false},
		{"a rate limit does not", answer(http.StatusTooManyRequests, "application/problem+json", `{"code":"rate_limited"}`), false},
		{"a proxy's 403 page does not", answer(http.StatusForbidden, "text/html", "<html>Forbidden</html>"), false},
		{"a JSON error without a known code does not", answer(http.StatusBadRequest, "application/problem+json", `{"code":"something_else"}`), false},
		{"a code in plain JSON (not a problem document) does not", answer(http.StatusBadRequest, "application/json", `{"code":"malformed_jws"}`), false},
		{"a network error does not", &url.Error{Op: "Post", URL: "http://hub", Err: errNoRoute}, false},
		{"a deadline does not", context.DeadlineExceeded, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, settles := refusal(c.err); settles != c.settles {
				t.Fatalf("refusal(%v) = %v, want %v", c.err, settles, c.settles)
			}
		})
	}
}

func TestTokensFollowTheHubsClock(t *testing.T) {
	cases := []struct {
		name string
		date string
		want time.Duration
	}{
		{"a site clock two hours behind the hub is corrected", time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat), 2 * time.Hour},
		{"a site clock a day ahead is corrected", time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat), -24 * time.Hour},
		{"a Date months away is not the hub's and is ignored", time.Now().Add(90 * 24 * time.Hour).UTC().Format(http.TimeFormat), 0},
		{"an unreadable Date is ignored", "yesterday", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &hubAPI{}
			h.noteClock(&http.Response{Header: http.Header{"Date": {c.date}}}, time.Now())
			if got := time.Until(h.hubNow()); (got - c.want).Abs() > 2*time.Second {
				t.Fatalf("hub time is %s from ours, want %s", got.Round(time.Second), c.want)
			}
		})
	}

	t.Run("an inbox read with a site clock an hour slow succeeds once the hub's Date is known", func(t *testing.T) {
		ctx := context.Background()
		th := newTestHub(t)
		ml := newTestAgent(t, th, "ml.dnpef")
		mustSync(t, ml)
		// A wrong correction stands for a wrong site clock: the tokens are
		// an hour old when they reach the hub, which refuses them; the Date
		// of its refusal puts the clock right.
		ml.api.skew.Store(int64(-time.Hour))
		_, err := ml.Pull(ctx, 0)
		if err == nil || !strings.Contains(errorCode(err), "token") {
			t.Fatalf("pull with a token an hour old: %v", err)
		}
		if _, err := ml.Pull(ctx, 0); err != nil {
			t.Fatalf("pull once the hub's Date corrected the clock: %v", err)
		}
	})
}
