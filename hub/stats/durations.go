package stats

import (
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Duration is how long a stage took for a group of transfers, in days.
// A figure is withheld (nil) when too few transfers took the stage: the
// median below the group's threshold, the 90th percentile below
// minP90Count as well (over fewer transfers it is the slowest one itself).
// How many transfers a figure is over is not published: that count would
// be a table of its own, outside disclosure control.
type Duration struct {
	MedianDays *float64 `json:"median_days"`
	P90Days    *float64 `json:"p90_days"`
}

// Suppressed reports whether the median (and so everything) is withheld.
func (d Duration) Suppressed() bool { return d.MedianDays == nil }

// QuarterDuration is a stage's duration for the transfers opened in one
// quarter.
type QuarterDuration struct {
	Quarter Key `json:"quarter"`
	Duration
}

// MarshalJSON flattens the embedded Duration next to the quarter.
func (q QuarterDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Quarter    Key      `json:"quarter"`
		MedianDays *float64 `json:"median_days"`
		P90Days    *float64 `json:"p90_days"`
	}{q.Quarter, q.MedianDays, q.P90Days})
}

func (q *QuarterDuration) UnmarshalJSON(raw []byte) error {
	var doc struct {
		Quarter    Key      `json:"quarter"`
		MedianDays *float64 `json:"median_days"`
		P90Days    *float64 `json:"p90_days"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	*q = QuarterDuration{Quarter: doc.Quarter, Duration: Duration{MedianDays: doc.MedianDays, P90Days: doc.P90Days}}
	return nil
}

// StageDurations are one stage's durations over the window and, to show
// their trend, for the transfers opened in each quarter of it.
type StageDurations struct {
	Stage     Stage             `json:"stage"`
	Label     contracts.Label   `json:"label"`
	Overall   Duration          `json:"overall"`
	ByQuarter []QuarterDuration `json:"by_quarter"`
}

// minP90Count is the fewest transfers over which a 90th percentile is
// published: below ten, the nearest-rank 90th percentile is the maximum.
const minP90Count = 10

// stageDurations measures each stage for the transfers opened in the
// window. Grouping by the quarter of opening (not of the stage's end)
// keeps each group apart from every count a table publishes.
func stageDurations(q Query, facts []Fact, defaultMin int) []StageDurations {
	quarters := quarterKeys(q.From, q.To)
	var out []StageDurations
	for _, st := range stages {
		all := sample{}
		byQuarter := map[string]*sample{}
		for _, f := range facts {
			start, end := st.Start(f), st.End(f)
			if !q.inWindow(f.Opened) || start.IsZero() || end.IsZero() {
				continue
			}
			d := max(end.Sub(start), 0)
			all.add(d, thresholdOf(f, defaultMin))
			qc := QuarterCode(f.Opened)
			if byQuarter[qc] == nil {
				byQuarter[qc] = &sample{}
			}
			byQuarter[qc].add(d, thresholdOf(f, defaultMin))
		}
		sd := StageDurations{Stage: st.Stage, Label: st.Label, Overall: all.duration(defaultMin)}
		for _, k := range quarters {
			s := byQuarter[k.Code]
			if s == nil {
				s = &sample{}
			}
			sd.ByQuarter = append(sd.ByQuarter, QuarterDuration{Quarter: k, Duration: s.duration(defaultMin)})
		}
		out = append(out, sd)
	}
	return out
}

// sample is the durations of a group and its largest threshold.
type sample struct {
	values []time.Duration
	min    int
}

func (s *sample) add(d time.Duration, threshold int) {
	s.values = append(s.values, d)
	s.min = max(s.min, threshold)
}

func (s *sample) duration(defaultMin int) Duration {
	threshold := s.min
	if threshold <= 0 {
		threshold = defaultMin
	}
	n := len(s.values)
	if n == 0 || n < threshold {
		return Duration{}
	}
	sorted := slices.Clone(s.values)
	slices.Sort(sorted)
	var median time.Duration
	if n%2 == 1 {
		median = sorted[n/2]
	} else {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	out := Duration{MedianDays: days(median)}
	if n >= max(threshold, minP90Count) {
		rank := int(math.Ceil(0.9 * float64(n)))
		out.P90Days = days(sorted[rank-1])
	}
	return out
}

// days rounds d to a tenth of a day.
func days(d time.Duration) *float64 {
	v := math.Round(d.Hours()/24*10) / 10
	return &v
}
