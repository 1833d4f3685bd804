package config

import "testing"

func TestInFile(t *testing.T) {
	c, err := Parse("c.toml", []byte(good+"\n[dns]\nlisten = [\"127.0.0.1:8053\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.InFile("dns.listen") || c.InFile("dns.domain") {
		t.Fatalf("InFile(dns.listen) = %v, InFile(dns.domain) = %v; want true, false", c.InFile("dns.listen"), c.InFile("dns.domain"))
	}
	d, err := Parse("c.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.InFile("dns.listen") {
		t.Fatal("a default reported as written in the file")
	}
}
