package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// KeySize is the size of the cluster key.
const KeySize = 32

// Config configures an Endpoint. Zero values of the limits take the defaults
// that Config.withDefaults lists.
type Config struct {
	Cluster string // cluster name; packets of other clusters are dropped
	Key     []byte // cluster key, KeySize bytes
	Self    NodeID // this node
	Boot    uint32 // this node's boot id: persisted, greater at every start
	// Start is this start's random id, drawn by the driver from
	// crypto/rand at every start (tests pass any value). With the boot id
	// it names this incarnation: it picks the incarnation's packet key, so
	// a node whose data directory was wiped or restored, and whose boot id
	// repeats, never repeats a (key, nonce) pair.
	Start uint64
	// Peers are the node ids that may send to this node (every other
	// configured node). A packet from any other id is dropped before any
	// state exists for it (ErrUnknownSender). Nil accepts any id (tests).
	Peers []NodeID

	MaxPacket         int           // largest datagram Seal produces
	MaxMessage        int           // largest message Seal accepts and Open reassembles
	MaxReassembly     int           // bytes of partial messages held per sender
	ReassemblyTimeout time.Duration // how long a partial message waits for its fragments
}

// Limits of the settings.
const (
	minPacket = 128   // room for the header, a fragment header and some data
	maxPacket = 65507 // largest UDP payload over IPv4
)

// withDefaults returns c with every unset limit at its default.
func (c Config) withDefaults() Config {
	if c.MaxPacket == 0 {
		c.MaxPacket = 1400 // fits a 1500-byte Ethernet MTU with IPv6, UDP and tunnel headers
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = 4 << 20 // 4 MiB: at most MaxReassembly, so any message can be reassembled
	}
	if c.MaxReassembly == 0 {
		c.MaxReassembly = 4 << 20 // 4 MiB per sender: 1 GiB at worst for 256 nodes
	}
	if c.ReassemblyTimeout == 0 {
		c.ReassemblyTimeout = 5 * time.Second // far above a fragment burst's spread; circuits retransmit
	}
	return c
}

// validate reports every problem of c, which has its defaults.
func (c Config) validate() error {
	var errs []error
	if c.Cluster == "" {
		errs = append(errs, errors.New("cluster name is empty"))
	}
	if len(c.Key) != KeySize {
		errs = append(errs, fmt.Errorf("key is %d bytes, want %d", len(c.Key), KeySize))
	}
	if c.MaxPacket < minPacket || c.MaxPacket > maxPacket {
		errs = append(errs, fmt.Errorf("max packet %d is outside [%d, %d]", c.MaxPacket, minPacket, maxPacket))
	}
	if c.MaxMessage < 1 {
		errs = append(errs, fmt.Errorf("max message %d must be positive", c.MaxMessage))
	} else if c.MaxPacket >= minPacket && c.MaxPacket <= maxPacket {
		if limit := 0xFFFF * (c.MaxPacket - Overhead - fragLen); c.MaxMessage > limit {
			errs = append(errs, fmt.Errorf("max message %d exceeds 65535 fragments of max packet %d (%d bytes)",
				c.MaxMessage, c.MaxPacket, limit))
		}
	}
	if c.MaxReassembly < c.MaxMessage {
		errs = append(errs, fmt.Errorf("max reassembly %d is less than max message %d", c.MaxReassembly, c.MaxMessage))
	}
	if c.ReassemblyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("reassembly timeout %v must be positive", c.ReassemblyTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wire: bad config: %w", err)
	}
	return nil
}

// Endpoint seals the packets one node sends and opens the packets it
// receives. It is not safe for concurrent use.
type Endpoint struct {
	cfg     Config
	prk     []byte      // HKDF pseudorandom key of the cluster key: incarnation keys expand from it
	aead    cipher.AEAD // this incarnation's key: what Seal uses
	cluster [8]byte
	next    uint64 // counter of the next packet sealed
	known   map[NodeID]bool
	peers   map[NodeID]*peer
	cand    candidate // the last incarnation key derived for a packet not yet authentic
	scratch []byte    // plaintext of a fragment being opened
	stats   Stats
}

