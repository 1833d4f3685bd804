package dns

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Input is what a zone is built from: a snapshot of the cluster as this
// node sees it, taken on the driver's event loop.
type Input struct {
	// Domain is the zone's origin, a fully qualified lower-case name
	// ("demo.corral.").
	Domain string
	// Self is this node's name (the SOA's primary name server).
	Self string
	// Nodes are every configured node, in configuration order.
	Nodes []Node
	// Groups are the defined groups (config DB /groups/) with their
	// runtime state from the resource manager.
	Groups []Group
	// Serial is the SOA serial (grows with the view epoch and the config
	// DB revision).
	Serial uint32
	// TTL is the TTL of the apex, name server and group records; NodeTTL
	// that of <node>.node records; NegTTL the SOA minimum, the TTL of
	// negative answers (RFC 2308).
	TTL, NodeTTL, NegTTL time.Duration
}

// Node is one configured node.
type Node struct {
	Name string
	// Addr is the node's first configured address, its address in DNS.
	Addr netip.Addr
	// Online: a member of the installed primary view in state online.
	Online bool
}

// Group is one defined group and its runtime state.
type Group struct {
	Name string
	// Online: the group runs on Owner.
	Online bool
	Owner  string
	// Address is the group's ipaddr resource's address; when it is not
	// valid the owner's first address is used.
	Address netip.Addr
	// Service, when Name is set, publishes SRV _<name>._<proto>.<group>.
	Service Service
}

// Service is a group's published service port.
type Service struct {
	Name  string `json:"name"`
	Proto string `json:"proto"`
	Port  uint16 `json:"port"`
}

// Zone is an immutable answer set; Build makes one. Its zero value and
// nil answer SERVFAIL for every name under the origin.
type Zone struct {
	serve  bool
	reason string // why this node does not answer (when !serve)
	origin string
	names  map[string]*entry // lower-case fully qualified names
	negSOA []mdns.RR         // the SOA, TTL = the SOA minimum
	ttl    uint32
	wire   map[wireKey][]byte // packed replies (wire.go)
	// Problems lists what Build skipped (a group whose name collides).
	Problems []string
}

// entry holds a name's record sets and their additional records.
type entry struct {
	sets  map[uint16][]mdns.RR
	extra map[uint16][]mdns.RR
	group bool // a group's name (offline groups answer NODATA)
}

// Origin is the zone's origin.
func (z *Zone) Origin() string {
	if z == nil {
		return ""
	}
	return z.origin
}

// Serving reports whether the zone answers, and why not when it does not.
func (z *Zone) Serving() (bool, string) {
	if z == nil {
		return false, "the DNS responder has no zone yet"
	}
	return z.serve, z.reason
}

// Refusing returns a zone for origin that answers SERVFAIL, saying why.
func Refusing(origin, reason string) *Zone {
	return &Zone{origin: strings.ToLower(origin), reason: reason}
}

