package testsuite

// BenchmarkDNSQPS: queries/s of one corral node's DNS responder pinned to
// one CPU, next to a bare miekg/dns server answering a static A record on
// the same CPU, in the same run, with dnsperf on the other CPU (issue 10,
// "Benchmarks"; the peers' figures and script: anchors/peers/dns). Run it
// with -benchtime 1x (make bench): it measures fixed runs whatever b.N is.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/corral-ha/corral/testsuite/benchrec"
)

const (
	dnsBenchNet    = "127.86" // the one-node cluster's block
	dnsBenchBare   = "127.86.9.1:8053"
	dnsBenchRuns   = 3                 // alternating runs of each server
	dnsBenchSecs   = 5                 // dnsperf -l
	dnsBareEnv     = "CORRAL_DNS_BARE" // the re-executed test binary: serve on this address
	dnsBareRunTest = "^TestDNSBarePeer$"
)

// TestDNSBarePeer is the bare server when the test binary is started with
// $CORRAL_DNS_BARE=ip:port (BenchmarkDNSQPS does); otherwise it skips.
func TestDNSBarePeer(t *testing.T) {
	addr := os.Getenv(dnsBareEnv)
	if addr == "" {
		t.Skip("the bare DNS server of BenchmarkDNSQPS; runs only when started by it")
	}
	a := net.ParseIP("127.86.0.1").To4()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Compress = true
		if len(r.Question) == 1 {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: a}}
		}
		_ = w.WriteMsg(m)
	})
	srv := &mdns.Server{Addr: addr, Net: "udp", Handler: h, UDPSize: 4096}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Shutdown() }()
	if err := srv.ListenAndServe(); err != nil {
		t.Fatal(err)
	}
}

var dnsperfQPS = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
var dnsperfLost = regexp.MustCompile(`Queries lost:\s+(\d+)`)

// dnsperf runs one dnsperf measurement on CPU 0 and returns queries/s.
func dnsperf(b *testing.B, server, queries string) (float64, string) {
	b.Helper()
	host, port, _ := strings.Cut(server, ":")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(dnsBenchSecs+20)*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "taskset", "-c", "0", "dnsperf", "-s", host, "-p", port, "-d", queries,
		"-l", strconv.Itoa(dnsBenchSecs), "-c", "1", "-T", "1", "-q", "100").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf against %s: %v\n%s", server, err, out)
	}
	m := dnsperfQPS.FindStringSubmatch(string(out))
	if m == nil {
		b.Fatalf("dnsperf against %s: no queries per second in\n%s", server, out)
	}
	qps, _ := strconv.ParseFloat(m[1], 64)
	lost := "?"
	if l := dnsperfLost.FindStringSubmatch(string(out)); l != nil {
		lost = l[1]
	}
	return qps, lost
}

// waitDNS waits until server answers name A with NOERROR and an answer.
func waitDNS(b *testing.B, server, name string) {
	b.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := askDNS(server, name, "A", false)
		if err == nil && r.rcode == "NOERROR" && len(r.answer) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not answer %s: %+v %v", server, name, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func BenchmarkDNSQPS(b *testing.B) {
	for _, tool := range []string{"dnsperf", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is not installed (apt-get install dnsperf; taskset is in util-linux): no queries/s figure", tool)
		}
	}
	dir := b.TempDir()
	// a one-node demo cluster, stopped and started again pinned to CPU 1
	// (so its Go runtime sees one CPU, as the bare server does)
	if r := corral(b, dir, "demo", "--detach", "--nodes", "1", "--dir", dir, "--net", dnsBenchNet); r.code != 0 {
		b.Fatalf("demo: %s%s", r.stdout, r.stderr)
	}
	if r := corral(b, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		b.Fatalf("demo stop: %s%s", r.stdout, r.stderr)
	}
	cfg := filepath.Join(dir, "n1", "corral.toml")
	node := exec.Command("taskset", "-c", "1", corralBin(b), "agent", "--config", cfg)
	logf, err := os.Create(filepath.Join(dir, "n1", "bench.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	node.Stdout, node.Stderr = logf, logf
	if err := node.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = node.Process.Signal(syscall.SIGTERM); _ = node.Wait() })
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	bare := exec.Command("taskset", "-c", "1", self, "-test.run", dnsBareRunTest)
	bare.Env = append(os.Environ(), dnsBareEnv+"="+dnsBenchBare)
	bare.Stdout, bare.Stderr = logf, logf
	if err := bare.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bare.Process.Signal(syscall.SIGTERM); _ = bare.Wait() })
	corralAddr := dnsBenchNet + ".0.1:8053"
	waitDNS(b, corralAddr, "demo.corral.")
	waitDNS(b, dnsBenchBare, "demo.corral.")
	// the same query for both: the apex of a one-node cluster is one A
	// record, as the bare server's static answer is
	queries := filepath.Join(dir, "queries.txt")
	if err := os.WriteFile(queries, []byte("demo.corral. A\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var cq, bq []float64
	for run := 1; run <= dnsBenchRuns; run++ {
		q, lost := dnsperf(b, corralAddr, queries)
		cq = append(cq, q)
		fmt.Printf("RESULT dns run=%d server=corral qps=%.0f lost=%s\n", run, q, lost)
		q, lost = dnsperf(b, dnsBenchBare, queries)
		bq = append(bq, q)
		fmt.Printf("RESULT dns run=%d server=bare-miekg qps=%.0f lost=%s\n", run, q, lost)
	}
	// corral's own mix (apex, nodes, name servers, SRV, NXDOMAIN), for the
	// record: not comparable with the bare server's one answer
	mix := filepath.Join(dir, "mix.txt")
	if err := os.WriteFile(mix, []byte("demo.corral. A\nn1.node.demo.corral. A\nns-n1.demo.corral. A\ndemo.corral. NS\ndemo.corral. SOA\nnope.demo.corral. A\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	mq, _ := dnsperf(b, corralAddr, mix)
	slices.Sort(cq)
	slices.Sort(bq)
	c, bare50 := cq[len(cq)/2], bq[len(bq)/2]
	fmt.Printf("dns: corral %.0f qps, bare miekg/dns %.0f qps (medians of %d runs of %d s, both pinned to CPU 1, dnsperf on CPU 0): ratio %.2f; corral on a 6-name mix %.0f qps\n",
		c, bare50, dnsBenchRuns, dnsBenchSecs, c/bare50, mq)
	b.ReportMetric(c, "corral-qps")
	b.ReportMetric(bare50, "bare-qps")
	b.ReportMetric(c/bare50, "ratio")
	benchrec.Log(b, benchrec.Record{Figure: "dns-qps", Value: c, Unit: "queries/s", Peer: "bare miekg/dns", PeerValue: bare50})
}
