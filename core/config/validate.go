package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxNodeID is the largest node id (ids travel as 16 bits on the wire).
const MaxNodeID = 65535

// maxDelayKnob bounds timer settings: beyond it a value is a typo.
const maxDelayKnob = time.Hour

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks every setting and the relations between them. It reports
// all problems at once (as Problems).
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.top()
	v.nodes()
	v.timers()
	v.quorum()
	v.fence()
	v.dns()
	v.lua()
	v.dlm()
	v.nbd()
	v.api()
	if len(v.ps) == 0 {
		return nil
	}
	return v.ps
}

type validator struct {
	c  *Config
	ps Problems
}

func (v *validator) addf(key, format string, args ...any) {
	v.ps = append(v.ps, v.c.problem(key, fmt.Sprintf(format, args...)))
}

func (v *validator) top() {
	c := v.c
	if c.Cluster == "" {
		v.addf("cluster", "missing: name the cluster, the same on every node (cluster = \"prod\")")
	} else if !nameRE.MatchString(c.Cluster) {
		v.addf("cluster", "%q is not a valid name: use lower-case letters, digits and '-', up to 63 characters (it is a DNS label)", c.Cluster)
	}
	if c.Node == "" {
		v.addf("node", "missing: set this node's name, one of the [[nodes]] names")
	} else if c.Self() == nil {
		v.addf("node", "%q is not in the node list: add a [[nodes]] entry with name = %q or fix the name", c.Node, c.Node)
	}
	if c.KeyFile == "" {
		v.addf("key_file", "missing: create a key with 'corral keygen cluster.key', copy it to every node and set key_file")
	}
	if c.DataDir == "" {
		v.addf("data_dir", "empty: set a directory for durable state")
	}
	if c.AdminSocket == "" {
		v.addf("admin_socket", "empty: set the path of the admin socket")
	}
	if c.Port < 1 || c.Port > 65535 {
		v.addf("port", "%d is not a UDP port: use 1..65535", c.Port)
	}
}

func (v *validator) nodes() {
	c := v.c
	if len(c.Nodes) == 0 {
		v.addf("nodes", "no nodes: add one [[nodes]] table per node with name, id and addresses")
		return
	}
	names := map[string]int{}
	ids := map[int]int{}
	addrs := map[netip.Addr]string{}
	for i, n := range c.Nodes {
		key := fmt.Sprintf("nodes[%d]", i)
		switch {
		case n.Name == "":
			v.addf(key+".name", "missing: give every node a name")
		case !nameRE.MatchString(n.Name):
			v.addf(key+".name", "%q is not a valid node name: use lower-case letters, digits and '-' (it is a DNS label)", n.Name)
		default:
			if j, dup := names[n.Name]; dup {
				v.addf(key+".name", "duplicate node name %q (also nodes[%d]): names must be unique", n.Name, j)
			}
			names[n.Name] = i
		}
		switch {
		case n.ID < 1 || n.ID > MaxNodeID:
			v.addf(key+".id", "%d is out of range: node ids are 1..%d", n.ID, MaxNodeID)
		default:
			if j, dup := ids[n.ID]; dup {
				v.addf(key+".id", "duplicate node id %d (also nodes[%d] %q): ids must be unique", n.ID, j, c.Nodes[j].Name)
			}
			ids[n.ID] = i
		}
		if len(n.Addresses) == 0 {
			v.addf(key+".addresses", "no addresses: list the node's link addresses, e.g. addresses = [\"10.0.0.1\", \"10.0.1.1\"]")
		}
		for _, s := range n.Addresses {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				v.addf(key+".addresses", "%q is not an IP address: write addresses without a port (the port is 'port')", s)
				continue
			}
			if other, dup := addrs[a]; dup {
				v.addf(key+".addresses", "address %s is used twice (also by %q): every link address must be unique", a, other)
			}
			addrs[a] = n.Name
		}
		if n.Votes != nil && (*n.Votes < 0 || *n.Votes > 255) {
			v.addf(key+".votes", "%d votes: use 0..255", *n.Votes)
		}
	}
}

