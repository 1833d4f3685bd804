package shell

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/dns"
)

func dnsCommand() *command {
	return &command{
		name:    "dns",
		usage:   "dns [--json] | dns query NAME [TYPE] [--json]",
		summary: "the DNS records this node serves, or its answer to one query",
		help: "Every node answers DNS for the cluster's zone ([dns] domain, default <cluster>.corral.)\n" +
			"on its [dns] listen addresses: the apex lists the online members, <group>.<domain> a\n" +
			"group's address while it is online, _<service>._<proto>.<group> its SRV record,\n" +
			"<node>.node.<domain> a node. Only a node in the primary view that holds its lease\n" +
			"answers; any other answers SERVFAIL so resolvers ask another node.\n" +
			"`dns` lists the records this node serves now; `dns query NAME [TYPE]` shows the reply\n" +
			"it gives now (TYPE defaults to A), as `dig @<listen address> NAME TYPE` would.",
		example: "dns\ndns query demo.corral.\ndns query _http._tcp.web.demo.corral. SRV --json",
		subs:    []string{"query"},
		run:     runDNS,
	}
}

func runDNS(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) == 0 {
		return dnsRecords(ctx, s)
	}
	if a.pos[0] != "query" {
		return usagef("usage: %s", a.cmd.usage)
	}
	rest := a.pos[1:]
	if len(rest) < 1 || len(rest) > 2 {
		return usagef("usage: dns query NAME [TYPE]")
	}
	qtype := "A"
	if len(rest) == 2 {
		qtype = rest[1]
	}
	if _, err := dns.ParseType(qtype); err != nil {
		return usagef("%v", err)
	}
	var ans dns.Answer
	if err := s.Client.Get(ctx, "/v1/dns/query?name="+url.QueryEscape(rest[0])+"&type="+url.QueryEscape(qtype), &ans); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, ans)
	}
	status := ans.Rcode
	if ans.Truncated {
		status += " (truncated)"
	}
	if ans.Reason != "" {
		status += ": " + ans.Reason
	}
	if _, err := fmt.Fprintf(s.Stdout, "%s %s: %s\n", ans.Name, ans.Type, status); err != nil {
		return err
	}
	t := newTable("SECTION", "NAME", "TTL", "TYPE", "DATA")
	for _, sec := range []struct {
		name string
		rrs  []dns.Record
	}{{"answer", ans.Answer}, {"authority", ans.Authority}, {"additional", ans.Extra}} {
		for _, r := range sec.rrs {
			t.row(sec.name, r.Name, strconv.Itoa(int(r.TTL)), r.Type, r.Data)
		}
	}
	if len(t.rows) == 0 {
		return nil
	}
	return t.render(s.Stdout, s.Color)
}

func dnsRecords(ctx context.Context, s *Shell) error {
	var doc apitypes.DNSDoc
	if err := s.Client.Get(ctx, "/v1/dns", &doc); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, doc)
	}
	serving := "yes"
	if !doc.Serving {
		serving = "no (answers SERVFAIL): " + doc.Reason
	}
	listen := "off ([dns] listen = [], or the default <address>:53 could not be bound: see the log)"
	if len(doc.Listen) > 0 {
		listen = fmt.Sprint(doc.Listen)
	}
	if err := kv(s.Stdout, s.Color, [2]string{"domain", doc.Domain}, [2]string{"listen", listen}, [2]string{"serving", serving},
		[2]string{"queries", fmt.Sprintf("%d (malformed %d, truncated %d)", doc.Stats.Queries, doc.Stats.Malformed, doc.Stats.Truncated)}); err != nil {
		return err
	}
	for _, p := range doc.Problems {
		if _, err := fmt.Fprintf(s.Stdout, "problem: %s\n", p); err != nil {
			return err
		}
	}
	if len(doc.Records) == 0 {
		return nil
	}
	t := newTable("NAME", "TTL", "TYPE", "DATA")
	for _, r := range doc.Records {
		t.row(r.Name, strconv.Itoa(int(r.TTL)), r.Type, r.Data)
	}
	return t.render(s.Stdout, s.Color)
}
