package config

import (
	"errors"
	"strings"
	"testing"
)

// TestNBDDefaults: the socket sits next to the admin socket (the default
// one, a configured one resolved against the file's folder, or its own
// key), and no TCP listener.
func TestNBDDefaults(t *testing.T) {
	c, err := Parse("/etc/corral/corral.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.NBD.Socket != "/run/corral/nbd.sock" || c.NBD.Listen != "" {
		t.Fatalf("nbd defaults %+v, want /run/corral/nbd.sock and no listener", c.NBD)
	}
	c, err = Parse("/etc/corral/corral.toml", []byte("admin_socket = \"run/corral.sock\"\n"+good))
	if err != nil {
		t.Fatal(err)
	}
	if c.NBD.Socket != "/etc/corral/run/nbd.sock" {
		t.Fatalf("nbd socket %q, want /etc/corral/run/nbd.sock next to admin_socket", c.NBD.Socket)
	}
	c, err = Parse("/etc/corral/corral.toml", []byte(good+"\n[nbd]\nsocket = \"n.sock\"\nlisten = \"10.0.0.2:10809\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NBD.Socket != "/etc/corral/n.sock" || c.NBD.Listen != "10.0.0.2:10809" {
		t.Fatalf("nbd %+v", c.NBD)
	}
	if _, err := Parse("c.toml", []byte(good+"\n[nbd]\nlisten = \":10809\"\n")); err != nil {
		t.Fatalf("listen on every address: %v", err)
	}
}

func TestNBDProblems(t *testing.T) {
	cases := []struct {
		name, extra string
		line        int
		key, want   string
	}{
		{"empty socket", "\n[nbd]\nsocket = \"\"\n", 23, "nbd.socket", "empty: set the path"},
		{"long socket", "\n[nbd]\nsocket = \"/" + strings.Repeat("s", 120) + "\"\n", 23, "nbd.socket", "choose a shorter path"},
		{"admin socket", "\n[nbd]\nsocket = \"/run/corral/corral.sock\"\n", 23, "nbd.socket", "also admin_socket"},
		{"listen without port", "\n[nbd]\nlisten = \"10.0.0.2\"\n", 23, "nbd.listen", "not ip:port"},
		{"listen host name", "\n[nbd]\nlisten = \"example.com:10809\"\n", 23, "nbd.listen", "not ip:port"},
		{"listen bad port", "\n[nbd]\nlisten = \"10.0.0.2:70000\"\n", 23, "nbd.listen", "not ip:port"},
		{"unknown key", "\n[nbd]\nlisen = \"10.0.0.2:10809\"\n", 23, "nbd.lisen", "unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("site.toml", []byte(good+tc.extra))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want problems, got %v", err)
			}
			for _, p := range ps {
				if p.Line == tc.line && p.Key == tc.key && strings.Contains(p.Msg, tc.want) && strings.HasPrefix(p.Error(), "site.toml:") {
					return
				}
			}
			t.Fatalf("want site.toml:%d %s %q; got %v", tc.line, tc.key, tc.want, err)
		})
	}
}
