// Package policies holds the corridor agreements shipped with Relais. They
// are data: the hub evaluates them (hub/policy). A hub started without
// --policies copies them into its data directory on first start, where
// operators edit them; the hub reloads them on change.
package policies

import "embed"

// Default are the shipped agreements, under corridors/.
//
//go:embed corridors/*.yaml
var Default embed.FS
