package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
)

// FuzzSplit: whatever line a user types, Split either refuses it with a
// usage error or breaks it into words that joinWords quotes back into a
// line Split breaks into the same words (what -c appends relies on it);
// ParseArgs of those words as `corral shell` arguments never panics and
// refuses only with a usage error.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`status --json`, `cdb set /a "b c"`, `lua 'return "x"'`, `a\ b "c\"d" 'e\f'`, `"`, `x\`, "-c\tstatus --json", "--socket=/x -c a -k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Split(%q): %v is not a usage error", line, err)
			}
			return
		}
		again, err := Split(joinWords(words))
		if err != nil || !reflect.DeepEqual(again, words) && (len(again) != 0 || len(words) != 0) {
			t.Fatalf("Split(%q) = %q; joined %q splits to %q, %v", line, words, joinWords(words), again, err)
		}
		if _, err := ParseArgs(words); err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseArgs(%q): %v is not a usage error", words, err)
			}
		}
	})
}

// handlerTransport carries the shell client's requests to the admin API's
// handler in process (no socket).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// FuzzExec runs up to four command lines from the fuzzer, one after the
// other in one session (so a staged session can open, change and
// commit), against the real admin API over a fake node. A line never
// panics the shell; a failure is an error with a message, a usage error
// or not, whose hint names no API route the user did not type; a command
// that succeeds with --json prints exactly one JSON document (help aside:
// it is text for people). (watch, the event follow, lock and lua, which
// run until interrupted or read a terminal, are left out.)
func FuzzExec(f *testing.F) {
	for _, c := range commands() {
		for _, l := range strings.Split(c.example, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				f.Add(l)
			}
		}
		f.Add(c.name + " --json")
	}
	f.Add("configure\nresource add ip --agent IPaddr --param ip=10.0.0.9\ndiff --json\ncommit")
	f.Add("cdb set /resources/x '{\"agent\": 1}'\ncdb get /resources/x --json")
	f.Add("debug fault add --peer n9 --link -1 --drop 2")
	old := reloadAllWait
	reloadAllWait = 10 * time.Millisecond // no other node answers the fake
	f.Cleanup(func() { reloadAllWait = old })
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		if len(lines) > 4 {
			return
		}
		for _, l := range lines {
			w, _ := Split(l)
			for _, x := range w {
				if x == "watch" || strings.Contains(x, "follow") || x == "lock" || x == "lua" {
					return // runs until interrupted or reads a terminal
				}
			}
		}
		fn := apitest.New()
		fn.DLM = apitest.NewLocks(1)
		h := api.New(fn)
		defer h.Close()
		var out bytes.Buffer
		s := &Shell{Client: &Client{Socket: "fuzz.sock", hc: &http.Client{Transport: handlerTransport{h}}}, Stdout: &out, session: true}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, l := range lines {
			out.Reset()
			err := s.Exec(ctx, l)
			if errors.Is(err, errExit) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("%q: an error without a message", l)
				}
				var ae *APIError
				if errors.As(err, &ae) && strings.Contains(ae.Body.Hint, "/v1/") && !strings.Contains(text, "v1") {
					t.Fatalf("%q: the hint names an API route: %v", l, err)
				}
				continue
			}
			if w, _ := Split(l); s.json && out.Len() > 0 && w[0] != "help" { // help is text for people
				dec := json.NewDecoder(&out)
				var v any
				if err := dec.Decode(&v); err != nil || dec.More() {
					t.Fatalf("%q --json printed %q: not one JSON document (%v)", l, out.String(), err)
				}
			}
		}
	})
}
