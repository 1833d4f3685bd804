package disk

// A small deterministic multi-node harness: N disk cores, a FIFO network
// per (from, to) pair delivered by hand, a virtual clock, one backing
// store per disk shared by every server (the same path on each), and
// datadriven scripts in testdata/cluster.
//
// Commands:
//
//	cluster n=3 [size=1048576] [window=64] [retry=2m] [dupcache=N] [disks=(d,e)]
//	                               nodes 1..n (boot 1), every disk defined,
//	                               view 1 of them all, primary
//	view [members=(1,2)] [to=(1,2)] [nonprimary] [lost]
//	                               a new view (epoch+1, coordinator its lowest
//	                               member) given to `to` (default: its members)
//	serve n=1 [disk=d] epoch=1 / unserve n=1 [disk=d]
//	define n=1 disks=(d:SIZE,...)  a Define on n
//	submit n=2 id=1 [disk=d] op=write off=0 len=4096 [fill=a] [fua]
//	stabilize                      deliver until quiet (auto IO completed as it comes)
//	step [k=1]                     deliver k messages (the oldest pair first)
//	io n=1 manual|auto             whether n's IO waits for `complete`
//	complete n=1 [id=5] [err=EIO]  complete n's pending IO (all, in order, or one)
//	hold from=1 to=2 / release from=1 to=2 / drop from=1 to=2 [all]
//	kill n=3                       its queued messages both ways are lost
//	restart n=3                    a new core for n with the next boot id
//	tick d=5s                      time passes on every live node, then stabilize
//	status n=1                     Status
//	fenced n=1 [view=3]            Fenced(view) (default: the last view)
//	msgs                           messages delivered by kind since the last msgs
//	store [disk=d] off=0 len=8     the backing store's bytes
//	inject from=1 to=2 hex=...     a raw payload
//	forge from=2 to=1 epoch=2 seq=9 view=1 len=1   a read piece as from would send it
//	mutate name=dup-by-seq         set testMutation for the rest of the script

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/corral-ha/corral/core/wire"
)

type pair struct{ from, to wire.NodeID }

type harness struct {
	t       *testing.T
	now     time.Duration
	cfg     Config
	nodes   map[wire.NodeID]*Core
	boot    map[wire.NodeID]uint32
	alive   map[wire.NodeID]bool
	manual  map[wire.NodeID]bool
	q       map[pair][]Out
	held    map[pair]bool
	ios     map[wire.NodeID][]IO
	store   map[string][]byte
	sizes   map[string]uint64
	counts  map[string]int
	view    View
	out     *strings.Builder
	viewIDs map[wire.NodeID]wire.ViewID
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, nodes: map[wire.NodeID]*Core{}, boot: map[wire.NodeID]uint32{}, alive: map[wire.NodeID]bool{},
		manual: map[wire.NodeID]bool{}, q: map[pair][]Out{}, held: map[pair]bool{}, ios: map[wire.NodeID][]IO{},
		store: map[string][]byte{}, sizes: map[string]uint64{}, counts: map[string]int{}, out: &strings.Builder{},
		viewIDs: map[wire.NodeID]wire.ViewID{}}
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(h.out, format, args...) }

func (h *harness) sortedNodes() []wire.NodeID {
	var ns []wire.NodeID
	for n := range h.nodes {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (h *harness) inc(n wire.NodeID) Inc { return Inc{Node: n, Boot: h.boot[n]} }

// summary prints bytes as runs: "a*4096 b*10".
func summary(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	var parts []string
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] == b[i] {
			j++
		}
		c := string(b[i])
		if b[i] == 0 {
			c = "0"
		}
		parts = append(parts, fmt.Sprintf("%s*%d", c, j-i))
		i = j
	}
	return strings.Join(parts, " ")
}

