package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/lua"
)

// runCheckConfig checks each file and prints every problem it finds in one
// run (not just the first), each with file, line, key and what to do: the
// file's values and rules, its key file, its [lua] paths scripts, and its
// fence devices' parameters against their drivers' meta(). It exits 1 if
// any file has a problem.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "corral check-config: name the file(s) to check: corral check-config /etc/corral/corral.toml")
		return 2
	}
	status := 0
	for _, path := range args {
		c, ps := config.Check(path)
		var errs []error
		if len(ps) > 0 {
			errs = append(errs, ps)
		}
		if c != nil {
			if _, err := c.LoadKey(); err != nil {
				errs = append(errs, err)
			}
			if err := checkSecretModes(c); err != nil {
				errs = append(errs, err)
			}
			h, err := loadScripts(c)
			if err != nil {
				errs = append(errs, err)
			} else {
				if fps := checkFenceDevices(c, h); len(fps) > 0 {
					errs = append(errs, fps)
				}
				h.Close()
			}
		}
		if len(errs) > 0 {
			fmt.Fprintln(stderr, errors.Join(errs...))
			status = 1
			continue
		}
		self := c.Self()
		fmt.Fprintf(stdout, "%s: ok (cluster %q, node %q id %d, %d nodes, %d links)\n",
			path, c.Cluster, c.Node, self.ID, len(c.Nodes), len(self.Addresses))
	}
	if status != 0 {
		fmt.Fprintln(stderr, "(every key with its type, default and checks: corral help config)")
	}
	return status
}

// loadScripts loads the shipped and [lua] paths scripts strictly (every
// file that does not load is an error, with file and line: the node would
// start without it and fail the calls to it), for the fence devices'
// check.
func loadScripts(c *config.Config) (*lua.Host, error) {
	h, err := lua.New(lua.Config{Paths: c.Lua.Paths, Grant: c.Lua.Grant, PoolSize: 1,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("[lua] scripts: %w", err)
	}
	return h, nil
}

// checkSecretModes reports key, token and TLS key files that their group or
// others can read or write (the agent refuses to start with one).
func checkSecretModes(c *config.Config) error {
	if err := c.CheckSecretModes(); err != nil {
		return fmt.Errorf("%w\n(the agent refuses to start until the secret files are readable by their owner only)", err)
	}
	return nil
}
