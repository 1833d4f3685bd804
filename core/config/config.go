package config

import (
	"fmt"
	"strings"
	"time"
)

// Config is one node's configuration file.
type Config struct {
	// Cluster is the cluster's name; every node of a cluster uses the same.
	Cluster string `toml:"cluster"`
	// Node is this node's name; it must appear in Nodes.
	Node string `toml:"node"`
	// KeyFile holds the cluster key (corral keygen).
	KeyFile string `toml:"key_file"`
	// DataDir holds durable state (corral.db).
	DataDir string `toml:"data_dir"`
	// AdminSocket is the admin API's Unix socket.
	AdminSocket string `toml:"admin_socket"`
	// PIDFile, when set, is written by corral agent at start.
	PIDFile string `toml:"pid_file"`
	// Port is the UDP port used on every link address.
	Port int `toml:"port"`

	Nodes  []Node `toml:"nodes"`
	Timers Timers `toml:"timers"`
	Quorum Quorum `toml:"quorum"`
	Fence  Fence  `toml:"fence"`
	DNS    DNS    `toml:"dns"`
	Lua    Lua    `toml:"lua"`
	DLM    DLM    `toml:"dlm"`
	NBD    NBD    `toml:"nbd"`
	Debug  Debug  `toml:"debug"`
	API    API    `toml:"api"`

	// file is the path the configuration was loaded from ("" if built in code).
	file string
	// lines maps key paths ("nodes[1].id") to their line in file.
	lines map[string]int
}

// Node is one entry of the node list.
type Node struct {
	// Name is the node's name, a DNS label: <node>.node.<domain>.
	Name string `toml:"name"`
	// ID identifies the node on the wire: 1..65535, unique.
	ID int `toml:"id"`
	// Addresses are the node's link addresses (IP only; Config.Port is the
	// port). The first one is the node's address in DNS.
	Addresses []string `toml:"addresses"`
	// Votes is the node's weight in quorum decisions.
	Votes *int `toml:"votes"`
	// FenceDelay is how long a survivor waits before its first fence
	// device call against this node. In a two_node cluster give it to the
	// preferred survivor only: in a split both halves keep quorum and
	// fence each other, and the one without the delay wins the race.
	FenceDelay Duration `toml:"fence_delay"`
}

// Timers are the failure detector and lease timings.
type Timers struct {
	// Heartbeat is the period of the heartbeats sent on every path.
	Heartbeat Duration `toml:"heartbeat"`
	// SuspectMin is the failure detector's floor: a path is never
	// suspected sooner than this after its last heartbeat.
	SuspectMin Duration `toml:"suspect_min"`
	// SuspectMax is the detector's ceiling: a silent path is always
	// suspected by then, however slow it was learned to be.
	SuspectMax Duration `toml:"suspect_max"`
	// Lease is how long a quorum's acknowledgement of a heartbeat lets a
	// node act as primary (guarantee G2).
	Lease Duration `toml:"lease"`
	// Margin is added to every lease wait before a survivor takes over.
	Margin Duration `toml:"margin"`
	// Drift bounds the rate error of any node's clock (0.01 = 1 %); lease
	// waits are stretched by 1+drift.
	Drift float64 `toml:"drift"`
}

// Quorum selects the quorum policy and its options.
type Quorum struct {
	// Policy is "majority" (more than half of every configured vote) or
	// "last_man_standing" (more than half of the last primary view's).
	Policy string `toml:"policy"`
	// TwoNode makes 1 of 2 votes quorate; it implies wait_for_all and
	// needs a real fence device for both nodes.
	TwoNode bool `toml:"two_node"`
	// WaitForAll: after a cold start no view is primary until every
	// configured node has been in one view once.
	WaitForAll bool `toml:"wait_for_all"`
	// AutoTieBreaker: exactly half the votes is enough for the side that
	// holds the lowest node id of the reference view.
	AutoTieBreaker bool `toml:"auto_tie_breaker"`
	// Window (last_man_standing): while the last primary view is younger
	// than this, a new one must also hold more than half of the view
	// before it, so the cluster shrinks one step at a time.
	Window  Duration `toml:"window"`
	Witness Witness  `toml:"witness"`
}

// Witness is an optional extra vote: a disk block or a network arbiter.
type Witness struct {
	// Disk is the path of a shared block device or file every node
	// reaches: per-node slots, sbd style.
	Disk string `toml:"disk"`
	// Arbiter is the ip:port of a `corral arbiter` (the cluster key
	// authenticates it).
	Arbiter string `toml:"arbiter"`
}

// Fence lists fence devices, the levels that use them, and watchdog mode.
type Fence struct {
	Devices []FenceDevice `toml:"devices"`
	Levels  []FenceLevel  `toml:"levels"`
	// Watchdog is "off" or the path of a watchdog device outside the
	// process (kernel softdog or hardware).
	Watchdog string `toml:"watchdog"`
	// WatchdogTimeout is the watchdog's timeout W: survivors wait
	// (lease + W)·(1+drift) + margin before they take over.
	WatchdogTimeout Duration `toml:"watchdog_timeout"`
	// Action is what a device call asks of a driver: "reboot" (a power
	// cycle) or "off" (the node stays down until someone starts it).
	Action string `toml:"action"`
}

