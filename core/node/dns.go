package node

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/dns"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// groupPrefix is where the config DB keeps group definitions
// (corral help design, `/groups/<name>`).
const groupPrefix = "/groups/"

// GroupRuntime is a group's runtime state as the resource manager knows
// it (owner, online); SetGroupRuntime hands it to the DNS responder.
type GroupRuntime struct {
	Name   string
	Online bool
	Owner  string // node name
	// Address is the group's ipaddr resource's address, when it has one.
	Address netip.Addr
}

// groupDef is a /groups/<name> value: the parts DNS uses.
type groupDef struct {
	Address string      `json:"address"`
	Service dns.Service `json:"service"`
}

// dnsDriver feeds the DNS responder. All of it runs on the event loop
// except resp, which queries read lock-free.
type dnsDriver struct {
	resp *dns.Responder
	srv  *dns.Server // nil with [dns] listen = []

	defs     map[string]groupDef // from the config DB
	defsRev  uint64              // the config DB revision defs last changed at
	readRev  uint64              // the config DB revision defs were read at
	defsRead bool
	problems []string // /groups/ values that could not be read
	runtime  map[string]GroupRuntime
	runGen   uint64 // grows at every SetGroupRuntime

	view   wire.ViewID   // the installed view, to see it change
	viewAt time.Duration // when it did
	last   dnsKey        // what the published zone was built from
	quick  quickKey      // the cheap part of last (see dnsRefresh)
	// actedAt is when this node last acted as primary (acted: ever).
	actedAt time.Duration
	acted   bool
}

// quickKey is what dnsRefresh reads without asking membership for its
// status: the config DB driver's installed view and lease flag (set every
// round by cdbQuorum), the DB revision and the runtime generation.
type quickKey struct {
	view    wire.ViewID
	quorate bool
	rev     uint64
	runGen  uint64
}

// dnsKey is everything the zone depends on: publish again when it changes.
type dnsKey struct {
	view     wire.ViewID
	standing dns.Standing
	states   string // members' states
	rev      uint64
	runGen   uint64
	reason   string
}

