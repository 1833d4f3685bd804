package node

import (
	"context"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// TestCDBTxnAsRetry: a retry with the same (client, seq) gets the original
// result and applies nothing, even with other operations; an older seq is
// answered Old; the caller's ids are kept apart from the node's own.
func TestCDBTxnAsRetry(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, writeCluster(t, dir, 84, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := func(v string) []cdb.Op { return []cdb.Op{{Kind: cdb.OpPut, Key: "/k", Value: []byte(v)}} }
	var first cdb.Result
	eventually(t, 20*time.Second, "a first write", func() bool {
		var err error
		first, err = n.CDBTxnAs(ctx, "deployer", 1, nil, put("one"))
		return err == nil
	})
	if !first.OK {
		t.Fatalf("first %+v", first)
	}
	if _, err := n.CDBSet(ctx, "/other", []byte("x")); err != nil { // the node's own client in between
		t.Fatal(err)
	}
	again, err := n.CDBTxnAs(ctx, "deployer", 1, nil, put("two"))
	if err != nil || again != first {
		t.Fatalf("retry: %+v %v, want the original %+v", again, err, first)
	}
	kv, _, _, _ := n.CDBGet("/k")
	if string(kv.Value) != "one" || kv.ModRev != first.Rev {
		t.Fatalf("after the retry /k is %+v", kv)
	}
	second, err := n.CDBTxnAs(ctx, "deployer", 2, []cdb.Cond{{Key: "/k", ModRev: first.Rev}}, put("three"))
	if err != nil || !second.OK || second.Rev <= first.Rev {
		t.Fatalf("seq 2: %+v %v", second, err)
	}
	if old, err := n.CDBTxnAs(ctx, "deployer", 1, nil, put("four")); err != nil || !old.Old || old.OK {
		t.Fatalf("seq 1 after seq 2: %+v %v, want Old", old, err)
	}
	if _, err := n.CDBTxnAs(ctx, "", 1, nil, put("x")); err == nil {
		t.Fatal("an empty client was accepted")
	}
	hs, _ := n.CDBHistory(100)
	applied := 0
	for _, h := range hs {
		if h.Client == apiClientPrefix+"deployer" {
			applied++
		}
	}
	// seq 1 and seq 2 are applied once each; the retries are answered
	// from the dedupe table without a history entry
	kv, _, _, _ = n.CDBGet("/k")
	if string(kv.Value) != "three" || kv.ModRev != second.Rev {
		t.Fatalf("/k is %+v, want three at %d", kv, second.Rev)
	}
	if applied != 2 {
		t.Fatalf("%d history entries, want 2, of client of client %q in %+v", applied, apiClientPrefix+"deployer", hs)
	}
}
