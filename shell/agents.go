package shell

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func agentsCommand() *command {
	return &command{
		name:    "agents",
		usage:   "agents [resource|fence|policy|handler] [--json]",
		summary: "the Lua scripts the node has loaded, with their parameters",
		help: "Lists the scripts the node runs: resource agents, fence drivers, failover policies and\n" +
			"event handlers, those built into corral and those of the [lua] paths directories (a\n" +
			"script there replaces a built-in one of its kind and name), and the agents compiled into\n" +
			"corral itself (the served disk's `disk`, whose name no script may take). Each shows what its meta()\n" +
			"says: description and parameters (* required, =default), a handler its event kinds;\n" +
			"granted ones may use exec, fs and net and change the cluster (corral.set, move, start,\n" +
			"stop, pause, resume); the others only read it. The handlers' counters say whether\n" +
			"they keep up with the events (dropped > 0: a handler is too slow). `reload` re-reads\n" +
			"the files.",
		example: "agents\nagents resource\nagents handler --json",
		subs:    []string{"resource", "fence", "policy", "handler"},
		run:     runAgents,
	}
}

func runAgents(ctx context.Context, s *Shell, a *args) error {
	path := "/v1/agents"
	switch len(a.pos) {
	case 0:
	case 1:
		path += "?kind=" + url.QueryEscape(a.pos[0])
	default:
		return usagef("usage: %s", a.cmd.usage)
	}
	var doc apitypes.AgentsDoc
	if err := s.Client.Get(ctx, path, &doc); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, doc.Scripts)
	}
	if len(doc.Scripts) == 0 {
		_, err := fmt.Fprintln(s.Stdout, "no scripts")
		return err
	}
	t := newTable("KIND", "NAME", "DESCRIPTION", "PARAMETERS", "FROM")
	for _, m := range doc.Scripts {
		var ps []string
		for _, p := range m.Parameters {
			w := p.Name + ":" + p.Type
			if p.Required {
				w += "*"
			}
			if p.Default != "" {
				w += "=" + p.Default
			}
			ps = append(ps, w)
		}
		if m.ExtraParameters {
			ps = append(ps, "...")
		}
		if len(m.Events) > 0 {
			ps = append(ps, "events:"+strings.Join(m.Events, ","))
		}
		from := m.File
		if m.Broken != "" { // a file of [lua] paths that did not load
			t.row(string(m.Kind), m.Name, "BROKEN: "+m.Broken, "-", from)
			continue
		}
		if m.Builtin { // compiled into corral (the disk agent): no script
			from = "built in (Go)"
		} else if strings.HasPrefix(from, "agents/") {
			from = "built in"
		} else if m.Granted {
			from += " (granted)"
		}
		t.row(string(m.Kind), m.Name, m.Description, orDash(strings.Join(ps, " ")), from)
	}
	if err := t.render(s.Stdout, s.Color); err != nil {
		return err
	}
	l := doc.Lua
	_, err := fmt.Fprintf(s.Stdout, "lua: %d/%d VMs, %d busy; handlers: %d events, %d dropped, %d queued of %d (deadline %s)\n",
		l.VMs, l.PoolSize, l.Busy, l.Events, l.Dropped, l.Queued, l.Queue, l.Timeout)
	for _, h := range l.Handlers {
		if h.Failures+h.Timeouts > 0 {
			fmt.Fprintf(s.Stdout, "handler %s: %d calls, %d failed, %d past the deadline; last: %s\n", h.Name, h.Calls, h.Failures, h.Timeouts, h.LastError)
		}
		if h.Dropped > 0 {
			fmt.Fprintf(s.Stdout, "handler %s: %d events dropped (its queue was full), %d queued\n", h.Name, h.Dropped, h.Queued)
		}
		if h.Disabled {
			fmt.Fprintf(s.Stdout, "handler %s: DISABLED: it kept passing its deadline; fix it, then reload\n", h.Name)
		}
	}
	return err
}