// openDNS starts the responder and its listeners ([dns] listen).
func (n *Node) openDNS() error {
	d := &n.dns
	d.resp = dns.NewResponder(n.cfg.DNS.Domain)
	d.runtime = map[string]GroupRuntime{}
	d.last.standing = -1
	if len(n.cfg.DNS.Listen) == 0 {
		return nil
	}
	maxTCP := n.opt.DNSMaxTCPConns
	if maxTCP <= 0 {
		maxTCP = config.DNSMaxTCPConns
	}
	srv, err := dns.Listen(n.cfg.DNS.Listen, d.resp, n.log, d.resp.Malformed, dns.Limits{
		MaxTCPConns: maxTCP, TCPIdleTimeout: config.DNSTCPIdleTimeout, MaxTCPQueries: config.DNSMaxTCPQueries,
		Rate: config.DNSRateLimit, Burst: config.DNSRateBurst, Slip: config.DNSRateSlip})
	if err != nil && !n.cfg.InFile("dns.listen") {
		// The default (<first address>:53) needs privileges the node may
		// not have: run without DNS rather than not at all.
		n.log.Warn("dns off: the default listener could not be bound; set [dns] listen (e.g. [\"<address>:8053\"]) or listen = []", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	d.srv = srv
	n.log.Info("dns listening", "addrs", srv.Addrs(), "domain", n.cfg.DNS.Domain)
	return nil
}

func (n *Node) closeDNS() {
	if n.dns.srv != nil {
		n.dns.srv.Close()
	}
}

// dnsRefresh publishes a new zone when the view, this node's standing
// (lease, takeover wait), the config DB or the groups' runtime state
// changed. It runs after every round of the event loop; when nothing
// changed it costs a status read and a comparison.
func (n *Node) dnsRefresh(now time.Duration) {
	d := &n.dns
	if d.resp == nil {
		return
	}
	qk := quickKey{view: n.st.InstalledView(), quorate: n.st.CDBQuorate(), rev: n.st.CDBRev(), runGen: d.runGen}
	t := n.cfg.Timers
	wait := time.Duration(float64(t.Lease.D())*(1+t.Drift)) + t.Margin.D()
	if qk == d.quick && d.last.standing != dns.Waiting && d.last.standing >= 0 && now-d.viewAt > wait+t.Lease.D()+t.Heartbeat.D() {
		return // nothing it depends on changed, and no takeover wait to end
	}
	d.quick = qk
	ms := n.st.Membership()
	if ms.View.ID != d.view {
		d.view, d.viewAt = ms.View.ID, now
	}
	standing, reason := n.dnsStanding(now, ms)
	if rev := n.st.CDBRev(); !d.defsRead || rev != d.readRev {
		// most writes touch no group: the zone is rebuilt only when the
		// definitions change (a rebuild on every set cost a third of
		// the loop's CPU under a stream of config DB writes)
		if n.readGroupDefs() || !d.defsRead {
			d.defsRev = rev
		}
		d.readRev, d.defsRead = rev, true
	}
	key := dnsKey{view: ms.View.ID, standing: standing, states: statesKey(ms), rev: d.defsRev, runGen: d.runGen, reason: reason}
	if key == d.last {
		return
	}
	d.last = key
	d.resp.Publish(n.dnsInput(ms), standing, reason)
}

// dnsStanding is this node's standing for DNS (corral help design): acting when
// quorate; waiting, in which the previous primary view's answers go on,
// while a view change runs: promised to a new view within a lease of
// having acted (the old view's lease would still hold), or installed in a
// primary view within its takeover wait (G2: lease·(1+ρ) + margin) and a
// lease more for the first lease answers; not acting otherwise.
func (n *Node) dnsStanding(now time.Duration, ms membership.Status) (dns.Standing, string) {
	d := &n.dns
	if alone, why := n.st.Alone(); alone {
		return dns.NotActing, why
	}
	if n.st.Quorate(now) {
		d.actedAt, d.acted = now, true
		return dns.Acting, ""
	}
	t := n.cfg.Timers
	wait := time.Duration(float64(t.Lease.D())*(1+t.Drift)) + t.Margin.D()
	in := slices.Contains(ms.View.Members, n.self)
	if ms.Primary && in && ms.Pending != (wire.ViewID{}) && d.acted && now-d.actedAt < t.Lease.D() {
		return dns.Waiting, "view change in progress and no earlier primary view served"
	}
	if ms.Primary && in && now-d.viewAt < wait+t.Lease.D() {
		return dns.Waiting, "takeover wait after view " + n.viewName(ms.View.ID) + " and no earlier primary view served"
	}
	switch {
	case ms.View.ID.Epoch == 0:
		return dns.NotActing, "no view yet"
	case !ms.Primary || !in:
		return dns.NotActing, fmt.Sprintf("view %s is not primary: %s", n.viewName(ms.View.ID), ms.Decision.Explain(quorumConfig(n.cfg)))
	case ms.Self == membership.StateJoining:
		return dns.NotActing, "this node is still joining"
	}
	return dns.NotActing, "the view is primary but this node does not hold its lease"
}

func statesKey(ms membership.Status) string {
	var b strings.Builder
	for _, id := range ms.View.Members {
		fmt.Fprintf(&b, "%d=%d,", id, ms.States[id])
	}
	fmt.Fprintf(&b, "p=%v", ms.Primary)
	return b.String()
}

// readGroupDefs reads the group definitions from the config DB; it
// reports whether they changed.
func (n *Node) readGroupDefs() (changed bool) {
	d := &n.dns
	kvs, _, _ := n.st.CDBList(groupPrefix)
	oldDefs, oldProblems := d.defs, d.problems
	d.defs = map[string]groupDef{}
	d.problems = nil
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, groupPrefix)
		if name == "" || strings.Contains(name, "/") {
			continue // deeper keys are not group definitions
		}
		var g groupDef
		if err := json.Unmarshal(kv.Value, &g); err != nil {
			d.problems = append(d.problems, fmt.Sprintf("%s: not JSON (%v): published without address or service", kv.Key, err))
			g = groupDef{}
		}
		if g.Address != "" {
			if _, err := netip.ParseAddr(g.Address); err != nil {
				d.problems = append(d.problems, fmt.Sprintf("%s: address %q is not an IP address: ignored", kv.Key, g.Address))
				g.Address = ""
			}
		}
		if s := g.Service; s.Name != "" && (s.Proto == "" || s.Port == 0) {
			d.problems = append(d.problems, fmt.Sprintf("%s: service %q needs proto and port (write {\"name\":\"http\",\"proto\":\"tcp\",\"port\":8080}): no SRV record", kv.Key, s.Name))
			g.Service = dns.Service{}
		}
		d.defs[name] = g
	}
	return !reflect.DeepEqual(oldDefs, d.defs) || !slices.Equal(oldProblems, d.problems)
}

