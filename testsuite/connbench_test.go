package testsuite

// Connectivity benchmarks between real processes on loopback (`make bench`).
// Each benchmark runs its peers as child processes (connbench_peer_test.go)
// on its own 127.x block, and reports figures next to a plain UDP baseline
// measured in the same run where one makes sense:
//
//	BenchmarkConnRoundTrip          64 B circuit round trip vs raw UDP ping-pong
//	BenchmarkConnThroughput         1 KiB and 64 KiB messages one way
//	BenchmarkConnKillToUnreachable  kill -9 of a peer to peer_unreachable
//	BenchmarkConnIdleCPU            CPU of an idle 3-node cluster
//
// The nodes are full node.Node drivers (membership included). To look into
// a figure: CORRAL_BENCH_LOGDIR=<dir> keeps every node's log,
// CORRAL_BENCH_CPUPROFILE=<file> makes each peer write <file>.<pid>, and
// CORRAL_BENCH_TICK=<duration> overrides the peers' event loop tick.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/testsuite/benchrec"
)

// Address blocks, one per benchmark, so runs never collide (other tests of
// the tree use their own).
const (
	netRoundTrip  = 61
	netThroughput = 62
	netKill       = 63
	netIdleCPU    = 64
)

// benchCluster writes the configs of an n-node cluster with two links per
// node on 127.<net>.0.K and 127.<net>.1.K (default timers) into dir.
type benchCluster struct {
	dir   string
	port  int
	paths []string // config of node K at paths[K-1]
}

func writeBenchCluster(b *testing.B, netBlock, n int) benchCluster {
	b.Helper()
	dir := b.TempDir()
	port := benchFreePort(b, fmt.Sprintf("127.%d.0.1", netBlock))
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var nodes strings.Builder
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&nodes, "[[nodes]]\nname = \"n%d\"\nid = %d\naddresses = [\"127.%d.0.%d\", \"127.%d.1.%d\"]\n\n", k, k, netBlock, k, netBlock, k)
	}
	c := benchCluster{dir: dir, port: port}
	for k := 1; k <= n; k++ {
		p := filepath.Join(dir, fmt.Sprintf("n%d.toml", k))
		src := fmt.Sprintf("cluster = \"bench\"\nnode = \"n%d\"\nkey_file = \"cluster.key\"\ndata_dir = \"n%d\"\nport = %d\n\n%s",
			k, k, port, nodes.String())
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			b.Fatal(err)
		}
		c.paths = append(c.paths, p)
	}
	return c
}

