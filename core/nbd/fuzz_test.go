package nbd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzOptions feeds arbitrary client bytes (client flags, then options)
// to the negotiation: it must never panic, allocate more than the option
// limit, or leave with an inconsistent session.
func FuzzOptions(f *testing.F) {
	f.Add(optSeed(optList, nil, optGo, infoData("d", infoBlockSize)))
	f.Add(optSeed(optStructuredReply, nil, optSetMetaContext, metaData("d", "base:allocation"), optInfo, infoData("ro", 0, 1, 2, 3), optGo, infoData("big")))
	f.Add(optSeed(optExportName, []byte("d")))
	f.Add(optSeed(optStartTLS, nil, 99, []byte{1, 2}, optAbort, nil))
	f.Add(optSeed(optListMetaContext, metaData("x", "base:"), optInfo, []byte{0, 0, 0, 9}))
	exps, _ := oneExport("d", 1<<20)
	exps["ro"] = Export{Name: "ro", Size: 4096, Backend: newMem(4096), ReadOnly: true}
	exps["big"] = Export{Name: "big", Size: 1 << 20, Backend: newMem(1 << 20), MinBlock: 512, MaxBlock: 65536}
	s := &Server{Exports: exps}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		ss, err := s.negotiate(bufio.NewReader(bytes.NewReader(in)), bufio.NewWriter(&out))
		if ss == nil {
			return
		}
		if err != nil {
			t.Fatalf("session and error %v", err)
		}
		if ss.limit < ss.max || ss.hard < ss.limit || ss.hard < DefaultMaxBlock || ss.min == 0 || ss.pref < ss.min {
			t.Fatalf("inconsistent session %+v", ss)
		}
		if ss.tflags&tflagSendDF != 0 && !ss.structured {
			t.Fatal("SEND_DF without structured replies")
		}
		if _, ok := exps[ss.exp.Name]; !ok {
			t.Fatalf("session on unknown export %q", ss.exp.Name)
		}
	})
}

func optSeed(opts ...any) []byte {
	b := binary.BigEndian.AppendUint32(nil, clientFixedNewstyle|clientNoZeroes)
	for i := 0; i < len(opts); i += 2 {
		data, _ := opts[i+1].([]byte)
		b = binary.BigEndian.AppendUint64(b, magicOpt)
		b = binary.BigEndian.AppendUint32(b, uint32(opts[i].(int)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, data...)
	}
	return b
}

func infoData(name string, reqs ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reqs)))
	for _, r := range reqs {
		b = binary.BigEndian.AppendUint16(b, r)
	}
	return b
}

func metaData(name string, queries ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(queries)))
	for _, q := range queries {
		b = binary.BigEndian.AppendUint32(b, uint32(len(q)))
		b = append(b, q...)
	}
	return b
}

