package demo

import (
	"fmt"
	"os"
	"strings"
)

// demoFence is the [fence] part of a demo node's configuration: one
// device of the `process` fence driver (agents/fence/process.lua), a power
// switch for nodes that are processes on this machine: it kills the
// target's corral process (DIR/<node>/corral.pid) and its process group,
// and for a reboot starts it again with this binary. Every node has it as
// its only level.
func demoFence(dir string, n int) string {
	exe, err := os.Executable()
	if err != nil {
		exe = "corral"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n# The fence device: a power switch for the demo's node processes. A fenced node\n")
	fmt.Fprintf(&b, "# stays off (action = \"reboot\" would start it again): `corral demo` starts it.\n")
	fmt.Fprintf(&b, "[fence]\naction = \"off\"\n\n")
	fmt.Fprintf(&b, "[[fence.devices]]\nname = \"power\"\ndriver = \"process\"\nparams = { dir = %q, corral = %q }\n", dir, exe)
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&b, "\n[[fence.levels]]\nnode = \"n%d\"\nlevel = 1\ndevices = [\"power\"]\n", k)
	}
	return b.String()
}

// fenceConfig is demoFence for a new demo, or nothing with --fence=false
// (a cluster without fencing: a node that leaves is assumed down after
// the lease wait, and a frozen or cut-off node lives on).
func (d *demo) fenceConfig(n int) string {
	if d.noFence {
		return ""
	}
	return demoFence(d.dir, n)
}
