// Package shell is corral's operator shell: `corral shell` (ARCHITECTURE
// sections 4 and 7). It talks to one node's admin API (package api) with
// HTTP/JSON over the node's Unix socket.
//
// Contract:
//
//   - Socket: --socket, else $CORRAL_SOCKET, else .corral-demo/n1/corral.sock
//     if it exists (the local demo cluster), else /run/corral/corral.sock.
//   - `corral shell -c "COMMAND"` runs one command and exits: 0 on success,
//     1 when the command failed (node unreachable, API error), 2 for a usage
//     error. The interactive (readline) shell is not there yet.
//   - --json works as a shell flag and inside the command: `corral shell -c
//     status --json` is `corral shell -c "status --json"`. With it, a
//     command prints exactly one JSON document on stdout; without it, a
//     table for people.
//   - Errors go to stderr and say what to do.
//
// One file per command (status.go); the HTTP client is client.go. Shell.Exec
// runs one command line, so the interactive shell can reuse it.
package shell