// candidate caches the key of a sender incarnation the Endpoint has no
// authentic packet from yet, so a burst from a new incarnation derives it
// once.
type candidate struct {
	from  NodeID
	boot  uint32
	start uint64
	aead  cipher.AEAD
}

// peer is what an Endpoint knows of one sender, created by the first
// authenticated packet from it.
type peer struct {
	boot     uint32
	start    uint64
	aead     cipher.AEAD // the incarnation's key
	win      window
	partials map[uint64]*partial // by message id
	held     int                 // bytes counted against MaxReassembly
	next     time.Duration       // earliest deadline of a partial; 0 if none
	dead     [deadRing]dead
	deadNext int
}

// Delivery is the result of opening a packet.
type Delivery struct {
	// From, Boot and Start name the sender incarnation. On a drop they are
	// what the header claims (authentic only for the drops that follow
	// authentication: ErrBadFragment, ErrOversize of a whole message,
	// ErrReassemblyLimit, ErrExpired), so the driver can say who seems to
	// send what it drops.
	From  NodeID
	Boot  uint32
	Start uint64
	// Unbound is set when the sender did not know this node's incarnation
	// (destination boot 0): the packet may have been recorded before this
	// node started. Only heartbeats may be taken from such a packet.
	Unbound bool
	// NewBoot is set on the first authenticated packet of a sender
	// incarnation: the first packet from that sender, or the first from a
	// higher boot id than before (the peer restarted; its old incarnation's
	// partial messages were discarded).
	NewBoot bool
	// SelfBoot is set with ErrNewerSelf: the boot id of this node that
	// the authentic packet is addressed to, at least this start's.
	SelfBoot uint32
	// Msg is the message; nil when a fragment was stored and its message is
	// not complete yet. It never aliases the packet.
	Msg []byte
}

// New returns an Endpoint for node cfg.Self, or an error naming every bad
// setting.
func New(cfg Config) (*Endpoint, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, cfg.Key, []byte("corral wire v2"))
	if err != nil {
		return nil, fmt.Errorf("wire: derive key: %w", err)
	}
	cfg.Key = nil // the derived key is all that is kept
	e := &Endpoint{cfg: cfg, prk: prk, peers: make(map[NodeID]*peer)}
	e.cluster = clusterID(cfg.Cluster)
	if e.aead, err = e.incarnationKey(cfg.Self, cfg.Boot, cfg.Start); err != nil {
		return nil, err
	}
	if cfg.Peers != nil {
		e.known = make(map[NodeID]bool, len(cfg.Peers))
		for _, id := range cfg.Peers {
			e.known[id] = true
		}
	}
	return e, nil
}

// incarnationKey returns the AEAD of the packets sender incarnation (from,
// boot, start) seals: AES-256-GCM under HKDF-Expand(PRK, "corral wire v2
// packet key for cluster NAME", from, boot, start), PRK =
// HKDF-Extract(salt "corral wire v2", cluster key).
func (e *Endpoint) incarnationKey(from NodeID, boot uint32, start uint64) (cipher.AEAD, error) {
	info := make([]byte, 0, 64+len(e.cfg.Cluster))
	info = append(info, "corral wire v2 packet key for cluster "...)
	info = append(info, e.cfg.Cluster...)
	info = append(info, 0)
	info = binary.BigEndian.AppendUint16(info, uint16(from))
	info = binary.BigEndian.AppendUint32(info, boot)
	info = binary.BigEndian.AppendUint64(info, start)
	key, err := hkdf.Expand(sha256.New, e.prk, string(info), KeySize)
	if err != nil {
		return nil, fmt.Errorf("wire: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wire: new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wire: new gcm: %w", err)
	}
	return aead, nil
}

// clusterID returns the first 8 bytes of SHA-256 of the cluster name.
func clusterID(name string) [8]byte {
	sum := sha256.Sum256([]byte(name))
	return [8]byte(sum[:8])
}

// Stats returns a copy of the counters.
func (e *Endpoint) Stats() Stats { return e.stats }

