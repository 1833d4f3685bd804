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
