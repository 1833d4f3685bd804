// Package nbd is corral's Network Block Device server (NBD's
// doc/proto.md, NetworkBlockDevice/nbd): the fixed newstyle handshake
// and the transmission phase over a Backend, plus a small client used by
// tests and benchmarks. It is an adapter the production driver owns (not
// a pure core): it runs goroutines and does socket I/O.
//
// # Handshake
//
// Fixed newstyle only, no TLS. The server offers NBD_FLAG_FIXED_NEWSTYLE
// and NBD_FLAG_NO_ZEROES and drops a client that does not set
// NBD_FLAG_C_FIXED_NEWSTYLE or sets an unknown client flag. Options:
//
//   - NBD_OPT_EXPORT_NAME: enters transmission (an unknown export drops
//     the connection: the option has no error reply).
//   - NBD_OPT_ABORT: NBD_REP_ACK, then close.
//   - NBD_OPT_LIST: one NBD_REP_SERVER per Exports.List (name and
//     description), then NBD_REP_ACK; data with it: NBD_REP_ERR_INVALID.
//   - NBD_OPT_INFO, NBD_OPT_GO: NBD_INFO_EXPORT, NBD_INFO_NAME and
//     NBD_INFO_DESCRIPTION when asked (the latter when not empty), and
//     NBD_INFO_BLOCK_SIZE always; then NBD_REP_ACK (GO enters
//     transmission). Unknown export: NBD_REP_ERR_UNKNOWN; malformed:
//     NBD_REP_ERR_INVALID.
//   - NBD_OPT_STRUCTURED_REPLY: NBD_REP_ACK (a second one, or one with
//     data: NBD_REP_ERR_INVALID).
//   - NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT: no metadata
//     context is supported: a well-formed request for a known export
//     after structured replies gets NBD_REP_ACK with no context (so
//     NBD_CMD_BLOCK_STATUS may not be used); before structured replies
//     or malformed: NBD_REP_ERR_INVALID; unknown export:
//     NBD_REP_ERR_UNKNOWN.
//   - NBD_OPT_STARTTLS: NBD_REP_ERR_POLICY. Any other option:
//     NBD_REP_ERR_UNSUP.
//
// Option data above 64 KiB is read, discarded and answered with
// NBD_REP_ERR_TOO_BIG; above 16 MiB (or an NBD_OPT_EXPORT_NAME name
// above 4096 bytes), or a bad option magic, drops the connection.
//
// Transmission flags: HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM,
// SEND_WRITE_ZEROES, SEND_FAST_ZERO, SEND_DF (when structured replies
// were negotiated), CAN_MULTI_CONN (Export.MultiConn), READ_ONLY
// (Export.ReadOnly). Not SEND_CACHE, not ROTATIONAL, no extended headers.
//
// # Block size constraints
//
// NBD_INFO_BLOCK_SIZE carries the Export's minimum, preferred and
// maximum payload (defaults 1, 4096, DefaultMaxBlock). A client that
// asked for NBD_INFO_BLOCK_SIZE in NBD_OPT_GO is held to the advertised
// maximum; one that did not (NBD_OPT_EXPORT_NAME, or GO without it) may
// send payloads up to max(maximum, 32 MiB), the protocol's default. Both
// get a clean NBD_EINVAL for an offset or length that is not a multiple
// of the minimum block (nothing is read-modify-written). A write payload
// above max(maximum, 32 MiB) drops the connection (it is not read); a
// smaller one above the session's limit is read, discarded and refused
// with NBD_EINVAL.
//
// # Transmission
//
// Commands: READ, WRITE, FLUSH, TRIM, WRITE_ZEROES (NO_HOLE passed to
// Backend.Zero; FAST_ZERO is advertised and always refused at once with
// NBD_ENOTSUP, which the protocol counts as a fast answer: the client
// then writes the zeroes itself), DISC. CACHE and BLOCK_STATUS are not
// advertised and get NBD_EINVAL, like any unknown command. FUA is
// accepted on every command (passed to WriteAt, Trim and Zero, ignored
// elsewhere); DF on READ once structured replies are on; any other flag,
// or a flag not valid for the command: NBD_EINVAL. Checks, in order:
// command, flags, FLUSH with a nonzero offset or length (NBD_EINVAL),
// a write-type command on a read-only export (NBD_EPERM), READ/WRITE
// length above the limit (NBD_EINVAL), alignment (NBD_EINVAL), range
// past the end (WRITE and WRITE_ZEROES: NBD_ENOSPC; READ and TRIM:
// NBD_EINVAL), FAST_ZERO (NBD_ENOTSUP). A zero-length READ, WRITE,
// TRIM or WRITE_ZEROES succeeds without calling the Backend.
//
// Replies: simple replies, or once NBD_OPT_STRUCTURED_REPLY was
// negotiated, structured replies for READ (one NBD_REPLY_TYPE_OFFSET_DATA
// chunk with NBD_REPLY_FLAG_DONE, sent only after the whole range was
// read, so a read error is never reported after data; NBD_REPLY_TYPE_NONE
// for a zero-length read) and for every error (one NBD_REPLY_TYPE_ERROR
// chunk with DONE; no data chunk precedes it). Other successes are simple
// replies (allowed by the protocol).
//
// A request header with a bad magic, or an oversized write payload,
// closes the connection (ServeConn returns an error wrapping
// ErrBadRequest); the server never panics on client input (the request
// and option readers are fuzzed: FuzzRequestParser, FuzzOptions).
//
// # Concurrency
//
// One goroutine per connection reads requests in order (a write's
// payload is read before the next header); each request then runs on
// its own goroutine, at most Server.InFlight (DefaultInFlight, 64) per
// connection and at most max(64 MiB, twice the payload limit) of READ
// and WRITE payload held at once, so a connection holds bounded memory.
// Replies are written whole under one mutex per connection, in
// completion order, each exactly once. The server does not order
// requests: overlapping requests of one connection, or of several, reach
// the Backend concurrently, and the Backend orders what must be ordered
// (the protocol leaves the order of in-flight requests undefined; the
// client waits for a reply before depending on it). NBD_CMD_DISC stops
// reading, waits for the requests in flight (their replies are sent),
// then closes. EOF between requests does the same. Buffers are not
// reused: the slice passed to Backend.ReadAt or WriteAt belongs to the
// Backend once the call returns (it may keep a write's data, e.g. queued
// for the loop, even after returning on a cancelled context). When the context of
// Serve or ServeConn is done the connection is closed at once and the
// context passed to the Backend is cancelled.
//
// # Errors
//
// A Backend error is sent as the Errno it wraps (errors.As), a context
// error as NBD_ESHUTDOWN, anything else as NBD_EIO. Stats counts
// connections, requests by command, bytes read and written, and requests
// answered with an error.
//
// # MultiConn
//
// Export.MultiConn sets NBD_FLAG_CAN_MULTI_CONN: the Backend promises
// that a Flush (or a FUA write) returning on one connection covers every
// write that completed before it on any connection of the export. The
// server itself keeps no per-connection cache: it calls the Backend for
// each request and replies when the call returns.
//
// # Client
//
// Dial/NewClient (ClientOptions: Structured, List, Info, ExportName,
// NoBlockSize), ReadAt, WriteAt, Flush, Trim, Zero, Raw (any request,
// for tests), Close (NBD_CMD_DISC, then waits for the server to close),
// and List. Requests from many goroutines are pipelined and matched by
// cookie by one reader goroutine. It is for tests and benchmarks: it
// does not reconnect and keeps no cache.
package nbd
