package testsuite

// BenchmarkCDBSetVsEtcd: set latency and updates/s of the configuration
// database on a 3-node demo cluster, next to a 3-node etcd cluster's Put
// on the same machine in the same run (issue 6, "Benchmarks"). Run it with
// -benchtime 1x (make bench): each sub-benchmark measures a fixed number of
// sets, whatever b.N is.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/testsuite/benchrec"
)

const (
	cdbBenchNet    = "127.66" // the demo cluster's block
	cdbBenchSets   = 2000     // measured sets per system and client count
	cdbBenchWarmup = 100      // unmeasured sets before each measurement
	cdbBenchKeys   = 64       // distinct keys each client cycles through
	cdbBenchRounds = 10       // turns each system takes, cdbBenchSets/cdbBenchRounds sets each
)

// cdbBenchValue is the value of every set (64 bytes).
var cdbBenchValue = strings.Repeat("v", 64)

// cdbSetter does one durable set of key to value.
type cdbSetter func(key, value string) error

// cdbBenchResult is one measurement: latencies of every set and the wall
// time of all of them.
type cdbBenchResult struct {
	lat  []time.Duration
	wall time.Duration
}

func (r cdbBenchResult) p(q float64) float64 {
	return float64(memberPercentile(r.lat, q)) / float64(time.Microsecond)
}

func (r cdbBenchResult) ups() float64 { return float64(len(r.lat)) / r.wall.Seconds() }

func (r cdbBenchResult) String() string {
	return fmt.Sprintf("%d sets in %v: p50 %.0f µs, p99 %.0f µs, max %.0f µs, %.0f updates/s",
		len(r.lat), r.wall.Round(time.Millisecond), r.p(0.5), r.p(0.99), r.p(1), r.ups())
}

// cdbSetters makes clients setters (newSetter makes each worker's own
// connection) and warms them up, failing b on any error.
func cdbSetters(b *testing.B, what string, clients int, newSetter func() cdbSetter) []cdbSetter {
	b.Helper()
	setters := make([]cdbSetter, clients)
	for i := range setters {
		setters[i] = newSetter()
	}
	for i := range cdbBenchWarmup {
		w := i % clients
		if err := setters[w](fmt.Sprintf("bench/warm/c%d/k%d", w, i%cdbBenchKeys), cdbBenchValue); err != nil {
			b.Fatalf("%s: warm-up set %d: %v", what, i, err)
		}
	}
	return setters
}

// cdbMeasure runs total sets split over the setters (one worker each) and
// fails b on any error.
func cdbMeasure(b *testing.B, what string, setters []cdbSetter, total int) cdbBenchResult {
	b.Helper()
	clients := len(setters)
	per := total / clients
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, per)
			for i := range per {
				key := fmt.Sprintf("bench/c%d/w%d/k%d", clients, w, i%cdbBenchKeys)
				t0 := time.Now()
				if err := setters[w](key, cdbBenchValue); err != nil {
					errs[w] = fmt.Errorf("client %d, set %d: %w", w, i, err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			lats[w] = lat
		})
	}
	wg.Wait()
	res := cdbBenchResult{wall: time.Since(start)}
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	return res
}

// add appends o's sets to r.
func (r *cdbBenchResult) add(o cdbBenchResult) {
	r.lat = append(r.lat, o.lat...)
	r.wall += o.wall
}

// cdbBenchClient is an HTTP client with its own connection (one per
// worker: the workers are independent clients).
func cdbBenchClient(dial func(ctx context.Context) (net.Conn, error)) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	if dial != nil {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// cdbBenchDo sends body to url and returns the answer's body, an error
// when the status is not 200.
func cdbBenchDo(hc *http.Client, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// corralSetter sets keys with PUT /v1/cdb/KEY over the admin socket sock.
func corralSetter(sock string) cdbSetter {
	var d net.Dialer
	hc := cdbBenchClient(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) })
	return func(key, value string) error {
		body, err := json.Marshal(struct {
			Value string `json:"value"`
		}{value})
		if err != nil {
			return err
		}
		out, err := cdbBenchDo(hc, http.MethodPut, "http://corral/v1/cdb/"+key, body)
		if err != nil {
			return err
		}
		var w cdbWrite
		if err := json.Unmarshal(out, &w); err != nil {
			return fmt.Errorf("answer is not JSON: %v: %s", err, out)
		}
		if !w.OK || w.Revision == 0 {
			return fmt.Errorf("set %s: %s", key, out)
		}
		return nil
	}
}

