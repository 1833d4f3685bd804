package testsuite

// Lock manager benchmarks on real nodes over real UDP (`make bench`; issue
// 18, "Benchmarks"). The in-process engine has its own benchmarks
// (core/dlm); these go through the node's Go API (node.Session) with every
// message on loopback sockets:
//
//	BenchmarkDLMUDPLockUnlock     lock+unlock, locally mastered and with a
//	                           remote master, vs a raw UDP round trip
//	BenchmarkDLMUDPAcquisitions   acquisitions/s, 1 and 16 clients on distinct
//	                           names, 8 on one name (fairness), vs etcd
//	BenchmarkDLMLockCLI        `corral lock N -- true` vs `etcdctl lock N true`
//
// The three nodes run inside the benchmark process (startBenchNode); the
// raw UDP echo is a peer process (connbench's raw-echo), as in
// BenchmarkConnRoundTrip. The etcd figures need etcd (Debian: etcd-server,
// etcd-client) and, for its concurrency.Mutex, the anchor's lockbench
// client built outside this module: go build -o <bin> in
// ../shared/anchors/peers/etcd/lockbench and pass
// CORRAL_ETCD_LOCKBENCH=<bin>. Without them the etcd side is skipped with
// a message. Figures are ratios of peers run side by side, never timed
// assertions.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/testsuite/benchrec"
)

const (
	netDLM        = 65       // the in-process nodes' block (127.65.x.y)
	dlmCLINet     = "127.68" // BenchmarkDLMLockCLI's demo cluster
	dlmBenchEnvLB = "CORRAL_ETCD_LOCKBENCH"
)

// dlmBenchCluster starts the 3-node cluster in process and waits until
// every node is quorate and a lock goes through on each.
func dlmBenchCluster(b *testing.B) (benchCluster, []*benchNode) {
	b.Helper()
	cl := writeBenchCluster(b, netDLM, 3)
	var nodes []*benchNode
	for _, p := range cl.paths {
		nodes = append(nodes, startBenchNode(b, p, nil, nil))
	}
	benchEventually(b, 30*time.Second, "all three nodes quorate", nil, func() bool {
		for _, n := range nodes {
			if q, err := n.Quorate(); err != nil || !q {
				return false
			}
		}
		return true
	})
	for k, n := range nodes {
		s := dlmSession(b, n)
		benchEventually(b, 30*time.Second, fmt.Sprintf("a first lock on n%d", k+1), nil, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			id, c, err := s.Lock(ctx, dlm.Request{Name: fmt.Sprintf("warm-n%d", k+1), Mode: dlm.EX})
			if err != nil || c.Status != dlm.OK {
				return false
			}
			_, err = s.Unlock(id, 0, nil)
			return err == nil
		})
	}
	return cl, nodes
}

