package apitypes

// NodeInfo is one configured node in GET /v1/nodes.
type NodeInfo struct {
	Name        string `json:"name"`
	ID          int    `json:"id"`
	State       string `json:"state"` // joining, online, paused, leaving, offline, fenced
	Reachable   bool   `json:"reachable"`
	Self        bool   `json:"self"`        // the node serving this API
	Member      bool   `json:"member"`      // in the installed view
	Coordinator bool   `json:"coordinator"` // the installed view's coordinator
	LinksUp     int    `json:"links_up"`
	Links       int    `json:"links"`
}

// Link is one path to a peer in GET /v1/links.
type Link struct {
	Peer   string `json:"peer"`
	Local  int    `json:"local"`  // this node's link
	Remote int    `json:"remote"` // the peer's link
	Up     bool   `json:"up"`     // both directions work
	In     bool   `json:"in"`     // this node hears the peer on it
	Out    bool   `json:"out"`    // the peer hears this node on it
	RTT    string `json:"rtt"`    // smoothed round trip, "" if unknown
}

// ActionResult answers POST /v1/nodes/NAME/ACTION.
type ActionResult struct {
	Node    string `json:"node"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

// ActionRequest is the optional body of a node action.
type ActionRequest struct{}
