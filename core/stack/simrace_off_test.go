//go:build !race

package stack_test

const simRaceOn = false
