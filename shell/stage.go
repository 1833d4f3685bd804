package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

// A staged session (issue 23; `configure`, `diff`, `verify`, `commit`,
// `abort`) is a copy of the config DB's /resources/, /groups/, /fence/
// and /settings/ at one revision, held in the shell process: the
// interactive shell and a script (`corral shell -f FILE`) are one process
// each, so the stage lives as long as the session that opened it and
// leaves nothing behind when it ends (a script that ends with a stage
// open fails). `corral shell -c` runs one command per process, so it
// cannot hold a stage and `configure` refuses there.
//
// While a stage is open, `resource add|del`, `group add|del` and `set`
// run their usual code (parsing, the documents they build) against the
// stage instead of the cluster: the config DB reads and writes they make
// go through cdbDoc, cdbPutDoc, txnDocs and stagedList, which consult
// s.stage. Each such command line is recorded; `commit --force` re-reads
// the live configuration and runs the recorded lines again on it.

// stagePrefixes are the config DB folders a stage copies.
var stagePrefixes = []string{"/resources/", "/groups/", "/fence/", "/settings/"}

// stage is an open staged session.
type stage struct {
	rev   uint64                     // the live revision it was copied at
	base  map[string]apitypes.CDBKey // the live keys at rev
	docs  map[string]string          // the staged values; a key absent is deleted
	lines []string                   // the staged command lines, in order
}

// covers reports whether key is in one of the staged folders.
func covers(key string) bool {
	for _, p := range stagePrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// readLive lists the staged folders at one revision.
func readLive(ctx context.Context, s *Shell) (map[string]apitypes.CDBKey, uint64, error) {
	for try := 0; try < 5; try++ {
		keys := map[string]apitypes.CDBKey{}
		var rev uint64
		same := true
		for i, p := range stagePrefixes {
			var res apitypes.CDBListResult
			if err := s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(p), &res); err != nil {
				return nil, 0, err
			}
			if res.Stale {
				return nil, 0, errors.New("this node has no quorum, so its configuration may be old: use a node of the primary view (`quorum`)")
			}
			if i > 0 && res.Revision != rev {
				same = false
			}
			rev = res.Revision
			for _, k := range res.Keys {
				keys[k.Key] = k
			}
		}
		if same {
			return keys, rev, nil
		}
	}
	return nil, 0, errors.New("the configuration keeps changing under us: try again")
}

// openStage copies the live configuration into a new stage.
func openStage(ctx context.Context, s *Shell) (*stage, error) {
	base, rev, err := readLive(ctx, s)
	if err != nil {
		return nil, err
	}
	st := &stage{rev: rev, base: base, docs: map[string]string{}}
	for k, v := range base {
		st.docs[k] = v.Value
	}
	return st, nil
}

// stageChange is one key the stage changes against the live revision it
// was copied at.
type stageChange struct {
	Key   string `json:"key"`
	Op    string `json:"op"` // add, change or delete
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
	Moved bool   `json:"moved,omitempty"` // its live revision moved since (diff)
}

// changes lists what the stage changes, by key.
func (st *stage) changes() []stageChange {
	keys := map[string]bool{}
	for k := range st.base {
		keys[k] = true
	}
	for k := range st.docs {
		keys[k] = true
	}
	var out []stageChange
	for _, k := range sortedStrings(keys) {
		old, had := st.base[k]
		v, has := st.docs[k]
		switch {
		case had && !has:
			out = append(out, stageChange{Key: k, Op: "delete", Old: old.Value})
		case !had && has:
			out = append(out, stageChange{Key: k, Op: "add", New: v})
		case had && has && old.Value != v:
			out = append(out, stageChange{Key: k, Op: "change", Old: old.Value, New: v})
		}
	}
	return out
}

