package node

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/lua"
)

// This file is the one validation of the resource manager's desired state
// (issue 16, "a typo must never fence a node"): every write of
// /resources/... and /groups/... goes through CDBTxn, whatever asked for
// it (the shell's resource add, cdb set, the API, corral.set in a Lua
// script, lua run through the API), and is refused with the reason before
// it is proposed. check-config may call ValidateResource and ValidateGroup
// with a Lua host of its own.

// ErrInvalidConfig wraps every refusal of ValidateResource, ValidateGroup
// and ValidateTxn (errors.Is): the write was not made.
var ErrInvalidConfig = errors.New("invalid configuration")

// Agents is what validation needs to know of the scripts: *lua.Host has
// it.
type Agents interface {
	Script(kind lua.Kind, name string) (lua.Meta, bool)
	Scripts(kind lua.Kind) []lua.Meta
	CheckParams(kind lua.Kind, name string, params map[string]string) error
}

var _ Agents = (*lua.Host)(nil)

func invalid(key, format string, a ...any) error {
	return fmt.Errorf("%s: %s: %w", key, fmt.Sprintf(format, a...), ErrInvalidConfig)
}

func scriptNames(agents Agents, kind lua.Kind) string {
	var names []string
	for _, m := range agents.Scripts(kind) {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "there are none"
	}
	return strings.Join(names, ", ")
}

// ValidateResource checks the value of /resources/NAME: it parses
// (crm.ParseResource: JSON, fields, durations), the built-in disk agent's
// parameters are well formed (CheckDiskParams, with or without agents),
// another agent exists, and its
// parameters are the ones the agent's meta() declares (names unless the
// agent takes extra parameters, required ones present, values of the
// declared types). agents nil checks the parse only (a node whose
// executor is not the Lua host). Errors name the key and wrap
// ErrInvalidConfig.
func ValidateResource(name string, value []byte, agents Agents) error {
	key := crm.ResourcePrefix + name
	r, err := crm.ParseResource(name, value)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidConfig)
	}
	if r.Agent == disk.Agent {
		// the built-in served disk: checked here, with or without Lua
		if err := CheckDiskParams(r.Params); err != nil {
			return invalid(key, "%v", err)
		}
		return nil
	}
	if agents == nil {
		return nil
	}
	m, ok := agents.Script(lua.KindResource, r.Agent)
	if !ok {
		return invalid(key, "no resource agent %q (agents: %s; `agents resource` describes them)", r.Agent, scriptNames(agents, lua.KindResource))
	}
	var declared []string
	for _, p := range m.Parameters {
		declared = append(declared, p.Name)
	}
	params := map[string]string{}
	for _, k := range sortedKeys(r.Params) {
		if strings.HasPrefix(k, "_") {
			return invalid(key, "parameter %s: names starting with _ are the call context, not parameters", k)
		}
		if !m.ExtraParameters && !slices.Contains(declared, k) {
			return invalid(key, "agent %s has no parameter %s (parameters: %s; `agents resource` describes them)",
				r.Agent, k, strings.Join(declared, ", "))
		}
		params[k] = r.Params[k]
	}
	for _, p := range m.Parameters {
		if _, ok := params[p.Name]; !ok && p.Required && p.Default == "" {
			return invalid(key, "agent %s needs parameter %s (%s)", r.Agent, p.Name, p.Description)
		}
	}
	if err := agents.CheckParams(lua.KindResource, r.Agent, params); err != nil {
		return invalid(key, "%v", err)
	}
	return nil
}

// DiskMinSize is the smallest served disk (1 MiB); its size is a whole
// number of 512-byte sectors.
const (
	DiskMinSize = 1 << 20
	DiskSector  = 512
	// DiskMaxSize keeps every offset of the backing store (the header
	// block, then the data) within an off_t.
	DiskMaxSize = math.MaxInt64 - disk.HeaderSize
)

