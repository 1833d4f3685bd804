package testsuite

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// dnsReply is one reply as these tests read it.
type dnsReply struct {
	rcode  string
	answer []string // the data of each answer record, sorted
	soa    bool     // an SOA in the authority section
}

var digStatus = regexp.MustCompile(`status: ([A-Z]+)`)

// askDNS asks server (ip:port) one question with dig when it is installed,
// else with a Go client (miekg/dns).
func askDNS(server, name, qtype string, tcp bool) (dnsReply, error) {
	host, port, _ := strings.Cut(server, ":")
	if dig, err := exec.LookPath("dig"); err == nil {
		args := []string{"@" + host, "-p", port, name, qtype, "+noall", "+comments", "+answer", "+authority", "+tries=1", "+time=2", "+norecurse"}
		if tcp {
			args = append(args, "+tcp")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, dig, args...).CombinedOutput()
		if err != nil {
			return dnsReply{}, fmt.Errorf("dig %s: %v: %s", strings.Join(args, " "), err, out)
		}
		m := digStatus.FindStringSubmatch(string(out))
		if m == nil {
			return dnsReply{}, fmt.Errorf("dig %s: no status in %q", strings.Join(args, " "), out)
		}
		r := dnsReply{rcode: m[1]}
		section := ""
		for _, l := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(l, ";; ANSWER SECTION"):
				section = "answer"
			case strings.HasPrefix(l, ";; AUTHORITY SECTION"):
				section = "authority"
			case l == "" || strings.HasPrefix(l, ";"):
			default:
				f := strings.Fields(l)
				if len(f) < 5 {
					continue
				}
				if section == "answer" {
					r.answer = append(r.answer, strings.Join(f[4:], " "))
				} else if section == "authority" && f[3] == "SOA" {
					r.soa = true
				}
			}
		}
		slices.Sort(r.answer)
		return r, nil
	}
	t, ok := mdns.StringToType[qtype]
	if !ok {
		return dnsReply{}, fmt.Errorf("type %q", qtype)
	}
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), t)
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	in, _, err := c.Exchange(q, server)
	if err != nil {
		return dnsReply{}, err
	}
	r := dnsReply{rcode: mdns.RcodeToString[in.Rcode]}
	for _, rr := range in.Answer {
		r.answer = append(r.answer, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	for _, rr := range in.Ns {
		if rr.Header().Rrtype == mdns.TypeSOA {
			r.soa = true
		}
	}
	slices.Sort(r.answer)
	return r, nil
}

// TestDNSDemo: every demo node answers DNS on <first address>:8053 over
// UDP and TCP; the apex lists the members and follows a kill -9; a defined
// group without an owner answers NODATA; a node cut off by fault
// injection, and a node left alone after kill -9 of the others, answer
// SERVFAIL. With dig when installed, else a Go client.
func TestDNSDemo(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Log("dig is not installed (apt-get install dnsutils): asking with the Go client instead")
	}
	dir := t.TempDir()
	// no fencing: the cut-off n3 must live on to answer SERVFAIL (the
	// demo's fence device would kill it)
	startDemo(t, dir, "127.85", 3, "--fence=false")
	const n1 = "127.85.0.1:8053"
	expect := func(what, server, name, qtype string, tcp bool, ok func(dnsReply) bool) {
		t.Helper()
		eventually(t, 15*time.Second, what, func() error {
			r, err := askDNS(server, name, qtype, tcp)
			if err != nil {
				return err
			}
			if !ok(r) {
				return fmt.Errorf("reply %+v", r)
			}
			return nil
		})
	}
	three := []string{"127.85.0.1", "127.85.0.2", "127.85.0.3"}
	for _, tcp := range []bool{false, true} {
		for k := 1; k <= 3; k++ {
			expect(fmt.Sprintf("n%d lists the three nodes (tcp %v)", k, tcp), fmt.Sprintf("127.85.0.%d:8053", k), "demo.corral.", "A", tcp,
				func(r dnsReply) bool { return r.rcode == "NOERROR" && slices.Equal(r.answer, three) })
		}
	}
	expect("a node's name", n1, "n2.node.demo.corral.", "A", false,
		func(r dnsReply) bool { return r.rcode == "NOERROR" && slices.Equal(r.answer, []string{"127.85.0.2"}) })
	expect("an unknown name is NXDOMAIN with the SOA", n1, "nope.demo.corral.", "A", false,
		func(r dnsReply) bool { return r.rcode == "NXDOMAIN" && r.soa && len(r.answer) == 0 })
	expect("outside the zone is REFUSED", n1, "example.com.", "A", false,
		func(r dnsReply) bool { return r.rcode == "REFUSED" })

	// a group defined in the config DB, not online (no resource manager
	// yet): NODATA, and the shell shows the same
	if r := corral(t, dir, "shell", "--socket", dir+"/n1/corral.sock", "-c",
		`cdb set /groups/web '{"service":{"name":"http","proto":"tcp","port":8080}}'`); r.code != 0 {
		t.Fatalf("cdb set: %s%s", r.stdout, r.stderr)
	}
	for _, name := range []string{"web.demo.corral.", "_http._tcp.web.demo.corral."} {
		expect(name+" is NODATA while the group is offline", "127.85.0.2:8053", name, "SRV", false,
			func(r dnsReply) bool { return r.rcode == "NOERROR" && r.soa && len(r.answer) == 0 })
	}
	var q struct {
		Rcode  string `json:"rcode"`
		Answer []struct {
			Data string `json:"data"`
		} `json:"answer"`
	}
	if err := shellJSON(t, dir, "n1", "dns query demo.corral. A", &q); err != nil || q.Rcode != "NOERROR" || len(q.Answer) != 3 {
		t.Fatalf("shell dns query: %+v %v", q, err)
	}

	// n3 cut off from both peers by fault injection: a minority of one,
	// it answers SERVFAIL while the majority answers without it
	sh := func(node, cmd string) {
		t.Helper()
		if r := corral(t, dir, "shell", "--socket", dir+"/"+node+"/corral.sock", "-c", cmd); r.code != 0 {
			t.Fatalf("%s on %s: %s%s", cmd, node, r.stdout, r.stderr)
		}
	}
	sh("n3", "debug fault add --drop 1")
	expect("the cut-off n3 answers SERVFAIL", "127.85.0.3:8053", "demo.corral.", "A", false,
		func(r dnsReply) bool { return r.rcode == "SERVFAIL" })
	expect("the majority lists n1 and n2", n1, "demo.corral.", "A", false,
		func(r dnsReply) bool { return r.rcode == "NOERROR" && slices.Equal(r.answer, three[:2]) })
	sh("n3", "debug fault clear")
	expect("n3 back: the apex lists three again", "127.85.0.3:8053", "demo.corral.", "A", false,
		func(r dnsReply) bool { return r.rcode == "NOERROR" && slices.Equal(r.answer, three) })

	pids := demoPIDs(t, dir, 3)
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, tcp := range []bool{false, true} {
		// through the view change n1 answers (the previous view's records
		// during the takeover wait), never SERVFAIL
		expect(fmt.Sprintf("after kill -9 of n3 the apex lists two (tcp %v)", tcp), n1, "demo.corral.", "A", tcp,
			func(r dnsReply) bool {
				if r.rcode != "NOERROR" {
					t.Fatalf("n1 answered %s during the view change after kill -9 of n3", r.rcode)
				}
				return slices.Equal(r.answer, three[:2])
			})
	}
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, tcp := range []bool{false, true} {
		expect(fmt.Sprintf("n1 alone answers SERVFAIL (tcp %v)", tcp), n1, "demo.corral.", "A", tcp,
			func(r dnsReply) bool { return r.rcode == "SERVFAIL" && len(r.answer) == 0 })
	}
	var doc struct {
		Serving bool   `json:"serving"`
		Reason  string `json:"reason"`
	}
	if err := shellJSON(t, dir, "n1", "dns", &doc); err != nil || doc.Serving || doc.Reason == "" {
		t.Fatalf("shell dns on the minority node: %+v %v", doc, err)
	}
}
