// Package dns is corral's embedded DNS responder (corral help
// design): an adapter the production driver (core/node) owns, not a pure
// core. It answers for one zone, <domain> (config [dns] domain, default
// "<cluster>.corral."), over UDP and TCP:
//
//   - the apex: A/AAAA of the online members of the primary view (each
//     node's first configured address only), SOA, and NS ns-<node>.<domain>
//     for each of them, with glue;
//   - ns-<node>.<domain> and <node>.node.<domain>: every configured node's
//     first address;
//   - <group>.<domain>: a defined group's address (its ipaddr resource's
//     address, else its owner's first address) while it is online, NODATA
//     while it is defined and not online; SRV _<service>._<proto>.<group>
//     for groups that declare a service (target <group>.<domain>, glue);
//   - NODATA (NOERROR, empty answer) for a name that exists without the
//     asked type, NXDOMAIN for one that does not, both with the SOA in the
//     authority section and the SOA minimum as its TTL (RFC 2308);
//   - SERVFAIL for every name of the zone unless this node may act as
//     primary (in the primary view, holding its lease; section 2 G2), so
//     resolvers move to another server; REFUSED outside the zone (no
//     recursion), for AXFR/IXFR and for UPDATE/NOTIFY; NOTIMP for other
//     opcodes; ANY answered with one HINFO "RFC8482" (RFC 8482); EDNS
//     (RFC 6891) with a 1232-byte UDP limit, TC=1 when an answer does not
//     fit; BADVERS for EDNS versions above 0; malformed messages dropped
//     or answered FORMERR, and counted.
//
// # Contract
//
// Handler is CoreDNS's plugin.Handler: ServeDNS(ctx, w, r) returns an
// rcode; SERVFAIL, REFUSED, FORMERR and NOTIMP mean "nothing written" and
// the server writes that reply. miekg/dns (in maintenance mode) appears
// only in this package's Handler signature and implementation; the rest
// of corral talks to Responder, Server and Query.
//
// Server (Listen) bounds what clients cost (Limits, issue 22): over UDP a
// token bucket per client prefix (/24 IPv4, /56 IPv6; defaults
// config.DNSRateLimit, DNSRateBurst) answers every DNSRateSlip-th query
// over the limit empty with TC=1 (a real client retries over TCP) and
// drops the rest, so a spoofed victim gets little amplification; the
// table of buckets is bounded. Over TCP a connection cap per address
// (more wait in the kernel's accept queue), an idle timeout and a query
// limit per connection. Queries over the limit are counted
// (Server.RateLimited). The rate check is in the server's handler, not in
// ServeDNS, so BenchmarkServeDNS is unchanged; BenchmarkLimiter measures
// it.
//
// The answers come from an immutable Zone built by Build from an Input
// (the view, the nodes, the groups) and swapped in with an atomic pointer
// (Responder.Publish), so a query never touches the node's event loop.
// The driver publishes again on every view change, lease or quorum
// change and config DB change under /groups/. Publish applies the G2 rule
// of section 5: while this node is in a primary view that it may not act
// in yet (the takeover wait after a view change), it keeps answering from
// the zone it served in the previous primary view, then switches; in any
// other state that is not acting it answers SERVFAIL.
package dns
