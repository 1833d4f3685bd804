package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/shell"
	"github.com/corral-ha/corral/shell/pidfile"
)

// The demo's settings (corral help start, "The demo").
const (
	demoDefaultDir = ".corral-demo"
	demoCluster    = "demo"
	demoPort       = 5420
	demoDNSPort    = 8053
	demoNBDPort    = 10809 // NBD's port, on each node's first address
	demoMaxNodes   = 64
	// demoStartWait bounds the wait for every node's socket to answer.
	demoStartWait = 15 * time.Second
	// demoStopWait is how long demo stop waits after SIGTERM before
	// SIGKILL: a clean stop moves the node's groups away first (up to
	// config.DrainTimeout), then leaves.
	demoStopWait = config.DrainTimeout + 10*time.Second
)

// demoNode is one node of a demo directory.
type demoNode struct {
	name    string
	dir     string // absolute
	config  string // absolute path of corral.toml
	pidFile string
	socket  string
	log     string
	addrs   []string
}

func demoNodes(dir, netPrefix string, n int) []demoNode {
	out := make([]demoNode, n)
	for k := 1; k <= n; k++ {
		name := fmt.Sprintf("n%d", k)
		d := filepath.Join(dir, name)
		out[k-1] = demoNode{name: name, dir: d, config: filepath.Join(d, "corral.toml"),
			pidFile: filepath.Join(d, "corral.pid"), socket: filepath.Join(d, "corral.sock"),
			log: filepath.Join(d, "corral.log"), addrs: demoAddrs(netPrefix, k, n)}
	}
	return out
}

// demoTwoLinks is the largest demo whose nodes get two addresses (links).
// Heartbeats go over every pair of links between two nodes, so two links
// each send four times the packets of one: above it, where a 2-core
// machine is short of CPU for all of them, a node gets one address.
const demoTwoLinks = 16

// demoAddrs is node k's addresses in a demo of n nodes.
func demoAddrs(netPrefix string, k, n int) []string {
	if n > demoTwoLinks {
		return []string{fmt.Sprintf("%s.0.%d", netPrefix, k)}
	}
	return []string{fmt.Sprintf("%s.0.%d", netPrefix, k), fmt.Sprintf("%s.1.%d", netPrefix, k)}
}

// demoConfig is node k's configuration file.
func demoConfig(netPrefix string, n, k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Node n%d of the local demo cluster, written by `corral demo`.\n", k)
	fmt.Fprintf(&b, "# Relative paths are relative to this file's directory.\n")
	fmt.Fprintf(&b, "cluster = %q\nnode = \"n%d\"\nkey_file = \"../cluster.key\"\n", demoCluster, k)
	fmt.Fprintf(&b, "data_dir = \"data\"\nadmin_socket = \"corral.sock\"\npid_file = \"corral.pid\"\nport = %d\n", demoPort)
	for j := 1; j <= n; j++ {
		var quoted []string
		for _, a := range demoAddrs(netPrefix, j, n) {
			quoted = append(quoted, strconv.Quote(a))
		}
		fmt.Fprintf(&b, "\n[[nodes]]\nname = \"n%d\"\nid = %d\naddresses = [%s]\n", j, j, strings.Join(quoted, ", "))
	}
	fmt.Fprintf(&b, "\n[dns]\nlisten = [\"%s:%d\"]\n", demoAddrs(netPrefix, k, n)[0], demoDNSPort)
	fmt.Fprintf(&b, "\n# The served disks' NBD export: on nbd.sock next to corral.sock, and on TCP here\n")
	fmt.Fprintf(&b, "# (nbdinfo nbd://%s:%d/drd1 with `corral demo --disk`).\n", demoAddrs(netPrefix, k, n)[0], demoNBDPort)
	fmt.Fprintf(&b, "[nbd]\nlisten = \"%s:%d\"\n", demoAddrs(netPrefix, k, n)[0], demoNBDPort)
	fmt.Fprintf(&b, "\n[debug]\nfault_injection = true\n")
	return b.String()
}

