package testsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shellJSON runs `corral shell --socket <dir>/<node>/corral.sock -c CMD
// --json` and decodes its one JSON document into v.
func shellJSON(t *testing.T, dir, node, cmd string, v any) error {
	t.Helper()
	r := corral(t, dir, "shell", "--socket", filepath.Join(dir, node, "corral.sock"), "-c", cmd, "--json")
	if r.code != 0 {
		return fmt.Errorf("%s on %s: exit %d: %s", cmd, node, r.code, strings.TrimSpace(r.stderr))
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s --json on %s: %v in %q", cmd, node, err, r.stdout)
	}
	if dec.More() {
		return fmt.Errorf("%s --json on %s printed more than one document: %q", cmd, node, r.stdout)
	}
	return nil
}

type apiNode struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Member bool   `json:"member"`
}

type apiLink struct {
	Peer   string `json:"peer"`
	Local  int    `json:"local"`
	Remote int    `json:"remote"`
	Up     bool   `json:"up"`
	RTT    string `json:"rtt"`
}

func nodeState(t *testing.T, dir, on, name string) (string, error) {
	var ns []apiNode
	if err := shellJSON(t, dir, on, "nodes", &ns); err != nil {
		return "", err
	}
	for _, n := range ns {
		if n.Name == name {
			return n.State, nil
		}
	}
	return "", fmt.Errorf("%s not in nodes on %s: %+v", name, on, ns)
}

