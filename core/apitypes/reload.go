package apitypes

// Reloading every node (`reload --all`): the shell writes ReloadKey; each
// node watches it, reloads its scripts when it changes, and writes what
// happened to ReloadResultPrefix+NODE (a ReloadReport), which the shell
// reads back. A node that was down at the time loaded its scripts when it
// started: it has nothing to do.
const (
	ReloadKey          = "/cluster/reload/request"
	ReloadResultPrefix = "/cluster/reload-result/"
)

// ReloadReport is one node's answer to a reload of every node.
type ReloadReport struct {
	Request uint64   `json:"request"` // the revision of ReloadKey answered
	Node    string   `json:"node"`
	Message string   `json:"message"`           // what the reload changed, in words
	Restart []string `json:"restart,omitempty"` // what takes a restart (RestartNeeded)
	Error   string   `json:"error,omitempty"`   // the reload failed: the old scripts stay
}
