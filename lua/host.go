package lua

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-ha/corral/agents"
)

// Kind is a script's kind, given by the folder it sits in.
type Kind string

// The script kinds and their folders.
const (
	KindResource Kind = "resource" // resource agents: start, stop, monitor
	KindFence    Kind = "fence"    // fence drivers: off, on, reboot, status, list
	KindPolicy   Kind = "policy"   // failover policies: choose_owner, on_failure
	KindHandler  Kind = "handler"  // event handlers: handle
)

// Kinds lists every kind in load order.
var Kinds = []Kind{KindResource, KindFence, KindPolicy, KindHandler}

// contracts are the functions a script of each kind must export.
var contracts = map[Kind][]string{
	KindResource: {"start", "stop", "monitor"},
	KindFence:    {"off", "on", "reboot", "status", "list"},
	KindPolicy:   {"choose_owner", "on_failure"},
	KindHandler:  {"handle"},
}

// Defaults of Config, one place, each with its reason.
const (
	// DefaultPoolSize is the number of VMs when Config.PoolSize is 0: enough
	// for a monitor per resource of a busy node to run side by side, few
	// enough that an idle node holds little memory (VMs are made on demand).
	DefaultPoolSize = 16
	// DefaultTimeout bounds a call whose context has no deadline (the OCF
	// advice: an operation's timeout is never below 20 s).
	DefaultTimeout = 20 * time.Second
	// DefaultMemoryLimit is how much the Go heap may grow during one call
	// before the call is stopped as a memory bomb.
	DefaultMemoryLimit = 256 << 20
	// maxRep caps one string.rep result; larger strings are built only by a
	// script that is looking for trouble.
	maxRep = 64 << 20
	// loadTimeout bounds running a script's top level and meta() at load.
	loadTimeout = 5 * time.Second
)

// Config configures a Host. The zero value loads only the shipped scripts.
type Config struct {
	// Paths are directories with resource/, fence/, policy/ and handler/
	// subfolders, loaded after the shipped scripts in this order; a script
	// with the name of an earlier one of its kind replaces it.
	Paths []string
	// Grant lists the directories of Paths whose scripts are granted
	// (shipped scripts always are): they may use the exec, fs and net
	// modules and the corral functions that change the cluster (set, move,
	// start, stop, pause, resume); other scripts only read the cluster.
	Grant []string
	// PoolSize bounds the number of VMs (0: DefaultPoolSize).
	PoolSize int
	// Log receives script logs and host warnings (nil: slog.Default()).
	Log *slog.Logger
	// Cluster is what the corral module reads and acts on (nil: those
	// functions raise "no cluster connected").
	Cluster Cluster
	// Locks is what the lock module locks with (nil: lock.acquire raises
	// "no lock manager connected").
	Locks Locker
	// Timeout bounds calls whose context has no deadline (0: DefaultTimeout).
	Timeout time.Duration
	// MemoryLimit bounds the heap growth during one call, in bytes
	// (0: DefaultMemoryLimit, negative: no limit).
	MemoryLimit int64
	// Seed seeds math.random; VM i gets Seed+i, each environment a source
	// drawn from its VM's (0: a random seed).
	Seed uint64
	// Shipped replaces the shipped scripts (nil: agents.FS()); tests use it.
	Shipped fs.FS
	// SkipBroken lets New succeed when files of Paths do not load: each
	// is logged with its file and line, listed by Broken, and calls to it
	// fail with ErrBroken (the node sets it, so a broken file that nothing
	// uses does not keep it from starting). Shipped scripts and Paths
	// entries that are not directories still fail New; Reload stays
	// strict either way (on any error it keeps the scripts it had).
	SkipBroken bool
}

// Cluster is what scripts can read and do through the corral module. The
// node implements it directly; the shell's `lua run` implements it through
// the admin API. Every method honours ctx (its deadline is the call's).
type Cluster interface {
	// Status is the cluster status as `status --json` prints it.
	Status(ctx context.Context) (map[string]any, error)
	// Get reads a config DB key (found false when it does not exist).
	Get(ctx context.Context, key string) (value string, found bool, err error)
	// List reads the config DB keys under prefix.
	List(ctx context.Context, prefix string) (map[string]string, error)
	// Set writes a config DB key.
	Set(ctx context.Context, key, value string) error
	// Do runs a cluster action with the shell's arguments: "move" GROUP
	// [NODE] [--for DURATION], "start"/"stop" GROUP, "pause"/"resume" NODE.
	Do(ctx context.Context, verb string, args []string) error
	// WaitEvent returns the first event with a sequence number above since
	// (0: from now) whose kind is one of kinds (empty: any), as
	// `events --json` prints it; it gives up with ctx.
	WaitEvent(ctx context.Context, kinds []string, since uint64) (map[string]any, error)
}