// collect takes every live node's Ready.
func (h *harness) collect() bool {
	any := false
	for _, n := range h.sortedNodes() {
		c := h.nodes[n]
		if !h.alive[n] || !c.HasReady() {
			continue
		}
		any = true
		rd := c.Ready()
		for _, m := range rd.Messages {
			if !h.alive[m.To] {
				continue
			}
			h.q[pair{n, m.To}] = append(h.q[pair{n, m.To}], m)
		}
		for _, io := range rd.IO {
			h.printf("n%d: io %d %s %s %d+%d%s\n", n, io.ID, io.Op, io.Disk, io.Off, io.Len, flagStr(io.FUA, io.NoHole))
			h.ios[n] = append(h.ios[n], io)
		}
		for _, d := range rd.Done {
			s := fmt.Sprintf("n%d: done id=%d %s epoch=%d", n, d.ID, d.Err, d.Epoch)
			if d.Data != nil {
				s += " data=" + summary(d.Data)
			}
			h.printf("%s\n", s)
		}
		for _, e := range rd.Events {
			h.printf("n%d: event %s %s server=%d/%d epoch=%d", n, e.Kind, e.Disk, e.Server.Node, e.Server.Boot, e.Epoch)
			if e.Reason != "" {
				h.printf(" reason=%q", e.Reason)
			}
			h.printf("\n")
		}
		for _, s := range rd.Stale {
			h.printf("n%d: stale %s\n", n, s)
		}
		if rd.Fenced != h.viewIDs[n] {
			h.viewIDs[n] = rd.Fenced
			h.printf("n%d: fenced view=%d\n", n, rd.Fenced.Epoch)
		}
		c.Advance()
	}
	for _, n := range h.sortedNodes() {
		if h.alive[n] && !h.manual[n] && len(h.ios[n]) > 0 {
			any = true
			h.completeAll(n, OK)
		}
	}
	return any
}

func flagStr(fua, noHole bool) string {
	s := ""
	if fua {
		s += " fua"
	}
	if noHole {
		s += " nohole"
	}
	return s
}

// complete carries out one IO on the backing store and answers it.
func (h *harness) complete(n wire.NodeID, io IO, err Errno) {
	done := IODone{ID: io.ID, Err: err}
	st := h.store[io.Disk]
	if err == OK {
		switch io.Op {
		case OpRead:
			done.Data = slices.Clone(st[io.Off : io.Off+uint64(io.Len)])
		case OpWrite:
			copy(st[io.Off:], io.Data)
		case OpTrim, OpZero:
			clear(st[io.Off : io.Off+uint64(io.Len)])
		}
	}
	if e := h.nodes[n].Step(h.now, done); e != nil {
		h.t.Fatalf("n%d: IODone: %v", n, e)
	}
}

func (h *harness) completeAll(n wire.NodeID, err Errno) {
	ios := h.ios[n]
	h.ios[n] = nil
	for _, io := range ios {
		h.complete(n, io, err)
	}
}

// pairs lists the pairs with deliverable messages, sorted.
func (h *harness) pairs() []pair {
	var ps []pair
	for p, q := range h.q {
		if len(q) > 0 && !h.held[p] {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if a.from != b.from {
			return int(a.from) - int(b.from)
		}
		return int(a.to) - int(b.to)
	})
	return ps
}

// deliverOne delivers the oldest message of the first pair.
func (h *harness) deliverOne() bool {
	ps := h.pairs()
	if len(ps) == 0 {
		return false
	}
	p := ps[0]
	m := h.q[p][0]
	h.q[p] = h.q[p][1:]
	if !h.alive[p.to] {
		return true
	}
	if dm, err := decodeMsg(m.Payload); err == nil {
		k := dm.kind.String()
		if dm.kind == mkReply && dm.refusal != rfNone {
			k += "-" + dm.refusal.String()
		}
		h.counts[k]++
	}
	if err := h.nodes[p.to].Step(h.now, Receive{From: h.inc(p.from), Payload: m.Payload}); err != nil {
		h.printf("n%d: step error: %v\n", p.to, err)
	}
	return true
}

func (h *harness) stabilize() {
	for i := 0; ; i++ {
		if i > 100000 {
			h.t.Fatal("no quiescence")
		}
		if h.collect() {
			continue
		}
		if !h.deliverOne() {
			return
		}
	}
}

func nodeArg(t *testing.T, d *datadriven.TestData, key string) wire.NodeID {
	var n int
	d.ScanArgs(t, key, &n)
	return wire.NodeID(n)
}

func nodesArg(t *testing.T, d *datadriven.TestData, key string) []wire.NodeID {
	var out []wire.NodeID
	for _, a := range d.CmdArgs {
		if a.Key == key {
			for _, v := range a.Vals {
				x, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				out = append(out, wire.NodeID(x))
			}
		}
	}
	return out
}

func strArg(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return def
}

func errnoArg(s string) Errno {
	for e := OK; e <= ESHUTDOWN; e++ {
		if e.String() == s {
			return e
		}
	}
	return EIO
}

func (h *harness) giveView(to []wire.NodeID) {
	for _, n := range to {
		if h.alive[n] {
			if err := h.nodes[n].Step(h.now, h.view); err != nil {
				h.t.Fatal(err)
			}
		}
	}
}

