package testsuite

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// continuityNet is TestContinuityWebThroughViewChanges's address block.
const continuityNet = "127.117"

// webProber GETs http://addr:8080/ every 20 ms and records every probe
// that did not answer want.
type webProber struct {
	mu     sync.Mutex
	probes int
	misses []string
	stop   chan struct{}
	done   chan struct{}
}

func startProber(addr, want string) *webProber {
	p := &webProber{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			at := time.Now()
			miss := ""
			resp, err := client.Get("http://" + addr + ":8080/")
			if err != nil {
				miss = err.Error()
			} else {
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if got := strings.TrimSpace(string(body)); err != nil || got != want {
					miss = fmt.Sprintf("answered %q (%v)", got, err)
				}
			}
			p.mu.Lock()
			p.probes++
			if miss != "" {
				p.misses = append(p.misses, at.Format("15:04:05.000")+" "+miss)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *webProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes
}

// settle waits until n more probes were made (the view change and the
// takeover wait after it are covered by the probes, not by a sleep).
func (p *webProber) settle(t *testing.T, n int) {
	t.Helper()
	want := p.count() + n
	eventually(t, 30*time.Second, fmt.Sprintf("%d more probes", n), func() error {
		if c := p.count(); c < want {
			return fmt.Errorf("%d probes of %d", c, want)
		}
		return nil
	})
}

func (p *webProber) end() (int, []string) {
	close(p.stop)
	<-p.done
	return p.probes, p.misses
}

// whoamiPID reads the pid file the process agent wrote for whoami under
// the owner's directory.
func whoamiPID(t *testing.T, dir string) int {
	t.Helper()
	var pid int
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "process-whoami.pid" {
			if b, err := os.ReadFile(path); err == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
		}
		return nil
	})
	return pid
}