// FenceDevice is one fencing device driven by a Lua fence driver.
type FenceDevice struct {
	// Name is how levels name the device.
	Name string `toml:"name"`
	// Driver is the Lua fence driver (agents/fence/ or [lua] paths).
	Driver string `toml:"driver"`
	// Targets are the nodes this device can fence; empty means all.
	Targets []string `toml:"targets"`
	// Params are the driver's parameters (see its meta(): agents fence).
	Params map[string]string `toml:"params"`
}

// FenceLevel is one fencing level of one node: its devices must all
// succeed. Levels of a node are tried in ascending Level order.
type FenceLevel struct {
	// Node is the node this level fences.
	Node string `toml:"node"`
	// Level orders the node's levels, from 1.
	Level int `toml:"level"`
	// Devices are the [[fence.devices]] names of this level.
	Devices []string `toml:"devices"`
}

// DNS configures the embedded DNS responder.
type DNS struct {
	// Listen are host:port addresses served over UDP and TCP; an explicit
	// empty list turns DNS off.
	Listen []string `toml:"listen"`
	// Domain is the zone the node answers for.
	Domain string `toml:"domain"`
	// TTL is the TTL of group, apex and name server records (they follow
	// failover and membership) and the negative TTL (the SOA minimum). A
	// client behind a caching resolver may see a failover up to TTL later
	// than the cluster makes it: see `corral help operations`, "Clients
	// behind a caching resolver".
	TTL Duration `toml:"ttl"`
	// NodeTTL is the TTL of <node>.node.<domain> records.
	NodeTTL Duration `toml:"node_ttl"`
}

// Lua configures where extra scripts are loaded from.
type Lua struct {
	// Paths are directories with resource/, fence/, policy/ and handler/
	// subfolders, searched after the scripts built into the binary.
	Paths []string `toml:"paths"`
	// Grant lists the directories among Paths whose scripts may use the exec,
	// fs and net modules and change the cluster through the corral module
	// (set, move, start, stop, pause, resume); other scripts only read it.
	Grant []string `toml:"grant"`
	// PoolSize bounds the node's Lua VMs (agents, policies, handlers, the
	// shell's lua command run side by side on at most this many).
	PoolSize int `toml:"pool_size"`
	// HandlerTimeout is the deadline of one event handler call.
	HandlerTimeout Duration `toml:"handler_timeout"`
	// HandlerQueue is how many events wait for the handlers; when it is
	// full, new events are dropped (counted and logged), never waited for.
	HandlerQueue int `toml:"handler_queue"`
	// HandlerDisableAfter is how many calls in a row a handler may take
	// past handler_timeout before it is disabled (logged, shown by
	// `agents handler`; `reload` enables it again).
	HandlerDisableAfter int `toml:"handler_disable_after"`
}

// DLM configures the distributed lock manager (core/dlm). A lockspace's
// value block length is not here: it must be the same on every node, so
// it lives in the config DB (/dlm/lockspaces/<name>/lvb_len).
type DLM struct {
	// DeadlockTimeout is how long a lock request waits before the
	// cluster-wide waits-for search looks at it (a cycle's one victim
	// gets EDEADLK).
	DeadlockTimeout Duration `toml:"deadlock_timeout"`
}

// NBD is where the node exports the served disks over NBD (every disk
// on every node, the export named as the disk).
type NBD struct {
	// Socket is the Unix socket of the export (mode 0660). Default:
	// nbd.sock next to admin_socket.
	Socket string `toml:"socket"`
	// Listen is a TCP address ("10.0.0.1:10809"); empty (the default)
	// serves the Unix socket only. NBD has no authentication here: listen
	// only on a network you trust.
	Listen string `toml:"listen"`
}

// API holds the admin API's optional TCP listener. The Unix socket
// (admin_socket) is always served; its file permissions are its
// authentication.
type API struct {
	// Listen is a TCP address ("127.0.0.1:5421") for the admin API; empty
	// (the default) serves only the Unix socket.
	Listen string `toml:"listen"`
	// TokenFile holds the bearer token TCP clients must send
	// (Authorization: Bearer TOKEN); required with Listen.
	TokenFile string `toml:"token_file"`
	// TLSCert and TLSKey are PEM files (certificate chain, private key):
	// with both set the TCP listener serves HTTPS, so the token is never
	// sent in clear. Required when Listen is not a loopback address.
	TLSCert string `toml:"tls_cert"`
	// TLSKey is the private key of TLSCert (PEM).
	TLSKey string `toml:"tls_key"`
}

// Debug holds switches for testing.
type Debug struct {
	// FaultInjection enables the admin API's link fault rules.
	FaultInjection bool `toml:"fault_injection"`
}

// Quorum policies.
const (
	PolicyMajority        = "majority"
	PolicyLastManStanding = "last_man_standing"
)

// File is the path the configuration was loaded from.
func (c *Config) File() string { return c.file }

// Self returns this node's entry of the node list, or nil.
func (c *Config) Self() *Node {
	for i := range c.Nodes {
		if c.Nodes[i].Name == c.Node {
			return &c.Nodes[i]
		}
	}
	return nil
}

// VotesOf returns the node's votes (default 1).
func (n Node) VotesOf() int {
	if n.Votes == nil {
		return defaultVotes
	}
	return *n.Votes
}

// Duration is a time.Duration written as a Go duration string ("100ms").
type Duration time.Duration

// UnmarshalText parses a duration such as "250ms" or "10s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("bad duration %q: write a number with a unit, such as \"100ms\" or \"5s\"", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// InFile reports whether key ("dns.listen") was written in the file, as
// opposed to taken from the defaults.
func (c *Config) InFile(key string) bool {
	_, ok := c.lines[key]
	return ok
}