func secs(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// Build makes the zone of in. It never fails: a group whose name collides
// with a name the zone already has is skipped and listed in Problems.
func Build(in Input) *Zone {
	origin := strings.ToLower(mdns.Fqdn(in.Domain))
	z := &Zone{serve: true, origin: origin, names: map[string]*entry{}, ttl: secs(in.TTL)}
	ttl, nodeTTL, neg := secs(in.TTL), secs(in.NodeTTL), secs(in.NegTTL)
	nsName := func(n string) string { return "ns-" + strings.ToLower(n) + "." + origin }
	addrRR := func(name string, ttl uint32, a netip.Addr) mdns.RR {
		if a.Is4() || a.Is4In6() {
			return &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl}, A: a.Unmap().AsSlice()}
		}
		return &mdns.AAAA{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: ttl}, AAAA: a.AsSlice()}
	}
	mname := nsName(in.Self)
	soa := func(ttl uint32) *mdns.SOA {
		return &mdns.SOA{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
			Ns: mname, Mbox: "hostmaster." + origin, Serial: in.Serial,
			Refresh: 3600, Retry: 600, Expire: 86400, Minttl: neg}
	}
	z.negSOA = []mdns.RR{soa(min(ttl, neg))}
	apex := z.ensure(origin)
	apex.add(soa(ttl))
	addrs := map[string]netip.Addr{}
	var glue []mdns.RR
	for _, n := range in.Nodes {
		if !n.Addr.IsValid() {
			continue
		}
		addrs[n.Name] = n.Addr
		z.ensure(nsName(n.Name)).add(addrRR(nsName(n.Name), ttl, n.Addr))
		nn := strings.ToLower(n.Name) + ".node." + origin
		z.ensure(nn).add(addrRR(nn, nodeTTL, n.Addr))
		if n.Online {
			apex.add(addrRR(origin, ttl, n.Addr))
			apex.add(&mdns.NS{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: ttl}, Ns: nsName(n.Name)})
			glue = append(glue, addrRR(nsName(n.Name), ttl, n.Addr))
		}
	}
	apex.extra = map[uint16][]mdns.RR{mdns.TypeNS: glue}
	groups := append([]Group(nil), in.Groups...)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	for _, g := range groups {
		name := strings.ToLower(g.Name) + "." + origin
		if _, taken := z.names[name]; taken || strings.ToLower(g.Name) == "node" || !validLabel(g.Name) {
			z.Problems = append(z.Problems, fmt.Sprintf("group %q: its name collides with a name of the zone or is not a DNS label; not published", g.Name))
			continue
		}
		e := z.ensure(name)
		e.group = true
		var srvName string
		if g.Service.Name != "" && g.Service.Proto != "" {
			srvName = "_" + strings.ToLower(g.Service.Name) + "._" + strings.ToLower(g.Service.Proto) + "." + name
			z.ensure(srvName)
		}
		if !g.Online {
			continue
		}
		a := g.Address
		if !a.IsValid() {
			a = addrs[g.Owner]
		}
		if !a.IsValid() {
			z.Problems = append(z.Problems, fmt.Sprintf("group %q: online on %q, which has no address; not published", g.Name, g.Owner))
			continue
		}
		rr := addrRR(name, ttl, a)
		e.add(rr)
		if srvName != "" {
			s := z.names[srvName]
			s.add(&mdns.SRV{Hdr: mdns.RR_Header{Name: srvName, Rrtype: mdns.TypeSRV, Class: mdns.ClassINET, Ttl: ttl},
				Priority: 0, Weight: 0, Port: g.Service.Port, Target: name})
			s.extra = map[uint16][]mdns.RR{mdns.TypeSRV: {rr}}
		}
	}
	z.packReplies()
	return z
}

// validLabel reports whether s is one DNS label of letters, digits, '-'
// and '_'.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// ensure returns name's entry, creating it and its empty non-terminals
// (the names between it and the origin exist, with no records).
func (z *Zone) ensure(name string) *entry {
	e, ok := z.names[name]
	if !ok {
		e = &entry{sets: map[uint16][]mdns.RR{}}
		z.names[name] = e
		for parent := name; parent != z.origin; {
			i := strings.IndexByte(parent, '.')
			if i < 0 || i+1 >= len(parent) {
				break
			}
			parent = parent[i+1:]
			if _, ok := z.names[parent]; ok || !mdns.IsSubDomain(z.origin, parent) {
				break
			}
			z.names[parent] = &entry{sets: map[uint16][]mdns.RR{}}
		}
	}
	return e
}

func (e *entry) add(rr mdns.RR) {
	t := rr.Header().Rrtype
	e.sets[t] = append(e.sets[t], rr)
}

// Record is one record as the admin API shows it.
type Record struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	Data string `json:"data"`
}

// Records lists every record of the zone, sorted by name then type then
// data; names that exist without records are not listed.
func (z *Zone) Records() []Record {
	if z == nil {
		return nil
	}
	var out []Record
	for _, e := range z.names {
		for _, rrs := range e.sets {
			for _, rr := range rrs {
				out = append(out, toRecord(rr))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Data < b.Data
	})
	return out
}

func toRecord(rr mdns.RR) Record {
	h := rr.Header()
	s := rr.String()
	// the text form is "name ttl class type data": keep the data
	hdr := h.String()
	return Record{Name: h.Name, Type: mdns.TypeToString[h.Rrtype], TTL: h.Ttl, Data: strings.TrimPrefix(s, hdr)}
}
