// Package apitypes holds the documents the admin API serves and the shell
// reads (ARCHITECTURE section 7): the node's status, quorum, groups and
// resources, fencing state and history, events, DNS records and reload
// reports, with their JSON names. It holds data only, so the shell and
// other clients read these documents without importing the driver
// (core/node), which fills them in and keeps aliases of these types.
package apitypes
