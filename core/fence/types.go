package fence

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Actions a fence call asks of a driver.
const (
	ActionOff    = "off"
	ActionReboot = "reboot"
)

// Pseudo devices named in events and history.
const (
	DeviceWatchdog = "watchdog" // watchdog mode: the wait passed
	DeviceManual   = "manual"   // a person confirmed the node is down
)

// Defaults for Config fields left zero.
const (
	// DefaultTimeout bounds one device call (fence-agents' power_timeout
	// plus a login is well under it).
	DefaultTimeout = 20 * time.Second
	// DefaultRounds is how many times an operation walks all the levels
	// before it is failed.
	DefaultRounds = 2
	// DefaultRetryAfter is how long a failed operation waits before the
	// coordinator starts a new one for a node that still needs fencing.
	DefaultRetryAfter = 10 * time.Second
	// DefaultLease, DefaultMargin and DefaultDrift are [timers] lease,
	// margin and drift (corral help config).
	DefaultLease  = 500 * time.Millisecond
	DefaultMargin = 100 * time.Millisecond
	DefaultDrift  = 0.01
	// DefaultWatchdogTimeout is [fence] watchdog_timeout.
	DefaultWatchdogTimeout = 5 * time.Second
)

// Device is one configured fence device.
type Device struct {
	Name   string
	Driver string // Lua fence driver (agents/fence/<driver>.lua)
	Params map[string]string
}

// Target is how one node is fenced.
type Target struct {
	// Levels are tried in order; a level succeeds when all its devices
	// do (tried one after the other).
	Levels [][]Device
	// Delay is how long a coordinator waits before the first device call
	// against this node when it left the view (not for manual requests):
	// give the preferred survivor of a two-node cluster a delay, so that
	// in a split its peer waits while it fences the peer at once.
	Delay time.Duration
	// Watchdog: the node runs in watchdog mode; once it left the primary
	// view it counts as fenced after (Lease + WatchdogTimeout)·(1+Drift)
	// + Margin on the coordinator's clock since the view committed.
	Watchdog bool
}

// Config configures one node's fence state machine. Every node must have
// the same Targets (they come from the cluster's [fence] section).
type Config struct {
	Self    string // this node's name
	Boot    uint64 // this node's boot id (grows at every start)
	Targets map[string]Target
	// Action is what a device call asks: ActionReboot (default) or ActionOff.
	Action     string
	Timeout    time.Duration // per device call
	Rounds     int           // walks through the levels per operation
	RetryAfter time.Duration // pause before a new operation after a failed one
	Lease      time.Duration
	Margin     time.Duration
	Drift      float64
	// WatchdogTimeout is W, the watchdog's timeout ([fence] watchdog_timeout).
	WatchdogTimeout time.Duration
}

