package importkit

import (
	"testing"
	"time"
)

func TestAgeAtCountsOnlyBirthdaysAlreadyPassed(t *testing.T) {
	born := time.Date(2010, 4, 12, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		at   time.Time
		want int
	}{
		{"the day before the birthday", time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC), 15},
		{"on the birthday", time.Date(2026, 4, 12, 0, 0, 0, 0, time.UTC), 16},
		{"an earlier month of the year", time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC), 15},
		{"a later month of the year", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AgeAt(born, tt.at); got != tt.want {
				t.Errorf("AgeAt = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAgeBandPutsEachBoundaryInTheUpperBand(t *testing.T) {
	for age, want := range map[int]string{0: "0-5", 5: "0-5", 6: "6-11", 11: "6-11", 12: "12-14", 14: "12-14", 15: "15-17", 17: "15-17", 18: "18+", 40: "18+"} {
		if got := AgeBand(age); got != want {
			t.Errorf("AgeBand(%d) = %q, want %q", age, got, want)
		}
	}
}