func benchFreePort(b *testing.B, ip string) int {
	b.Helper()
	c, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		b.Skipf("cannot bind %s on loopback: %v", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// benchLogDir is where the nodes' logs go: $CORRAL_BENCH_LOGDIR/<benchmark>
// to keep them, else a temporary directory (printed on failure).
func benchLogDir(b *testing.B) string {
	b.Helper()
	root := os.Getenv("CORRAL_BENCH_LOGDIR")
	if root == "" {
		return b.TempDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", "=", "-").Replace(b.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// benchProc is a peer process: this test binary started in a peer mode.
type benchProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   string // its stdout and stderr
	done  chan struct{}
	err   error // Wait's result, once done is closed
}

// startPeer starts this binary as a peer in mode with the extra environment
// env. Its output goes to a file printed if the benchmark fails; Cleanup
// stops it (SIGTERM, then SIGKILL to its process group).
func startPeer(b *testing.B, name, mode string, env ...string) *benchProc {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	logPath := filepath.Join(benchLogDir(b), name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{benchPeerEnv + "=" + mode}, env...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &benchProc{name: name, cmd: cmd, stdin: stdin, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.Cleanup(func() {
		p.stop()
		if b.Failed() {
			p.dump(b)
		}
	})
	return p
}

// stop ends the peer: SIGTERM and its stdin closed, then SIGKILL to its
// process group if it has not exited within 3 s.
func (p *benchProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// kill sends SIGKILL to the peer and returns when it was sent.
func (p *benchProc) kill(b *testing.B) time.Time {
	b.Helper()
	at := time.Now()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		b.Fatalf("kill %s: %v", p.name, err)
	}
	return at
}

// wait waits for the peer to exit.
func (p *benchProc) wait(b *testing.B, within time.Duration) {
	b.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		b.Fatalf("%s still running %v after it was stopped", p.name, within)
	}
}

func (p *benchProc) output() string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.log, err)
	}
	return string(data)
}

func (p *benchProc) dump(b *testing.B) {
	b.Helper()
	b.Logf("--- %s (pid %d, exit: %v) output:\n%s", p.name, p.cmd.Process.Pid, p.err, p.output())
}

// lastLine returns the last line of the peer's output that starts with
// prefix, without the prefix.
func (p *benchProc) lastLine(prefix string) (string, bool) {
	lines := strings.Split(p.output(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(lines[i], prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// benchEventually polls cond every 5 ms until it holds; after within it
// fails the benchmark, printing the peers' output.
func benchEventually(b *testing.B, within time.Duration, what string, procs []*benchProc, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			for _, p := range procs {
				p.dump(b)
			}
			b.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchNode is a node run inside the benchmark process.
type benchNode struct {
	*node.Node
	cfg *config.Config
}

// startBenchNode opens and runs the node of config path; Cleanup stops it.
func startBenchNode(b *testing.B, path string, onMsg func(conn.Message), onEvent func(conn.Event)) *benchNode {
	b.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(benchLogDir(b), cfg.Node+"-in-process.log"))
	if err != nil {
		b.Fatal(err)
	}
	n, err := node.Open(cfg, node.Options{
		Logger:    slog.New(slog.NewTextHandler(logf, nil)),
		OnMessage: onMsg,
		OnEvent:   onEvent,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("node %s: %v", cfg.Node, err)
		}
		_ = logf.Close()
	})
	return &benchNode{Node: n, cfg: cfg}
}

func (n *benchNode) peer(b *testing.B, id wire.NodeID) conn.PeerStatus {
	b.Helper()
	st, err := n.Status()
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range st {
		if p.ID == id {
			return p
		}
	}
	b.Fatalf("no status for peer %d", id)
	return conn.PeerStatus{}
}

// percentile returns the p-quantile (0..1) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// BenchmarkConnRoundTrip: a 64-byte circuit message to a node-echo peer
// process and back, against a plain UDP ping-pong with a raw-echo peer
// process. The two are interleaved (one raw round trip, then one circuit
// round trip, per iteration) so both see the same machine load; ns/op is
// the pair. Metrics: circuit and raw p50/p99 and the circuit/raw ratio of
// the p50s (goal: at most 1.5).
func BenchmarkConnRoundTrip(b *testing.B) {
	cl := writeBenchCluster(b, netRoundTrip, 2)
	echo := startPeer(b, "n2", "node-echo", benchConfigEnv+"="+cl.paths[1])
	rawAddr := fmt.Sprintf("127.%d.2.2:%d", netRoundTrip, cl.port)
	raw := startPeer(b, "raw-echo", "raw-echo", benchAddrEnv+"="+rawAddr)
	procs := []*benchProc{echo, raw}

	replies := make(chan []byte, 16)
	n1 := startBenchNode(b, cl.paths[0], func(m conn.Message) {
		select {
		case replies <- m.Data:
		default: // never: one message is in flight at a time
		}
	}, nil)
	benchEventually(b, 10*time.Second, "n1 reaches the node-echo peer", procs, func() bool {
		return n1.peer(b, 2).Reachable
	})

	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, netRoundTrip, 2, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	to, err := net.ResolveUDPAddr("udp4", rawAddr)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	benchEventually(b, 10*time.Second, "the raw-echo peer answers", procs, func() bool {
		_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := client.WriteToUDP([]byte("ping"), to); err != nil {
			return false
		}
		_, _, err := client.ReadFromUDP(buf)
		return err == nil
	})
	// Answers to the pings above that came late must not pass for the
	// replies timed below.
	for {
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := client.ReadFromUDP(buf); err != nil {
			break
		}
	}

	// One deadline for the whole run: a lost reply fails the benchmark
	// instead of hanging it, without a timer per round trip.
	const limit = 5 * time.Minute
	if err := client.SetReadDeadline(time.Now().Add(limit)); err != nil {
		b.Fatal(err)
	}
	watchdog, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()

	msg := make([]byte, 64)
	var rawRTT, circRTT []time.Duration
	var seq uint64
	for b.Loop() {
		seq++
		binary.BigEndian.PutUint64(msg, seq)

		start := time.Now()
		if _, err := client.WriteToUDP(msg, to); err != nil {
			b.Fatal(err)
		}
		n, _, err := client.ReadFromUDP(buf)
		if err != nil {
			b.Fatal(err)
		}
		rawRTT = append(rawRTT, time.Since(start))
		if !bytes.Equal(buf[:n], msg) {
			b.Fatalf("raw echo: got %x, want %x", buf[:n], msg)
		}

		// A fresh buffer: the circuit does not copy what it sends.
		cm := bytes.Clone(msg)
		start = time.Now()
		if _, err := n1.Send(2, cm); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-replies:
			circRTT = append(circRTT, time.Since(start))
			if !bytes.Equal(r, msg) {
				b.Fatalf("circuit echo: got %x, want %x", r, msg)
			}
		case <-watchdog.Done():
			echo.dump(b)
			b.Fatalf("no circuit reply to message %d", seq)
		}
	}

	slices.Sort(rawRTT)
	slices.Sort(circRTT)
	rawP50, circP50 := percentile(rawRTT, 0.5), percentile(circRTT, 0.5)
	b.ReportMetric(float64(circP50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(circRTT, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(rawP50.Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(percentile(rawRTT, 0.99).Nanoseconds()), "raw-p99-ns")
	if rawP50 > 0 {
		b.ReportMetric(float64(circP50)/float64(rawP50), "ratio-p50")
	}
	if cs, _, err := n1.Stats(); err == nil {
		b.Logf("n1: %d round trips; sent=%d retransmits=%d acks=%d packets_out=%d packets_in=%d",
			len(circRTT), cs.Sent, cs.Retransmits, cs.Acks, cs.PacketsOut, cs.PacketsIn)
	}
	echo.stop()
	if s, ok := echo.lastLine(benchStatsPref); ok {
		b.Logf("n2 (echo): %s", s)
	}
}

// BenchmarkConnThroughput: 1 KiB and 64 KiB circuit messages from this
// process to a node-count peer process, which replies with its count after
// every 256 KiB (the sender keeps at most 16 MiB unconfirmed, well below
// the circuit's send queue) and at the end on a flush marker. The time runs
// until the last message is confirmed. Metrics: msgs/s and MiB/s.
func BenchmarkConnThroughput(b *testing.B) {
	cl := writeBenchCluster(b, netThroughput, 2)
	peer := startPeer(b, "n2", "node-count", benchConfigEnv+"="+cl.paths[1], benchEveryEnv+"="+strconv.Itoa(256<<10))
	procs := []*benchProc{peer}

	var confirmed atomic.Uint64 // the peer's latest count
	news := make(chan struct{}, 1)
	n1 := startBenchNode(b, cl.paths[0], func(m conn.Message) {
		if len(m.Data) != 8 {
			return
		}
		if c := binary.BigEndian.Uint64(m.Data); c > confirmed.Load() {
			confirmed.Store(c)
		}
		select {
		case news <- struct{}{}:
		default:
		}
	}, nil)
	benchEventually(b, 10*time.Second, "n1 reaches the node-count peer", procs, func() bool {
		return n1.peer(b, 2).Reachable
	})

	var sent uint64 // messages sent so far, over every run of the sub-benchmarks
	// waitFor waits until the peer confirmed at least want messages.
	waitFor := func(b *testing.B, want uint64) {
		for confirmed.Load() < want {
			select {
			case <-news:
			case <-time.After(10 * time.Second):
				peer.dump(b)
				b.Fatalf("the peer confirmed %d of %d messages and then nothing for 10 s", confirmed.Load(), want)
			}
		}
	}
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			before, _, err := n1.Stats()
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size) // never changed, so it can be sent many times
			maxOut := uint64(max(1, (16<<20)/size))
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if sent-confirmed.Load() >= maxOut {
					waitFor(b, sent-maxOut+1)
				}
				if _, err := n1.Send(2, payload); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			if _, err := n1.Send(2, []byte{0}); err != nil {
				b.Fatal(err)
			}
			waitFor(b, sent)
			b.StopTimer()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/secs, "msgs/s")
			b.ReportMetric(float64(b.N)*float64(size)/secs/(1<<20), "MiB/s")
			if after, _, err := n1.Stats(); err == nil {
				// Packets in are the peer's acknowledgements and counts.
				b.Logf("n1, %d messages: %d chunks sent, %d retransmits, %d packets in, %d queue full",
					b.N, after.Sent-before.Sent, after.Retransmits-before.Retransmits,
					after.PacketsIn-before.PacketsIn, after.QueueFull-before.QueueFull)
			}
		})
	}
	// Shown with -v: what the peer saw (duplicates are retransmissions it
	// did not need).
	peer.stop()
	if s, ok := peer.lastLine(benchStatsPref); ok {
		b.Logf("n2 (count): %s", s)
	}
}

// killRuns is how many times BenchmarkConnKillToUnreachable kills its peer
// per iteration; killDwell is how long it lets each incarnation run first
// (20 heartbeats).
const (
	killRuns  = 20
	killDwell = 2 * time.Second
)

// BenchmarkConnKillToUnreachable: the time from kill -9 of a node-echo peer
// process to peer_unreachable on this process's node, with default timers
// (heartbeat 100ms, suspect_min 400ms), over killRuns runs per iteration
// (run it with -benchtime 1x). Each run starts the peer afresh (its boot id
// grows), waits until it is reachable, lets it run killDwell, and kills it
// at a random phase of the heartbeat cycle. Metrics:
// p50-ms and max-ms (goal: p50 at most 500 ms).
func BenchmarkConnKillToUnreachable(b *testing.B) {
	cl := writeBenchCluster(b, netKill, 2)
	unreachable := make(chan time.Time, 16)
	n1 := startBenchNode(b, cl.paths[0], nil, func(e conn.Event) {
		if e.Kind == conn.EventPeerUnreachable && e.Peer == 2 {
			select {
			case unreachable <- time.Now():
			default:
			}
		}
	})
	t := n1.cfg.Timers

	var lat, thresholds []time.Duration
	var lastBoot uint32
	run := 0
	for b.Loop() {
		for range killRuns {
			run++
			p := startPeer(b, fmt.Sprintf("n2-run%d", run), "node-echo", benchConfigEnv+"="+cl.paths[1])
			procs := []*benchProc{p}
			var st conn.PeerStatus
			benchEventually(b, 10*time.Second, "n1 reaches the restarted n2", procs, func() bool {
				st = n1.peer(b, 2)
				return st.Reachable && st.Boot > lastBoot
			})
			lastBoot = st.Boot
			// Let this incarnation run a while, then kill at a random
			// phase of the heartbeat cycle: the wait above ends just as a
			// heartbeat arrives, and killing then would always measure the
			// worst case.
			upAt := time.Now()
			dwell := killDwell + rand.N(t.Heartbeat.D())
			benchEventually(b, dwell+5*time.Second, "n2 stays reachable until the kill", procs, func() bool {
				if !n1.peer(b, 2).Reachable {
					b.Fatalf("run %d: n1 lost n2 before the kill", run)
				}
				return time.Since(upAt) >= dwell
			})
			for len(unreachable) > 0 {
				<-unreachable
			}
			var thr time.Duration
			for _, pa := range n1.peer(b, 2).Paths {
				thr = max(thr, pa.Threshold)
			}
			thresholds = append(thresholds, thr)
			killed := p.kill(b)
			select {
			case at := <-unreachable:
				lat = append(lat, at.Sub(killed))
			case <-time.After(10 * time.Second):
				b.Fatalf("run %d: no peer_unreachable 10 s after kill -9", run)
			}
			p.wait(b, 5*time.Second)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.5))/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(lat[0])/1e6, "min-ms")
	benchrec.Log(b, benchrec.Record{Figure: "detection-p50", Value: float64(percentile(lat, 0.5)) / 1e6, Unit: "ms",
		Note: fmt.Sprintf("max %.0f ms, %d kills", float64(lat[len(lat)-1])/1e6, len(lat))})
	b.Logf("%d kills, last boot id %d; kill -> unreachable (sorted): %v", len(lat), lastBoot, lat)
	b.Logf("n1's largest detector threshold on a path to n2 at each kill: %v", thresholds)
}

