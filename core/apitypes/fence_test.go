package apitypes

import (
	"encoding/json"
	"testing"

	"github.com/corral-ha/corral/core/fence"
)

// TestFenceRecordJSON: the API's record is the fence core's record with its
// key, revision and time around it, and reads as it did when it was a type
// of its own (same names, same order; attempts as the core wrote them).
func TestFenceRecordJSON(t *testing.T) {
	stored, err := json.Marshal(fence.HistoryRecord{Op: "4/1.1", Target: "n3", Boot: 4, Reason: "left", State: fence.StateDone,
		Device: "ipmi", By: "n1", Attempts: []fence.HistoryAttempt{{Device: "ipmi", Level: 1, Round: 1, Runner: "n1", Result: "ok"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := FenceRecord{Key: "/fence/history/n3/0000000004-00001-000001"}
	if err := json.Unmarshal(stored, &r); err != nil {
		t.Fatal(err)
	}
	r.Revision, r.Time = 7, "2026-12-07T13:00:00.000Z"
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"/fence/history/n3/0000000004-00001-000001","op":"4/1.1","target":"n3","boot":4,"reason":"left","state":"done",` +
		`"device":"ipmi","by":"n1","attempts":[{"device":"ipmi","level":1,"round":1,"runner":"n1","result":"ok"}],` +
		`"revision":7,"time":"2026-12-07T13:00:00.000Z"}`
	if string(got) != want {
		t.Fatalf("FenceRecord JSON\n got %s\nwant %s", got, want)
	}
}
