// Package netlimit bounds what unauthenticated network clients can cost
// the node in file descriptors (issue 22): a Listener that holds at most N
// accepted connections open at once, and Budget, which sizes the caps of
// the node's TCP listeners (admin API, DNS over TCP) against the process's
// descriptor limit so that a reserve is always left for the node's own
// work (the config DB, agents' processes, monitors' /dev/null, the shell's
// admin socket).
//
// Contract:
//
//   - Listener.Accept blocks while N connections it returned are open;
//     the connections waiting meanwhile stay in the kernel's accept queue
//     (no descriptor of this process) and are refused by the kernel when
//     that queue is full. Closing a connection (any number of times) frees
//     its slot once. Close of the Listener wakes a blocked Accept.
//   - Budget(limit, want...) returns caps whose sum is at most a quarter
//     of limit (so three quarters of the descriptors stay for the node),
//     each at least 8, and each at most what was asked.
package netlimit
