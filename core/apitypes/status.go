package apitypes

// Status is the node's state as the admin API serves it (corral help
// start, `status --json`).
type Status struct {
	Cluster     string       `json:"cluster"`
	Node        string       `json:"node"`
	Boot        uint32       `json:"boot"`
	Epoch       uint64       `json:"epoch"`       // installed view's epoch, 0 before the first view
	Coordinator string       `json:"coordinator"` // installed view's coordinator
	View        string       `json:"view"`        // "epoch/coordinator"
	Primary     bool         `json:"primary"`     // the installed view is primary
	Quorate     bool         `json:"quorate"`     // primary view and lease held
	Quorum      string       `json:"quorum"`      // the arithmetic in words
	Members     []string     `json:"members"`     // installed view's members
	Nodes       []NodeStatus `json:"nodes"`       // every configured node
	Uptime      string       `json:"uptime"`
}

// NodeStatus is one configured node as this node sees it.
type NodeStatus struct {
	Name      string       `json:"name"`
	ID        int          `json:"id"`
	State     string       `json:"state"` // joining, online, paused, leaving, offline, fenced
	Reachable bool         `json:"reachable"`
	Links     []LinkStatus `json:"links,omitempty"`
}

// LinkStatus is one path to a peer.
type LinkStatus struct {
	Local  int    `json:"local"`
	Remote int    `json:"remote"`
	Up     bool   `json:"up"`
	In     bool   `json:"in"`
	Out    bool   `json:"out"`
	RTT    string `json:"rtt,omitempty"`
}

// QuorumStatus is the installed view's quorum arithmetic, for the API's
// GET /v1/quorum and the shell's `quorum`.
type QuorumStatus struct {
	View        string `json:"view"`        // "epoch/coordinator", "" before the first view
	Primary     bool   `json:"primary"`     // the installed view is primary
	Quorate     bool   `json:"quorate"`     // primary and the lease holds: this node may act
	Votes       int    `json:"votes"`       // votes that count
	Needed      int    `json:"needed"`      // votes needed
	Total       int    `json:"total"`       // votes of the reference set
	Reference   string `json:"reference"`   // what the view was judged against
	Policy      string `json:"policy"`      // [quorum] policy
	TwoNode     bool   `json:"two_node"`    // [quorum] two_node
	TieBreaker  string `json:"tie_breaker"` // what broke a tie, if one was broken
	Reason      string `json:"reason"`      // why not primary
	Explanation string `json:"explanation"` // the arithmetic in words
}
