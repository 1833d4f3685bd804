package witness

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// slotSize is one node's block in the witness file. Each node writes only
// its own slot (sbd style), so no two nodes ever race on one block.
const slotSize = 512

// ErrBusy means a previous request to the disk witness is still waiting.
var ErrBusy = errors.New("witness: disk witness busy with an earlier request")

// slot is what one node writes in its block of the witness file.
type slot struct {
	Node    uint16   `json:"node"`
	Counter uint64   `json:"counter"` // grows at every write: a changing counter is a live claimant
	Claim   []uint16 `json:"claim"`   // the member set it asks the vote for
	Granted bool     `json:"granted"` // it holds the vote for Claim
	LP      *View    `json:"lp,omitempty"`
}

// Disk is a witness on a file every node can reach (a small shared LUN or a
// file on shared storage). Each node owns one slot; a node claims the vote
// for its view's member set by writing its slot, waiting a lease and
// reading everyone's again: a claimant whose counter moved meanwhile is
// alive. The vote goes to a set only when no live node of another set
// holds it; two sets claiming at once are settled in favour of the one
// with the lowest node id. A holder renews by writing its slot; one that
// stops writing loses the vote a lease later.
type Disk struct {
	path  string
	key   []byte
	self  uint16
	index map[uint16]int // node id -> slot number
	lease time.Duration
	drift float64

	mu        sync.Mutex
	mine      slot
	holding   []uint16          // the set this node holds the vote for
	heldUntil time.Time         // when that vote ends unless renewed
	seen      map[uint16]uint64 // counters at our last read
	sleep     func(ctx context.Context, d time.Duration) error
	now       func() time.Time
}

