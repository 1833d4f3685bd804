package shell

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func diskCommand() *command {
	return &command{
		name: "disk",
		usage: "disk add NAME --backing PATH --size SIZE --servers n1,n2[,...] [--group G] | disk del NAME | " +
			"disk move NAME NODE",
		summary: "add, delete or move a served disk (exported over NBD on every node)",
		help: "A served disk is a block device that one node at a time serves from its backing store and\n" +
			"every node exports over NBD, named as the disk: nbd://ADDRESS:10809/NAME where [nbd]\n" +
			"listen is set, and the Unix socket nbd.sock next to the node's admin socket\n" +
			"(nbd+unix:///NAME?socket=PATH). nbdinfo, nbdcopy, qemu-img, fio and nbd-client use it\n" +
			"unchanged; requests on a node that does not serve it are shipped to the server.\n" +
			"\n" +
			"`disk add` writes the disk's resource (agent disk) and its group, named as the disk, whose\n" +
			"possible owners are --servers, in one transaction: the resource manager places, moves and\n" +
			"fails it over, and fences a failed server before another takes over. --backing is an\n" +
			"absolute path every server reaches (a shared block device, or a file on shared storage;\n" +
			"created sparse if missing); --size is in bytes or with a binary unit (256MiB, 1GiB),\n" +
			"whole 512-byte sectors, at least 1MiB. --group G puts the disk at the head of the\n" +
			"existing group G instead (it starts before the group's other resources, say a database;\n" +
			"the group's owners are its servers). `disk del` deletes it (its server stops; its own\n" +
			"group goes too; the backing store is left alone). `disk move` moves its group to NODE.\n" +
			"\n" +
			"A new server takes an OFD lock on the backing store and writes a newer epoch into its\n" +
			"header before it serves, so a stale server (paused, cut off) can write nothing more. On a\n" +
			"raw shared device seen by several machines that lock does not reach across them: there\n" +
			"only fencing keeps a paused old server out, so configure a fence device.",
		example: "disk add drd1 --backing /srv/drd1.img --size 256MiB --servers n1,n2,n3\n" +
			"disk add pgdata --backing /dev/sdb --size 10GiB --group db\n" +
			"disk move drd1 n2\ndisk del drd1",
		subs:  []string{"add", "del", "move"},
		flags: []flagSpec{{"--backing", "PATH"}, {"--size", "SIZE"}, {"--servers", "NODES"}, {"--group", "GROUP"}},
		run:   runDisk,
	}
}

// Disks fetches GET /v1/disks.
func (c *Client) Disks(ctx context.Context) ([]apitypes.DiskStatus, error) {
	var out []apitypes.DiskStatus
	err := c.Get(ctx, "/v1/disks", &out)
	return out, err
}

func runDisk(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) == 0 {
		return usagef("usage: %s", a.cmd.usage)
	}
	switch a.pos[0] {
	case "add":
		return diskAdd(ctx, s, a)
	case "del", "delete", "rm":
		if len(a.pos) != 2 || len(a.flags) > 0 {
			return usagef("usage: disk del NAME")
		}
		return diskDel(ctx, s, a.pos[1])
	case "move":
		if len(a.pos) != 3 || len(a.flags) > 0 {
			return usagef("usage: disk move NAME NODE")
		}
		return diskMove(ctx, s, a.pos[1], a.pos[2])
	}
	return usagef("disk %s: unknown; use add, del or move", a.pos[0])
}

func diskAdd(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 2 {
		return usagef("usage: disk add NAME --backing PATH --size SIZE --servers n1,n2 [--group G]")
	}
	name := a.pos[1]
	req := apitypes.DiskAddRequest{Name: name, Backing: a.flags["--backing"], Group: a.flags["--group"]}
	if req.Backing == "" {
		return usagef("disk add %s: --backing PATH is required: the backing store's absolute path, the same on every server (e.g. --backing /srv/%s.img)", name, name)
	}
	if !strings.HasPrefix(req.Backing, "/") {
		return usagef("disk add %s: --backing %s: give an absolute path, the same on every server (e.g. --backing /srv/%s.img); the node resolves nothing against the shell's directory", name, req.Backing, name)
	}
	sz, ok := a.flags["--size"]
	if !ok || sz == "" {
		return usagef("disk add %s: --size SIZE is required: bytes or a binary unit, e.g. --size 256MiB", name)
	}
	n, err := apitypes.ParseSize(sz)
	if err != nil {
		return usagef("disk add %s: --%v", name, err)
	}
	req.Size = apitypes.Size(n)
	if v, ok := a.flags["--servers"]; ok {
		req.Servers = splitList(v)
		if len(req.Servers) == 0 {
			return usagef("disk add %s: --servers %q: name the nodes that may serve it, comma-separated, e.g. --servers n1,n2", name, v)
		}
	} else if req.Group == "" {
		return usagef("disk add %s: --servers n1,n2 is required: the nodes that may serve it (each reaches %s)", name, req.Backing)
	}
	var res apitypes.DiskResult
	if err := s.Client.Post(ctx, "/v1/disks", req, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	where := "in its own group " + res.Group + " (servers " + strings.Join(req.Servers, ",") + ")"
	if res.GroupOp == "joined" {
		where = "at the head of group " + res.Group
	}
	return writeLine(s, fmt.Sprintf("disk %s (%s on %s) added %s; see `disks`", name, apitypes.FormatSize(res.Size), req.Backing, where))
}

func diskDel(ctx context.Context, s *Shell, name string) error {
	var res apitypes.DiskResult
	if err := s.Client.Delete(ctx, "/v1/disks/"+url.PathEscape(name), &res); err != nil {
		if notFound(err) {
			return usagef("no disk %s (see `disks`)", name)
		}
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	what := "disk " + name + " deleted (its server stops; the backing store is left as it is)"
	switch res.GroupOp {
	case "deleted":
		what += "; group " + res.Group + " deleted with it"
	case "kept":
		what += "; it left group " + res.Group
	}
	return writeLine(s, what)
}

// diskMove moves the disk's group (`move GROUP NODE`).
func diskMove(ctx context.Context, s *Shell, name, node string) error {
	var d apitypes.DiskStatus
	if err := s.Client.Get(ctx, "/v1/disks/"+url.PathEscape(name), &d); err != nil {
		if notFound(err) {
			return usagef("no disk %s (see `disks`)", name)
		}
		return err
	}
	var res apitypes.GroupAction
	err := s.Client.Do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(d.Group)+"/move", apitypes.MoveRequest{Node: node}, &res)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	grp := ""
	if d.Group != name {
		grp = " with its group " + d.Group
	}
	return writeLine(s, fmt.Sprintf("moving disk %s%s to %s (see `disks`, `explain %s`)", name, grp, node, d.Group))
}
