package testsuite

// The served disk's benchmarks (`make bench`; issue 19, "Benchmarks"),
// next to nbd-server (Debian nbd-server, the anchor of
// ../shared/anchors/peers/nbd/) on a 1 GiB file of the same content, in
// the same run:
//
//	BenchmarkDiskVsNBDServer  nbdcopy sequential read (to null:) and write
//	                          (from a file, --flush); fio's nbd engine, 4 KiB
//	                          random read and write at queue depth 1 and 16;
//	                          for nbd-server, corral's serving node and a
//	                          non-serving node (its requests go through the
//	                          serving node over the cluster's circuits);
//	                          and core/nbd's server alone over a plain file
//	                          (pread/pwrite/fdatasync, no cluster): the NBD
//	                          server's own share of corral's figures
//	BenchmarkDiskFailover     kill -9 of the serving node to the first
//	                          completed read through another node
//
// Both run their work once whatever b.N is (-benchtime 1x) and report
// figures and ratios, never timed assertions. They need nbdcopy (Debian
// libnbd-bin), fio and nbd-server; without them they skip with a message.
// Knobs: $CORRAL_DISKBENCH_RUNS (runs of each figure, default 3, medians
// reported), $CORRAL_DISKBENCH_SECS (fio's time_based runtime, default
// 10), $CORRAL_DISKBENCH_CPUS (a CPU list: pin nbd-server and every corral
// node to it with taskset, and the clients to the other CPUs; default
// unset: nothing is pinned, as in the anchor's results.txt),
// $CORRAL_DISKBENCH_FAILOVERS (kill -9 runs, default 10) and
// $CORRAL_DISKBENCH_PERF (a directory: `perf record` the serving node and
// the bare core/nbd server during their fio jobs of the first run, one
// perf.data per job there).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/nbd"
	"golang.org/x/sys/unix"
)

// Address blocks of these benchmarks (other tests and benchmarks of the
// tree use their own).
const (
	diskBenchNet     = "127.53" // BenchmarkDiskVsNBDServer's demo cluster
	diskFailoverNet  = "127.54" // BenchmarkDiskFailover's
	diskBenchName    = "bench"  // the disk, its group and the NBD export name
	diskBenchSize    = 1 << 30  // the disk's (and nbd-server's file's) data size
	diskFailoverSize = 64 << 20
	diskBenchNBDPort = 10809 // every demo node's [nbd] listen port (its first address)
	diskCopyTimeout  = 300 * time.Second
	diskBenchTries   = 2 // tries of a corral measurement the disk's server changed during
)

// diskEnvInt reads a positive integer knob, def when unset.
func diskEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("$%s=%q: want a positive integer", name, v)
	}
	return n
}

// diskBenchTools skips b unless every tool is installed.
func diskBenchTools(b *testing.B, tools ...string) {
	b.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			b.Skipf("%s is not installed (Debian: apt-get install libnbd-bin fio nbd-server): no served disk figures", t)
		}
	}
}

