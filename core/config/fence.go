package config

import "sort"

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
