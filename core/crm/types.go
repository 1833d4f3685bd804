package crm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config DB key prefixes (corral help design).
const (
	ResourcePrefix = "/resources/"
	GroupPrefix    = "/groups/"
)

// Defaults for desired state fields a user leaves out.
const (
	// DefaultStartTimeout, DefaultStopTimeout and DefaultMonitorTimeout
	// bound one agent call.
	DefaultStartTimeout   = 20 * time.Second
	DefaultStopTimeout    = 20 * time.Second
	DefaultMonitorTimeout = 10 * time.Second
	// DefaultRestartMax restarts in place per DefaultRestartPeriod before
	// the group fails over.
	DefaultRestartMax    = 3
	DefaultRestartPeriod = 10 * time.Minute
	// DefaultFailoverMax failovers per DefaultFailoverPeriod before the
	// group is left failed.
	DefaultFailoverMax    = 3
	DefaultFailoverPeriod = time.Hour
)

// Failback modes.
const (
	FailbackNever     = "never"
	FailbackImmediate = "immediate"
	FailbackWindow    = "window"
)

// Targets.
const (
	TargetStarted = "started"
	TargetStopped = "stopped"
)

// Timeouts bound a resource's agent calls.
type Timeouts struct {
	Start, Stop, Monitor time.Duration
}

// Resource is /resources/NAME.
type Resource struct {
	Name     string
	Agent    string
	Group    string
	Params   map[string]string
	Monitor  time.Duration // recurring monitor interval, 0: none
	Timeouts Timeouts
}

// Threshold is a count per period.
type Threshold struct {
	Max    int
	Period time.Duration
}

// Failback says whether a group returns to a better preferred owner.
type Failback struct {
	Mode string // never, immediate, window
	// Window is the time of day failback may happen in, as offsets from
	// midnight; From > To wraps around midnight ("22:00-06:00").
	From, To time.Duration
}

// Service is a group's advertised service (DNS SRV).
type Service struct {
	Name  string
	Proto string
	Port  int
}

// Group is /groups/NAME.
type Group struct {
	Name      string
	Resources []string // start order
	After     []string // groups it depends on
	Possible  []string // nodes that may run it; empty: all
	Preferred []string // nodes in order of preference
	Restart   Threshold
	Failover  Threshold
	Failback  Failback
	Target    string // started or stopped
	Policy    string // Lua failover policy; empty: the built-in default
	Address   string
	Service   *Service
}

type jsonTimeouts struct {
	Start   string `json:"start"`
	Stop    string `json:"stop"`
	Monitor string `json:"monitor"`
}

type jsonResource struct {
	Agent    string         `json:"agent"`
	Group    string         `json:"group"`
	Params   map[string]any `json:"params"`
	Monitor  string         `json:"monitor"`
	Timeouts *jsonTimeouts  `json:"timeouts"`
}

type jsonThreshold struct {
	Max    *int   `json:"max"`
	Period string `json:"period"`
}

type jsonFailback struct {
	Mode   string `json:"mode"`
	Window string `json:"window"`
}

type jsonService struct {
	Name  string `json:"name"`
	Proto string `json:"proto"`
	Port  int    `json:"port"`
}

type jsonGroup struct {
	Resources []string       `json:"resources"`
	After     []string       `json:"after"`
	Possible  []string       `json:"possible"`
	Preferred []string       `json:"preferred"`
	Restart   *jsonThreshold `json:"restart"`
	Failover  *jsonThreshold `json:"failover"`
	Failback  *jsonFailback  `json:"failback"`
	Target    string         `json:"target"`
	Policy    string         `json:"policy"`
	Address   string         `json:"address"`
	Service   *jsonService   `json:"service"`
}

// strictJSON decodes the one JSON object of key into v; an error says
// what is wrong and shows example, a value of that kind.
func strictJSON(key string, data []byte, v any, example string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: bad JSON: %v; write one JSON object, e.g. %s", key, err, example)
	}
	if dec.More() {
		return fmt.Errorf("%s: bad JSON: more than one value; write one JSON object, e.g. %s", key, example)
	}
	return nil
}

func duration(key, field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %s: %q is not a duration (write e.g. \"10s\", \"5m\")", key, field, s)
	}
	return d, nil
}