// dlmSession opens a session on n, closed in Cleanup.
func dlmSession(b *testing.B, n *benchNode) *nodeSession {
	b.Helper()
	s, err := n.NewSession(0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	go func() { // notices nobody waits for: drain them
		for range s.Notices() {
		}
	}()
	return &nodeSession{Session: s, n: n}
}

// lockUnlock takes name in EX and releases it, failing on anything but
// a grant and an unlock.
func (s *nodeSession) lockUnlock(ctx context.Context, name string) error {
	id, c, err := s.Lock(ctx, dlm.Request{Name: name, Mode: dlm.EX})
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	if c.Status == dlm.Lost {
		return fmt.Errorf("lock %s: %w", name, errDLMBenchLost)
	}
	if c.Status != dlm.OK {
		return fmt.Errorf("lock %s: status %v", name, c.Status)
	}
	lost := s.n.DLMStats().Lost
	c, err = s.Unlock(id, 0, nil)
	if errors.Is(err, dlm.ErrNotFound) && s.n.DLMStats().Lost > lost {
		return fmt.Errorf("unlock %s: %w", name, errDLMBenchLost)
	}
	if err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	if c.Status != dlm.EUNLOCK {
		return fmt.Errorf("unlock %s: status %v", name, c.Status)
	}
	return nil
}

// masterOf returns the master of name in the default lockspace as n sees
// the cluster's lock table (0 when nobody holds it).
func masterOf(b *testing.B, n *benchNode, name string) wire.NodeID {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := n.Locks(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		if r.Name == name {
			return r.Master
		}
	}
	return 0
}

// BenchmarkDLMUDPLockUnlock: an EX lock and its unlock through n1's Go API
// (Session.Lock, Session.Unlock) on a name n1 masters (no message) and on
// a name n2 masters (n2 holds an NL lock on it so that it stays its
// master: each operation is a request to n2 and its reply), interleaved
// with a 64-byte raw UDP ping-pong with a raw-echo peer process, so all
// three see the same load, and with one bare hop onto n1's event loop
// (Quorate) as the floor of the local figure. Metrics: local-p50-ns,
// local-p99-ns (goal p50 ≤ 5 µs), loop-hop-p50-ns, remote-p50-ns, remote-p99-ns, raw-p50-ns, raw-p99-ns and
// remote/raw of the p50s (goal ≤ 2).
func BenchmarkDLMUDPLockUnlock(b *testing.B) {
	logMachineLoad(b)
	cl, nodes := dlmBenchCluster(b)
	n1, n2 := nodes[0], nodes[1]
	rawAddr := fmt.Sprintf("127.%d.2.2:%d", netDLM, cl.port)
	raw := startPeer(b, "raw-echo", "raw-echo", benchAddrEnv+"="+rawAddr)

	s1 := dlmSession(b, n1)
	s2 := dlmSession(b, n2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s1.lockUnlock(ctx, "local"); err != nil {
		b.Fatal(err)
	}
	// n1 keeps an NL lock on local, as n2 does on remote: both masters stay.
	if _, err := s1.LockAsync(dlm.Request{Name: "local", Mode: dlm.NL}); err != nil {
		b.Fatal(err)
	}
	if _, c, err := s2.Lock(ctx, dlm.Request{Name: "remote", Mode: dlm.NL}); err != nil || c.Status != dlm.OK {
		b.Fatalf("n2 NL on remote: %v %v", c.Status, err)
	}
	if err := s1.lockUnlock(ctx, "remote"); err != nil {
		b.Fatal(err)
	}
	benchEventually(b, 10*time.Second, "n1 masters local", nil, func() bool { return masterOf(b, n1, "local") == n1.ID() })
	if m := masterOf(b, n1, "remote"); m != n2.ID() {
		b.Fatalf("remote is mastered by %d, want n2 (%d)", m, n2.ID())
	}

	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, netDLM, 2, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	to, err := net.ResolveUDPAddr("udp4", rawAddr)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	benchEventually(b, 10*time.Second, "the raw-echo peer answers", []*benchProc{raw}, func() bool {
		_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := client.WriteToUDP([]byte("ping"), to); err != nil {
			return false
		}
		_, _, err := client.ReadFromUDP(buf)
		return err == nil
	})
	for { // late answers to the pings above
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := client.ReadFromUDP(buf); err != nil {
			break
		}
	}
	if err := client.SetReadDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		b.Fatal(err)
	}

	msg := make([]byte, 64)
	var local, remote, rawRTT, hop []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := client.WriteToUDP(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := client.ReadFromUDP(buf); err != nil {
			b.Fatal(err)
		}
		rawRTT = append(rawRTT, time.Since(start))

		// One bare hop onto n1's event loop and back (Quorate reads
		// a field there): a locally mastered lock+unlock is two of them.
		start = time.Now()
		if _, err := n1.Quorate(); err != nil {
			b.Fatal(err)
		}
		hop = append(hop, time.Since(start))

		start = time.Now()
		if err := s1.lockUnlock(ctx, "local"); err != nil {
			b.Fatal(err)
		}
		local = append(local, time.Since(start))

		start = time.Now()
		if err := s1.lockUnlock(ctx, "remote"); err != nil {
			b.Fatal(err)
		}
		remote = append(remote, time.Since(start))
	}
	for _, d := range [][]time.Duration{local, remote, rawRTT, hop} {
		slices.Sort(d)
	}
	rawP50, remP50 := percentile(rawRTT, 0.5), percentile(remote, 0.5)
	b.ReportMetric(float64(percentile(local, 0.5).Nanoseconds()), "local-p50-ns")
	benchrec.Log(b, benchrec.Record{Figure: "dlm-local-p50", Value: float64(percentile(local, 0.5).Nanoseconds()) / 1e3, Unit: "µs"})
	b.ReportMetric(float64(percentile(local, 0.99).Nanoseconds()), "local-p99-ns")
	b.ReportMetric(float64(percentile(hop, 0.5).Nanoseconds()), "loop-hop-p50-ns")
	b.ReportMetric(float64(remP50.Nanoseconds()), "remote-p50-ns")
	b.ReportMetric(float64(percentile(remote, 0.99).Nanoseconds()), "remote-p99-ns")
	b.ReportMetric(float64(rawP50.Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(percentile(rawRTT, 0.99).Nanoseconds()), "raw-p99-ns")
	if rawP50 > 0 {
		b.ReportMetric(float64(remP50)/float64(rawP50), "remote/raw-p50")
	}
	st := n1.DLMStats()
	b.Logf("%d iterations; n1: requests=%d grants=%d; goals: local p50 ≤ 5 µs, remote/raw ≤ 2",
		len(local), st.Requests, st.Grants)
}

// nodeSession is a session with the benchmarks' helpers.
type nodeSession struct {
	*node.Session
	n *benchNode
}

// errDLMBenchLost is lockUnlock's error when its node lost the lock (its
// lease lapsed: a machine loaded enough to starve the nodes' loops).
var errDLMBenchLost = errors.New("the lock was lost")

// dlmRate is one throughput measurement: acquisitions per client over
// wall, and the locks lost meanwhile (a node's lease lapsed).
type dlmRate struct {
	per  []int
	lost []int
	wall time.Duration
}

func (r dlmRate) total() int { return sumInts(r.per) }

func sumInts(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func (r dlmRate) perSec() float64 { return float64(r.total()) / r.wall.Seconds() }

// corralRate runs one client per session for d, each taking its name
// (names[i]) in EX and releasing it in a loop.
func corralRate(b *testing.B, sessions []*nodeSession, names []string, d time.Duration) dlmRate {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	r := dlmRate{per: make([]int, len(sessions)), lost: make([]int, len(sessions))}
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i, s := range sessions {
		wg.Go(func() {
			for time.Now().Before(end) {
				err := s.lockUnlock(ctx, names[i])
				if errors.Is(err, errDLMBenchLost) {
					r.lost[i]++
					continue
				}
				if err != nil {
					errs[i] = err
					return
				}
				r.per[i]++
			}
		})
	}
	wg.Wait()
	r.wall = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		for k, n := range nodes(sessions) {
			b.Logf("n%d: %+v", k+1, n.DLMStats())
		}
		b.Fatal(err)
	}
	if lost := sumInts(r.lost); lost > 0 {
		b.Logf("%d locks lost (a node's lease lapsed: the machine starved the nodes); per client %v", lost, r.lost)
	}
	return r
}

// nodes returns the distinct nodes of the sessions, by id.
func nodes(sessions []*nodeSession) []*benchNode {
	var ns []*benchNode
	for _, s := range sessions {
		if !slices.Contains(ns, s.n) {
			ns = append(ns, s.n)
		}
	}
	slices.SortFunc(ns, func(a, b *benchNode) int { return int(a.ID()) - int(b.ID()) })
	return ns
}

// etcdLock runs the anchor's lockbench (concurrency.Mutex) once per key,
// all at once, clients each on their key (or all on one key when shared),
// and returns the sum of their acquisitions/s.
var lockbenchOps = regexp.MustCompile(`ops=(\d+) errors=(\d+) elapsed=([0-9.]+)s ops/s=(\d+)`)

func etcdLockRate(b *testing.B, bin string, endpoints []string, keys []string, clientsPerKey, iters int) float64 {
	b.Helper()
	outs := make([][]byte, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			cmd := exec.Command(bin, "-endpoints", strings.Join(endpoints, ","), "-clients", strconv.Itoa(clientsPerKey),
				"-iters", strconv.Itoa(iters), "-warmup", "5", "-key", k, "-timeout", "120s")
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	var sum float64
	for i := range keys {
		m := lockbenchOps.FindSubmatch(outs[i])
		if errs[i] != nil || m == nil || string(m[2]) != "0" {
			b.Fatalf("lockbench %s: %v\n%s", keys[i], errs[i], outs[i])
		}
		v, _ := strconv.ParseFloat(string(m[4]), 64)
		sum += v
	}
	return sum
}

// etcdForDLM starts a 3-node etcd when etcd and the lockbench client are
// there; it returns the client endpoints, the lockbench binary and why
// not when they are not.
func etcdForDLM(b *testing.B) (eps []string, lockbench, skipped string) {
	b.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, "", fmt.Sprintf("etcd is not installed (%v): the etcd figures are skipped; on Debian: apt-get install etcd-server", err)
	}
	lockbench = os.Getenv(dlmBenchEnvLB)
	if lockbench == "" {
		return nil, "", "$" + dlmBenchEnvLB + " is not set: the etcd figures are skipped (build ../shared/anchors/peers/etcd/lockbench outside this module and name the binary there)"
	}
	edir := filepath.Join(b.TempDir(), "etcd")
	if err := os.Mkdir(edir, 0o700); err != nil {
		b.Fatal(err)
	}
	e := startEtcd(b, bin, edir)
	leader := e.leader(b, 30*time.Second)
	b.Logf("etcd (%s) members %v, leader %s", bin, e.clients, leader)
	return e.clients, lockbench, ""
}

// BenchmarkDLMUDPAcquisitions: acquisitions/s (EX lock + unlock) on the
// 3-node in-process cluster, clients spread over the nodes (client i on
// node i mod 3, its own session), for dlmRateFor each: 1 and 16 clients
// on distinct names, 8 on one name (acquisitions/s, and fairness: the
// fewest and most acquisitions of a client). Next to it, in the same run,
// a 3-node etcd's concurrency.Mutex through the anchor's lockbench (one
// process per distinct name, its rates summed; 8 clients of one process
// on one key). Goal: corral ≥ 100× etcd on distinct names.
func BenchmarkDLMUDPAcquisitions(b *testing.B) {
	const dlmRateFor = 3 * time.Second
	_, nodes := dlmBenchCluster(b)
	eps, lockbench, skipped := etcdForDLM(b)
	if skipped != "" {
		b.Log(skipped)
	}
	sessions := func(b *testing.B, k int) []*nodeSession {
		var ss []*nodeSession
		for i := range k {
			ss = append(ss, dlmSession(b, nodes[i%len(nodes)]))
		}
		return ss
	}
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("distinct/clients=%d", clients), func(b *testing.B) {
			logMachineLoad(b) // a parent's log shows only when it fails
			ss := sessions(b, clients)
			var names []string
			for i := range clients {
				names = append(names, fmt.Sprintf("d%d-%d", clients, i))
			}
			corralRate(b, ss, names, 200*time.Millisecond) // warm-up: each name gets its master
			r := corralRate(b, ss, names, dlmRateFor)
			b.ReportMetric(r.perSec(), "corral-acq/s")
			b.Logf("corral, %2d clients on distinct names: %d acquisitions in %v: %.0f/s", clients, r.total(), r.wall.Round(time.Millisecond), r.perSec())
			if skipped != "" {
				b.Log(skipped)
				return
			}
			var keys []string
			for i := range clients {
				keys = append(keys, fmt.Sprintf("/bench/d%d-%d", clients, i))
			}
			e := etcdLockRate(b, lockbench, eps, keys, 1, max(50, 400/clients))
			b.ReportMetric(e, "etcd-acq/s")
			b.ReportMetric(r.perSec()/e, "ratio")
			if clients == 16 {
				benchrec.Log(b, benchrec.Record{Figure: "dlm-acq-16", Value: r.perSec(), Unit: "acquisitions/s", Peer: "etcd", PeerValue: e})
			}
			b.Logf("etcd concurrency.Mutex, %2d clients on distinct keys: %.0f/s (sum of the clients'); corral/etcd %.0f× (goal ≥ 100×)", clients, e, r.perSec()/e)
		})
	}
	b.Run("one-name/clients=8", func(b *testing.B) {
		logMachineLoad(b)
		ss := sessions(b, 8)
		names := slices.Repeat([]string{"hot"}, 8)
		corralRate(b, ss, names, 200*time.Millisecond)
		r := corralRate(b, ss, names, dlmRateFor)
		lo, hi := slices.Min(r.per), slices.Max(r.per)
		b.ReportMetric(r.perSec(), "corral-acq/s")
		b.ReportMetric(float64(lo), "min-per-client")
		b.ReportMetric(float64(hi), "max-per-client")
		if hi > 0 {
			b.ReportMetric(float64(lo)/float64(hi), "fairness-min/max")
		}
		b.Logf("corral, 8 clients on one name: %d acquisitions in %v: %.0f/s; per client %v", r.total(), r.wall.Round(time.Millisecond), r.perSec(), r.per)
		if skipped != "" {
			b.Log(skipped)
			return
		}
		e := etcdLockRate(b, lockbench, eps, []string{"/bench/hot"}, 8, 25)
		b.ReportMetric(e, "etcd-acq/s")
		b.ReportMetric(r.perSec()/e, "ratio")
		b.Logf("etcd concurrency.Mutex, 8 clients on one key: %.0f/s; corral/etcd %.0f×", e, r.perSec()/e)
	})
}

