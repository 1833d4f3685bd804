// Package dlm is the distributed lock manager: VMS/Linux semantics (six
// modes, conversions, grant/convert/wait queues, completions and blocking
// notices, lock value blocks), a directory spread over the members by
// rendezvous hashing, masters, and recovery at every primary view change.
// It is a pure state machine (ARCHITECTURE section 1) and persists
// nothing: locks die with their node's incarnation.
//
// Work in progress: the contract is written here as the issue lands.
package dlm
