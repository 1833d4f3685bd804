package sim

import (
	"math/bits"
	"math/rand/v2"
	"time"
)

// rateDen is the denominator of a clock rate: a node whose rate numerator is
// num sees num/rateDen local nanoseconds per global nanosecond.
const rateDen = 1_000_000_000

// localElapsed converts a global elapsed time into the local elapsed time of a
// clock running at num/rateDen: floor(e·num/rateDen), exact in 128 bits.
func localElapsed(e time.Duration, num uint64) time.Duration {
	if e <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(e), num)
	q, _ := bits.Div64(hi, lo, rateDen)
	return time.Duration(q)
}

// globalElapsed is the inverse of localElapsed: the smallest global elapsed
// time e with localElapsed(e) >= l.
func globalElapsed(l time.Duration, num uint64) time.Duration {
	if l <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(l), rateDen)
	q, r := bits.Div64(hi, lo, num)
	if r != 0 {
		q++
	}
	return time.Duration(q)
}

// splitmix64 is the finaliser of SplitMix64, used to derive independent seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Stream tags, so that every random source of a run is independent.
const (
	streamSetup uint64 = iota + 1 // clock rates, drawn network parameters
	streamNet                     // delays, losses, duplicates, tick phases
	streamNode                    // a node's own source, with (node, boot)
)

// newRand returns the random source for (seed, stream, parts...).
func newRand(seed int64, stream uint64, parts ...uint64) *rand.Rand {
	h := splitmix64(uint64(seed))
	h = splitmix64(h ^ stream)
	for _, p := range parts {
		h = splitmix64(h ^ p)
	}
	return rand.New(rand.NewPCG(h, splitmix64(h^0x5851f42d4c957f2d)))
}
