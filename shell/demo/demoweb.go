package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/lua"
	"github.com/corral-ha/corral/shell"
	"github.com/corral-ha/corral/shell/pidfile"
)

// The demo's group web (corral help start, "The demo"): a process
// resource running `corral whoami` on port 8080 of the owner's first
// address, answering with the owner's name.
const (
	demoWebGroup    = "web"
	demoWebResource = "whoami"
	demoWebPort     = 8080
	// demoWebMonitor is how often the owner checks that whoami runs.
	demoWebMonitor = "1s"
	// demoQuorateWait bounds the wait for a quorate view before web is
	// added.
	demoQuorateWait = 20 * time.Second
	// demoWebWait bounds the wait for web online before the summary.
	demoWebWait = 10 * time.Second
	// demoNoWebFile in the demo's directory remembers --web=false.
	demoNoWebFile = "no-web"
)

// shellQuote quotes s for /bin/sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// demoWebKeys are the config DB keys of web, in the order they are added
// (the resource before the group that lists it).
func demoWebKeys(exe string) [][2]string {
	cmd := fmt.Sprintf("%s whoami --listen ${address}:%d --name ${node}", shellQuote(exe), demoWebPort)
	res := fmt.Sprintf(`{"agent": "process", "group": %q, "monitor": %q, "params": {"command": %q, "stop_timeout": "2s"}}`,
		demoWebGroup, demoWebMonitor, cmd)
	grp := fmt.Sprintf(`{"resources": [%q], "service": {"name": "http", "proto": "tcp", "port": %d}}`, demoWebResource, demoWebPort)
	return [][2]string{{"/resources/" + demoWebResource, res}, {"/groups/" + demoWebGroup, grp}}
}

// addWeb waits until the node behind socket is quorate and creates web's
// keys that are absent (a key that exists, maybe changed by the user, is
// left alone). It reports whether web was added by this run.
func (d *demo) addWeb(socket, exe string) (bool, error) {
	c := shell.NewClient(socket)
	if err := waitQuorate(c); err != nil {
		return false, fmt.Errorf("%v: group %s not added; run corral demo again once it is", err, demoWebGroup)
	}
	added := false
	for _, kv := range demoWebKeys(exe) {
		zero := uint64(0)
		var res apitypes.CDBWriteResult
		var err error
		for try := 0; try < 50; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = c.Do(ctx, "PUT", "/v1/cdb"+kv[0], apitypes.CDBSetRequest{Value: kv[1], IfRevision: &zero}, &res)
			cancel()
			var ae *shell.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusConflict {
				err = nil // it exists: leave it alone
			}
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // a view change in progress
		}
		if err != nil {
			return added, fmt.Errorf("adding %s: %w", kv[0], err)
		}
		added = added || res.OK
	}
	return added, nil
}

// waitQuorate waits (up to demoQuorateWait) until the node is quorate.
func waitQuorate(c *shell.Client) error {
	deadline := time.Now().Add(demoQuorateWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.Quorate {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster is not quorate after %s (%v)", demoQuorateWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopResourceProcesses kills what the process agent started and left
// behind on the demo's nodes (their pid files in DIR/nK/data/agents): a
// node that stops does not stop its groups' processes, which run in their
// own process group. It returns how many it killed.
func stopResourceProcesses(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "n*", "data", "agents", "process-*.pid"))
	live := map[int]string{}
	for _, f := range files {
		pid, err := pidfile.Read(f)
		// The agent makes the command its process group's leader: a
		// process whose group differs is another one that got the pid. A
		// dead leader's group lives on while what it forked runs (a pid is
		// not reused while it is a group id).
		pg, gerr := syscall.Getpgid(pid)
		if err != nil || pid <= 1 || (gerr == nil && pg != pid) || (gerr != nil && !lua.GroupAlive(pid)) {
			os.Remove(f)
			continue
		}
		live[pid] = f
	}
	// They die with their node (Pdeathsig), what they forked does not:
	// give the kernel a moment, then kill the groups still there.
	for end := time.Now().Add(time.Second); len(live) > 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for pid, f := range live {
			if !processAlive(pid) && !lua.GroupAlive(pid) {
				os.Remove(f)
				delete(live, pid)
			}
		}
	}
	for pid, f := range live {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		os.Remove(f)
	}
	return len(live)
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// webOwner waits (up to max) until web is online and returns its owner
// and address ("" when it is not online by then).
func webOwner(socket string, max time.Duration) (string, string) {
	c := shell.NewClient(socket)
	for deadline := time.Now().Add(max); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		gs, err := c.Groups(ctx)
		cancel()
		for _, g := range gs {
			if err == nil && g.Name == demoWebGroup && g.State == "online" && g.Address != "" {
				return g.Owner, g.Address
			}
		}
		if time.Now().After(deadline) {
			return "", ""
		}
	}
}
