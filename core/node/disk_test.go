package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/nbd"
	"github.com/corral-ha/corral/core/transport"
)

// diskCluster starts three in-process nodes (mem links) exporting on their
// own NBD sockets, and defines disk d1 (1 MiB on dir/d1.img, possible
// servers n1 and n2; n3 is only ever a client).
func diskCluster(t *testing.T, netBlock int) (nodes []*clusterNode, img string, socks []string) {
	t.Helper()
	dir := t.TempDir()
	for k := 1; k <= 3; k++ {
		socks = append(socks, filepath.Join(dir, fmt.Sprintf("n%d.nbd", k)))
	}
	tcp := freeTCP(t, fmt.Sprintf("127.%d.0.3", netBlock))
	nodes = startNodes(t, writeCluster(t, dir, netBlock, 3), nodeSetup{mem: transport.NewMemNetwork(),
		edit: func(k int, src string) string {
			listen := ""
			if k == 2 { // n3 serves TCP too
				listen = fmt.Sprintf("listen = %q\n", tcp)
			}
			return strings.Replace(src, "[debug]", fmt.Sprintf("[nbd]\nsocket = %q\n%s\n[debug]", socks[k], listen), 1)
		}})
	img = filepath.Join(dir, "d1.img")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/d1", fmt.Sprintf(`{"agent": "disk", "group": "d1", "monitor": "200ms", "params": {"size": "1048576", "backing": %q}}`, img)},
		{"/groups/d1", `{"resources": ["d1"], "possible": ["n1", "n2"]}`},
	} {
		if _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	return nodes, img, socks
}

// diskServed waits until every running node sees d1 served at an epoch
// above after by the owner of its group, and returns the owner's index.
func diskServed(t *testing.T, nodes []*clusterNode, after uint64) int {
	t.Helper()
	owner := -1
	eventually(t, 20*time.Second, fmt.Sprintf("d1 served above epoch %d, seen by every node", after), func() bool {
		server := ""
		for _, r := range nodes {
			if r == nil {
				continue
			}
			ds, err := r.n.DiskStatus()
			if err != nil || len(ds) != 1 || ds[0].State != "serving" || ds[0].Epoch <= after || ds[0].Server == "" {
				return false
			}
			if server != "" && ds[0].Server != server {
				return false
			}
			server = ds[0].Server
		}
		for i, r := range nodes {
			if r != nil && r.n.cfg.Node == server {
				owner = i
				ds, _ := r.n.DiskStatus()
				return ds[0].Serving
			}
		}
		return false
	})
	return owner
}

