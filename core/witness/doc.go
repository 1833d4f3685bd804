// Package witness is the network quorum witness: `corral arbiter` and the
// client nodes use to ask it for its vote (corral help design, Quorum;
// a voting device of the classic quorum designs).
//
// Contract:
//
//   - The arbiter grants its vote to one partition (one member set) at a
//     time, for a lease; the members of that set may renew it, any other
//     set is refused until it expires.
//   - It records the last primary view it helped (LP) and grants only to a
//     view that contains a member of it, so nodes dropped earlier can never
//     use it to form a second primary.
//   - Grants and LP are written to <data>/arbiter.json and synced before
//     the answer is sent; a restarted arbiter honours the grant it had,
//     for a whole lease from its first request.
//   - When a grant ends is measured on the arbiter's monotonic clock,
//     never its wall clock: a clock step (NTP, an operator) neither ends a
//     grant early nor makes it last (TestWallClockStepKeepsGrant).
//   - Requests and answers are authenticated with an HMAC-SHA256 under a
//     key derived from the cluster key; an answer carries the request's
//     nonce, so a replayed answer is rejected by the client.
//   - A node's lease on the grant is computed from the moment it sent the
//     request, divided by (1+drift), like every lease in corral.
package witness
