package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAdminSocketDirectory (issue 21): an admin socket whose directory is
// missing gets it, made 0700, and the socket answers; a directory that
// cannot be made (a file is in the way) is a clear error naming the path
// and the fix.
func TestAdminSocketDirectory(t *testing.T) {
	base := t.TempDir()
	sock := filepath.Join(base, "run", "corral", "corral.sock")
	ln, err := listenAdmin(sock)
	if err != nil {
		t.Fatalf("admin socket in a missing directory: %v", err)
	}
	defer ln.Close()
	for _, d := range []string{filepath.Join(base, "run"), filepath.Join(base, "run", "corral")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s made with mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v, want a socket with mode 0600", sock, fi.Mode(), err)
	}

	file := filepath.Join(base, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "corral", "corral.sock")
	_, err = listenAdmin(bad)
	if err == nil {
		t.Fatal("an admin socket under a file was opened")
	}
	want := "admin_socket " + bad + ": cannot create its directory " + filepath.Dir(bad) + ": "
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "create that directory (mode 0700) or set admin_socket to a path in one that exists") ||
		!errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("got %v, want %q, the fix, and ENOTDIR wrapped", err, want)
	}
}