// TestAPICommands runs every shell command with -c, as a table and with
// --json, against a three-node demo cluster.
func TestAPICommands(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.70", 3)
	all := []string{"n1", "n2", "n3"}
	eventually(t, 10*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	sock := filepath.Join(dir, "n1", "corral.sock")

	// Every read-only command works as a table and as JSON.
	for _, cmd := range []string{"status", "nodes", "links", "quorum", "views", "events", "debug fault list", "help", "help events"} {
		r := corral(t, dir, "shell", "--socket", sock, "-c", cmd)
		if r.code != 0 || r.stdout == "" {
			t.Fatalf("%s: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
		if strings.HasPrefix(cmd, "help") {
			continue
		}
		var v any
		if err := shellJSON(t, dir, "n1", cmd, &v); err != nil {
			t.Fatal(err)
		}
	}
	var q struct {
		Quorate     bool   `json:"quorate"`
		Votes       int    `json:"votes"`
		Needed      int    `json:"needed"`
		Explanation string `json:"explanation"`
	}
	if err := shellJSON(t, dir, "n1", "quorum", &q); err != nil || !q.Quorate || q.Votes != 3 || q.Needed != 2 || !strings.Contains(q.Explanation, "3 of 3 votes") {
		t.Fatalf("quorum %+v, %v", q, err)
	}
	if r := corral(t, dir, "shell", "--socket", sock, "-c", "cdb get /nope"); r.code != 1 || !strings.Contains(r.stderr, "no key /nope") {
		t.Fatalf("cdb: exit %d %q", r.code, r.stderr)
	}

	// events --since 0: view_changed events with growing seq numbers.
	var evs []struct {
		Seq     uint64   `json:"seq"`
		Kind    string   `json:"kind"`
		View    string   `json:"view"`
		Members []string `json:"members"`
	}
	if err := shellJSON(t, dir, "n1", "events --since 0", &evs); err != nil {
		t.Fatal(err)
	}
	views := 0
	for i, e := range evs {
		if i > 0 && e.Seq != evs[i-1].Seq+1 {
			t.Fatalf("events not numbered one by one: %+v", evs)
		}
		if e.Kind == "view_changed" {
			views++
			if e.Seq == 0 || e.View == "" || len(e.Members) == 0 {
				t.Fatalf("view_changed without seq, view or members: %+v", e)
			}
		}
	}
	if views == 0 {
		t.Fatalf("no view_changed in %+v", evs)
	}
	var vs []struct {
		Seq  uint64 `json:"seq"`
		Kind string `json:"kind"`
	}
	if err := shellJSON(t, dir, "n1", "views", &vs); err != nil || len(vs) != views {
		t.Fatalf("views: %d entries, %d view_changed events: %v", len(vs), views, err)
	}

	// pause n2 from n1: n1 shows it paused; resume: online again.
	var res struct {
		Node, Action, Message string
	}
	if err := shellJSON(t, dir, "n1", "pause n2", &res); err != nil || res.Action != "pause" {
		t.Fatalf("pause n2: %+v %v", res, err)
	}
	eventually(t, 5*time.Second, "n1 sees n2 paused", func() error {
		s, err := nodeState(t, dir, "n1", "n2")
		if err == nil && s != "paused" {
			err = fmt.Errorf("n2 is %s", s)
		}
		return err
	})
	if err := shellJSON(t, dir, "n1", "resume n2", &res); err != nil || res.Action != "resume" {
		t.Fatalf("resume n2: %+v %v", res, err)
	}
	eventually(t, 5*time.Second, "n1 sees n2 online", func() error {
		s, err := nodeState(t, dir, "n1", "n2")
		if err == nil && s != "online" {
			err = fmt.Errorf("n2 is %s", s)
		}
		return err
	})

	// Cut n1's link 0 to n2: n1's paths on link 0 to n2 go down, the
	// others stay up.
	var added struct {
		ID uint64 `json:"id"`
	}
	if err := shellJSON(t, dir, "n1", "debug fault add --peer n2 --link 0 --drop 1", &added); err != nil || added.ID == 0 {
		t.Fatalf("fault add: %+v %v", added, err)
	}
	var faults []struct {
		ID   uint64 `json:"id"`
		Peer string `json:"peer"`
		Link int    `json:"link"`
	}
	if err := shellJSON(t, dir, "n1", "debug fault list", &faults); err != nil || len(faults) != 1 || faults[0].Peer != "n2" || faults[0].Link != 0 {
		t.Fatalf("fault list: %+v %v", faults, err)
	}
	eventually(t, 10*time.Second, "n1's link 0 paths to n2 down, the rest up", func() error {
		var ls []apiLink
		if err := shellJSON(t, dir, "n1", "links", &ls); err != nil {
			return err
		}
		var cut, other int
		for _, l := range ls {
			switch {
			case l.Peer == "n2" && l.Local == 0:
				if l.Up {
					return fmt.Errorf("path n2 %d->%d still up", l.Local, l.Remote)
				}
				cut++
			case !l.Up:
				return fmt.Errorf("path %s %d->%d is down too", l.Peer, l.Local, l.Remote)
			default:
				other++
			}
		}
		if cut == 0 || other == 0 {
			return fmt.Errorf("links %+v", ls)
		}
		return nil
	})
	var removed struct {
		Removed int `json:"removed"`
	}
	if err := shellJSON(t, dir, "n1", "debug fault clear", &removed); err != nil || removed.Removed != 1 {
		t.Fatalf("fault clear: %+v %v", removed, err)
	}
	eventually(t, 10*time.Second, "every path up again", func() error {
		var ls []apiLink
		if err := shellJSON(t, dir, "n1", "links", &ls); err != nil {
			return err
		}
		for _, l := range ls {
			if !l.Up {
				return fmt.Errorf("path %s %d->%d down", l.Peer, l.Local, l.Remote)
			}
		}
		return nil
	})

	// A script: one failing line stops it with its line number.
	script := filepath.Join(dir, "script.corral")
	writeFile(t, script, "# check the cluster\nstatus\nnodes --json\nfrob\nlinks\n")
	r := corral(t, dir, "shell", "--socket", sock, "-f", script)
	if r.code != 2 || !strings.Contains(r.stderr, script+":4: frob") || strings.Contains(r.stdout, "PEER") {
		t.Fatalf("script: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = corral(t, dir, "shell", "--socket", sock, "-f", script, "--keep-going")
	if r.code != 2 || !strings.Contains(r.stdout, "PEER") {
		t.Fatalf("script --keep-going: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// /metrics over the socket (the shell's client speaks HTTP on it).
	eventually(t, 5*time.Second, "metrics", func() error {
		body, err := unixGet(sock, "/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{"# TYPE corral_view_epoch gauge", "corral_quorate 1", "corral_circuit_retransmits_total",
			"corral_detector_suspicions_total", `corral_transport_packets_total{link="0",result="fault_dropped"}`} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("metrics lack %q", want)
			}
		}
		return nil
	})
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// unixGet fetches path from the admin API on a Unix socket.
func unixGet(sock, path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://corral" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
