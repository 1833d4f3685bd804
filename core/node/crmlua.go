package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/lua"
)

// This file connects the resource manager to the node's Lua host: agents
// run on it (the Executor), a group's policy names a policy script (the
// PolicyHost), and scripts on this node can act on groups (corral.move,
// start, stop, cleanup; corral.status().groups).

// agentStateDir is where agents keep their state files on this node
// (under data_dir, so two nodes on one machine never share them).
func (n *Node) agentStateDir() string { return filepath.Join(n.cfg.DataDir, "agents") }

// cleanAgentStateDir empties the agents' state directory at start: what
// it holds (pid files above all) is of the previous run, whose processes
// died with it (Pdeathsig), and a stale pid file's pid may belong to an
// unrelated process by now (issue 22). Pdeathsig reaches only the process
// an agent started, not what that forked: before the pid files go, the
// process groups they name that still have members are killed
// (lua.KillOrphanGroup), or they would serve on untracked beside the
// service's next incarnation (G4). The directory is the node's own
// (0700). The OCF agents' directories are another matter: their daemons
// leave the node's process group and outlive a restart of the node, and
// their monitor reads their pid and state files, so a probe at the next
// start must find them (a daemon reported "not running" while it runs
// would be started elsewhere too: G4). They are emptied as the system
// empties /run, only when the machine booted since the node last started
// (machineBootFile holds the kernel's boot id); HA_VARLIB (ocf/lib) is
// never emptied, as /var/lib/heartbeat survives a reboot.
func (n *Node) cleanAgentStateDir() {
	dir := n.agentStateDir()
	remove := func(p string) {
		if err := os.RemoveAll(p); err != nil {
			n.log.Warn("cleaning the agents' state directory", "dir", dir, "err", err)
		}
	}
	ocf := filepath.Join(dir, "ocf")
	rebooted := machineRebooted(ocf)
	n.killOrphanGroups(dir, ocf)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "ocf" {
			remove(filepath.Join(dir, e.Name()))
			continue
		}
		if !rebooted {
			continue
		}
		sub, _ := os.ReadDir(ocf)
		for _, s := range sub {
			if s.Name() != "lib" {
				remove(filepath.Join(ocf, s.Name()))
			}
		}
	}
	if err := os.MkdirAll(ocf, 0o700); err != nil {
		n.log.Warn("agents' state directory", "dir", dir, "err", err)
	}
	_ = os.Chmod(dir, 0o700)
	if id, err := os.ReadFile(kernelBootID); err == nil {
		_ = os.WriteFile(filepath.Join(ocf, machineBootFile), id, 0o600)
	}
}

// killOrphanGroups kills the process groups that the pid files under dir
// (but not under skip, the OCF agents' own) name and that outlived the
// node's previous run, and logs each.
func (n *Node) killOrphanGroups(dir, skip string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // an unreadable entry: nothing to kill there
		}
		if d.IsDir() {
			if p == skip {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(p, ".pid") {
			return nil
		}
		pgid, kerr := lua.KillOrphanGroup(p, 5*time.Second)
		switch {
		case kerr != nil:
			n.log.Error("a process of the previous run survives", "pidfile", p, "err", kerr)
		case pgid != 0:
			n.log.Warn("killed a process group of the previous run that outlived it", "pidfile", p, "pgid", pgid)
		}
		return nil
	})
}

// kernelBootID is the kernel's id of this boot of the machine.
const kernelBootID = "/proc/sys/kernel/random/boot_id"

// machineBootFile, under the OCF agents' state directory, holds the
// kernel's boot id at the node's last start.
const machineBootFile = ".machine_boot_id"

// machineRebooted reports whether the machine booted since the node last
// started (or that cannot be told: then the OCF state is of no use).
func machineRebooted(ocf string) bool {
	was, err := os.ReadFile(filepath.Join(ocf, machineBootFile))
	if err != nil {
		return true
	}
	now, err := os.ReadFile(kernelBootID)
	return err != nil || string(now) != string(was)
}

// agentContext adds the call context every agent call gets (see Executor).
func (n *Node) agentContext(params map[string]string, a crm.Action) {
	params[InstanceParam] = a.Resource
	params[GroupParam] = a.Group
	params[NodeParam] = n.cfg.Node
	if self := n.cfg.Self(); self != nil && len(self.Addresses) > 0 {
		params[AddressParam] = self.Addresses[0]
	}
	params[StateDirParam] = n.agentStateDir()
	if a.Interval > 0 {
		params[IntervalParam] = fmt.Sprint(a.Interval.Milliseconds())
	}
}