// Param is one parameter a script declares in meta().
type Param struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // string, integer, number, boolean or duration
	Required    bool   `json:"required,omitempty"`
	Default     string `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
	hasDefault  bool
}

// Meta is what a script says about itself in meta(), and where it came from.
type Meta struct {
	Kind        Kind     `json:"kind"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Parameters  []Param  `json:"parameters"`
	Events      []string `json:"events,omitempty"` // handlers: the event kinds they take ("*": all)
	File        string   `json:"file"`
	// Granted: the script may use the exec, fs and net modules.
	Granted bool `json:"granted"`
	// ExtraParameters: parameters it does not declare are passed on as
	// strings instead of refused (the ocf wrapper passes them to the agent).
	ExtraParameters bool `json:"extra_parameters,omitempty"`
	// Builtin: the agent is compiled into corral (Builtins): no script
	// implements it and its name is reserved.
	Builtin bool `json:"builtin,omitempty"`
	// Broken is why the file did not load (file:line: what is wrong), for
	// the entries Host.Broken lists; empty for a loaded script.
	Broken string `json:"broken,omitempty"`
}

// Host runs scripts in a bounded pool of sandboxed VMs. It is safe for
// concurrent use; every call blocks its caller (never run one on the node's
// event loop).
type Host struct {
	cfg      Config
	log      *slog.Logger
	size     int
	memLimit int64
	seed     uint64

	cat      atomic.Pointer[catalog]
	reloadMu sync.Mutex

	idle chan *vm
	done chan struct{}
	// ungranted holds a token for each ungranted call running (Eval, and
	// scripts outside the shipped ones and [lua] grant): they get at most
	// size - size/4 VMs, so ungranted handlers sleeping to their deadline
	// cannot take the VMs a shipped agent's monitor needs.
	ungranted chan struct{}
	mu        sync.Mutex // guards count, closed, vms
	count     int
	closed    bool
	vms       map[*vm]struct{}
	nextVM    atomic.Uint64

	watch    *watchdog
	procs    *procTable
	sessions sessionTable // the shell REPL's eval sessions (session.go)
}

// New loads the shipped scripts and those of cfg.Paths and returns a Host.
// A script that does not load (syntax, runtime error at top level, bad meta,
// missing contract function) makes New fail with its file and line.
func New(cfg Config) (*Host, error) {
	h := &Host{cfg: cfg, log: cfg.Log, size: cfg.PoolSize, memLimit: cfg.MemoryLimit, seed: cfg.Seed}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.size <= 0 {
		h.size = DefaultPoolSize
	}
	if h.cfg.Timeout <= 0 {
		h.cfg.Timeout = DefaultTimeout
	}
	if h.memLimit == 0 {
		h.memLimit = DefaultMemoryLimit
	}
	if h.seed == 0 {
		h.seed = randomSeed()
	}
	if h.cfg.Shipped == nil {
		h.cfg.Shipped = agents.FS()
	}
	cat, err := h.load(1, cfg.SkipBroken)
	if err != nil {
		return nil, err
	}
	for _, k := range Kinds {
		for _, name := range sortedNames(cat.broken[k]) {
			b := cat.broken[k][name]
			h.log.Error("lua: script does not load: calls to it fail until it is fixed and reloaded",
				"script", string(k)+"/"+name, "err", b.Broken)
		}
	}
	h.cat.Store(cat)
	h.idle = make(chan *vm, h.size)
	h.ungranted = make(chan struct{}, h.size-h.size/4)
	h.done = make(chan struct{})
	h.vms = make(map[*vm]struct{})
	h.procs = newProcTable()
	h.watch = newWatchdog(h)
	go h.watch.run()
	return h, nil
}

// Close stops running calls, frees the VMs and stops the watchdog. Processes
// started with exec.start keep running (they die with the node's process).
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	running := make([]*vm, 0, len(h.vms))
	for v := range h.vms {
		running = append(running, v)
	}
	h.mu.Unlock()
	for _, v := range running {
		v.abort(errClosed)
	}
	h.closeSessions()
	for {
		select {
		case v := <-h.idle:
			h.discard(v)
		default:
			return
		}
	}
}

