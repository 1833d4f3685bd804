// Package nbd is corral's Network Block Device server (NBD's
// doc/proto.md): the fixed newstyle handshake, and the transmission phase
// over a Backend. It is an adapter the production driver owns (not a
// pure core): it runs goroutines and does socket I/O.
//
// SKELETON: the contract is being written with the server (issue 19).
package nbd