// parseNet checks --net: two numbers, the first 127 (loopback).
func parseNet(s string) (string, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 2 {
		return "", fmt.Errorf("--net %q: give the first two numbers of a loopback block, such as 127.0 or 127.23", s)
	}
	for _, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 255 || strconv.Itoa(v) != p {
			return "", fmt.Errorf("--net %q: %q is not a number 0..255", s, p)
		}
	}
	if parts[0] != "127" {
		return "", fmt.Errorf("--net %q: the demo runs on loopback: use 127.X (such as 127.0 or 127.23)", s)
	}
	return s, nil
}

// progName is how to spell this binary in advice: as the user typed it
// when that was a path (bin/corral), else "corral".
func progName() string {
	if strings.Contains(os.Args[0], "/") && !filepath.IsAbs(os.Args[0]) {
		return os.Args[0]
	}
	return "corral"
}

// Run is `corral demo [--nodes 3] [--dir DIR] [--net 127.0] [--detach] [--disk]`
// and `corral demo stop [--dir DIR]`.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "stop" {
		return runDemoStop(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "number of nodes (n1..nN)")
	dirFlag := fs.String("dir", demoDefaultDir, "directory of the demo's files")
	netFlag := fs.String("net", "127.0", "loopback block: node nK gets <net>.0.K and\n<net>.1.K (only <net>.0.K above 16 nodes)")
	detach := fs.Bool("detach", false, "start the nodes and return")
	web := fs.Bool("web", true, "add the group web (corral whoami on port 8080 of its\nowner) once the cluster is quorate, unless it exists")
	diskFlag := fs.Bool("disk", false, "add the served disk drd1 (256 MiB, sparse, on DIR/drd1.img,\nevery node a possible server) once the cluster is quorate,\nunless it exists; NBD on each node's <first address>:10809")
	fence := fs.Bool("fence", true, "give the nodes the process fence device (it kills a\nnode's processes); false: no fencing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: corral demo [--nodes 3] [--dir DIR] [--net 127.0] [--detach]\n"+
			"                   [--disk] [--web=false] [--fence=false]\n       corral demo stop [--dir DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "corral demo: unexpected argument %q; to stop the demo: corral demo stop\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *nodes < 1 || *nodes > demoMaxNodes {
		fmt.Fprintf(stderr, "corral demo: --nodes %d: use 1..%d\n", *nodes, demoMaxNodes)
		return 2
	}
	netPrefix, err := parseNet(*netFlag)
	if err != nil {
		fmt.Fprintf(stderr, "corral demo: %v\n", err)
		return 2
	}
	d := &demo{userDir: *dirFlag, stdout: stdout, stderr: stderr, noFence: !*fence, disk: *diskFlag}
	if d.dir, err = filepath.Abs(*dirFlag); err != nil {
		fmt.Fprintf(stderr, "corral demo: %v\n", err)
		return 1
	}
	n, netPrefix, err := d.prepare(*nodes, netPrefix, set["nodes"], set["net"])
	if err != nil {
		fmt.Fprintf(stderr, "corral demo: %v\n", err)
		return 1
	}
	// --web=false is remembered (DIR/no-web), so that starting the demo
	// again does not add web to a cluster that was asked to go without.
	noWeb := filepath.Join(d.dir, demoNoWebFile)
	switch _, err := os.Stat(noWeb); {
	case set["web"] && !*web:
		_ = os.WriteFile(noWeb, []byte("corral demo --web=false: the demo adds no group web\n"), 0o644)
	case set["web"]:
		os.Remove(noWeb)
	case err == nil:
		*web = false
	}
	return d.start(n, netPrefix, *detach, *web)
}

// demo runs one `corral demo` command.
type demo struct {
	dir     string // absolute
	userDir string // as given, for messages
	noFence bool   // --fence=false: configs written without the fence device
	disk    bool   // --disk: add the served disk drd1
	stdout  io.Writer
	stderr  io.Writer
}

