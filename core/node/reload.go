package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/lua"
)

// Reloading every node (`reload --all`): see apitypes.ReloadKey.
const (
	ReloadKey          = apitypes.ReloadKey
	ReloadResultPrefix = apitypes.ReloadResultPrefix
)

// ReloadReport is apitypes.ReloadReport (the API types are defined there, so the shell reads
// them without importing the driver).
type ReloadReport = apitypes.ReloadReport

// ReloadMessage says what a reload changed, in words.
func ReloadMessage(ch lua.Changes) string {
	if ch.Empty() {
		return "reloaded: nothing changed"
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"added", ch.Added}, {"changed", ch.Changed}, {"removed", ch.Removed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
		}
	}
	return "reloaded: " + strings.Join(parts, "; ")
}

// RestartNeeded reads the node's config file again and names the changes
// a reload does not apply: [lua] settings (a new paths entry, grant, the
// pool) and [dlm] deadlock_timeout take effect when the node restarts. Nil when there are none.
func (n *Node) RestartNeeded() []string {
	if n.cfg.File() == "" {
		return nil
	}
	now, err := config.Load(n.cfg.File())
	if err != nil {
		return []string{fmt.Sprintf("%s does not load now (%v): the node runs the config it started with", n.cfg.File(), err)}
	}
	var out []string
	was, is := n.cfg.Lua, now.Lua
	for _, p := range is.Paths {
		if !slices.Contains(was.Paths, p) {
			out = append(out, fmt.Sprintf("[lua] paths gained %s: restart the node to load its scripts", p))
		}
	}
	for _, p := range was.Paths {
		if !slices.Contains(is.Paths, p) {
			out = append(out, fmt.Sprintf("[lua] paths lost %s: its scripts stay loaded until the node restarts", p))
		}
	}
	was.Paths, is.Paths = nil, nil
	if !reflect.DeepEqual(was, is) {
		out = append(out, "[lua] settings changed (grant, pool_size, handler_*): restart the node to apply them")
	}
	if n.cfg.DLM != now.DLM {
		out = append(out, fmt.Sprintf("[dlm] deadlock_timeout changed to %s: restart the node to apply it", now.DLM.DeadlockTimeout))
	}
	return out
}

// watchReloads answers reloads of every node until the node stops.
func (n *Node) watchReloads() {
	for {
		w, err := n.CDBWatch(ReloadKey, 0, 16)
		if err != nil {
			return // the node is stopping
		}
		for ev := range w.C {
			if !ev.Deleted && ev.Key == ReloadKey && n.Lua() != nil {
				n.answerReload(ev.Rev)
			}
		}
		if !errors.Is(w.Err(), ErrWatchBehind) {
			return // stopped
		}
	}
}

// answerReload reloads the scripts for request rev of ReloadKey and
// writes what happened under ReloadResultPrefix.
func (n *Node) answerReload(rev uint64) {
	rep := ReloadReport{Request: rev, Node: n.cfg.Node, Restart: n.RestartNeeded()}
	ch, err := n.Lua().ReloadChanges()
	if err != nil {
		rep.Error = err.Error()
		rep.Message = "reload failed: the scripts loaded before stay in use"
	} else {
		rep.Message = fmt.Sprintf("%s (%d scripts)", ReloadMessage(ch), ch.Scripts)
	}
	n.log.Info("reload of every node", "request", rev, "message", rep.Message, "err", rep.Error)
	b, _ := json.Marshal(rep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.CDBSet(ctx, ReloadResultPrefix+n.cfg.Node, b); err != nil {
		n.log.Warn("reload of every node: the answer", "err", err)
	}
}
