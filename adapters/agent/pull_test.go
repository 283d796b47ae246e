package agent

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestInboxPagesShrinkOnAFailingLinkAndGrowBack(t *testing.T) {
	p := newPageSizer(16)
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"a failed read halves the page", p.failed, 8},
		{"failures go on halving", func() { p.failed(); p.failed(); p.failed() }, 1},
		{"the page never drops to zero", p.failed, 1},
		{"a page that was not full keeps the size", func() { p.succeeded(0) }, 1},
		{"a full page doubles it", func() { p.succeeded(1) }, 2},
		{"it grows back to the configured size and no further", func() { p.succeeded(2); p.succeeded(4); p.succeeded(8); p.succeeded(16) }, 16},
	}
	for _, s := range steps {
		s.do()
		if got := p.size(); got != s.want {
			t.Fatalf("%s: page %d, want %d", s.name, got, s.want)
		}
	}
}

func TestAPullThatFailsMidwayLeavesTheRestForTheNextPull(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml)
	var ids []string
	for i := range 5 {
		ids = append(ids, mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-03"+string(rune('0'+i)))).ID)
	}
	mustSync(t, ci)
	ml.pages = newPageSizer(2)
	reads := 0
	ml.Faults.set(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/v1/inbox" {
			if reads++; reads == 2 {
				return nil, errors.New("read tcp: connection reset by peer")
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	res, err := ml.Pull(ctx, 0)
	if err == nil || res.Stored != 2 {
		t.Fatalf("first pull: %+v %v, want the first page stored, then the failure", res, err)
	}
	if ml.pages.size() != 1 {
		t.Fatalf("page size after the failure: %d", ml.pages.size())
	}
	ml.Faults.set(nil)
	res, err = ml.Pull(ctx, 0)
	if err != nil || res.Stored != 3 {
		t.Fatalf("second pull: %+v %v, want the other three", res, err)
	}
	for _, id := range ids {
		if _, err := ml.Read(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
