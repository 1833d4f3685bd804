package apitypes

// GroupStatus is one group as `groups --json` prints it.
type GroupStatus struct {
	Name      string           `json:"name"`
	State     string           `json:"state"`
	Owner     string           `json:"owner"`
	Address   string           `json:"address"`
	Reason    string           `json:"reason"`
	Target    string           `json:"target"`
	Resources []ResourceStatus `json:"resources"`
}

// ResourceStatus is one resource as `resources --json` prints it.
type ResourceStatus struct {
	Name  string `json:"name"`
	Agent string `json:"agent,omitempty"`
	Group string `json:"group"`
	State string `json:"state"`
	Node  string `json:"node"`
	Error string `json:"error,omitempty"`
}

// MoveRequest is the body of POST /v1/groups/NAME/move.
type MoveRequest struct {
	Node string `json:"node,omitempty"` // "": away from the current owner
	For  string `json:"for,omitempty"`  // a duration ("30s"); "": until another move
}

// GroupAction answers move, start and stop.
type GroupAction struct {
	Group  string `json:"group"`
	Action string `json:"action"` // move, start, stop
	Node   string `json:"node,omitempty"`
	For    string `json:"for,omitempty"`
}

// ExplainResult answers GET /v1/groups/NAME/explain.
type ExplainResult struct {
	Group string `json:"group"`
	Text  string `json:"text"`
}

// CleanupResult answers POST /v1/resources/NAME/cleanup.
type CleanupResult struct {
	Resource string `json:"resource"`
}
