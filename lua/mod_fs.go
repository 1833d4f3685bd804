package lua

import (
	crand "crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"syscall"

	glua "github.com/yuin/gopher-lua"
)

// maxRead caps fs.read.
const maxRead = 16 << 20

// fsLoader builds the fs module (granted scripts only): the few file
// operations agents need without forking (a state file, a pid file).
func (v *vm) fsLoader() glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.NewTable()
		L.SetFuncs(t, map[string]glua.LGFunction{
			"exists": fsExists,
			"read":   fsRead,
			"write":  fsWrite,
			"remove": fsRemove,
			"mkdir":  fsMkdir,
		})
		L.Push(t)
		return 1
	}
}

// fs.exists(path) is true when path exists.
func fsExists(L *glua.LState) int {
	_, err := os.Stat(L.CheckString(1))
	L.Push(glua.LBool(err == nil))
	return 1
}

// fs.read(path) returns the file's content (up to 16 MiB), or nil and the
// error.
func fsRead(L *glua.LState) int {
	f, err := os.Open(L.CheckString(1))
	if err != nil {
		return fail(L, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRead))
	if err != nil {
		return fail(L, err)
	}
	L.Push(glua.LString(string(b)))
	return 1
}

// fs.write(path, data) replaces the file's content: it writes a new file
// of a random name in path's directory, created with O_EXCL|O_NOFOLLOW (a
// link planted at a predictable path.tmp, or at the random name, is never
// written through), and renames it onto path (which replaces a link at
// path itself, never its target). It returns true, or nil and the error.
func fsWrite(L *glua.LState) int {
	if err := WriteNoFollow(L.CheckString(1), L.CheckString(2)); err != nil {
		return fail(L, err)
	}
	L.Push(glua.LTrue)
	return 1
}

// WriteNoFollow replaces path's content with text (mode 0644), never
// writing through a symlink: a new file of a random name in path's
// directory is created with O_EXCL|O_NOFOLLOW (a link planted at a
// predictable path.tmp, or at the random name, is never written through)
// and renamed onto path (which replaces a link at path itself, never its
// target). fs.write, exec.start's pid files and the agent's pid_file use it.
func WriteNoFollow(path, text string) error {
	var rnd [8]byte
	_, _ = crand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// fs.remove(path) removes a file; a missing file is not an error.
func fsRemove(L *glua.LState) int {
	if err := os.Remove(L.CheckString(1)); err != nil && !os.IsNotExist(err) {
		return fail(L, err)
	}
	L.Push(glua.LTrue)
	return 1
}

// fs.mkdir(path) makes a directory and its parents.
func fsMkdir(L *glua.LState) int {
	if err := os.MkdirAll(L.CheckString(1), 0o755); err != nil {
		return fail(L, err)
	}
	L.Push(glua.LTrue)
	return 1
}
