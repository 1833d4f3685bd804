package node

import (
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
)

// dropLogEvery is how often the log names again a source whose packets
// keep failing authentication (or use another wire version): the first
// drop is logged at once, then a reminder with the count every few
// minutes, so a misconfigured node stays in sight without a line per
// packet, and a flood of forgeries does not flood the log.
const dropLogEvery = 5 * time.Minute

// dropLogMax bounds the sources remembered (forged source addresses must
// not grow the map without end); beyond it the map starts over.
const dropLogMax = 1024

// dropLogBurst bounds the lines per reason per dropLogEvery over all
// sources: the source address, the claimed sender and its boot id are not
// authenticated, so a stranger can make each forged packet look like a new
// source; past the burst, drops are only counted (and the count is in the
// next line).
const dropLogBurst = 10

// dropLog is what the driver remembers to rate-limit its log lines about
// dropped packets (issue 16): the core counts every drop (metrics), the
// log names the sender at once and then every dropLogEvery, and a stale
// boot once.
type dropLog struct {
	last  map[dropKey]time.Time // last line per (reason, source address)
	count map[dropKey]int       // drops since that line
	stale map[staleKey]bool     // (peer, boot) already logged
	newer map[uint32]bool       // boot ids of this node peers saw, already logged (noteNewerSelf)
	since map[string]time.Time  // start of the current period, per reason
	lines map[string]int        // lines logged in it, per reason
	quiet map[string]int        // lines held back in it, per reason
}

// allow reports whether a line of reason may be logged now (at most
// dropLogBurst per dropLogEvery), and how many were held back since the
// last one allowed.
func (d *dropLog) allow(reason string, now time.Time) (bool, int) {
	if d.since == nil {
		d.since, d.lines, d.quiet = map[string]time.Time{}, map[string]int{}, map[string]int{}
	}
	if now.Sub(d.since[reason]) >= dropLogEvery {
		d.since[reason], d.lines[reason] = now, 0
	}
	if d.lines[reason] >= dropLogBurst {
		d.quiet[reason]++
		return false, 0
	}
	d.lines[reason]++
	held := d.quiet[reason]
	d.quiet[reason] = 0
	return true, held
}

// dropKey is what a drop line is rate-limited by: the reason and the node
// the packet seems to come from (guessName: one line per peer, whichever
// of its links the packets came on).
type dropKey struct {
	reason string
	from   string
}

type staleKey struct {
	id   wire.NodeID
	boot uint32
}

// receivePacket hands a datagram to conn and logs what the wire layer
// dropped, rate-limited.
func (n *Node) receivePacket(p transport.Packet) {
	err := n.st.Step(n.now(), stack.Packet{Link: p.Link, Data: p.Data})
	if err == nil {
		return
	}
	var de *conn.DropError
	if !errors.As(err, &de) {
		return
	}
	switch {
	case errors.Is(err, wire.ErrAuth):
		n.noteDrop("auth", p.From.Addr(), de.From, authDropFormat)
	case errors.Is(err, wire.ErrVersion):
		n.noteDrop("version", p.From.Addr(), de.From, "packets from %s (%s) use another wire version or packet kind: every node must run the same corral version")
	case errors.Is(err, wire.ErrUnknownSender):
		n.noteDrop("unknown", p.From.Addr(), de.From, "packets from %s (%s) come from a node id that is not in the node list: fix [[nodes]] on one side")
	case errors.Is(err, wire.ErrStaleBoot):
		n.noteStale(p.From.Addr(), de)
	case errors.Is(err, wire.ErrNewerSelf):
		n.noteNewerSelf(de)
	}
}

// authDropFormat is the line about packets failing authentication: the
// source address, the node it seems to be, and what to do.
const authDropFormat = "packets from %s (%s) fail authentication: different cluster key? Every node's key_file must hold the same key (corral help start): give the node that differs the cluster's key file and restart it"

