package apitypes

// Event is one entry of the node's event stream, as the API and the shell
// show it (corral help events).
type Event struct {
	Seq  uint64 `json:"seq"`  // this node's event number, never reused
	Time string `json:"time"` // RFC 3339 with milliseconds, for people
	Kind string `json:"kind"`
	Node string `json:"node"` // the node that recorded it
	View string `json:"view"` // "epoch/coordinator", "" before the first view

	Members []string `json:"members,omitempty"` // view_changed
	Primary *bool    `json:"primary,omitempty"` // view_changed
	Target  string   `json:"target,omitempty"`  // node_*
	Clean   *bool    `json:"clean,omitempty"`   // node_left
	Votes   *int     `json:"votes,omitempty"`   // quorum_*
	Needed  *int     `json:"needed,omitempty"`  // quorum_*
	Peer    string   `json:"peer,omitempty"`    // link_*, peer_*
	Link    *int     `json:"link,omitempty"`    // link_*: this node's link
	Remote  *int     `json:"remote_link,omitempty"`
	Detail  string   `json:"detail,omitempty"`

	// resource_* {resource, group, on, error}, group_online/offline
	// {group, owner, reason}, group_moved {group, from, to}
	Resource string `json:"resource,omitempty"`
	Group    string `json:"group,omitempty"`
	On       string `json:"on,omitempty"`
	Error    string `json:"error,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Reason   string `json:"reason,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`

	// fence_started {target, device}, node_fenced {target, device, by},
	// fence_failed {target, device, error}
	Device string `json:"device,omitempty"`
	By     string `json:"by,omitempty"`

	// quorum_unblocked {members, written_off, expected, by}: an operator
	// unblocked quorum on node by in view view: the nodes written_off no
	// longer count, expected is the votes of members, the reference from
	// then on.
	WrittenOff []string `json:"written_off,omitempty"`
	Expected   *int     `json:"expected,omitempty"`

	// dlm_recovered {members, purged, resources, took}: a lock manager
	// recovery finished (members is the view's; purged the departed
	// nodes whose locks were dropped; resources how many were rebuilt;
	// took from the view's change to the end, as "1.2s").
	Purged    []string `json:"purged,omitempty"`
	Resources *int     `json:"resources,omitempty"`
	Took      string   `json:"took,omitempty"`

	// disk_served, disk_stopped, disk_failed {disk, server, epoch,
	// reason}: a served disk's server announced itself at an epoch,
	// stopped, or requests failed (server: its node name).
	Disk   string  `json:"disk,omitempty"`
	Server string  `json:"server,omitempty"`
	Epoch  *uint64 `json:"epoch,omitempty"`
}
