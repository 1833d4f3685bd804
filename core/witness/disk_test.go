package witness

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newDisk opens node self's view of the witness file, with a sleep that
// runs during(i) (the other side's writes while this one waits) instead of
// waiting.
func newDisk(t *testing.T, path string, self uint16, during func()) *Disk {
	t.Helper()
	d, err := NewDisk(path, key, self, []uint16{1, 2, 3, 4}, time.Second, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	d.sleep = func(ctx context.Context, _ time.Duration) error {
		if during != nil {
			during()
		}
		return nil
	}
	return d
}

func view(epoch uint64, members ...uint16) View {
	return View{Epoch: epoch, Coord: members[0], Members: members}
}

func TestDiskClaimRenewAndHold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "witness")
	ctx := context.Background()
	a := newDisk(t, path, 1, nil)
	ans, err := a.Ask(ctx, 1, view(5, 1, 2), false)
	if err != nil || !ans.Granted || ans.LeaseMS < 1000 {
		t.Fatalf("a lone claim: %+v, %v", ans, err)
	}
	// While 1 keeps renewing, the other half is refused.
	b := newDisk(t, path, 3, func() {
		if _, err := a.Ask(ctx, 1, view(5, 1, 2), true); err != nil {
			t.Error(err)
		}
	})
	ans, err = b.Ask(ctx, 3, view(6, 3, 4), false)
	if err != nil || ans.Granted || !strings.Contains(ans.Reason, "holds the vote") {
		t.Fatalf("a claim against a live holder: %+v, %v", ans, err)
	}
	// 1 recorded view 5 [1 2] as primary: a set without 1 or 2 is refused
	// for good, even once 1 stops renewing.
	b.sleep = func(context.Context, time.Duration) error { return nil }
	ans, _ = b.Ask(ctx, 3, view(7, 3, 4), false)
	if ans.Granted || !strings.Contains(ans.Reason, "no member of the last primary view") {
		t.Fatalf("a set outside LP: %+v", ans)
	}
	// A set holding a member of LP gets it once the holder is silent.
	c := newDisk(t, path, 2, nil)
	ans, err = c.Ask(ctx, 2, view(8, 2, 3), false)
	if err != nil || !ans.Granted {
		t.Fatalf("a set with a member of LP after the holder went silent: %+v, %v", ans, err)
	}
	// And now the old holder, back, is refused on renewal.
	ans, _ = a.Ask(ctx, 1, view(5, 1, 2), true)
	if ans.Granted {
		t.Fatalf("the old holder renewed while another set holds the vote: %+v", ans)
	}
}

// TestDiskSimultaneousClaims: two halves claim at once; the one with the
// lowest node id gets the vote, the other does not.
func TestDiskSimultaneousClaims(t *testing.T) {
	path := filepath.Join(t.TempDir(), "witness")
	ctx := context.Background()
	var a, b *Disk
	var bAns Answer
	a = newDisk(t, path, 1, func() {
		// While 1 waits, 3 claims and waits too, seeing 1 alive.
		var err error
		bAns, err = b.Ask(ctx, 3, view(9, 3, 4), false)
		if err != nil {
			t.Error(err)
		}
	})
	b = newDisk(t, path, 3, func() {
		if err := a.write([]uint16{1, 2}, false, view(9, 1, 2), false); err != nil {
			t.Error(err)
		}
	})
	ans, err := a.Ask(ctx, 1, view(9, 1, 2), false)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Granted || bAns.Granted {
		t.Fatalf("simultaneous claims: [1 2] granted=%v (%s), [3 4] granted=%v (%s); want only [1 2]",
			ans.Granted, ans.Reason, bAns.Granted, bAns.Reason)
	}
}

func TestDiskIgnoresForgedSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "witness")
	ctx := context.Background()
	a := newDisk(t, path, 1, nil)
	if _, err := a.Ask(ctx, 1, view(5, 1, 2), true); err != nil {
		t.Fatal(err)
	}
	other, err := NewDisk(path, []byte("another key, 32 bytes long......"), 3, []uint16{1, 2, 3, 4}, time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	all, err := other.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Fatalf("a node with another key read %d slots", len(all))
	}
}