// diskBenchFiles writes, under dir, nbd.img (diskBenchSize random bytes,
// nbd-server's export), disk.img (a zeroed header block, then the same
// bytes: corral's backing store, so that its data equals nbd.img's) and
// wsrc.img (other random bytes: the source of the sequential writes).
func diskBenchFiles(b *testing.B, dir string) (nbdImg, diskImg, wsrc string) {
	b.Helper()
	nbdImg, diskImg, wsrc = filepath.Join(dir, "nbd.img"), filepath.Join(dir, "disk.img"), filepath.Join(dir, "wsrc.img")
	create := func(p string) *os.File {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	fn, fd, fw := create(nbdImg), create(diskImg), create(wsrc)
	if _, err := fd.Write(make([]byte, disk.HeaderSize)); err != nil {
		b.Fatal(err)
	}
	data := rand.NewChaCha8([32]byte{'d', 'i', 's', 'k'})
	other := rand.NewChaCha8([32]byte{'w', 's', 'r', 'c'})
	buf := make([]byte, 4<<20)
	for range diskBenchSize / len(buf) {
		_, _ = data.Read(buf)
		for _, f := range []*os.File{fn, fd} {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		_, _ = other.Read(buf)
		if _, err := fw.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range []*os.File{fn, fd, fw} {
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return nbdImg, diskImg, wsrc
}

// warm reads every file once so that it is in the page cache (as the
// anchor's `cat $IMG > /dev/null` before each measurement).
func warm(b *testing.B, files ...string) {
	b.Helper()
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// startNBDServer runs nbd-server (it daemonizes; its pid file names it)
// exporting img as diskBenchName on 127.0.0.1:port, and stops it and its
// per-connection children, by pid, in Cleanup.
func startNBDServer(b *testing.B, dir, img string, port int) int {
	b.Helper()
	conf := filepath.Join(dir, "nbd-server.conf")
	pidf := filepath.Join(dir, "nbd-server.pid")
	// the anchor's configuration (nbd-server.conf) on another port
	text := fmt.Sprintf("[generic]\n    listenaddr = 127.0.0.1\n    port = %d\n    allowlist = true\n    max_threads = 4\n[%s]\n    exportname = %s\n    flush = true\n    fua = true\n",
		port, diskBenchName, img)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("nbd-server", "-C", conf, "-p", pidf).CombinedOutput()
	if err != nil {
		b.Fatalf("nbd-server: %v\n%s", err, out)
	}
	var pid int
	benchEventually(b, 10*time.Second, "nbd-server's pid file", nil, func() bool {
		data, err := os.ReadFile(pidf)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(string(bytes.TrimSpace(data)))
		return err == nil && pid > 0
	})
	b.Cleanup(func() {
		kids := childPIDs(pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for _, k := range kids {
			_ = syscall.Kill(k, syscall.SIGTERM)
		}
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

// childPIDs lists pid's children (/proc/<pid>/task/*/children).
func childPIDs(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// pin sets the CPU affinity of every thread of pid to cpus (taskset -a);
// later threads and children inherit it.
func pin(b *testing.B, pid int, cpus string) {
	b.Helper()
	if out, err := exec.Command("taskset", "-a", "-c", "-p", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		b.Fatalf("taskset -a -c -p %s %d: %v\n%s", cpus, pid, err, out)
	}
}

// otherCPUs is the complement of the CPU list cpus among the online CPUs
// ("" when it leaves none).
func otherCPUs(cpus string) string {
	used := map[int]bool{}
	for _, part := range strings.Split(cpus, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if ok {
			z, _ = strconv.Atoi(hi)
		}
		for c := a; c <= z; c++ {
			used[c] = true
		}
	}
	var rest []string
	for c := range runtime.NumCPU() {
		if !used[c] {
			rest = append(rest, strconv.Itoa(c))
		}
	}
	return strings.Join(rest, ",")
}

// ---- NBD connections through core/nbd's client, with deadlines: past
// one the connection fails and every call on it returns an error.

type nbdClient struct {
	*nbd.Client
	c net.Conn
}

// dialNBD connects to addr and opens export (NBD_OPT_GO, simple
// replies), all within timeout.
func dialNBD(addr, export string, timeout time.Duration) (*nbdClient, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	cl, err := nbd.NewClient(c, export, nbd.ClientOptions{})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("nbd handshake with %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return &nbdClient{Client: cl, c: c}, nil
}

// read reads len(p) bytes at off within timeout.
func (n *nbdClient) read(p []byte, off uint64, timeout time.Duration) error {
	_ = n.c.SetDeadline(time.Now().Add(timeout))
	return n.ReadAt(p, off)
}

// close drops the connection (without NBD_CMD_DISC's wait for the server).
func (n *nbdClient) close() { _ = n.c.Close() }

// checkBlocks reads count random 4 KiB blocks of export at addr and
// compares them with the same blocks of want (a file of the disk's
// content).
func checkBlocks(addr, export, want string, count int, seed uint64) error {
	n, err := dialNBD(addr, export, 10*time.Second)
	if err != nil {
		return err
	}
	defer n.close()
	f, err := os.Open(want)
	if err != nil {
		return err
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, 1))
	got, exp := make([]byte, 4096), make([]byte, 4096)
	for range count {
		off := r.Uint64N(n.Size()/4096) * 4096
		if err := n.read(got, off, 30*time.Second); err != nil {
			return err
		}
		if _, err := f.ReadAt(exp, int64(off)); err != nil {
			return err
		}
		if !bytes.Equal(got, exp) {
			return fmt.Errorf("%s/%s: block at %d differs from %s", addr, export, off, filepath.Base(want))
		}
	}
	return nil
}

// ---- core/nbd's server over a plain file, without the cluster: the
// NBD server's own share of the serving node's figures

const (
	diskBareEnv     = "CORRAL_DISKBENCH_BARE" // the re-executed test binary: "addr file"
	diskBareRunTest = "^TestDiskBareNBDPeer$"
)

// fileBackend is an nbd.Backend doing pread/pwrite/fdatasync on a file,
// as the serving node's fast path does on its backing store.
type fileBackend struct{ f *os.File }

func (fb fileBackend) ReadAt(_ context.Context, p []byte, off uint64) error {
	_, err := fb.f.ReadAt(p, int64(off))
	return err
}

func (fb fileBackend) WriteAt(_ context.Context, p []byte, off uint64, fua bool) error {
	if _, err := fb.f.WriteAt(p, int64(off)); err != nil {
		return err
	}
	if fua {
		return unix.Fdatasync(int(fb.f.Fd()))
	}
	return nil
}

func (fb fileBackend) Flush(context.Context) error { return unix.Fdatasync(int(fb.f.Fd())) }

func (fb fileBackend) Trim(context.Context, uint64, uint32, bool) error { return nil }

func (fb fileBackend) Zero(ctx context.Context, off uint64, length uint32, fua, _ bool) error {
	return fb.WriteAt(ctx, make([]byte, length), off, fua)
}

type oneExport nbd.Export

func (e oneExport) Lookup(name string) (nbd.Export, bool) {
	return nbd.Export(e), name == e.Name || name == ""
}

func (e oneExport) List() []nbd.Export { return []nbd.Export{nbd.Export(e)} }

// TestDiskBareNBDPeer is core/nbd's server exporting a file (as
// diskBenchName) when the test binary is started with
// $CORRAL_DISKBENCH_BARE="addr file" (BenchmarkDiskVsNBDServer does);
// otherwise it skips.
func TestDiskBareNBDPeer(t *testing.T) {
	addr, file, ok := strings.Cut(os.Getenv(diskBareEnv), " ")
	if !ok {
		t.Skip("the bare core/nbd server of BenchmarkDiskVsNBDServer; runs only when started by it")
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	exp := oneExport{Name: diskBenchName, Size: uint64(st.Size()), Backend: fileBackend{f}, MultiConn: true}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := (&nbd.Server{Exports: exp}).Serve(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// ---- the corral side: a 3-node demo cluster serving one disk

// diskCluster is a demo cluster serving the disk diskBenchName.
type diskCluster struct {
	*memberCluster
	net string
}

// nbdAddr is node's NBD listener (the demo's [nbd] listen).
func (c *diskCluster) nbdAddr(node string) string {
	return fmt.Sprintf("%s:%d", nodeAddr(c.net, node), diskBenchNBDPort)
}

func (c *diskCluster) uri(node string) string {
	return fmt.Sprintf("nbd://%s/%s", c.nbdAddr(node), diskBenchName)
}

// group reads GET /v1/groups on node and returns name's state and owner.
func (c *diskCluster) group(node, name string) (string, string, error) {
	resp, err := c.clients[node].Get("http://corral/v1/groups")
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("%s: GET /v1/groups: %s: %s", node, resp.Status, body)
	}
	var gs []groupJSON
	if err := json.Unmarshal(body, &gs); err != nil {
		return "", "", fmt.Errorf("%v in %q", err, body)
	}
	for _, g := range gs {
		if g.Name == name {
			if g.State != "online" && g.Reason != "" {
				return g.State, g.Owner, fmt.Errorf("group %s is %s: %s", name, g.State, g.Reason)
			}
			return g.State, g.Owner, nil
		}
	}
	return "", "", fmt.Errorf("no group %s in %s", name, body)
}

// startDiskCluster starts a 3-node demo on netBlock and adds the disk
// (backing store backing, size bytes, possible on every node) with
// `corral shell -c "disk add ..."`; it returns once the disk's group is
// online and a 4 KiB read through every node's export completes. With a
// binary without `disk add` (the served disk not built in) it returns nil
// and why.
func startDiskCluster(b *testing.B, dir, netBlock, backing string, size int) (*diskCluster, string) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	c := &diskCluster{memberCluster: startMemberDemo(b, dir, netBlock, 3), net: netBlock}
	all := c.names
	c.waitFor(30*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	cmd := fmt.Sprintf("disk add %s --backing %s --size %d --servers %s", diskBenchName, backing, size, strings.Join(all, ","))
	missing := ""
	c.waitFor(20*time.Second, 200*time.Millisecond, cmd, func() error {
		r := corral(b, c.dir, "shell", "--socket", filepath.Join(c.dir, "n1", "corral.sock"), "-c", cmd)
		if r.code != 0 && strings.Contains(r.stderr+r.stdout, "unknown command") {
			missing = fmt.Sprintf("this corral has no `disk add` (the served disk is not built in): %s", strings.TrimSpace(r.stderr+r.stdout))
			return nil
		}
		if r.code != 0 {
			return fmt.Errorf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	if missing != "" {
		return nil, missing
	}
	c.waitOnline(60 * time.Second)
	return c, ""
}

// waitOnline waits until the disk's group is online on a node every
// member agrees on and a read through every running node's export
// completes; it returns the serving node.
func (c *diskCluster) waitOnline(within time.Duration) string {
	c.tb.Helper()
	var owner string
	c.waitFor(within, 50*time.Millisecond, "disk "+diskBenchName+" online and readable through every node", func() error {
		st, o, err := c.group("n1", diskBenchName)
		if err != nil {
			return err
		}
		if st != "online" || o == "" {
			return fmt.Errorf("group %s is %s on %q", diskBenchName, st, o)
		}
		owner = o
		buf := make([]byte, 4096)
		for _, n := range c.names {
			cl, err := dialNBD(c.nbdAddr(n), diskBenchName, 2*time.Second)
			if err != nil {
				return err
			}
			err = cl.read(buf, 0, 5*time.Second)
			cl.close()
			if err != nil {
				return fmt.Errorf("read through %s: %w", n, err)
			}
		}
		return nil
	})
	return owner
}

// events counts, per node, the lines of its corral.log that record
// quorum_lost and disk_served events (the figures of a run that saw them
// mix a lost quorum or a restarted server in).
func (c *diskCluster) events() string {
	var out []string
	for _, n := range c.names {
		data, _ := os.ReadFile(filepath.Join(c.dir, n, "corral.log"))
		out = append(out, fmt.Sprintf("%s quorum_lost=%d disk_served=%d", n,
			bytes.Count(data, []byte("msg=quorum_lost")), bytes.Count(data, []byte("msg=disk_served"))))
	}
	return strings.Join(out, ", ")
}

// keepLogs copies every node's corral.log to $CORRAL_BENCH_LOGDIR/<b.Name()>
// when that is set.
func (c *diskCluster) keepLogs(b *testing.B) {
	if os.Getenv("CORRAL_BENCH_LOGDIR") == "" {
		return
	}
	to := benchLogDir(b)
	for _, n := range c.names {
		if data, err := os.ReadFile(filepath.Join(c.dir, n, "corral.log")); err == nil {
			_ = os.WriteFile(filepath.Join(to, n+".log"), data, 0o644)
		}
	}
}

// serverEpoch is "server@epoch" of the disk as the first node that
// answers GET /v1/disks sees it ("?" when none answers).
func (c *diskCluster) serverEpoch() string {
	for _, n := range c.names {
		resp, err := c.clients[n].Get("http://corral/v1/disks")
		if err != nil {
			continue
		}
		var ds []struct {
			Name   string  `json:"name"`
			Server *string `json:"server"`
			Epoch  uint64  `json:"epoch"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ds)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			continue
		}
		for _, d := range ds {
			if d.Name == diskBenchName {
				server := "none"
				if d.Server != nil {
					server = *d.Server
				}
				return fmt.Sprintf("%s@%d", server, d.Epoch)
			}
		}
	}
	return "?"
}

// pid is node's agent pid.
func (c *diskCluster) pid(node string) int {
	return memberPIDs(c.dir, len(c.names))[slices.Index(c.names, node)]
}

// ---- measurements

// diskTarget is one NBD server under test.
type diskTarget struct {
	label string // nbd-server, corral-serving, corral-non-serving
	uri   string
	addr  string // host:port of its TCP listener
	pid   int    // the process to profile (0: none)
	img   string // its backing file, warmed before each measurement
	// resolve, for corral's targets, finds the node in that role now
	// (the server may have changed: a node fenced under load)
	resolve func(t diskTarget) diskTarget
	// stable, for corral's targets, is the disk's server and epoch now
	stable func() string
}

// now returns t as it is now (resolve applied).
func (t diskTarget) now() diskTarget {
	if t.resolve == nil {
		return t
	}
	return t.resolve(t)
}

// runTimed runs a command (on the client CPUs when set) under a timeout
// and returns its wall time.
func runTimed(b *testing.B, clientCPUs string, timeout time.Duration, name string, args ...string) (time.Duration, error) {
	b.Helper()
	if clientCPUs != "" {
		args = append([]string{"-c", clientCPUs, name}, args...)
		name = "taskset"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, lastLines(out, 4))
	}
	return took, nil
}

// lastLines is the last n lines of out, on one line.
func lastLines(out []byte, n int) string {
	ls := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], " | ")
}

// fioResult is one fio job's figures.
type fioResult struct {
	iops, p50us, p99us float64
}

// runFio runs one time_based fio job with the nbd engine against uri.
func runFio(b *testing.B, clientCPUs, uri, rw string, depth, secs int) (fioResult, error) {
	b.Helper()
	args := []string{"--name=x", "--output-format=json", "--time_based", "--runtime=" + strconv.Itoa(secs), "--ramp_time=1",
		"--invalidate=0", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw, "--bs=4k", "--iodepth=" + strconv.Itoa(depth)}
	name := "fio"
	if clientCPUs != "" {
		args = append([]string{"-c", clientCPUs, name}, args...)
		name = "taskset"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fioResult{}, fmt.Errorf("fio %s qd%d against %s: %v: %s", rw, depth, uri, err, lastLines(errb.Bytes(), 4))
	}
	text := out.Bytes()
	if i := bytes.IndexByte(text, '{'); i > 0 { // the nbd engine prints a banner line first
		text = text[i:]
	}
	// jobs[0] holds fields of several types: decode the ones we need
	var raw struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(text, &raw); err != nil || len(raw.Jobs) == 0 {
		return fioResult{}, fmt.Errorf("fio's output is not its JSON (%v): %s %s", err, lastLines(out.Bytes(), 4), lastLines(errb.Bytes(), 4))
	}
	dir := "read"
	if strings.Contains(rw, "write") {
		dir = "write"
	}
	var j struct {
		IOPS     float64 `json:"iops"`
		TotalIOs int64   `json:"total_ios"`
		Clat     struct {
			Percentile map[string]float64 `json:"percentile"`
		} `json:"clat_ns"`
	}
	if err := json.Unmarshal(raw.Jobs[0][dir], &j); err != nil {
		return fioResult{}, fmt.Errorf("fio's %s figures: %v", dir, err)
	}
	if e, ok := raw.Jobs[0]["error"]; ok && string(e) != "0" {
		return fioResult{}, fmt.Errorf("fio %s qd%d against %s: job error %s", rw, depth, uri, e)
	}
	if j.TotalIOs == 0 {
		return fioResult{}, fmt.Errorf("fio %s qd%d against %s: no I/O", rw, depth, uri)
	}
	return fioResult{iops: j.IOPS, p50us: j.Clat.Percentile["50.000000"] / 1e3, p99us: j.Clat.Percentile["99.000000"] / 1e3}, nil
}

// median of xs (xs is sorted in place; the mean of the middle two for an
// even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 0 {
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	return xs[len(xs)/2]
}

// diskFigure is one row of the table: a figure per target, per run.
type diskFigure struct {
	name   string
	unit   string
	higher bool // throughput (goal ≥ 0.9× nbd-server) or latency (goal ≤ 1.2×)
	runs   map[string][]float64
	failed map[string]string
}

// BenchmarkDiskVsNBDServer: a 3-node demo cluster with a 1 GiB disk
// (backing store in a temp dir, pre-filled with random data after its
// header block before the disk is added, warm in the page cache) and
// nbd-server exporting a 1 GiB file of the same content on 127.0.0.1, in
// the same run; for nbd-server, corral's serving node and a non-serving
// node: nbdcopy URI null: (MiB/s), nbdcopy --flush FILE URI (MiB/s), and
// fio's nbd engine 4 KiB randread and randwrite at iodepth 1 and 16 for
// $CORRAL_DISKBENCH_SECS s (IOPS, completion latency p50 and p99), each
// $CORRAL_DISKBENCH_RUNS times with the targets in turn (medians). The
// table has, for each figure, the serving/nbd-server ratio against the
// issue's goals (≥ 0.9× throughput, ≤ 1.2× latency p50). After each
// sequential write 256 random blocks read back through that target must
// equal the written file's.
func BenchmarkDiskVsNBDServer(b *testing.B) {
	diskBenchTools(b, "nbdcopy", "fio", "nbd-server", "taskset")
	runs := diskEnvInt(b, "CORRAL_DISKBENCH_RUNS", 3)
	secs := diskEnvInt(b, "CORRAL_DISKBENCH_SECS", 10)
	cpus := os.Getenv("CORRAL_DISKBENCH_CPUS")
	perfDir := os.Getenv("CORRAL_DISKBENCH_PERF")
	clientCPUs := ""
	if cpus != "" {
		clientCPUs = otherCPUs(cpus)
	}
	logMachineLoad(b)
	dir, err := os.MkdirTemp("/tmp", "corral-diskbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	start := time.Now()
	nbdImg, diskImg, wsrc := diskBenchFiles(b, dir)
	b.Logf("wrote 3 GiB of test files in %v", time.Since(start).Round(time.Millisecond))

	port := benchFreePort(b, "127.0.0.1")
	npid := startNBDServer(b, dir, nbdImg, port)
	targets := []diskTarget{{label: "nbd-server", uri: fmt.Sprintf("nbd://127.0.0.1:%d/%s", port, diskBenchName),
		addr: fmt.Sprintf("127.0.0.1:%d", port), pid: npid, img: nbdImg}}
	benchEventually(b, 10*time.Second, "nbd-server answers", nil, func() bool {
		n, err := dialNBD(targets[0].addr, diskBenchName, time.Second)
		if err != nil {
			return false
		}
		n.close()
		return true
	})
	// core/nbd's server alone over the same file: the NBD server's share
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	bareAddr := fmt.Sprintf("127.0.0.1:%d", benchFreePort(b, "127.0.0.1"))
	bare := exec.Command(self, "-test.run", diskBareRunTest)
	bare.Env = append(os.Environ(), diskBareEnv+"="+bareAddr+" "+nbdImg)
	bareLog, err := os.Create(filepath.Join(dir, "bare.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer bareLog.Close()
	bare.Stdout, bare.Stderr = bareLog, bareLog
	if err := bare.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bare.Process.Signal(syscall.SIGTERM); _ = bare.Wait() })
	targets = append(targets, diskTarget{label: "bare-core-nbd", uri: fmt.Sprintf("nbd://%s/%s", bareAddr, diskBenchName),
		addr: bareAddr, pid: bare.Process.Pid, img: nbdImg})
	benchEventually(b, 20*time.Second, "the bare core/nbd server answers", nil, func() bool {
		n, err := dialNBD(bareAddr, diskBenchName, time.Second)
		if err != nil {
			return false
		}
		n.close()
		return true
	})
	if cpus != "" {
		pin(b, npid, cpus)
		pin(b, bare.Process.Pid, cpus)
	}

	type job struct {
		rw    string
		depth int
	}
	jobs := []job{{"randread", 1}, {"randread", 16}, {"randwrite", 1}, {"randwrite", 16}}
	figs := []*diskFigure{
		{name: "seq read nbdcopy->null:", unit: "MiB/s", higher: true},
		{name: "seq write nbdcopy --flush", unit: "MiB/s", higher: true},
	}
	for _, j := range jobs {
		figs = append(figs,
			&diskFigure{name: fmt.Sprintf("%s 4k qd%d", j.rw, j.depth), unit: "IOPS", higher: true},
			&diskFigure{name: fmt.Sprintf("%s 4k qd%d p50", j.rw, j.depth), unit: "us"},
			&diskFigure{name: fmt.Sprintf("%s 4k qd%d p99", j.rw, j.depth), unit: "us"})
	}
	for _, f := range figs {
		f.runs, f.failed = map[string][]float64{}, map[string]string{}
	}
	recoveries := 0 // corral's server changed or a node was restarted between measurements
	// the corral side; a binary without it leaves nbd-server's figures alone
	if c, missing := startDiskCluster(b, filepath.Join(dir, "cluster"), diskBenchNet, diskImg, diskBenchSize); c == nil {
		b.Logf("no corral figures: %s", missing)
		fmt.Printf("NOTE no corral figures: %s\n", missing)
	} else {
		owner := c.waitOnline(30 * time.Second)
		if cpus != "" {
			for _, n := range c.names {
				pin(b, c.pid(n), cpus)
			}
		}
		b.Logf("corral: %s serves %s", owner, diskBenchName)
		// Before each corral measurement: every node running (a node
		// killed or fenced since is started again, and pinned), the disk
		// online; serving is its server now, non-serving the next node.
		last := owner
		resolve := func(t diskTarget) diskTarget {
			restarted := false
			for _, n := range c.names {
				if !alive(c.pid(n)) {
					restarted = true
				}
			}
			if restarted {
				recoveries++
				fmt.Printf("NOTE corral: a node is down before %s (%s); starting it again\n", t.label, c.events())
				c.restart()
				c.waitFor(60*time.Second, 100*time.Millisecond, "one quorate view of three again", func() error { return c.oneView(c.names, c.names) })
				if cpus != "" {
					for _, n := range c.names {
						pin(b, c.pid(n), cpus)
					}
				}
			}
			o := c.waitOnline(60 * time.Second)
			if o != last {
				recoveries++
				fmt.Printf("NOTE corral: the server is now %s (was %s)\n", o, last)
				last = o
			}
			n := o
			if t.label == "corral-non-serving" {
				n = c.names[(slices.Index(c.names, o)+1)%len(c.names)]
			}
			t.uri, t.addr, t.pid = c.uri(n), c.nbdAddr(n), c.pid(o)
			return t
		}
		targets = append(targets,
			diskTarget{label: "corral-serving", img: diskImg, resolve: resolve, stable: c.serverEpoch},
			diskTarget{label: "corral-non-serving", img: diskImg, resolve: resolve, stable: c.serverEpoch})
		fmt.Printf("NOTE corral events before the runs: %s\n", c.events())
		b.Cleanup(func() {
			fmt.Printf("NOTE corral events after the runs: %s\n", c.events())
			if st, o, err := c.group("n1", diskBenchName); err != nil || o != owner {
				b.Logf("the disk moved during the run: %s on %s (%v): figures mix servers", st, o, err)
			}
			failed := false
			for _, f := range figs {
				failed = failed || len(f.failed) > 0
			}
			if failed {
				fmt.Printf("NOTE corral's logs after failures:%s\n", c.logTails(30))
			}
			c.keepLogs(b)
		})
	}

	pinning := "nothing pinned (servers and clients on any CPU, as the anchor's results.txt)"
	if cpus != "" {
		pinning = fmt.Sprintf("nbd-server and every corral node pinned to CPUs %s with taskset, nbdcopy and fio to %q", cpus, clientCPUs)
	}
	record := func(f *diskFigure, t diskTarget, v float64, err error) {
		if err != nil {
			f.failed[t.label] = err.Error()
			b.Logf("FAILED %s %s: %v", f.name, t.label, err)
			return
		}
		f.runs[t.label] = append(f.runs[t.label], v)
	}
	// measure runs one measurement of t (m returns how to record it). A
	// corral measurement during which the disk's server or epoch changed
	// (a node fenced, the disk restarted, a failback) is discarded and run
	// again, at most diskBenchTries times; then it is recorded as failed.
	discarded := 0
	measure := func(t diskTarget, fs []*diskFigure, m func(t diskTarget) func()) {
		what := fs[0].name
		for try := 1; ; try++ {
			t = t.now()
			if t.stable == nil {
				m(t)()
				return
			}
			before := t.stable()
			commit := m(t)
			after := t.stable()
			if before == after {
				commit()
				return
			}
			discarded++
			fmt.Printf("NOTE %s %s discarded (try %d): the disk went from %s to %s during it\n", what, t.label, try, before, after)
			if try == diskBenchTries {
				for _, f := range fs {
					f.failed[t.label] = fmt.Sprintf("the disk's server or epoch changed during each of %d tries", try)
				}
				return
			}
		}
	}
	all := []string{nbdImg, diskImg}
	mib := float64(diskBenchSize) / (1 << 20)
	for run := range runs {
		order := slices.Clone(targets)
		for range run % len(order) { // each run starts with the next target
			order = append(order[1:], order[0])
		}
		fmt.Printf("BGLOAD before run %d (%s)\n", run+1, bgLoad(3*time.Second))
		for _, t := range order {
			measure(t, figs[0:1], func(t diskTarget) func() {
				warm(b, all...)
				took, err := runTimed(b, clientCPUs, diskCopyTimeout, "nbdcopy", t.uri, "null:")
				line := fmt.Sprintf("RESULT disk seq-read nbdcopy->null: target=%s run=%d wall_s=%.3f MiB_s=%.0f at=%s", t.label, run+1, took.Seconds(), mib/took.Seconds(), stamp())
				return func() { record(figs[0], t, mib/took.Seconds(), err); fmt.Println(line) }
			})
		}
		for _, t := range order {
			measure(t, figs[1:2], func(t diskTarget) func() {
				warm(b, append(all, wsrc)...)
				took, err := runTimed(b, clientCPUs, diskCopyTimeout, "nbdcopy", "--flush", wsrc, t.uri)
				if err == nil {
					err = checkBlocks(t.addr, diskBenchName, wsrc, 256, uint64(run))
				}
				line := fmt.Sprintf("RESULT disk seq-write nbdcopy--flush target=%s run=%d wall_s=%.3f MiB_s=%.0f check=%v at=%s", t.label, run+1, took.Seconds(), mib/took.Seconds(), err == nil, stamp())
				return func() { record(figs[1], t, mib/took.Seconds(), err); fmt.Println(line) }
			})
		}
		for k, j := range jobs {
			for _, t := range order {
				measure(t, figs[2+3*k:5+3*k], func(t diskTarget) func() {
					warm(b, all...)
					var perf *exec.Cmd
					if perfDir != "" && run == 0 && (t.label == "corral-serving" || t.label == "bare-core-nbd") {
						perf = startPerf(b, perfDir, fmt.Sprintf("%s-%s-qd%d", t.label, j.rw, j.depth), t.pid, secs+1)
					}
					r, err := runFio(b, clientCPUs, t.uri, j.rw, j.depth, secs)
					if perf != nil {
						_ = perf.Wait()
					}
					line := fmt.Sprintf("RESULT disk fio-nbd %s 4k qd%d target=%s run=%d iops=%.0f clat_p50_us=%.1f clat_p99_us=%.1f at=%s",
						j.rw, j.depth, t.label, run+1, r.iops, r.p50us, r.p99us, stamp())
					return func() {
						f := figs[2+3*k:]
						record(f[0], t, r.iops, err)
						record(f[1], t, r.p50us, err)
						record(f[2], t, r.p99us, err)
						fmt.Println(line)
					}
				})
			}
		}
	}
	fmt.Printf("BGLOAD after the runs (%s)\n", bgLoad(3*time.Second))

	// the table
	var tb strings.Builder
	fmt.Fprintf(&tb, "\nserved disk vs nbd-server, 1 GiB, medians of %d runs (fio: %d s time_based, 1 s ramp); %s; %d CPUs shared with the rest of the machine\n",
		runs, secs, pinning, runtime.NumCPU())
	fmt.Fprintf(&tb, "%-28s %-6s %16s %20s %12s %10s %8s %-4s %14s\n", "figure", "unit", "corral(serving)", "corral(non-serving)", "nbd-server", "serv/nbd", "goal", "met", "core/nbd+file")
	for _, f := range figs {
		s, o, n := median(f.runs["corral-serving"]), median(f.runs["corral-non-serving"]), median(f.runs["nbd-server"])
		goal, met, ratioCell := "-", "-", "-"
		ratio := 0.0
		if n > 0 && s > 0 {
			ratio = s / n
			ratioCell = strconv.FormatFloat(ratio, 'f', 2, 64)
		}
		switch {
		case f.higher:
			goal = ">= 0.9x"
			if ratio > 0 {
				met = yesNo(ratio >= 0.9)
			}
		case strings.HasSuffix(f.name, "p50"):
			goal = "<= 1.2x"
			if ratio > 0 {
				met = yesNo(ratio <= 1.2)
			}
		}
		cell := func(label string, v float64) string {
			if _, bad := f.failed[label]; bad && v == 0 {
				return "FAILED"
			}
			if v == 0 {
				return "-"
			}
			if k := len(f.runs[label]); k < runs { // some runs failed or were discarded
				return fmt.Sprintf("%.1f (%d/%d)", v, k, runs)
			}
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		fmt.Fprintf(&tb, "%-28s %-6s %16s %20s %12s %10s %8s %-4s %14s\n", f.name, f.unit,
			cell("corral-serving", s), cell("corral-non-serving", o), cell("nbd-server", n), ratioCell, goal, met,
			cell("bare-core-nbd", median(f.runs["bare-core-nbd"])))
		key := strings.NewReplacer(" ", "-", ">", "", ":", "", "--", "-").Replace(f.name)
		if ratio > 0 {
			b.ReportMetric(ratio, key+"-ratio")
		}
	}
	if discarded > 0 {
		fmt.Fprintf(&tb, "%d corral measurements were discarded and run again: the disk's server or epoch changed during them (NOTE lines above)\n", discarded)
	}
	if recoveries > 0 {
		fmt.Fprintf(&tb, "corral's server changed or a node was started again %d times between measurements (NOTE lines above): its figures include a cluster under that churn\n", recoveries)
	}
	fmt.Print(tb.String())
	for _, f := range figs {
		for label, msg := range f.failed {
			fmt.Printf("FAILED %s %s: %s\n", f.name, label, msg)
		}
	}
}

// stamp is the wall clock (UTC), to match RESULT lines with the nodes' logs.
func stamp() string { return time.Now().UTC().Format("15:04:05.000") }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// bgLoad measures the machine's per-CPU busy and softirq share over d
// (the anchor's cpustat.py: BGLOAD, nothing of ours running).
func bgLoad(d time.Duration) string {
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
	time.Sleep(d) // a measurement window, not a wait for a condition
	after := snap()
	var out []string
	for cpu := range len(after) {
		name := fmt.Sprintf("cpu%d", cpu)
		a, z := before[name], after[name]
		if len(a) != 8 || len(z) != 8 {
			continue
		}
		var dd [8]uint64
		var sum uint64
		for i := range 8 {
			dd[i] = z[i] - a[i]
			sum += dd[i]
		}
		tot := max(sum, 1)
		out = append(out, fmt.Sprintf("%s_busy=%.0f%% %s_softirq=%.0f%%", name, 100*float64(tot-dd[3]-dd[4])/float64(tot), name, 100*float64(dd[6])/float64(tot)))
	}
	return fmt.Sprintf("%v, nothing of ours running: %s", d, strings.Join(out, " "))
}

// startPerf records pid's CPU profile (perf record -g) for secs seconds
// into dir/label.perf.data; the caller waits for it.
func startPerf(b *testing.B, dir, label string, pid, secs int) *exec.Cmd {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, label+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out, "--", "sleep", strconv.Itoa(secs))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Logf("perf record: %v (no profile)", err)
		return nil
	}
	b.Logf("profiling pid %d into %s (perf report -i %s --no-children --stdio)", pid, out, out)
	return cmd
}

// BenchmarkDiskFailover: a 3-node demo cluster with a 64 MiB disk; 10
// times ($CORRAL_DISKBENCH_FAILOVERS): wait until the disk is online and
// readable through every node, open an NBD connection to each of the two
// other nodes, kill -9 the serving node and issue 4 KiB reads through
// both connections (a read that fails or takes over 5 s is retried on a
// new connection) until one completes; then start the killed node again.
// Reported: p50-ms and max-ms from the kill to that first completed read.
func BenchmarkDiskFailover(b *testing.B) {
	runs := diskEnvInt(b, "CORRAL_DISKBENCH_FAILOVERS", 10)
	dir, err := os.MkdirTemp("/tmp", "corral-diskfail-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	backing := filepath.Join(dir, "disk.img")
	c, missing := startDiskCluster(b, filepath.Join(dir, "cluster"), diskFailoverNet, backing, diskFailoverSize)
	if c == nil {
		b.Skip(missing)
	}
	b.Cleanup(func() { c.keepLogs(b) })
	all := c.names
	var took []time.Duration
	var movedTo []string
	b.ResetTimer()
	for run := range runs {
		owner := c.waitOnline(60 * time.Second)
		time.Sleep(memberKillSettle)
		var survivors []string
		conns := map[string]*nbdClient{}
		for _, n := range all {
			if n == owner {
				continue
			}
			survivors = append(survivors, n)
			cl, err := dialNBD(c.nbdAddr(n), diskBenchName, 5*time.Second)
			if err != nil {
				b.Fatalf("run %d: %v", run+1, err)
			}
			conns[n] = cl
		}
		pid := c.pid(owner)
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		done := make(chan time.Time, len(survivors))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for k, n := range survivors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := conns[n]
				buf := make([]byte, 4096)
				r := rand.New(rand.NewPCG(uint64(run), uint64(k)))
				for {
					select {
					case <-stop:
						if cl != nil {
							cl.close()
						}
						return
					default:
					}
					if cl == nil {
						var err error
						if cl, err = dialNBD(c.nbdAddr(n), diskBenchName, time.Second); err != nil {
							time.Sleep(memberKillPoll)
							continue
						}
					}
					off := r.Uint64N(diskFailoverSize/4096) * 4096
					if err := cl.read(buf, off, 5*time.Second); err != nil {
						cl.close()
						cl = nil
						continue
					}
					done <- time.Now()
					<-stop
					cl.close()
					return
				}
			}()
		}
		select {
		case at := <-done:
			took = append(took, at.Sub(killed))
		case <-time.After(60 * time.Second):
			close(stop)
			wg.Wait()
			b.Fatalf("run %d: no read completed through %v 60 s after kill -9 of %s%s", run+1, survivors, owner, c.logTails(30))
		}
		close(stop)
		wg.Wait()
		_, o, _ := c.group(survivors[0], diskBenchName)
		movedTo = append(movedTo, o)
		fmt.Printf("RESULT disk failover run=%d killed=%s first_read_ms=%.1f new_server=%s (%s)\n", run+1, owner, memberMS(took[len(took)-1]), o, c.events())
		c.restart()
		c.waitFor(30*time.Second, 50*time.Millisecond, "one quorate view of three again", func() error { return c.oneView(all, all) })
	}
	b.StopTimer()
	slices.Sort(took)
	fmt.Printf("disk failover: kill -9 of the serving node to the first completed read through another node: p50 %.0f ms, max %.0f ms (%d runs; new servers %v)\n",
		memberMS(took[len(took)/2]), memberMS(took[len(took)-1]), len(took), movedTo)
	b.ReportMetric(memberMS(took[len(took)/2]), "p50-ms")
	b.ReportMetric(memberMS(took[len(took)-1]), "max-ms")
}
