// Package shell is corral's operator shell: `corral shell` (corral help
// start). It talks to one node's admin API (package api) with
// HTTP/JSON over the node's Unix socket, reading and writing the API's
// documents as core/apitypes defines them (it imports neither the API
// server nor the driver).
//
// Contract:
//
//   - Socket: --socket, else $CORRAL_SOCKET, else .corral-demo/n1/corral.sock
//     if it exists (the local demo cluster), else /run/corral/corral.sock.
//   - `corral shell -c "COMMAND"` runs one command and exits: 0 on success,
//     1 when the command failed (node unreachable, API error), 2 for a usage
//     error. `-f FILE` (or a script on stdin when stdin is not a terminal)
//     runs one command per line, skipping blank lines and # comments, and
//     stops at the first failing line, reported as FILE:LINE:, unless
//     --keep-going; the status is that of the first failure.
//   - Otherwise the shell is interactive (chzyer/readline): completion of
//     commands, subcommands, flags, live node names and config DB keys (a
//     folder at a time); history in <user config dir>/corral/history,
//     holding shell commands only (never the Lua REPL's lines or a y/N
//     answer); the Lua REPL evaluates on one node VM for its session (POST
//     /v1/lua/eval with a session id), so globals carry over; Ctrl-C cancels the line or the
//     running command, Ctrl-D exits; the prompt shows cluster, node and
//     quorum. Errors never end it; a lost node is reported and the next
//     command reconnects.
//   - --json works as a shell flag and inside the command: `corral shell -c
//     status --json` is `corral shell -c "status --json"`. With it, a
//     command prints exactly one JSON document on stdout (events --follow:
//     one JSON object per line); without it, a table for people, coloured
//     by state when stdout is a terminal.
//   - Errors go to stderr and say what to do, naming shell commands, not
//     the admin API's routes (shellHint rewrites the API's hints). With
//     --json an error is one JSON object on stderr, ErrorJSON {error, hint,
//     exit[, where]}; stdout stays the command's output.
//   - On a node without quorum, status, groups, resources and explain say
//     their state may be stale: a line above the output, "stale": true in
//     --json (as cdb get marks its reads).
//   - help, `help NAME` and `NAME --help` (every command takes it) fit an
//     80-column terminal: help.go wraps the help texts. `help` also lists
//     the documentation's topics (package shell/help) and `help TOPIC`
//     (`help topic TOPIC` when a command has the name) shows one.
//   - Times (events, cdb history, fence history) are apitypes.TimeLayout.
//   - A staged session (configure, diff, verify, commit, abort; stage.go)
//     lives in the shell process, so only in the interactive shell or a
//     script (-f); while one is open, the commands marked stages (resource,
//     group, set) run their usual code against the stage, their config DB
//     reads and writes redirected by cdbDoc, cdbPutDoc, txnDocs and
//     stagedList, and their lines are recorded for commit --force. commit
//     is one POST /v1/cdb-txn conditioned on every changed key's revision
//     as configure copied it.
//
// One file per command (status.go, nodes.go, ... each with its help text
// and example); the registry is commands() in shell.go, the HTTP client
// client.go, tables table.go, the readline loop interactive.go, completion
// complete.go, scripts script.go. Shell.Exec runs one command line.
package shell
