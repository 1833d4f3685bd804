package stack

// The one table of broadcast tags: every payload on the ordered broadcast
// (core/bcast) starts with one byte naming its owner. A delivery is routed
// by it (cdbDeliver); an unknown tag goes to the application with its
// first byte stripped, as the application's own tag does.
const (
	tagApp   byte = 1 // the application's (Stack.Broadcast, Ready.Deliveries)
	tagCDB   byte = 2 // the config DB's proposals and broadcasts
	tagCRM   byte = 3 // the resource manager's messages (agreed deliveries)
	tagFence byte = 4 // the fence core's messages (safe deliveries)
	// tagQuorum: an operator's quorum unblock (unblock.go; safe
	// deliveries in the view it names)
	tagQuorum byte = 5
)
