package console

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/stats"
)

func TestTheStatisticsPageDrawsNoWithheldFlowAndLogsItsReleases(t *testing.T) {
	w := newHubWorld(t)
	b := newBrowser(t, w.console)
	w.loginAuditor(t, b)
	page := b.get("/console/stats")
	if page.Status != http.StatusOK {
		t.Fatalf("stats page: %d\n%s", page.Status, page.Body)
	}
	for _, want := range []string{"Flux entre pays", `role="img"`, "CI → ML", "masqué", "Durée de chaque étape"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the statistics page lacks %q", want)
		}
	}
	// One transfer is below the threshold of 5: the corridor's count is
	// withheld, so no arrow may be drawn for it.
	if strings.Contains(page.Body, `marker-end="url(#arrow)"`) {
		t.Error("a withheld flow was drawn")
	}
	res, err := w.hub.AuditEvents(context.Background(), "admin", hub.AuditQuery{Agency: w.auditorID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	releases := 0
	for _, e := range res.Events {
		if e.Event.Type == stats.TypeStatsRelease {
			releases++
		}
	}
	if releases != 2 {
		t.Errorf("the page view logged %d statistics releases, want 2", releases)
	}
}
