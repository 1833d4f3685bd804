package node

import (
	"context"
	"testing"
	"time"
)

// TestCDBReadWhileNotActing: a linearizable read begun while the node is
// in a primary view but has not taken its lease yet (the wait after every
// view install: here the node's first view) waits for the lease and is
// served, rather than failing at once with no quorum (the API's 503 on a
// quorate cluster at every view change).
func TestCDBReadWhileNotActing(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, writeCluster(t, dir, 86, 1)[0])
	eventually(t, 20*time.Second, "a primary view that is not acting yet", func() bool {
		q, err := n.QuorumDoc()
		return err == nil && q.Primary && !q.Quorate
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := n.CDBGetLinear(ctx, "/k"); err != nil {
		t.Fatalf("a read begun in a primary view before its lease was taken: %v", err)
	}
}
