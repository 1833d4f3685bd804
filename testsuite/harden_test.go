package testsuite

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fdCount is how many descriptors pid has open.
func fdCount(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestConnectionFloodKeepsNode (issue 22): clients without the token open
// thousands of connections to a node's TCP admin API (each sends a
// request and keeps its connection, or sends nothing) and to its DNS over
// TCP, for longer than the API's header timeout. The node runs with 1024
// descriptors; before the fix it reached its limit, its admin socket
// stopped answering and web's monitor failed. Now its descriptors stay
// well under the limit, web stays online with no monitor failure, whoami
// answers, the Unix socket answers during the flood and the TCP API
// answers a client with the token once the flood ends.
func TestConnectionFloodKeepsNode(t *testing.T) {
	const block = "127.150"
	const limit = 1024
	dir := t.TempDir()
	startDemoArgs(t, dir, block, 1, "--web=true")
	webOnline(t, dir, "n1", "web", "n1", 30*time.Second)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	token := "flood-test-token-0123456789"
	tokenFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiAddr := block + ".0.1:5421"
	f, err := os.OpenFile(filepath.Join(dir, "n1", "corral.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "\n[api]\nlisten = %q\ntoken_file = %q\n", apiAddr, tokenFile)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// the demo and its agent get `limit` descriptors (soft and hard)
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, limit),
		corralBin(t), "demo", "--detach", "--dir", dir)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo --detach with ulimit -n %d: %v\n%s", limit, err, out)
	}
	pid := demoPIDs(t, dir, 1)[0]
	webOnline(t, dir, "n1", "web", "n1", 30*time.Second)
	answers(t, block+".0.1", "n1", 10*time.Second)
	var before []map[string]any
	if err := shellJSON(t, dir, "n1", "events", &before); err != nil {
		t.Fatal(err)
	}
	failures := func(evs []map[string]any) int {
		n := 0
		for _, e := range evs {
			if e["kind"] == "resource_failed" {
				n++
			}
		}
		return n
	}

	const hold = 12 * time.Second // > the API's 5 s header timeout
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials, opened atomic.Int64
	flood := func(addr string, send func(net.Conn) error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			dials.Add(1)
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			opened.Add(1)
			if send != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_ = send(c)
			}
			// hold it until the server closes it or the flood ends
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c)
				close(done)
			}()
			select {
			case <-done:
			case <-stop:
			}
			c.Close()
		}
	}
	unauth := func(c net.Conn) error {
		_, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: n1\r\n\r\n")
		return err
	}
	dnsQuery := func(c net.Conn) error {
		// a TCP DNS query for web.demo.corral. A (2-byte length first)
		q := []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
			3, 'w', 'e', 'b', 4, 'd', 'e', 'm', 'o', 6, 'c', 'o', 'r', 'r', 'a', 'l', 0, 0, 1, 0, 1}
		_, err := c.Write(append([]byte{0, byte(len(q))}, q...))
		return err
	}
	for i := 0; i < 1200; i++ {
		wg.Add(1)
		switch i % 3 {
		case 0:
			go flood(apiAddr, unauth)
		case 1:
			go flood(apiAddr, nil)
		default:
			go flood(block+".0.1:8053", dnsQuery)
		}
	}
	maxFD := 0
	var problems []string
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		maxFD = max(maxFD, fdCount(pid))
		if _, err := shellStatus(t, dir, "n1"); err != nil {
			problems = append(problems, "admin socket: "+err.Error())
		}
		if got, err := curl(block + ".0.1"); err != nil || got != "n1" {
			problems = append(problems, fmt.Sprintf("whoami: %q %v", got, err))
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("flood: %d dials, %d connections opened; the node's descriptors peaked at %d of %d", dials.Load(), opened.Load(), maxFD, limit)
	if len(problems) > 0 {
		t.Errorf("during the flood (%d problems), first ones: %s", len(problems), strings.Join(problems[:min(5, len(problems))], "; "))
	}
	if maxFD > limit*3/4 {
		t.Errorf("the node held %d descriptors of %d during the flood, want at most %d (a reserve for its own work)", maxFD, limit, limit*3/4)
	}
	var after []map[string]any
	if err := shellJSON(t, dir, "n1", "events", &after); err != nil {
		t.Fatal(err)
	}
	if n := failures(after) - failures(before); n > 0 {
		t.Errorf("%d resource_failed events during the flood: %v", n, after[len(before):])
	}
	g, err := webGroup(t, dir, "n1", "web")
	if err != nil || g.State != "online" || g.Owner != "n1" {
		t.Errorf("web after the flood: %+v %v", g, err)
	}
	// a client with the token gets in once the flood has gone
	eventually(t, 10*time.Second, "GET /v1/status over TCP with the token", func() error {
		c, err := net.DialTimeout("tcp", apiAddr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: n1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", token)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.Contains(line, " 200 ") {
			return fmt.Errorf("answered %q", line)
		}
		return nil
	})
}
