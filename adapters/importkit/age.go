// Package importkit holds what the case-management importers
// (adapters/csvimport, adapters/primero) share when they turn a source
// record into a contract message.
package importkit

import "time"

// AgeAt is the age in whole years on day at of someone born on born.
func AgeAt(born, at time.Time) int {
	years := at.Year() - born.Year()
	if at.Month() < born.Month() || (at.Month() == born.Month() && at.Day() < born.Day()) {
		years--
	}
	return years
}

// AgeBand is the contract's age band (contracts vocabulary "age_band") for
// an age in years.
func AgeBand(age int) string {
	switch {
	case age < 6:
		return "0-5"
	case age < 12:
		return "6-11"
	case age < 15:
		return "12-14"
	case age < 18:
		return "15-17"
	}
	return "18+"
}