// freeTCP is a TCP address on ip that was free a moment ago.
func freeTCP(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot bind %s on loopback: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dialDisk(t *testing.T, sock string) *nbd.Client {
	t.Helper()
	var c *nbd.Client
	network := "unix"
	if !strings.HasPrefix(sock, "/") {
		network = "tcp"
	}
	eventually(t, 10*time.Second, "the export of d1 on "+sock, func() bool {
		var err error
		c, err = nbd.Dial(network, sock, "d1", nbd.ClientOptions{Structured: true})
		return err == nil
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// TestDiskServeAndFailover: the built-in agent takes the store (the
// header's epoch and server read back), every node exports d1 (reads and
// writes through the server's socket, the fast path, and a client's, the
// loop path, see each other's data); the server stops, the group moves,
// the client's next flush fails (a write it had acknowledged without FUA
// may be lost) and its writes go on at the new epoch.
func TestDiskServeAndFailover(t *testing.T) {
	nodes, img, socks := diskCluster(t, 181)
	s := diskServed(t, nodes, 0)
	h := readHeaderFile(t, img)
	if h.Epoch != 1 || h.Server != nodes[s].n.cfg.Node || h.Boot != nodes[s].n.Boot() || h.Disk != "d1" || h.Cluster != "test" {
		t.Fatalf("header %+v, want epoch 1 of the server %s", h, nodes[s].n.cfg.Node)
	}
	cl := 2 // n3: a client only
	if addrs := nodes[cl].n.NBDAddrs(); len(addrs) != 2 {
		t.Fatalf("n3's NBD addresses %v, want its socket and TCP", addrs)
	}
	// the server's export on its socket, the client's over TCP
	srvC, cliC := dialDisk(t, socks[s]), dialDisk(t, nodes[cl].n.NBDAddrs()[1])
	if srvC.Size() != 1<<20 || srvC.Flags()&(1<<8) == 0 { // 1<<8: NBD_FLAG_CAN_MULTI_CONN
		t.Fatalf("export size %d flags %#x", srvC.Size(), srvC.Flags())
	}

	a, b := pattern(1, 64<<10), pattern(2, 300<<10) // b: more than a piece
	if err := srvC.WriteAt(a, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := cliC.WriteAt(b, 128<<10, true); err != nil {
		t.Fatal(err)
	}
	if err := srvC.Flush(); err != nil {
		t.Fatalf("flush on the server: %v", err)
	}
	got := make([]byte, len(a)+len(b)+64<<10)
	for _, c := range []*nbd.Client{srvC, cliC} {
		if err := c.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:len(a)], a) || !bytes.Equal(got[128<<10:128<<10+len(b)], b) {
			t.Fatal("the data read back differs from what was written")
		}
	}
	if err := cliC.Zero(4096, 4096, true, false); err != nil {
		t.Fatal(err)
	}
	if err := srvC.ReadAt(got[:8192], 0); err != nil || !bytes.Equal(got[:4096], a[:4096]) || !bytes.Equal(got[4096:8192], make([]byte, 4096)) {
		t.Fatalf("after zero through the client: %v", err)
	}
	ds, _ := nodes[s].n.DiskStatus()
	if ds[0].Local == 0 || ds[0].Backing != img || ds[0].Size != 1<<20 {
		t.Fatalf("the server's status %+v: want fast-path requests", ds[0])
	}
	ds, _ = nodes[cl].n.DiskStatus()
	if ds[0].Local != 0 || ds[0].Remote == 0 || ds[0].BytesWritten != uint64(len(b)) {
		t.Fatalf("the client's status %+v: want loop-path requests only", ds[0])
	}
	m, err := nodes[cl].n.Metrics()
	if err != nil || len(m.DiskServing) != 1 || m.DiskServing[0].Value != 0 || len(m.DiskEpoch) != 1 || m.DiskEpoch[0].Value != 1 {
		t.Fatalf("the client's metrics: %+v %+v, %v", m.DiskServing, m.DiskEpoch, err)
	}

	// a write the client acknowledged without FUA, then the server stops
	c := pattern(3, 8192)
	if err := cliC.WriteAt(c, 512<<10, false); err != nil {
		t.Fatal(err)
	}
	old := nodes[s].n.cfg.Node
	nodes[s].stop()
	nodes[s] = nil
	s2 := diskServed(t, nodes, 1)
	if h := readHeaderFile(t, img); h.Epoch != 2 || h.Server == old {
		t.Fatalf("header after failover %+v", h)
	}
	if err := cliC.Flush(); !errors.Is(err, nbd.EIO) {
		t.Fatalf("the client's flush after failover with an unflushed write: %v, want EIO", err)
	}
	d := pattern(4, 8192)
	if err := cliC.WriteAt(d, 600<<10, false); err != nil {
		t.Fatalf("a write after failover: %v", err)
	}
	if err := cliC.Flush(); err != nil {
		t.Fatalf("the next flush: %v", err)
	}
	newC := dialDisk(t, socks[s2])
	for _, c := range []*nbd.Client{cliC, newC} {
		if err := c.ReadAt(got[:len(d)], 600<<10); err != nil || !bytes.Equal(got[:len(d)], d) {
			t.Fatalf("reading the write made after failover: %v", err)
		}
		if err := c.ReadAt(got[:len(b)], 128<<10); err != nil || !bytes.Equal(got[:len(b)], b) {
			t.Fatalf("reading the FUA write made before failover: %v", err)
		}
	}

	// a newer epoch appears in the header behind the server's back (a
	// raw device shared without OFD locks): its monitor stops serving,
	// the resource fails, and a start takes the epoch after it
	h = readHeaderFile(t, img)
	h.Epoch = 10
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(h.Marshal(), 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	diskServed(t, nodes, 10)
	if h := readHeaderFile(t, img); h.Epoch != 11 {
		t.Fatalf("header after the stale server stopped: %+v, want epoch 11", h)
	}
	if err := cliC.ReadAt(got[:len(d)], 600<<10); err != nil || !bytes.Equal(got[:len(d)], d) {
		t.Fatalf("reading after the stale server stopped: %v", err)
	}
	evs, _ := nodes[cl].n.Events(0, 0)
	var served []string
	for _, e := range evs {
		if e.Kind == string(disk.EventServed) && e.Disk == "d1" && e.Epoch != nil {
			served = append(served, fmt.Sprintf("%s@%d", e.Server, *e.Epoch))
		}
	}
	if want := fmt.Sprintf("%s@1 %s@2", old, nodes[s2].n.cfg.Node); !strings.Contains(strings.Join(served, " "), want) {
		t.Fatalf("the client's disk_served events %v, want %s", served, want)
	}
}

// TestDiskStartLocked: while another open file (a stale server) holds the
// store's header lock, the start fails and the group says why; once it
// lets go, a cleanup starts the disk.
func TestDiskStartLocked(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "d1.img")
	release := holdLock(t, img)
	nodes := startNodes(t, writeCluster(t, dir, 182, 2), nodeSetup{mem: transport.NewMemNetwork()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/d1", fmt.Sprintf(`{"agent": "disk", "group": "d1", "params": {"size": "65536", "backing": %q}}`, img)},
		{"/groups/d1", `{"resources": ["d1"]}`},
	} {
		if _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "d1's start failed with the lock's reason, and the group is not online", func() bool {
		evs, err := nodes[0].n.Events(0, 0)
		if err != nil {
			return false
		}
		for _, e := range evs {
			if e.Kind == "resource_failed" && e.Resource == "d1" && strings.Contains(e.Error, "locked by another server") && strings.Contains(e.Error, "fence it or stop it") {
				gs, _ := nodes[0].n.Groups()
				return len(gs) == 1 && gs[0].State != "online"
			}
		}
		return false
	})
	release()
	if err := nodes[0].n.Cleanup("d1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "d1 served after the stale holder let go", func() bool {
		ds, err := nodes[1].n.DiskStatus()
		return err == nil && len(ds) == 1 && ds[0].State == "serving"
	})
}

// TestDiskGateLease: the fast path serves only while the disk is served
// here and the loop's clock is before the lease expiry; closing the gate
// waits for the fast-path I/O in flight.
func TestDiskGateLease(t *testing.T) {
	var g diskGate
	fp := &fastPath{epoch: 3}
	now := 10 * time.Second // the fake clock
	until := int64(now + time.Second)
	if _, ok := g.enter(now, until); ok {
		t.Fatal("the gate is open before the disk is served")
	}
	g.fp.Store(fp)
	got, ok := g.enter(now, until)
	if !ok || got != fp {
		t.Fatal("the gate is shut while served with a lease")
	}
	g.leave()
	now += time.Second // the lease lapsed (the loop refreshed nothing)
	if _, ok := g.enter(now, until); ok {
		t.Fatal("the fast path served after the lease lapsed")
	}
	if _, ok := g.enter(now, noLease); ok {
		t.Fatal("the fast path served without a lease")
	}
	until = int64(now + time.Second) // renewed
	if _, ok := g.enter(now, until); !ok {
		t.Fatal("the gate stayed shut after the lease was renewed")
	}
	closed := make(chan struct{})
	go func() { g.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a fast-path I/O was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	g.leave()
	<-closed
	if _, ok := g.enter(now, until); ok {
		t.Fatal("the gate opened after close")
	}
}