// BenchmarkDLMLockCLI: the wall time of `corral lock NAME -- true` on n1
// of a 3-node demo cluster next to `etcdctl lock NAME true` on a 3-node
// etcd, dlmCLIRuns each, taking turns (for the record: both are a process
// start, a connection, a lock and an unlock).
func BenchmarkDLMLockCLI(b *testing.B) {
	logMachineLoad(b)
	const dlmCLIRuns = 5
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "corral"), 0o700); err != nil {
		b.Fatal(err)
	}
	c := startMemberDemo(b, filepath.Join(dir, "corral"), dlmCLINet, 3, "--web=false", "--fence=false")
	all := c.names
	c.waitFor(20*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	sock := filepath.Join(c.dir, "n1", "corral.sock")
	corralLock := func() (time.Duration, error) {
		start := time.Now()
		r := corral(b, c.dir, "lock", "--socket", sock, "--timeout", "10s", "bench", "--", "true")
		if r.code != 0 {
			return 0, fmt.Errorf("corral lock: exit %d: %s", r.code, r.stderr)
		}
		return time.Since(start), nil
	}
	c.waitFor(30*time.Second, 100*time.Millisecond, "a first corral lock", func() error { _, err := corralLock(); return err })

	var eps []string
	skipped := ""
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		skipped = fmt.Sprintf("etcdctl is not installed (%v): the etcd figures are skipped; on Debian: apt-get install etcd-client", err)
	} else if bin, err := exec.LookPath("etcd"); err != nil {
		skipped = fmt.Sprintf("etcd is not installed (%v): the etcd figures are skipped; on Debian: apt-get install etcd-server", err)
	} else {
		edir := filepath.Join(dir, "etcd")
		if err := os.Mkdir(edir, 0o700); err != nil {
			b.Fatal(err)
		}
		e := startEtcd(b, bin, edir)
		e.leader(b, 30*time.Second)
		eps = e.clients
	}
	etcdLock := func() (time.Duration, error) {
		start := time.Now()
		cmd := exec.Command(etcdctl, "--endpoints", strings.Join(eps, ","), "lock", "bench", "true")
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("etcdctl lock: %v: %s", err, out)
		}
		return time.Since(start), nil
	}
	if skipped != "" {
		b.Log(skipped)
	} else if _, err := etcdLock(); err != nil { // warm-up
		b.Fatal(err)
	}
	var cr, er []time.Duration
	for b.Loop() {
		for range dlmCLIRuns {
			d, err := corralLock()
			if err != nil {
				b.Fatal(err)
			}
			cr = append(cr, d)
			if skipped != "" {
				continue
			}
			if d, err = etcdLock(); err != nil {
				b.Fatal(err)
			}
			er = append(er, d)
		}
	}
	slices.Sort(cr)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(cr, 0.5)), "corral-ms")
	b.Logf("corral lock bench -- true: %v", cr)
	if skipped != "" {
		return
	}
	slices.Sort(er)
	b.ReportMetric(ms(percentile(er, 0.5)), "etcdctl-ms")
	b.ReportMetric(ms(percentile(cr, 0.5))/ms(percentile(er, 0.5)), "ratio-p50")
	b.Logf("etcdctl lock bench true: %v", er)
}

