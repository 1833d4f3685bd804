// Package testsuite holds whole-cluster tests: they run the real corral
// binary as separate processes (on loopback, each test on its own address
// block) and check what a user sees. `make test` runs them one package at a
// time after the package tests, with CORRAL_BIN pointing at bin/corral; run
// alone, they build the binary into a temporary directory.
package testsuite