// CheckDiskParams checks the parameters of the built-in served disk agent
// (disk.Agent): size, the data size in decimal bytes, a multiple of
// DiskSector and at least DiskMinSize; backing, an absolute path to a
// file (the same on every possible server); nothing else. The error says
// what to write instead.
func CheckDiskParams(params map[string]string) error {
	for _, k := range sortedKeys(params) {
		if k != disk.ParamSize && k != disk.ParamBacking {
			return fmt.Errorf("agent %s has no parameter %s (parameters: %s, %s; `agents resource` describes them)",
				disk.Agent, k, disk.ParamSize, disk.ParamBacking)
		}
	}
	size, ok := params[disk.ParamSize]
	if !ok || size == "" {
		return fmt.Errorf("agent %s needs parameter %s (the data size in bytes, e.g. 268435456 for 256 MiB)", disk.Agent, disk.ParamSize)
	}
	n, err := strconv.ParseUint(size, 10, 64)
	switch {
	case err != nil || strings.TrimLeft(size, "0123456789") != "":
		return fmt.Errorf("parameter %s %q: give the size in bytes as a decimal number, e.g. 268435456 for 256 MiB (`disk add --size 256MiB` converts it)", disk.ParamSize, size)
	case n < DiskMinSize:
		return fmt.Errorf("parameter %s %d: a disk has at least %d bytes (1 MiB)", disk.ParamSize, n, DiskMinSize)
	case n%DiskSector != 0:
		return fmt.Errorf("parameter %s %d: not a multiple of %d bytes: give whole sectors, e.g. %d", disk.ParamSize, n, DiskSector, n/DiskSector*DiskSector)
	case n > DiskMaxSize:
		return fmt.Errorf("parameter %s %d: larger than a backing store can be (%d bytes)", disk.ParamSize, n, uint64(DiskMaxSize))
	}
	b, ok := params[disk.ParamBacking]
	switch {
	case !ok || b == "":
		return fmt.Errorf("agent %s needs parameter %s (the backing store's absolute path, the same on every possible server)", disk.Agent, disk.ParamBacking)
	case !filepath.IsAbs(b):
		return fmt.Errorf("parameter %s %q: give an absolute path (the node resolves nothing against its working directory), e.g. /var/lib/corral/disks/NAME.img", disk.ParamBacking, b)
	case strings.HasSuffix(b, "/") || filepath.Clean(b) == "/" || strings.ContainsRune(b, 0):
		return fmt.Errorf("parameter %s %q: give the path of a file or a block device, not a directory", disk.ParamBacking, b)
	}
	return nil
}

// ValidateGroup checks the value of /groups/NAME: it parses
// (crm.ParseGroup). A failover policy it names need not exist: a group
// whose policy is missing or broken uses the default one (its explain
// says so), which fences nobody. agents is for checks to come; nil is
// fine. Errors name the key and wrap ErrInvalidConfig.
func ValidateGroup(name string, value []byte, agents Agents) error {
	_ = agents
	if _, err := crm.ParseGroup(name, value); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidConfig)
	}
	return nil
}

// ValidateTxn checks a transaction's ops on the resource manager's keys:
// every value put under /resources/ or /groups/ validates, and no group
// is deleted while a resource still names it once the transaction is
// applied (delete those resources in the same transaction, as `group del
// --with-resources` does). resources is the value of every /resources/
// key before the transaction, by key. Other keys are not looked at.
func ValidateTxn(ops []cdb.Op, resources map[string][]byte, agents Agents) error {
	after := map[string][]byte{}
	for k, v := range resources {
		after[k] = v
	}
	var deletedGroups []string
	for _, op := range ops {
		switch {
		case strings.HasPrefix(op.Key, crm.ResourcePrefix):
			name := strings.TrimPrefix(op.Key, crm.ResourcePrefix)
			if op.Kind == cdb.OpDelete {
				delete(after, op.Key)
				continue
			}
			if err := ValidateResource(name, op.Value, agents); err != nil {
				return err
			}
			after[op.Key] = op.Value
		case strings.HasPrefix(op.Key, crm.GroupPrefix):
			name := strings.TrimPrefix(op.Key, crm.GroupPrefix)
			if op.Kind == cdb.OpDelete {
				deletedGroups = append(deletedGroups, name)
				continue
			}
			if err := ValidateGroup(name, op.Value, agents); err != nil {
				return err
			}
			deletedGroups = slices.DeleteFunc(deletedGroups, func(g string) bool { return g == name })
		}
	}
	for _, g := range deletedGroups {
		var left []string
		for _, k := range sortedKeys(after) {
			if r, err := crm.ParseResource(strings.TrimPrefix(k, crm.ResourcePrefix), after[k]); err == nil && r.Group == g {
				left = append(left, r.Name)
			}
		}
		if len(left) > 0 {
			return invalid(crm.GroupPrefix+g, "group %s still has resources %s: delete them first, or `group del %s --with-resources`",
				g, strings.Join(left, ", "), g)
		}
	}
	return nil
}

// touchesCRM reports whether a transaction writes a resource manager key.
func touchesCRM(ops []cdb.Op) bool {
	for _, op := range ops {
		if strings.HasPrefix(op.Key, crm.ResourcePrefix) || strings.HasPrefix(op.Key, crm.GroupPrefix) {
			return true
		}
	}
	return false
}

// agents is what this node validates resources against: its Lua host when
// that host runs the agents, else nothing (the parse only).
func (n *Node) agents() Agents {
	if n.opt.Executor != nil || n.lua.host == nil {
		return nil
	}
	return n.lua.host
}

// validateTxn refuses a transaction that would write an invalid resource
// or group (ValidateTxn, against this node's committed resources).
func (n *Node) validateTxn(ops []cdb.Op) error {
	if !touchesCRM(ops) {
		return nil
	}
	res := map[string][]byte{}
	if err := n.do(func() {
		kvs, _, _ := n.st.CDBList(crm.ResourcePrefix)
		for _, kv := range kvs {
			res[kv.Key] = kv.Value
		}
	}); err != nil {
		return err
	}
	return ValidateTxn(ops, res, n.agents())
}
