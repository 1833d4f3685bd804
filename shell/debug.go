package shell

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

var faultFlags = []string{"--peer", "--link", "--dir", "--drop", "--delay", "--dup"}

func debugCommand() *command {
	return &command{
		name:    "debug",
		usage:   "debug fault add [NODE] [--peer NODE] [--link N] [--dir in|out|both] [--drop P] [--delay D] [--dup P] | debug fault list | debug fault clear [ID]",
		summary: "fault injection on this node's links (testing only)",
		help: "Adds, lists and lifts packet fault rules on the node the shell is connected to. A rule\n" +
			"matches packets to and from one peer (--peer, or every peer), on one of this node's\n" +
			"links (--link N, -1 or left out for all) in one direction (--dir, default both), and\n" +
			"drops them with probability --drop, delays them by --delay, or duplicates them with\n" +
			"probability --dup. Needs [debug] fault_injection = true in the node's config (the\n" +
			"demo has it). `clear` lifts every rule, `clear ID` one.",
		example: "debug fault add --peer n2 --link 0 --drop 1\ndebug fault list\ndebug fault clear",
		subs:    []string{"fault", "add", "list", "clear"},
		flags: []flagSpec{{"--peer", "NODE"}, {"--link", "N"}, {"--dir", "in|out|both"},
			{"--drop", "P"}, {"--delay", "D"}, {"--dup", "P"}},
		run: runDebug,
	}
}

func runDebug(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) < 2 || a.pos[0] != "fault" {
		return usagef("usage: %s", a.cmd.usage)
	}
	sub, rest := a.pos[1], a.pos[2:]
	if sub != "add" {
		for _, f := range faultFlags {
			if a.has(f) {
				return usagef("%s goes with `debug fault add`, not %s", f, sub)
			}
		}
	}
	switch sub {
	case "add":
		return faultAdd(ctx, s, a, rest)
	case "list":
		if len(rest) > 0 {
			return usagef("debug fault list takes no arguments")
		}
		return faultList(ctx, s)
	case "clear":
		path := "/v1/debug/faults"
		switch len(rest) {
		case 0:
		case 1:
			if _, err := strconv.ParseUint(rest[0], 10, 64); err != nil {
				return usagef("debug fault clear %s: give a rule id from `debug fault list`", rest[0])
			}
			path += "/" + rest[0]
		default:
			return usagef("debug fault clear [ID]: one id at most")
		}
		var res apitypes.FaultsRemoved
		if err := s.Client.Delete(ctx, path, &res); err != nil {
			return err
		}
		if s.json {
			return WriteJSON(s.Stdout, res)
		}
		fmt.Fprintf(s.Stdout, "lifted %d fault rule(s)\n", res.Removed)
		return nil
	}
	return usagef("debug fault %s: use add, list or clear", sub)
}

func faultAdd(ctx context.Context, s *Shell, a *args, rest []string) error {
	spec := apitypes.FaultSpec{Peer: a.flags["--peer"], Dir: a.flags["--dir"], Delay: a.flags["--delay"]}
	switch {
	case len(rest) == 1 && spec.Peer == "":
		spec.Peer = rest[0]
	case len(rest) > 0:
		return usagef("debug fault add: unexpected %q: name the peer once (--peer NODE)", strings.Join(rest, " "))
	}
	if v, ok := a.flags["--link"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef("--link %q: give a link number (0, 1, ...; -1 for all)", v)
		}
		spec.Link = &n
	}
	for _, p := range []struct {
		flag string
		dst  *float64
	}{{"--drop", &spec.Drop}, {"--dup", &spec.Dup}} {
		if v, ok := a.flags[p.flag]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return usagef("%s %q: give a probability between 0 and 1", p.flag, v)
			}
			*p.dst = f
		}
	}
	if spec.Drop == 0 && spec.Dup == 0 && spec.Delay == "" {
		return usagef("debug fault add: say what the rule does: --drop 1 (cut), --delay 100ms or --dup 0.5")
	}
	var res apitypes.FaultAdded
	if err := s.Client.Post(ctx, "/v1/debug/faults", spec, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	fmt.Fprintf(s.Stdout, "fault %d added: %s (lift it with `debug fault clear %d`)\n", res.ID, faultText(res.Fault), res.ID)
	return nil
}

func faultText(f apitypes.FaultInfo) string {
	peer, link := f.Peer, strconv.Itoa(f.Link)
	if peer == "" {
		peer = "every peer"
	}
	if f.Link == -1 {
		link = "all"
	}
	var does []string
	if f.Drop > 0 {
		does = append(does, fmt.Sprintf("drop %g", f.Drop))
	}
	if f.Delay != "" && f.Delay != "0s" {
		does = append(does, "delay "+f.Delay)
	}
	if f.Dup > 0 {
		does = append(does, fmt.Sprintf("dup %g", f.Dup))
	}
	return fmt.Sprintf("%s, link %s, %s: %s", peer, link, f.Dir, strings.Join(does, ", "))
}

func faultList(ctx context.Context, s *Shell) error {
	var fs []apitypes.FaultInfo
	if err := s.Client.Get(ctx, "/v1/debug/faults", &fs); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, fs)
	}
	if len(fs) == 0 {
		fmt.Fprintln(s.Stdout, "no fault rules")
		return nil
	}
	t := newTable("ID", "PEER", "LINK", "DIR", "DROP", "DELAY", "DUP")
	for _, f := range fs {
		link := strconv.Itoa(f.Link)
		if f.Link == -1 {
			link = "all"
		}
		t.row(fmt.Sprint(f.ID), orDash(f.Peer), link, f.Dir, fmt.Sprintf("%g", f.Drop), f.Delay, fmt.Sprintf("%g", f.Dup))
	}
	return t.render(s.Stdout, s.Color)
}
