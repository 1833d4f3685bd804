package shell

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func fenceCommand() *command {
	return &command{
		name:    "fence",
		usage:   "fence [--json] | fence NODE [--yes] [--reason TEXT] | fence confirm NODE [--yes] | fence history [--json] | fence devices [--json]",
		summary: "fencing: every node's fence state, fence a node, declare one fenced, the fence history, the devices",
		help: "Without arguments: every node's fencing state (pending, in progress, done, failed), its\n" +
			"boot id, the device in use or that fenced it, and the last error. While a node that left\n" +
			"uncleanly is not fenced, its groups wait (\"waiting for fence of n3\" in `groups`).\n" +
			"`fence NODE` asks the coordinator to fence NODE now through its levels (it powers the\n" +
			"node off or cycles it): the interactive shell asks first, elsewhere give --yes.\n" +
			"Any node may be named, the coordinator and this node too (the next coordinator\n" +
			"fences the old one). It returns once NODE shows pending in `fence`, or says why the\n" +
			"fence cannot be done (no quorum here, no device for NODE, no other member).\n" +
			"`fence confirm NODE` is your word that NODE is down (you powered it off, or its machine is\n" +
			"gone): it counts as fenced, and what waits for its fence (groups, disks, locks) goes on, as\n" +
			"Pacemaker's `stonith_admin --confirm`. Declaring a running node fenced risks data corruption:\n" +
			"check first. The interactive shell asks you to type NODE; elsewhere give --yes. It is\n" +
			"refused for a node that is a member of this node's view or that this node reaches (it is up).\n" +
			"On a node whose view is not primary it is declared there, for `quorum unblock`, and confirmed\n" +
			"cluster-wide once the view is primary (`corral help operations`).\n" +
			"`fence history` lists past fence operations, oldest first (kept in the config DB under\n" +
			"/fence/history/);\n" +
			"`fence devices` lists the configured devices and every node's levels.",
		example: "fence\nfence n3 --yes --reason \"disk controller hung\"\nfence confirm n3 --yes\nfence history\nfence devices --json",
		subs:    []string{"history", "devices", "confirm"},
		flags:   []flagSpec{{"--yes", ""}, {"--reason", "TEXT"}},
		nodeArg: true,
		run:     runFence,
	}
}

// FenceStatus fetches GET /v1/fence.
func (c *Client) FenceStatus(ctx context.Context) (apitypes.FenceStatus, error) {
	var out apitypes.FenceStatus
	err := c.Get(ctx, "/v1/fence", &out)
	return out, err
}

func runFence(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) > 0 && a.pos[0] == "confirm" {
		return fenceConfirm(ctx, s, a)
	}
	if len(a.pos) > 1 {
		return usagef("usage: %s", a.cmd.usage)
	}
	if len(a.pos) == 0 {
		return fenceStatus(ctx, s)
	}
	switch a.pos[0] {
	case "history":
		return fenceHistory(ctx, s)
	case "devices":
		return fenceDevices(ctx, s)
	}
	return fenceNode(ctx, s, a)
}

func fenceStatus(ctx context.Context, s *Shell) error {
	st, err := s.Client.FenceStatus(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, st.Targets)
	}
	if !st.Configured {
		if err := writeLine(s, "no fence devices configured: a node that leaves is assumed down after the lease wait; configure [fence] for safety"); err != nil {
			return err
		}
	}
	t := newTable("NODE", "STATE", "FENCED", "BOOT", "DEVICE", "ATTEMPTS", "REASON", "ERROR").color(1)
	for _, ts := range st.Targets {
		fenced := "no"
		if ts.Confirmed {
			fenced = "yes"
		}
		t.row(ts.Target, orDash(ts.State), fenced, strconv.FormatUint(ts.Boot, 10), orDash(ts.Device), strconv.Itoa(ts.Attempts),
			orDash(ts.Reason), orDash(ts.Error))
	}
	return t.render(s.Stdout, s.Color)
}