// etcdPuts measures total Puts on the etcd leader endpoint with the
// anchor's lockbench client in put mode (etcd's native gRPC client,
// clientv3, as its users run it: each client its own connection and key),
// clients at once.
func etcdPuts(b *testing.B, bin, endpoint string, clients, total int) etcdRound {
	b.Helper()
	iters := max(1, total/clients)
	cmd := exec.Command(bin, "-endpoints", endpoint, "-mode", "put", "-clients", strconv.Itoa(clients),
		"-iters", strconv.Itoa(iters), "-warmup", "10", "-timeout", "120s", "-label", "etcd")
	out, err := cmd.CombinedOutput()
	m := lockbenchPut.FindSubmatch(out)
	if err != nil || m == nil || string(m[2]) != "0" {
		b.Fatalf("lockbench -mode put: %v\n%s", err, out)
	}
	var r etcdRound
	r.ops, _ = strconv.Atoi(string(m[1]))
	el, _ := strconv.ParseFloat(string(m[3]), 64)
	r.wall = time.Duration(el * float64(time.Second))
	p50, _ := strconv.ParseFloat(string(m[4]), 64)
	p99, _ := strconv.ParseFloat(string(m[5]), 64)
	r.p50, r.p99 = p50*1000, p99*1000
	return r
}

// lockbenchPut parses lockbench's line: ops, errors, elapsed, p50 and p99
// (ms).
var lockbenchPut = regexp.MustCompile(`ops=(\d+) errors=(\d+) elapsed=([0-9.]+)s ops/s=\d+ \| acq\+rel p50=([0-9.]+)ms p99=([0-9.]+)ms`)

// etcdRound is one lockbench run: its Puts, their wall time, p50 and p99
// in µs.
type etcdRound struct {
	ops      int
	wall     time.Duration
	p50, p99 float64
}

// etcdRounds sums rounds: updates/s over all of them, and the median of
// the rounds' p50 and p99 (lockbench reports percentiles, not each Put).
type etcdRounds []etcdRound

func (rs etcdRounds) ups() float64 {
	var ops int
	var wall time.Duration
	for _, r := range rs {
		ops += r.ops
		wall += r.wall
	}
	return float64(ops) / wall.Seconds()
}

func (rs etcdRounds) median(f func(etcdRound) float64) float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, f(r))
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func (rs etcdRounds) String() string {
	var ops int
	for _, r := range rs {
		ops += r.ops
	}
	return fmt.Sprintf("%d puts in %d rounds: p50 %.0f µs, p99 %.0f µs (medians of the rounds'), %.0f updates/s",
		ops, len(rs), rs.median(func(r etcdRound) float64 { return r.p50 }), rs.median(func(r etcdRound) float64 { return r.p99 }), rs.ups())
}

// etcdCluster is a 3-node etcd on 127.0.0.1-3 (the shape of the peer
// anchor's etcd/etcd-3node.sh), default settings (fsync of the WAL on
// every commit).
type etcdCluster struct {
	clients []string // host:port of each member's client URL
	logs    []string
}

// freePort returns a TCP port free on ip now.
func freePort(tb testing.TB, ip string) int {
	tb.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		tb.Fatalf("a free port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts the cluster in dir and registers a cleanup that kills
// every member by pid and waits for it.
func startEtcd(tb testing.TB, bin, dir string) *etcdCluster {
	tb.Helper()
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	var peers, initial []string
	c := &etcdCluster{}
	for k, ip := range ips {
		c.clients = append(c.clients, fmt.Sprintf("%s:%d", ip, freePort(tb, ip)))
		peers = append(peers, fmt.Sprintf("http://%s:%d", ip, freePort(tb, ip)))
		initial = append(initial, fmt.Sprintf("e%d=%s", k+1, peers[k]))
	}
	var cmds []*exec.Cmd
	tb.Cleanup(func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, cmd := range cmds {
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				tb.Errorf("cleanup: etcd pid %d ignored SIGTERM for 10 s; killing it", cmd.Process.Pid)
				_ = cmd.Process.Kill()
				<-done
			}
		}
	})
	for k := range ips {
		name := fmt.Sprintf("e%d", k+1)
		logPath := filepath.Join(dir, name+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			tb.Fatal(err)
		}
		c.logs = append(c.logs, logPath)
		cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", "http://"+c.clients[k], "--advertise-client-urls", "http://"+c.clients[k],
			"--listen-peer-urls", peers[k], "--initial-advertise-peer-urls", peers[k],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "corral-cdbbench", "--logger", "zap", "--log-outputs", "stderr")
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Start()
		logf.Close()
		if err != nil {
			tb.Fatalf("starting %s: %v", bin, err)
		}
		cmds = append(cmds, cmd)
	}
	return c
}

// leader waits until every member answers its status with one leader and
// returns that leader's client endpoint.
func (c *etcdCluster) leader(tb testing.TB, within time.Duration) string {
	tb.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		leader, ok := "", true
		for _, ep := range c.clients {
			out, err := cdbBenchDo(hc, http.MethodPost, "http://"+ep+"/v3/maintenance/status", []byte("{}"))
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			if err == nil {
				err = json.Unmarshal(out, &st)
			}
			if err == nil && (st.Leader == "" || st.Leader == "0") {
				err = fmt.Errorf("%s: no leader yet", ep)
			}
			if err != nil {
				last, ok = err, false
				break
			}
			if st.Header.MemberID == st.Leader {
				leader = ep
			}
		}
		if ok && leader != "" {
			return leader
		}
		time.Sleep(100 * time.Millisecond)
	}
	var tails bytes.Buffer
	for _, l := range c.logs {
		data, _ := os.ReadFile(l)
		data = data[max(0, len(data)-2000):]
		fmt.Fprintf(&tails, "\n--- %s (tail):\n%s", l, data)
	}
	tb.Fatalf("etcd: no leader within %v: %v%s", within, last, tails.String())
	return ""
}

