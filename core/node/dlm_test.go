package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/transport"
)

// nextNotice waits for the session's next notice that match accepts.
func nextNotice(t *testing.T, s *Session, what string, match func(Notice) bool) Notice {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case nt, ok := <-s.Notices():
			if !ok {
				t.Fatalf("%s: Notices closed", what)
			}
			if match(nt) {
				return nt
			}
		case <-deadline:
			t.Fatalf("%s: no such notice in 10 s", what)
		}
	}
}

// TestDLMSessions: the Go API on two in-process nodes. A session takes
// EX; another's NoQueue request fails (EAGAIN); one given up by its
// context is cancelled (ECANCEL with ctx.Err()) and blocks the holder
// (a blocking notice); an async request is granted once the holder
// unlocks, with the value block the holder wrote; the cluster-wide table
// shows it; a closed session's locks are released and its calls refused.
func TestDLMSessions(t *testing.T) {
	mem := transport.NewMemNetwork()
	nodes := startNodes(t, writeCluster(t, t.TempDir(), 171, 2), nodeSetup{mem: mem})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := nodes[0].n.NewSession(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := nodes[1].n.NewSession(0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner() == b.Owner() || a.Owner().ID == 0 {
		t.Fatalf("owners %+v and %+v", a.Owner(), b.Owner())
	}
	if j, err := nodes[0].n.NewSession(a.Owner().ID); err != nil || j.Owner() != a.Owner() {
		t.Fatalf("joining owner %d: %+v, %v", a.Owner().ID, j, err)
	} else {
		_ = j.Close()
	}

	ida, c, err := a.Lock(ctx, dlm.Request{Name: "r", Mode: dlm.EX, Flags: dlm.ValBlk})
	if err != nil || c.Status != dlm.OK || c.Mode != dlm.EX || c.ID != ida {
		t.Fatalf("EX: %+v, %v", c, err)
	}
	if _, c, err := b.Lock(ctx, dlm.Request{Name: "r", Mode: dlm.PR, Flags: dlm.NoQueue}); err != nil || c.Status != dlm.EAGAIN {
		t.Fatalf("NoQueue PR against EX: %+v, %v; want EAGAIN", c, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, c, err = b.Lock(short, dlm.Request{Name: "r", Mode: dlm.PR})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) || c.Status != dlm.ECANCEL {
		t.Fatalf("PR given up: %+v, %v; want ECANCEL and the context's error", c, err)
	}
	nt := nextNotice(t, a, "the holder's blocking notice", func(nt Notice) bool { return nt.Blocking != nil })
	if nt.Blocking.ID != ida || nt.Blocking.Mode != dlm.PR {
		t.Fatalf("blocking notice %+v, want lock %d blocking PR", *nt.Blocking, ida)
	}

	idb, err := b.LockAsync(dlm.Request{Name: "r", Mode: dlm.PR, Flags: dlm.ValBlk})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the async request waiting at its master", func() bool {
		infos, err := nodes[0].n.Locks(ctx, "")
		return err == nil && len(infos) == 1 && len(infos[0].Waiting) == 1
	})
	val := bytes.Repeat([]byte("v"), dlm.DefaultLVB)
	if c, err := a.Unlock(ida, dlm.ValBlk, val); err != nil || c.Status != dlm.EUNLOCK {
		t.Fatalf("unlock: %+v, %v", c, err)
	}
	nt = nextNotice(t, b, "the async grant", func(nt Notice) bool { return nt.Completion != nil })
	if got := *nt.Completion; got.ID != idb || got.Status != dlm.OK || got.Mode != dlm.PR || !bytes.Equal(got.LVB, val) {
		t.Fatalf("async PR: %+v, want granted with the value written", got)
	}
	infos, err := nodes[0].n.Locks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "r" || len(infos[0].Granted) != 1 || infos[0].Granted[0].Granted != dlm.PR ||
		infos[0].Granted[0].Owner != b.Owner() {
		t.Fatalf("the lock table: %+v", infos)
	}
	if st := nodes[1].n.DLMStats(); st.LocksHeld != 1 || st.Grants < 1 || st.Requests < 3 {
		t.Fatalf("n2's counters %+v", st)
	}

	if _, _, err := a.Lock(ctx, dlm.Request{Name: "r", Mode: dlm.EX, Flags: dlm.Convert, ID: idb}); !errors.Is(err, dlm.ErrNotFound) {
		t.Fatalf("converting another session's lock: %v, want ErrNotFound", err)
	}
	if _, err := a.Unlock(idb, 0, nil); !errors.Is(err, dlm.ErrNotFound) {
		t.Fatalf("unlocking another session's lock: %v, want ErrNotFound", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Lock(ctx, dlm.Request{Name: "r", Mode: dlm.EX}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("a closed session's lock: %v", err)
	}
	eventually(t, 10*time.Second, "EX free again after the session closed", func() bool {
		id, c, err := a.Lock(ctx, dlm.Request{Name: "r", Mode: dlm.EX, Flags: dlm.NoQueue})
		if err != nil {
			t.Fatal(err)
		}
		return c.Status == dlm.OK && id != 0
	})
}