func (v *validator) timers() {
	t := v.c.Timers
	pos := func(key string, d Duration) bool {
		if d <= 0 {
			v.addf("timers."+key, "%s must be positive", d)
			return false
		}
		if d.D() > maxDelayKnob {
			v.addf("timers."+key, "%s is more than %s: that is surely a typo", d, maxDelayKnob)
			return false
		}
		return true
	}
	hb := pos("heartbeat", t.Heartbeat)
	smin := pos("suspect_min", t.SuspectMin)
	smax := pos("suspect_max", t.SuspectMax)
	lease := pos("lease", t.Lease)
	if hb && smin && t.SuspectMin <= 3*t.Heartbeat {
		v.addf("timers.suspect_min", "suspect timeout %s must exceed 3 heartbeat intervals (3 x %s = %s): raise suspect_min or lower heartbeat",
			t.SuspectMin, t.Heartbeat, 3*t.Heartbeat)
	}
	if smin && smax && t.SuspectMax < t.SuspectMin {
		v.addf("timers.suspect_max", "%s is below suspect_min %s: the detector ceiling must be at least its floor", t.SuspectMax, t.SuspectMin)
	}
	if hb && lease && t.Lease <= 2*t.Heartbeat {
		v.addf("timers.lease", "lease %s must exceed 2 heartbeat intervals (2 x %s = %s): raise lease or lower heartbeat",
			t.Lease, t.Heartbeat, 2*t.Heartbeat)
	}
	if t.Margin < 0 || t.Margin.D() > maxDelayKnob {
		v.addf("timers.margin", "%s: use a duration from 0 to %s", t.Margin, maxDelayKnob)
	}
	if t.Drift < 0 || t.Drift > 0.1 {
		v.addf("timers.drift", "%g is not a plausible clock drift bound: use 0..0.1 (0.01 = 1 %%)", t.Drift)
	}
}

func (v *validator) quorum() {
	c := v.c
	q := c.Quorum
	switch q.Policy {
	case PolicyMajority, PolicyLastManStanding:
	default:
		v.addf("quorum.policy", "%q is not a policy: use %q or %q", q.Policy, PolicyMajority, PolicyLastManStanding)
	}
	if q.Window <= 0 {
		v.addf("quorum.window", "%s must be positive", q.Window)
	}
	if q.TwoNode {
		if len(c.Nodes) != 2 {
			v.addf("quorum.two_node", "two_node needs exactly 2 nodes, the list has %d: remove two_node", len(c.Nodes))
		}
		for _, n := range c.Nodes {
			if len(c.FenceLevelsFor(n.Name)) > 0 {
				continue
			}
			what := "no fence device"
			if c.Fence.Watchdog != "off" {
				what = "only watchdog mode"
			}
			v.addf("quorum.two_node", "node %q has %s: two_node needs a real fence device for every node (both halves of a split keep quorum; a watchdog cannot decide which one survives): add a [[fence.devices]] whose targets include %q (or name it in a [[fence.levels]] of %q)",
				n.Name, what, n.Name, n.Name)
		}
		if len(c.Nodes) == 2 && c.Nodes[0].FenceDelay > 0 && c.Nodes[0].FenceDelay == c.Nodes[1].FenceDelay {
			v.addf("nodes[1].fence_delay", "both nodes have fence_delay %s, so a fence race is still a coin toss: give the delay to the preferred survivor only", c.Nodes[1].FenceDelay)
		}
	}
	w := q.Witness
	if w.Disk != "" && w.Arbiter != "" {
		v.addf("quorum.witness", "both disk and arbiter are set: choose one witness")
	}
	if w.Arbiter != "" {
		if _, err := netip.ParseAddrPort(w.Arbiter); err != nil {
			v.addf("quorum.witness.arbiter", "%q is not ip:port: write the arbiter's address like \"10.0.0.9:5421\"", w.Arbiter)
		}
	}
}

