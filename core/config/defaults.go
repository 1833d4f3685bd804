package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// defaultVotes is a node's weight in quorum when [[nodes]] votes is left out.
const defaultVotes = 1

// DrainTimeout bounds a clean stop (SIGTERM, `leave`, `demo stop`): the
// node asks the coordinator to move its groups away (each stopped here
// through its agents' stop, then started elsewhere) and waits up to this
// long for none to run here before it leaves the view. Longer than one
// resource's default stop timeout (20 s, crm.DefaultStopTimeout) so that a
// slow stop fits; past it the node does not leave cleanly, so the others
// fence it before they start what it may still run.
const DrainTimeout = 30 * time.Second

// Default returns a configuration holding every default. Required keys
// (cluster, node, key_file, nodes) are left empty.
func Default() *Config {
	return &Config{
		// Where the boot id, promises, the config DB and events live.
		DataDir: "/var/lib/corral",
		// The admin API socket the shell finds by default.
		AdminSocket: "/run/corral/corral.sock",
		// UDP port on every link address; 5420 sits next to corosync's 5405.
		Port: 5420,
		Timers: Timers{
			// Heartbeat period on every path.
			Heartbeat: Duration(100 * time.Millisecond),
			// Detector floor: a path is never suspected sooner than this; more
			// than 3 heartbeats so one lost heartbeat is never a failure.
			SuspectMin: Duration(400 * time.Millisecond),
			// Detector ceiling: a silent path is always suspected by then.
			SuspectMax: Duration(3 * time.Second),
			// A primary acts only while a quorum acknowledged a heartbeat it
			// sent less than this ago (ARCHITECTURE section 2, G2).
			Lease: Duration(500 * time.Millisecond),
			// Safety margin added to lease waits.
			Margin: Duration(100 * time.Millisecond),
			// Bound on clock rate error between nodes (1 %).
			Drift: 0.01,
		},
		Quorum: Quorum{
			// More than half of all configured votes.
			Policy: PolicyMajority,
			// last_man_standing: how long a primary view must last before
			// the next may shrink from it.
			Window: Duration(10 * time.Second),
		},
		Fence: Fence{
			// No watchdog self-fencing unless a device is named.
			Watchdog: "off",
			// Watchdog fires this long after its last feed.
			WatchdogTimeout: Duration(5 * time.Second),
			// A fence cycles the node's power (Pacemaker's default too).
			Action: "reboot",
		},
		DNS: DNS{
			// Listen defaults to "<first address>:53" and Domain to
			// "<cluster>.corral." (see derive).
			//
			// Group and apex records change on failover and membership
			// changes: keep caches short. Also the negative TTL.
			TTL: Duration(5 * time.Second),
			// <node>.node.<domain> records change only with the config.
			NodeTTL: Duration(60 * time.Second),
		},
		Lua: Lua{
			// Enough VMs for a monitor per resource of a busy node side by
			// side; VMs are made on demand, so an idle node holds few.
			PoolSize: 16,
			// A handler is told of an event, it does not do the cluster's
			// work: a few seconds is plenty, and a slow one only delays
			// the handlers after it.
			HandlerTimeout: Duration(5 * time.Second),
			// Events waiting for the handlers; at ~100 events per view change
			// of a big cluster this rides out a burst.
			HandlerQueue: 1024,
			// Each handler has its own queue, so a slow one delays only
			// itself; one that keeps passing its deadline (a loop, a hung
			// call) would still hold a VM for handler_timeout per event.
			// Three in a row is past bad luck on a loaded machine and
			// costs at most 3 x handler_timeout of a VM before it stops.
			HandlerDisableAfter: 3,
		},
		DLM: DLM{
			// A request waiting this long is looked at by the cluster-wide
			// deadlock search (VMS's default of 10 s too): far above a
			// lock's usual wait, so the search runs rarely; short enough
			// that a script's deadlock breaks before anyone gives up on it.
			DeadlockTimeout: Duration(10 * time.Second),
		},
		NBD: NBD{
			// The served disks' NBD export on a Unix socket next to the
			// admin socket (derive puts it next to a configured
			// admin_socket): the operator's tools (nbdinfo, qemu-img,
			// nbd-client) on this machine reach it like the shell does.
			Socket: "/run/corral/nbd.sock",
			// No TCP listener: the export is served on the socket only.
			// Set listen (host:port; NBD's port is 10809) to serve the
			// disks to other machines.
			Listen: "",
		},
		API: API{
			// No TCP listener: the admin API is served on admin_socket only.
			// Set listen and token_file to serve it over TCP with a token.
			Listen:    "",
			TokenFile: "",
		},
	}
}

// derive fills the defaults that depend on other settings. defined reports
// whether a key was set in the file.
func (c *Config) derive(defined func(key ...string) bool) {
	for i := range c.Nodes {
		if c.Nodes[i].Votes == nil {
			v := defaultVotes
			c.Nodes[i].Votes = &v
		}
	}
	if c.DNS.Domain == "" && c.Cluster != "" {
		c.DNS.Domain = c.Cluster + ".corral."
	}
	if c.DNS.Domain != "" && !strings.HasSuffix(c.DNS.Domain, ".") {
		c.DNS.Domain += "."
	}
	c.DNS.Domain = strings.ToLower(c.DNS.Domain)
	if !defined("nbd", "socket") && defined("admin_socket") {
		c.NBD.Socket = filepath.Join(filepath.Dir(c.AdminSocket), "nbd.sock")
	}
	if !defined("dns", "listen") {
		if self := c.Self(); self != nil && len(self.Addresses) > 0 {
			c.DNS.Listen = []string{net.JoinHostPort(self.Addresses[0], strconv.Itoa(53))}
		}
	}
}

// Limits on what network clients may cost the node (issue 22). They are
// not configuration keys: they bound unauthenticated clients and need no
// tuning for a cluster's size.
const (
	// APIMaxConns caps the TCP admin API's open connections; more wait in
	// the kernel's accept queue. An operator's shell opens one or two.
	// The agent lowers it (with DNSMaxTCPConns) to a quarter of its file
	// descriptor limit, keeping the rest for the node's own work.
	APIMaxConns = 256
	// APIReadTimeout bounds reading one request, headers and body, on the
	// TCP admin API (headers alone: APIHeaderTimeout). It does not end
	// event streams (core/api TestTokenConnections).
	APIReadTimeout = 30 * time.Second
	// APIHeaderTimeout bounds reading a request's headers (both API
	// listeners).
	APIHeaderTimeout = 5 * time.Second
	// APIIdleTimeout closes a keep-alive connection with no request for
	// this long (both API listeners).
	APIIdleTimeout = 60 * time.Second
	// DNSMaxTCPConns caps DNS-over-TCP connections per listen address.
	DNSMaxTCPConns = 128
	// DNSTCPIdleTimeout closes a DNS TCP connection idle this long (RFC
	// 7766 suggests seconds, not minutes).
	DNSTCPIdleTimeout = 10 * time.Second
	// DNSMaxTCPQueries is the most queries answered on one DNS TCP
	// connection before it is closed.
	DNSMaxTCPQueries = 128
	// DNSRateLimit is the responses per second one client prefix (/24 for
	// IPv4, /56 for IPv6) gets over UDP, and DNSRateBurst the bucket's
	// depth; over it, every DNSRateSlip-th response is sent truncated
	// (TC=1: a real client retries over TCP) and the others are dropped,
	// so a spoofed victim gets little amplification. TCP is not limited
	// (the source address is proven).
	DNSRateLimit = 100
	DNSRateBurst = 200
	DNSRateSlip  = 2
)
