package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/lua"
)

// checkFenceDevices checks each [[fence.devices]] against its driver's
// meta(): the driver exists, every parameter is one it declares (unless it
// takes extra ones) and parses as its type, and every required one without
// a default is there. It returns every problem, each at its key's line.
func checkFenceDevices(c *config.Config, h *lua.Host) config.Problems {
	var ps config.Problems
	for i, d := range c.Fence.Devices {
		key := fmt.Sprintf("fence.devices[%d]", i)
		m, ok := h.Script(lua.KindFence, d.Driver)
		if !ok {
			var names []string
			for _, s := range h.Scripts(lua.KindFence) {
				names = append(names, s.Name)
			}
			ps = append(ps, c.Problem(key+".driver", fmt.Sprintf("no fence driver %q: use one of %s, or put fence/%s.lua in a [lua] paths directory",
				d.Driver, strings.Join(names, ", "), d.Driver)))
			continue
		}
		declared := map[string]lua.Param{}
		var names []string
		for _, p := range m.Parameters {
			declared[p.Name] = p
			names = append(names, p.Name)
		}
		params := slices.Sorted(maps.Keys(d.Params))
		for _, k := range params {
			p, ok := declared[k]
			switch {
			case !ok && strings.HasPrefix(k, "_"):
				ps = append(ps, c.Problem(key+".params."+k, "names starting with _ are the call's context, set by the node: remove it"))
			case !ok && !m.ExtraParameters:
				ps = append(ps, c.Problem(key+".params."+k, fmt.Sprintf("driver %s has no parameter %q: use %s", d.Driver, k, strings.Join(names, ", "))))
			case ok:
				if err := p.Check(d.Params[k]); err != nil {
					ps = append(ps, c.Problem(key+".params."+k, err.Error()))
				}
			}
		}
		for _, p := range m.Parameters {
			if _, set := d.Params[p.Name]; set || !p.Required || p.Default != "" {
				continue
			}
			msg := fmt.Sprintf("driver %s needs parameter %s: add params = { %s = ... }", d.Driver, p.Name, p.Name)
			if p.Description != "" {
				msg += " (" + p.Description + ")"
			}
			ps = append(ps, c.Problem(key+".params", msg))
		}
	}
	return ps
}
