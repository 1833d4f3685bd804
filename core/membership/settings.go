package membership

import (
	"fmt"
	"strconv"
	"strings"
)

// Settings renders the quorum-relevant configuration that every node of a
// cluster must share (corral help design): the node list with votes,
// the policy and its options, and the lease timing.
func Settings(c Config) string {
	c.fillDefaults()
	var votes []string
	for _, id := range sortedIDs(c.Nodes) {
		votes = append(votes, strconv.Itoa(int(id))+":"+strconv.Itoa(c.Quorum.Votes[id]))
	}
	q := c.Quorum
	return strings.Join([]string{
		"nodes=" + strings.Join(votes, ","),
		"policy=" + string(q.Policy),
		"two_node=" + strconv.FormatBool(q.TwoNode),
		"wait_for_all=" + strconv.FormatBool(q.WaitForAll),
		"auto_tie_breaker=" + strconv.FormatBool(q.AutoTieBreaker),
		"window=" + q.Window.String(),
		"lease=" + c.Lease.String(),
		"margin=" + c.Margin.String(),
		"drift=" + strconv.FormatFloat(c.Drift, 'g', -1, 64),
	}, " ")
}

// diffSettings names the settings that differ: "policy: ours majority,
// theirs last_man_standing".
func diffSettings(ours, theirs string) string {
	o, t := splitSettings(ours), splitSettings(theirs)
	var out []string
	for _, kv := range strings.Fields(ours) {
		k, _, _ := strings.Cut(kv, "=")
		if o[k] != t[k] {
			out = append(out, fmt.Sprintf("%s: ours %q, theirs %q", k, o[k], t[k]))
		}
	}
	for _, kv := range strings.Fields(theirs) {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := o[k]; !ok {
			out = append(out, fmt.Sprintf("%s: ours unset, theirs %q", k, t[k]))
		}
	}
	if len(out) == 0 {
		return "settings differ"
	}
	return strings.Join(out, "; ")
}

func splitSettings(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(s) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
