package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// KeySize is the length of the cluster key in bytes.
const KeySize = 32

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key path, "nodes[1].id"; "" for syntax errors
	Msg  string // what is wrong and what to do
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one file; it is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads, decodes and validates a node's configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration; name is used in messages and
// to resolve relative paths. It reports every problem it can find in one
// go (as Problems, in line order): a value of the wrong type is reported
// and left out (its default stands in), and decoding goes on with the
// rest; unknown keys and the validation rules follow. Only a syntax error
// stops it at once.
func Parse(name string, data []byte) (*Config, error) {
	c, ps := parse(name, data)
	if len(ps) > 0 {
		return nil, ps
	}
	return c, nil
}

// Check is Load for check-config: every problem of the file, and the
// configuration as far as it decoded (values that did not decode keep
// their defaults; nil after a syntax error or when the file cannot be
// read), so that a caller can go on checking what it holds, such as the
// fence devices' parameters against their drivers.
func Check(path string) (*Config, Problems) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	return parse(path, data)
}

// Problem builds a Problem for a key of this file ("fence.devices[0].params"),
// at the key's line (or its table's).
func (c *Config) Problem(key, msg string) Problem { return c.problem(key, msg) }

func parse(name string, data []byte) (*Config, Problems) {
	text := string(data)
	lines := keyLines(text)
	if _, err := toml.Decode(text, &map[string]any{}); err != nil {
		return nil, Problems{decodeProblem(name, lines, err)}
	}
	var ps Problems
	reported := map[string]bool{}
	var c *Config
	var md toml.MetaData
	for {
		c = Default()
		c.file, c.lines = name, lines
		var err error
		if md, err = toml.Decode(text, c); err == nil {
			break
		}
		p := decodeProblem(name, lines, err)
		ps = append(ps, p)
		reported[p.Key] = true
		next, ok := dropLine(text, p.Line)
		if !ok || len(ps) > maxTypeProblems {
			return nil, ps.sorted()
		}
		if _, err := toml.Decode(next, &map[string]any{}); err != nil {
			return nil, ps.sorted() // the value spans lines: stop here
		}
		text = next
	}
	for _, k := range md.Undecoded() {
		key := c.indexedKey(k)
		ps = append(ps, Problem{File: name, Line: c.lines[key], Key: key,
			Msg: "unknown key: check its spelling and section (see examples/ and ARCHITECTURE section 7)"})
	}
	c.derive(md.IsDefined)
	c.resolvePaths()
	if err := c.Validate(); err != nil {
		var vps Problems
		if !errors.As(err, &vps) {
			return c, append(ps, Problem{File: name, Msg: err.Error()}).sorted()
		}
		for _, p := range vps {
			if !reported[p.Key] { // its value did not decode: said already
				ps = append(ps, p)
			}
		}
	}
	return c, ps.sorted()
}

// maxTypeProblems bounds the decode passes of one Parse.
const maxTypeProblems = 100

// dropLine blanks line n (1-based) of text, keeping the line numbers.
func dropLine(text string, n int) (string, bool) {
	ls := strings.Split(text, "\n")
	if n < 1 || n > len(ls) || strings.TrimSpace(ls[n-1]) == "" {
		return text, false
	}
	ls[n-1] = ""
	return strings.Join(ls, "\n"), true
}

// sorted orders problems by line; those without one go last.
func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Line, ps[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return ps
}

// decodeProblem turns a toml error into a Problem with a line number and,
// when the line sets a key, the key's indexed path; a value of the wrong
// type is told what to write instead ("want an integer such as 5420").
func decodeProblem(file string, lines map[string]int, err error) Problem {
	var pe toml.ParseError
	if ppe := (*toml.ParseError)(nil); errors.As(err, &ppe) {
		pe = *ppe
	} else if !errors.As(err, &pe) {
		// Type mismatches come as plain errors: "toml: line 19 (last key
		// "nodes.id"): incompatible types: ...".
		m := plainErrRE.FindStringSubmatch(err.Error())
		if m == nil {
			return Problem{File: file, Msg: err.Error()}
		}
		pe.Position.Line, _ = strconv.Atoi(m[1])
		pe.LastKey, pe.Message = m[2], m[3]
	}
	msg := pe.Message
	if pe.Usage != "" {
		msg += "; " + strings.TrimSpace(pe.Usage)
	}
	if strings.Contains(msg, "incompatible types") || strings.Contains(msg, "cannot decode") || strings.Contains(msg, "cannot be") {
		if w := want(pe.LastKey); w != "" {
			msg = "want " + w
		}
	}
	line := pe.Position.Line
	key := ""
	for k, n := range lines {
		if n == line && stripIndexes(k) == pe.LastKey {
			key = k
		}
	}
	return Problem{File: file, Line: line, Key: key, Msg: msg}
}