// Seal returns the packets that carry m to destination to: one if m fits
// in MaxPacket, else fragments of at most MaxPacket bytes each. Each packet
// takes a new counter. The packets share one allocation and do not alias m.
func (e *Endpoint) Seal(to Dest, m []byte) ([][]byte, error) {
	if len(m) > e.cfg.MaxMessage {
		return nil, fmt.Errorf("wire: seal %d-byte message: %w (max %d)", len(m), ErrOversize, e.cfg.MaxMessage)
	}
	if len(m)+Overhead <= e.cfg.MaxPacket {
		if e.next >= counterLimit {
			return nil, ErrCounterExhausted
		}
		buf := make([]byte, headerLen+len(m), headerLen+len(m)+tagLen)
		copy(buf[headerLen:], m)
		pkt := e.seal(buf, kindWhole, to, e.next)
		e.next++
		e.stats.Sealed++
		e.stats.SealedMessages++
		return [][]byte{pkt}, nil
	}
	per := e.cfg.MaxPacket - Overhead - fragLen
	count := (len(m) + per - 1) / per // validate keeps it <= 0xFFFF
	if e.next+uint64(count) > counterLimit {
		return nil, ErrCounterExhausted
	}
	id := e.next
	buf := make([]byte, count*(Overhead+fragLen)+len(m))
	pkts := make([][]byte, count)
	for i := range count {
		lo, hi := fragSpan(len(m), count, i)
		n := headerLen + fragLen + hi - lo
		p := buf[: n : n+tagLen]
		buf = buf[n+tagLen:]
		f := p[headerLen:]
		binary.BigEndian.PutUint64(f[fragID:], id)
		binary.BigEndian.PutUint16(f[fragIndex:], uint16(i))
		binary.BigEndian.PutUint16(f[fragCount:], uint16(count))
		binary.BigEndian.PutUint32(f[fragSize:], uint32(len(m)))
		copy(f[fragLen:], m[lo:hi])
		pkts[i] = e.seal(p, kindFragment, to, id+uint64(i))
	}
	e.next += uint64(count)
	e.stats.Sealed += uint64(count)
	e.stats.SealedMessages++
	return pkts, nil
}

// seal fills in the header of p, whose plaintext follows the header, and
// encrypts the plaintext in place; p must have room for the tag.
func (e *Endpoint) seal(p []byte, kind uint8, to Dest, counter uint64) []byte {
	if to.Boot == 0 {
		to.Start = 0
	}
	h := header{kind: kind, from: e.cfg.Self, boot: e.cfg.Boot, start: e.cfg.Start, to: to, counter: counter}
	putHeader(p, &e.cluster, h)
	n := nonce(h.counter)
	e.aead.Seal(p[headerLen:headerLen], n[:], p[headerLen:], p[:headerLen])
	return p[:len(p)+tagLen]
}

// Open authenticates a received datagram and returns the message it carries
// or completes. now is the node's monotonic time, used to expire partial
// messages. On error the packet was dropped: the error is one of the drop
// reasons (ErrShort, ErrBadMagic, ...), and Stats counts it. A dropped
// packet that was authentic (a bad or late fragment) still reports From,
// Boot and NewBoot, so that a restart is never missed; Msg is nil. Open
// never keeps or modifies pkt.
func (e *Endpoint) Open(now time.Duration, pkt []byte) (Delivery, error) {
	e.stats.Received++
	d, err := e.open(now, pkt)
	if err != nil {
		if c := e.stats.counter(err); c != nil {
			*c++
		}
		d.Msg = nil
		return d, err
	}
	e.stats.Opened++
	if d.Msg != nil {
		e.stats.Delivered++
	}
	return d, nil
}

