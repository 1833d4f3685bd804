package disk

// Dirty is the flush rule of one client (a node's export of one disk,
// over all its connections, so that a flush on one connection answers
// for writes acknowledged on another: NBD's multi-connection promise).
// A write acknowledged without FUA is durable only once a later flush is
// acknowledged by the same server epoch: if the epoch changed in between,
// the new server may never have seen it (the old one's page cache died
// with its machine), so that flush fails with EIO, as a disk's would,
// and the client learns the write may be lost.
//
// A flush covers the writes acknowledged before it was sent: take Mark
// when it is sent and give it to Flush when it is answered. Not safe for
// concurrent use (the driver locks it).
type Dirty struct {
	seq  uint64 // writes recorded so far
	runs []run  // unflushed writes in order, by epoch
}

// run is a stretch of unflushed writes acknowledged at one epoch, the
// last of which was write number last.
type run struct {
	epoch uint64
	first uint64
	last  uint64
}

// Wrote records a write acknowledged without FUA at epoch.
func (d *Dirty) Wrote(epoch uint64) {
	d.seq++
	if n := len(d.runs); n > 0 && d.runs[n-1].epoch == epoch {
		d.runs[n-1].last = d.seq
		return
	}
	d.runs = append(d.runs, run{epoch: epoch, first: d.seq, last: d.seq})
}

// Mark is taken when a flush is sent: the flush covers the writes
// recorded until then.
func (d *Dirty) Mark() uint64 { return d.seq }

// Flush records a flush sent at mark and acknowledged at epoch: OK when
// every write it covers was acknowledged at that epoch, EIO when one was
// acknowledged at another (it may be lost). Either way the covered
// writes are forgotten (a loss is reported once).
func (d *Dirty) Flush(mark, epoch uint64) Errno {
	res := OK
	keep := d.runs[:0]
	for _, r := range d.runs {
		if r.first <= mark && r.epoch != epoch {
			res = EIO
		}
		if r.last > mark {
			if r.first <= mark {
				r.first = mark + 1
			}
			keep = append(keep, r)
		}
	}
	d.runs = keep
	return res
}

// Unflushed reports how many acknowledged writes wait for a flush.
func (d *Dirty) Unflushed() int {
	n := 0
	for _, r := range d.runs {
		n += int(r.last - r.first + 1)
	}
	return n
}
