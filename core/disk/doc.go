// Package disk is the served remote disk's protocol core (seed 004's
// distributed remote disk; ARCHITECTURE §5 "Served disk", G6): a pure
// state machine, deterministic, without goroutines, clock or I/O.
//
// SKELETON: the contract is being written with the core (issue 19).
package disk
