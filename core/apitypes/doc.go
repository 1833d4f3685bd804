// Package apitypes holds the documents of the admin API (corral help
// design) with their JSON names: what the node serves (status, quorum,
// nodes and links, groups and resources, fencing state and history,
// events, DNS records, the Lua host's state, reload reports) and the
// requests and answers of its endpoints (config DB reads, writes and
// watches, group and node actions, faults, Lua eval and reload, the lock
// session's lines and the lock table; the names of the lock manager's
// modes, flags and statuses are in package locknames). It holds
// data only, so the shell and other clients read the API without
// importing the driver: core/node fills the documents in and core/api
// serves them, each keeping aliases of these types.
package apitypes
