package nbd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tool returns the path of a libnbd/qemu tool or skips the test.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (package %s)", name, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nbdURI(ts *testServer, name string) string {
	return "nbd+unix:///" + name + "?socket=" + ts.sock
}

func TestNbdinfo(t *testing.T) {
	nbdinfo := tool(t, "nbdinfo", "libnbd-bin")
	exps, _ := oneExport("disk0", 3<<20)
	exps["ro"] = Export{Name: "ro", Description: "read only", Size: 4096, Backend: newMem(4096), ReadOnly: true}
	ts := startServer(t, exps)
	uri := nbdURI(ts, "disk0")
	if got := strings.TrimSpace(run(t, nbdinfo, "--size", uri)); got != "3145728" {
		t.Fatalf("nbdinfo --size: %q", got)
	}
	for _, can := range []string{"flush", "fua", "trim", "zero", "multi-conn", "fast-zero", "df"} {
		run(t, nbdinfo, "--can", can, uri) // exit 0: true
	}
	for _, cannot := range []string{"cache", "block-status", "rotational"} {
		cmd := exec.Command(nbdinfo, "--can", cannot, uri)
		if err := cmd.Run(); err == nil {
			t.Errorf("nbdinfo --can %s: true, want false", cannot)
		}
	}
	if err := exec.Command(nbdinfo, "--can", "write", nbdURI(ts, "ro")).Run(); err == nil {
		t.Errorf("nbdinfo --can write on a read-only export: true")
	}
	list := run(t, nbdinfo, "--list", "--json", "nbd+unix://?socket="+ts.sock)
	for _, want := range []string{`"export-name": "disk0"`, `"export-name": "ro"`, `"description": "read only"`,
		`"block_size_maximum": 33554432`, `"block_size_preferred": 4096`} {
		if !strings.Contains(list, want) {
			t.Errorf("nbdinfo --list lacks %s:\n%s", want, list)
		}
	}
	if err := exec.Command(nbdinfo, nbdURI(ts, "nosuch")).Run(); err == nil {
		t.Errorf("nbdinfo on an unknown export succeeded")
	}
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/4096)
	}
	return p
}

func TestNbdcopy(t *testing.T) {
	nbdcopy := tool(t, "nbdcopy", "libnbd-bin")
	const size = 4 << 20
	exps, mem := oneExport("d", size)
	ts := startServer(t, exps)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	want := pattern(size)
	copy(want[1<<20:2<<20], make([]byte, 1<<20)) // a zero run (nbdcopy may zero it)
	if err := os.WriteFile(in, want, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, nbdcopy, "--flush", in, nbdURI(ts, "d"))
	if !bytes.Equal(mem.snapshot(), want) {
		t.Fatal("nbdcopy in: export differs from the file")
	}
	run(t, nbdcopy, nbdURI(ts, "d"), out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("nbdcopy out: file differs from the export")
	}
}

func TestQemuIO(t *testing.T) {
	qemuIO := tool(t, "qemu-io", "qemu-utils")
	exps, mem := oneExport("d", 2<<20)
	ts := startServer(t, exps)
	out := run(t, qemuIO, "-f", "raw", "-c", "write -P 0x55 0 1M", "-c", "read -P 0x55 0 1M",
		"-c", "write -z 4k 4k", "-c", "read -P 0 4k 4k", "-c", "flush", nbdURI(ts, "d"))
	if strings.Contains(out, "fail") || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("qemu-io:\n%s", out)
	}
	d := mem.snapshot()
	if d[0] != 0x55 || d[1<<20-1] != 0x55 || d[4096] != 0 || d[1<<20] != 0 {
		t.Fatal("qemu-io writes not in the backend")
	}
}

func TestQemuImgConvert(t *testing.T) {
	qemuImg := tool(t, "qemu-img", "qemu-utils")
	const size = 3 << 20
	exps, mem := oneExport("d", size)
	ts := startServer(t, exps)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	want := pattern(size)
	copy(want[2<<20:], make([]byte, 1<<20))
	if err := os.WriteFile(in, want, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, qemuImg, "convert", "-n", "-f", "raw", "-O", "raw", in, nbdURI(ts, "d"))
	if !bytes.Equal(mem.snapshot(), want) {
		t.Fatal("qemu-img convert in: export differs")
	}
	run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", nbdURI(ts, "d"), out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("qemu-img convert out: file differs")
	}
}
