package shell

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// diskNode adds a resource manager and the disk core's status to the
// API's fake node.
type diskNode struct {
	crmNode
	status []node.DiskInfo
}

func (f *diskNode) DiskStatus() ([]node.DiskInfo, error) { return f.status, nil }

func serveDisk(t *testing.T, f *diskNode) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "corral.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(f)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return sock
}

// TestDiskCommands (issue 19): disk add writes the disk through the API
// (the size parsed once, in apitypes), disks renders the table and its
// JSON, disk move moves the disk's group, disk del deletes it; mistakes
// are usage errors that say what to type.
func TestDiskCommands(t *testing.T) {
	f := &diskNode{crmNode: crmNode{Node: apitest.New()}}
	sock := serveDisk(t, f)
	exec := func(cmd string) (string, string, int) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", sock, "-c", cmd}, env)
		return out.String(), errb.String(), code
	}
	out, errs, code := exec("disk add drd1 --backing /srv/drd1.img --size 256MiB --servers n1,n2,n3")
	if code != 0 || !strings.Contains(out, "disk drd1 (256MiB on /srv/drd1.img) added in its own group drd1") {
		t.Fatalf("disk add: %d %q %q", code, out, errs)
	}
	var r struct {
		Params map[string]string `json:"params"`
	}
	if err := json.Unmarshal(f.Node.KV["/resources/drd1"].Value, &r); err != nil || r.Params["size"] != "268435456" {
		t.Fatalf("/resources/drd1: %s %v", f.Node.KV["/resources/drd1"].Value, err)
	}
	for _, c := range []struct{ cmd, want string }{
		{"disk add d2 --size 1MiB --servers n1", "--backing PATH is required"},
		{"disk add d2 --backing d2.img --size 1MiB --servers n1", "give an absolute path"},
		{"disk add d2 --backing /srv/d2.img --servers n1", "--size SIZE is required"},
		{"disk add d2 --backing /srv/d2.img --size 1.5G --servers n1", "256MiB"},
		{"disk add d2 --backing /srv/d2.img --size 1MiB", "--servers n1,n2 is required"},
		{"disk add d2 --backing /srv/d2.img --size 1MiB --servers n1,n7", `server "n7" is not a configured node`},
		{"disk add drd1 --backing /srv/x.img --size 1MiB --servers n1", "the disk drd1 exists"},
		{"disk del nope", "no disk nope"},
		{"disk move drd1", "usage: disk move NAME NODE"},
		{"disk frob", "use add, del or move"},
	} {
		_, errs, code := exec(c.cmd)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.cmd, code, errs, c.want)
		}
	}
	f.status = []node.DiskInfo{{Name: "drd1", Server: "n2", Epoch: 2, State: "serving", Clients: []string{"n1", "n3"}}}
	out, errs, code = exec("disks")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SERVER EPOCH STATE CLIENTS SIZE" ||
		strings.Join(strings.Fields(lines[1]), " ") != "drd1 n2 2 serving n1,n3 256MiB" {
		t.Fatalf("disks: %d %q %q", code, out, errs)
	}
	out, _, code = exec("disks --json")
	var ds []apitypes.DiskStatus
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0].Server == nil || *ds[0].Server != "n2" || ds[0].Backing != "/srv/drd1.img" {
		t.Fatalf("disks --json: %d %q", code, out)
	}
	out, errs, code = exec("disk move drd1 n3")
	if code != 0 || len(f.moves) != 1 || f.moves[0] != "drd1 n3 0s" || !strings.Contains(out, "moving disk drd1 to n3") {
		t.Fatalf("disk move: %d %q %q %v", code, out, errs, f.moves)
	}
	out, errs, code = exec("disk del drd1")
	if code != 0 || !strings.Contains(out, "group drd1 deleted with it") || len(f.Node.KV) != 0 {
		t.Fatalf("disk del: %d %q %q %v", code, out, errs, f.Node.KV)
	}
	if out, _, _ = exec("disks"); !strings.Contains(out, "no disks") {
		t.Fatalf("disks with none: %q", out)
	}
	// completion: subcommands, disk names, nodes in a comma list
	f.status = nil
	exec("disk add drd1 --backing /srv/drd1.img --size 1MiB --servers n1")
	c := &completer{s: &Shell{Client: NewClient(sock)}}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"disk ", []string{"add", "del", "move"}},
		{"disk move ", []string{"drd1"}},
		{"disk move drd1 ", []string{"n1", "n2", "n3"}},
		{"disk add d3 --servers n1,", []string{"n1,n1", "n1,n2", "n1,n3"}},
	} {
		got, partial := c.candidates(tc.line)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("complete %q: %v (partial %q), want %v", tc.line, got, partial, tc.want)
		}
	}
}
