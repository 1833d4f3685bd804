// Package api is corral's admin API: HTTP with JSON bodies, served by
// `corral agent` on the node's Unix socket (config admin_socket) and used
// by `corral shell` (corral help design).
//
// Contract:
//
//   - Authentication on the Unix socket is its file permissions (0600,
//     the agent's user): whoever can connect may do anything the API
//     offers. The optional TCP listener needs a bearer token.
//   - Paths are versioned: every endpoint lives under /v1/. A later
//     incompatible change gets /v2/ next to it; /v1/ keeps its meaning.
//   - Responses are JSON (Content-Type: application/json). Errors are
//     {"error": "what went wrong", "hint": "what to do"} with a matching
//     status: 404 for an unknown path, 405 (with an Allow header) for a
//     method the path does not take, 503 when the node has stopped.
//   - Bodies are JSON objects decoded strictly: bad JSON, unknown fields
//     or trailing data are 400. Every request, answer and document type
//     is defined in core/apitypes (this package keeps aliases), so clients
//     such as the shell use them without importing this package or the
//     driver.
//   - GET /v1/status returns the node's status document, apitypes.Status, as
//     one JSON object (`corral shell -c "status --json"` prints the same).
//     GET /v1/nodes, /v1/nodes/NAME, /v1/links, /v1/quorum, /v1/views;
//     POST /v1/nodes/NAME/pause|resume|leave (202; leave of this node waits
//     for the view without it, 200).
//   - GET /v1/nodes/NAME/explain, /v1/quorum/explain, /v1/fence/NODE/explain
//     (apitypes.NodeExplain, QuorumExplain, FenceExplain: the explanation
//     in sentences, "text", with the facts behind it; 404 for an unknown
//     node). POST /v1/config/verify {docs} checks a whole staged
//     configuration without writing it (apitypes.VerifyResult). POST
//     /v1/simulate {staged, stage, kill, pause, partition, fail} runs a
//     what-if on the live state through the resource manager and fence
//     cores (core/whatif; apitypes.SimulateResult; 400 for a fault that
//     names nothing, 503 on a node outside the primary view).
//   - Operator recovery (ops.go; `corral help operations`): POST
//     /v1/fence/NODE/confirm {"yes": true} declares NODE down
//     (apitypes.FenceConfirm; 400 without yes, 404 unknown node, 409 for a
//     node that is up); GET /v1/quorum/unblock says what an unblock would
//     do (apitypes.QuorumUnblock, Blocked when refused), POST
//     /v1/quorum/unblock {"yes": true} does it (409 while a written-off
//     node is not known down, or nothing is to unblock).
//   - GET /v1/events?since=N&limit=M lists stored events after seq N; with
//     &follow=1 or Accept: text/event-stream it is a Server-Sent Events
//     stream ("id: SEQ", "event: KIND", "data: JSON") that replays from N,
//     then streams, each seq once and in order (Last-Event-ID resumes);
//     since=now starts after the newest event; &last=N (without limit)
//     lists only the newest N of them, as `journalctl -n N`.
//   - /v1/debug/faults: GET lists, POST {peer, link, dir, drop, delay, dup}
//     adds (201 with the id), DELETE [/ID] lifts; 403 unless [debug]
//     fault_injection is on.
//   - /v1/cdb: the configuration database. GET /v1/cdb/KEY (the key's
//     value and revision; 404 if absent), GET /v1/cdb?prefix=P (the keys
//     under P), PUT or POST /v1/cdb/KEY {"value", "if_revision"} (a set,
//     conditional on the key's revision with if_revision; 409 when the
//     condition fails), DELETE /v1/cdb/KEY; GET /v1/cdb-history?n=N. Reads
//     say "stale": true on a node without quorum; writes answer once the
//     update is durable on every member of the primary view, and a node
//     without quorum refuses them (503, "no quorum: 1 of 3 votes"), a
//     node whose data directory is full refuses them (507, "disk full
//     under DATA_DIR", nothing written).
//     A write may carry a request id ({"client", "seq"} in the body, or
//     the headers Corral-Client and Corral-Seq): a retry with the same id
//     (after no answer, or 503 "outcome unknown") gets the original result
//     and never applies twice; an older seq is 409.
//     GET /v1/cdb-watch?prefix=P[&start=R] is a Server-Sent Events stream
//     of every change applied under P, in revision order ("id: REV",
//     "event: set|delete", "data: {key, value, revision, deleted}"); start
//     replays from revision R (410 when R is compacted), Last-Event-ID
//     resumes after it, and a reader that falls behind gets "event: error"
//     and the end of the stream.
//   - Lua (lua.go, a Node that is also a LuaNode; 501 otherwise): GET
//     /v1/agents[?kind=K] lists the loaded scripts with their meta() and
//     the handlers' counters; POST /v1/lua/eval {code} evaluates in the
//     node's sandbox (5 s; 422 with the Lua error); with "session": ID it
//     runs on that session's own sandboxed VM, whose globals carry over
//     (the shell's Lua REPL), and {session, end: true} ends it; POST /v1/lua/reload
//     re-reads the scripts and says what was added, changed or removed, or
//     answers 422 with every load error (file:line) and keeps the old ones.
//   - The lock manager (dlm.go, a Node that is also a LockNode; 501
//     otherwise): GET /v1/dlm/session with "Connection: Upgrade" and
//     "Upgrade: corral-dlm" is answered 101 and becomes a lock session:
//     newline-delimited JSON both ways (apitypes.LockOp in, LockMsg out;
//     the protocol is drawn in core/apitypes/dlm.go). Any process can
//     take locks this way; the session is one owner (a first line
//     {"op":"hello","owner":"NODE:ID"} joins an owner of this node: a
//     nested corral lock), and when the connection closes, for any
//     reason, the node releases every lock the session took. Every
//     accepted lock or convert gets a queued line with the lock's id, then
//     exactly one completion; a bad line gets an error line with its tag
//     and a status (EPROTO, EINVAL, EBUSY, ENOENT, ESTOPPED) and the session
//     goes on; a timeout cancels a request (completion ETIMEDOUT); a lost
//     lock is a "lost" line, and a session the node ends (it stops) is a
//     "lost" line without a lock, then the end of the connection. A client
//     that does not read for 10 s is dropped (its locks go).
//     GET /v1/locks[?lockspace=LS] is the cluster-wide lock table
//     (apitypes.LocksDoc): every resource as its master holds it, sorted
//     by lockspace and name, the default lockspace named "default".
//   - The served disks (disk.go): GET /v1/disks lists every disk the
//     config DB defines (a resource of the built-in agent "disk") as
//     apitypes.DiskStatus, with this node's view of its server ("server"
//     null while none serves), epoch, state, clients and counters, and its
//     group's reason when the group is not online; GET /v1/disks/NAME one.
//     POST /v1/disks {name, backing, size, servers, group} writes the
//     resource and its group (a new one named as the disk, possible owners
//     the servers; or, with group, the existing group, which then starts
//     with the disk) in one config DB transaction (201); size is bytes or
//     a string such as "256MiB" (apitypes.ParseSize). It refuses a name
//     that exists (409), a bad size or backing path, or servers that are
//     not configured nodes (400), each with what to do. DELETE
//     /v1/disks/NAME removes the resource and its group when the disk was
//     all the group held; the resource manager stops the server. Moving a
//     disk is its group's move.
//   - GET /metrics: Prometheus text format, metric names corral_*.
//   - TCP (config [api] listen) goes through RequireToken: without
//     "Authorization: Bearer TOKEN" a request is 401, counted
//     (corral_api_unauthorized_total) and its connection closed
//     ("Connection: close"). The agent serves TCP over TLS with [api]
//     tls_cert and tls_key (required unless listen is a loopback address),
//     caps its open connections (config.APIMaxConns, lowered to fit a
//     quarter of the descriptor limit; core/netlimit) and closes slow
//     and idle ones (config.APIHeaderTimeout, APIReadTimeout,
//     APIIdleTimeout), so unauthenticated clients cannot take the node's
//     descriptors (issue 22).
//
// The handler needs only the Node interface, so tests serve it with a
// fake node (package apitest) and httptest. Close the handler when done.
package api