// ErrClosed is the error of calls on a closed Host.
var ErrClosed = errors.New("the Lua host is closed")

var errClosed = ErrClosed

// VMs is the number of VMs the pool holds now (at most Config.PoolSize).
func (h *Host) VMs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Busy is the number of calls running now.
func (h *Host) Busy() int { return int(h.watch.active.Load()) }

// Reload reads every script again. On any error it keeps the scripts it had
// and returns the errors (file and line each); calls already running finish
// with the old scripts, later ones use the new.
func (h *Host) Reload() error {
	_, err := h.ReloadChanges()
	return err
}

// Changes says what a Reload changed, each script as "kind/name", sorted.
type Changes struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"` // its source or its file changed
	Scripts int      `json:"scripts"` // loaded now
}

// Empty reports whether the reload changed nothing.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// ReloadChanges is Reload that also says which scripts it added, removed
// or changed.
func (h *Host) ReloadChanges() (Changes, error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	old := h.cat.Load()
	cat, err := h.load(old.gen+1, false)
	if err != nil {
		return Changes{}, err
	}
	h.cat.Store(cat)
	ch := Changes{Scripts: cat.count()}
	for _, k := range Kinds {
		for name, s := range cat.scripts[k] {
			label := string(k) + "/" + name
			switch o, ok := old.scripts[k][name]; {
			case !ok:
				ch.Added = append(ch.Added, label)
			case o.sum != s.sum || o.file != s.file:
				ch.Changed = append(ch.Changed, label)
			}
		}
		for name := range old.scripts[k] {
			if _, ok := cat.scripts[k][name]; !ok {
				ch.Removed = append(ch.Removed, string(k)+"/"+name)
			}
		}
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Removed)
	sort.Strings(ch.Changed)
	h.log.Info("lua: scripts reloaded", "scripts", ch.Scripts, "added", ch.Added, "removed", ch.Removed, "changed", ch.Changed)
	return ch, nil
}

// Generation counts the successful loads: 1 after New, one more for each
// Reload that took.
func (h *Host) Generation() uint64 { return h.cat.Load().gen }

// Scripts lists the scripts of a kind, sorted by name.
func (h *Host) Scripts(kind Kind) []Meta {
	cat := h.cat.Load()
	names := slices.Sorted(maps.Keys(cat.scripts[kind]))
	out := make([]Meta, 0, len(names))
	for _, n := range names {
		out = append(out, cat.scripts[kind][n].meta)
	}
	return out
}

// Script returns one script's meta (false: no such script).
func (h *Host) Script(kind Kind, name string) (Meta, bool) {
	s, ok := h.cat.Load().scripts[kind][name]
	if !ok {
		return Meta{}, false
	}
	return s.meta, true
}

// Subscribers lists the handlers subscribed to an event kind, sorted by name
// (the order Handle should be called in).
func (h *Host) Subscribers(eventKind string) []string {
	var out []string
	for _, m := range h.Scripts(KindHandler) {
		for _, e := range m.Events {
			if e == eventKind || e == "*" {
				out = append(out, m.Name)
				break
			}
		}
	}
	return out
}

// Broken lists the files of a kind that did not load (Config.SkipBroken),
// sorted by name, with Meta.Broken saying why.
func (h *Host) Broken(kind Kind) []Meta {
	cat := h.cat.Load()
	out := []Meta{}
	for _, n := range sortedNames(cat.broken[kind]) {
		out = append(out, cat.broken[kind][n])
	}
	return out
}

// ErrBroken is the error of calls to a script whose file did not load.
var ErrBroken = errors.New("the script's file does not load")

func sortedNames[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func (h *Host) script(kind Kind, name string) (*script, error) {
	cat := h.cat.Load()
	if b, ok := cat.broken[kind][name]; ok {
		return nil, fmt.Errorf("lua: %s script %q: %w: %s; fix it and reload", kind, name, ErrBroken, b.Broken)
	}
	s, ok := cat.scripts[kind][name]
	if !ok {
		var names []string
		for _, m := range h.Scripts(kind) {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("lua: no %s script %q (loaded: %v); put %s/%s.lua in a [lua] paths directory and reload", kind, name, names, kind, name)
	}
	return s, nil
}
