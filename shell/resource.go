package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func resourceCommand() *command {
	return &command{
		name:    "resource",
		usage:   "resource add NAME AGENT [k=v ...] --group G [--monitor 10s] | resource del NAME",
		summary: "add or delete a resource (in the configuration database)",
		help: "`resource add` writes /resources/NAME: its agent, parameters (k=v), group\n" +
			"and monitor interval, and appends it to the group's start order (creating the\n" +
			"group if it does not exist), in one transaction. The node checks that the agent\n" +
			"exists and the parameters against its meta() (`agents resource` lists them),\n" +
			"and refuses a mistake with the reason. `resource del` removes it (its group\n" +
			"stops it first) and takes it out of the group's order.",
		example: "resource add ip ipaddr ip=10.0.0.50 nic=eth0 --group web\nresource add app process command='sleep 600' --group web --monitor 5s\nresource del app",
		subs:    []string{"add", "del"},
		flags:   []flagSpec{{"--group", "GROUP"}, {"--monitor", "DURATION"}},
		stages:  true,
		run:     runResource,
	}
}

// cdbDoc reads a config DB key as a JSON object; found false when absent.
func cdbDoc(ctx context.Context, s *Shell, key string) (map[string]any, uint64, bool, error) {
	if st := s.stage; st != nil && covers(key) { // a staged session: the stage's copy
		v, ok := st.docs[key]
		if !ok {
			return nil, st.base[key].Revision, false, nil
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return nil, 0, false, fmt.Errorf("%s is not a JSON object (%v): fix it with `cdb set %s ...`", key, err, key)
		}
		return m, st.base[key].Revision, true, nil
	}
	path, err := cdbPath(key)
	if err != nil {
		return nil, 0, false, err
	}
	var res apitypes.CDBGetResult
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
	if st := s.stage; st != nil && covers(key) {
		b, err := json.Marshal(m)
		if err != nil {
			return false, err
		}
		ops := []apitypes.CDBOp{{Op: "set", Key: key, Value: string(b)}}
		if err := checkStep(ctx, s, ops); err != nil {
			return false, err
		}
		st.apply(ops)
		return true, nil
	}
	path, err := cdbPath(key)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	var res apitypes.CDBWriteResult
	err = s.Client.Do(ctx, http.MethodPut, path, apitypes.CDBSetRequest{Value: string(b), IfRevision: &rev}, &res)
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
	// the resource, its group's start order (the group is created if
	// need be) and its old group's: one transaction, all or nothing
	err := txnDocs(ctx, s, func(t *docTxn) error {
		old, err := t.get("/resources/" + name)
		if err != nil {
			return err
		}
		t.put("/resources/"+name, doc)
		g, err := t.get("/groups/" + group)
		if err != nil {
			return err
		}
		if g == nil {
			g = map[string]any{"resources": []string{name}}
		} else if rs := stringList(g["resources"]); !slices.Contains(rs, name) {
			g["resources"] = append(rs, name)
		}
		t.put("/groups/"+group, g)
		if og, _ := old["group"].(string); og != "" && og != group {
			return t.dropFromGroup(og, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"resource": name, "group": group, "agent": agent})
	}
	return writeLine(s, fmt.Sprintf("resource %s (%s) added to group %s", name, agent, group))
}

// docTxn gathers a transaction on JSON documents: what it read (and their
// revisions, the transaction's conditions) and what it writes.
type docTxn struct {
	ctx  context.Context
	s    *Shell
	ifs  []apitypes.CDBCond
	seen map[string]bool
	ops  []apitypes.CDBOp
}

// get reads a document (nil when absent) and makes its revision a
// condition of the transaction.
func (t *docTxn) get(key string) (map[string]any, error) {
	m, rev, found, err := cdbDoc(t.ctx, t.s, key)
	if err != nil {
		return nil, err
	}
	if !t.seen[key] {
		t.seen[key] = true
		t.ifs = append(t.ifs, apitypes.CDBCond{Key: key, Revision: rev})
	}
	if !found {
		return nil, nil
	}
	return m, nil
}

func (t *docTxn) put(key string, m map[string]any) {
	b, _ := json.Marshal(m)
	t.ops = append(t.ops, apitypes.CDBOp{Op: "set", Key: key, Value: string(b)})
}

// putRaw writes a value that is not a JSON object (a setting).
func (t *docTxn) putRaw(key, value string) {
	t.ops = append(t.ops, apitypes.CDBOp{Op: "set", Key: key, Value: value})
}

func (t *docTxn) del(key string) { t.ops = append(t.ops, apitypes.CDBOp{Op: "delete", Key: key}) }

// dropFromGroup takes a resource out of a group's start order.
func (t *docTxn) dropFromGroup(group, name string) error {
	m, err := t.get("/groups/" + group)
	if err != nil || m == nil {
		return err
	}
	rs := stringList(m["resources"])
	if !slices.Contains(rs, name) {
		return nil
	}
	m["resources"] = slices.DeleteFunc(rs, func(r string) bool { return r == name })
	t.put("/groups/"+group, m)
	return nil
}

// txnDocs builds a transaction with f and applies it (POST /v1/cdb-txn),
// again from the start when a key it read changed meanwhile. The node
// validates it whole: an invalid resource or group writes nothing.
func txnDocs(ctx context.Context, s *Shell, f func(t *docTxn) error) error {
	for try := 0; try < 5; try++ {
		t := &docTxn{ctx: ctx, s: s, seen: map[string]bool{}}
		if err := f(t); err != nil {
			return err
		}
		if len(t.ops) == 0 {
			return nil
		}
		if s.stage != nil { // a staged session: the stage changes, not the cluster
			if err := checkStep(ctx, s, t.ops); err != nil {
				return err
			}
			s.stage.apply(t.ops)
			return nil
		}
		var res apitypes.CDBWriteResult
		err := s.Client.Do(ctx, http.MethodPost, "/v1/cdb-txn", apitypes.CDBTxnRequest{If: t.ifs, Ops: t.ops}, &res)
		var ae *APIError
		if err != nil && errorsAs(err, &ae) && ae.Status == http.StatusConflict && strings.HasPrefix(ae.Body.Error, "revision mismatch") {
			continue
		}
		return err
	}
	return fmt.Errorf("the configuration keeps changing under us: try again")
}

func resourceDel(ctx context.Context, s *Shell, name string) error {
	found := false
	err := txnDocs(ctx, s, func(t *docTxn) error {
		old, err := t.get("/resources/" + name)
		if err != nil || old == nil {
			return err
		}
		found = true
		t.del("/resources/" + name)
		if g, _ := old["group"].(string); g != "" {
			return t.dropFromGroup(g, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return usagef("no resource %s (see `resources`)", name)
	}
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"resource": name, "op": "delete"})
	}
	return writeLine(s, "resource "+name+" deleted")
}