func (v *validator) fence() {
	c := v.c
	f := c.Fence
	if f.Watchdog != "off" && !strings.HasPrefix(f.Watchdog, "/") {
		v.addf("fence.watchdog", "%q: use \"off\" or the path of a watchdog device such as \"/dev/watchdog\"", f.Watchdog)
	}
	if f.Action != "reboot" && f.Action != "off" {
		v.addf("fence.action", "%q: use \"reboot\" (a power cycle) or \"off\"", f.Action)
	}
	if f.WatchdogTimeout <= 0 {
		v.addf("fence.watchdog_timeout", "%s must be positive", f.WatchdogTimeout)
	} else if f.Watchdog != "off" {
		t := c.Timers
		// A node feeds the watchdog only while it holds its lease; after
		// every view change it waits lease·(1+drift)+margin for it.
		gap := time.Duration(float64(t.Lease.D())*(1+t.Drift)) + t.Margin.D()
		if f.WatchdogTimeout.D() <= 2*gap {
			v.addf("fence.watchdog_timeout", "%s is too short: a node goes %s without its lease at every view change, and the watchdog would reset it; use more than %s (e.g. \"5s\")",
				f.WatchdogTimeout, gap, 2*gap)
		}
		if f.WatchdogTimeout.D() > 10*time.Minute {
			v.addf("fence.watchdog_timeout", "%s: survivors wait (lease + watchdog_timeout)·(1+drift) + margin before they take over; more than 10m is surely a typo", f.WatchdogTimeout)
		}
	}
	for i, n := range c.Nodes {
		if n.FenceDelay < 0 || n.FenceDelay.D() > maxDelayKnob {
			v.addf(fmt.Sprintf("nodes[%d].fence_delay", i), "%s: use a duration from 0 to %s", n.FenceDelay, maxDelayKnob)
		}
	}
	devices := map[string]bool{}
	for i, d := range f.Devices {
		key := fmt.Sprintf("fence.devices[%d]", i)
		if d.Name == "" {
			v.addf(key+".name", "missing: name the device so levels can refer to it")
		} else if devices[d.Name] {
			v.addf(key+".name", "duplicate device name %q", d.Name)
		}
		devices[d.Name] = true
		if d.Driver == "" {
			v.addf(key+".driver", "missing: name a fence driver (such as \"process\" or \"fence_agent\")")
		}
		for _, t := range d.Targets {
			if !v.isNode(t) {
				v.addf(key+".targets", "%q is not a node in the node list", t)
			}
		}
		if d.Driver == "fence_agent" {
			for _, msg := range fenceAgentParamProblems(d.Params) {
				v.addf(key+".params", "%s", msg)
			}
		}
	}
	type nl struct {
		node  string
		level int
	}
	seen := map[nl]bool{}
	for i, l := range f.Levels {
		key := fmt.Sprintf("fence.levels[%d]", i)
		if !v.isNode(l.Node) {
			v.addf(key+".node", "%q is not a node in the node list", l.Node)
		}
		if l.Level < 1 {
			v.addf(key+".level", "%d: levels are numbered from 1 and tried in order", l.Level)
		}
		if seen[nl{l.Node, l.Level}] {
			v.addf(key+".level", "level %d of %q is defined twice", l.Level, l.Node)
		}
		seen[nl{l.Node, l.Level}] = true
		if len(l.Devices) == 0 {
			v.addf(key+".devices", "empty: list the devices of this level")
		}
		for _, d := range l.Devices {
			if !devices[d] {
				v.addf(key+".devices", "%q is not a [[fence.devices]] name", d)
			} else if dev := c.fenceDevice(d); dev != nil && len(dev.Targets) > 0 && !slices.Contains(dev.Targets, l.Node) {
				v.addf(key+".devices", "device %q cannot fence %q (its targets are %s): add %q to its targets or use another device", d, l.Node, strings.Join(dev.Targets, ", "), l.Node)
			}
		}
	}
}

func (v *validator) isNode(name string) bool {
	return slices.ContainsFunc(v.c.Nodes, func(n Node) bool { return n.Name == name })
}

func (v *validator) dns() {
	d := v.c.DNS
	for _, l := range d.Listen {
		host, port, err := net.SplitHostPort(l)
		if err == nil {
			_, err = netip.ParseAddr(host)
		}
		if err != nil || port == "" {
			v.addf("dns.listen", "%q is not ip:port: write e.g. \"127.0.0.1:8053\"", l)
		}
	}
	if d.Domain != "" {
		for _, label := range strings.Split(strings.TrimSuffix(d.Domain, "."), ".") {
			if !nameRE.MatchString(label) {
				v.addf("dns.domain", "%q is not a valid domain: labels are letters, digits and '-'", d.Domain)
				break
			}
		}
	}
	if d.TTL < 0 || d.TTL.D() > 24*time.Hour {
		v.addf("dns.ttl", "%s: use 0s..24h", d.TTL)
	}
	if d.NodeTTL < 0 || d.NodeTTL.D() > 24*time.Hour {
		v.addf("dns.node_ttl", "%s: use 0s..24h", d.NodeTTL)
	}
}

