//go:build !race

package probe

// raceEnabled reports whether the race detector is on: tests that measure
// throughput or heap shrink their work under its 5-10x slowdown.
const raceEnabled = false
