//go:build !race

package exporter

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
