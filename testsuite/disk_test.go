package testsuite

// The served disk on real processes (issue 19): the NBD export of every
// node driven by libnbd's tools and qemu-img, a kill -9 of the server in
// the middle of a write stream, and a SIGSTOPped old server.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/nbd"
)

// The test clusters' loopback blocks.
const (
	diskToolsNet = "127.201"
	diskKillNet  = "127.202"
	diskStaleNet = "127.203"
	diskNBDPort  = "10809" // the demo's [nbd] listen port
)

// needTools skips the test when a program it runs is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs libnbd-bin, nbd-server, fio and qemu-utils)", tool)
		}
	}
}

// disksOf is GET /v1/disks of node (the document of `disks --json`).
func (c *memberCluster) disksOf(node string) ([]apitypes.DiskStatus, error) {
	resp, err := c.clients[node].Get("http://corral/v1/disks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: GET /v1/disks: %s: %s", node, resp.Status, body)
	}
	var ds []apitypes.DiskStatus
	if err := json.Unmarshal(body, &ds); err != nil {
		return nil, fmt.Errorf("%s: disks are not JSON: %v", node, err)
	}
	return ds, nil
}

// diskOn returns how node sees one disk.
func (c *memberCluster) diskOn(node, name string) (apitypes.DiskStatus, error) {
	ds, err := c.disksOf(node)
	if err != nil {
		return apitypes.DiskStatus{}, err
	}
	for _, d := range ds {
		if d.Name == name {
			return d, nil
		}
	}
	return apitypes.DiskStatus{}, fmt.Errorf("%s lists no disk %s: %+v", node, name, ds)
}

// waitServed waits until every node of nodes sees name served by one
// server (not in avoid) at one epoch above minEpoch, and returns them.
func (c *memberCluster) waitServed(within time.Duration, name string, nodes []string, avoid string, minEpoch uint64) (string, uint64) {
	c.tb.Helper()
	var server string
	var epoch uint64
	c.waitFor(within, 50*time.Millisecond, name+" served on "+strings.Join(nodes, ","), func() error {
		server, epoch = "", 0
		for _, n := range nodes {
			d, err := c.diskOn(n, name)
			if err != nil {
				return err
			}
			if d.State != "serving" || d.Server == nil || *d.Server == avoid || d.Epoch <= minEpoch {
				return fmt.Errorf("%s sees %s %s on %v at epoch %d (reason %q)", n, name, d.State, d.Server, d.Epoch, d.Reason)
			}
			if server == "" {
				server, epoch = *d.Server, d.Epoch
			} else if *d.Server != server || d.Epoch != epoch {
				return fmt.Errorf("%s sees %s on %s at %d, another node on %s at %d", n, name, *d.Server, d.Epoch, server, epoch)
			}
		}
		return nil
	})
	return server, epoch
}

func nbdURI(net, node, name string) string {
	return "nbd://" + nodeAddr(net, node) + ":" + diskNBDPort + "/" + name
}

func nbdUnixURI(dir, node, name string) string {
	return "nbd+unix:///" + name + "?socket=" + filepath.Join(dir, node, "nbd.sock")
}

// run runs a program with a deadline and returns its combined output.
func run(t *testing.T, within time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s %s: still running after %s", name, strings.Join(args, " "), within)
	}
}