// NewDisk opens the witness file at path for node self of a cluster whose
// configured node ids are nodes.
func NewDisk(path string, clusterKey []byte, self uint16, nodes []uint16, lease time.Duration, drift float64) (*Disk, error) {
	key, err := macKey(clusterKey)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(nodes)
	slices.Sort(ids)
	d := &Disk{path: path, key: key, self: self, index: map[uint16]int{}, lease: lease, drift: drift,
		seen: map[uint16]uint64{}, sleep: sleepCtx, now: time.Now}
	for i, id := range ids {
		d.index[id] = i
	}
	if _, ok := d.index[self]; !ok {
		return nil, fmt.Errorf("witness: node %d is not in the node list", self)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("witness: disk witness %s: %w", path, err)
	}
	f.Close()
	all, err := d.read()
	if err != nil {
		return nil, err
	}
	if s, ok := all[self]; ok {
		d.mine = s // keep our counter growing across restarts
		d.mine.Granted = false
	}
	d.mine.Node = self
	return d, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Timeout is how long an Ask may take: a claim waits a lease.
func (d *Disk) Timeout() time.Duration {
	return 2*d.wait() + time.Second
}

func (d *Disk) wait() time.Duration {
	return time.Duration(float64(d.lease) * (1 + d.drift))
}

// Ask claims or renews the vote for v's members.
func (d *Disk) Ask(ctx context.Context, node uint16, v View, installed bool) (Answer, error) {
	if !d.mu.TryLock() {
		return Answer{}, ErrBusy
	}
	defer d.mu.Unlock()
	members := slices.Clone(v.Members)
	slices.Sort(members)
	before, err := d.read()
	if err != nil {
		return Answer{}, err
	}
	lp := newestLP(before)
	if lp != nil && !intersects(members, lp.Members) {
		return Answer{Reason: fmt.Sprintf("no member of the last primary view %d/%d %v", lp.Epoch, lp.Coord, lp.Members), LP: lp}, nil
	}
	start := d.now()
	renewal := slices.Equal(d.holding, members) && start.Before(d.heldUntil)
	if err := d.write(members, false, v, installed); err != nil {
		return Answer{}, err
	}
	if !renewal {
		if err := d.sleep(ctx, d.wait()); err != nil {
			return Answer{}, err
		}
	}
	after, err := d.read()
	if err != nil {
		return Answer{}, err
	}
	reason := d.contest(members, before, after, renewal)
	for id, s := range after {
		d.seen[id] = s.Counter
	}
	if reason != "" {
		d.holding = nil
		_ = d.write(members, false, v, installed)
		return Answer{Reason: reason, LP: lp}, nil
	}
	// The vote holds a lease from this write; the caller counts leases
	// from when it asked, so add the time the claim took.
	took := d.now().Sub(start)
	if err := d.write(members, true, v, installed); err != nil {
		return Answer{}, err
	}
	d.holding = members
	d.heldUntil = start.Add(took + time.Duration(float64(d.lease)/(1+d.drift)))
	return Answer{Granted: true, LeaseMS: (took + d.lease).Milliseconds(), LP: newestLP(after)}, nil
}

// contest decides whether another live claimant keeps members from the
// vote: "" if not, else why.
func (d *Disk) contest(members []uint16, before, after map[uint16]slot, renewal bool) string {
	for id, s := range after {
		if id == d.self || len(s.Claim) == 0 || slices.Equal(s.Claim, members) {
			continue
		}
		b, seen := before[id]
		alive := !seen || b.Counter != s.Counter
		if renewal {
			// We held it: a node of another set that wrote since our last
			// renewal and holds it now means we lost it (we were cut off
			// from the disk for longer than we knew).
			last, known := d.seen[id]
			if s.Granted && (!known || last != s.Counter) {
				return fmt.Sprintf("node %d holds the vote for %v", id, s.Claim)
			}
			continue
		}
		if !alive {
			continue // a stale claim: that node stopped writing
		}
		if s.Granted || b.Granted {
			return fmt.Sprintf("node %d holds the vote for %v", id, s.Claim)
		}
		if slices.Min(s.Claim) < slices.Min(members) {
			return fmt.Sprintf("node %d claims it for %v at the same time, and that set has the lower node id", id, s.Claim)
		}
	}
	return ""
}

func newestLP(all map[uint16]slot) *View {
	var lp *View
	for _, s := range all {
		if s.LP != nil && (lp == nil || newer(*s.LP, *lp)) {
			v := *s.LP
			lp = &v
		}
	}
	return lp
}

// write writes this node's slot and syncs it.
func (d *Disk) write(claim []uint16, granted bool, v View, installed bool) error {
	d.mine.Counter++
	d.mine.Claim, d.mine.Granted = claim, granted
	if installed && (d.mine.LP == nil || newer(v, *d.mine.LP)) {
		lp := View{Epoch: v.Epoch, Coord: v.Coord, Members: claim}
		d.mine.LP = &lp
	}
	body, err := json.Marshal(d.mine)
	if err != nil {
		return err
	}
	if 4+len(body)+sha256.Size > slotSize {
		return fmt.Errorf("witness: slot of %d bytes does not fit %d", len(body), slotSize)
	}
	buf := make([]byte, slotSize)
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	m := hmac.New(sha256.New, d.key)
	m.Write(buf[:4+len(body)])
	copy(buf[4+len(body):], m.Sum(nil))
	f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("witness: disk witness: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(buf, int64(d.index[d.self]*slotSize)); err != nil {
		return fmt.Errorf("witness: disk witness: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("witness: disk witness: %w", err)
	}
	return nil
}

// read returns every valid slot by node. Blank or unauthenticated slots
// are left out.
func (d *Disk) read() (map[uint16]slot, error) {
	b, err := os.ReadFile(d.path)
	if err != nil {
		return nil, fmt.Errorf("witness: disk witness: %w", err)
	}
	out := map[uint16]slot{}
	for id, i := range d.index {
		off := i * slotSize
		if off+slotSize > len(b) {
			continue
		}
		blk := b[off : off+slotSize]
		n := int(binary.BigEndian.Uint32(blk))
		if n == 0 || 4+n+sha256.Size > slotSize {
			continue
		}
		m := hmac.New(sha256.New, d.key)
		m.Write(blk[:4+n])
		if !hmac.Equal(m.Sum(nil), blk[4+n:4+n+sha256.Size]) {
			continue
		}
		var s slot
		if json.Unmarshal(blk[4:4+n], &s) != nil || s.Node != id {
			continue
		}
		out[id] = s
	}
	return out, nil
}
