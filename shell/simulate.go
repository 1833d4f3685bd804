package shell

import (
	"context"
	"net/http"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func simulateCommand() *command {
	return &command{
		name:    "simulate",
		usage:   "simulate [--kill NODES] [--pause NODES] [--partition SIDE|SIDE...] [--fail RES[@NODE],...] [--json]",
		summary: "what the cluster would do after the staged change, or a failure, without doing it",
		help: "Runs the cores the nodes run (the resource manager, the fence core, the quorum\n" +
			"arithmetic) on a copy of the live state and prints what they would do, in order and\n" +
			"with their reasons: which views form and whether each side keeps quorum, which nodes\n" +
			"are fenced (device, level, by whom), what stops and starts where, and what stays\n" +
			"blocked and why. Nothing is changed.\n" +
			"In a staged session (configure), it simulates the stage as if committed. The\n" +
			"failures combine, on the live state (or the stage when one is open):\n" +
			"  --kill n2           n2 crashes (what it ran dies with it)\n" +
			"  --pause n3          n3 is stopped by its host past its lease (SIGSTOP): it is evicted\n" +
			"                      like a crashed node, and fenced before its groups move, since it\n" +
			"                      may resume\n" +
			"  --partition n1,n2|n3  the network splits into sides (name every member)\n" +
			"  --fail web/whoami   the resource fails where it runs (@NODE: there): its monitor\n" +
			"                      fails and every start of it there fails, so it restarts in place,\n" +
			"                      then fails over\n" +
			"Device and agent calls succeed at once unless --fail says otherwise; Lua failover\n" +
			"policies are not run (the built-in default decides). See `corral help operations`.",
		example: "simulate --kill n1\nsimulate --partition n1,n2|n3 --json\nsimulate --pause n3 --fail web/whoami\nconfigure\ngroup add web --possible n3\nsimulate",
		flags:   []flagSpec{{"--kill", "NODES"}, {"--pause", "NODES"}, {"--partition", "SIDES"}, {"--fail", "RESOURCES"}},
		run:     runSimulate,
	}
}

func runSimulate(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	req := apitypes.SimulateRequest{Kill: splitList(a.flags["--kill"]), Pause: splitList(a.flags["--pause"]), Fail: splitList(a.flags["--fail"])}
	if p, ok := a.flags["--partition"]; ok {
		for _, side := range strings.Split(p, "|") {
			if l := splitList(side); len(l) > 0 {
				req.Partition = append(req.Partition, l)
			}
		}
		if len(req.Partition) < 2 {
			return usagef("simulate --partition %q: give two sides or more, separated by | (e.g. --partition n1,n2|n3)", p)
		}
	}
	if st := s.stage; st != nil {
		req.Staged, req.Stage = true, st.crmDocs()
	}
	if !req.Staged && len(req.Kill)+len(req.Pause)+len(req.Partition)+len(req.Fail) == 0 {
		return usagef("simulate: nothing to simulate: open a staged session (configure) or give a failure (--kill, --pause, --partition, --fail)")
	}
	var res apitypes.SimulateResult
	if err := s.Client.Do(ctx, http.MethodPost, "/v1/simulate", req, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	head := "Simulated on " + res.Node + "'s view of the live cluster"
	if res.Staged {
		head += ", with the staged change committed"
	}
	return writeLine(s, head+". Nothing was changed.\n"+strings.TrimRight(res.Text, "\n"))
}