// validName reports whether s may name a resource, group or node.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// ParseResource parses the value of /resources/NAME; errors name the key.
func ParseResource(name string, data []byte) (Resource, error) {
	key := ResourcePrefix + name
	if !validName(name) {
		return Resource{}, fmt.Errorf("%s: bad resource name (letters, digits, '-', '_', '.')", key)
	}
	var j jsonResource
	if err := strictJSON(key, data, &j, `{"agent": "dummy", "group": "web"}`); err != nil {
		return Resource{}, err
	}
	r := Resource{Name: name, Agent: j.Agent, Group: j.Group, Params: map[string]string{}}
	if r.Agent == "" {
		return Resource{}, fmt.Errorf("%s: agent: missing (e.g. {\"agent\": \"dummy\", \"group\": \"web\"})", key)
	}
	if !validName(r.Group) {
		return Resource{}, fmt.Errorf("%s: group: missing or bad group name %q", key, r.Group)
	}
	for k, v := range j.Params {
		switch v := v.(type) {
		case string:
			r.Params[k] = v
		case float64:
			r.Params[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			r.Params[k] = strconv.FormatBool(v)
		default:
			return Resource{}, fmt.Errorf("%s: params.%s: give a string, number or boolean", key, k)
		}
	}
	var err error
	if r.Monitor, err = duration(key, "monitor", j.Monitor, 0); err != nil {
		return Resource{}, err
	}
	t := jsonTimeouts{}
	if j.Timeouts != nil {
		t = *j.Timeouts
	}
	if r.Timeouts.Start, err = duration(key, "timeouts.start", t.Start, DefaultStartTimeout); err != nil {
		return Resource{}, err
	}
	if r.Timeouts.Stop, err = duration(key, "timeouts.stop", t.Stop, DefaultStopTimeout); err != nil {
		return Resource{}, err
	}
	if r.Timeouts.Monitor, err = duration(key, "timeouts.monitor", t.Monitor, DefaultMonitorTimeout); err != nil {
		return Resource{}, err
	}
	return r, nil
}

func threshold(key, field string, j *jsonThreshold, defMax int, defPeriod time.Duration) (Threshold, error) {
	t := Threshold{Max: defMax, Period: defPeriod}
	if j == nil {
		return t, nil
	}
	if j.Max != nil {
		if *j.Max < 0 {
			return t, fmt.Errorf("%s: %s.max: %d is negative", key, field, *j.Max)
		}
		t.Max = *j.Max
	}
	var err error
	t.Period, err = duration(key, field+".period", j.Period, defPeriod)
	return t, err
}

// parseClock parses "HH:MM" as an offset from midnight.
func parseClock(s string) (time.Duration, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, true
}

// ParseGroup parses the value of /groups/NAME; errors name the key.
func ParseGroup(name string, data []byte) (Group, error) {
	key := GroupPrefix + name
	if !validName(name) {
		return Group{}, fmt.Errorf("%s: bad group name (letters, digits, '-', '_', '.')", key)
	}
	var j jsonGroup
	if err := strictJSON(key, data, &j, `{"resources": ["ip", "app"]}`); err != nil {
		return Group{}, err
	}
	g := Group{Name: name, Resources: j.Resources, After: j.After, Possible: j.Possible, Preferred: j.Preferred,
		Target: j.Target, Policy: j.Policy, Address: j.Address}
	for field, list := range map[string][]string{"resources": j.Resources, "after": j.After, "possible": j.Possible, "preferred": j.Preferred} {
		seen := map[string]bool{}
		for _, s := range list {
			if !validName(s) {
				return Group{}, fmt.Errorf("%s: %s: bad name %q", key, field, s)
			}
			if seen[s] {
				return Group{}, fmt.Errorf("%s: %s: %q is listed twice", key, field, s)
			}
			seen[s] = true
		}
	}
	for _, a := range g.After {
		if a == name {
			return Group{}, fmt.Errorf("%s: after: a group cannot depend on itself", key)
		}
	}
	switch g.Target {
	case "":
		g.Target = TargetStarted
	case TargetStarted, TargetStopped:
	default:
		return Group{}, fmt.Errorf("%s: target: %q is neither \"started\" nor \"stopped\"", key, g.Target)
	}
	var err error
	if g.Restart, err = threshold(key, "restart", j.Restart, DefaultRestartMax, DefaultRestartPeriod); err != nil {
		return Group{}, err
	}
	if g.Failover, err = threshold(key, "failover", j.Failover, DefaultFailoverMax, DefaultFailoverPeriod); err != nil {
		return Group{}, err
	}
	g.Failback.Mode = FailbackNever
	if fb := j.Failback; fb != nil {
		switch fb.Mode {
		case "", FailbackNever:
		case FailbackImmediate:
			g.Failback.Mode = FailbackImmediate
		case FailbackWindow:
			from, to, ok := strings.Cut(fb.Window, "-")
			f, ok1 := parseClock(from)
			t, ok2 := parseClock(to)
			if !ok || !ok1 || !ok2 {
				return Group{}, fmt.Errorf("%s: failback.window: %q: give hours of the day as \"HH:MM-HH:MM\" (e.g. \"22:00-06:00\")", key, fb.Window)
			}
			g.Failback = Failback{Mode: FailbackWindow, From: f, To: t}
		default:
			return Group{}, fmt.Errorf("%s: failback.mode: %q: use \"never\", \"immediate\" or \"window\"", key, fb.Mode)
		}
	}
	if s := j.Service; s != nil {
		if s.Port <= 0 || s.Port > 65535 {
			return Group{}, fmt.Errorf("%s: service.port: %d is not a port", key, s.Port)
		}
		proto := s.Proto
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return Group{}, fmt.Errorf("%s: service.proto: %q: use tcp or udp", key, s.Proto)
		}
		g.Service = &Service{Name: s.Name, Proto: proto, Port: s.Port}
	}
	return g, nil
}

// inWindow reports whether the time of day tod falls in [From, To).
func (f Failback) inWindow(tod time.Duration) bool {
	if f.From <= f.To {
		return tod >= f.From && tod < f.To
	}
	return tod >= f.From || tod < f.To
}

func fmtClock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
