package apitypes

// CDBKey is one key of the configuration database.
type CDBKey struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	Revision       uint64 `json:"revision"`        // the revision that last changed it
	CreateRevision uint64 `json:"create_revision"` // the revision that created it
}

// CDBGetResult answers GET /v1/cdb/KEY.
type CDBGetResult struct {
	CDBKey
	// Stale: this node is not quorate (or is catching up): the value is its
	// last known state and may be old.
	Stale bool `json:"stale"`
}

// CDBListResult answers GET /v1/cdb?prefix=P.
type CDBListResult struct {
	Prefix   string   `json:"prefix"`
	Revision uint64   `json:"revision"` // the database's committed revision
	Stale    bool     `json:"stale"`
	Keys     []CDBKey `json:"keys"`
}

// CDBSetRequest is the body of PUT or POST /v1/cdb/KEY.
type CDBSetRequest struct {
	Value string `json:"value"`
	// IfRevision, when set, makes the set conditional: the key's revision
	// must be this (0: the key must not exist).
	IfRevision *uint64 `json:"if_revision,omitempty"`
	// Client and Seq, when set, name the request so a retry is safe: a
	// caller that got no answer (or "outcome unknown") sends the same
	// request with the same client and seq, and gets the original result
	// without a second apply. Seq grows by one per new request of Client,
	// from 1. The headers Corral-Client and Corral-Seq do the same (and
	// are the way for DELETE).
	Client string `json:"client,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

// CDBWriteResult answers a write.
type CDBWriteResult struct {
	Key      string `json:"key"`
	Op       string `json:"op"`               // set or delete
	Revision uint64 `json:"revision"`         // the revision the update got
	OK       bool   `json:"ok"`               // false: the if_revision condition failed, nothing changed
	Client   string `json:"client,omitempty"` // the request id, when the caller gave one
	Seq      uint64 `json:"seq,omitempty"`
}

// CDBOp is one operation of a change.
type CDBOp struct {
	Op    string `json:"op"` // set or delete
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// CDBCond is one condition of a change.
type CDBCond struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
}

// CDBChange is one applied update in GET /v1/cdb-history.
type CDBChange struct {
	Revision uint64    `json:"revision"`
	View     string    `json:"view"`
	Node     int       `json:"node"`      // the id of the node that took the request
	NodeName string    `json:"node_name"` // its name
	Client   string    `json:"client"`
	Seq      uint64    `json:"seq"`
	Time     string    `json:"time"`
	If       []CDBCond `json:"if,omitempty"`
	Ops      []CDBOp   `json:"ops"`
	OK       bool      `json:"ok"`
}

// CDBTxnRequest is the body of POST /v1/cdb-txn: one transaction,
// applied whole or not at all (every op if every condition holds, else
// nothing), so a change of several keys (a resource and its group) is
// never half made.
type CDBTxnRequest struct {
	If  []CDBCond `json:"if,omitempty"`
	Ops []CDBOp   `json:"ops"`
	// Client and Seq name the request, as in CDBSetRequest.
	Client string `json:"client,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

// CDBWatchEvent is one change in the GET /v1/cdb-watch stream.
type CDBWatchEvent struct {
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	Revision uint64 `json:"revision"`
	Deleted  bool   `json:"deleted"`
}
