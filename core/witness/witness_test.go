package witness

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newArb(t *testing.T, dir string, now *time.Time) *Arbiter {
	t.Helper()
	a, err := NewArbiter(Config{Cluster: "c", Key: key, Dir: dir, Lease: 2 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return *now }
	a.mono = func() time.Duration { return now.Sub(time.Unix(0, 0)) }
	return a
}

// TestWallClockStepKeepsGrant (issue 21, a clock step): the arbiter's wall
// clock jumps an hour ahead (NTP, an operator) while its monotonic clock
// moves 100 ms: the grant holds until its lease ends by the monotonic
// clock, so a second partition does not get the vote while the first
// still counts on it. Before, the grant's end was compared in wall-clock
// milliseconds and the jump gave the vote away at once.
func TestWallClockStepKeepsGrant(t *testing.T) {
	wall := time.Unix(1000, 0)
	var mono time.Duration
	a, err := NewArbiter(Config{Cluster: "c", Key: key, Dir: t.TempDir(), Lease: 2 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return wall }
	a.mono = func() time.Duration { return mono }
	if ans := a.Decide(req(1, 5, false, 1, 2)); !ans.Granted {
		t.Fatalf("first partition: %+v", ans)
	}
	wall, mono = wall.Add(time.Hour), mono+100*time.Millisecond
	if ans := a.Decide(req(3, 5, false, 3, 4)); ans.Granted || !strings.Contains(ans.Reason, "vote held by [1 2] for 1.9s more") {
		t.Fatalf("after a wall-clock step of an hour, 100ms after the grant: %+v", ans)
	}
	wall, mono = wall.Add(-2*time.Hour), mono+2*time.Second // and back: the lease still ends
	if ans := a.Decide(req(3, 5, false, 3, 4)); !ans.Granted {
		t.Fatalf("after the lease, with the wall clock stepped back: %+v", ans)
	}
}

func req(node uint16, epoch uint64, installed bool, members ...uint16) Request {
	return Request{Cluster: "c", Node: node, View: View{Epoch: epoch, Coord: members[0], Members: members}, Installed: installed}
}

func TestOnePartitionAtATime(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newArb(t, t.TempDir(), &now)
	if ans := a.Decide(req(1, 5, false, 1, 2)); !ans.Granted || ans.LeaseMS != 2000 {
		t.Fatalf("first partition: %+v", ans)
	}
	if ans := a.Decide(req(3, 5, false, 3, 4)); ans.Granted || !strings.Contains(ans.Reason, "vote held by [1 2]") {
		t.Fatalf("second partition while the first holds the vote: %+v", ans)
	}
	// The holder's other member renews (member order does not matter).
	now = now.Add(time.Second)
	if ans := a.Decide(req(2, 6, true, 2, 1)); !ans.Granted || ans.LP == nil || ans.LP.Epoch != 6 {
		t.Fatalf("renewal by the other member: %+v", ans)
	}
	// After the lease ends, another set may have it, if it holds a member of LP.
	now = now.Add(3 * time.Second)
	if ans := a.Decide(req(3, 7, false, 3, 4)); ans.Granted || !strings.Contains(ans.Reason, "no member of the last primary view") {
		t.Fatalf("a set without a member of LP 6/1 [1 2]: %+v", ans)
	}
	if ans := a.Decide(req(2, 7, false, 2, 3)); !ans.Granted {
		t.Fatalf("a set with a member of LP after the lease: %+v", ans)
	}
}

func TestGrantSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1000, 0)
	a := newArb(t, dir, &now)
	if ans := a.Decide(req(1, 5, true, 1, 2)); !ans.Granted {
		t.Fatal(ans)
	}
	b := newArb(t, dir, &now) // a restart reads arbiter.json
	if ans := b.Decide(req(3, 6, false, 3, 4)); ans.Granted {
		t.Fatalf("a restarted arbiter forgot the grant it had: %+v", ans)
	}
	if b.st.LP == nil || b.st.LP.Epoch != 5 {
		t.Fatalf("LP after restart: %+v", b.st.LP)
	}
}

func TestRefusals(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newArb(t, t.TempDir(), &now)
	r := req(9, 5, false, 1, 2)
	if ans := a.Decide(r); ans.Granted {
		t.Fatalf("granted to a node outside the view: %+v", ans)
	}
	r = req(1, 5, false, 1, 2)
	r.Cluster = "other"
	if ans := a.Decide(r); ans.Granted || !strings.Contains(ans.Reason, "cluster") {
		t.Fatalf("wrong cluster: %+v", ans)
	}
}

func serve(t *testing.T, a *Arbiter) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go a.Serve(l)
	return l.Addr().String()
}

func TestOverTCP(t *testing.T) {
	now := time.Now()
	a := newArb(t, t.TempDir(), &now)
	addr := serve(t, a)
	c, err := NewClient(addr, "c", key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ans, err := c.Ask(ctx, 1, View{Epoch: 3, Coord: 1, Members: []uint16{1, 2}}, false)
	if err != nil || !ans.Granted {
		t.Fatalf("ask: %+v, %v", ans, err)
	}
	bad, _ := NewClient(addr, "c", []byte("another key, 32 bytes long......"))
	if _, err := bad.Ask(ctx, 3, View{Epoch: 3, Coord: 3, Members: []uint16{3, 4}}, false); err == nil {
		t.Fatal("a client with another key got an answer")
	}
	if !a.stGrant([]uint16{1, 2}) {
		t.Fatal("the unauthenticated request changed the grant")
	}
}

func (a *Arbiter) stGrant(want []uint16) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.st.Grant) == len(want) && a.st.Grant[0] == want[0]
}

func TestFrameAuth(t *testing.T) {
	k1, _ := macKey(key)
	k2, _ := macKey([]byte("another key, 32 bytes long......"))
	var buf strings.Builder
	if err := writeFrame(&buf, k1, Answer{Granted: true}); err != nil {
		t.Fatal(err)
	}
	var ans Answer
	if err := readFrame(strings.NewReader(buf.String()), k2, &ans); !errors.Is(err, ErrAuth) {
		t.Fatalf("frame for another cluster: %v", err)
	}
	tampered := []byte(buf.String())
	tampered[10] ^= 1
	if err := readFrame(strings.NewReader(string(tampered)), k1, &ans); err == nil {
		t.Fatal("tampered frame accepted")
	}
}
