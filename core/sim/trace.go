package sim

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Kinds of trace records.
const (
	kTick   uint8 = iota + 1 // v: local now
	kSend                    // v: size
	kRecv                    // v: local now
	kDrop                    // v: reason
	kDup                     // v: original packet
	kQueue                   // packet waits at a paused node
	kStart                   // v: boot, w: clock rate numerator
	kCrash                   // v: boot
	kPause                   // v: duration
	kResume                  // v: waiting packets
	kSync                    // v: writes synced
	kCall                    // an After function runs
	kNet                     // text: a topology or network change
	kLog                     // text: Host.Logf
	kNote                    // text: Sim.Logf
)

// record is one trace event. Records are hashed when they happen and kept in
// a ring; they are formatted only when someone reads them.
type record struct {
	at       time.Duration
	kind     uint8
	node     int
	pkt      uint64
	from, to Addr
	v, w     int64
	text     string
	data     []byte // hashed, not kept
}

type tracer struct {
	s       *Sim
	hash    uint64
	n       uint64
	ring    []record
	keep    int
	kept    uint64 // records put in the ring
	skipped uint64 // ticks left out of the ring
	onLine  func(string)
}

func (t *tracer) init(s *Sim, keep int, on func(string)) {
	t.s, t.keep, t.onLine = s, keep, on
	t.hash = 0xcbf29ce484222325
	if keep > 0 {
		t.ring = make([]record, 0, min(keep, 4096))
	}
}

func (t *tracer) mix(w uint64) {
	h := (t.hash ^ w) * 0x9e3779b97f4a7c15
	t.hash = h ^ (h >> 31)
}

func (t *tracer) mixBytes(b []byte) {
	t.mix(uint64(len(b)))
	for len(b) >= 8 {
		t.mix(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		t.mix(binary.LittleEndian.Uint64(tail[:]))
	}
}

func (t *tracer) add(r record) {
	r.at = t.s.now
	t.mix(uint64(r.at))
	t.mix(uint64(r.kind)<<32 | uint64(uint32(r.node)))
	t.mix(r.pkt)
	t.mix(uint64(uint32(r.from.Node))<<32 | uint64(uint32(r.from.Link)))
	t.mix(uint64(uint32(r.to.Node))<<32 | uint64(uint32(r.to.Link)))
	t.mix(uint64(r.v))
	t.mix(uint64(r.w))
	if r.text != "" {
		t.mixBytes([]byte(r.text))
	}
	if r.data != nil {
		t.mixBytes(r.data)
		r.data = nil
	}
	t.n++
	if r.kind == kTick && !t.s.cfg.TraceTicks {
		t.skipped++
	} else if t.keep > 0 {
		t.kept++
		if len(t.ring) < t.keep {
			t.ring = append(t.ring, r)
		} else {
			t.ring[(t.kept-1)%uint64(t.keep)] = r
		}
	}
	if t.onLine != nil {
		t.onLine(r.String())
	}
}

// TraceHash is a hash over every trace record so far, in order: starts,
// crashes, ticks, sends (with their bytes), deliveries, drops, pauses,
// syncs, network changes and log lines. Two runs of one seed (and one
// program) have the same hash at every point.
func (s *Sim) TraceHash() uint64 { return s.trace.hash ^ s.trace.n*0x94d049bb133111eb }

// TraceLen is the number of trace records so far.
func (s *Sim) TraceLen() uint64 { return s.trace.n }

// TraceTail returns the last n trace records kept (at most
// Config.TraceKeep; ticks only with Config.TraceTicks) as lines, oldest
// first.
func (s *Sim) TraceTail(n int) []string {
	t := &s.trace
	have := len(t.ring)
	if n > have {
		n = have
	}
	out := make([]string, 0, n)
	for i := t.kept - uint64(n); i < t.kept; i++ {
		out = append(out, t.ring[i%uint64(max(t.keep, 1))].String())
	}
	return out
}

func (r record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%12.6fs ", r.at.Seconds())
	if r.node != 0 {
		fmt.Fprintf(&b, "n%-3d ", r.node)
	} else {
		b.WriteString("sim  ")
	}
	switch r.kind {
	case kTick:
		fmt.Fprintf(&b, "tick local=%v", time.Duration(r.v))
	case kSend:
		fmt.Fprintf(&b, "send #%d %v -> %v %dB", r.pkt, r.from, r.to, r.v)
	case kRecv:
		fmt.Fprintf(&b, "recv #%d %v -> %v local=%v", r.pkt, r.from, r.to, time.Duration(r.v))
	case kDrop:
		why := "?"
		if r.v > 0 && int(r.v) < len(dropNames) {
			why = dropNames[r.v]
		}
		fmt.Fprintf(&b, "drop #%d %v -> %v: %s", r.pkt, r.from, r.to, why)
	case kDup:
		fmt.Fprintf(&b, "dup  #%d of #%d %v -> %v", r.pkt, r.v, r.from, r.to)
	case kQueue:
		fmt.Fprintf(&b, "wait #%d %v -> %v (paused)", r.pkt, r.from, r.to)
	case kStart:
		fmt.Fprintf(&b, "START boot=%d clock rate=%.6f", r.v, float64(r.w)/rateDen)
	case kCrash:
		fmt.Fprintf(&b, "CRASH boot=%d", r.v)
	case kPause:
		fmt.Fprintf(&b, "PAUSE for %v", time.Duration(r.v))
	case kResume:
		fmt.Fprintf(&b, "RESUME, %d packets waiting", r.v)
	case kSync:
		fmt.Fprintf(&b, "sync %d writes", r.v)
	case kCall:
		b.WriteString("call")
	case kNet:
		b.WriteString(r.text)
	case kLog:
		b.WriteString("| " + r.text)
	case kNote:
		b.WriteString("# " + r.text)
	}
	return b.String()
}
