package testsuite

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fdCount is how many descriptors pid has open.
func fdCount(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestConnectionFloodKeepsNode (issue 22): clients without the token open
// thousands of connections to a node's TCP admin API (each sends a
// request and keeps its connection, or sends nothing) and to its DNS over
// TCP, for longer than the API's header timeout. The node runs with 1024
// descriptors; before the fix it reached its limit, its admin socket
// stopped answering and web's monitor failed. Now its descriptors stay
// well under the limit, web stays online with no monitor failure, whoami
// answers, the Unix socket answers during the flood and the TCP API
// answers a client with the token once the flood ends.
func TestConnectionFloodKeepsNode(t *testing.T) {
	const block = "127.150"
	const limit = 1024
	dir := t.TempDir()
	startDemoArgs(t, dir, block, 1, "--web=true")
	webOnline(t, dir, "n1", "web", "n1", 30*time.Second)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	token := "flood-test-token-0123456789"
	tokenFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiAddr := block + ".0.1:5421"
	f, err := os.OpenFile(filepath.Join(dir, "n1", "corral.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(f, "\n[api]\nlisten = %q\ntoken_file = %q\n", apiAddr, tokenFile)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// the demo and its agent get `limit` descriptors (soft and hard)
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, limit),
		corralBin(t), "demo", "--detach", "--dir", dir)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo --detach with ulimit -n %d: %v\n%s", limit, err, out)
	}
	pid := demoPIDs(t, dir, 1)[0]
	webOnline(t, dir, "n1", "web", "n1", 30*time.Second)
	answers(t, block+".0.1", "n1", 10*time.Second)
	var before []map[string]any
	if err := shellJSON(t, dir, "n1", "events", &before); err != nil {
		t.Fatal(err)
	}
	failures := func(evs []map[string]any) int {
		n := 0
		for _, e := range evs {
			if e["kind"] == "resource_failed" {
				n++
			}
		}
		return n
	}

	const hold = 12 * time.Second // > the API's 5 s header timeout
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dials, opened atomic.Int64
	flood := func(addr string, send func(net.Conn) error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			dials.Add(1)
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			opened.Add(1)
			if send != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_ = send(c)
			}
			// hold it until the server closes it or the flood ends
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, c)
				close(done)
			}()
			select {
			case <-done:
			case <-stop:
			}
			c.Close()
		}
	}
	unauth := func(c net.Conn) error {
		_, err := io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: n1\r\n\r\n")
		return err
	}
	dnsQuery := func(c net.Conn) error {
		// a TCP DNS query for web.demo.corral. A (2-byte length first)
		q := []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
			3, 'w', 'e', 'b', 4, 'd', 'e', 'm', 'o', 6, 'c', 'o', 'r', 'r', 'a', 'l', 0, 0, 1, 0, 1}
		_, err := c.Write(append([]byte{0, byte(len(q))}, q...))
		return err
	}
	// as many clients as this test's own descriptors allow, up to 1200
	clients := 1200
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(clients)+256 {
		clients = max(int(rl.Cur)-256, 64)
		t.Logf("this test may open %d descriptors: %d clients", rl.Cur, clients)
	}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		switch i % 3 {
		case 0:
			go flood(apiAddr, unauth)
		case 1:
			go flood(apiAddr, nil)
		default:
			go flood(block+".0.1:8053", dnsQuery)
		}
	}
	maxFD := 0
	var problems []string
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		maxFD = max(maxFD, fdCount(pid))
		if _, err := shellStatus(t, dir, "n1"); err != nil {
			problems = append(problems, "admin socket: "+err.Error())
		}
		if got, err := curl(block + ".0.1"); err != nil || got != "n1" {
			problems = append(problems, fmt.Sprintf("whoami: %q %v", got, err))
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("flood: %d dials, %d connections opened; the node's descriptors peaked at %d of %d", dials.Load(), opened.Load(), maxFD, limit)
	if len(problems) > 0 {
		t.Errorf("during the flood (%d problems), first ones: %s", len(problems), strings.Join(problems[:min(5, len(problems))], "; "))
	}
	if maxFD > limit*3/4 {
		t.Errorf("the node held %d descriptors of %d during the flood, want at most %d (a reserve for its own work)", maxFD, limit, limit*3/4)
	}
	var after []map[string]any
	if err := shellJSON(t, dir, "n1", "events", &after); err != nil {
		t.Fatal(err)
	}
	if n := failures(after) - failures(before); n > 0 {
		t.Errorf("%d resource_failed events during the flood: %v", n, after[len(before):])
	}
	g, err := webGroup(t, dir, "n1", "web")
	if err != nil || g.State != "online" || g.Owner != "n1" {
		t.Errorf("web after the flood: %+v %v", g, err)
	}
	// a client with the token gets in once the flood has gone
	eventually(t, 10*time.Second, "GET /v1/status over TCP with the token", func() error {
		c, err := net.DialTimeout("tcp", apiAddr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: n1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", token)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.Contains(line, " 200 ") {
			return fmt.Errorf("answered %q", line)
		}
		return nil
	})
}

// selfSigned writes a self-signed certificate for ip and its key (0600)
// into dir and returns their paths and the pool that trusts it.
func selfSigned(t *testing.T, dir, ip string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "corral test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestAPITLS (issue 22): with [api] tls_cert and tls_key the TCP admin API
// is HTTPS: a client that trusts the certificate gets in with the token,
// plain HTTP gets no answer; a non-loopback listen without TLS is refused
// with the fix.
func TestAPITLS(t *testing.T) {
	const block = "127.151"
	dir := t.TempDir()
	startDemo(t, dir, block, 1)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	token := "tls-test-token-0123456789"
	tokenFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ip := block + ".0.1"
	certPath, keyPath, pool := selfSigned(t, dir, ip)
	cfgPath := filepath.Join(dir, "n1", "corral.toml")
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := ip + ":5421"
	// 0.0.0.0 without TLS: refused with the fix
	plain := string(base) + fmt.Sprintf("\n[api]\nlisten = \"0.0.0.0:5421\"\ntoken_file = %q\n", tokenFile)
	if err := os.WriteFile(cfgPath, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "check-config", cfgPath); r.code == 0 || !strings.Contains(r.stderr, "set tls_cert and tls_key") {
		t.Errorf("check-config of a non-loopback listen without TLS: exit %d\n%s", r.code, r.stderr)
	}
	withTLS := string(base) + fmt.Sprintf("\n[api]\nlisten = %q\ntoken_file = %q\ntls_cert = %q\ntls_key = %q\n", apiAddr, tokenFile, certPath, keyPath)
	if err := os.WriteFile(cfgPath, []byte(withTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach with TLS: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}}}
	eventually(t, 15*time.Second, "GET https://"+apiAddr+"/v1/status with the token", func() error {
		req, _ := http.NewRequest(http.MethodGet, "https://"+apiAddr+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
	req, _ := http.NewRequest(http.MethodGet, "http://"+apiAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP with the token answered %s: the token crossed in clear", resp.Status)
		}
	}
}
