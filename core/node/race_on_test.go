//go:build race

package node

// raceOn: the race detector slows the simulation sweeps about tenfold.
const raceOn = true