func (e *Endpoint) open(now time.Duration, pkt []byte) (Delivery, error) {
	if len(pkt) > e.cfg.MaxPacket+packetSlack {
		return Delivery{}, ErrOversize
	}
	if len(pkt) < Overhead {
		return Delivery{}, ErrShort
	}
	if pkt[offMagic] != magic0 || pkt[offMagic+1] != magic1 {
		return Delivery{}, ErrBadMagic
	}
	if pkt[offVersion] != wireVersion || pkt[offKind] != kindWhole && pkt[offKind] != kindFragment {
		return Delivery{}, ErrVersion
	}
	if [8]byte(pkt[offCluster:offCluster+8]) != e.cluster {
		return Delivery{}, ErrCluster
	}
	h := getHeader(pkt)
	d := Delivery{From: h.from, Boot: h.boot, Start: h.start, Unbound: h.to.Boot == 0}
	if h.from == e.cfg.Self {
		return d, ErrOwn
	}
	if e.known != nil && !e.known[h.from] {
		return d, ErrUnknownSender // before any state exists for it
	}
	// Bound to its destination: this node, and this incarnation unless
	// the sender did not know it yet.
	if h.to.ID != e.cfg.Self || h.to.Boot == 0 && h.to.Start != 0 {
		return d, ErrMisaddressed
	}
	if h.counter >= counterLimit {
		return d, ErrAuth // no sender seals it; the nonce would repeat
	}
	p := e.peers[h.from]
	same := p != nil && h.boot == p.boot && h.start == p.start
	// Addressed to another incarnation of this node (the sender has not
	// heard of this one yet): never delivered, but an authentic one from
	// a sender incarnation newer than the one known still teaches it, so
	// that a replayed unbound packet of a dead incarnation, taken by this
	// node after it started, cannot bind it to that incarnation for good
	// (doc.go, "Incarnations, destinations and replays").
	teach := h.to.Boot != 0 && (h.to.Boot != e.cfg.Boot || h.to.Start != e.cfg.Start)
	// Addressed to an incarnation of this node not older than this one:
	// if authentic, a key holder heard this node at that boot, so this
	// start's data directory was wiped or restored (ErrNewerSelf; the
	// node starts again above it).
	newer := teach && h.to.Boot >= e.cfg.Boot
	if teach && same && !newer {
		return d, ErrMisaddressed
	}
	if p != nil && !same {
		// A boot id below the one seen, or the same boot id with another
		// start id: an older incarnation (a replay), or a node restarted
		// from a restored data directory with its clock set back (doc.go).
		if h.boot <= p.boot {
			return d, ErrStaleBoot
		}
	}
	if same && !teach && !p.win.fresh(h.counter) {
		return d, ErrReplay
	}

	// The sender incarnation's key: the peer's, or derived (and kept as
	// the candidate) for an incarnation not authenticated yet.
	var aead cipher.AEAD
	switch {
	case same:
		aead = p.aead
	case e.cand.aead != nil && e.cand.from == h.from && e.cand.boot == h.boot && e.cand.start == h.start:
		aead = e.cand.aead
	default:
		var err error
		if aead, err = e.incarnationKey(h.from, h.boot, h.start); err != nil {
			return d, ErrAuth
		}
		e.cand = candidate{from: h.from, boot: h.boot, start: h.start, aead: aead}
	}

	// Decrypt a whole message into its own buffer, a fragment into scratch
	// (reassembly copies it). pkt itself is never written.
	var dst []byte
	if h.kind == kindFragment {
		dst = e.scratch[:0]
	}
	n := nonce(h.counter)
	plain, err := aead.Open(dst, n[:], pkt[headerLen:], pkt[:headerLen])
	if err != nil {
		return d, ErrAuth
	}

	// Authentic: only now may state change.
	if !same {
		// A new incarnation: forget the old one's window and partial messages.
		p = &peer{boot: h.boot, start: h.start, aead: aead, partials: make(map[uint64]*partial)}
		e.peers[h.from] = p
		e.cand = candidate{}
		d.NewBoot = true
	}
	if teach {
		if newer {
			d.SelfBoot = h.to.Boot
			return d, ErrNewerSelf
		}
		return d, ErrMisaddressed // the incarnation learnt; nothing delivered
	}
	p.win.mark(h.counter)
	if h.kind == kindWhole {
		if len(plain) > e.cfg.MaxMessage {
			return d, ErrOversize
		}
		if plain == nil {
			plain = []byte{}
		}
		d.Msg = plain
		return d, nil
	}
	e.scratch = plain[:0]
	d.Msg, err = e.reassemble(now, p, h.counter, plain)
	return d, err
}

// Expire discards the partial messages that have waited ReassemblyTimeout
// since their first fragment arrived. Open does the same for a sender when
// a fragment of it arrives; the driver may call Expire on ticks to free
// memory held for senders that went quiet.
func (e *Endpoint) Expire(now time.Duration) {
	for _, p := range e.peers {
		e.expirePeer(now, p)
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
