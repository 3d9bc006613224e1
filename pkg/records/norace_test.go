//go:build !race

package records_test

// raceEnabled: the race detector changes what allocates; allocation counts are not checked under it.
const raceEnabled = false
