package hub

import (
	"testing"
	"time"

	"github.com/relais-hub/relais/hub/policy"
)

func TestCorridorTimersTakeTheAgreedServiceLevels(t *testing.T) {
	w, err := policy.NewWatcher(policy.WatcherOptions{}, "../policies/corridors")
	if err != nil {
		t.Fatal(err)
	}
	timers := CorridorTimers{Agreements: w}
	agreed := Transfer{Sender: "ci.dpe-abidjan", Recipient: "ml.dnpef", OpenedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for kind, want := range map[TimerKind]Deadline{
		TimerReceipt:  {Due: 24 * time.Hour, Escalate: 48 * time.Hour},
		TimerAnswer:   {Due: 5 * 24 * time.Hour, Escalate: 48 * time.Hour},
		TimerFollowup: {Due: 30 * 24 * time.Hour, Escalate: 48 * time.Hour},
	} {
		got, ok := timers.Deadline(agreed, kind)
		if !ok || got != want {
			t.Errorf("%s in the bf-ci-ml corridor = %+v (%v), want %+v", kind, got, ok, want)
		}
	}
	// No agreement between these two: the defaults apply.
	unagreed := Transfer{Sender: "ci.dpe-abidjan", Recipient: "ma.dpe-rabat", OpenedAt: agreed.OpenedAt}
	got, ok := timers.Deadline(unagreed, TimerReceipt)
	want, _ := DefaultTimers{}.Deadline(unagreed, TimerReceipt)
	if !ok || got != want {
		t.Errorf("receipt outside any corridor = %+v, want the default %+v", got, want)
	}
}
