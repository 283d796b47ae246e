package stats_test

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/stats"
	"github.com/relais-hub/relais/hub/stats/statstest"
)

func release(t *testing.T, q stats.Query, fs []stats.Fact, countries ...string) stats.Release {
	t.Helper()
	q = q.WithDefaults(q3)
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	return stats.Compute(q, stats.Input{Facts: fs, Countries: countries, Now: q3})
}

func byCorridor() stats.Query {
	return stats.Query{Dimensions: []stats.Dimension{stats.ByCorridor}, Measures: []stats.Measure{stats.Opened}, From: q1, To: q3}
}

func TestDisclosureControlOnSmallCases(t *testing.T) {
	cases := []struct {
		name      string
		facts     []stats.Fact
		countries []string
		// withheld and published name corridor rows.
		withheld, published []string
		total               string // "x" for withheld, else the value
	}{
		{
			name:      "a corridor with fewer than five transfers is withheld, with the empty corridors that keep the total from giving it away",
			facts:     concat(facts(12, "ml", "ci", q1), facts(3, "ci", "ml", q1), facts(7, "bf", "ml", q1)),
			countries: []string{"bf", "ci", "ml"},
			withheld:  []string{"ci-ml", "bf-ci", "ci-bf", "ml-bf"},
			published: []string{"ml-ci", "bf-ml"},
			total:     "22",
		},
		{
			name:      "with two corridors only, the other corridor is withheld rather than the total",
			facts:     concat(facts(12, "ml", "ci", q1), facts(3, "ci", "ml", q1)),
			countries: []string{"ci", "ml"},
			withheld:  []string{"ml-ci", "ci-ml"},
			total:     "15",
		},
		{
			name:      "empty corridors are withheld, and the smallest count is withheld to protect them",
			facts:     concat(facts(40, "ml", "ci", q1), facts(9, "ci", "ml", q1), facts(6, "gn", "ml", q1)),
			countries: []string{"ml", "ci", "gn"},
			withheld:  []string{"ml-gn", "ci-gn", "gn-ci", "gn-ml"},
			published: []string{"ml-ci", "ci-ml"},
			total:     "55",
		},
		{
			name:      "when every corridor is small the grand total is withheld as well",
			facts:     concat(facts(2, "ml", "ci", q1), facts(1, "ci", "ml", q1)),
			countries: []string{"ci", "ml"},
			withheld:  []string{"ml-ci", "ci-ml"},
			total:     "x",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := byCorridor()
			rel := release(t, q, tc.facts, tc.countries...)
			tab := rel.Tables[0]
			for _, code := range tc.withheld {
				if c := tab.Cells[keyIndex(tab.Rows.Keys, code)][0]; !c.Suppressed {
					t.Errorf("%s published as %d, want withheld\n%s", code, c.Value, render(tab))
				}
			}
			for _, code := range tc.published {
				if c := tab.Cells[keyIndex(tab.Rows.Keys, code)][0]; c.Suppressed {
					t.Errorf("%s withheld, want published\n%s", code, render(tab))
				}
			}
			if got := figure(tab.Total); got != tc.total {
				t.Errorf("total %s, want %s\n%s", got, tc.total, render(tab))
			}
			checkDisclosure(t, rel.Query, tab, tc.facts, stats.DefaultMinCellSize)
		})
	}
}

func figure(c stats.Cell) string {
	if c.Suppressed {
		return "x"
	}
	return fmt.Sprint(c.Value)
}

func concat(lists ...[]stats.Fact) []stats.Fact {
	var out []stats.Fact
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func withMin(fs []stats.Fact, min int) []stats.Fact {
	for i := range fs {
		fs[i].MinCellSize = min
	}
	return fs
}

func TestCorridorAgreementsSetTheirOwnThreshold(t *testing.T) {
	cases := []struct {
		name      string
		facts     []stats.Fact
		corridor  string
		published bool
	}{
		{"an agreement asking for ten withholds a corridor of seven", concat(withMin(facts(7, "ml", "ci", q1), 10), facts(30, "ci", "ml", q1)), "ml-ci", false},
		{"the default threshold publishes the same seven", concat(facts(7, "ml", "ci", q1), facts(30, "ci", "ml", q1)), "ml-ci", true},
		{"an agreement allowing three publishes a corridor of three", concat(withMin(facts(3, "ml", "ci", q1), 3), facts(30, "ci", "ml", q1)), "ml-ci", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Two countries only, so that no empty corridor needs hiding.
			q := stats.Query{Dimensions: []stats.Dimension{stats.ByCorridor}, Measures: []stats.Measure{stats.Opened}, From: q1, To: q2}
			rel := release(t, q, tc.facts, "ml", "ci")
			tab := rel.Tables[0]
			got := tab.Cells[keyIndex(tab.Rows.Keys, tc.corridor)][0]
			if got.Suppressed == tc.published {
				t.Errorf("%s: suppressed=%v, want published=%v\n%s", tc.corridor, got.Suppressed, tc.published, render(tab))
			}
			checkDisclosure(t, rel.Query, tab, tc.facts, stats.DefaultMinCellSize)
		})
	}
}

