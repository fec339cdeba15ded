//go:build race

package exporter

// raceEnabled reports whether the race detector is on: the heap test
// shrinks its work under its slowdown.
const raceEnabled = true
