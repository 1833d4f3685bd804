package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAPIDefaults(t *testing.T) {
	c, err := Parse("site.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Listen != "" || c.API.TokenFile != "" {
		t.Fatalf("api defaults: %+v, want no TCP listener", c.API)
	}
}

func TestAPIProblems(t *testing.T) {
	cases := []struct {
		name, extra string
		line        int
		key, want   string
	}{
		{"listen without token", "\n[api]\nlisten = \"127.0.0.1:5421\"\n", 23, "api.listen", "needs a token"},
		{"bad listen", "\n[api]\nlisten = \"localhost\"\ntoken_file = \"t\"\n", 23, "api.listen", "not ip:port"},
		{"bad listen host", "\n[api]\nlisten = \"example.com:80\"\ntoken_file = \"t\"\n", 23, "api.listen", "not ip:port"},
		{"token without listen", "\n[api]\ntoken_file = \"t\"\n", 23, "api.token_file", "set without api.listen"},
		{"unknown key", "\n[api]\nlisen = \"127.0.0.1:1\"\n", 23, "api.lisen", "unknown key"},
		{"network listen without tls", "\n[api]\nlisten = \"10.0.0.1:5421\"\ntoken_file = \"t\"\n", 23, "api.listen", "set tls_cert and tls_key"},
		{"all addresses without tls", "\n[api]\nlisten = \":5421\"\ntoken_file = \"t\"\n", 23, "api.listen", "not a loopback address"},
		{"cert without key", "\n[api]\nlisten = \"10.0.0.1:5421\"\ntoken_file = \"t\"\ntls_cert = \"c.pem\"\n", 25, "api.tls_cert", "go together"},
		{"tls without listen", "\n[api]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n", 23, "api.tls_cert", "set without api.listen"},
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

func TestAPIListenTLS(t *testing.T) {
	for _, extra := range []string{
		"\n[api]\nlisten = \"127.0.0.1:5421\"\ntoken_file = \"t\"\n",
		"\n[api]\nlisten = \"[::1]:5421\"\ntoken_file = \"t\"\n",
		"\n[api]\nlisten = \"10.0.0.1:5421\"\ntoken_file = \"t\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
	} {
		if _, err := Parse("site.toml", []byte(good+extra)); err != nil {
			t.Errorf("%q: %v", extra, err)
		}
	}
}

func TestAPIToken(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "corral.toml")
	src := good + "\n[api]\nlisten = \"127.0.0.1:5421\"\ntoken_file = \"api.token\"\n"
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "api.token"); c.API.TokenFile != want {
		t.Fatalf("token_file %q, want %q (relative to the config file)", c.API.TokenFile, want)
	}
	if _, err := c.LoadAPIToken(); err == nil || !strings.Contains(err.Error(), "cannot read the API token") {
		t.Fatalf("missing token file: %v", err)
	}
	if err := os.WriteFile(c.API.TokenFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadAPIToken(); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short token: %v", err)
	}
	if err := os.WriteFile(c.API.TokenFile, []byte("  0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := c.LoadAPIToken(); err != nil || tok != "0123456789abcdef0123" {
		t.Fatalf("token %q, %v", tok, err)
	}
}

func TestCheckSecretModes(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "corral.toml")
	src := good + "\n[api]\nlisten = \"127.0.0.1:5421\"\ntoken_file = \"api.token\"\n"
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.SecretFiles() {
		if err := os.WriteFile(f.Path, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CheckSecretModes(); err != nil {
		t.Fatalf("0600 files: %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(c.API.TokenFile, mode); err != nil {
			t.Fatal(err)
		}
		err := c.CheckSecretModes()
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+c.API.TokenFile) || !strings.Contains(err.Error(), "api.token_file") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}