// genFacts draws transfers along a few corridors, many of them rare, with
// the steps that the measures count and agreements' thresholds.
func genFacts(t *rapid.T) []stats.Fact {
	countries := []string{"ml", "ci", "bf", "sn"}[:rapid.IntRange(2, 4).Draw(t, "countries")]
	n := rapid.IntRange(0, 80).Draw(t, "transfers")
	var out []stats.Fact
	for i := 0; i < n; i++ {
		from := rapid.SampledFrom(countries).Draw(t, "from")
		to := rapid.SampledFrom(countries).Draw(t, "to")
		if from == to {
			continue
		}
		opened := q1.Add(time.Duration(rapid.IntRange(0, 180*24).Draw(t, "opened_hours")) * time.Hour)
		f := fact(from, to, opened)
		f.Transfer = fmt.Sprintf("t%d", i)
		f.Purpose = rapid.SampledFrom(append(contracts.Purposes.Codes(), "")).Draw(t, "purpose")
		f.AgeBand = rapid.SampledFrom(contracts.AgeBands.Codes()).Draw(t, "age_band")
		f.MinCellSize = rapid.SampledFrom([]int{0, 3, 5, 8}).Draw(t, "min_cell_size")
		if rapid.Bool().Draw(t, "answered") {
			at := opened.Add(time.Duration(rapid.IntRange(1, 400).Draw(t, "answer_hours")) * time.Hour)
			if rapid.IntRange(0, 3).Draw(t, "declined") == 0 {
				f.Declined = at
			} else {
				f.Accepted = at
				if rapid.Bool().Draw(t, "decided") {
					f.Outcome = rapid.SampledFrom(contracts.BIDDecisions.Codes()).Draw(t, "outcome")
				}
			}
		}
		out = append(out, f)
	}
	return out
}

func TestNoWithheldFigureCanBeRecoveredFromWhatIsPublished(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fs := genFacts(rt)
		dims := rapid.SampledFrom([][]stats.Dimension{
			{stats.ByCorridor}, {stats.ByPurpose}, {stats.ByQuarter},
			{stats.ByCorridor, stats.ByQuarter}, {stats.ByPurpose, stats.ByOutcome},
			{stats.ByCorridor, stats.ByAgeBand}, {stats.ByQuarter, stats.ByCorridor},
		}).Draw(rt, "dimensions")
		q := stats.Query{Dimensions: dims, Measures: []stats.Measure{stats.Opened, stats.Accepted, stats.Declined}, From: q1, To: q3}
		rel := stats.Compute(q, stats.Input{Facts: fs, Countries: []string{"ml", "ci"}, Now: q3})
		for _, tab := range rel.Tables {
			want := truth(q, tab, fs, stats.DefaultMinCellSize)
			for e, x := range want {
				got := statstest.Figure(tab, e)
				if !got.Suppressed && (got.Value != x.value || got.Value < x.min) {
					rt.Fatalf("%s %s: published %d, true %d, threshold %d\n%s", tab.Measure, e, got.Value, x.value, x.min, render(tab))
				}
				if x.value < x.min && !got.Suppressed {
					rt.Fatalf("%s %s: %d below threshold %d is published\n%s", tab.Measure, e, x.value, x.min, render(tab))
				}
			}
			recovered, err := statstest.Recovered(tab)
			if err != nil {
				rt.Fatalf("%s: %v\n%s", tab.Measure, err, render(tab))
			}
			if len(recovered) > 0 {
				rt.Fatalf("%s: withheld figures %v can be recovered\n%s", tab.Measure, recovered, render(tab))
			}
		}
	})
}

func TestTheAttackerFindsAFigureLeftAloneInItsLine(t *testing.T) {
	// Published: a row total, and all of its cells but one. The attacker
	// must find that one: this keeps the property test above honest.
	tab := stats.Table{
		Measure: stats.Opened,
		Rows:    stats.Axis{Dimension: stats.ByCorridor, Keys: []stats.Key{{Code: "a"}, {Code: "b"}}},
		Cells:   [][]stats.Cell{{{Value: 7}}, {{Suppressed: true}}},
		Total:   stats.Cell{Value: 9},
	}
	recovered, err := statstest.Recovered(tab)
	if err != nil {
		t.Fatal(err)
	}
	want := statstest.Entry{Place: statstest.PlaceCell, Row: 1}
	if len(recovered) != 1 || recovered[0] != want {
		t.Fatalf("recovered %v, want %v", recovered, want)
	}
	// Two zeros withheld under a published total equal to the rest are
	// pinned too: counts are never negative.
	tab.Cells = [][]stats.Cell{{{Value: 9}}, {{Suppressed: true}}, {{Suppressed: true}}}
	tab.Rows.Keys = append(tab.Rows.Keys, stats.Key{Code: "c"})
	if recovered, _ := statstest.Recovered(tab); len(recovered) != 2 {
		t.Fatalf("recovered %v, want both withheld zeros", recovered)
	}
}
