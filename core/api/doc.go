// Package api is corral's admin API: HTTP with JSON bodies, served by
// `corral agent` on the node's Unix socket (config admin_socket) and used
// by `corral shell` (ARCHITECTURE sections 4 and 7).
//
// Contract:
//
//   - Authentication is the socket's file permissions (0600, the agent's
//     user): whoever can connect may do anything the API offers.
//   - Paths are versioned: every endpoint lives under /v1/. A later
//     incompatible change gets /v2/ next to it; /v1/ keeps its meaning.
//   - Responses are JSON (Content-Type: application/json). Errors are
//     {"error": "what went wrong", "hint": "what to do"} with a matching
//     status: 404 for an unknown path, 405 (with an Allow header) for a
//     method the path does not take, 503 when the node has stopped.
//   - GET /v1/status returns the node's status document, node.Status, as
//     one JSON object (`corral shell -c "status --json"` prints the same).
//
// The handler needs only the small Node interface, so tests serve it with
// a fake node and httptest.
package api
