package stats_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/stats"
)

func TestQueriesAreReadAndChecked(t *testing.T) {
	now := time.Date(2026, 5, 10, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		params url.Values
		ok     bool
		check  func(stats.Query) bool
	}{
		{"no parameter asks for corridors over the last four completed quarters", url.Values{}, true, func(q stats.Query) bool {
			return len(q.Dimensions) == 1 && q.Dimensions[0] == stats.ByCorridor && len(q.Measures) == 5 &&
				q.From.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)) && q.To.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"dimensions may be comma-separated or repeated", url.Values{"dimensions": {"corridor, quarter"}}, true, func(q stats.Query) bool {
			return len(q.Dimensions) == 2 && q.Dimensions[1] == stats.ByQuarter
		}},
		{"dates are days at midnight UTC", url.Values{"from": {"2025-01-01"}, "to": {"2025-04-01"}}, true, func(q stats.Query) bool {
			return q.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) && q.To.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"RFC 3339 times are accepted", url.Values{"from": {"2025-01-01T01:00:00+01:00"}}, true, func(q stats.Query) bool {
			return q.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"a window must start on a quarter", url.Values{"from": {"2025-02-01"}}, false, nil},
		{"and end on one", url.Values{"from": {"2025-01-01"}, "to": {"2025-03-31"}}, false, nil},
		{"a measure can be chosen", url.Values{"measures": {"overdue"}}, true, func(q stats.Query) bool {
			return len(q.Measures) == 1 && q.Measures[0] == stats.Overdue
		}},
		{"three dimensions are too many", url.Values{"dimensions": {"corridor,purpose,quarter"}}, false, nil},
		{"an unknown dimension is refused", url.Values{"dimensions": {"sex"}}, false, nil},
		{"an unknown measure is refused", url.Values{"measures": {"returned"}}, false, nil},
		{"a measure twice is refused", url.Values{"measures": {"opened,opened"}}, false, nil},
		{"a malformed date is refused", url.Values{"from": {"01/01/2025"}}, false, nil},
		{"an empty window is refused", url.Values{"from": {"2025-04-01"}, "to": {"2025-04-01"}}, false, nil},
		{"more than forty quarters are refused", url.Values{"from": {"2010-01-01"}, "to": {"2026-01-01"}}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := stats.ParseQuery(tc.params)
			if err == nil {
				q = q.WithDefaults(now)
				err = q.Validate()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("got %v", err)
			}
			if err != nil && contracts.CodeOf(err) != contracts.CodeBadRequest {
				t.Fatalf("code %s", contracts.CodeOf(err))
			}
			if tc.check != nil && !tc.check(q) {
				t.Fatalf("query %+v", q)
			}
		})
	}
}

func TestAWithheldCellCarriesNoValueInJSONOrCSV(t *testing.T) {
	fs := concat(facts(12, "ml", "ci", q1), facts(3, "ci", "ml", q1))
	rel := release(t, byCorridor(), fs, "ml", "ci")
	raw, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`{"suppressed":true}`)) || bytes.Contains(raw, []byte(`"value":3`)) || bytes.Contains(raw, []byte(`"value":12`)) {
		t.Fatalf("JSON gives a withheld value away: %s", raw)
	}
	var back stats.Release
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Tables[0].Total.Value != 15 || !back.Tables[0].Cells[0][0].Suppressed {
		t.Fatalf("JSON does not read back: %+v", back.Tables[0])
	}
	var b bytes.Buffer
	if err := stats.WriteCSV(&b, rel, "en"); err != nil {
		t.Fatal(err)
	}
	lines, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var withheld, total int
	for _, l := range lines[1:] {
		if l[0] != "count" {
			continue
		}
		switch {
		case l[3] == stats.TotalCode:
			total++
			if l[8] != "15" || l[4] != "Total" {
				t.Errorf("total line %v", l)
			}
		case l[9] == "true":
			withheld++
			if l[8] != "" {
				t.Errorf("withheld line with a value: %v", l)
			}
		}
	}
	if withheld != 2 || total != 1 {
		t.Fatalf("%d withheld lines and %d total lines in\n%v", withheld, total, lines)
	}
}

func TestStageDurationsNeedEnoughTransfers(t *testing.T) {
	// Transfers receipted after 2 days, one after 20: the median is 2, the
	// 90th percentile shows only once there are ten.
	receipted := func(n int) []stats.Fact {
		fs := facts(n, "ml", "ci", q1)
		for i := range fs {
			fs[i].Received = fs[i].Opened.Add(48 * time.Hour)
		}
		fs[0].Received = fs[0].Opened.Add(20 * 24 * time.Hour)
		return fs
	}
	cases := []struct {
		name         string
		n            int
		median, p90  string
		quarterShown bool
	}{
		{"four transfers publish nothing", 4, "", "", false},
		{"five publish the median only", 5, "2.0", "", true},
		{"ten publish both", 10, "2.0", "2.0", true},
		{"twenty publish both, the slow one past the 90th percentile", 20, "2.0", "2.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := stats.Query{Dimensions: []stats.Dimension{stats.ByQuarter}, Measures: []stats.Measure{stats.Opened}, From: q1, To: q2}
			rel := release(t, q, receipted(tc.n), "ml", "ci")
			sd := rel.Durations[0]
			if sd.Stage != stats.StageReceipt {
				t.Fatalf("first stage %s", sd.Stage)
			}
			if got := show(sd.Overall.MedianDays); got != tc.median {
				t.Errorf("median %q, want %q", got, tc.median)
			}
			if got := show(sd.Overall.P90Days); got != tc.p90 {
				t.Errorf("90th percentile %q, want %q", got, tc.p90)
			}
			if shown := sd.ByQuarter[0].MedianDays != nil; shown != tc.quarterShown || len(sd.ByQuarter) != 1 {
				t.Errorf("by quarter %+v", sd.ByQuarter)
			}
		})
	}
}

func show(v *float64) string {
	if v == nil {
		return ""
	}
	raw, _ := json.Marshal(*v)
	s := string(raw)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func TestReleaseDigestIgnoresTheAuditIndex(t *testing.T) {
	rel := release(t, byCorridor(), facts(6, "ml", "ci", q1), "ml", "ci")
	before, err := stats.ReleaseDigest(rel)
	if err != nil {
		t.Fatal(err)
	}
	rel.AuditIndex = 42
	after, _ := stats.ReleaseDigest(rel)
	rel.Tables[0].Total.Value++
	changed, _ := stats.ReleaseDigest(rel)
	if before != after || before == changed || len(before) != 64 {
		t.Fatalf("digests %s %s %s", before, after, changed)
	}
}

func TestStatisticsAuthorityIDs(t *testing.T) {
	for id, ok := range map[string]bool{
		"statistics:instat-ml": true, "statistics:ansd-sn": true, "statistics:x": false,
		"auditor:instat-ml": false, "ml.instat": false, "statistics:INSTAT": false, "statistics:": false,
	} {
		if stats.ValidReaderID(id) != ok {
			t.Errorf("%q: valid=%v, want %v", id, !ok, ok)
		}
	}
}

func TestOnlyCompletedQuartersArePublished(t *testing.T) {
	now := time.Date(2026, 5, 10, 8, 0, 0, 0, time.UTC)
	for to, ok := range map[string]bool{"2026-04-01": true, "2026-01-01": true, "2026-07-01": false} {
		q, err := stats.ParseQuery(url.Values{"to": {to}})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.WithDefaults(now).Completed(now); (err == nil) != ok {
			t.Errorf("to %s on %s: %v", to, now.Format(time.DateOnly), err)
		}
	}
}
