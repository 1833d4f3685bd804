package api

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/node"
)

// promWriter writes the Prometheus text exposition format (version
// 0.0.4): a HELP and a TYPE line per metric family, then its samples.
type promWriter struct {
	w io.Writer
}

// family starts a metric family.
func (p promWriter) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample; labels alternate names and values.
func (p promWriter) sample(name string, v float64, labels ...string) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte('\n')
	_, _ = io.WriteString(p.w, b.String())
}

// one writes a family with a single unlabelled sample.
func (p promWriter) one(name, typ, help string, v float64) {
	p.family(name, typ, help)
	p.sample(name, v)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type labelled struct {
	label string
	v     uint64
}

func (h *Handler) metrics(w http.ResponseWriter, _ *http.Request) {
	m, err := h.n.Metrics()
	if err != nil {
		nodeError(w, "metrics", err)
		return
	}
	names := map[int]string{}
	if st, err := h.n.StatusDoc(); err == nil {
		for _, n := range st.Nodes {
			names[n.ID] = n.Name
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	p := promWriter{w: w}

	p.one("corral_view_epoch", "gauge", "Epoch of the installed view (0 before the first view).", float64(m.Epoch))
	p.one("corral_view_members", "gauge", "Members of the installed view.", float64(m.Members))
	p.one("corral_view_primary", "gauge", "1 if the installed view is primary.", b2f(m.Primary))
	p.one("corral_quorate", "gauge", "1 if this node may act as primary (primary view, lease held).", b2f(m.Quorate))

	h.mu.Lock()
	kinds := slices.Sorted(maps.Keys(h.eventKind))
	counts := map[string]uint64{}
	for _, k := range kinds {
		counts[k] = h.eventKind[k]
	}
	h.mu.Unlock()
	p.one("corral_view_changes_total", "counter", "Views installed since the agent started.", float64(counts[membership.EventViewChanged.String()]))
	p.family("corral_events_total", "counter", "Events recorded since the agent started, by kind.")
	for _, k := range kinds {
		p.sample("corral_events_total", float64(counts[k]), "kind", k)
	}

	p.family("corral_transport_packets_total", "counter", "Packets through the UDP links, by link and result.")
	for i, l := range m.Transport.Links {
		link := strconv.Itoa(i)
		for _, s := range []labelled{{"sent", l.PacketsSent}, {"received", l.PacketsReceived}, {"send_error", l.SendErrors},
			{"read_error", l.ReadErrors}, {"fault_dropped", l.Dropped}, {"fault_duplicated", l.Duplicated},
			{"fault_delayed", l.Delayed}, {"overflow", l.Overflows}} {
			p.sample("corral_transport_packets_total", float64(s.v), "link", link, "result", s.label)
		}
	}
	p.family("corral_transport_bytes_total", "counter", "Bytes through the UDP links, by link and direction.")
	for i, l := range m.Transport.Links {
		link := strconv.Itoa(i)
		p.sample("corral_transport_bytes_total", float64(l.BytesSent), "link", link, "dir", "out")
		p.sample("corral_transport_bytes_total", float64(l.BytesReceived), "link", link, "dir", "in")
	}

	ws := m.Conn.Wire
	p.family("corral_wire_packets_total", "counter", "Received packets by what authentication and framing made of them.")
	for _, s := range []labelled{{"opened", ws.Opened}, {"short", ws.Short}, {"bad_magic", ws.BadMagic}, {"version", ws.Version},
		{"other_cluster", ws.Cluster}, {"own", ws.Own}, {"unknown_sender", ws.UnknownSender}, {"misaddressed", ws.Misaddressed}, {"newer_self", ws.NewerSelf},
		{"auth_failed", ws.Auth}, {"stale_boot", ws.StaleBoot},
		{"replay", ws.Replay}, {"bad_fragment", ws.BadFragment}, {"oversize", ws.Oversize},
		{"reassembly_limit", ws.ReassemblyLimit}, {"late", ws.Late}} {
		p.sample("corral_wire_packets_total", float64(s.v), "result", s.label)
	}
	p.one("corral_wire_sealed_packets_total", "counter", "Packets sealed (authenticated) for sending.", float64(ws.Sealed))

	cs := m.Conn
	p.family("corral_conn_packets_total", "counter", "Authenticated packets handled by the connectivity layer, by result.")
	for _, s := range []labelled{{"in", cs.PacketsIn}, {"out", cs.PacketsOut}, {"bad_link", cs.BadLink},
		{"unknown_peer", cs.UnknownPeer}, {"bad_message", cs.BadMessage}, {"wrong_boot", cs.WrongBoot}, {"unbound", cs.Unbound}} {
		p.sample("corral_conn_packets_total", float64(s.v), "result", s.label)
	}
	p.one("corral_detector_suspicions_total", "counter", "Paths the failure detector declared down.", float64(cs.Suspicions))
	p.one("corral_detector_local_pauses_total", "counter", "Times this node noticed it had been paused itself.", float64(cs.LocalPauses))
	p.one("corral_circuit_retransmits_total", "counter", "Circuit messages sent again for want of an acknowledgement.", float64(cs.Retransmits))
	p.family("corral_circuit_messages_total", "counter", "Circuit messages by result.")
	for _, s := range []labelled{{"sent", cs.Sent}, {"delivered", cs.Delivered}, {"duplicate", cs.Duplicates},
		{"undeliverable", cs.Undeliverable}, {"queue_full", cs.QueueFull}, {"seal_error", cs.SealErrors}} {
		p.sample("corral_circuit_messages_total", float64(s.v), "result", s.label)
	}
	p.one("corral_circuit_acks_total", "counter", "Acknowledgement packets sent.", float64(cs.Acks))

	peers := m.Peers
	sort.Slice(peers, func(i, j int) bool { return peers[i].ID < peers[j].ID })
	peerName := func(id int) string {
		if n, ok := names[id]; ok {
			return n
		}
		return strconv.Itoa(id)
	}
	p.family("corral_peer_reachable", "gauge", "1 if some path to the peer is up.")
	for _, ps := range peers {
		p.sample("corral_peer_reachable", b2f(ps.Reachable), "peer", peerName(int(ps.ID)))
	}
	p.family("corral_path_up", "gauge", "1 if the path works both ways.")
	for _, ps := range peers {
		for _, pa := range ps.Paths {
			p.sample("corral_path_up", b2f(pa.Up), "peer", peerName(int(ps.ID)), "link", strconv.Itoa(pa.Local), "remote_link", strconv.Itoa(pa.Remote))
		}
	}
	p.family("corral_path_rtt_seconds", "gauge", "Smoothed heartbeat round trip on the path (0 if unknown).")
	for _, ps := range peers {
		for _, pa := range ps.Paths {
			p.sample("corral_path_rtt_seconds", pa.RTT.Seconds(), "peer", peerName(int(ps.ID)), "link", strconv.Itoa(pa.Local), "remote_link", strconv.Itoa(pa.Remote))
		}
	}
	p.family("corral_path_suspicions_total", "counter", "Times the detector declared the path down.")
	for _, ps := range peers {
		for _, pa := range ps.Paths {
			p.sample("corral_path_suspicions_total", float64(pa.Suspicions), "peer", peerName(int(ps.ID)), "link", strconv.Itoa(pa.Local), "remote_link", strconv.Itoa(pa.Remote))
		}
	}
	nodeMetrics(p, m)
	h.luaMetrics(p) // lua.go
	h.dlmMetrics(p) // dlm.go
	p.one("corral_api_unauthorized_total", "counter", "Admin API requests over TCP refused for a missing or wrong bearer token.", float64(h.unauthorized.Load()))
}

// counts writes a family of labelled counters or gauges.
func (p promWriter) counts(name, typ, help string, labels []string, cs []node.Count) {
	p.family(name, typ, help)
	for _, c := range cs {
		var lv []string
		for i, l := range labels {
			if i < len(c.Labels) {
				lv = append(lv, l, c.Labels[i])
			}
		}
		p.sample(name, float64(c.Value), lv...)
	}
}

// nodeMetrics writes the families of the resource manager, fencing, DNS,
// the config DB and the Lua calls.
func nodeMetrics(p promWriter, m node.Metrics) {
	p.counts("corral_groups", "gauge", "Groups by state, as this node knows them.", []string{"state"}, m.Groups)
	p.counts("corral_resources", "gauge", "Resources by state, as this node knows them.", []string{"state"}, m.Resources)
	p.counts("corral_fence_operations_total", "counter", "Fence operations this node saw, by event (fence_started, node_fenced, fence_failed).",
		[]string{"event"}, m.FenceOps)
	p.counts("corral_fence_calls_total", "counter", "Fence device calls this node made, by action and result.", []string{"action", "result"}, m.FenceCalls)
	p.family("corral_dns_queries_total", "counter", "DNS queries answered, by response code.")
	rcodes := slices.Sorted(maps.Keys(m.DNS.Rcodes))
	for _, rc := range rcodes {
		p.sample("corral_dns_queries_total", float64(m.DNS.Rcodes[rc]), "rcode", rc)
	}
	p.one("corral_dns_malformed_total", "counter", "DNS queries dropped or answered FORMERR.", float64(m.DNS.Malformed))
	p.counts("corral_cdb_writes_total", "counter", "Config DB transactions this node proposed, by result (ok, condition_failed, no_quorum, error).",
		[]string{"result"}, m.CDBWrites)
	p.one("corral_cdb_revision", "gauge", "The config DB revision this node has applied.", float64(m.CDBRevision))
	p.counts("corral_lua_calls_total", "counter", "Lua calls by script kind (resource, fence, policy, handler) and result (ok, failed, config, timeout).",
		[]string{"kind", "result"}, m.LuaCalls)
	p.family("corral_lua_call_seconds", "histogram", "Lua call latency by script kind.")
	for _, h := range m.LuaLatency {
		kind := ""
		if len(h.Labels) > 0 {
			kind = h.Labels[0]
		}
		var cum uint64
		for i, le := range node.LatencyBuckets {
			cum += h.Counts[i]
			p.sample("corral_lua_call_seconds_bucket", float64(cum), "kind", kind, "le", strconv.FormatFloat(le, 'g', -1, 64))
		}
		p.sample("corral_lua_call_seconds_bucket", float64(h.Count), "kind", kind, "le", "+Inf")
		p.sample("corral_lua_call_seconds_sum", h.Sum, "kind", kind)
		p.sample("corral_lua_call_seconds_count", float64(h.Count), "kind", kind)
	}
	p.counts("corral_disk_requests_total", "counter", "Requests of this node's NBD export, by disk, op (read, write, flush, trim, zero) and path (local: on the serving node's store; remote: through the disk protocol).",
		[]string{"disk", "op", "path"}, m.DiskRequests)
	p.counts("corral_disk_bytes_total", "counter", "Bytes this node's NBD export read and wrote, by disk and dir (read, write).", []string{"disk", "dir"}, m.DiskBytes)
	p.counts("corral_disk_errors_total", "counter", "Requests of this node's NBD export answered with an error, by disk.", []string{"disk"}, m.DiskErrors)
	p.counts("corral_disk_epoch", "gauge", "The epoch of each disk's server, as this node knows it (0: none serves).", []string{"disk"}, m.DiskEpoch)
	p.counts("corral_disk_serving", "gauge", "1 for each disk this node serves, else 0.", []string{"disk"}, m.DiskServing)
}
