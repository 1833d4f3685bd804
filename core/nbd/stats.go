package nbd

import "sync/atomic"

// Stats counts a server's work; every field is updated atomically and
// may be read at any time.
type Stats struct {
	Connections atomic.Uint64 // connections accepted
	Open        atomic.Int64  // connections open now
	// Requests counts requests by command (NBD_CMD_* value: 0 read, 1
	// write, 2 disc, 3 flush, 4 trim, 5 cache, 6 write_zeroes, 7
	// block_status); see CommandName.
	Requests     [numCommands]atomic.Uint64
	BytesRead    atomic.Uint64 // bytes read and sent
	BytesWritten atomic.Uint64 // bytes received and written
	Errors       atomic.Uint64 // requests answered with an error
}

// CommandName names the NBD command of Stats.Requests index i.
func CommandName(i int) string { return cmdName(uint16(i)) }