// idleWindow is how long BenchmarkConnIdleCPU measures per iteration.
const idleWindow = 10 * time.Second

// BenchmarkConnIdleCPU: three node-echo peer processes with no traffic
// (heartbeats only). Once all reach each other, it reads each process's CPU
// time (utime+stime from /proc) over idleWindow per iteration (run it with
// -benchtime 1x). Metrics: cpu-pct-max and cpu-pct-mean, in percent of one
// core per node (goal: max at most 1).
func BenchmarkConnIdleCPU(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc: cannot read process CPU times")
	}
	cl := writeBenchCluster(b, netIdleCPU, 3)
	var procs []*benchProc
	for k, path := range cl.paths {
		procs = append(procs, startPeer(b, fmt.Sprintf("n%d", k+1), "node-echo", benchConfigEnv+"="+path))
	}
	benchEventually(b, 15*time.Second, "all three nodes reach each other", procs, func() bool {
		for _, p := range procs {
			if s, _ := p.lastLine(benchReachablePref); s != "2" {
				return false
			}
		}
		return true
	})
	tck := clockTicks()
	var worst, sum float64
	samples := 0
	for b.Loop() {
		before := make([]uint64, len(procs))
		for i, p := range procs {
			before[i] = cpuTicks(b, p)
		}
		start := time.Now()
		time.Sleep(idleWindow) // the measurement window, not a wait for a condition
		elapsed := time.Since(start)
		for i, p := range procs {
			pct := float64(cpuTicks(b, p)-before[i]) / tck / elapsed.Seconds() * 100
			worst = max(worst, pct)
			sum += pct
			samples++
			b.Logf("%s: %.2f %% of one core over %v", p.name, pct, elapsed.Round(time.Millisecond))
		}
	}
	for _, p := range procs {
		if s, _ := p.lastLine(benchReachablePref); s != "2" {
			p.dump(b)
			b.Errorf("%s lost a peer while idle (reachable=%s)", p.name, s)
		}
	}
	b.ReportMetric(worst, "cpu-pct-max")
	b.ReportMetric(sum/float64(samples), "cpu-pct-mean")
	benchrec.Log(b, benchrec.Record{Figure: "idle-cpu-conn", Value: worst, Unit: "%",
		Note: fmt.Sprintf("mean %.2f %%", sum/float64(samples))})
	for _, p := range procs {
		p.stop()
		if s, ok := p.lastLine(benchStatsPref); ok {
			b.Logf("%s, whole life: %s", p.name, s)
		}
	}
}

// clockTicks is the unit of /proc/<pid>/stat CPU times (USER_HZ).
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100
}

// cpuTicks returns a process's utime+stime (all threads), in clock ticks.
func cpuTicks(b *testing.B, p *benchProc) uint64 {
	b.Helper()
	v, err := readCPUTicks(p.cmd.Process.Pid)
	if err != nil {
		p.dump(b)
		b.Fatalf("%s: %v", p.name, err)
	}
	return v
}

func readCPUTicks(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'. After it come state (3) ... utime (14), stime (15).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}
