package nbd

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestWire drives the server byte by byte from testdata/wire/*.txt:
//
//	connect [flags=N]          dial, read the greeting, send client flags
//	option OPT [data=HEX] [fill=N] [len=N]
//	                           send an option (OPT a name or number; fill
//	                           appends N zero bytes; len overrides the
//	                           length field) and print the
//	                           replies up to the final one
//	go|info name=X [reqs=0,3]  NBD_OPT_GO / NBD_OPT_INFO
//	export-name name=X         NBD_OPT_EXPORT_NAME and its reply
//	request cmd=C [flags=N] [off=N] [len=N] [payload=N] [magic=HEX]
//	                           send a request, print its reply
//	send HEX                   raw bytes
//	closed                     expect the server to close the connection
func TestWire(t *testing.T) {
	datadriven.Walk(t, "testdata/wire", func(t *testing.T, path string) {
		exps, _ := oneExport("d", 1<<20)
		exps["ro"] = Export{Name: "ro", Description: "read only", Size: 4096, Backend: newMem(4096), ReadOnly: true}
		exps["big"] = Export{Name: "big", Size: 1 << 20, Backend: newMem(1 << 20), MinBlock: 512, PreferredBlock: 4096, MaxBlock: 65536}
		ts := startServer(t, exps)
		w := &wire{t: t, sock: ts.sock}
		defer w.close()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return w.handle(d)
		})
	})
}

type wire struct {
	t          *testing.T
	sock       string
	c          net.Conn
	br         *bufio.Reader
	structured bool
	cookie     uint64
}

func (w *wire) close() {
	if w.c != nil {
		_ = w.c.Close()
	}
}

var optNames = map[string]uint32{
	"export-name": optExportName, "abort": optAbort, "list": optList, "starttls": optStartTLS,
	"info": optInfo, "go": optGo, "structured-reply": optStructuredReply,
	"list-meta-context": optListMetaContext, "set-meta-context": optSetMetaContext,
}

var repNames = map[uint32]string{
	repAck: "ack", repServer: "server", repInfo: "info", repMetaContext: "meta-context",
	repErrUnsup: "err-unsup", repErrPolicy: "err-policy", repErrInvalid: "err-invalid",
	repErrUnknown: "err-unknown", repErrShutdown: "err-shutdown", repErrBlockReqd: "err-block-size-reqd",
	repErrTooBig: "err-too-big",
}

var cmdCodes = map[string]uint16{
	"read": cmdRead, "write": cmdWrite, "disc": cmdDisc, "flush": cmdFlush, "trim": cmdTrim,
	"cache": cmdCache, "write-zeroes": cmdWriteZeroes, "block-status": cmdBlockStatus,
}

func arg(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func num(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return v
}

func (w *wire) send(b []byte) {
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

func (w *wire) read(n int) ([]byte, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	_, err := io.ReadFull(w.br, b)
	return b, err
}

func (w *wire) handle(d *datadriven.TestData) string {
	t := w.t
	switch d.Cmd {
	case "connect":
		w.close()
		c, err := net.Dial("unix", w.sock)
		if err != nil {
			t.Fatal(err)
		}
		w.c, w.br, w.structured = c, bufio.NewReader(c), false
		g, err := w.read(18)
		if err != nil {
			t.Fatalf("greeting: %v", err)
		}
		var f [4]byte
		binary.BigEndian.PutUint32(f[:], uint32(num(t, arg(d, "flags", "3"))))
		w.send(f[:])
		return fmt.Sprintf("greeting magic=%s opt=%s flags=%#x\n", g[:8], g[8:16], binary.BigEndian.Uint16(g[16:]))
	case "option", "go", "info":
		var opt uint32
		var data []byte
		if d.Cmd == "option" {
			name := d.CmdArgs[0].Key
			if v, ok := optNames[name]; ok {
				opt = v
			} else {
				opt = uint32(num(t, name))
			}
			var err error
			if data, err = hex.DecodeString(arg(d, "data", "")); err != nil {
				t.Fatal(err)
			}
			if f := arg(d, "fill", ""); f != "" {
				data = append(data, make([]byte, num(t, f))...)
			}
		} else {
			opt = optNames[d.Cmd]
			name := arg(d, "name", "")
			data = binary.BigEndian.AppendUint32(nil, uint32(len(name)))
			data = append(data, name...)
			var reqs []string
			if r := arg(d, "reqs", ""); r != "" {
				reqs = strings.Split(r, ",")
			}
			data = binary.BigEndian.AppendUint16(data, uint16(len(reqs)))
			for _, r := range reqs {
				data = binary.BigEndian.AppendUint16(data, uint16(num(t, r)))
			}
		}
		length := uint64(len(data))
		if l := arg(d, "len", ""); l != "" {
			length = num(t, l)
		}
		h := binary.BigEndian.AppendUint64(nil, magicOpt)
		h = binary.BigEndian.AppendUint32(h, opt)
		h = binary.BigEndian.AppendUint32(h, uint32(length))
		w.send(append(h, data...))
		return w.optReplies(opt)
	case "export-name":
		name := arg(d, "name", "")
		h := binary.BigEndian.AppendUint64(nil, magicOpt)
		h = binary.BigEndian.AppendUint32(h, optExportName)
		h = binary.BigEndian.AppendUint32(h, uint32(len(name)))
		w.send(append(h, name...))
		b, err := w.read(10)
		if err != nil {
			return fmt.Sprintf("closed (%v)\n", short(err))
		}
		out := fmt.Sprintf("export size=%d flags=%#x\n", binary.BigEndian.Uint64(b), binary.BigEndian.Uint16(b[8:]))
		if z := arg(d, "zeroes", ""); z != "" {
			zb, err := w.read(int(num(t, z)))
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("zeroes %d all-zero=%v\n", len(zb), strings.Count(string(zb), "\x00") == len(zb))
		}
		return out
	case "request":
		typ := cmdCodes[arg(d, "cmd", "read")]
		w.cookie++
		h := binary.BigEndian.AppendUint32(nil, uint32(num(t, arg(d, "magic", fmt.Sprint(magicRequest)))))
		h = binary.BigEndian.AppendUint16(h, uint16(num(t, arg(d, "flags", "0"))))
		h = binary.BigEndian.AppendUint16(h, typ)
		h = binary.BigEndian.AppendUint64(h, w.cookie)
		h = binary.BigEndian.AppendUint64(h, num(t, arg(d, "off", "0")))
		length := num(t, arg(d, "len", "0"))
		h = binary.BigEndian.AppendUint32(h, uint32(length))
		w.send(h)
		if p := arg(d, "payload", ""); p != "" {
			w.send(make([]byte, num(t, p)))
		}
		if typ == cmdDisc {
			return w.closed()
		}
		return w.replyFor(typ, length)
	case "structured":
		w.structured = true
		return ""
	case "send":
		b, err := hex.DecodeString(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		w.send(b)
		return ""
	case "closed":
		return w.closed()
	}
	t.Fatalf("unknown command %s", d.Cmd)
	return ""
}

func short(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "error"
}

func (w *wire) closed() string {
	b, err := w.read(1)
	if err != nil {
		return fmt.Sprintf("closed (%s)\n", short(err))
	}
	return fmt.Sprintf("open: got %x\n", b)
}

func (w *wire) optReplies(opt uint32) string {
	var sb strings.Builder
	for {
		h, err := w.read(20)
		if err != nil {
			fmt.Fprintf(&sb, "closed (%s)\n", short(err))
			return sb.String()
		}
		if m := binary.BigEndian.Uint64(h); m != magicOptReply {
			fmt.Fprintf(&sb, "bad reply magic %#x\n", m)
			return sb.String()
		}
		o := binary.BigEndian.Uint32(h[8:])
		typ := binary.BigEndian.Uint32(h[12:])
		data, err := w.read(int(binary.BigEndian.Uint32(h[16:])))
		if err != nil {
			fmt.Fprintf(&sb, "closed (%s)\n", short(err))
			return sb.String()
		}
		name := repNames[typ]
		if name == "" {
			name = fmt.Sprintf("%#x", typ)
		}
		fmt.Fprintf(&sb, "opt=%d %s", o, name)
		switch {
		case typ == repServer:
			n := binary.BigEndian.Uint32(data)
			fmt.Fprintf(&sb, " name=%q desc=%q", data[4:4+n], data[4+n:])
		case typ == repInfo:
			fmt.Fprintf(&sb, " %s", infoString(data))
		case typ&(1<<31) != 0 && len(data) > 0:
			fmt.Fprintf(&sb, " %q", data)
		case len(data) > 0:
			fmt.Fprintf(&sb, " data=%x", data)
		}
		sb.WriteString("\n")
		if typ == repAck || typ&(1<<31) != 0 {
			if typ == repAck && opt == optStructuredReply {
				w.structured = true
			}
			return sb.String()
		}
	}
}

func infoString(d []byte) string {
	switch binary.BigEndian.Uint16(d) {
	case infoExport:
		return fmt.Sprintf("export size=%d flags=%#x", binary.BigEndian.Uint64(d[2:]), binary.BigEndian.Uint16(d[10:]))
	case infoName:
		return fmt.Sprintf("name=%q", d[2:])
	case infoDescription:
		return fmt.Sprintf("description=%q", d[2:])
	case infoBlockSize:
		return fmt.Sprintf("block-size min=%d pref=%d max=%d", binary.BigEndian.Uint32(d[2:]),
			binary.BigEndian.Uint32(d[6:]), binary.BigEndian.Uint32(d[10:]))
	}
	return fmt.Sprintf("unknown %x", d)
}

// replyFor reads the reply to the last request and prints it.
func (w *wire) replyFor(typ uint16, length uint64) string {
	var sb strings.Builder
	for {
		m, err := w.read(4)
		if err != nil {
			fmt.Fprintf(&sb, "closed (%s)\n", short(err))
			return sb.String()
		}
		switch binary.BigEndian.Uint32(m) {
		case magicSimple:
			h, err := w.read(12)
			if err != nil {
				fmt.Fprintf(&sb, "closed (%s)\n", short(err))
				return sb.String()
			}
			e := binary.BigEndian.Uint32(h)
			fmt.Fprintf(&sb, "simple cookie=%d error=%d", binary.BigEndian.Uint64(h[4:]), e)
			if e == 0 && typ == cmdRead && length > 0 {
				if _, err := w.read(int(length)); err != nil {
					fmt.Fprintf(&sb, " data closed (%s)", short(err))
				} else {
					fmt.Fprintf(&sb, " data=%d", length)
				}
			}
			sb.WriteString("\n")
			return sb.String()
		case magicStructure:
			h, err := w.read(16)
			if err != nil {
				fmt.Fprintf(&sb, "closed (%s)\n", short(err))
				return sb.String()
			}
			flags := binary.BigEndian.Uint16(h)
			ct := binary.BigEndian.Uint16(h[2:])
			n := binary.BigEndian.Uint32(h[12:])
			p, err := w.read(int(n))
			if err != nil {
				fmt.Fprintf(&sb, "closed (%s)\n", short(err))
				return sb.String()
			}
			fmt.Fprintf(&sb, "chunk cookie=%d flags=%d type=", binary.BigEndian.Uint64(h[4:]), flags)
			switch ct {
			case chunkNone:
				fmt.Fprintf(&sb, "none len=%d", n)
			case chunkOffsetData:
				fmt.Fprintf(&sb, "offset-data off=%d data=%d", binary.BigEndian.Uint64(p), n-8)
			case chunkError, chunkErrorOffset:
				fmt.Fprintf(&sb, "error(%d) error=%d msglen=%d", ct, binary.BigEndian.Uint32(p), binary.BigEndian.Uint16(p[4:]))
			default:
				fmt.Fprintf(&sb, "%d len=%d", ct, n)
			}
			sb.WriteString("\n")
			if flags&replyFlagDone != 0 {
				return sb.String()
			}
		default:
			fmt.Fprintf(&sb, "bad reply magic %x\n", m)
			return sb.String()
		}
	}
}
