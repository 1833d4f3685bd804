package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func cdbCommand() *command {
	return &command{
		name:    "cdb",
		usage:   "cdb get KEY [--stale] | cdb list [PREFIX] [--stale] | cdb set KEY VALUE [--if-revision N] [--client ID --seq N] | cdb del KEY [--client ID --seq N] | cdb history [--limit N] | cdb watch [PREFIX] [--start REV] [--json]",
		summary: "read and change the configuration database",
		help: "The configuration database is a replicated tree of keys (paths like /resources/web/ip)\n" +
			"with values and revisions. `get` shows one key, `list` the keys under a prefix (all by\n" +
			"default), `set` changes a key (--if-revision N: only if its revision is still N, 0 for\n" +
			"a key that must not exist yet), `del` removes one, `history` shows the last changes,\n" +
			"`watch` prints every change under a prefix as it is applied, in revision order, until\n" +
			"Ctrl-C (--start REV first replays the changes from revision REV, if the node still has\n" +
			"them; with --json one JSON object a line). It resumes where it was after a lost connection.\n" +
			"--client ID --seq N name a write so a retry is safe: after no answer or \"outcome unknown\",\n" +
			"run the same command again and it gets the original result, never a second apply.\n" +
			"A write returns once every node of the primary view has it on disk. A read (get, list)\n" +
			"sees every write acknowledged before it began, on any node: it needs a quorate node and\n" +
			"fails with \"no quorum\" elsewhere. --stale reads this node's copy as it is, with no\n" +
			"quorum and no round to the coordinator; it says stale (\"stale\": true with --json),\n" +
			"since the copy may miss the latest writes.",
		example: "cdb set /resources/web/ip 10.0.0.5\ncdb get /resources/web/ip\ncdb get /resources/web/ip --stale\ncdb list /resources --json\ncdb history --limit 5\ncdb watch /resources/ --json",
		subs:    []string{"get", "list", "set", "del", "history", "watch"},
		flags:   []flagSpec{{"--if-revision", "N"}, {"--limit", "N"}, {"--start", "REV"}, {"--client", "ID"}, {"--seq", "N"}, {"--stale", ""}},
		run:     runCDB,
	}
}

