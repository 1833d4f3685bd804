package node

import (
	"context"
	"testing"
	"time"
)

// TestFenceHistoryInTimeOrder: the fence history lists its records in
// the order they were written (not by target name, as the keys sort),
// each with the time of its write in the events' format.
func TestFenceHistoryInTimeOrder(t *testing.T) {
	n := startNode(t, writeCluster(t, t.TempDir(), 130, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eventually(t, 20*time.Second, "a first write", func() bool {
		_, err := n.CDBSet(ctx, "/fence/history/n3/0000000002-00001-000001", []byte(`{"op":"a","target":"n3","state":"done"}`))
		return err == nil
	})
	if _, err := n.CDBSet(ctx, "/fence/history/n1/0000000003-00001-000001", []byte(`{"op":"b","target":"n1","state":"done"}`)); err != nil {
		t.Fatal(err)
	}
	h, err := n.FenceHistory()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Target != "n3" || h[1].Target != "n1" || h[0].Revision >= h[1].Revision {
		t.Fatalf("history %+v: want n3's record, then n1's (the order of the writes)", h)
	}
	for _, r := range h {
		if _, err := time.Parse(TimeLayout, r.Time); err != nil || len(r.Time) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("record %s: time %q, want the events' format %s (%v)", r.Op, r.Time, TimeLayout, err)
		}
	}
}