// logMachineLoad logs the load average and each CPU's busy and softirq
// share over one second before a benchmark starts (the anchors'
// cpustat.py figures), so noisy figures can be read against it.
func logMachineLoad(b *testing.B) {
	b.Helper()
	snap := func() map[string][]uint64 {
		data, err := os.ReadFile("/proc/stat")
		if err != nil {
			return nil
		}
		m := map[string][]uint64{}
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
				continue
			}
			for _, s := range f[1:9] {
				v, _ := strconv.ParseUint(s, 10, 64)
				m[f[0]] = append(m[f[0]], v)
			}
		}
		return m
	}
	before := snap()
	time.Sleep(time.Second) // a measurement window, not a wait for a condition
	after := snap()
	var out []string
	for cpu := range len(after) {
		name := fmt.Sprintf("cpu%d", cpu)
		a, z := before[name], after[name]
		if len(a) != 8 || len(z) != 8 {
			continue
		}
		var d [8]uint64
		var sum uint64
		for i := range 8 {
			d[i] = z[i] - a[i]
			sum += d[i]
		}
		tot := max(sum, 1)
		busy := 100 * float64(tot-d[3]-d[4]) / float64(tot)
		out = append(out, fmt.Sprintf("%s_busy=%.0f%% %s_softirq=%.0f%%", name, busy, name, 100*float64(d[6])/float64(tot)))
	}
	la, _ := os.ReadFile("/proc/loadavg")
	b.Logf("machine load before the run (1 s): %s; loadavg %s", strings.Join(out, " "), strings.TrimSpace(string(la)))
}
