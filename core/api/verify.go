package api

import (
	"net/http"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// Verifier is what POST /v1/config/verify needs from the node
// (*node.Node has it); a Node without it answers 501 there.
type Verifier interface {
	Verify(docs map[string][]byte, only []string) (problems, warnings []string)
}

var _ Verifier = (*node.Node)(nil)

func (h *Handler) addVerify() {
	h.add("/v1/config/verify", "POST /v1/config/verify {docs}", map[string]http.HandlerFunc{http.MethodPost: h.verify})
}

// verify checks a whole staged configuration without writing it.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	v, ok := h.n.(Verifier)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node cannot verify a configuration", "use a corral agent built with it")
		return
	}
	var req apitypes.VerifyRequest
	if !decodeBody(w, r, &req, false, `{"docs": {"/groups/web": "{\"resources\": []}"}}`) {
		return
	}
	docs := make(map[string][]byte, len(req.Docs))
	for k, val := range req.Docs {
		docs[k] = []byte(val)
	}
	problems, warnings := v.Verify(docs, req.Only)
	res := apitypes.VerifyResult{OK: len(problems) == 0, Problems: problems, Warnings: warnings}
	if res.Problems == nil {
		res.Problems = []string{}
	}
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	WriteJSON(w, http.StatusOK, res)
}