// show spells a path under the demo directory as the user gave it.
func (d *demo) show(p string) string {
	rel, err := filepath.Rel(d.dir, p)
	if err != nil {
		return p
	}
	return filepath.Join(d.userDir, rel)
}

// prepare creates the directory, the key and missing configs. An existing
// demo keeps its node count and addresses; asking for others is an error.
func (d *demo) prepare(n int, netPrefix string, nodesSet, netSet bool) (int, string, error) {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return 0, "", err
	}
	keyPath := filepath.Join(d.dir, "cluster.key")
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		key := make([]byte, config.KeySize)
		if _, err := rand.Read(key); err != nil {
			return 0, "", err
		}
		if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return 0, "", err
		}
	} else if err := os.Chmod(keyPath, 0o600); err != nil { // an older demo's: the agent refuses a readable key
		return 0, "", err
	}
	first := filepath.Join(d.dir, "n1", "corral.toml")
	if _, err := os.Stat(first); err == nil {
		cfg, err := config.Load(first)
		if err != nil {
			return 0, "", fmt.Errorf("%v\nthe demo in %s has a broken config: fix it, or remove the directory after 'corral demo stop --dir %s'", err, d.userDir, d.userDir)
		}
		oldN := len(cfg.Nodes)
		oldNet := strings.TrimSuffix(cfg.Self().Addresses[0], ".0.1")
		if (nodesSet && n != oldN) || (netSet && netPrefix != oldNet) {
			return 0, "", fmt.Errorf("%s already holds a %d-node demo on %s: run it without --nodes/--net, or stop it and remove the directory (corral demo stop --dir %s; rm -r %s), or use another --dir",
				d.userDir, oldN, oldNet, d.userDir, d.userDir)
		}
		n, netPrefix = oldN, oldNet
	}
	for k, nd := range demoNodes(d.dir, netPrefix, n) {
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			return 0, "", err
		}
		if _, err := os.Stat(nd.config); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(nd.config, []byte(demoConfig(netPrefix, n, k+1)+d.fenceConfig(n)), 0o644); err != nil {
				return 0, "", err
			}
		}
		if _, err := config.Load(nd.config); err != nil {
			return 0, "", fmt.Errorf("%v\nfix %s or remove %s to have it written again", err, d.show(nd.config), d.show(nd.config))
		}
	}
	return n, netPrefix, nil
}

// nodeState is what start found and did for one node.
type nodeState struct {
	demoNode
	pid     int
	started bool
	exited  chan error // closed-over Wait result of a process this run started
	status  apitypes.Status
	ready   bool // answered /v1/status (start)
	gone    bool // exited (stop)
}