func (h *harness) newCore(n wire.NodeID) {
	cfg := h.cfg
	cfg.Self = h.inc(n)
	c, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.nodes[n] = c
	h.alive[n] = true
	var ds []Disk
	for name, size := range h.sizes {
		ds = append(ds, Disk{Name: name, Size: size})
	}
	slices.SortFunc(ds, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	if err := c.Step(h.now, Define{Disks: ds}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	h.out.Reset()
	switch d.Cmd {
	case "cluster":
		var n int
		d.ScanArgs(t, "n", &n)
		size := uint64(1 << 20)
		if d.HasArg("size") {
			d.ScanArgs(t, "size", &size)
		}
		if d.HasArg("window") {
			d.ScanArgs(t, "window", &h.cfg.Window)
		}
		if d.HasArg("dupcache") {
			d.ScanArgs(t, "dupcache", &h.cfg.DupCache)
		}
		if d.HasArg("retry") {
			r, err := time.ParseDuration(strArg(d, "retry", ""))
			if err != nil {
				t.Fatal(err)
			}
			h.cfg.Retry = r
		}
		disks := []string{"d"}
		if d.HasArg("disks") {
			disks = nil
			for _, a := range d.CmdArgs {
				if a.Key == "disks" {
					disks = a.Vals
				}
			}
		}
		for _, name := range disks {
			h.sizes[name] = size
			h.store[name] = make([]byte, size)
		}
		var all []wire.NodeID
		for i := 1; i <= n; i++ {
			h.boot[wire.NodeID(i)] = 1
			h.newCore(wire.NodeID(i))
			all = append(all, wire.NodeID(i))
		}
		h.view = View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Primary: true}
		for _, x := range all {
			h.view.Members = append(h.view.Members, h.inc(x))
		}
		h.giveView(all)
		h.stabilize()
	case "view":
		members := nodesArg(t, d, "members")
		if members == nil {
			for _, m := range h.view.Members {
				members = append(members, m.Node)
			}
		}
		slices.Sort(members)
		v := View{ID: wire.ViewID{Epoch: h.view.ID.Epoch + 1, Coord: members[0]}, Primary: !d.HasArg("nonprimary"), Lost: d.HasArg("lost")}
		if v.Lost {
			v.Primary = false
		}
		for _, m := range members {
			v.Members = append(v.Members, h.inc(m))
		}
		h.view = v
		to := nodesArg(t, d, "to")
		if to == nil {
			to = members
		}
		h.giveView(to)
		h.stabilize()
	case "serve", "unserve":
		n := nodeArg(t, d, "n")
		name := strArg(d, "disk", "d")
		var in Input = Unserve{Disk: name}
		if d.Cmd == "serve" {
			var e uint64
			d.ScanArgs(t, "epoch", &e)
			in = Serve{Disk: name, Epoch: e}
		}
		if err := h.nodes[n].Step(h.now, in); err != nil {
			h.printf("error: %v\n", err)
		}
		h.stabilize()
	case "define":
		n := nodeArg(t, d, "n")
		var ds []Disk
		for _, a := range d.CmdArgs {
			if a.Key == "disks" {
				for _, v := range a.Vals {
					name, size, _ := strings.Cut(v, ":")
					s, _ := strconv.ParseUint(size, 10, 64)
					ds = append(ds, Disk{Name: name, Size: s})
				}
			}
		}
		if err := h.nodes[n].Step(h.now, Define{Disks: ds}); err != nil {
			h.printf("error: %v\n", err)
		}
		h.stabilize()
	case "submit":
		n := nodeArg(t, d, "n")
		var id uint64
		d.ScanArgs(t, "id", &id)
		r := Request{ID: id, Disk: strArg(d, "disk", "d"), FUA: d.HasArg("fua"), NoHole: d.HasArg("nohole")}
		for o := OpRead; o <= OpZero; o++ {
			if o.String() == strArg(d, "op", "") {
				r.Op = o
			}
		}
		if d.HasArg("off") {
			d.ScanArgs(t, "off", &r.Off)
		}
		if d.HasArg("len") {
			d.ScanArgs(t, "len", &r.Len)
		}
		if r.Op == OpWrite {
			r.Data = []byte(strings.Repeat(strArg(d, "fill", "x"), int(r.Len)))
		}
		if err := h.nodes[n].Submit(h.now, r); err != nil {
			h.printf("error: %v\n", err)
		}
		if !d.HasArg("nostab") {
			h.stabilize()
		} else {
			h.collect()
		}
	case "stabilize":
		h.stabilize()
	case "step":
		k := 1
		if d.HasArg("k") {
			d.ScanArgs(t, "k", &k)
		}
		for i := 0; i < k; i++ {
			for h.collect() {
			}
			h.deliverOne()
		}
		for h.collect() {
		}
	case "io":
		n := nodeArg(t, d, "n")
		h.manual[n] = d.HasArg("manual")
	case "complete":
		n := nodeArg(t, d, "n")
		err := errnoArg(strArg(d, "err", "OK"))
		if d.HasArg("id") {
			var id uint64
			d.ScanArgs(t, "id", &id)
			for i, io := range h.ios[n] {
				if io.ID == id {
					h.ios[n] = slices.Delete(h.ios[n], i, i+1)
					h.complete(n, io, err)
					break
				}
			}
		} else {
			h.completeAll(n, err)
		}
		h.stabilize()
	case "hold", "release":
		p := pair{nodeArg(t, d, "from"), nodeArg(t, d, "to")}
		h.held[p] = d.Cmd == "hold"
		if d.Cmd == "release" {
			h.stabilize()
		}
	case "drop":
		p := pair{nodeArg(t, d, "from"), nodeArg(t, d, "to")}
		if len(h.q[p]) > 0 {
			if d.HasArg("all") {
				h.q[p] = nil
			} else {
				h.q[p] = h.q[p][1:]
			}
		}
	case "kill":
		n := nodeArg(t, d, "n")
		h.alive[n] = false
		h.ios[n] = nil
		for p := range h.q {
			if p.from == n || p.to == n {
				delete(h.q, p)
			}
		}
	case "restart":
		n := nodeArg(t, d, "n")
		h.boot[n]++
		h.newCore(n)
		h.viewIDs[n] = wire.ViewID{}
	case "tick":
		dur, err := time.ParseDuration(strArg(d, "d", "1s"))
		if err != nil {
			t.Fatal(err)
		}
		h.now += dur
		for _, n := range h.sortedNodes() {
			if h.alive[n] {
				h.nodes[n].Tick(h.now)
			}
		}
		h.stabilize()
	case "status":
		n := nodeArg(t, d, "n")
		for _, s := range h.nodes[n].Status() {
			srv := "-"
			if s.Server != nil {
				srv = fmt.Sprintf("%d/%d", s.Server.Node, s.Server.Boot)
			}
			h.printf("%s size=%d server=%s epoch=%d serving=%t state=%s clients=%v pending=%d r/w/f=%d/%d/%d served r/w=%d/%d\n",
				s.Name, s.Size, srv, s.Epoch, s.Serving, s.State, s.Clients, s.Pending, s.Reads, s.Writes, s.Flushes, s.ServedReads, s.ServedWrites)
		}
	case "fenced":
		n := nodeArg(t, d, "n")
		v := h.view.ID
		if d.HasArg("view") {
			d.ScanArgs(t, "view", &v.Epoch)
		}
		h.printf("n%d: Fenced(%d)=%t\n", n, v.Epoch, h.nodes[n].Fenced(v))
	case "msgs":
		var ks []string
		total := 0
		for k, v := range h.counts {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
			total += v
		}
		slices.Sort(ks)
		h.printf("total=%d %s\n", total, strings.Join(ks, " "))
		h.counts = map[string]int{}
	case "store":
		var off, n uint64
		d.ScanArgs(t, "off", &off)
		d.ScanArgs(t, "len", &n)
		h.printf("%s\n", summary(h.store[strArg(d, "disk", "d")][off:off+n]))
	case "inject":
		p := pair{nodeArg(t, d, "from"), nodeArg(t, d, "to")}
		b, err := hex.DecodeString(strArg(d, "hex", ""))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.nodes[p.to].Step(h.now, Receive{From: h.inc(p.from), Payload: b}); err != nil {
			h.printf("n%d: step error: %v\n", p.to, err)
		}
		h.stabilize()
	case "forge":
		p := pair{nodeArg(t, d, "from"), nodeArg(t, d, "to")}
		m := msg{kind: mkRequest, disk: strArg(d, "disk", "d"), op: OpRead}
		d.ScanArgs(t, "epoch", &m.epoch)
		d.ScanArgs(t, "seq", &m.seq)
		d.ScanArgs(t, "view", &m.view.Epoch)
		m.view.Coord = 1
		d.ScanArgs(t, "len", &m.n)
		if err := h.nodes[p.to].Step(h.now, Receive{From: h.inc(p.from), Payload: m.encode(nil)}); err != nil {
			h.printf("n%d: step error: %v\n", p.to, err)
		}
		h.stabilize()
	case "mutate":
		testMutation = strArg(d, "name", "")
		t.Cleanup(func() { testMutation = "" })
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	return h.out.String()
}

func TestCluster(t *testing.T) {
	datadriven.Walk(t, "testdata/cluster", func(t *testing.T, path string) {
		h := newHarness(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string { return h.run(t, d) })
	})
}
