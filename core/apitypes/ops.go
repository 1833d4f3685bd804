package apitypes

// FenceConfirmRequest is the body of POST /v1/fence/NODE/confirm: Yes
// must be true (the operator confirmed the node is powered off).
type FenceConfirmRequest struct {
	Yes bool `json:"yes"`
}

// FenceConfirm answers POST /v1/fence/NODE/confirm.
type FenceConfirm struct {
	Target string `json:"target"`
	// Confirmed: the fence core recorded it (a primary view): every member
	// recorded node_fenced (device "manual") and what waited for the fence
	// of Target goes on.
	Confirmed bool `json:"confirmed"`
	// Declared: this node's view is not primary: the word is kept on this
	// node, counts for `quorum unblock`, and is confirmed through the fence
	// core once this node is in a primary view.
	Declared bool   `json:"declared"`
	Message  string `json:"message"`
}

// QuorumUnblockRequest is the body of POST /v1/quorum/unblock: Yes must
// be true (the operator confirmed the written-off nodes are down).
type QuorumUnblockRequest struct {
	Yes bool `json:"yes"`
}

// QuorumUnblock answers GET /v1/quorum/unblock (what it would do) and
// POST /v1/quorum/unblock (what it did).
type QuorumUnblock struct {
	Cluster    string          `json:"cluster"`
	View       string          `json:"view"`
	Members    []string        `json:"members"`
	Before     string          `json:"before"` // the arithmetic before: "not primary: 1 of 3 votes ..."
	WrittenOff []UnblockTarget `json:"written_off"`
	Expected   int             `json:"expected_votes"` // the votes of the view: the reference from now on
	Was        int             `json:"was_votes"`      // the votes it was judged against
	// Chain (majority policy): the reference follows the primary views
	// from the unblock on, until one holds the plain majority again.
	Chain bool `json:"chain"`
	// Blocked says why it is refused (empty: it may be given).
	Blocked string `json:"blocked,omitempty"`
	// Done (POST): this node is in a primary view, after the unblocked
	// one, that holds all of its members: the unblock took effect.
	// Primary: this node's view is primary now.
	Done    bool `json:"done"`
	Primary bool `json:"primary"`
	// Holders (POST, when not Done): the members known to hold the
	// unblocked lineage; Missing: the others. An unblock that not every
	// member carried out makes only a view of all of them primary: retry
	// `quorum unblock` in the view the survivors have now.
	Holders []string `json:"holders,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

// UnblockTarget is one node an unblock writes off.
type UnblockTarget struct {
	Node string `json:"node"`
	Down bool   `json:"down"`
	How  string `json:"how"`
}
