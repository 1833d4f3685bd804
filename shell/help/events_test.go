package help

import (
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
)

// notStreamed are the cores' event kinds the node does not put in the
// event stream (core/node events.go): they are logged or acted on.
var notStreamed = map[string]bool{"left": true, "flush_failed": true, "peer_restarted": true, "undeliverable": true}

// TestEventKindsDocumented: every event kind the cores record is in the
// events topic, as `kind`.
func TestEventKindsDocumented(t *testing.T) {
	doc, err := Source("events")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{crm.EvResourceStarted, crm.EvResourceStopped, crm.EvResourceFailed,
		crm.EvGroupOnline, crm.EvGroupOffline, crm.EvGroupMoved,
		fence.EventStarted, fence.EventFenced, fence.EventFailed, "dlm_recovered"}
	for k := 1; k < 64; k++ {
		if s := membership.EventKind(k).String(); !strings.HasPrefix(s, "EventKind(") {
			kinds = append(kinds, s)
		}
		if s := conn.EventKind(k).String(); !strings.HasPrefix(s, "EventKind(") {
			kinds = append(kinds, s)
		}
	}
	if len(kinds) < 20 {
		t.Fatalf("found only %d event kinds: %v", len(kinds), kinds)
	}
	for _, k := range kinds {
		if !notStreamed[k] && !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("event kind %s is not in the events topic (shell/help/events.md)", k)
		}
	}
}