// dnsInput is the zone's input from the installed view, the
// configuration, the group definitions and their runtime state.
func (n *Node) dnsInput(ms membership.Status) dns.Input {
	d := &n.dns
	t := n.cfg.DNS
	in := dns.Input{Domain: t.Domain, Self: n.cfg.Node, TTL: t.TTL.D(), NodeTTL: t.NodeTTL.D(), NegTTL: t.TTL.D(),
		Serial: uint32(ms.View.ID.Epoch + d.defsRev)}
	for _, nd := range n.cfg.Nodes {
		dn := dns.Node{Name: nd.Name}
		if len(nd.Addresses) > 0 {
			dn.Addr, _ = netip.ParseAddr(nd.Addresses[0])
		}
		id := wire.NodeID(nd.ID)
		dn.Online = ms.Primary && slices.Contains(ms.View.Members, id) && ms.States[id] == membership.StateOnline
		in.Nodes = append(in.Nodes, dn)
	}
	names := make([]string, 0, len(d.defs))
	for name := range d.defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def := d.defs[name]
		g := dns.Group{Name: name, Service: def.Service}
		if a, err := netip.ParseAddr(def.Address); err == nil {
			g.Address = a
		}
		if rt, ok := d.runtime[name]; ok {
			g.Online, g.Owner = rt.Online, rt.Owner
			if rt.Address.IsValid() {
				g.Address = rt.Address
			}
		}
		in.Groups = append(in.Groups, g)
	}
	return in
}

// SetGroupRuntime replaces the groups' runtime state (owner, online,
// ipaddr address) that the DNS responder publishes; the zone changes at
// once. The resource manager calls it (from the event loop, call
// setGroupRuntime instead) whenever a group goes online, offline or moves;
// until it exists, no group is online, so a defined group's name answers
// NODATA.
func (n *Node) SetGroupRuntime(groups []GroupRuntime) error {
	return n.do(func() { n.setGroupRuntime(groups) })
}

// setGroupRuntime is SetGroupRuntime on the event loop.
func (n *Node) setGroupRuntime(groups []GroupRuntime) {
	d := &n.dns
	d.runtime = map[string]GroupRuntime{}
	for _, g := range groups {
		d.runtime[g.Name] = g
	}
	d.runGen++
	n.dnsRefresh(n.now())
}

// DNSDoc is apitypes.DNSDoc (the API types are defined there, so the shell reads
// them without importing the driver).
type DNSDoc = apitypes.DNSDoc

// DNSRecords returns the records this node would serve now.
func (n *Node) DNSRecords() (DNSDoc, error) {
	var problems []string
	if err := n.do(func() { problems = slices.Clone(n.dns.problems) }); err != nil {
		return DNSDoc{}, err
	}
	z := n.dns.resp.Zone()
	doc := DNSDoc{Domain: n.cfg.DNS.Domain, Listen: []string{}, Records: z.Records(), Stats: n.dns.resp.Stats()}
	if n.dns.srv != nil { // set by Open, read-only afterwards
		doc.Listen = n.dns.srv.Addrs()
	}
	if doc.Records == nil {
		doc.Records = []dns.Record{}
	}
	doc.Serving, doc.Reason = z.Serving()
	doc.Problems = append(problems, z.Problems...)
	return doc, nil
}

// DNSQuery asks this node's responder one question, in process, as a
// TCP client would.
func (n *Node) DNSQuery(name, qtype string) (dns.Answer, error) {
	select {
	case <-n.loopDone:
		return dns.Answer{}, ErrClosed
	default:
	}
	return dns.Query(n.dns.resp, name, qtype)
}
