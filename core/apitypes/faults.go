package apitypes

// FaultSpec is the body of POST /v1/debug/faults (debug fault in the shell).
type FaultSpec struct {
	Peer  string  `json:"peer"`  // a node name; "" = every peer
	Link  *int    `json:"link"`  // this node's link; -1 or absent = every link
	Dir   string  `json:"dir"`   // in, out or both (default both)
	Drop  float64 `json:"drop"`  // probability 0..1
	Delay string  `json:"delay"` // added latency, e.g. "100ms"
	Dup   float64 `json:"dup"`   // probability 0..1
}

// FaultInfo is one active fault rule, as GET /v1/debug/faults lists it.
type FaultInfo struct {
	ID    uint64  `json:"id"`
	Peer  string  `json:"peer"` // node name, "" for every peer
	Link  int     `json:"link"` // -1: every link
	Dir   string  `json:"dir"`
	Drop  float64 `json:"drop"`
	Delay string  `json:"delay"`
	Dup   float64 `json:"dup"`
}

// FaultAdded answers POST /v1/debug/faults.
type FaultAdded struct {
	ID    uint64    `json:"id"`
	Fault FaultInfo `json:"fault"`
}

// FaultsRemoved answers DELETE /v1/debug/faults[/ID].
type FaultsRemoved struct {
	Removed int `json:"removed"`
}