func others(all []string, not ...string) []string {
	var out []string
	for _, n := range all {
		if !slices.Contains(not, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestDiskNBDTools: a 16 MiB disk added with `corral shell -c "disk add
// ..."` is exported by every node: nbdinfo says its size and that it
// can flush, FUA, trim and zero on each node's TCP export and on a Unix
// socket; 16 MiB of random bytes nbdcopied in through a node that does
// not serve it come back byte for byte through every node, and through
// qemu-img convert; qemu-img info reads it; `disks --json` on the CLI and
// the `disks` table in a terminal show the server.
func TestDiskNBDTools(t *testing.T) {
	needTools(t, "nbdinfo", "nbdcopy", "qemu-img")
	dir := t.TempDir()
	c := startMemberDemo(t, dir, diskToolsNet, 3, "--web=false")
	all := c.names
	c.waitFor(30*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	const size = 16 << 20
	backing := filepath.Join(dir, "d1.img")
	eventually(t, 20*time.Second, "disk add", func() error {
		r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n2", "corral.sock"), "-c",
			"disk add d1 --backing "+backing+" --size 16MiB --servers n1,n2,n3")
		if r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	server, epoch := c.waitServed(30*time.Second, "d1", all, "", 0)
	client := others(all, server)[0]
	t.Logf("d1 served by %s at epoch %d; writing through %s", server, epoch, client)

	// disks --json from the command line, on a node that does not serve it
	var ds []apitypes.DiskStatus
	if err := shellJSON(t, dir, client, "disks", &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Name != "d1" || ds[0].Server == nil || *ds[0].Server != server || ds[0].Size != size ||
		ds[0].Backing != backing || ds[0].Group != "d1" || ds[0].Serving {
		t.Fatalf("disks --json on %s: %+v", client, ds)
	}

	for _, n := range all {
		uri := nbdURI(diskToolsNet, n, "d1")
		out, err := run(t, 20*time.Second, "nbdinfo", "--size", uri)
		if err != nil || strings.TrimSpace(out) != fmt.Sprint(size) {
			t.Errorf("nbdinfo --size %s: %q %v", uri, out, err)
		}
		for _, can := range []string{"flush", "fua", "trim", "zero"} {
			if out, err := run(t, 20*time.Second, "nbdinfo", "--can", can, uri); err != nil {
				t.Errorf("nbdinfo --can %s %s: %v %s", can, uri, err, out)
			}
		}
	}
	if out, err := run(t, 20*time.Second, "nbdinfo", "--can", "flush", nbdUnixURI(dir, client, "d1")); err != nil {
		t.Errorf("nbdinfo --can flush on %s's Unix socket: %v %s", client, err, out)
	}

	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.raw")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A FLUSH fails with EIO when the server changed under unflushed
	// writes (G6); on a loaded machine a view change can move the disk
	// mid-copy: then copy again, and say so.
	for try := 1; ; try++ {
		out, err := run(t, 60*time.Second, "nbdcopy", "--flush", in, nbdURI(diskToolsNet, client, "d1"))
		if err == nil {
			break
		}
		d, derr := c.diskOn(client, "d1")
		if try == 3 || derr != nil || d.Epoch == epoch {
			t.Fatalf("nbdcopy in through %s: %v %s (epoch %d, now %+v %v)%s", client, err, out, epoch, d, derr, c.logTails(30))
		}
		t.Logf("nbdcopy in through %s failed while the server changed (epoch %d -> %d): %v %s; again", client, epoch, d.Epoch, err, strings.TrimSpace(out))
		epoch = d.Epoch
	}
	outDir := t.TempDir()
	for i, n := range all {
		uri := nbdURI(diskToolsNet, n, "d1")
		if i == 0 {
			uri = nbdUnixURI(dir, n, "d1")
		}
		f := filepath.Join(outDir, n+".raw")
		if out, err := run(t, 60*time.Second, "nbdcopy", uri, f); err != nil {
			t.Errorf("nbdcopy out of %s: %v %s", uri, err, out)
			continue
		}
		if got, err := os.ReadFile(f); err != nil || !bytes.Equal(got, data) {
			t.Errorf("the bytes read through %s (%s) differ from those written through %s (%d bytes read, %v)", n, uri, client, len(got), err)
		}
	}
	out, err := run(t, 30*time.Second, "qemu-img", "info", "--output=json", nbdURI(diskToolsNet, server, "d1"))
	if err != nil || !strings.Contains(out, fmt.Sprintf(`"virtual-size": %d`, size)) {
		t.Errorf("qemu-img info: %v %s", err, out)
	}
	conv := filepath.Join(outDir, "qemu.raw")
	if out, err := run(t, 60*time.Second, "qemu-img", "convert", "-O", "raw", nbdURI(diskToolsNet, client, "d1"), conv); err != nil {
		t.Errorf("qemu-img convert: %v %s", err, out)
	} else if got, err := os.ReadFile(conv); err != nil || !bytes.Equal(got, data) {
		t.Errorf("qemu-img convert -O raw through %s: the bytes differ (%d read, %v)", client, len(got), err)
	}

	diskTableInTerminal(t, dir, client, server)
}

// diskTableInTerminal runs the interactive shell in tmux and checks that
// `disks` renders the table with the server.
func diskTableInTerminal(t *testing.T, dir, node, server string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Log("tmux is not installed: the disks table in a terminal is not checked")
		return
	}
	m := &tmux{t: t, session: fmt.Sprintf("corral-disk-%d", os.Getpid())}
	shellCmd := fmt.Sprintf("env HOME=%s XDG_CONFIG_HOME= LANG=C.UTF-8 TERM=xterm NO_COLOR=1 %s shell --socket %s",
		t.TempDir(), corralBin(t), filepath.Join(dir, node, "corral.sock"))
	if out, err := m.run("new-session", "-d", "-s", m.session, "-x", "160", "-y", "30", shellCmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = m.run("kill-server") })
	m.waitScreen("the prompt", func(string) bool { return m.atPrompt() })
	m.keys("disks", "Enter")
	m.waitScreen("the disks table", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			f := strings.Fields(l)
			if len(f) == 6 && f[0] == "d1" && f[1] == server && f[3] == "serving" && f[5] == "16MiB" {
				return strings.Contains(s, "NAME") && strings.Contains(s, "CLIENTS")
			}
		}
		return false
	})
}

// pattern is the data of write i: its index and offset repeated.
func pattern(i int, off uint64, n int) []byte {
	b := make([]byte, n)
	for k := 0; k+16 <= n; k += 16 {
		binary.BigEndian.PutUint64(b[k:], uint64(i)+1)
		binary.BigEndian.PutUint64(b[k+8:], off+uint64(k))
	}
	return b
}

// TestDiskFailoverKill: a stream of 64 KiB writes through a node that
// does not serve drd1 (the in-repo NBD client on its Unix socket), with
// a FLUSH every 8 writes and every 5th write FUA; the server is killed
// with kill -9 a third of the way in and the stream goes on (requests wait
// for the new server, which starts once the demo's fence device confirmed
// the kill). Read back through the third node: every write acknowledged
// with FUA or before a FLUSH that succeeded holds its data; the first
// FLUSH after the kill fails (EIO: writes the old server acknowledged
// were not flushed) and no other does; no write fails.
func TestDiskFailoverKill(t *testing.T) {
	dir := t.TempDir()
	c := startMemberDemo(t, dir, diskKillNet, 3, "--web=false", "--disk")
	all := c.names
	server, epoch := c.waitServed(40*time.Second, "drd1", all, "", 0)
	client := others(all, server)[0]
	reader := others(all, server, client)[0]
	cl, err := nbd.Dial("unix", filepath.Join(dir, client, "nbd.sock"), "drd1", nbd.ClientOptions{Structured: true})
	if err != nil {
		t.Fatalf("nbd client on %s: %v", client, err)
	}
	defer cl.Close()
	const (
		piece   = 64 << 10
		writes  = 192 // 12 MiB
		flushN  = 8
		fuaN    = 5
		killAt  = writes/3 + 3 // three writes acknowledged since the last flush
		baseOff = 32 << 20
	)
	pids := memberPIDs(dir, len(all))
	victim := pids[slices.Index(all, server)]
	t.Logf("drd1 on %s (pid %d) at epoch %d; writing through %s, reading back through %s", server, victim, epoch, client, reader)
	var (
		killed      time.Time
		firstAfter  time.Duration
		durable     []int // writes that must hold their data
		unflushed   []int // acknowledged, not yet covered by a flush
		flushFailed []string
	)
	for i := 0; i < writes; i++ {
		if i == killAt {
			killed = time.Now()
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		off := uint64(baseOff + i*piece)
		fua := i%fuaN == fuaN-1
		start := time.Now()
		if err := cl.WriteAt(pattern(i, off, piece), off, fua); err != nil {
			t.Fatalf("write %d (fua %v) through %s failed: %v (after the kill: %v)%s", i, fua, client, err, !killed.IsZero(), c.logTails(20))
		}
		if !killed.IsZero() && firstAfter == 0 && start.After(killed) {
			firstAfter = time.Since(killed)
		}
		if fua {
			durable = append(durable, i)
		} else {
			unflushed = append(unflushed, i)
		}
		if i%flushN == flushN-1 || i == writes-1 {
			err := cl.Flush()
			switch {
			case err == nil:
				durable = append(durable, unflushed...)
			case errors.Is(err, nbd.EIO) && !killed.IsZero():
				flushFailed = append(flushFailed, fmt.Sprintf("flush after write %d: %v", i, err))
			default:
				t.Fatalf("flush after write %d through %s: %v (killed: %v)", i, client, err, !killed.IsZero())
			}
			unflushed = nil
		}
	}
	t.Logf("kill -9 of %s to the first write through %s answered: %v", server, client, firstAfter.Round(time.Millisecond))
	newServer, newEpoch := c.waitServed(30*time.Second, "drd1", []string{reader, client}, server, epoch)
	// The kill came with writes acknowledged by the old server and not
	// flushed: the next FLUSH must fail (G6, "as a disk's would"); another
	// may fail only for another change of server (a loaded machine).
	firstFlush := fmt.Sprintf("flush after write %d:", (killAt/flushN+1)*flushN-1)
	if len(flushFailed) == 0 || !strings.HasPrefix(flushFailed[0], firstFlush) || uint64(len(flushFailed)) > newEpoch-epoch {
		t.Errorf("FLUSHes that failed after the failover: %v; want the first one after the kill (%s), and no more than the %d changes of server",
			flushFailed, firstFlush, newEpoch-epoch)
	}
	t.Logf("drd1 now on %s at epoch %d; %d of %d writes durable; failed flushes: %v", newServer, newEpoch, len(durable), writes, flushFailed)
	rd, err := nbd.Dial("tcp", nodeAddr(diskKillNet, reader)+":"+diskNBDPort, "drd1", nbd.ClientOptions{Structured: true})
	if err != nil {
		t.Fatalf("nbd client on %s: %v", reader, err)
	}
	defer rd.Close()
	buf := make([]byte, piece)
	lost := 0
	for _, i := range durable {
		off := uint64(baseOff + i*piece)
		if err := rd.ReadAt(buf, off); err != nil {
			t.Fatalf("read of write %d through %s: %v", i, reader, err)
		}
		if !bytes.Equal(buf, pattern(i, off, piece)) {
			lost++
			if lost <= 5 {
				t.Errorf("write %d at %d (fua %v) was acknowledged durable but reads back otherwise through %s", i, off, i%fuaN == fuaN-1, reader)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d durable writes lost", lost)
	}
}

// TestDiskStaleServer: with no fence device, the server of drd1 is
// SIGSTOPped. The others leave it out of the view and try to take the
// disk over, but its OFD lock on the backing store still holds: the start
// fails and `disks` says why. On SIGCONT the old server finds its lease
// lapsed and stops serving (it unlocks): the disk is served by another
// node at a newer epoch (written in the backing store's header), and a
// write sent to the old server's export after it resumed either fails or
// lands through the new server, never under the old epoch.
func TestDiskStaleServer(t *testing.T) {
	dir := t.TempDir()
	c := startMemberDemo(t, dir, diskStaleNet, 3, "--web=false", "--disk", "--fence=false")
	all := c.names
	server, epoch := c.waitServed(40*time.Second, "drd1", all, "", 0)
	rest := others(all, server)
	pids := memberPIDs(dir, len(all))
	victim := pids[slices.Index(all, server)]
	// a connection to the old server's export, opened while it serves
	old, err := nbd.Dial("unix", filepath.Join(dir, server, "nbd.sock"), "drd1", nbd.ClientOptions{Structured: true})
	if err != nil {
		t.Fatalf("nbd client on %s: %v", server, err)
	}
	defer old.Close()
	t.Logf("drd1 on %s (pid %d) at epoch %d: SIGSTOP", server, victim, epoch)
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(victim, syscall.SIGCONT)
		}
	})
	c.waitFor(20*time.Second, 50*time.Millisecond, "a quorate view of "+strings.Join(rest, " "), func() error { return c.oneView(rest, rest) })
	var reason string
	c.waitFor(40*time.Second, 100*time.Millisecond, "a start refused on the locked backing store", func() error {
		d, err := c.diskOn(rest[0], "drd1")
		if err != nil {
			return err
		}
		if d.State == "serving" && d.Server != nil && *d.Server != server {
			return fmt.Errorf("CAUGHT: drd1 served by %s at epoch %d while the stopped %s holds the lock", *d.Server, d.Epoch, server)
		}
		if !strings.Contains(d.Reason, "lock") {
			return fmt.Errorf("drd1 on %s: %s, reason %q", rest[0], d.State, d.Reason)
		}
		reason = d.Reason
		return nil
	})
	t.Logf("while %s is stopped: %s", server, reason)
	// The old server resumes; a write goes to its export at once.
	const off, n = 8 << 20, 4096
	data := bytes.Repeat([]byte("stale-server-"), n/13+1)[:n]
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	if err := syscall.Kill(victim, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	go func() {
		defer wg.Done()
		werr = old.WriteAt(data, off, true)
	}()
	newServer, newEpoch := c.waitServed(60*time.Second, "drd1", rest, "", epoch)
	if newServer == server {
		// Allowed only if another server never started (then the old one
		// restarting it at a newer epoch is the lock's outcome); the
		// header must still say newEpoch.
		t.Logf("drd1 went back to %s at epoch %d", server, newEpoch)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the write to %s's export after SIGCONT did not answer within 30 s", server)
	}
	f, err := os.Open(filepath.Join(dir, "drd1.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hb := make([]byte, disk.HeaderSize)
	if _, err := io.ReadFull(f, hb); err != nil {
		t.Fatal(err)
	}
	h, err := disk.ParseHeader(hb)
	if err != nil {
		t.Fatalf("the backing store's header: %v", err)
	}
	if h.Epoch != newEpoch || h.Server != newServer {
		t.Errorf("the header says epoch %d by %s, the cluster serves it at %d on %s", h.Epoch, h.Server, newEpoch, newServer)
	}
	rd, err := nbd.Dial("unix", filepath.Join(dir, rest[0], "nbd.sock"), "drd1", nbd.ClientOptions{Structured: true})
	if err != nil {
		t.Fatalf("nbd client on %s: %v", rest[0], err)
	}
	defer rd.Close()
	got := make([]byte, n)
	if err := rd.ReadAt(got, off); err != nil {
		t.Fatalf("read back through %s: %v", rest[0], err)
	}
	switch {
	case werr == nil && !bytes.Equal(got, data):
		t.Errorf("the write through the resumed %s was acknowledged (FUA) but is not on the disk served by %s", server, newServer)
	case werr != nil:
		t.Logf("the write through the resumed %s failed: %v (the disk holds it: %v)", server, werr, bytes.Equal(got, data))
	default:
		t.Logf("the write through the resumed %s was re-routed to %s (epoch %d)", server, newServer, newEpoch)
	}
}
