package conn

import (
	"math"
	"time"
)

// detector judges one direction of one path from the arrival times of the
// heartbeats on it, phi-accrual style: it keeps the last detectorWindow
// inter-arrival times, and the path is late once the silence exceeds their
// mean + detectorDeviations standard deviations, clamped to [min, max].
// A path with fewer than detectorWarmup samples is judged as a learned one
// whose missing samples were all the heartbeat interval: what it knows of
// the path before its history (the interval the peer beats at and the
// floor). So a new path suspects a silent peer as quickly as a learned one,
// from its first heartbeat on, while every late heartbeat it has seen
// already widens the threshold as it would on a learned path.
type detector struct {
	last   time.Duration // last arrival; valid when seen
	seen   bool
	gaps   [detectorWindow]float64 // ns, a ring
	n      int                     // samples taken (the ring holds min(n, window))
	skip   bool                    // do not sample the next gap (it spans a pause or an outage)
	alive  bool
	misses uint64 // times suspected
}

const (
	// detectorWindow is how many recent inter-arrival times shape the
	// threshold: a few seconds of heartbeats.
	detectorWindow = 64
	// detectorWarmup is how many samples a path needs before its own
	// history alone sets the threshold; until then the heartbeat interval
	// fills in for the missing ones.
	detectorWarmup = 16
	// detectorDeviations is how many standard deviations beyond the mean
	// a silence may last: far out in any plausible tail.
	detectorDeviations = 8
)

// arrive records a heartbeat at now; it reports whether the path came alive.
func (d *detector) arrive(now time.Duration) bool {
	if d.seen && !d.skip && now > d.last {
		d.gaps[d.n%detectorWindow] = float64(now - d.last)
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

// threshold is how long a silence may last before the path is suspected;
// beat is the heartbeat interval, the prior for samples not taken yet.
func (d *detector) threshold(lo, hi, beat time.Duration) time.Duration {
	k := min(d.n, detectorWindow)
	prior := max(0, detectorWarmup-k) // samples the interval stands in for
	b := float64(beat)
	sum := float64(prior) * b
	for _, g := range d.gaps[:k] {
		sum += g
	}
	mean := sum / float64(k+prior)
	sq := float64(prior) * (b - mean) * (b - mean)
	for _, g := range d.gaps[:k] {
		sq += (g - mean) * (g - mean)
	}
	t := time.Duration(mean + detectorDeviations*math.Sqrt(sq/float64(k+prior)))
	return max(lo, min(hi, t))
}

// check suspects the path if it is late at now; it reports whether the
// path just died.
func (d *detector) check(now, lo, hi, beat time.Duration) bool {
	if !d.alive || now-d.last <= d.threshold(lo, hi, beat) {
		return false
	}
	d.alive = false
	d.misses++
	// A path that comes back starts with a gap that is not a sample.
	d.skip = true
	return true
}