// cdbPath is the API path of a key.
func cdbPath(key string) (string, error) {
	if !strings.HasPrefix(key, "/") || key == "/" {
		return "", usagef("key %q: keys are paths like /resources/web/ip", key)
	}
	segs := strings.Split(strings.TrimPrefix(key, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/v1/cdb/" + strings.Join(segs, "/"), nil
}

func staleNote(stale bool) string {
	if stale {
		return " (stale: this node's copy, it may miss the latest writes)"
	}
	return ""
}

// staleQuery is the query parameter of a --stale read.
func staleQuery(a *args, sep string) string {
	if a.has("--stale") {
		return sep + "stale=true"
	}
	return ""
}

func runCDB(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) == 0 {
		return usagef("usage: %s", a.cmd.usage)
	}
	sub, rest := a.pos[0], a.pos[1:]
	if a.has("--if-revision") && sub != "set" {
		return usagef("--if-revision goes with `cdb set`, not %s", sub)
	}
	if a.has("--limit") && sub != "history" {
		return usagef("--limit goes with `cdb history`, not %s", sub)
	}
	var hdr http.Header
	if a.has("--client") || a.has("--seq") {
		if sub != "set" && sub != "del" && sub != "delete" && sub != "rm" {
			return usagef("--client and --seq go with `cdb set` and `cdb del`, not %s", sub)
		}
		n, err := strconv.ParseUint(a.flags["--seq"], 10, 64)
		if a.flags["--client"] == "" || err != nil || n == 0 {
			return usagef("name a write with both --client ID and --seq N (from 1, one more per new write)")
		}
		hdr = http.Header{"Corral-Client": {a.flags["--client"]}, "Corral-Seq": {strconv.FormatUint(n, 10)}}
	}
	if a.has("--stale") && sub != "get" && sub != "list" && sub != "ls" {
		return usagef("--stale goes with `cdb get` and `cdb list`, not %s", sub)
	}
	if a.has("--start") && sub != "watch" {
		return usagef("--start goes with `cdb watch`, not %s", sub)
	}
	switch sub {
	case "watch":
		if len(rest) > 1 {
			return usagef("usage: cdb watch [PREFIX] [--start REV]")
		}
		prefix := "/"
		if len(rest) == 1 {
			prefix = rest[0]
		}
		var start uint64
		if v, ok := a.flags["--start"]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return usagef("--start %q: give a revision number from 1", v)
			}
			start = n
		}
		return cdbWatch(ctx, s, prefix, start)
	case "get":
		if len(rest) != 1 {
			return usagef("usage: cdb get KEY [--stale]")
		}
		return cdbGet(ctx, s, rest[0], staleQuery(a, "?"))
	case "list", "ls":
		if len(rest) > 1 {
			return usagef("usage: cdb list [PREFIX] [--stale]")
		}
		prefix := "/"
		if len(rest) == 1 {
			prefix = rest[0]
		}
		return cdbList(ctx, s, prefix, staleQuery(a, "&"))
	case "set":
		if len(rest) != 2 {
			return usagef("usage: cdb set KEY VALUE [--if-revision N] (quote a value with spaces)")
		}
		body := apitypes.CDBSetRequest{Value: rest[1]}
		if v, ok := a.flags["--if-revision"]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return usagef("--if-revision %q: give a revision number", v)
			}
			body.IfRevision = &n
		}
		return cdbWrite(ctx, s, http.MethodPut, rest[0], hdr, body)
	case "del", "delete", "rm":
		if len(rest) != 1 {
			return usagef("usage: cdb del KEY")
		}
		return cdbWrite(ctx, s, http.MethodDelete, rest[0], hdr, nil)
	case "history":
		if len(rest) > 0 {
			return usagef("usage: cdb history [--limit N]")
		}
		return cdbHistory(ctx, s, a)
	}
	return usagef("cdb %s: unknown; use get, list, set, del, history or watch", sub)
}

func cdbGet(ctx context.Context, s *Shell, key, query string) error {
	path, err := cdbPath(key)
	if err != nil {
		return err
	}
	path += query
	var res apitypes.CDBGetResult
	if err := s.Client.Get(ctx, path, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	_, err = fmt.Fprintf(s.Stdout, "%s = %s  (revision %d)%s\n", res.Key, res.Value, res.Revision, staleNote(res.Stale))
	return err
}

func cdbList(ctx context.Context, s *Shell, prefix, query string) error {
	var res apitypes.CDBListResult
	if err := s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(prefix)+query, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	if len(res.Keys) == 0 {
		_, err := fmt.Fprintf(s.Stdout, "no keys under %s (database revision %d)%s\n", prefix, res.Revision, staleNote(res.Stale))
		return err
	}
	t := newTable("KEY", "VALUE", "REVISION")
	for _, k := range res.Keys {
		t.row(k.Key, k.Value, strconv.FormatUint(k.Revision, 10))
	}
	if err := t.render(s.Stdout, s.Color); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.Stdout, "database revision %d%s\n", res.Revision, staleNote(res.Stale))
	return err
}