func (v *validator) lua() {
	l := v.c.Lua
	if l.PoolSize < 1 || l.PoolSize > 1024 {
		v.addf("lua.pool_size", "%d: use 1..1024", l.PoolSize)
	}
	if l.HandlerTimeout.D() < 10*time.Millisecond || l.HandlerTimeout.D() > 10*time.Minute {
		v.addf("lua.handler_timeout", "%s: use 10ms..10m", l.HandlerTimeout)
	}
	if l.HandlerQueue < 1 || l.HandlerQueue > 1<<20 {
		v.addf("lua.handler_queue", "%d: use 1..1048576", l.HandlerQueue)
	}
	if l.HandlerDisableAfter < 1 || l.HandlerDisableAfter > 1000 {
		v.addf("lua.handler_disable_after", "%d: use 1..1000", l.HandlerDisableAfter)
	}
	for _, g := range l.Grant {
		if !slices.Contains(l.Paths, g) {
			v.addf("lua.grant", "%q is not in lua.paths: grant only directories you load scripts from", g)
		}
	}
}

func (v *validator) dlm() {
	d := v.c.DLM.DeadlockTimeout.D()
	if d < 100*time.Millisecond || d > maxDelayKnob {
		v.addf("dlm.deadlock_timeout", "%s: use 100ms..1h (how long a lock request waits before the deadlock search looks at it; default 10s)", v.c.DLM.DeadlockTimeout)
	}
}

// maxSocketPath is the longest Unix socket path the kernel takes
// (sun_path holds 108 bytes with its NUL; BSDs 104).
const maxSocketPath = 104

func (v *validator) nbd() {
	b := v.c.NBD
	switch {
	case b.Socket == "":
		v.addf("nbd.socket", "empty: set the path of the NBD export's Unix socket (or leave the key out: nbd.sock next to admin_socket)")
	case len(b.Socket) > maxSocketPath:
		v.addf("nbd.socket", "%s is %d bytes long; Unix sockets allow about %d: choose a shorter path", b.Socket, len(b.Socket), maxSocketPath)
	case b.Socket == v.c.AdminSocket:
		v.addf("nbd.socket", "%s is also admin_socket: give the NBD export its own socket (e.g. nbd.sock next to the admin socket)", b.Socket)
	}
	if b.Listen != "" {
		host, port, err := net.SplitHostPort(b.Listen)
		if err == nil && host != "" {
			_, err = netip.ParseAddr(host)
		}
		var p int
		if err == nil {
			p, err = strconv.Atoi(port)
		}
		if err != nil || p < 1 || p > 65535 {
			v.addf("nbd.listen", "%q is not ip:port: write e.g. \"10.0.0.1:10809\" (10809 is NBD's port), or leave it out to serve the Unix socket only", b.Listen)
		}
	}
}

func (v *validator) api() {
	a := v.c.API
	if a.Listen != "" {
		host, port, err := net.SplitHostPort(a.Listen)
		if err == nil && host != "" {
			_, err = netip.ParseAddr(host)
		}
		if err != nil || port == "" {
			v.addf("api.listen", "%q is not ip:port: write e.g. \"127.0.0.1:5421\" (or leave it out to serve the Unix socket only)", a.Listen)
		} else if a.TLSCert == "" && !loopback(host) {
			v.addf("api.listen", "%q is not a loopback address and [api] has no TLS: the bearer token would cross the network in clear; set tls_cert and tls_key (PEM files), or listen on 127.0.0.1", a.Listen)
		}
		if a.TokenFile == "" {
			v.addf("api.listen", "a TCP listener needs a token: set api.token_file to a file holding a secret (e.g. 'corral keygen api.token')")
		}
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		v.addf("api.tls_cert", "tls_cert and tls_key go together: set both (the certificate and its private key) or neither")
	}
	if a.TLSCert != "" && a.Listen == "" {
		v.addf("api.tls_cert", "set without api.listen: TLS is for the TCP listener; set listen too or remove tls_cert and tls_key")
	}
	if a.TokenFile != "" && a.Listen == "" {
		v.addf("api.token_file", "set without api.listen: the token only protects the TCP listener; set listen too or remove token_file")
	}
}

// loopback reports whether host (an IP, or "" for every address) is a
// loopback address.
func loopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