// indexedKey turns an undecoded toml key into the indexed path used by
// keyLines ("nodes.idd" becomes "nodes[2].idd" when it sits in the third
// [[nodes]] table). Keys that occur in several array tables get the first.
func (c *Config) indexedKey(k toml.Key) string {
	plain := k.String()
	best := ""
	for key := range c.lines {
		if stripIndexes(key) == plain && (best == "" || c.lines[key] < c.lines[best]) {
			best = key
		}
	}
	if best == "" {
		return plain
	}
	return best
}

var plainErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

var indexRE = regexp.MustCompile(`\[\d+\]`)

func stripIndexes(key string) string { return indexRE.ReplaceAllString(key, "") }

var (
	headerRE = regexp.MustCompile(`^\s*(\[\[?)\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?\s*(#.*)?$`)
	keyRE    = regexp.MustCompile(`^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=`)
)

// keyLines maps every key path of a TOML document to the line it is set on.
// Array-of-table entries are indexed: nodes[0].name. It is a line scanner,
// good enough to point people at the right line; the toml package does the
// real parsing.
func keyLines(src string) map[string]int {
	lines := map[string]int{}
	latest := map[string]string{} // array table path -> its current indexed path
	counts := map[string]int{}
	prefix := ""
	inMulti := false
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if strings.Count(line, `"""`)%2 == 1 || strings.Count(line, `'''`)%2 == 1 {
			inMulti = !inMulti
			if !inMulti {
				continue
			}
		}
		if inMulti && !keyRE.MatchString(line) {
			continue
		}
		if m := headerRE.FindStringSubmatch(line); m != nil {
			name := strings.ReplaceAll(strings.ReplaceAll(m[2], " ", ""), `"`, "")
			prefix = indexedTable(latest, name)
			if m[1] == "[[" {
				idx := counts[prefix]
				counts[prefix]++
				latest[name] = fmt.Sprintf("%s[%d]", prefix, idx)
				prefix = latest[name]
			}
			lines[prefix] = n
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			key := strings.ReplaceAll(m[1], " ", "")
			if prefix != "" {
				key = prefix + "." + key
			}
			if _, seen := lines[key]; !seen {
				lines[key] = n
			}
		}
	}
	return lines
}

// indexedTable spells a table path with the current index of every array
// table on it: "fence.levels" stays as is, "nodes.x" under the third
// [[nodes]] becomes "nodes[2].x".
func indexedTable(latest map[string]string, name string) string {
	parts := strings.Split(name, ".")
	out := ""
	for i, p := range parts {
		if i == len(parts)-1 {
			if out != "" {
				out += "."
			}
			return out + p
		}
		if idx, ok := latest[strings.Join(parts[:i+1], ".")]; ok {
			out = idx
		} else if out == "" {
			out = p
		} else {
			out += "." + p
		}
	}
	return out
}

// resolvePaths makes relative paths relative to the config file's directory.
func (c *Config) resolvePaths() {
	if c.file == "" {
		return
	}
	dir := filepath.Dir(c.file)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.KeyFile)
	abs(&c.DataDir)
	abs(&c.AdminSocket)
	abs(&c.PIDFile)
	abs(&c.NBD.Socket)
	abs(&c.API.TokenFile)
	abs(&c.API.TLSCert)
	abs(&c.API.TLSKey)
	for i := range c.Lua.Paths {
		abs(&c.Lua.Paths[i])
	}
	for i := range c.Lua.Grant {
		abs(&c.Lua.Grant[i])
	}
	if c.Quorum.Witness.Disk != "" {
		abs(&c.Quorum.Witness.Disk)
	}
}

// LoadKey reads the cluster key named by key_file: 32 bytes, base64.
func (c *Config) LoadKey() ([]byte, error) {
	data, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, c.problem("key_file", fmt.Sprintf("cannot read the cluster key: %v; create one with 'corral keygen %s' and copy it to every node", errors.Unwrap(err), c.KeyFile))
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, c.problem("key_file", fmt.Sprintf("%s: %v", c.KeyFile, err))
	}
	return key, nil
}

// ParseKey decodes a key file's contents.
func ParseKey(data []byte) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("the cluster key is not base64: make a new one with 'corral keygen'")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("the cluster key has %d bytes, want %d: make a new one with 'corral keygen'", len(key), KeySize)
	}
	return key, nil
}

// problem builds a Problem for a key of this file.
func (c *Config) problem(key, msg string) Problem {
	return Problem{File: c.file, Line: c.lineOf(key), Key: key, Msg: msg}
}

// lineOf finds the line of a key, falling back to its table's line.
func (c *Config) lineOf(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
