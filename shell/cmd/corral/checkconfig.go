package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/lua"
)

// runCheckConfig loads each file, checks its key file, and prints every
// problem; it exits 1 if any file has one.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "corral check-config: name the file(s) to check: corral check-config /etc/corral/corral.toml")
		return 2
	}
	status := 0
	for _, path := range args {
		c, err := config.Load(path)
		if err == nil {
			_, err = c.LoadKey()
		}
		if err == nil && len(c.Lua.Paths) > 0 {
			err = checkScripts(c)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = 1
			continue
		}
		self := c.Self()
		fmt.Fprintf(stdout, "%s: ok (cluster %q, node %q id %d, %d nodes, %d links)\n",
			path, c.Cluster, c.Node, self.ID, len(c.Nodes), len(self.Addresses))
	}
	return status
}

// checkScripts loads the [lua] paths scripts the way the node does at start
// (a script that does not load is left out there, and calls to it fail),
// so their errors show with file and line before the agent runs.
func checkScripts(c *config.Config) error {
	h, err := lua.New(lua.Config{Paths: c.Lua.Paths, Grant: c.Lua.Grant, PoolSize: 1,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("[lua] scripts: %w", err)
	}
	h.Close()
	return nil
}
