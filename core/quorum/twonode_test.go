package quorum_test

import (
	"testing"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

func TestTwoNodeAlone(t *testing.T) {
	two := quorum.Config{Votes: uniform(2), Policy: quorum.Majority, TwoNode: true}
	for _, c := range []struct {
		name                      string
		cfg                       quorum.Config
		members                   []wire.NodeID
		primary, paired, peerDown bool
		want                      quorum.Alone
	}{
		{"both nodes", two, ids(1, 2), true, false, false, quorum.NotAlone},
		{"not two_node", maj(uniform(2)), ids(1), true, true, false, quorum.NotAlone},
		{"not primary", two, ids(1), false, true, true, quorum.NotAlone},
		{"restarted alone", two, ids(2), true, false, true, quorum.AloneIdle},
		{"split, peer not fenced yet", two, ids(1), true, true, false, quorum.AloneFencing},
		{"peer fenced", two, ids(2), true, true, true, quorum.AloneActing},
	} {
		if got := quorum.TwoNodeAlone(c.cfg, c.members, c.primary, c.paired, c.peerDown); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
