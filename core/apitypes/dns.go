package apitypes

import "github.com/corral-ha/corral/core/dns"

// DNSDoc is what the DNS responder serves now (GET /v1/dns).
type DNSDoc struct {
	Domain   string       `json:"domain"`
	Listen   []string     `json:"listen"` // bound addresses; empty: DNS off
	Serving  bool         `json:"serving"`
	Reason   string       `json:"reason,omitempty"`
	Records  []dns.Record `json:"records"`
	Problems []string     `json:"problems,omitempty"`
	Stats    dns.Stats    `json:"stats"`
}
