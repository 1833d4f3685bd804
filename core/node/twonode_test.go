package node

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMembershipPersistFailureStops: the disk refuses n2's membership
// state (promise, epoch, lineage) at the view change after n1 stops: n2
// stops, its Run returning the write's error, instead of going on with
// a promise that is only in memory.
func TestMembershipPersistFailureStops(t *testing.T) {
	nodes := startNodes(t, writeCluster(t, t.TempDir(), 104, 2), nodeSetup{})
	errDisk := errors.New("injected disk failure")
	if err := nodes[1].n.do(func() {
		nodes[1].n.store.putFault = func(key []byte) error {
			if bytes.Equal(key, keyMembership) {
				return errDisk
			}
			return nil
		}
	}); err != nil {
		t.Fatal(err)
	}
	nodes[0].stop()
	select {
	case err := <-nodes[1].done:
		nodes[1].done <- err // for the cleanup
		if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "membership") {
			t.Fatalf("n2's Run ended with %v, want the membership write's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n2 went on after its membership state could not be written")
	}
}
