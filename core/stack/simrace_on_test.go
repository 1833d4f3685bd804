//go:build race

package stack_test

// simRaceOn: the race detector slows the simulation about tenfold, so
// TestSimulation sweeps a tenth of its seeds under it (make race).
const simRaceOn = true