// TestContinuityWebThroughViewChanges (issue 15, section 1; the design's
// "Continuity", corral help design): the demo's web runs whoami on its owner; a
// prober GETs it every 20 ms while another node is killed with kill -9
// (the demo's process device fences it: it stays down), started again
// (it rejoins), paused and resumed. Every probe answers, whoami keeps its
// pid, and the owner's events have no resource_stopped or group_offline
// for web, and no quorum_lost.
func TestContinuityWebThroughViewChanges(t *testing.T) {
	dir := t.TempDir()
	c := startMemberDemo(t, dir, continuityNet, 3, "--web=true")
	all := c.names
	c.waitFor(30*time.Second, 50*time.Millisecond, "one quorate view of n1 n2 n3", func() error { return c.oneView(all, all) })
	var owner string
	c.waitFor(30*time.Second, 50*time.Millisecond, "web online", func() error {
		st, o, err := c.groupOn("n1")
		if err == nil && st != "online" {
			err = fmt.Errorf("web is %s", st)
		}
		owner = o
		return err
	})
	victim := ""
	for _, n := range all {
		if n != owner {
			victim = n // the last non-owner
		}
	}
	ownerDir := filepath.Join(dir, owner)
	var pid int
	eventually(t, 10*time.Second, "whoami's pid file on "+owner, func() error {
		if pid = whoamiPID(t, ownerDir); pid == 0 || !alive(pid) {
			return fmt.Errorf("no live whoami pid under %s (%d)", ownerDir, pid)
		}
		return nil
	})
	type ev struct {
		Seq      int    `json:"seq"`
		Kind     string `json:"kind"`
		Group    string `json:"group"`
		Resource string `json:"resource"`
		Target   string `json:"target"`
		Votes    int    `json:"votes"`
		Needed   int    `json:"needed"`
	}
	var evs []ev
	if err := shellJSON(t, dir, owner, "events", &evs); err != nil {
		t.Fatal(err)
	}
	since := 0
	if len(evs) > 0 {
		since = evs[len(evs)-1].Seq
	}
	p := startProber(nodeAddr(continuityNet, owner), owner)
	p.settle(t, 25)
	members := func(want []string) func() error {
		return func() error {
			st, err := c.status(owner)
			if err == nil && (!slices.Equal(st.Members, want) || !st.Quorate) {
				err = fmt.Errorf("%s is in %v quorate=%v, want %v", owner, st.Members, st.Quorate, want)
			}
			return err
		}
	}
	state := func(want string) func() error {
		return func() error {
			st, err := c.status(owner)
			if err != nil {
				return err
			}
			for _, n := range st.Nodes {
				if n.Name == victim && n.State == want {
					return nil
				}
			}
			return fmt.Errorf("%s sees %s as %+v, want %s", owner, victim, st.Nodes, want)
		}
	}
	var rest []string
	for _, n := range all {
		if n != victim {
			rest = append(rest, n)
		}
	}
	pids := memberPIDs(dir, len(all))
	t.Logf("web on %s (whoami pid %d); kill -9 %s (pid %d)", owner, pid, victim, pids[slices.Index(all, victim)])
	if err := syscall.Kill(pids[slices.Index(all, victim)], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, 20*time.Millisecond, victim+" out of the view", members(rest))
	p.settle(t, 50)
	// The process device fences the dead incarnation by its pid file:
	// start it again only once the owner saw that fence confirmed, else a
	// fence still under way would kill the new incarnation.
	c.waitFor(20*time.Second, 20*time.Millisecond, victim+" fenced", func() error {
		var evs []fenceEventJSON
		if err := shellJSON(t, dir, owner, "events", &evs); err != nil {
			return err
		}
		for _, e := range evs {
			if e.Kind == "node_fenced" && e.Target == victim {
				return nil
			}
		}
		return fmt.Errorf("no node_fenced for %s in %s's %d events", victim, owner, len(evs))
	})
	t.Logf("start %s again", victim)
	c.restart()
	c.waitFor(30*time.Second, 20*time.Millisecond, victim+" back in the view", members(all))
	p.settle(t, 50)
	var res struct{ Node, Action, Message string }
	if err := shellJSON(t, dir, owner, "pause "+victim, &res); err != nil || res.Action != "pause" {
		t.Fatalf("pause %s: %+v %v", victim, res, err)
	}
	c.waitFor(10*time.Second, 20*time.Millisecond, victim+" paused", state("paused"))
	p.settle(t, 50)
	if err := shellJSON(t, dir, owner, "resume "+victim, &res); err != nil || res.Action != "resume" {
		t.Fatalf("resume %s: %+v %v", victim, res, err)
	}
	c.waitFor(10*time.Second, 20*time.Millisecond, victim+" online", state("online"))
	p.settle(t, 50)
	probes, misses := p.end()
	t.Logf("%d probes of http://%s:8080/, %d missed", probes, nodeAddr(continuityNet, owner), len(misses))
	if len(misses) > 0 {
		t.Errorf("probes of %s's whoami that did not answer: %d of %d:\n%s", owner, len(misses), probes, strings.Join(misses, "\n"))
	}
	if now := whoamiPID(t, ownerDir); now != pid || !alive(pid) {
		t.Errorf("whoami on %s was pid %d, now %d (alive %v): it was restarted", owner, pid, now, alive(pid))
	}
	evs = nil
	if err := shellJSON(t, dir, owner, "events --since "+strconv.Itoa(since), &evs); err != nil {
		t.Fatal(err)
	}
	var bad, seen []string
	for _, e := range evs {
		if e.Seq <= since {
			continue
		}
		s := fmt.Sprintf("%d %s %s%s%s", e.Seq, e.Kind, e.Group, e.Resource, e.Target)
		seen = append(seen, s)
		switch {
		case (e.Kind == "resource_stopped" || e.Kind == "resource_failed") && e.Resource == "whoami",
			e.Kind == "group_offline" && e.Group == "web",
			e.Kind == "quorum_lost":
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s's events disturb web or say quorum_lost: %v\nall since %d: %s%s", owner, bad, since, strings.Join(seen, "; "), c.logTails(30))
	}
}
