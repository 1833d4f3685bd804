package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/wire"
)

// runNode opens and runs one node (calling before, if not nil, between
// Open and Run); Cleanup stops it.
func runNode(tb testing.TB, path string, before func(*Node)) *Node {
	tb.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	nd, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	if before != nil {
		before(nd)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = nd.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return nd
}

// waitCDBReady waits for one quorate view of all nodes and a first set.
func waitCDBReady(tb testing.TB, nodes []*Node) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var view string
		ok := true
		for _, nd := range nodes {
			st, err := nd.StatusDoc()
			if err != nil || !st.Quorate || len(st.Members) != len(nodes) || (view != "" && st.View != view) {
				ok = false
				break
			}
			view = st.View
		}
		if ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := nodes[0].CDBSet(ctx, "/first", []byte("one"))
			cancel()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no quorate view of %d nodes taking writes within 20 s", len(nodes))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkCDBSetInProcess: set latency on n1 of a 3-node cluster in this
// process (no HTTP, no processes), for profiling the driver
// (go test ./core/node/ -run '^$' -bench CDBSetInProcess -benchtime 1x
// -cpuprofile cpu.out). Figures: p50-us, p99-us, ups per client count.
func BenchmarkCDBSetInProcess(b *testing.B) {
	dir := b.TempDir()
	var txs, entries atomic.Int64 // n1's config DB transactions and entries
	var nodes []*Node
	for i, p := range writeCluster(b, dir, 81, 3) {
		nodes = append(nodes, runNode(b, p, func(nd *Node) {
			if i == 0 {
				nd.cdb.trace = func(ev cdbEvent) {
					if len(ev.durable) > 0 {
						txs.Add(1)
						entries.Add(int64(len(ev.durable)))
					}
				}
			}
		}))
	}
	waitCDBReady(b, nodes)
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			txs0, entries0 := txs.Load(), entries.Load()
			const total = 4000
			per := total / clients
			lats := make([][]time.Duration, clients)
			errs := make([]error, clients)
			var wg sync.WaitGroup
			start := time.Now()
			for w := range clients {
				wg.Go(func() {
					for i := range per {
						t0 := time.Now()
						_, err := nodes[0].CDBSet(context.Background(), fmt.Sprintf("/bench/c%d/w%d/k%d", clients, w, i%64), make([]byte, 64))
						if err != nil {
							errs[w] = err
							return
						}
						lats[w] = append(lats[w], time.Since(t0))
					}
				})
			}
			wg.Wait()
			wall := time.Since(start)
			var all []time.Duration
			for w := range clients {
				if errs[w] != nil {
					b.Fatalf("client %d: %v", w, errs[w])
				}
				all = append(all, lats[w]...)
			}
			slices.Sort(all)
			p := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / 1e3 }
			b.ReportMetric(p(0.5), "p50-us")
			b.ReportMetric(p(0.99), "p99-us")
			b.ReportMetric(float64(len(all))/wall.Seconds(), "ups")
			b.ReportMetric(float64(entries.Load()-entries0)/float64(txs.Load()-txs0), "n1-entries/tx")
		})
	}
}

// durabilityLog is the trace of every node of a cluster in one global
// order (one mutex).
type durabilityLog struct {
	mu  sync.Mutex
	evs []tracedEvent
}

type tracedEvent struct {
	node int
	ev   cdbEvent
}

func (l *durabilityLog) hook(node int) func(*Node) {
	return func(nd *Node) {
		nd.cdb.trace = func(ev cdbEvent) {
			l.mu.Lock()
			l.evs = append(l.evs, tracedEvent{node, ev})
			l.mu.Unlock()
		}
	}
}

// TestCDBDurableBeforeAck checks, on a real 3-node cluster in this
// process, the ordering G3 rests on (core/cdb/doc.go steps 2 and 3, the
// driver's cdbPersist): no Ack or Stable a node sends covers an entry that
// becomes durable on that node only later, and every answer to a client
// comes after every member has the update's entry on disk. Clients write
// on the coordinator and on a follower (its requests travel as Submits),
// 16 at a time, so rounds batch several entries (group commit: fewer
// transactions than entries on the coordinator). It fails if the fsync
// is moved after the Acks or the answers.
func TestCDBDurableBeforeAck(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 82, 3)
	var log durabilityLog
	var nodes []*Node
	for i, p := range paths {
		nodes = append(nodes, runNode(t, p, log.hook(i)))
	}
	waitCDBReady(t, nodes)
	const clients, per = 16, 25
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for w := range clients {
		nd := nodes[w%2] // n1 and n2
		wg.Go(func() {
			for i := range per {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := nd.CDBSet(ctx, fmt.Sprintf("/t/w%d/k%d", w, i), []byte("v"))
				cancel()
				if err != nil {
					errs[w] = fmt.Errorf("client %d set %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	log.mu.Lock()
	evs := slices.Clone(log.evs)
	log.mu.Unlock()
	checkDurability(t, evs, len(nodes))
	entries, txs := 0, 0
	for _, e := range evs {
		if e.node == 0 && len(e.ev.durable) > 0 {
			entries += len(e.ev.durable)
			txs++
		}
	}
	t.Logf("n1: %d entries in %d transactions", entries, txs)
	if entries < clients*per || txs >= entries {
		t.Fatalf("n1 wrote %d entries in %d transactions: want at least %d entries, batched (fewer transactions than entries)", entries, txs, clients*per)
	}
}

// checkDurability checks the ordering described at TestCDBDurableBeforeAck
// on a trace of nodes nodes.
func checkDurability(t *testing.T, evs []tracedEvent, nodes int) {
	t.Helper()
	type at struct {
		node int
		view wire.ViewID
		seq  uint64
	}
	durableAt := map[at]int{}         // entry (node, view, seq) -> index of its durable event
	revOn := map[int]map[uint64]int{} // node -> rev -> index of its durable event
	for i, e := range evs {
		for _, en := range e.ev.durable {
			durableAt[at{e.node, en.View, en.Seq}] = i
			if revOn[e.node] == nil {
				revOn[e.node] = map[uint64]int{}
			}
			revOn[e.node][en.Rev] = i
		}
	}
	covered := func(i, node int, view wire.ViewID, upTo uint64, what string) {
		for k, j := range durableAt {
			if k.node == node && k.view == view && k.seq <= upTo && j > i {
				t.Fatalf("n%d sent %s covering seq %d of view %v (event %d) before that entry was durable there (event %d)", node+1, what, k.seq, view, i, j)
			}
		}
	}
	replies := 0
	for i, e := range evs {
		switch {
		case e.ev.sent != nil:
			switch m := e.ev.sent.Msg.(type) {
			case *bcast.Ack:
				covered(i, e.node, m.View, m.Contiguous, "an Ack")
			case *bcast.Stable:
				covered(i, e.node, m.View, m.Seq, "a Stable")
			}
		case e.ev.reply != nil && e.ev.reply.Err == nil && !e.ev.reply.Result.Old:
			replies++
			rev := e.ev.reply.Result.Rev
			for nd := range nodes {
				if j, ok := revOn[nd][rev]; !ok || j > i {
					t.Fatalf("n%d answered %s/%d (revision %d, event %d) before n%d had it on disk (event %d, found %v)",
						e.node+1, e.ev.reply.Client, e.ev.reply.Seq, rev, i, nd+1, j, ok)
				}
			}
		}
	}
	if replies == 0 {
		t.Fatal("no answer traced")
	}
}