// BenchmarkCDBSetVsEtcd: for 1 and 16 concurrent clients, cdbBenchSets
// sets on n1 of a 3-node demo cluster (PUT /v1/cdb/KEY over its admin
// socket; every member fsyncs its write-ahead log) and as many Puts on the
// leader of a 3-node etcd (its native gRPC client: the anchor's lockbench
// -mode put, $CORRAL_ETCD_LOCKBENCH; WAL fsync, etcd's default),
// the systems taking turns (cdbBenchRounds each). Reported per client
// count: corral-p50-us, corral-p99-us, corral-ups, etcd-p50-us,
// etcd-p99-us, etcd-ups, ratio-p50, ratio-p99 and ratio-ups (corral /
// etcd; etcd's percentiles are the medians of its rounds'). Goal:
// ratio-p50 at most 0.5, ratio-ups at least 2 with 16 clients. Without an etcd binary (Debian: etcd-server) the
// etcd figures are skipped with a message.
func BenchmarkCDBSetVsEtcd(b *testing.B) {
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "corral"), 0o700); err != nil {
		b.Fatal(err)
	}
	c := startMemberDemo(b, filepath.Join(dir, "corral"), cdbBenchNet, 3)
	all := c.names
	c.waitFor(20*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	sock := filepath.Join(c.dir, "n1", "corral.sock")
	first := corralSetter(sock)
	c.waitFor(20*time.Second, 100*time.Millisecond, "a first set on n1", func() error { return first("bench/first", "one") })

	var etcdEP, skipped string
	lockbench := os.Getenv(dlmBenchEnvLB)
	if bin, err := exec.LookPath("etcd"); err != nil {
		skipped = fmt.Sprintf("etcd is not installed (%v): the etcd figures are skipped; on Debian: apt-get install etcd-server", err)
		b.Log(skipped)
	} else if lockbench == "" {
		skipped = "$" + dlmBenchEnvLB + " is not set: the etcd figures are skipped (build ../shared/anchors/peers/etcd/lockbench outside this module and name the binary there; make bench does)"
		b.Log(skipped)
	} else {
		edir := filepath.Join(dir, "etcd")
		if err := os.Mkdir(edir, 0o700); err != nil {
			b.Fatal(err)
		}
		e := startEtcd(b, bin, edir)
		etcdEP = e.leader(b, 30*time.Second)
		b.Logf("etcd (%s) members %v, leader %s; data in %s; client %s", bin, e.clients, etcdEP, edir, lockbench)
	}

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// The systems take turns (cdbBenchRounds slices each), so a
			// burst of load from elsewhere on the machine hits both alike.
			cs := cdbSetters(b, "corral", clients, func() cdbSetter { return corralSetter(sock) })
			var cr cdbBenchResult
			var er etcdRounds
			for range cdbBenchRounds {
				cr.add(cdbMeasure(b, "corral", cs, cdbBenchSets/cdbBenchRounds))
				if etcdEP != "" {
					er = append(er, etcdPuts(b, lockbench, etcdEP, clients, cdbBenchSets/cdbBenchRounds))
				}
			}
			b.Logf("corral n1, %2d clients: %v", clients, cr)
			b.ReportMetric(cr.p(0.5), "corral-p50-us")
			b.ReportMetric(cr.p(0.99), "corral-p99-us")
			b.ReportMetric(cr.ups(), "corral-ups")
			if etcdEP == "" {
				b.Log(skipped)
				return
			}
			b.Logf("etcd leader %s, %2d clients: %v", etcdEP, clients, er)
			ep50 := er.median(func(r etcdRound) float64 { return r.p50 })
			ep99 := er.median(func(r etcdRound) float64 { return r.p99 })
			b.ReportMetric(ep50, "etcd-p50-us")
			b.ReportMetric(ep99, "etcd-p99-us")
			b.ReportMetric(er.ups(), "etcd-ups")
			b.ReportMetric(cr.p(0.5)/ep50, "ratio-p50")
			b.ReportMetric(cr.p(0.99)/ep99, "ratio-p99")
			b.ReportMetric(cr.ups()/er.ups(), "ratio-ups")
			benchrec.Log(b, benchrec.Record{Figure: fmt.Sprintf("cdb-set-p50-%d", clients), Value: cr.p(0.5), Unit: "µs", Peer: "etcd", PeerValue: ep50})
			if clients == 16 {
				benchrec.Log(b, benchrec.Record{Figure: "cdb-ups-16", Value: cr.ups(), Unit: "updates/s", Peer: "etcd", PeerValue: er.ups()})
			}
		})
	}
}