func sortedStrings(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply applies a transaction's ops to the stage.
func (st *stage) apply(ops []apitypes.CDBOp) {
	for _, o := range ops {
		if o.Op == "delete" {
			delete(st.docs, o.Key)
		} else {
			st.docs[o.Key] = o.Value
		}
	}
}

// txn is the config DB transaction that commits the stage: each changed
// key must still be at the revision the stage copied (0: absent).
func (st *stage) txn() apitypes.CDBTxnRequest {
	var req apitypes.CDBTxnRequest
	for _, c := range st.changes() {
		req.If = append(req.If, apitypes.CDBCond{Key: c.Key, Revision: st.base[c.Key].Revision})
		if c.Op == "delete" {
			req.Ops = append(req.Ops, apitypes.CDBOp{Op: "delete", Key: c.Key})
		} else {
			req.Ops = append(req.Ops, apitypes.CDBOp{Op: "set", Key: c.Key, Value: c.New})
		}
	}
	return req
}

// crmDocs is the stage's resource manager configuration, for verify.
func (st *stage) crmDocs() map[string]string {
	out := map[string]string{}
	for k, v := range st.docs {
		if strings.HasPrefix(k, "/resources/") || strings.HasPrefix(k, "/groups/") {
			out[k] = v
		}
	}
	return out
}

// stagedList lists the keys under prefix: the stage's when one is open and
// covers it, else the live ones.
func stagedList(ctx context.Context, s *Shell, prefix string) ([]apitypes.CDBKey, error) {
	if st := s.stage; st != nil && covers(prefix) {
		var out []apitypes.CDBKey
		for _, k := range sortedStrings(keysOf(st.docs)) {
			if strings.HasPrefix(k, prefix) {
				out = append(out, apitypes.CDBKey{Key: k, Value: st.docs[k], Revision: st.base[k].Revision})
			}
		}
		return out, nil
	}
	var list apitypes.CDBListResult
	if err := s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(prefix), &list); err != nil {
		return nil, err
	}
	return list.Keys, nil
}

func keysOf(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// errNoStage is returned by the stage's commands without an open stage.
func errNoStage(cmd string) error {
	return usagef("%s: no staged session is open: `configure` opens one", cmd)
}

// verifyStage asks the node to check the stage's configuration whole.
func verifyStage(ctx context.Context, s *Shell, st *stage) (apitypes.VerifyResult, error) {
	var res apitypes.VerifyResult
	err := s.Client.Do(ctx, http.MethodPost, "/v1/config/verify", apitypes.VerifyRequest{Docs: st.crmDocs()}, &res)
	return res, err
}

// checkStep has the node check the resource and group values a staged
// step writes, each alone, as it checks a live write (the agent exists,
// the parameters match its meta()): a step it refuses leaves the stage
// unchanged. The whole configuration is checked by verify and commit.
func checkStep(ctx context.Context, s *Shell, ops []apitypes.CDBOp) error {
	req := apitypes.VerifyRequest{Docs: map[string]string{}}
	for _, o := range ops {
		if o.Op == "set" && (strings.HasPrefix(o.Key, "/resources/") || strings.HasPrefix(o.Key, "/groups/")) {
			req.Docs[o.Key] = o.Value
			req.Only = append(req.Only, o.Key)
		}
	}
	if len(req.Only) == 0 {
		return nil
	}
	var res apitypes.VerifyResult
	if err := s.Client.Do(ctx, http.MethodPost, "/v1/config/verify", req, &res); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("not staged: %s", strings.Join(res.Problems, "; "))
	}
	return nil
}

// errMoved: a commit found a staged key's live revision moved.
var errMoved = errors.New("the live configuration moved")

// commitStage applies the stage as one config DB transaction; errMoved
// (wrapped) when a key it changes moved meanwhile.
func commitStage(ctx context.Context, s *Shell, st *stage) (apitypes.CDBWriteResult, error) {
	var res apitypes.CDBWriteResult
	req := st.txn()
	if len(req.Ops) == 0 {
		return res, nil
	}
	err := s.Client.Do(ctx, http.MethodPost, "/v1/cdb-txn", req, &res)
	var ae *APIError
	if err != nil && errors.As(err, &ae) && ae.Status == http.StatusConflict && strings.HasPrefix(ae.Body.Error, "revision mismatch") {
		return res, fmt.Errorf("%w since `configure` (revision %d): %s; `diff` shows what moved, `commit --force` re-reads it and runs the staged commands again on it",
			errMoved, st.rev, ae.Body.Error)
	}
	return res, err
}

// rebase opens a stage on the live configuration and runs the staged
// command lines again on it (their output is dropped).
func rebase(ctx context.Context, s *Shell, old *stage) (*stage, error) {
	st, err := openStage(ctx, s)
	if err != nil {
		return nil, err
	}
	out, json, cur := s.Stdout, s.json, s.stage
	s.Stdout, s.stage, s.replaying = io.Discard, st, true
	defer func() { s.Stdout, s.json, s.stage, s.replaying = out, json, cur, false }()
	for _, l := range old.lines {
		if err := s.Exec(ctx, l); err != nil {
			return nil, fmt.Errorf("rebasing on revision %d: %s: %w (the stage is unchanged; `abort` and stage again)", st.rev, l, err)
		}
	}
	st.lines = slices.Clone(old.lines)
	return st, nil
}

// stageJSONDoc is a staged value as --json shows it: the JSON document
// itself when the value is JSON, else the string.
func stageJSONDoc(v string) any {
	var x any
	if v != "" && json.Unmarshal([]byte(v), &x) == nil {
		return x
	}
	return v
}
