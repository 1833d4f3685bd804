package config

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// fenceAgentReserved are the names the fence_agent driver writes on the
// agent's stdin itself (agents/fence/fence_agent.lua): an extra parameter
// of that name would override them (action=status after action=off turns
// a fence into a no-op that reports success).
var fenceAgentReserved = []string{"action", "nodename", "port"}

// fenceAgentParamProblems checks a fence_agent device's params, which go
// to the agent as key=value lines: names without '=' or line breaks, none
// reserved, values on one line. Sorted for stable messages.
func fenceAgentParamProblems(params map[string]string) []string {
	names := slices.Sorted(maps.Keys(params))
	var out []string
	for _, k := range names {
		v := params[k]
		switch {
		case k == "" || strings.ContainsAny(k, "=\n\r\x00"):
			out = append(out, fmt.Sprintf("parameter name %q holds '=', a line break or NUL: names are words such as ip or username", k))
		case contains(fenceAgentReserved, strings.ToLower(k)):
			out = append(out, fmt.Sprintf("parameter %q is reserved: corral sends action and the plug itself; name the plug with plug = \"...\"", k))
		case strings.ContainsAny(v, "\n\r\x00"):
			out = append(out, fmt.Sprintf("parameter %s = %q holds a line break or NUL: each parameter is one line on the agent's stdin", k, v))
		}
	}
	return out
}

// FenceLevelsFor returns how node is fenced: its [[fence.levels]] in
// ascending level order, each the list of its devices; without levels for
// node, every device whose targets include it (or that lists no targets)
// is a level of its own, in file order. Empty: no device can fence it.
func (c *Config) FenceLevelsFor(node string) [][]FenceDevice {
	var ls []FenceLevel
	for _, l := range c.Fence.Levels {
		if l.Node == node {
			ls = append(ls, l)
		}
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].Level < ls[j].Level })
	var out [][]FenceDevice
	for _, l := range ls {
		var lv []FenceDevice
		for _, name := range l.Devices {
			if d := c.fenceDevice(name); d != nil {
				lv = append(lv, *d)
			}
		}
		if len(lv) > 0 {
			out = append(out, lv)
		}
	}
	if len(ls) > 0 {
		return out
	}
	for _, d := range c.Fence.Devices {
		if len(d.Targets) == 0 || contains(d.Targets, node) {
			out = append(out, []FenceDevice{d})
		}
	}
	return out
}

func (c *Config) fenceDevice(name string) *FenceDevice {
	for i := range c.Fence.Devices {
		if c.Fence.Devices[i].Name == name {
			return &c.Fence.Devices[i]
		}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
