package agent

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 11, 21, 14, 0, 0, 0, time.UTC)
	st := Status{
		Agency: "ci.dpe-abidjan", Hub: "https://relais.example",
		Queued: 3, OldestQueued: now.Add(-2 * time.Hour),
		AwaitingReceipt: 2, Unread: 1,
		LastSync:  now.Add(-26 * time.Hour),
		LastError: "unreachable", LastErrorAt: now.Add(-time.Minute),
		OverdueKnown: true, OverdueAsOf: now.Add(-26 * time.Hour),
		Overdue: []OverdueTransfer{{Transfer: "0193a4b2-7c1e-7def-8a9b-0123456789ab", State: "requested",
			Overdue: []Deadline{{Timer: "receipt", Stage: "reminder", Party: "ml.dnpef", DueAt: now.Add(-30 * time.Hour)}}}},
	}
	cases := []struct {
		lang string
		want []string
	}{
		{"fr", []string{"Envois en attente : 3 (le plus ancien composé il y a 2 h)", "Dernière synchronisation réussie : 2026-11-20 12:00 UTC (il y a 26 h)",
			"Dernier échec : unreachable", "En attente d'accusé de réception : 2", "Messages reçus non lus : 1",
			"Transferts en retard (dernier état connu, 2026-11-20 12:00 UTC) : 1", "receipt attendu de ml.dnpef depuis le 2026-11-20 08:00 UTC"}},
		{"en", []string{"Queued outgoing items: 3 (oldest composed 2 h ago)", "Last successful sync: 2026-11-20 12:00 UTC (26 h ago)",
			"Last failure: unreachable", "Awaiting the recipient's receipt: 2", "Unread received messages: 1",
			"Overdue transfers (last known, 2026-11-20 12:00 UTC): 1", "receipt expected from ml.dnpef since 2026-11-20 08:00 UTC"}},
	}
	for _, c := range cases {
		t.Run("the status reads in "+c.lang, func(t *testing.T) {
			text := st.Text(c.lang, now)
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
		})
	}

	t.Run("a failure older than the last sync is not shown", func(t *testing.T) {
		old := st
		old.LastErrorAt = old.LastSync.Add(-time.Hour)
		if text := old.Text("en", now); strings.Contains(text, "Last failure") {
			t.Fatalf("shown:\n%s", text)
		}
	})

	t.Run("an agent that never reached the hub says so", func(t *testing.T) {
		text := Status{Agency: "ci.dpe-abidjan"}.Text("fr", now)
		for _, w := range []string{"Dernière synchronisation réussie : jamais", "Transferts en retard : inconnu"} {
			if !strings.Contains(text, w) {
				t.Errorf("missing %q in:\n%s", w, text)
			}
		}
	})
}

func TestLiveStatusFallsBackToTheLastKnownOverdueTransfers(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci := newTestAgent(t, th, "ci.dpe-abidjan")
	mustSync(t, ci)
	live, err := ci.Status(ctx, true)
	if err != nil || !live.OverdueLive || !live.OverdueKnown {
		t.Fatalf("live status with the hub up: %+v %v", live, err)
	}
	ci.Faults.set(down)
	fallback, err := ci.Status(ctx, true)
	if err != nil || fallback.OverdueLive || !fallback.OverdueKnown || !fallback.OverdueAsOf.Equal(live.OverdueAsOf) {
		t.Fatalf("live status with the hub down: %+v %v", fallback, err)
	}
}
