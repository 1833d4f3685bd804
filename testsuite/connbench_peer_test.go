package testsuite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/node"
)

// The connectivity benchmarks (connbench_test.go) run their peers as
// separate processes: the test binary re-executes itself with
// CORRAL_BENCH_PEER=<mode>, and TestMain turns it into that peer instead of
// running tests. The peer's parameters come in the environment too.
const (
	benchPeerEnv   = "CORRAL_BENCH_PEER"   // mode: node-echo, node-count, raw-echo
	benchConfigEnv = "CORRAL_BENCH_CONFIG" // node modes: the node's TOML config
	benchAddrEnv   = "CORRAL_BENCH_ADDR"   // raw-echo: ip:port to listen on
	benchEveryEnv  = "CORRAL_BENCH_EVERY"  // node-count: reply after this many bytes
	// CORRAL_BENCH_CPUPROFILE, when set, names a file a peer writes its CPU
	// profile to (pass it to `go test -bench` to look into a figure).
	benchProfileEnv = "CORRAL_BENCH_CPUPROFILE"
	// CORRAL_BENCH_TICK, when set, overrides node peers' event loop tick
	// (node.Options.TickEvery; default heartbeat/10), to compare idle CPU.
	benchTickEnv = "CORRAL_BENCH_TICK"
)

// Lines a peer prints on stdout for the benchmark to wait on.
const (
	benchReadyLine     = "connbench: ready"
	benchReachablePref = "connbench: reachable="
	benchStatsPref     = "connbench: stats "
)

// TestMain runs the package's tests, or a benchmark peer when the binary was
// started as one. If another TestMain is added to this package, it must call
// connbenchPeerMain first instead.
func TestMain(m *testing.M) {
	connbenchPeerMain()
	os.Exit(m.Run())
}

// connbenchPeerMain runs the peer named by $CORRAL_BENCH_PEER and exits; it
// returns at once in a normal test run.
func connbenchPeerMain() {
	mode := os.Getenv(benchPeerEnv)
	if mode == "" {
		return
	}
	if err := runBenchPeer(mode); err != nil {
		fmt.Fprintf(os.Stderr, "connbench peer %s: %v\n", mode, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runBenchPeer runs one peer until SIGTERM/SIGINT or until stdin closes (the
// benchmark process holds the other end: if it dies, so does the peer).
func runBenchPeer(mode string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if path := os.Getenv(benchProfileEnv); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch mode {
	case "raw-echo":
		return rawEchoPeer(ctx, os.Getenv(benchAddrEnv))
	case "node-echo", "node-count":
		return nodePeer(ctx, mode)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// rawEchoPeer echoes every UDP datagram back to its sender.
func rawEchoPeer(ctx context.Context, addr string) error {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", ua)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = c.Close()
	}()
	fmt.Println(benchReadyLine)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// nodePeer runs a node. node-echo sends every circuit message back to its
// sender; node-count counts the messages it gets and, after every
// $CORRAL_BENCH_EVERY bytes and on any 1-byte message (a flush marker),
// replies with the 8-byte count so far. Both print the number of reachable
// peers whenever it changes.
func nodePeer(ctx context.Context, mode string) error {
	cfg, err := config.Load(os.Getenv(benchConfigEnv))
	if err != nil {
		return err
	}
	every, _ := strconv.Atoi(os.Getenv(benchEveryEnv))
	if every <= 0 {
		every = 256 << 10
	}
	var (
		n         *node.Node
		count     uint64
		bytesSeen int
		reachable = map[uint16]bool{}
	)
	reply := func(m conn.Message, data []byte) {
		if _, err := n.SendOnLoop(m.From, data); err != nil {
			fmt.Fprintf(os.Stderr, "connbench: reply to %d: %v\n", m.From, err)
		}
	}
	opt := node.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnEvent: func(e conn.Event) {
			switch e.Kind {
			case conn.EventPeerReachable:
				reachable[uint16(e.Peer)] = true
			case conn.EventPeerUnreachable:
				delete(reachable, uint16(e.Peer))
			default:
				return
			}
			fmt.Printf("%s%d\n", benchReachablePref, len(reachable))
		},
	}
	if v := os.Getenv(benchTickEnv); v != "" {
		if opt.TickEvery, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("%s: %w", benchTickEnv, err)
		}
	}
	switch mode {
	case "node-echo":
		// The circuit does not copy what it sends; the delivered bytes may
		// share a buffer with the packet they came in, so copy them.
		opt.OnMessage = func(m conn.Message) { reply(m, bytes.Clone(m.Data)) }
	case "node-count":
		opt.OnMessage = func(m conn.Message) {
			if len(m.Data) == 1 {
				reply(m, binary.BigEndian.AppendUint64(nil, count))
				return
			}
			count++
			bytesSeen += len(m.Data)
			if bytesSeen >= every {
				bytesSeen = 0
				reply(m, binary.BigEndian.AppendUint64(nil, count))
			}
		}
	}
	if n, err = node.Open(cfg, opt); err != nil {
		return err
	}
	fmt.Println(benchReadyLine)
	// On the way out, print the counters (benchmarks quote them).
	runCtx, stopRun := context.WithCancel(context.Background())
	go func() {
		<-ctx.Done()
		if cs, ts, err := n.Stats(); err == nil {
			t := ts.Total()
			fmt.Printf("%ssent=%d delivered=%d duplicates=%d retransmits=%d acks=%d packets_out=%d packets_in=%d udp_sent=%d udp_received=%d\n",
				benchStatsPref, cs.Sent, cs.Delivered, cs.Duplicates, cs.Retransmits, cs.Acks, cs.PacketsOut, cs.PacketsIn,
				t.PacketsSent, t.PacketsReceived)
		}
		stopRun()
	}()
	return n.Run(runCtx)
}
