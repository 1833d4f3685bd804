package wire

import "strconv"

// Type identifies a message. Its value is sent on the wire.
//
// WARNING: only append to this list. Never reorder, renumber or reuse a
// value: nodes of different versions must agree on every number.
type Type uint8

// Message types.
const (
	TypeInvalid   Type = iota // 0: never sent; catches zeroed buffers
	TypePing                  // Ping: probe carrying a sequence number and a payload
	TypePong                  // Pong: answer to a Ping
	TypeHello                 // reserved: connectivity handshake
	TypeHelloAck              // reserved: answer to a Hello
	TypeHeartbeat             // reserved: per-link heartbeat
	TypeData                  // reserved: circuit data
	TypeAck                   // reserved: circuit acknowledgement
	TypeReport                // membership: a node's reachability and lineage report
	TypePropose               // membership: a coordinator's view proposal
	TypePromise               // membership: a member's promise (acknowledgement of a proposal)
	TypeRefuse                // membership: a proposal refused (lower than a promise)
	TypeCommit                // membership: install the proposal
	TypeLeaseReq              // membership: lease heartbeat of a primary view member
	TypeLeaseAck              // membership: acknowledgement of a lease heartbeat
	TypeLeft                  // membership: you have left the cluster cleanly
	TypeUser                  // an application payload on a circuit (node.Send)
	TypeSetState              // an operator asks a node to pause, resume or leave
	TypeDatagram              // an unreliable message outside the circuit (conn.Datagram)
	TypeBcast                 // an ordered-broadcast message (core/bcast)
	TypeCDB                   // a configuration database transfer message (core/cdb)
	TypeDLM                   // a lock manager message (core/dlm), point to point on a circuit
	TypeDisk                  // a served disk message (core/disk), point to point on a circuit
)

var typeNames = [...]string{
	TypeInvalid:   "Invalid",
	TypePing:      "Ping",
	TypePong:      "Pong",
	TypeHello:     "Hello",
	TypeHelloAck:  "HelloAck",
	TypeHeartbeat: "Heartbeat",
	TypeData:      "Data",
	TypeAck:       "Ack",
	TypeReport:    "Report",
	TypePropose:   "Propose",
	TypePromise:   "Promise",
	TypeRefuse:    "Refuse",
	TypeCommit:    "Commit",
	TypeLeaseReq:  "LeaseReq",
	TypeLeaseAck:  "LeaseAck",
	TypeLeft:      "Left",
	TypeUser:      "User",
	TypeSetState:  "SetState",
	TypeDatagram:  "Datagram",
	TypeBcast:     "Bcast",
	TypeCDB:       "CDB",
	TypeDLM:       "DLM",
	TypeDisk:      "Disk",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}