func cdbWrite(ctx context.Context, s *Shell, method, key string, hdr http.Header, body any) error {
	path, err := cdbPath(key)
	if err != nil {
		return err
	}
	var res apitypes.CDBWriteResult
	if err := s.Client.DoWith(ctx, method, path, hdr, body, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	verb := "set"
	if res.Op == "delete" {
		verb = "deleted"
	}
	_, err = fmt.Fprintf(s.Stdout, "%s %s at revision %d\n", verb, res.Key, res.Revision)
	return err
}

func cdbHistory(ctx context.Context, s *Shell, a *args) error {
	path := "/v1/cdb-history"
	if v, ok := a.flags["--limit"]; ok {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return usagef("--limit %q: give a number", v)
		}
		path += "?n=" + v
	}
	var hs []apitypes.CDBChange
	if err := s.Client.Get(ctx, path, &hs); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, hs)
	}
	if len(hs) == 0 {
		_, err := fmt.Fprintln(s.Stdout, "no changes yet")
		return err
	}
	t := newTable("REV", "TIME", "NODE", "CLIENT", "CHANGE")
	for _, h := range hs {
		var what []string
		for _, c := range h.If {
			what = append(what, fmt.Sprintf("if %s@%d", c.Key, c.Revision))
		}
		for _, o := range h.Ops {
			if o.Op == "delete" {
				what = append(what, "del "+o.Key)
			} else {
				what = append(what, fmt.Sprintf("set %s=%s", o.Key, o.Value))
			}
		}
		if len(h.Ops) == 0 {
			what = append(what, "(barrier)")
		}
		if !h.OK {
			what = append(what, "(condition failed: not applied)")
		}
		node := h.NodeName
		if node == "" {
			node = strconv.Itoa(h.Node)
		}
		t.row(strconv.FormatUint(h.Revision, 10), orDash(h.Time), node, orDash(h.Client), strings.Join(what, "; "))
	}
	return t.render(s.Stdout, s.Color)
}

// cdbWatch prints the changes under prefix from revision start (0: from
// now) until ctx ends; after a lost connection, or a node that dropped
// the watch for being slow, it resumes after the last change printed.
func cdbWatch(ctx context.Context, s *Shell, prefix string, start uint64) error {
	if start == 0 {
		// from now: the revision the listing shows, so a reconnect before
		// the first change misses nothing
		var res apitypes.CDBListResult
		if err := s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(prefix), &res); err != nil {
			return err
		}
		start = res.Revision + 1
	}
	if !s.json {
		fmt.Fprintf(s.Stdout, "# watching %s from revision %d (Ctrl-C stops)\n", prefix, start)
	}
	// Where to resume: the changes of one revision (a transaction) come
	// one by one, so a stream that ended inside a revision resumes at it
	// and skips the ones already printed.
	next, skip := start, 0
	down := false
	for {
		seen := 0
		err := s.Client.stream(ctx, "/v1/cdb-watch?prefix="+url.QueryEscape(prefix)+"&start="+strconv.FormatUint(next, 10), func(kind, data string) error {
			if kind == "error" {
				var e apitypes.Error
				_ = json.Unmarshal([]byte(data), &e)
				return &watchDropped{msg: e.Error}
			}
			var ev apitypes.CDBWatchEvent
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				return fmt.Errorf("cdb watch: bad JSON from the node: %v", err)
			}
			if ev.Revision == next && seen < skip {
				seen++
				return nil
			}
			if down {
				fmt.Fprintf(s.Stdout, "# reconnected; resuming from revision %d\n", next)
				down = false
			}
			if ev.Revision != next {
				next, skip = ev.Revision, 0
			}
			skip++
			seen = skip
			if s.json {
				b, _ := json.Marshal(ev)
				_, err := fmt.Fprintf(s.Stdout, "%s\n", b)
				return err
			}
			var err error
			if ev.Deleted {
				_, err = fmt.Fprintf(s.Stdout, "%-6d del %s\n", ev.Revision, ev.Key)
			} else {
				_, err = fmt.Fprintf(s.Stdout, "%-6d set %s = %s\n", ev.Revision, ev.Key, ev.Value)
			}
			return err
		})
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		var ue *UnreachableError
		var wd *watchDropped
		switch {
		case errors.As(err, &wd):
			fmt.Fprintf(s.Stdout, "# the node dropped this watch (%s); resuming from revision %d\n", wd.msg, next)
			continue
		case errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF):
		default:
			return err
		}
		if !down {
			fmt.Fprintf(s.Stdout, "# connection to the node lost; reconnecting (Ctrl-C stops)\n")
			down = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// watchDropped is the node's "event: error" ending a watch.
type watchDropped struct{ msg string }

func (e *watchDropped) Error() string { return "the node dropped the watch: " + e.msg }
