package conn

import (
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// MaxLinks is the most links a node may have (path bitmaps are 8x8).
const MaxLinks = 8

// Peer is another node of the configured node list.
type Peer struct {
	ID    wire.NodeID
	Links int // how many link addresses it has
}

// Config configures a Conn. Zero durations and sizes take the defaults of
// fillDefaults.
type Config struct {
	Cluster string      // cluster name: part of every packet
	Key     []byte      // 32-byte cluster key
	Self    wire.NodeID // this node
	Boot    uint32      // this start's boot id (persisted by the driver, grows at every start)
	Start   uint64      // this start's random id (crypto/rand, drawn by the driver): see wire.Config
	Links   int         // this node's links
	Peers   []Peer      // every other configured node

	Heartbeat     time.Duration // heartbeat period on every path
	SuspectMin    time.Duration // detector floor
	SuspectMax    time.Duration // detector ceiling
	Undeliverable time.Duration // a peer unreachable this long loses its pending messages
	MinRTO        time.Duration // retransmission timeout floor
	MaxRTO        time.Duration // retransmission timeout ceiling (after backoff)
	Window        int           // unacknowledged messages in flight per peer
	WindowBytes   int           // unacknowledged bytes in flight per peer
	QueueBytes    int           // bytes queued behind the window per peer
	MaxMessage    int           // largest message Send accepts
}

func (c *Config) fillDefaults() {
	if c.Heartbeat == 0 {
		// corral help config: [timers] heartbeat.
		c.Heartbeat = 100 * time.Millisecond
	}
	if c.SuspectMin == 0 {
		// More than 3 heartbeats: one lost heartbeat is never a failure.
		c.SuspectMin = 400 * time.Millisecond
	}
	if c.SuspectMax == 0 {
		// A silent path is suspected by then however noisy its history.
		c.SuspectMax = 3 * time.Second
	}
	if c.Undeliverable == 0 {
		// Long enough to ride out a flapping link, short enough that a
		// caller is not left waiting on a dead peer.
		c.Undeliverable = 5 * time.Second
	}
	if c.MinRTO == 0 {
		// Loopback and LAN round trips are far below this; ticks bound
		// the resolution anyway.
		c.MinRTO = 20 * time.Millisecond
	}
	if c.MaxRTO == 0 {
		// Backoff never waits longer than the detector floor, so a message
		// moves to a new path about when the old one is declared down.
		c.MaxRTO = c.SuspectMin
	}
	if c.Window == 0 {
		// Enough to fill a LAN pipe with small messages.
		c.Window = 256
	}
	if c.WindowBytes == 0 {
		// About 3 ms of a 10 Gb/s link.
		c.WindowBytes = 4 << 20
	}
	if c.QueueBytes == 0 {
		// Beyond this a producer is faster than the peer: tell it.
		c.QueueBytes = 64 << 20
	}
	if c.MaxMessage == 0 {
		// Matches the wire layer's default.
		c.MaxMessage = 16 << 20
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Self == 0 {
		errs = append(errs, errors.New("self node id must be set"))
	}
	if c.Links < 1 || c.Links > MaxLinks {
		errs = append(errs, fmt.Errorf("links = %d: a node has 1..%d links", c.Links, MaxLinks))
	}
	seen := map[wire.NodeID]bool{c.Self: true}
	for _, p := range c.Peers {
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("peer %d listed twice or is this node", p.ID))
		}
		seen[p.ID] = true
		if p.Links < 1 || p.Links > MaxLinks {
			errs = append(errs, fmt.Errorf("peer %d has %d links: 1..%d", p.ID, p.Links, MaxLinks))
		}
	}
	if c.SuspectMin <= 3*c.Heartbeat {
		errs = append(errs, fmt.Errorf("suspect_min %v must exceed 3 heartbeats (%v)", c.SuspectMin, 3*c.Heartbeat))
	}
	if c.SuspectMax < c.SuspectMin {
		errs = append(errs, fmt.Errorf("suspect_max %v is below suspect_min %v", c.SuspectMax, c.SuspectMin))
	}
	if c.MaxRTO < c.MinRTO {
		errs = append(errs, fmt.Errorf("max RTO %v is below min RTO %v", c.MaxRTO, c.MinRTO))
	}
	if c.Window < 1 || c.WindowBytes < 1 || c.QueueBytes < 1 {
		errs = append(errs, errors.New("window, window bytes and queue bytes must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("conn: config: %w", err)
	}
	return nil
}