// start starts every node that is not running, waits for all sockets and
// prints the summary.
func (d *demo) start(n int, netPrefix string, detach, web bool) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(d.stderr, "corral demo: cannot find my own binary to start the nodes: %v\n", err)
		return 1
	}
	var nodes []*nodeState
	for _, nd := range demoNodes(d.dir, netPrefix, n) {
		ns := &nodeState{demoNode: nd}
		nodes = append(nodes, ns)
		if pid := agentPID(nd.pidFile, nd.config); pid != 0 {
			ns.pid = pid
			continue
		}
		if ping(nd.socket, time.Second) == nil {
			continue // alive, though its pid file is gone
		}
		if err := ns.startAgent(exe); err != nil {
			fmt.Fprintf(d.stderr, "corral demo: starting %s: %v\n", nd.name, err)
			return 1
		}
	}
	if code := d.waitReady(nodes); code != 0 {
		return code
	}
	if web {
		added, err := d.addWeb(nodes[0].socket, exe)
		switch {
		case err != nil:
			fmt.Fprintf(d.stderr, "corral demo: %v\n", err)
		case added:
			fmt.Fprintf(d.stdout, "corral demo: added the group %s (resource %s: corral whoami on port %d of its owner)\n", demoWebGroup, demoWebResource, demoWebPort)
		}
	}
	if d.disk {
		added, err := d.addDisk(nodes[0].socket, len(nodes))
		switch {
		case err != nil:
			fmt.Fprintf(d.stderr, "corral demo: %v\n", err)
		case added:
			fmt.Fprintf(d.stdout, "corral demo: added the disk %s (%s, sparse, on %s, served by any node)\n", demoDiskName, demoDiskSize, d.show(filepath.Join(d.dir, demoDiskFile)))
		}
	}
	prog := progName()
	shellCmd, stopCmd := prog+" shell -c status", prog+" demo stop"
	if filepath.Clean(d.userDir) != demoDefaultDir {
		shellCmd = fmt.Sprintf("%s shell --socket %s -c status", prog, d.show(nodes[0].socket))
		stopCmd = fmt.Sprintf("%s demo stop --dir %s", prog, d.userDir)
	}
	fmt.Fprintf(d.stdout, "corral demo: cluster %q, %d nodes, files in %s\n\n", demoCluster, n, d.userDir)
	tw := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPID\tADDRESSES (UDP 5420)\tSOCKET\tTHIS RUN")
	for _, ns := range nodes {
		what := "already running"
		if ns.started {
			what = "started"
		}
		pid := "?"
		if ns.pid != 0 {
			pid = strconv.Itoa(ns.pid)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s, boot %d\n", ns.name, pid, strings.Join(ns.addrs, " "), d.show(ns.socket), what, ns.status.Boot)
	}
	tw.Flush()
	fmt.Fprintf(d.stdout, "\nLogs: %s; configs: %s\n", d.show(filepath.Join(d.dir, "nK", "corral.log")), d.show(filepath.Join(d.dir, "nK", "corral.toml")))
	fmt.Fprintf(d.stdout, "\nUse it:\n")
	tw = tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\t# the cluster as n1 sees it (add --json for JSON)\n", shellCmd)
	if len(nodes) > 1 {
		fmt.Fprintf(tw, "  %s\t# the same from %s\n", fmt.Sprintf("%s shell --socket %s -c status", prog, d.show(nodes[len(nodes)-1].socket)), nodes[len(nodes)-1].name)
	}
	if web {
		fmt.Fprintf(tw, "  %s\t# where web runs\n", strings.Replace(shellCmd, "-c status", "-c groups", 1))
		if owner, addr := webOwner(nodes[0].socket, demoWebWait); owner != "" {
			fmt.Fprintf(tw, "  curl http://%s:%d/\t# web runs on %s, so it answers %s\n", addr, demoWebPort, owner, owner)
		} else {
			fmt.Fprintf(tw, "  curl http://%s.0.K:%d/\t# web answers with its owner's name on the owner's address\n", netPrefix, demoWebPort)
		}
		fmt.Fprintf(tw, "  dig @%s -p %d web.%s.corral.\t# the owner's address, from any node's DNS\n", nodes[0].addrs[0], demoDNSPort, demoCluster)
	}
	if d.disk {
		fmt.Fprintf(tw, "  %s\t# where %s is served, its epoch and clients\n", strings.Replace(shellCmd, "-c status", "-c disks", 1), demoDiskName)
		fmt.Fprintf(tw, "  nbdinfo nbd://%s:%d/%s\t# the disk over NBD, from any node (nbdcopy, qemu-img too)\n", nodes[len(nodes)-1].addrs[0], demoNBDPort, demoDiskName)
	}
	fmt.Fprintf(tw, "  %s\t# stop every node\n", stopCmd)
	tw.Flush()
	if detach {
		return 0
	}
	env := shell.OSEnv(d.stdout, d.stderr)
	if !env.StdinTTY {
		// No terminal to type in: show the status once and return.
		st := d.settle(nodes[0].socket, 3*time.Second)
		fmt.Fprintf(d.stdout, "\nThe cluster as n1 sees it:\n\n")
		if err := shell.RenderStatus(d.stdout, st); err != nil {
			return 1
		}
		fmt.Fprintf(d.stdout, "\nstdin is not a terminal, so corral demo returns now and the nodes keep running in\nthe background. Look again: %s\nStop them:       %s\n", shellCmd, stopCmd)
		return 0
	}
	d.settle(nodes[0].socket, 3*time.Second)
	fmt.Fprintf(d.stdout, "\nOpening the shell on n1. Leaving it (exit or Ctrl-D) leaves the nodes running; stop them with: %s\n\n", stopCmd)
	return shell.Run([]string{"--socket", nodes[0].socket}, env)
}

