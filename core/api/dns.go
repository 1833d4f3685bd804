package api

import (
	"errors"
	"net/http"

	"github.com/corral-ha/corral/core/dns"
	"github.com/corral-ha/corral/core/node"
)

// DNSNode is what the DNS endpoints need; a Node without it (a test fake)
// answers them 501.
type DNSNode interface {
	// DNSRecords returns the records this node's responder serves now.
	DNSRecords() (node.DNSDoc, error)
	// DNSQuery asks the responder one question in process.
	DNSQuery(name, qtype string) (dns.Answer, error)
}

var _ DNSNode = (*node.Node)(nil)

func (h *Handler) dnsNode(w http.ResponseWriter) (DNSNode, bool) {
	d, ok := h.n.(DNSNode)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node has no DNS responder", "")
	}
	return d, ok
}

// dnsRecords serves GET /v1/dns: the records this node would serve now.
func (h *Handler) dnsRecords(w http.ResponseWriter, _ *http.Request) {
	d, ok := h.dnsNode(w)
	if !ok {
		return
	}
	doc, err := d.DNSRecords()
	if err != nil {
		nodeError(w, "dns", err)
		return
	}
	WriteJSON(w, http.StatusOK, doc)
}

// dnsQuery serves GET /v1/dns/query?name=N[&type=T]: the reply this node's
// responder gives now.
func (h *Handler) dnsQuery(w http.ResponseWriter, r *http.Request) {
	d, ok := h.dnsNode(w)
	if !ok {
		return
	}
	name, qtype := r.URL.Query().Get("name"), r.URL.Query().Get("type")
	if name == "" {
		WriteError(w, http.StatusBadRequest, "name is missing", "ask e.g. /v1/dns/query?name=web.demo.corral.&type=A")
		return
	}
	a, err := d.DNSQuery(name, qtype)
	if errors.Is(err, node.ErrClosed) {
		nodeError(w, "dns query", err)
		return
	}
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "ask e.g. /v1/dns/query?name=web.demo.corral.&type=A")
		return
	}
	WriteJSON(w, http.StatusOK, a)
}
