package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Host is a process's only window on the world: its identity, its clock, its
// random source, the network and its disk. A Host belongs to one start of a
// node; once the node crashes, the Host's Send and Logf do nothing.
type Host struct {
	s     *Sim
	n     *node
	inc   uint64
	boot  uint32
	start time.Duration
	rand  *rand.Rand
}

func (h *Host) live() bool { return h.n.up && h.n.inc == h.inc }

// ID is the node id, 1..Nodes.
func (h *Host) ID() int { return h.n.id }

// Nodes is the number of nodes in the cluster (ids 1..Nodes).
func (h *Host) Nodes() int { return h.s.cfg.Nodes }

// Links is the number of links of every node (0..Links-1).
func (h *Host) Links() int { return h.s.cfg.Links }

// Boot is the persisted boot counter: 1 at the first start, one more at
// every start since. The sim's disk keeps it (synced before the process
// starts), as the production data store will.
func (h *Host) Boot() uint32 { return h.boot }

// Now is the node's local monotonic clock since this start. It runs at the
// node's drifting rate and never goes back.
func (h *Host) Now() time.Duration { return localElapsed(h.s.now-h.start, h.n.num) }

// Rand is this start's own random source, derived from the master seed and
// (node, boot).
func (h *Host) Rand() *rand.Rand { return h.rand }

// Send sends a copy of data from the node's link fromLink to address to.
// Links are separate networks: to.Link must equal fromLink or the packet is
// dropped (traced as "no route"). Addresses out of range panic.
func (h *Host) Send(fromLink int, to Addr, data []byte) {
	if !h.live() {
		return
	}
	h.s.send(Addr{h.n.id, fromLink}, to, data)
}

// Disk is the node's disk. It outlives crashes; only synced writes survive
// one.
func (h *Host) Disk() *Disk { return h.n.disk }

// Logf writes a line to the trace (kept in memory, printed when a check
// fails).
func (h *Host) Logf(format string, args ...any) {
	if !h.live() {
		return
	}
	h.s.trace.add(record{kind: kLog, node: h.n.id, text: fmt.Sprintf(format, args...)})
}
