package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func reloadCommand() *command {
	return &command{
		name:    "reload",
		usage:   "reload [--all] [--json]",
		summary: "re-read the node's Lua scripts (--all: every node's)",
		help: "Reads every script again (the built-in ones and those of [lua] paths) and says which\n" +
			"were added, changed or removed. If a script does not load (a syntax error, a bad meta(),\n" +
			"a missing function) it names the file and line and changes nothing: the scripts loaded\n" +
			"before stay in use. Calls already running finish with the old scripts. It also says\n" +
			"which changes of the config file a reload does not apply (a new [lua] paths entry):\n" +
			"those need a restart of the node. --all reloads every member of the view (through\n" +
			"the config DB, so it needs quorum) and shows each node's answer; a node that does not\n" +
			"answer within 15 s is named.",
		example: "reload\nreload --all",
		flags:   []flagSpec{{"--all", ""}},
		run:     runReload,
	}
}

// reloadAllWait bounds how long reload --all waits for the nodes' answers.
var reloadAllWait = 15 * time.Second

func runReload(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	if a.has("--all") {
		return reloadAll(ctx, s)
	}
	var res apitypes.ReloadResult
	if err := s.Client.Post(ctx, "/v1/lua/reload", nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	if _, err := fmt.Fprintf(s.Stdout, "%s (%d scripts)\n", res.Message, res.Scripts); err != nil {
		return err
	}
	for _, r := range res.Restart {
		if _, err := fmt.Fprintf(s.Stdout, "needs a restart: %s\n", r); err != nil {
			return err
		}
	}
	return nil
}

// errReloadIncomplete: some node failed to reload or did not answer.
var errReloadIncomplete = errors.New("reload --all: not every node reloaded (see above)")

// reloadAll asks every node to reload (apitypes.ReloadKey) and prints their
// answers (apitypes.ReloadResultPrefix).
func reloadAll(ctx context.Context, s *Shell) error {
	st, err := s.Client.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Quorate {
		return fmt.Errorf("reload --all: this node has no quorum, so it cannot ask the others (reload each node's shell, or ask a node with quorum)")
	}
	req, _ := json.Marshal(map[string]string{"by": st.Node, "at": time.Now().UTC().Format(apitypes.TimeLayout)})
	path, _ := cdbPath(apitypes.ReloadKey)
	var wr apitypes.CDBWriteResult
	if err := s.Client.Do(ctx, "PUT", path, apitypes.CDBSetRequest{Value: string(req)}, &wr); err != nil {
		return err
	}
	got := map[string]apitypes.ReloadReport{}
	deadline := time.Now().Add(reloadAllWait)
	for len(got) < len(st.Members) && time.Now().Before(deadline) {
		var res apitypes.CDBListResult
		if err := s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(apitypes.ReloadResultPrefix), &res); err != nil {
			return err
		}
		for _, k := range res.Keys {
			var rep apitypes.ReloadReport
			if json.Unmarshal([]byte(k.Value), &rep) == nil && rep.Request >= wr.Revision {
				got[rep.Node] = rep
			}
		}
		if len(got) < len(st.Members) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	reps := make([]apitypes.ReloadReport, 0, len(st.Members))
	ok := true
	for _, m := range st.Members {
		rep, answered := got[m]
		if !answered {
			rep = apitypes.ReloadReport{Node: m, Error: fmt.Sprintf("no answer within %s: reload it in its own shell", reloadAllWait)}
		}
		ok = ok && rep.Error == ""
		reps = append(reps, rep)
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].Node < reps[j].Node })
	if s.json {
		if err := WriteJSON(s.Stdout, reps); err != nil {
			return err
		}
	} else {
		for _, r := range reps {
			line := r.Node + ": " + r.Message
			if r.Error != "" {
				line = strings.TrimSuffix(r.Node+": "+r.Message, ": ") + ": " + r.Error
			}
			if err := writeLine(s, line); err != nil {
				return err
			}
			for _, x := range r.Restart {
				if err := writeLine(s, r.Node+": needs a restart: "+x); err != nil {
					return err
				}
			}
		}
	}
	if !ok {
		return errReloadIncomplete
	}
	return nil
}