func (c *Config) fill() error {
	if c.Self == "" {
		return fmt.Errorf("fence: Config.Self is empty: name this node")
	}
	if c.Action == "" {
		c.Action = ActionReboot
	}
	if c.Action != ActionReboot && c.Action != ActionOff {
		return fmt.Errorf("fence: action %q: use %q or %q", c.Action, ActionOff, ActionReboot)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rounds <= 0 {
		c.Rounds = DefaultRounds
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin
	}
	if c.Drift <= 0 {
		c.Drift = DefaultDrift
	}
	if c.WatchdogTimeout <= 0 {
		c.WatchdogTimeout = DefaultWatchdogTimeout
	}
	for name, t := range c.Targets {
		for i, l := range t.Levels {
			if len(l) == 0 {
				return fmt.Errorf("fence: target %s: level %d has no devices", name, i+1)
			}
		}
	}
	return nil
}

// WatchdogWait is how long after the view that excluded a watchdog-mode
// node committed it counts as fenced: (T_lease + W)·(1+ρ) + margin (G4).
func (c Config) WatchdogWait() time.Duration {
	return time.Duration(float64(c.Lease+c.WatchdogTimeout)*(1+c.Drift)) + c.Margin
}

// TakeoverWait is G2's wait after a view commits: T_lease·(1+ρ) + margin.
// A node the view excluded has lost its lease by then.
func (c Config) TakeoverWait() time.Duration {
	return time.Duration(float64(c.Lease)*(1+c.Drift)) + c.Margin
}

// AbandonWait is how long a new coordinator waits, once it settled, got
// its lease and the takeover wait passed, before it gives up on a device
// call whose runner it cannot ask: the runner started it while holding
// its lease (so before the takeover wait of a view that excludes it ended)
// and the Lua host stops it at its deadline, Timeout by the runner's clock.
func (c Config) AbandonWait() time.Duration {
	return time.Duration(float64(c.Timeout)*(1+c.Drift)*(1+c.Drift)) + c.Margin
}

// ID names an operation or a device call: the view of the coordinator that
// issued it and a counter of that coordinator in that view. IDs grow along
// the primary lineage.
type ID struct {
	View wire.ViewID
	N    uint32
}

func (id ID) String() string { return fmt.Sprintf("%d/%d.%d", id.View.Epoch, id.View.Coord, id.N) }

// Zero reports whether id names nothing.
func (id ID) Zero() bool { return id == ID{} }

func idLess(a, b ID) bool {
	if a.View != b.View {
		return a.View.Epoch < b.View.Epoch || (a.View.Epoch == b.View.Epoch && a.View.Coord < b.View.Coord)
	}
	return a.N < b.N
}

// Input is one thing that happened.
type Input interface{ input() }

// View is the installed membership view: give it at every install and
// every lease change.
type View struct {
	ID          wire.ViewID
	Members     []string
	Coordinator string
	Primary     bool // the view is primary
	Lease       bool // this node holds the view's lease
	// Clean lists the nodes that left the previous view cleanly
	// (node_left clean=true): they are not fenced.
	Clean []string
	// Takeover: the takeover wait lease·(1+ρ)+margin has passed since
	// the view committed (membership's Quorate). Reach lists the
	// non-members this node reaches now (both ways). A non-member it
	// reaches was likely left out by a view formed while it rejoined; it
	// is fenced for leaving uncleanly only once Takeover holds and it is
	// still not a member. One it cannot reach is fenced at once.
	Takeover bool
	Reach    []string
}

// Deliver is a Safe ordered-broadcast delivery of a fence payload, this
// node's own included, flush deliveries too (Flush set).
type Deliver struct {
	View    wire.ViewID // the view that sequenced it
	Primary bool        // that view's agreed primary flag
	Payload []byte
	Flush   bool
}

// Result is what a device call of Ready.Calls did.
type Result struct {
	Call  ID
	OK    bool
	Error string
}

// Request asks for a fence of Target (the shell's `fence NODE`, or an
// escalation such as a stop that failed).
type Request struct {
	Target string
	Reason string
}

// Confirm is a person's word that Target is down (`fence confirm NODE`):
// it counts as fenced at the boot id last seen. Use only after checking.
type Confirm struct {
	Target string
}

func (View) input()    {}
func (Deliver) input() {}
func (Result) input()  {}
func (Request) input() {}
func (Confirm) input() {}

// Call is one device call to run off the event loop (lua RunFence) with a
// deadline; its result comes back as Result{Call: ID}.
type Call struct {
	ID       ID
	Op       ID
	Target   string
	Device   string
	Driver   string
	Action   string // off or reboot
	Params   map[string]string
	Timeout  time.Duration
	Deadline time.Duration // by this node's clock
}

// Event kinds (corral help events).
const (
	EventStarted = "fence_started" // {target, device}
	EventFenced  = "node_fenced"   // {target, device, by}
	EventFailed  = "fence_failed"  // {target, device, error}
)

// Event is one fence event; every member of a primary view gets the same
// events in the same order (they come from ordered broadcast).
type Event struct {
	Kind   string
	View   wire.ViewID // the view whose delivery caused it
	Target string
	Device string
	By     string // node_fenced: the node that ran the device (or confirmed)
	Error  string // fence_failed
}

// Confirmed says Target is fenced at incarnation Boot: what it ran may
// start elsewhere (feed the resource manager's fence hook).
type Confirmed struct {
	Target string
	Boot   uint64
	Device string
	By     string
}

// Record is a fence history record to put in the config DB (only the
// coordinator emits them; Key is unique per operation).
type Record struct {
	Key   string // /fence/history/<target>/<epoch>-<coord>-<n>
	Value []byte // JSON
}

// HistoryRecord is a history record's value (Record.Value, as JSON): an
// operation that ended, done or failed, with its attempts. The API serves
// it as it is (core/apitypes FenceRecord).
type HistoryRecord struct {
	Op       string           `json:"op"` // the operation's ID (ID.String)
	Target   string           `json:"target"`
	Boot     uint64           `json:"boot"`
	Reason   string           `json:"reason"`
	State    string           `json:"state"`            // StateDone or StateFailed
	Device   string           `json:"device,omitempty"` // done: the device that fenced (DeviceWatchdog)
	By       string           `json:"by,omitempty"`     // done: the node that ran it (the watchdog's owner)
	Error    string           `json:"error,omitempty"`  // failed: the last error
	Attempts []HistoryAttempt `json:"attempts"`
}

// HistoryAttempt is one device call of a HistoryRecord.
type HistoryAttempt struct {
	Device string `json:"device"`
	Level  int    `json:"level"` // from 1
	Round  int    `json:"round"` // from 1
	Runner string `json:"runner"`
	Result string `json:"result"` // running, abandoned, failed, ok
	Error  string `json:"error,omitempty"`
}

// HistoryPrefix is where history records live in the config DB.
const HistoryPrefix = "/fence/history/"

// Ready is what the driver must do.
type Ready struct {
	Persist   []byte   // non-nil: write durably (Restore it at the next start)
	Broadcast [][]byte // ordered-broadcast payloads, in order
	Calls     []Call
	Events    []Event
	Confirmed []Confirmed
	History   []Record
	// SelfFence is non-empty when this node learned it was confirmed
	// fenced at its own boot id: it must stop everything now (kill its
	// resources, exit) and come back only with a new boot id.
	SelfFence string
}

// Empty reports whether rd holds nothing.
func (rd Ready) Empty() bool {
	return rd.Persist == nil && len(rd.Broadcast) == 0 && len(rd.Calls) == 0 && len(rd.Events) == 0 &&
		len(rd.Confirmed) == 0 && len(rd.History) == 0 && rd.SelfFence == ""
}

// Status states, per target.
const (
	StatePending    = "pending"
	StateInProgress = "in progress"
	StateDone       = "done"
	StateFailed     = "failed"
)

// TargetStatus is one node's fencing state, for the shell.
type TargetStatus struct {
	Target    string
	Boot      uint64 // last boot id seen
	State     string // "", pending, in progress, done, failed
	Confirmed bool   // fenced at Boot
	Op        string // the current or last operation
	Reason    string
	Device    string // the device in progress, or the one that fenced it
	Attempts  int
	Error     string // the last failure
}