// noteNewerSelf handles an authentic packet addressed to an incarnation of
// this node at a boot id not below this start's: the data directory was
// wiped or restored, and the peers drop this start's packets as stale.
// A start that has never joined (no view with another node, no primary
// view, so no resources) persists that boot id and stops with ErrRestart,
// and the agent starts again above it; one that has joined only says so,
// once per boot id: restarting it is the operator's call.
func (n *Node) noteNewerSelf(de *conn.DropError) {
	if n.fatalErr != nil {
		return // stopping already
	}
	next := max(de.SelfBoot+1, bootFloor(time.Now()))
	if n.joined || de.SelfBoot == math.MaxUint32 { // no boot id above it
		d := &n.drops
		if d.newer == nil {
			d.newer = map[uint32]bool{}
		}
		if d.newer[de.SelfBoot] || len(d.newer) >= dropLogMax {
			return
		}
		d.newer[de.SelfBoot] = true
		n.log.Error(fmt.Sprintf("%s has seen boot %d of this node, not older than this start's boot %d: its data directory was wiped or restored, and %s drops this node's packets. "+
			"This node has joined a view since, so it does not restart by itself: restart it when its resources may move (it then starts at boot %d or above)",
			n.names[de.From], de.SelfBoot, n.boot, n.names[de.From], next), "logged", "once per boot id")
		return
	}
	n.log.Warn(fmt.Sprintf("peers have seen boot %d of this node, not older than this start's boot %d: its data directory was wiped or restored; starting again at boot %d",
		de.SelfBoot, n.boot, next), "peer", n.names[de.From])
	if err := n.store.RaiseBoot(de.SelfBoot); err != nil {
		n.fatal(err)
		return
	}
	n.fatalErr = fmt.Errorf("%w (boot %d, this start %d)", ErrRestart, de.SelfBoot, n.boot)
	n.closeOnce.Do(func() { close(n.done) })
}

// noteDrop logs a drop of reason from addr at once, then at most once per
// dropLogEvery per (reason, node it seems to come from), with the number
// of drops since the last line. claimed is the sender id the packet's
// header claims (not authenticated: "n3?").
func (n *Node) noteDrop(reason string, addr netip.Addr, claimed wire.NodeID, format string) {
	d := &n.drops
	if d.last == nil || len(d.last) >= dropLogMax {
		d.last, d.count = map[dropKey]time.Time{}, map[dropKey]int{}
	}
	name := n.guessName(addr, claimed)
	k := dropKey{reason, name}
	d.count[k]++
	now := time.Now()
	if last, ok := d.last[k]; ok && now.Sub(last) < dropLogEvery {
		return
	}
	ok, held := d.allow(reason, now)
	if !ok {
		return
	}
	d.last[k] = now
	n.log.Warn(fmt.Sprintf(format, addr, name), "packets", d.count[k], "per", dropLogEvery.String(),
		"other_sources_not_logged", held)
	d.count[k] = 0
}

// noteStale logs once per (peer, boot) that a peer's packets come from an
// older boot than one heard before, and what to do.
func (n *Node) noteStale(addr netip.Addr, de *conn.DropError) {
	d := &n.drops
	if d.stale == nil || len(d.stale) >= dropLogMax {
		d.stale = map[staleKey]bool{}
	}
	k := staleKey{de.From, de.Boot}
	if d.stale[k] {
		return
	}
	// Not marked when held back: the peer's next packet logs it.
	ok, held := d.allow("stale", time.Now())
	if !ok {
		return
	}
	d.stale[k] = true
	var heard uint32
	if st, ok := n.st.Peer(de.From); ok {
		heard = st.Boot
	}
	name := n.guessName(addr, de.From)
	n.log.Warn(fmt.Sprintf("packets from %s (%s) carry boot id %d, not newer than boot %d heard before: dropped as a replay or an older incarnation. "+
		"A node started from a restored or wiped data directory gets a boot id from its clock; if that is below the one heard, it starts again by itself above it once this node's packets reach it, unless it has joined a view (its log says so): then restart it",
		addr, name, de.Boot, heard), "logged", "once per boot id", "other_boot_ids_not_logged", held)
}

// guessName names the node a packet seems to come from: the configured
// node with that address, else the id the header claims, with a "?" since
// neither is authenticated.
func (n *Node) guessName(addr netip.Addr, claimed wire.NodeID) string {
	for id, aps := range n.addrs {
		for _, ap := range aps {
			if ap.Addr() == addr {
				return n.names[id] + "?"
			}
		}
	}
	if nm, ok := n.names[claimed]; ok {
		return nm + "?"
	}
	return fmt.Sprintf("node id %d?", claimed)
}

// bootFloor is the least boot id a start at wall-clock time now takes: its
// Unix seconds (0 after 2106 or before 1970: the persisted counter alone).
func bootFloor(now time.Time) uint32 {
	if s := now.Unix(); s > 0 && s <= math.MaxUint32 {
		return uint32(s)
	}
	return 0
}

// startID draws this start's random id (wire.Config.Start): with the boot
// id it picks the incarnation's packet key, so nonces never repeat even if
// a restored data directory repeats a boot id.
func startID() (uint64, error) {
	var b [8]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("node: draw the start id: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}
