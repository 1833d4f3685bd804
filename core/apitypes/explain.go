package apitypes

// NodeExplain answers GET /v1/nodes/NAME/explain: why a node is or is not
// a member, paused, leaving or fenced, its links, and the last view
// change that touched it, as this node sees it.
type NodeExplain struct {
	Node        string       `json:"node"`
	State       string       `json:"state"` // joining, online, paused, leaving, offline, fenced
	Member      bool         `json:"member"`
	Self        bool         `json:"self"`
	Coordinator bool         `json:"coordinator"`
	Reachable   bool         `json:"reachable"`
	Refused     string       `json:"refused,omitempty"` // its quorum settings differ: what differs
	Links       []LinkStatus `json:"links,omitempty"`
	Fence       *FenceTarget `json:"fence,omitempty"`       // its fencing state, if any
	LastChange  *Event       `json:"last_change,omitempty"` // the last event that changed its membership
	Text        string       `json:"text"`
}

// QuorumExplain answers GET /v1/quorum/explain: the installed view's
// arithmetic in sentences and which members would have to fail together
// to lose quorum (the smallest sets, each minimal).
type QuorumExplain struct {
	QuorumStatus
	WaitForAll     bool       `json:"wait_for_all"`
	AutoTieBreaker bool       `json:"auto_tie_breaker"`
	Witness        bool       `json:"witness"` // a witness is configured
	Members        []string   `json:"members"`
	LossSets       [][]string `json:"loss_sets"`           // minimal sets of members whose failure loses quorum
	Fewest         int        `json:"fewest"`              // the size of the smallest; 0: none found
	Truncated      bool       `json:"truncated,omitempty"` // more sets than listed
	Text           string     `json:"text"`
}

// FenceExplain answers GET /v1/fence/NAME/explain: how a node is fenced
// (levels, devices), its last fence result, whether it is confirmed down
// and at which boot, and what is being waited for.
type FenceExplain struct {
	Node     string        `json:"node"`
	Levels   [][]string    `json:"levels"`
	Devices  []FenceDevice `json:"devices"`
	Watchdog bool          `json:"watchdog,omitempty"`
	Delay    string        `json:"delay,omitempty"`
	Target   *FenceTarget  `json:"target,omitempty"` // its fencing state now
	Last     *FenceRecord  `json:"last,omitempty"`   // its last finished operation in the history
	Waiting  string        `json:"waiting,omitempty"`
	Text     string        `json:"text"`
}