// startAgent starts `corral agent --config FILE` detached: its own session,
// stdin /dev/null, output appended to corral.log.
func (ns *nodeState) startAgent(exe string) error {
	logf, err := os.OpenFile(ns.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- corral demo: starting %s at %s\n", ns.name, time.Now().Format(time.RFC3339))
	cmd := exec.Command(exe, "agent", "--config", ns.config)
	cmd.Dir = ns.dir
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	ns.pid, ns.started = cmd.Process.Pid, true
	ns.exited = make(chan error, 1)
	go func() { ns.exited <- cmd.Wait() }()
	return nil
}

// waitReady polls every node's socket until it answers /v1/status; a node
// this run started that exits meanwhile fails the demo with its log.
func (d *demo) waitReady(nodes []*nodeState) int {
	deadline := time.Now().Add(demoStartWait)
	for {
		waiting := 0
		for _, ns := range nodes {
			if ns.ready {
				continue
			}
			if ns.exited != nil {
				select {
				case err := <-ns.exited:
					fmt.Fprintf(d.stderr, "corral demo: %s exited while starting (%v); the end of %s:\n%s", ns.name, err, d.show(ns.log), tail(ns.log, 15))
					fmt.Fprintf(d.stderr, "fix the cause and run corral demo again (nodes already running are left alone)\n")
					return 1
				default:
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := shell.NewClient(ns.socket).Status(ctx)
			cancel()
			if err == nil {
				ns.status, ns.ready = st, true
				continue
			}
			waiting++
		}
		if waiting == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			for _, ns := range nodes {
				if !ns.ready {
					fmt.Fprintf(d.stderr, "corral demo: %s did not answer on %s within %s; the end of %s:\n%s", ns.name, d.show(ns.socket), demoStartWait, d.show(ns.log), tail(ns.log, 15))
				}
			}
			fmt.Fprintf(d.stderr, "stop what runs with 'corral demo stop --dir %s' and look at the logs\n", d.userDir)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits (up to max) until the node reaches every other node, so the
// first table people see is not all "no"; it returns the last status.
func (d *demo) settle(socket string, max time.Duration) apitypes.Status {
	deadline := time.Now().Add(max)
	var st apitypes.Status
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s, err := shell.NewClient(socket).Status(ctx)
		cancel()
		if err == nil {
			st = s
			all := true
			for _, n := range s.Nodes {
				all = all && n.Reachable
			}
			if all {
				return st
			}
		}
		if time.Now().After(deadline) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runDemoStop is `corral demo stop [--dir DIR]`: SIGTERM every node, wait,
// SIGKILL the ones still there.
func runDemoStop(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo stop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirFlag := fs.String("dir", demoDefaultDir, "directory of the demo's files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "corral demo stop: unexpected argument %q: corral demo stop [--dir DIR]\n", fs.Arg(0))
		return 2
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		fmt.Fprintf(stderr, "corral demo stop: %v\n", err)
		return 1
	}
	d := &demo{dir: dir, userDir: *dirFlag, stdout: stdout, stderr: stderr}
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stdout, "corral demo stop: no demo in %s: nothing was running\n", d.userDir)
		return 0
	}
	var running []*nodeState
	for _, nd := range existingDemoNodes(dir) {
		pid := agentPID(nd.pidFile, nd.config)
		if pid == 0 {
			if _, err := os.Stat(nd.pidFile); err == nil {
				os.Remove(nd.pidFile) // stale
			}
			if ping(nd.socket, time.Second) == nil {
				fmt.Fprintf(stderr, "corral demo stop: %s answers on %s but has no pid file: stop that agent by hand\n", nd.name, d.show(nd.socket))
			}
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			fmt.Fprintf(stderr, "corral demo stop: %s (pid %d): %v\n", nd.name, pid, err)
			continue
		}
		running = append(running, &nodeState{demoNode: nd, pid: pid})
	}
	if len(running) == 0 {
		if k := stopResourceProcesses(dir); k > 0 {
			fmt.Fprintf(stdout, "corral demo stop: killed %d resource process(es) left by the nodes\n", k)
			return 0
		}
		fmt.Fprintf(stdout, "corral demo stop: nothing was running in %s\n", d.userDir)
		return 0
	}
	deadline := time.Now().Add(demoStopWait)
	for {
		left := 0
		for _, ns := range running {
			if !ns.gone && !processIsAgent(ns.pid, ns.config) {
				ns.gone = true
			}
			if !ns.gone {
				left++
			}
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	status := 0
	for _, ns := range running {
		if ns.gone {
			fmt.Fprintf(stdout, "%s: stopped (pid %d, SIGTERM)\n", ns.name, ns.pid)
			continue
		}
		_ = syscall.Kill(ns.pid, syscall.SIGKILL)
		gone := false
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !processIsAgent(ns.pid, ns.config) {
				gone = true
				break
			}
		}
		if !gone {
			fmt.Fprintf(stderr, "%s: pid %d survives SIGKILL: look at it with 'ps -p %d'\n", ns.name, ns.pid, ns.pid)
			status = 1
			continue
		}
		os.Remove(ns.pidFile)
		os.Remove(ns.socket)
		fmt.Fprintf(stdout, "%s: killed (pid %d did not exit within %s of SIGTERM)\n", ns.name, ns.pid, demoStopWait)
	}
	if k := stopResourceProcesses(dir); k > 0 {
		fmt.Fprintf(stdout, "resource processes: killed %d left by the nodes\n", k)
	}
	return status
}

// existingDemoNodes lists the nodes of a demo directory, n1, n2, ... up to
// the first missing config.
func existingDemoNodes(dir string) []demoNode {
	var out []demoNode
	for k := 1; k <= demoMaxNodes; k++ {
		nd := demoNodes(dir, "", k)[k-1]
		if _, err := os.Stat(nd.config); err != nil {
			break
		}
		out = append(out, nd)
	}
	return out
}

// agentPID returns the pid in pidFile if that process is alive and is a
// corral agent running cfgPath; else 0.
func agentPID(pidFile, cfgPath string) int {
	pid, err := pidfile.Read(pidFile)
	if err != nil {
		return 0
	}
	if !processIsAgent(pid, cfgPath) {
		return 0
	}
	return pid
}

// processIsAgent reports whether pid is alive (not a zombie) and runs
// `corral agent --config cfgPath`.
func processIsAgent(pid int, cfgPath string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		if _, perr := os.Stat("/proc/self/cmdline"); perr != nil {
			return true // no /proc: trust kill(pid, 0)
		}
		return false
	}
	if len(b) == 0 {
		return false // a zombie, or a kernel thread
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	isAgent := false
	cfg := ""
	for i, a := range args[1:] {
		switch {
		case a == "agent":
			isAgent = true
		case a == "--config" || a == "-config":
			if i+2 < len(args) {
				cfg = args[i+2]
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			cfg = a[strings.Index(a, "=")+1:]
		}
	}
	if !isAgent || cfg == "" {
		return false
	}
	if !filepath.IsAbs(cfg) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil {
			return false
		}
		cfg = filepath.Join(cwd, cfg)
	}
	return filepath.Clean(cfg) == filepath.Clean(cfgPath)
}

// ping asks the socket for /v1/status.
func ping(socket string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := shell.NewClient(socket).Status(ctx)
	return err
}

// tail returns the last n lines of a file, indented.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")\n"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ") + "\n"
}
