package main

import (
	"strings"
	"testing"
)

// TestRender: a measured figure shows its value, the peer, the ratio and
// whether the goal is met; a figure no benchmark recorded says so; the last
// record of a figure wins; an unknown figure is listed after the catalogue.
func TestRender(t *testing.T) {
	in := `{"figure":"cdb-set-p50-1","value":900,"unit":"µs","peer":"etcd","peer_value":1500}
{"figure":"failover-web-p50","value":9000,"unit":"ms"}
{"figure":"failover-web-p50","value":560,"unit":"ms","peer":"Pacemaker","peer_value":8850}

{"figure":"zz-new","value":3,"unit":"s"}
`
	recs, err := read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render(&b, recs)
	out := b.String()
	for _, want := range []string{
		"| Config DB set, 1 client, p50 (vs etcd Put) | 900 µs | etcd: 1500 µs | 0.6× | ≤ 0.5× | **no** |",
		"| Failover: kill -9 of web's owner → web answering elsewhere, p50 | 560 ms | Pacemaker: 8850 ms | 0.0633× | ≤ 1500 ms | yes |",
		"| Idle cost: CPU of a quiet node of 3 | not measured in this run | | | ≤ 0.5 % | |",
		"| zz-new | 3.00 s |  |  | — |  |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := read(strings.NewReader("{not json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: err %v, want one naming line 1", err)
	}
}
