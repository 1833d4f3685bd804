package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/api"
)

func resourceCommand() *command {
	return &command{
		name:    "resource",
		usage:   "resource add NAME AGENT [k=v ...] --group G [--monitor 10s] | resource del NAME",
		summary: "add or delete a resource (in the configuration database)",
		help: "`resource add` writes /resources/NAME: its agent, parameters (k=v), group and monitor\n" +
			"interval, and appends it to the group's start order (creating the group if it does\n" +
			"not exist). `resource del` removes it (its group stops it first) and takes it out of\n" +
			"the group's order.",
		example: "resource add ip ipaddr ip=10.0.0.50 --group web\nresource add app process cmd='corral serve' --group web --monitor 5s\nresource del app",
		subs:    []string{"add", "del"},
		flags:   []flagSpec{{"--group", "GROUP"}, {"--monitor", "DURATION"}},
		run:     runResource,
	}
}

// cdbDoc reads a config DB key as a JSON object; found false when absent.
func cdbDoc(ctx context.Context, s *Shell, key string) (map[string]any, uint64, bool, error) {
	path, err := cdbPath(key)
	if err != nil {
		return nil, 0, false, err
	}
	var res api.CDBGetResult
	if err := s.Client.Get(ctx, path, &res); err != nil {
		if notFound(err) {
			return nil, 0, false, nil
		}
		return nil, 0, false, err
	}
	m := map[string]any{}
	if err := json.Unmarshal([]byte(res.Value), &m); err != nil {
		return nil, 0, false, fmt.Errorf("%s is not a JSON object (%v): fix it with `cdb set %s ...`", key, err, key)
	}
	return m, res.Revision, true, nil
}

// cdbPutDoc writes a JSON object to key if its revision is still rev (0:
// absent); ok false when it changed meanwhile.
func cdbPutDoc(ctx context.Context, s *Shell, key string, m map[string]any, rev uint64) (bool, error) {
	path, err := cdbPath(key)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	var res api.CDBWriteResult
	err = s.Client.Do(ctx, http.MethodPut, path, api.CDBSetRequest{Value: string(b), IfRevision: &rev}, &res)
	var ae *APIError
	if err != nil && errorsAs(err, &ae) && ae.Status == http.StatusConflict {
		return false, nil
	}
	return err == nil, err
}

// updateDoc applies f to the JSON object at key (nil when absent) and
// writes it back, retrying when someone else changed it meanwhile. f
// returning nil deletes nothing and writes nothing.
func updateDoc(ctx context.Context, s *Shell, key string, f func(m map[string]any, found bool) map[string]any) error {
	for try := 0; try < 5; try++ {
		m, rev, found, err := cdbDoc(ctx, s, key)
		if err != nil {
			return err
		}
		nm := f(m, found)
		if nm == nil {
			return nil
		}
		ok, err := cdbPutDoc(ctx, s, key, nm, rev)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("%s keeps changing under us: try again", key)
}

func stringList(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func runResource(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) == 0 {
		return usagef("usage: %s", a.cmd.usage)
	}
	switch a.pos[0] {
	case "add":
		return resourceAdd(ctx, s, a)
	case "del", "delete", "rm":
		if len(a.pos) != 2 || a.has("--group") || a.has("--monitor") {
			return usagef("usage: resource del NAME")
		}
		return resourceDel(ctx, s, a.pos[1])
	}
	return usagef("resource %s: unknown; use add or del", a.pos[0])
}

func resourceAdd(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) < 3 {
		return usagef("usage: resource add NAME AGENT [k=v ...] --group G [--monitor 10s]")
	}
	name, agent := a.pos[1], a.pos[2]
	group, ok := a.flags["--group"]
	if !ok || group == "" {
		return usagef("resource add %s: --group G is required (a resource runs in a group)", name)
	}
	params := map[string]string{}
	for _, p := range a.pos[3:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return usagef("parameter %q: write k=v (quote values with spaces)", p)
		}
		params[k] = v
	}
	doc := map[string]any{"agent": agent, "group": group, "params": params}
	if m, ok := a.flags["--monitor"]; ok {
		if d, err := time.ParseDuration(m); err != nil || d <= 0 {
			return usagef("--monitor %q: give a duration such as 10s", m)
		}
		doc["monitor"] = m
	}
	old, _, _, err := cdbDoc(ctx, s, "/resources/"+name)
	if err != nil {
		return err
	}
	if err := updateDoc(ctx, s, "/resources/"+name, func(map[string]any, bool) map[string]any { return doc }); err != nil {
		return err
	}
	// the group's start order
	if err := updateDoc(ctx, s, "/groups/"+group, func(m map[string]any, found bool) map[string]any {
		if !found {
			return map[string]any{"resources": []string{name}}
		}
		rs := stringList(m["resources"])
		for _, r := range rs {
			if r == name {
				return nil
			}
		}
		m["resources"] = append(rs, name)
		return m
	}); err != nil {
		return err
	}
	if og, _ := old["group"].(string); og != "" && og != group {
		if err := dropFromGroup(ctx, s, og, name); err != nil {
			return err
		}
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"resource": name, "group": group, "agent": agent})
	}
	return writeLine(s, fmt.Sprintf("resource %s (%s) added to group %s", name, agent, group))
}

func dropFromGroup(ctx context.Context, s *Shell, group, name string) error {
	return updateDoc(ctx, s, "/groups/"+group, func(m map[string]any, found bool) map[string]any {
		if !found {
			return nil
		}
		var keep []string
		for _, r := range stringList(m["resources"]) {
			if r != name {
				keep = append(keep, r)
			}
		}
		if len(keep) == len(stringList(m["resources"])) {
			return nil
		}
		m["resources"] = keep
		return m
	})
}

func resourceDel(ctx context.Context, s *Shell, name string) error {
	old, _, found, err := cdbDoc(ctx, s, "/resources/"+name)
	if err != nil {
		return err
	}
	if !found {
		return usagef("no resource %s (see `resources`)", name)
	}
	path, _ := cdbPath("/resources/" + name)
	var res api.CDBWriteResult
	if err := s.Client.Delete(ctx, path, &res); err != nil {
		return err
	}
	if g, _ := old["group"].(string); g != "" {
		if err := dropFromGroup(ctx, s, g, name); err != nil {
			return err
		}
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	return writeLine(s, "resource "+name+" deleted")
}
