package conn

import (
	"math"
	"time"
)

// detector judges one direction of one path from the arrival times of the
// heartbeats on it, phi-accrual style: it keeps an exponentially weighted
// mean and mean deviation of the inter-arrival times, and the path is late
// once the silence exceeds mean + deviations*dev, clamped to [min, max].
type detector struct {
	last   time.Duration // last arrival; valid when seen
	seen   bool
	mean   float64 // ns
	dev    float64 // ns, mean absolute deviation
	n      int     // samples taken
	skip   bool    // do not sample the next gap (it spans a local pause)
	alive  bool
	misses uint64 // times suspected
}

const (
	// detectorDeviations is how many deviations beyond the mean a silence
	// may last: about phi = 8 for a normal distribution.
	detectorDeviations = 6
	// detectorGain is the EWMA weight of a new sample (1/8, as TCP's SRTT).
	detectorGain = 0.125
)

// arrive records a heartbeat at now; it reports whether the path came alive.
func (d *detector) arrive(now time.Duration) bool {
	if d.seen && !d.skip && now > d.last {
		gap := float64(now - d.last)
		if d.n == 0 {
			d.mean, d.dev = gap, gap/2
		} else {
			d.dev += detectorGain * (math.Abs(gap-d.mean) - d.dev)
			d.mean += detectorGain * (gap - d.mean)
		}
		d.n++
	}
	d.skip = false
	if !d.seen || now > d.last {
		d.last = now
	}
	d.seen = true
	was := d.alive
	d.alive = true
	return !was
}

// threshold is how long a silence may last before the path is suspected.
func (d *detector) threshold(lo, hi time.Duration) time.Duration {
	if d.n == 0 {
		return lo
	}
	t := time.Duration(d.mean + detectorDeviations*d.dev)
	return max(lo, min(hi, t))
}

// check suspects the path if it is late at now; it reports whether the
// path just died.
func (d *detector) check(now, lo, hi time.Duration) bool {
	if !d.alive || now-d.last <= d.threshold(lo, hi) {
		return false
	}
	d.alive = false
	d.misses++
	// A path that comes back starts a fresh history: the gap that killed
	// it is not a sample.
	d.skip = true
	return true
}