// openCRMLua makes the Lua host the executor and the policy host unless
// Options name others, and registers the group actions for scripts.
func (n *Node) openCRMLua() {
	r := &n.crm
	if r.exec == nil {
		r.exec = timedExecutor{n: n, host: n.lua.host}
	}
	if r.policy == nil {
		r.policy = luaPolicy{n}
	}
	n.cleanAgentStateDir()
	n.SetLuaAction("move", func(_ context.Context, args []string) error {
		if len(args) < 1 {
			return fmt.Errorf("move needs a group: move(group [, node [, for]])")
		}
		group, node, d := args[0], "", time.Duration(0)
		rest := args[1:]
		if len(rest) > 0 && rest[0] != "--for" {
			node, rest = rest[0], rest[1:]
		}
		if len(rest) == 2 && rest[0] == "--for" {
			var err error
			if d, err = time.ParseDuration(rest[1]); err != nil {
				return fmt.Errorf("move %s: for %q is not a duration such as 30s or 5m", group, rest[1])
			}
		} else if len(rest) != 0 {
			return fmt.Errorf("move %s: unexpected %v: move(group [, node [, for]])", group, rest)
		}
		return n.Move(group, node, d)
	})
	for _, verb := range []string{"start", "stop"} {
		target := map[string]string{"start": "started", "stop": "stopped"}[verb]
		n.SetLuaAction(verb, func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%s needs one group name", verb)
			}
			return n.SetTarget(ctx, args[0], target)
		})
	}
	n.SetLuaAction("cleanup", func(_ context.Context, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("cleanup needs one resource name")
		}
		return n.Cleanup(args[0])
	})
	n.SetLuaStatus("groups", func(context.Context) (any, error) {
		gs, err := n.Groups()
		if err != nil {
			return nil, err
		}
		var out []any
		b, _ := json.Marshal(gs)
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// luaPolicy answers a group's policy with the policy script of that name
// (lua/doc.go's tables). Errors and timeouts make the resource manager's
// built-in default decide.
type luaPolicy struct{ n *Node }

var _ PolicyHost = luaPolicy{}

// groupConfig is the part of a /groups/ value policies see.
type groupConfig struct {
	Preferred  []string       `json:"preferred"`
	Possible   []string       `json:"possible"`
	Attributes map[string]any `json:"attributes"`
	Restart    *struct {
		Max *int `json:"max"`
	} `json:"restart"`
}

// group reads a group's configuration (nil fields when it is gone).
func (p luaPolicy) group(name string) groupConfig {
	var g groupConfig
	kv, found, _, err := p.n.CDBGet(crm.GroupPrefix + name)
	if err == nil && found {
		_ = json.Unmarshal(kv.Value, &g) // the resource manager reports bad JSON
	}
	return g
}

// ChooseOwner calls choose_owner(group, candidates, cluster) with group
// {name, preferred_owners, possible_owners, attributes} and cluster
// {nodes = {NAME = {groups = count, load = count}}}.
func (p luaPolicy) ChooseOwner(ctx context.Context, policy, group string, candidates []string, load map[string]int) (string, error) {
	g := p.group(group)
	gt := map[string]any{"name": group, "preferred_owners": strs(g.Preferred), "possible_owners": strs(g.Possible),
		"attributes": g.Attributes}
	if g.Attributes == nil {
		gt["attributes"] = map[string]any{}
	}
	nodes := map[string]any{}
	for _, c := range candidates {
		nodes[c] = map[string]any{"groups": load[c], "load": load[c]}
	}
	for nd, l := range load {
		nodes[nd] = map[string]any{"groups": l, "load": l}
	}
	start := time.Now()
	owner, err := p.n.lua.host.ChooseOwner(ctx, policy, gt, candidates, map[string]any{"nodes": nodes})
	p.n.counts.luaCall(lua.KindPolicy, luaResult(ctx, lua.Outcome{}, err), time.Since(start))
	return owner, err
}

// OnFailure calls on_failure(resource, failures) with resource {name,
// group, error, restart_max (the group's restart threshold)}.
func (p luaPolicy) OnFailure(ctx context.Context, policy, group, resource string, failures int, errText string) (string, error) {
	g := p.group(group)
	max := crm.DefaultRestartMax
	if g.Restart != nil && g.Restart.Max != nil {
		max = *g.Restart.Max
	}
	rt := map[string]any{"name": resource, "group": group, "error": errText, "restart_max": max}
	start := time.Now()
	decision, err := p.n.lua.host.OnFailure(ctx, policy, rt, failures)
	p.n.counts.luaCall(lua.KindPolicy, luaResult(ctx, lua.Outcome{}, err), time.Since(start))
	return decision, err
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