// FuzzRequestParser runs the transmission phase over arbitrary request
// bytes (the first byte picks structured replies and the export) and
// checks that every request read in full gets exactly one well-formed
// reply, whatever the others do, and that nothing panics.
func FuzzRequestParser(f *testing.F) {
	f.Add(reqSeed(0, req(cmdWrite, 0, 0, 8, 8), req(cmdRead, 0, 0, 8, 0), req(cmdFlush, 0, 0, 0, 0), req(cmdDisc, 0, 0, 0, 0)))
	f.Add(reqSeed(1, req(cmdRead, cmdFlagDF, 4096, 512, 0), req(cmdWriteZeroes, cmdFlagNoHole|cmdFlagFUA, 0, 4096, 0),
		req(cmdTrim, 0, 1<<20-1, 2, 0), req(cmdRead, 0, 0, 0, 0)))
	f.Add(reqSeed(2, req(cmdRead, 0, 1, 512, 0), req(cmdWrite, 0, 0, 70000, 70000), req(cmdBlockStatus, 0, 0, 1, 0)))
	f.Add(reqSeed(3, req(cmdWrite, 0, 0, 1<<26, 0)))
	f.Add(reqSeed(1, req(99, 0xffff, ^uint64(0), ^uint32(0), 0), []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		mode := in[0]
		in = append([]byte(nil), in[1:]...)
		var exp Export
		switch mode % 3 {
		case 0:
			exp = Export{Name: "d", Size: 1 << 20, Backend: newMem(1 << 20), MaxBlock: 1 << 20}
		case 1:
			exp = Export{Name: "ro", Size: 4096, Backend: newMem(4096), ReadOnly: true, MaxBlock: 65536}
		case 2:
			exp = Export{Name: "big", Size: 1 << 20, Backend: newMem(1 << 20), MinBlock: 512, MaxBlock: 65536}
		}
		ss := newSession(exp, mode&4 != 0, true)
		// The requests the server must answer: those read in full before
		// a bad magic, a DISC, an oversized write or the end. Cookies
		// are made unique so replies can be matched.
		want := map[uint64]request{}
		for p, i := 0, uint64(1); len(in)-p >= requestSize; i++ {
			var h [requestSize]byte
			copy(h[:], in[p:])
			r, ok := parseRequest(&h)
			if !ok || r.typ == cmdDisc {
				break
			}
			n, ok := ss.payloadLen(r)
			if !ok || uint64(len(in)-p-requestSize) < uint64(n) {
				break
			}
			binary.BigEndian.PutUint64(in[p+8:], i)
			r.cookie = i
			want[i] = r
			p += requestSize + int(n)
		}
		var out bytes.Buffer
		s := &Server{Exports: mapExports{}, Stats: &Stats{}, InFlight: 4}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := s.transmit(ctx, cancel, ss, bufio.NewReader(bytes.NewReader(in)), bufio.NewWriter(&out))
		if err != nil && !errors.Is(err, ErrBadRequest) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("transmit: %v", err)
		}
		checkReplies(t, ss, want, out.Bytes())
	})
}

// checkReplies parses the server's output and matches it to want.
func checkReplies(t *testing.T, ss *session, want map[uint64]request, out []byte) {
	t.Helper()
	for len(out) > 0 {
		if len(out) < 16 {
			t.Fatalf("truncated reply %x", out)
		}
		var cookie uint64
		var n int
		done := true
		switch binary.BigEndian.Uint32(out) {
		case magicSimple:
			cookie = binary.BigEndian.Uint64(out[8:])
			n = 16
			r, ok := want[cookie]
			if ok && r.typ == cmdRead && binary.BigEndian.Uint32(out[4:]) == 0 {
				if ss.structured {
					t.Fatal("simple reply to a read with structured replies")
				}
				n += int(r.length)
			}
		case magicStructure:
			if !ss.structured || len(out) < 20 {
				t.Fatal("unexpected structured reply")
			}
			cookie = binary.BigEndian.Uint64(out[8:])
			done = binary.BigEndian.Uint16(out[4:])&replyFlagDone != 0
			n = 20 + int(binary.BigEndian.Uint32(out[16:]))
		default:
			t.Fatalf("bad reply magic %x", out[:4])
		}
		if _, ok := want[cookie]; !ok {
			t.Fatalf("reply to cookie %d: not asked or answered twice", cookie)
		}
		if n > len(out) {
			t.Fatalf("reply longer than the output")
		}
		out = out[n:]
		if done {
			delete(want, cookie)
		}
	}
	if len(want) > 0 {
		t.Fatalf("%d requests without a reply", len(want))
	}
}

func req(typ, flags uint16, off uint64, length uint32, payload int) []byte {
	b := binary.BigEndian.AppendUint32(nil, magicRequest)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, 7)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, make([]byte, payload)...)
}

func reqSeed(mode byte, reqs ...[]byte) []byte {
	return append([]byte{mode}, bytes.Join(reqs, nil)...)
}
