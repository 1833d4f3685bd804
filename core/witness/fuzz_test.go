package witness

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func frame(k, body []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write(body)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	b = append(b, body...)
	return m.Sum(b)
}

// FuzzArbiterFrame feeds the arbiter what reaches its TCP port: raw bytes
// (anyone on the network) and a JSON body signed with the cluster key (a
// node, or a key holder gone wrong). Raw bytes never pass readFrame
// unless they carry a valid HMAC; a signed body is decoded and judged. The
// arbiter holds the vote for {1,2} (the last primary view) and the lease
// runs: whatever the request, the vote goes to no other set, and only to a
// member asking for its own set.
func FuzzArbiterFrame(f *testing.F) {
	r, _ := json.Marshal(req(1, 3, true, 1, 2))
	f.Add(false, r)
	f.Add(true, r)
	r, _ = json.Marshal(req(3, 4, false, 3, 4))
	f.Add(true, r)
	f.Add(true, []byte(`{"cluster":"c","node":2,"view":{"epoch":9,"coord":2,"members":[2,1,2]},"installed":true,"nonce":"AAE="}`))
	f.Add(true, []byte(`{"cluster":"c","node":1,"view":{"members":null}}`))
	f.Add(false, []byte{0, 0, 0, 1, '{'})
	now := time.Unix(1000, 0)
	a, err := NewArbiter(Config{Cluster: "c", Key: key, Dir: f.TempDir(), Lease: 2 * time.Second, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	a.now = func() time.Time { return now }
	f.Fuzz(func(t *testing.T, sign bool, b []byte) {
		lp := View{Epoch: 2, Coord: 1, Members: []uint16{1, 2}}
		a.st = state{LP: &lp, Grant: []uint16{1, 2}, GrantUntil: now.Add(time.Second).UnixMilli()}
		in := b
		if sign {
			in = frame(a.key, b)
		}
		var rq Request
		err := readFrame(bytes.NewReader(in), a.key, &rq)
		if !sign {
			if err == nil && !validMAC(a.key, in) {
				t.Fatalf("unsigned %x accepted", in)
			}
			if err != nil {
				return
			}
		}
		if sign && len(b) <= maxFrame {
			if jerr := json.Unmarshal(b, new(Request)); (err == nil) != (jerr == nil) {
				t.Fatalf("readFrame: %v, json: %v", err, jerr)
			}
		}
		if err != nil {
			return
		}
		ans := a.Decide(rq)
		if !bytes.Equal(ans.Nonce, rq.Nonce) {
			t.Fatalf("nonce %x answered with %x", rq.Nonce, ans.Nonce)
		}
		if !ans.Granted {
			if ans.Reason == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		members := slices.Clone(rq.View.Members)
		slices.Sort(members)
		if !slices.Equal(members, []uint16{1, 2}) || !slices.Contains(members, rq.Node) {
			t.Fatalf("vote held by [1 2] granted to node %d for %v", rq.Node, rq.View.Members)
		}
		if ans.LP == nil || !intersects(ans.LP.Members, lp.Members) {
			t.Fatalf("grant with LP %+v", ans.LP)
		}
	})
}

// validMAC reports whether in is a frame whose HMAC verifies.
func validMAC(k, in []byte) bool {
	if len(in) < 4 {
		return false
	}
	n := binary.BigEndian.Uint32(in)
	if uint64(len(in)) < 4+uint64(n)+sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, k)
	m.Write(in[4 : 4+n])
	return hmac.Equal(m.Sum(nil), in[4+n:4+n+sha256.Size])
}

// FuzzDiskSlots feeds the disk witness a file of slots written by others:
// raw bytes in the first slot, and a JSON body the fuzzer chose, signed
// with the cluster key, in the slot of node 2. Opening the file and asking
// for the vote never panics; a slot is taken only for the node it belongs
// to; a grant never goes to a set outside the newest last primary view.
func FuzzDiskSlots(f *testing.F) {
	good, _ := json.Marshal(slot{Node: 2, Counter: 3, Claim: []uint16{2, 3}, Granted: true, LP: &View{Epoch: 4, Coord: 2, Members: []uint16{2, 3}}})
	f.Add([]byte{}, good)
	f.Add(bytes.Repeat([]byte{0xFF}, 40), []byte(`{"node":2,"claim":[],"lp":{"members":[]}}`))
	f.Add([]byte{0, 0, 0, 8}, []byte(`{"node":1,"granted":true}`))
	dir := f.TempDir()
	k, err := macKey(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, body []byte) {
		if len(raw) > slotSize || 4+len(body)+sha256.Size > slotSize {
			return
		}
		file := make([]byte, 3*slotSize)
		copy(file, raw)
		copy(file[slotSize:], frame(k, body))
		path := filepath.Join(dir, "witness")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := NewDisk(path, key, 3, []uint16{1, 2, 3}, time.Second, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		d.sleep = func(context.Context, time.Duration) error { return nil }
		all, err := d.read()
		if err != nil {
			t.Fatal(err)
		}
		for id, s := range all {
			if s.Node != id {
				t.Fatalf("slot of node %d taken for node %d", id, s.Node)
			}
		}
		lp := newestLP(all)
		ans, err := d.Ask(context.Background(), 3, View{Epoch: 9, Coord: 3, Members: []uint16{3}}, false)
		if err != nil {
			return // e.g. this node's slot, carried over, no longer fits
		}
		if ans.Granted && lp != nil && !slices.Contains(lp.Members, 3) {
			t.Fatalf("vote for [3] granted outside the last primary view %+v", lp)
		}
	})
}