func fenceHistory(ctx context.Context, s *Shell) error {
	var hs []apitypes.FenceRecord
	if err := s.Client.Get(ctx, "/v1/fence/history", &hs); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, hs)
	}
	if len(hs) == 0 {
		return writeLine(s, "no fence operations yet")
	}
	t := newTable("TIME", "OP", "NODE", "BOOT", "STATE", "DEVICE", "BY", "REASON", "ERROR").color(4)
	for _, h := range hs { // in time order (the order of the records' writes)
		t.row(orDash(h.Time), h.Op, h.Target, strconv.FormatUint(h.Boot, 10), h.State, orDash(h.Device), orDash(h.By), orDash(h.Reason), orDash(h.Error))
	}
	return t.render(s.Stdout, s.Color)
}

func fenceDevices(ctx context.Context, s *Shell) error {
	st, err := s.Client.FenceStatus(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, struct {
			Devices []apitypes.FenceDevice  `json:"devices"`
			Levels  []apitypes.FenceLevelOf `json:"levels"`
		}{st.Devices, st.Levels})
	}
	if len(st.Devices) == 0 {
		if err := writeLine(s, "no fence devices configured (add [[fence.devices]] and [[fence.levels]] to the config file)"); err != nil {
			return err
		}
	} else {
		t := newTable("DEVICE", "DRIVER", "TARGETS", "PARAMS")
		for _, d := range st.Devices {
			targets := "all"
			if len(d.Targets) > 0 {
				targets = strings.Join(d.Targets, ",")
			}
			t.row(d.Name, d.Driver, targets, orDash(strings.Join(d.Params, ",")))
		}
		if err := t.render(s.Stdout, s.Color); err != nil {
			return err
		}
	}
	t := newTable("NODE", "LEVELS", "DELAY", "WATCHDOG")
	for _, l := range st.Levels {
		var lv []string
		for i, devs := range l.Levels {
			lv = append(lv, fmt.Sprintf("%d:%s", i+1, strings.Join(devs, "+")))
		}
		wd := "no"
		if l.Watchdog {
			wd = "yes"
		}
		t.row(l.Node, orDash(strings.Join(lv, " ")), orDash(l.Delay), wd)
	}
	return t.render(s.Stdout, s.Color)
}

func fenceNode(ctx context.Context, s *Shell, a *args) error {
	target := a.pos[0]
	if !a.has("--yes") {
		if s.readLine == nil {
			return usagef("fence %s powers %s off (or cycles it): add --yes to confirm (fence %s --yes)", target, target, target)
		}
		ans, err := s.readLine(fmt.Sprintf("fence %s? It is powered off or cycled, and what it runs is killed. [y/N] ", target))
		if err != nil {
			return err
		}
		if a := strings.ToLower(strings.TrimSpace(ans)); a != "y" && a != "yes" {
			return writeLine(s, "not fenced")
		}
	}
	req := apitypes.FenceRequest{Reason: a.flags["--reason"]}
	var res apitypes.FenceAction
	if err := s.Client.Post(ctx, "/v1/fence/"+url.PathEscape(target), req, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	return writeLine(s, fmt.Sprintf("fencing %s (reason: %s): see `fence` and `events --follow`", res.Target, res.Reason))
}

// fenceConfirm is `fence confirm NODE [--yes]`: an operator declares NODE
// down (POST /v1/fence/NODE/confirm).
func fenceConfirm(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 2 {
		return usagef("usage: fence confirm NODE [--yes]")
	}
	target := a.pos[1]
	warning := fmt.Sprintf("declaring %s fenced tells the cluster it is down: what it ran starts elsewhere and its locks are released; if %s is in fact running, data may be corrupted", target, target)
	if !a.has("--yes") {
		if s.readLine == nil {
			return usagef("%s: check that %s is powered off, then add --yes (fence confirm %s --yes)", warning, target, target)
		}
		ans, err := s.readLine(fmt.Sprintf("WARNING: %s.\nType %s to confirm it is powered off: ", warning, target))
		if err != nil {
			return err
		}
		if strings.TrimSpace(ans) != target {
			return writeLine(s, "not confirmed")
		}
	}
	var res apitypes.FenceConfirm
	if err := s.Client.Post(ctx, "/v1/fence/"+url.PathEscape(target)+"/confirm", apitypes.FenceConfirmRequest{Yes: true}, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	return writeLine(s, res.Message)
}
