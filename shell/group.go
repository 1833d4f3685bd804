package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func groupCommand() *command {
	return &command{
		name:    "group",
		usage:   "group add NAME [--after G] [--prefer n1,n2] [--possible n1,n2] [--policy P] [--service http/tcp/8080] | group del NAME [--with-resources]",
		summary: "add, change or delete a resource group (in the configuration database)",
		help: "`group add` writes /groups/NAME (an existing group keeps its resources and the\n" +
			"settings not given): --after the groups it starts after and follows, --prefer its\n" +
			"preferred owners in order, --possible the only nodes that may run it, --policy a Lua\n" +
			"failover policy, --service NAME/PROTO/PORT its service. `group del` removes it; it\n" +
			"refuses a group that still has resources unless --with-resources, which deletes\n" +
			"them with it (they stop). Thresholds, failback and the target can be set with\n" +
			"`cdb set`.",
		example: "group add web --prefer n1,n2 --service http/tcp/8080\ngroup add app --after web\ngroup del app\ngroup del test1 --with-resources",
		subs:    []string{"add", "del"},
		flags: []flagSpec{{"--after", "GROUP"}, {"--prefer", "NODES"}, {"--possible", "NODES"}, {"--policy", "P"},
			{"--service", "NAME/PROTO/PORT"}, {"--with-resources", ""}},
		stages: true,
		run:    runGroup,
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func runGroup(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 2 {
		return usagef("usage: %s", a.cmd.usage)
	}
	name := a.pos[1]
	switch a.pos[0] {
	case "add":
	case "del", "delete", "rm":
		if len(a.flags) > 1 || len(a.flags) == 1 && !a.has("--with-resources") {
			return usagef("usage: group del NAME [--with-resources]")
		}
		return groupDel(ctx, s, name, a.has("--with-resources"))
	default:
		return usagef("group %s: unknown; use add or del", a.pos[0])
	}
	if a.has("--with-resources") {
		return usagef("--with-resources goes with group del")
	}
	set := map[string]any{}
	if v, ok := a.flags["--after"]; ok {
		set["after"] = splitList(v)
	}
	if v, ok := a.flags["--prefer"]; ok {
		set["preferred"] = splitList(v)
	}
	if v, ok := a.flags["--possible"]; ok {
		set["possible"] = splitList(v)
	}
	if v, ok := a.flags["--policy"]; ok {
		set["policy"] = v
	}
	if v, ok := a.flags["--service"]; ok {
		parts := strings.Split(v, "/")
		port, err := strconv.Atoi(parts[len(parts)-1])
		if len(parts) != 3 || err != nil || port <= 0 || port > 65535 || (parts[1] != "tcp" && parts[1] != "udp") {
			return usagef("--service %q: write NAME/PROTO/PORT, e.g. http/tcp/8080", v)
		}
		set["service"] = map[string]any{"name": parts[0], "proto": parts[1], "port": port}
	}
	created := false
	err := updateDoc(ctx, s, "/groups/"+name, func(m map[string]any, found bool) map[string]any {
		if !found {
			m, created = map[string]any{"resources": []string{}}, true
		}
		for k, v := range set {
			m[k] = v
		}
		return m
	})
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"group": name, "created": created})
	}
	verb := "changed"
	if created {
		verb = "added"
	}
	return writeLine(s, fmt.Sprintf("group %s %s", name, verb))
}

// groupDel deletes a group, and with withRes the resources that name it,
// in one transaction; the node refuses to delete a group that keeps
// resources.
func groupDel(ctx context.Context, s *Shell, name string, withRes bool) error {
	found := false
	var took []string
	err := txnDocs(ctx, s, func(t *docTxn) error {
		g, err := t.get("/groups/" + name)
		if err != nil || g == nil {
			return err
		}
		found, took = true, nil
		t.del("/groups/" + name)
		if !withRes {
			return nil
		}
		keys, err := stagedList(ctx, s, "/resources/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			var r struct {
				Group string `json:"group"`
			}
			if json.Unmarshal([]byte(k.Value), &r) == nil && r.Group == name {
				t.ifs = append(t.ifs, apitypes.CDBCond{Key: k.Key, Revision: k.Revision})
				t.del(k.Key)
				took = append(took, strings.TrimPrefix(k.Key, "/resources/"))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return usagef("no group %s (see `groups`)", name)
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"group": name, "op": "delete", "resources": took})
	}
	if len(took) > 0 {
		return writeLine(s, fmt.Sprintf("group %s deleted with its resources %s", name, strings.Join(took, ", ")))
	}
	return writeLine(s, "group "+name+" deleted")
}
