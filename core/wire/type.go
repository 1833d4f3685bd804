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
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}
